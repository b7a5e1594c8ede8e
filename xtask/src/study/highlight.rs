//! Rust syntax highlighting for the diffs, with syntect and its bundled Rust grammar
//! (Sublime Text's, as bat and zola use it). That grammar predates Rust 2018: it
//! leaves `async`, `.await` and `dyn` unscoped, so a small pass marks those words as
//! keywords — they are what most of these diffs are about. It runs here rather than in the browser because a diff
//! row is one line of a file: highlighting each row on its own would lose a block
//! comment or string that spans lines, and highlight.js would throw away the marks
//! of the changed words. Tokens get highlight.js's class names (`hljs-keyword`, …),
//! so the diffs take their colours from whichever mdBook theme the reader picked.

use std::ops::Range;
use std::sync::OnceLock;

use syntect::easy::ScopeRangeIterator;
use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxSet};
use syntect::util::LinesWithEndings;

/// One line of a file, as runs of text with the highlight.js class of each (`None`
/// for plain text). The runs cover the line without its line ending.
pub type Line = Vec<(Option<&'static str>, Range<usize>)>;

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// Every line of `text`, highlighted when it is a Rust source file (`rust`); a file
/// the grammar cannot parse comes back as plain text rather than not at all.
pub fn lines(text: &str, rust: bool) -> Vec<(String, Line)> {
    let plain = |l: &str| (l.to_string(), vec![(None, 0..l.len())]);
    if !rust {
        return text.lines().map(plain).collect();
    }
    let set = syntaxes();
    let syntax = set
        .find_syntax_by_extension("rs")
        .unwrap_or_else(|| set.find_syntax_plain_text());
    let mut state = ParseState::new(syntax);
    let mut stack = ScopeStack::new();
    let mut out = Vec::new();
    for line in LinesWithEndings::from(text) {
        let body = line.trim_end_matches(['\n', '\r']);
        let mut runs: Line = Vec::new();
        match state.parse_line(line, set) {
            Ok(ops) => {
                // Each range is in the scope its op leaves: apply the op first.
                for (range, op) in ScopeRangeIterator::new(&ops, line) {
                    if stack.apply(op).is_err() {
                        stack = ScopeStack::new();
                    }
                    let range = range.start.min(body.len())..range.end.min(body.len());
                    if !range.is_empty() {
                        push_run(&mut runs, class_of(&stack, &body[range.clone()]), range);
                    }
                }
            }
            Err(_) => push_run(&mut runs, None, 0..body.len()),
        }
        out.push((body.to_string(), edition_2018_keywords(body, runs)));
    }
    out
}

/// Keywords newer than the grammar, found as whole words in text it left plain.
const NEWER_KEYWORDS: [&str; 3] = ["async", "await", "dyn"];

fn edition_2018_keywords(body: &str, runs: Line) -> Line {
    let word = |c: char| c.is_alphanumeric() || c == '_';
    let mut out: Line = Vec::new();
    for (class, range) in runs {
        if class.is_some() {
            push_run(&mut out, class, range);
            continue;
        }
        // `plain` is where the text not yet pushed starts.
        let (mut plain, mut i) = (range.start, range.start);
        while let Some(c) = body[i..range.end].chars().next() {
            if !word(c) {
                i += c.len_utf8();
                continue;
            }
            let end = body[i..range.end]
                .find(|c: char| !word(c))
                .map_or(range.end, |n| i + n);
            if NEWER_KEYWORDS.contains(&&body[i..end]) {
                if i > plain {
                    push_run(&mut out, None, plain..i);
                }
                push_run(&mut out, Some("hljs-keyword"), i..end);
                plain = end;
            }
            i = end;
        }
        if plain < range.end {
            push_run(&mut out, None, plain..range.end);
        }
    }
    out
}

fn push_run(runs: &mut Line, class: Option<&'static str>, range: Range<usize>) {
    match runs.last_mut() {
        Some((c, r)) if *c == class && r.end == range.start => r.end = range.end,
        _ => runs.push((class, range)),
    }
}

/// The highlight.js class of the innermost scope that has one. The grammar scopes
/// `let`, `const` and `u8` alike (`storage.type.rust`): the primitive types are told
/// apart by name.
fn class_of(stack: &ScopeStack, token: &str) -> Option<&'static str> {
    const PRIMITIVES: [&str; 17] = [
        "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32",
        "i64", "i128", "isize", "f32", "f64",
    ];
    if PRIMITIVES.contains(&token) {
        return Some("hljs-type");
    }
    if token == "self" || token == "Self" {
        return Some("hljs-keyword");
    }
    stack
        .as_slice()
        .iter()
        .rev()
        .find_map(|s| class_of_scope(*s))
}

