//! The aligned view: where a port rewrote more than it kept (a futures 0.1 combinator
//! chain or a hand-written `poll` became an `async fn`), a line diff pairs unrelated
//! lines. This view puts each function of the modern file beside the legacy function
//! it was ported from, so a reader sees which lines became which even when no text
//! survived. The mapping is the modern file's own: a `// port of: Type::name` comment
//! just above a function, or else the same name (`Reader::poll` for a `poll` in an
//! `impl … for Reader`) on both sides.

use std::fmt::Write as _;

use anyhow::{Context, Result};

use super::diff_html;

/// A function of a file: its name as the mapping spells it (`Type::name` inside an
/// `impl`), its lines (1-based, inclusive, doc comment and attributes included) and
/// the function it says it is a port of.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub lines: (usize, usize),
    pub port_of: Option<String>,
}

/// Every free function and every function of an `impl` in `text`, in file order.
pub fn functions(text: &str) -> Result<Vec<Function>> {
    let file = syn::parse_file(text).context("cannot parse as Rust")?;
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut add =
        |name: String, attrs: &[syn::Attribute], sig: &syn::Signature, block: &syn::Block| {
            // From the doc comment or first attribute (or the `fn` line) to the closing brace.
            let start = attrs.first().map_or(sig.fn_token.span.start().line, |a| {
                a.pound_token.span.start().line
            });
            let end = block.brace_token.span.close().end().line;
            out.push(Function {
                name,
                lines: (start, end),
                port_of: port_of(&lines, start),
            });
        };
    for item in &file.items {
        match item {
            syn::Item::Fn(f) => add(f.sig.ident.to_string(), &f.attrs, &f.sig, &f.block),
            syn::Item::Impl(i) => {
                let owner = type_name(&i.self_ty);
                for item in &i.items {
                    if let syn::ImplItem::Fn(f) = item {
                        add(
                            format!("{owner}::{}", f.sig.ident),
                            &f.attrs,
                            &f.sig,
                            &f.block,
                        );
                    }
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// The last path segment of an `impl`'s type (`Reader` of `impl<T> Future for Reader<T>`).
fn type_name(ty: &syn::Type) -> String {
    match ty {
        syn::Type::Path(p) => p
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default(),
        _ => String::from("_"),
    }
}

/// The `// port of: NAME` among the comment lines just above line `start` (1-based).
fn port_of(lines: &[&str], start: usize) -> Option<String> {
    lines[..start.saturating_sub(1)]
        .iter()
        .rev()
        .map(|l| l.trim())
        .take_while(|l| l.starts_with("//"))
        .find_map(|l| l.strip_prefix("// port of:").map(|n| n.trim().to_string()))
}

/// The legacy function each modern function was ported from, in modern order: by its
/// `// port of:` line, else by the same name, else by the same short name when only one
/// legacy function has it. Functions with no counterpart are left out.
pub fn align<'a>(
    legacy: &'a [Function],
    modern: &'a [Function],
) -> Vec<(&'a Function, &'a Function)> {
    let short = |n: &str| n.rsplit("::").next().unwrap_or(n).to_string();
    modern
        .iter()
        .filter_map(|m| {
            let want = m.port_of.as_deref().unwrap_or(&m.name);
            let by_name = legacy.iter().find(|l| l.name == want);
            let by_short = || {
                let mut same = legacy.iter().filter(|l| short(&l.name) == short(want));
                match (same.next(), same.next()) {
                    (Some(l), None) => Some(l),
                    _ => None,
                }
            };
            by_name.or_else(by_short).map(|l| (l, m))
        })
        // Where the names match by chance but nothing else does (two `main`s that are
        // both three lines of argument handling), the line diff already shows them.
        .filter(|(l, m)| m.port_of.is_some() || slice_differs(l, m))
        .collect()
}

fn slice_differs(l: &Function, m: &Function) -> bool {
    l.lines.1 - l.lines.0 != m.lines.1 - m.lines.0
}

/// The aligned view of one file as HTML: a two-column row per aligned function, each
/// column the function's lines highlighted with their line numbers in the file.
/// Empty when nothing aligns.
pub fn file_html(legacy_name: &str, modern_name: &str, legacy: &str, modern: &str) -> String {
    let (Ok(lf), Ok(mf)) = (functions(legacy), functions(modern)) else {
        return String::new();
    };
    let pairs = align(&lf, &mf);
    if pairs.is_empty() {
        return String::new();
    }
    let slice = |text: &str, (a, b): (usize, usize)| -> String {
        text.lines()
            .skip(a - 1)
            .take(b + 1 - a)
            .collect::<Vec<_>>()
            .join("\n")
            + "\n"
    };
    let mut out = String::from("<div class=\"aligned\">\n");
    for (l, m) in pairs {
        let _ = write!(
            out,
            "<div class=\"aligned-head\"><code>{}</code> → <code>{}</code></div>\n<div class=\"aligned-row\">{}{}</div>\n",
            l.name,
            m.name,
            diff_html::excerpt_html(legacy_name, &slice(legacy, l.lines), l.lines.0),
            diff_html::excerpt_html(modern_name, &slice(modern, m.lines), m.lines.0),
        );
    }
    out.push_str("</div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = "\
struct Reader;
impl Future for Reader {
    type Item = ();
    /// Reads.
    fn poll(&mut self) -> Poll<(), ()> {
        loop {}
    }
}
fn run() {
    core.run(f).unwrap();
}
fn main() {}
";
    const MODERN: &str = "\
struct Reader;
impl Reader {
    // port of: Reader::poll
    /// Reads, now as an async fn.
    async fn run(self) {
        loop {}
    }
}
fn run() {
    rt.block_on(f);
    drop(rt);
}
fn main() {}
";

    #[test]
    fn functions_have_their_lines_and_mapping() {
        let l = functions(LEGACY).unwrap();
        assert_eq!(
            l[0],
            Function {
                name: "Reader::poll".into(),
                lines: (4, 7),
                port_of: None
            }
        );
        let m = functions(MODERN).unwrap();
        assert_eq!(m[0].name, "Reader::run");
        assert_eq!(m[0].lines, (4, 7));
        assert_eq!(m[0].port_of.as_deref(), Some("Reader::poll"));
        assert_eq!(
            m[1].port_of, None,
            "a marker applies to the function just below it"
        );
    }

    #[test]
    fn modern_functions_meet_their_legacy_counterparts() {
        let (l, m) = (functions(LEGACY).unwrap(), functions(MODERN).unwrap());
        let names: Vec<_> = align(&l, &m)
            .iter()
            .map(|(l, m)| (l.name.as_str(), m.name.as_str()))
            .collect();
        assert_eq!(names, [("Reader::poll", "Reader::run"), ("run", "run")]);
        let html = file_html("legacy/x.rs", "modern/x.rs", LEGACY, MODERN);
        assert_eq!(html.matches("class=\"aligned-row\"").count(), 2);
        assert!(
            html.contains(">4</td>"),
            "the file's own line numbers: {html}"
        );
        assert!(
            file_html("a", "b", "fn (", MODERN).is_empty(),
            "unparsable: no view, no error"
        );
    }
}
