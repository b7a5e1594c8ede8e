//! Counting on Rust source text: lines of code, hand-written `Future`/`Stream`
//! implementations and `unsafe` blocks. A small lexer blanks out comments, string
//! and character literals first, so that a doc comment saying "the hand-written
//! `impl Future for Server` becomes…" is not counted as one. And the figures of
//! `diff --stat` built from those counts.

use std::collections::BTreeMap;

use anyhow::Result;
use harness::{Catalogue, Flavor};
use similar::{ChangeTag, TextDiff};

use crate::pairs::Pair;

/// `src` with comments and the contents of string and char literals replaced by
/// spaces (line breaks kept, so line numbers and counts stay the same).
pub fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('/', Some('/')) => {
                while i < chars.len() && chars[i] != '\n' {
                    out.push(' ');
                    i += 1;
                }
            }
            ('/', Some('*')) => {
                // Block comments nest in Rust.
                let mut depth = 0;
                while i < chars.len() {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        out.push_str("  ");
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        out.push_str("  ");
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        out.push(blank(chars[i]));
                        i += 1;
                    }
                }
            }
            ('r', Some('"' | '#')) if !ident_before(&chars, i) => {
                // Raw string r"…" or r#"…"#: find the opening quote and its hashes.
                let mut j = i + 1;
                let mut hashes = 0;
                while chars.get(j) == Some(&'#') {
                    hashes += 1;
                    j += 1;
                }
                if chars.get(j) != Some(&'"') {
                    out.push(c);
                    i += 1;
                    continue;
                }
                out.push_str(&" ".repeat(j - i + 1));
                i = j + 1;
                while i < chars.len() {
                    if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                        out.push_str(&" ".repeat(hashes + 1));
                        i += hashes + 1;
                        break;
                    }
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            ('"', _) => {
                out.push(' ');
                i += 1;
                while i < chars.len() {
                    match chars[i] {
                        '\\' => {
                            out.push(' ');
                            if let Some(&e) = chars.get(i + 1) {
                                out.push(blank(e));
                            }
                            i += 2;
                        }
                        '"' => {
                            out.push(' ');
                            i += 1;
                            break;
                        }
                        other => {
                            out.push(blank(other));
                            i += 1;
                        }
                    }
                }
            }
            ('\'', _) => {
                // A char literal ('a', '\n', '\'') or a lifetime ('a): a literal closes
                // with a quote within a few characters.
                let close = match next {
                    // An escape: the character after the backslash may itself be a
                    // quote ('\''), so the closing quote is at i + 3 or later.
                    Some('\\') => (i + 3..(i + 14).min(chars.len())).find(|&k| chars[k] == '\''),
                    Some(_) if chars.get(i + 2) == Some(&'\'') => Some(i + 2),
                    _ => None,
                };
                match close {
                    Some(end) => {
                        out.push_str(&" ".repeat(end - i + 1));
                        i = end + 1;
                    }
                    None => {
                        out.push(c);
                        i += 1;
                    }
                }
            }
            _ => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn ident_before(chars: &[char], i: usize) -> bool {
    i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')
}

/// Lines holding code: not blank once comments are removed.
pub fn code_lines(src: &str) -> usize {
    code_only(src)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
}

/// Words and punctuation of code, with `::` and `->` kept whole.
fn tokens(code: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
        } else if b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80 {
            let start = i;
            while i < bytes.len()
                && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] >= 0x80)
            {
                i += 1;
            }
            out.push(&code[start..i]);
        } else if code[i..].starts_with("::") || code[i..].starts_with("->") {
            out.push(&code[i..i + 2]);
            i += 2;
        } else {
            out.push(&code[i..i + 1]);
            i += 1;
        }
    }
    out
}

/// How many `impl … TRAIT for …` blocks `src` holds where the trait's last path
/// segment is one of `traits` (`futures::Future`, `std::future::Future` and a plain
/// `Future` all count as `Future`).
pub fn trait_impls(src: &str, traits: &[&str]) -> usize {
    let code = code_only(src);
    let toks = tokens(&code);
    let mut count = 0;
    for (i, _) in toks.iter().enumerate().filter(|(_, t)| **t == "impl") {
        // The header runs to the block's `{` (or a `;`).
        let header: Vec<&str> = toks[i + 1..]
            .iter()
            .take_while(|t| **t != "{" && **t != ";")
            .copied()
            .collect();
        let mut j = 0;
        // Generic parameters: impl<T: Future> …
        if header.first() == Some(&"<") {
            j = skip_angle(&header, 0);
        }
        // The trait path, up to `for` at angle depth 0.
        let mut depth = 0i32;
        let mut last_segment = None;
        let mut is_trait_impl = false;
        while j < header.len() {
            match header[j] {
                "<" => depth += 1,
                ">" => depth -= 1,
                "for" if depth == 0 && header.get(j + 1) != Some(&"<") => {
                    is_trait_impl = true;
                    break;
                }
                t if depth == 0 && t != "::" && t != "!" => last_segment = Some(t),
                _ => {}
            }
            j += 1;
        }
        if is_trait_impl && last_segment.is_some_and(|s| traits.contains(&s)) {
            count += 1;
        }
    }
    count
}

