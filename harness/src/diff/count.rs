//! Counting on Rust source: lines of code, hand-written `Future`/`Stream`
//! implementations, `unsafe` blocks and uses of the compat layer, read with syn (the
//! parser Rust's own macros use), so that a doc comment saying "the hand-written
//! `impl Future for Server` becomes…" is not counted as one; and the figures of one
//! pair built from them: lines changed, and how much of the legacy side the modern
//! one keeps.

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use crate::{Catalogue, Flavor};
use anyhow::Result;
use proc_macro2::{TokenStream, TokenTree};
use syn::visit::{self, Visit};

use crate::diff as hunks;
use crate::pairs::Pair;

/// Lines holding code: lines on which a token stands, comments and doc comments
/// (`#[doc]` attributes to the tokenizer) left out. A source that does not tokenize
/// counts its non-blank lines.
pub fn code_lines(src: &str) -> usize {
    let Ok(tokens) = TokenStream::from_str(src) else {
        return src.lines().filter(|l| !l.trim().is_empty()).count();
    };
    let mut lines = BTreeSet::new();
    mark_lines(tokens, &mut lines);
    lines.len()
}

fn mark_lines(tokens: TokenStream, lines: &mut BTreeSet<usize>) {
    let mut iter = tokens.into_iter().peekable();
    while let Some(tt) = iter.next() {
        match tt {
            // `///`, `//!`: `#` (`!`) `[doc = "…"]`, all spanning the comment.
            TokenTree::Punct(p) if p.as_char() == '#' && is_doc(&p.span()) => {
                while iter.peek().is_some_and(|t| is_doc(&t.span())) {
                    iter.next();
                }
            }
            TokenTree::Group(g) => {
                lines.insert(g.span_open().start().line);
                lines.insert(g.span_close().start().line);
                mark_lines(g.stream(), lines);
            }
            other => {
                let span = other.span();
                lines.extend(span.start().line..=span.end().line);
            }
        }
    }
}

/// Whether a token comes from a doc comment: its source text is the comment.
fn is_doc(span: &proc_macro2::Span) -> bool {
    span.source_text()
        .is_some_and(|t| t.starts_with("//") || t.starts_with("/*"))
}

/// Trait impls whose trait's last path segment is one of `traits`
/// (`futures::Future`, `std::future::Future` and `Future` all count as `Future`),
/// and `unsafe { … }` blocks.
#[derive(Default)]
struct Counts<'a> {
    traits: &'a [&'a str],
    trait_impls: usize,
    unsafe_blocks: usize,
}

impl<'ast> Visit<'ast> for Counts<'_> {
    fn visit_item_impl(&mut self, item: &'ast syn::ItemImpl) {
        let last = item
            .trait_
            .as_ref()
            .and_then(|(path, _)| path.segments.last());
        if last.is_some_and(|seg| self.traits.iter().any(|t| seg.ident == t)) {
            self.trait_impls += 1;
        }
        visit::visit_item_impl(self, item);
    }

    fn visit_expr_unsafe(&mut self, block: &'ast syn::ExprUnsafe) {
        self.unsafe_blocks += 1;
        visit::visit_expr_unsafe(self, block);
    }
}