/// TextMate scope → highlight.js class, by the scope's leading atoms (the first rule
/// that matches wins, so the more specific ones come first).
fn class_of_scope(scope: Scope) -> Option<&'static str> {
    const RULES: &[(&str, &str)] = &[
        ("comment", "hljs-comment"),
        ("string", "hljs-string"),
        ("constant.character", "hljs-string"),
        ("constant.numeric", "hljs-number"),
        ("constant.language", "hljs-literal"),
        ("constant.other", "hljs-literal"),
        ("meta.annotation", "hljs-meta"),
        ("meta.attribute", "hljs-meta"),
        ("support.macro", "hljs-built_in"),
        ("entity.name.function", "hljs-title"),
        ("entity.name.macro", "hljs-built_in"),
        ("entity.name", "hljs-type"),
        ("support.type", "hljs-type"),
        ("storage.type.numeric", "hljs-type"),
        ("storage.modifier.lifetime", "hljs-symbol"),
        ("keyword", "hljs-keyword"),
        ("storage", "hljs-keyword"),
        ("variable.language", "hljs-keyword"),
    ];
    let name = scope.build_string();
    // Operators stay in the text colour, as highlight.js leaves them.
    if name.starts_with("keyword.operator") {
        return None;
    }
    RULES
        .iter()
        .find(|(prefix, _)| {
            name == *prefix
                || name
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
        .map(|(_, class)| *class)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classes(text: &str) -> Vec<Vec<(Option<&'static str>, String)>> {
        lines(text, true)
            .into_iter()
            .map(|(body, runs)| {
                runs.into_iter()
                    .map(|(c, r)| (c, body[r].to_string()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn keywords_strings_comments_and_state_across_lines() {
        let lines = classes(
            "/* a comment\n   fn still_comment() */\nfn main() {\n    let s = \"text\"; // note\n    println!(\"{}\", 42u8);\n}\n",
        );
        assert_eq!(lines.len(), 6);
        assert!(
            lines[1].iter().all(|(c, _)| *c == Some("hljs-comment")),
            "a block comment's second line is still comment: {:?}",
            lines[1]
        );
        let find = |l: usize, text: &str| {
            lines[l]
                .iter()
                .find(|(_, t)| t.contains(text))
                .map(|(c, _)| *c)
                .unwrap_or_else(|| panic!("no {text:?} in {:?}", lines[l]))
        };
        assert_eq!(find(2, "fn"), Some("hljs-keyword"));
        assert_eq!(find(2, "main"), Some("hljs-title"));
        assert_eq!(find(3, "let"), Some("hljs-keyword"));
        assert_eq!(find(3, "text"), Some("hljs-string"));
        assert_eq!(find(3, "note"), Some("hljs-comment"));
        assert_eq!(find(4, "println"), Some("hljs-built_in"));
        assert_eq!(find(3, "s"), None, "a plain name stays plain");
        let newer = classes("async fn f(x: &dyn T) -> u8 { y.await; let awaited = 1; }\n");
        let class_of = |text: &str| newer[0].iter().find(|(_, t)| t == text).map(|(c, _)| *c);
        assert_eq!(class_of("async"), Some(Some("hljs-keyword")));
        assert_eq!(class_of("await"), Some(Some("hljs-keyword")));
        assert_eq!(class_of("dyn"), Some(Some("hljs-keyword")));
        assert_eq!(class_of("u8"), Some(Some("hljs-type")));
        let awaited = newer[0]
            .iter()
            .find(|(_, t)| t.contains("awaited"))
            .unwrap();
        assert_eq!(
            awaited.0, None,
            "`awaited` is a name, not the keyword: {:?}",
            newer[0]
        );
        // The runs cover each line exactly, without its line ending.
        for (body, runs) in super::lines("a\r\nb\n\nc", true) {
            let covered: usize = runs.iter().map(|(_, r)| r.len()).sum();
            assert_eq!(covered, body.len());
            assert!(!body.ends_with(['\r', '\n']));
        }
    }
}