/// Index just past the `>` that closes the `<` at `start`.
fn skip_angle(toks: &[&str], start: usize) -> usize {
    let mut depth = 0;
    for (k, t) in toks.iter().enumerate().skip(start) {
        match *t {
            "<" => depth += 1,
            ">" => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// Hand-written `Future` and `Stream` implementations.
pub fn future_impls(src: &str) -> usize {
    trait_impls(src, &["Future", "Stream"])
}

/// `unsafe { … }` blocks (not `unsafe fn` or `unsafe impl`).
pub fn unsafe_blocks(src: &str) -> usize {
    let code = code_only(src);
    let toks = tokens(&code);
    toks.windows(2)
        .filter(|w| w[0] == "unsafe" && w[1] == "{")
        .count()
}

/// Lines inserted plus lines deleted between two texts.
pub fn changed_lines(old: &str, new: &str) -> usize {
    TextDiff::from_lines(old, new)
        .iter_all_changes()
        .filter(|c| c.tag() != ChangeTag::Equal)
        .count()
}

/// The figures of one side for `diff --stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideStat {
    pub code_lines: usize,
    pub future_impls: usize,
    pub unsafe_blocks: usize,
    pub dependencies: usize,
}

/// `diff --stat` figures of one pair; a missing side is `None`.
#[derive(Debug, Clone)]
pub struct PairStat {
    pub name: String,
    pub legacy: Option<SideStat>,
    pub modern: Option<SideStat>,
    /// Lines inserted plus lines deleted, over every source file.
    pub changed: usize,
}

pub fn side_stat(sources: &BTreeMap<String, String>, dependencies: usize) -> SideStat {
    let rust = || {
        sources
            .iter()
            .filter(|(p, _)| p.ends_with(".rs"))
            .map(|(_, s)| s)
    };
    SideStat {
        code_lines: rust().map(|s| code_lines(s)).sum(),
        future_impls: rust().map(|s| future_impls(s)).sum(),
        unsafe_blocks: rust().map(|s| unsafe_blocks(s)).sum(),
        dependencies,
    }
}

pub fn pair_stat(catalogue: &Catalogue, pair: &Pair) -> Result<PairStat> {
    let side = |flavor: Flavor| -> Result<Option<SideStat>> {
        let Some(program) = pair.side(flavor) else {
            return Ok(None);
        };
        let deps = catalogue
            .dependencies(&program.package)
            .iter()
            .filter(|d| d.kind == "normal")
            .count();
        Ok(Some(side_stat(&pair.sources(flavor)?, deps)))
    };
    let changed = pair
        .paired_sources()?
        .iter()
        .map(|s| {
            changed_lines(
                s.legacy.as_deref().unwrap_or(""),
                s.modern.as_deref().unwrap_or(""),
            )
        })
        .sum();
    Ok(PairStat {
        name: pair.name.clone(),
        legacy: side(Flavor::Legacy)?,
        modern: side(Flavor::Modern)?,
        changed,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_strings_are_blanked() {
        let src = "let a = \"impl Future for X {\"; // impl Future for Y\n/* unsafe { } /* nested */ still */ let b = 'x';\n";
        let code = code_only(src);
        assert_eq!(code.lines().count(), 2);
        assert!(!code.contains("Future"));
        assert!(!code.contains("unsafe"));
        assert!(!code.contains("nested") && !code.contains("still"));
        assert!(code.contains("let b ="));
        assert_eq!(code.chars().count(), src.chars().count());
    }

    #[test]
    fn raw_strings_chars_and_lifetimes() {
        let src = "let s = r#\"unsafe { \"quoted\" }\"#; let q = '\"'; fn f<'a>(x: &'a str) {}\nlet e = '\\''; unsafe { g() }\n";
        let code = code_only(src);
        assert!(
            code.contains("fn f<'a>(x: &'a str)"),
            "lifetimes stay: {code}"
        );
        assert_eq!(unsafe_blocks(src), 1);
    }

    #[test]
    fn code_lines_skip_blank_and_comment_lines() {
        let src = "//! Doc.\n\n/// Item doc.\nfn main() {\n    // why\n    run(); // trailing\n}\n";
        assert_eq!(code_lines(src), 3);
    }

    #[test]
    fn future_and_stream_impls_in_every_spelling() {
        let src = r#"
            //! The hand-written `impl Future for Server` becomes an async fn.
            impl Future for Server { type Item = (); }
            impl futures::Future for Reader { }
            impl<S> std::future::Future for Writer<S> where S: Stream { }
            impl<T: Future<Output = ()>> futures::Stream for Incoming<T> { }
            impl Drop for Server { }
            impl Server { fn run(self) -> impl Future<Output = ()> { async {} } }
            impl<F> Wrapper<F> where F: for<'a> Fn(&'a u8) { }
            fn spawn(f: impl Future<Output = ()>) { for _ in 0..1 {} }
            unsafe impl Send for Server {}
        "#;
        assert_eq!(future_impls(src), 4);
        assert_eq!(trait_impls(src, &["Drop"]), 1);
        assert_eq!(trait_impls(src, &["Send"]), 1);
    }

    #[test]
    fn unsafe_blocks_not_fns_or_impls() {
        let src = "unsafe fn f() {}\nunsafe impl Send for X {}\nfn g() { unsafe { f() }; let s = \"unsafe {\"; }\n// unsafe { }\nfn h() { unsafe {\n f() } }\n";
        assert_eq!(unsafe_blocks(src), 2);
    }
}