fn count<'a>(src: &str, traits: &'a [&'a str]) -> Counts<'a> {
    let mut counts = Counts {
        traits,
        ..Counts::default()
    };
    // A file that does not parse has nothing to count (every program compiles).
    if let Ok(file) = syn::parse_file(src) {
        counts.visit_file(&file);
    }
    counts
}

/// How many `impl … TRAIT for …` blocks `src` holds, for any of `traits`.
pub fn trait_impls(src: &str, traits: &[&str]) -> usize {
    count(src, traits).trait_impls
}

/// Hand-written `Future` and `Stream` implementations.
pub fn future_impls(src: &str) -> usize {
    trait_impls(src, &["Future", "Stream"])
}

/// `unsafe { … }` blocks (not `unsafe fn` or `unsafe impl`).
pub fn unsafe_blocks(src: &str) -> usize {
    count(src, &[]).unsafe_blocks
}

/// Uses of the compat layer in `src`: method calls `.compat()` and `.sink_compat()`,
/// and calls of `Compat01As03::new`. A source that does not parse counts none.
pub fn compat_uses(src: &str) -> usize {
    #[derive(Default)]
    struct Uses(usize);
    impl<'ast> Visit<'ast> for Uses {
        fn visit_expr_method_call(&mut self, call: &'ast syn::ExprMethodCall) {
            if call.method == "compat" || call.method == "sink_compat" {
                self.0 += 1;
            }
            visit::visit_expr_method_call(self, call);
        }
        fn visit_expr_call(&mut self, call: &'ast syn::ExprCall) {
            if let syn::Expr::Path(p) = &*call.func {
                let segs: Vec<String> = p
                    .path
                    .segments
                    .iter()
                    .map(|s| s.ident.to_string())
                    .collect();
                if segs.ends_with(&["Compat01As03".to_string(), "new".to_string()]) {
                    self.0 += 1;
                }
            }
            visit::visit_expr_call(self, call);
        }
    }
    let mut uses = Uses::default();
    if let Ok(file) = syn::parse_file(src) {
        uses.visit_file(&file);
    }
    uses.0
}

/// Lines inserted plus lines deleted between two texts, as the diff shows them (a
/// line changed only in whitespace is not counted).
pub fn changed_lines(old: &str, new: &str) -> usize {
    let lines = hunks::lines(old, new);
    let c = hunks::counts(&lines);
    c.added + c.removed
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
    /// Of the legacy side's non-blank lines, how many the modern side keeps
    /// (`hunks::kept`), over every source file: (kept, of).
    pub kept: (usize, usize),
}

impl PairStat {
    /// The share kept, in per cent (`None` without a legacy line).
    pub fn kept_percent(&self) -> Option<f64> {
        let (kept, of) = self.kept;
        (of > 0).then(|| 100.0 * kept as f64 / of as f64)
    }
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
    let (mut changed, mut kept) = (0, (0, 0));
    for s in pair.paired_sources()? {
        let (old, new) = (
            s.legacy.as_deref().unwrap_or(""),
            s.modern.as_deref().unwrap_or(""),
        );
        changed += changed_lines(old, new);
        let (k, of) = hunks::kept(old, new);
        kept = (kept.0 + k, kept.1 + of);
    }
    Ok(PairStat {
        name: pair.name.clone(),
        legacy: side(Flavor::Legacy)?,
        modern: side(Flavor::Modern)?,
        changed,
        kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comments_and_strings_hold_no_code() {
        let src = "fn a() { let a = \"impl Future for X {\"; } // impl Future for Y\n/* unsafe { } /* nested */ still */ fn b() { let b = 'x'; }\n";
        assert_eq!(future_impls(src), 0);
        assert_eq!(unsafe_blocks(src), 0);
        assert_eq!(code_lines(src), 2);
    }

    #[test]
    fn raw_strings_chars_and_lifetimes() {
        let src = "fn m() { let s = r#\"unsafe { \"quoted\" }\"#; let q = '\"'; }\nfn f<'a>(x: &'a str) { let e = '\\''; unsafe { g() } }\n";
        assert_eq!(unsafe_blocks(src), 1);
    }

    #[test]
    fn code_lines_skip_blank_and_comment_lines() {
        let src = "//! Doc.\n\n/// Item doc.\nfn main() {\n    // why\n    run(); // trailing\n}\n";
        assert_eq!(code_lines(src), 3);
        let src = "/** Block doc. */\nconst A: &str = \"a\\\n   b\";\n";
        assert_eq!(
            code_lines(src),
            2,
            "a string continued on the next line is code"
        );
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
            fn nested() { impl Future for Inner {} }
        "#;
        assert_eq!(future_impls(src), 5);
        assert_eq!(trait_impls(src, &["Drop"]), 1);
        assert_eq!(trait_impls(src, &["Send"]), 1);
    }

    #[test]
    fn compat_uses_are_calls_not_words() {
        let src = r#"
            // .compat() in a comment does not count
            fn f() {
                let a = stream.compat();
                let b = framed.sink_compat();
                let c = futures::compat::Compat01As03::new(x);
                let d = Compat01As03::new(y).compat();
                let s = "x.compat()";
            }
        "#;
        assert_eq!(compat_uses(src), 5);
    }

    #[test]
    fn changed_lines_count_insertions_and_deletions() {
        assert_eq!(changed_lines("a\nb\nc\n", "a\nb\nc\n"), 0);
        assert_eq!(changed_lines("a\nb\nc\n", "a\nB\nc\nd\n"), 3);
        assert_eq!(changed_lines("", "x\ny\n"), 2);
        assert_eq!(
            changed_lines("a\n  b\n", "a\nb\n"),
            0,
            "whitespace is not a change"
        );
    }

    #[test]
    fn unsafe_blocks_not_fns_or_impls() {
        let src = "unsafe fn f() {}\nunsafe impl Send for X {}\nfn g() { unsafe { f() }; let s = \"unsafe {\"; }\n// unsafe { }\nfn h() { unsafe {\n f() } }\n";
        assert_eq!(unsafe_blocks(src), 2);
    }
}
