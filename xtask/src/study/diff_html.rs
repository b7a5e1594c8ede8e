//! The diffs of the book: Rust syntax highlighting, the changed words of a changed
//! line marked, and whitespace-only changes (a block re-indented because it moved
//! into an `async fn`, a blank line added) shown as unchanged lines with a quiet
//! mark rather than as blocks of red and green.
//!
//! Lines are matched by their words (leading whitespace dropped, inner runs of blanks
//! read as one) with the patience algorithm, which keeps functions aligned; the words
//! that changed inside a replaced line come from similar's inline diff, as in
//! `cargo xtask diff`, whose [`Row`] this reuses.

use std::fmt::Write as _;

use similar::{capture_diff_slices, Algorithm, ChangeTag, DiffOp, InlineChangeOptions, TextDiff};

use super::highlight;
use crate::diff::Row;
use crate::doc::escape;

/// One line of a hunk: the diff's row, and whether it differs only in whitespace
/// (shown as unchanged, with a mark).
#[derive(Debug, Clone)]
pub struct Line {
    pub row: Row,
    pub whitespace_only: bool,
}

/// Changed lines with their context.
#[derive(Debug, Clone)]
pub struct Hunk {
    /// `@@ -12,7 +12,9 @@`
    pub header: String,
    /// The item the hunk is in (`fn main() {`), from the new side, as git shows it.
    pub item: Option<String>,
    pub lines: Vec<Line>,
}

/// What a file's diff holds, for its heading.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub added: usize,
    pub removed: usize,
    /// Lines that changed only in whitespace.
    pub whitespace: usize,
}

/// The words of a line: what two lines must share to count as the same line.
fn words(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Every line of `old` → `new` in order, whitespace-only changes marked.
fn all_lines(old: &str, new: &str) -> Vec<Line> {
    let raw = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .diff_lines(old, new);
    let old_lines: Vec<&str> = raw.iter_old_slices().collect();
    let new_lines: Vec<&str> = raw.iter_new_slices().collect();
    let old_keys: Vec<String> = old_lines.iter().map(|l| words(l)).collect();
    let new_keys: Vec<String> = new_lines.iter().map(|l| words(l)).collect();
    let ops = capture_diff_slices(Algorithm::Patience, &old_keys, &new_keys);
    let body = |s: &str| s.trim_end_matches(['\n', '\r']).to_string();
    let mut options = InlineChangeOptions::new();
    options.semantic_cleanup(true);
    let mut out = Vec::new();
    for op in &ops {
        match *op {
            DiffOp::Equal {
                old_index,
                new_index,
                len,
            } => {
                for i in 0..len {
                    let (o, n) = (old_index + i, new_index + i);
                    out.push(Line {
                        whitespace_only: body(old_lines[o]) != body(new_lines[n]),
                        row: Row {
                            tag: ChangeTag::Equal,
                            old_no: Some(o + 1),
                            new_no: Some(n + 1),
                            segments: vec![(false, body(new_lines[n]))],
                        },
                    });
                }
            }
            _ => {
                for change in raw.iter_inline_changes_with_options(op, options) {
                    let mut segments: Vec<(bool, String)> = change
                        .iter_strings_lossy()
                        .map(|(emph, s)| (emph, s.into_owned()))
                        .collect();
                    if let Some((_, last)) = segments.last_mut() {
                        *last = body(last);
                    }
                    let text: String = segments.iter().map(|(_, s)| s.as_str()).collect();
                    out.push(Line {
                        // A blank line added or removed changes nothing but layout.
                        whitespace_only: text.trim().is_empty(),
                        row: Row {
                            tag: change.tag(),
                            old_no: change.old_index().map(|i| i + 1),
                            new_no: change.new_index().map(|i| i + 1),
                            segments: tidy(segments),
                        },
                    });
                }
            }
        }
    }
    out
}

/// Marks read as phrases: blanks between two marked words are marked, a mark that is
/// only blanks is not (re-spacing is not the change), and neighbours of the same kind
/// join.
fn tidy(mut segments: Vec<(bool, String)>) -> Vec<(bool, String)> {
    for i in 0..segments.len() {
        let blank = segments[i].1.trim().is_empty();
        let between = i > 0
            && i + 1 < segments.len()
            && segments[i - 1].0
            && segments[i + 1].0
            && !segments[i - 1].1.trim().is_empty()
            && !segments[i + 1].1.trim().is_empty();
        if blank {
            segments[i].0 = between;
        }
    }
    let mut out: Vec<(bool, String)> = Vec::new();
    for (emph, text) in segments {
        match out.last_mut() {
            _ if text.is_empty() => {}
            Some((e, t)) if *e == emph => t.push_str(&text),
            _ => out.push((emph, text)),
        }
    }
    out
}

/// The hunks of `old` → `new`: each real change with `context` lines around it;
/// whitespace-only lines count as context and open no hunk of their own.
#[cfg(test)]
pub fn hunks(old: &str, new: &str, context: usize) -> Vec<Hunk> {
    group(&all_lines(old, new), new, context)
}

fn group(lines: &[Line], new: &str, context: usize) -> Vec<Hunk> {
    let changed: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| l.row.tag != ChangeTag::Equal && !l.whitespace_only)
        .map(|(i, _)| i)
        .collect();
    // Windows around the changed lines, merged where they touch.
    let mut windows: Vec<(usize, usize)> = Vec::new();
    for &i in &changed {
        let (from, to) = (
            i.saturating_sub(context),
            (i + context + 1).min(lines.len()),
        );
        match windows.last_mut() {
            Some((_, end)) if from <= *end => *end = to,
            _ => windows.push((from, to)),
        }
    }
    let new_text: Vec<&str> = new.lines().collect();
    windows
        .into_iter()
        .map(|(from, to)| {
            let part = &lines[from..to];
            let start = |no: fn(&Row) -> Option<usize>| {
                part.iter().find_map(|l| no(&l.row)).unwrap_or_else(|| {
                    // A side with no line here: the line before the hunk, as diff -u.
                    lines[..from]
                        .iter()
                        .rev()
                        .find_map(|l| no(&l.row))
                        .unwrap_or(0)
                })
            };
            let count = |no: fn(&Row) -> Option<usize>| {
                part.iter().filter(|l| no(&l.row).is_some()).count()
            };
            let (old_start, new_start) = (start(|r| r.old_no), start(|r| r.new_no));
            let header = format!(
                "@@ -{},{} +{},{} @@",
                old_start,
                count(|r| r.old_no),
                new_start,
                count(|r| r.new_no)
            );
            Hunk {
                header,
                item: enclosing_item(&new_text, new_start.saturating_sub(1)),
                lines: part.to_vec(),
            }
        })
        .collect()
}

/// The nearest item opened above line `at` (0-based) of `lines`: an `fn`, `impl`,
/// `struct`, `enum`, `trait` or `mod` line, as `git diff` names a hunk's function.
fn enclosing_item(lines: &[&str], at: usize) -> Option<String> {
    const STARTS: [&str; 6] = ["fn ", "impl", "struct ", "enum ", "trait ", "mod "];
    lines[..at.min(lines.len())].iter().rev().find_map(|l| {
        let t = l.trim_start();
        let bare = ["pub(crate) ", "pub ", "async ", "unsafe ", "const "]
            .iter()
            .fold(t, |t, p| t.strip_prefix(p).unwrap_or(t));
        (STARTS.iter().any(|s| bare.starts_with(s)) && !t.ends_with(';'))
            .then(|| t.trim_end().trim_end_matches('{').trim_end().to_string())
    })
}

pub fn counts<'a>(lines: impl IntoIterator<Item = &'a Line>) -> Counts {
    let mut c = Counts::default();
    for l in lines {
        match (l.row.tag, l.whitespace_only) {
            (ChangeTag::Equal, false) => {}
            (_, true) => c.whitespace += 1,
            (ChangeTag::Insert, false) => c.added += 1,
            (ChangeTag::Delete, false) => c.removed += 1,
        }
    }
    c
}

/// One file of a diff as HTML: a heading with the counts, then the hunks in a table
/// (old and new line numbers, sign, highlighted code with the changed words marked).
/// `old`/`new` are `None` where a side lacks the file.
pub fn file_html(
    old_name: &str,
    new_name: &str,
    old: Option<&str>,
    new: Option<&str>,
    rust: bool,
) -> String {
    let (o, n) = (old.unwrap_or(""), new.unwrap_or(""));
    let lines = all_lines(o, n);
    let hunks = group(&lines, n, 3);
    let c = counts(&lines);
    let mut out = String::from("<div class=\"diff-file\">\n");
    let _ = write!(
        out,
        "<div class=\"diff-head\"><span class=\"path\">{} → {}</span> <span class=\"add\">+{}</span> <span class=\"rem\">−{}</span>",
        escape(if old.is_some() { old_name } else { "(none)" }),
        escape(if new.is_some() { new_name } else { "(none)" }),
        c.added,
        c.removed
    );
    if c.whitespace > 0 {
        let _ = write!(
            out,
            " <span class=\"ws-count\" title=\"re-indented or blank lines, shown as unchanged with ·\">{} changed only in whitespace</span>",
            c.whitespace
        );
    }
    out.push_str("</div>\n");
    if hunks.is_empty() {
        let what = if c.whitespace > 0 {
            "the same on both sides but for whitespace"
        } else {
            "identical on both sides"
        };
        let _ = writeln!(out, "<p class=\"diff-same\">{what}</p>\n</div>");
        return out;
    }
    let highlight = |text: &str| {
        if rust {
            highlight::rust_lines(text)
        } else {
            text.lines()
                .map(|l| (l.to_string(), vec![(None, 0..l.len())]))
                .collect()
        }
    };
    let (old_hl, new_hl) = (highlight(o), highlight(n));
    out.push_str(
        "<table class=\"diff\"><colgroup><col class=\"no\"><col class=\"no\"><col class=\"sign\"><col></colgroup><tbody>\n",
    );
    for hunk in &hunks {
        let item = hunk
            .item
            .as_deref()
            .map(|i| format!(" <span class=\"item\">{}</span>", escape(i)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr class=\"hunk\"><td colspan=\"4\">{}{item}</td></tr>",
            escape(&hunk.header)
        );
        for line in &hunk.lines {
            let row = &line.row;
            let (class, sign, title) = match (row.tag, line.whitespace_only) {
                (ChangeTag::Equal, false) => ("ctx", "", ""),
                (_, true) => ("ws", "·", " title=\"only whitespace changed on this line\""),
                (ChangeTag::Delete, _) => ("del", "−", ""),
                (ChangeTag::Insert, _) => ("ins", "+", ""),
            };
            let source = match row.tag {
                ChangeTag::Delete => row.old_no.and_then(|i| old_hl.get(i - 1)),
                _ => row.new_no.and_then(|i| new_hl.get(i - 1)),
            };
            let code = code_html(row, source, class == "del" || class == "ins");
            let no = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr class=\"{class}\"{title}><td class=\"no\">{}</td><td class=\"no\">{}</td><td class=\"sign\">{sign}</td><td class=\"code\">{code}</td></tr>",
                no(row.old_no),
                no(row.new_no)
            );
        }
    }
    out.push_str("</tbody></table>\n</div>\n");
    out
}

/// The code of one row: highlighted runs, with the changed words wrapped in
/// `<span class="em">` when `marks` is set. Falls back to the row's own text if the
/// highlighted line does not match it.
fn code_html(row: &Row, source: Option<&(String, highlight::Line)>, marks: bool) -> String {
    let text: String = row.segments.iter().map(|(_, s)| s.as_str()).collect();
    let runs: highlight::Line = match source {
        Some((body, runs)) if *body == text => runs.clone(),
        _ => vec![(None, 0..text.len())],
    };
    // Cut both partitions of the line at every boundary of either.
    let mut cuts: Vec<usize> = vec![0, text.len()];
    let mut at = 0;
    let mut emph_ranges = Vec::new();
    for (emph, s) in &row.segments {
        if *emph && marks {
            emph_ranges.push(at..at + s.len());
        }
        at += s.len();
        cuts.push(at);
    }
    cuts.extend(runs.iter().flat_map(|(_, r)| [r.start, r.end]));
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = String::new();
    let mut open_em = false;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        if a >= b || !text.is_char_boundary(a) || !text.is_char_boundary(b) {
            continue;
        }
        let em = emph_ranges.iter().any(|r| r.start <= a && b <= r.end);
        if em != open_em {
            out.push_str(if em { "<span class=\"em\">" } else { "</span>" });
            open_em = em;
        }
        let class = runs
            .iter()
            .find(|(_, r)| r.start <= a && b <= r.end)
            .and_then(|(c, _)| *c);
        let piece = escape(&text[a..b]);
        match class {
            Some(c) => {
                let _ = write!(out, "<span class=\"{c}\">{piece}</span>");
            }
            None => out.push_str(&piece),
        }
    }
    if open_em {
        out.push_str("</span>");
    }
    out
}

/// A whole file on its own, highlighted (a program with only one flavor so far).
pub fn listing_html(name: &str, text: &str, rust: bool) -> String {
    let lines = if rust {
        highlight::rust_lines(text)
    } else {
        text.lines()
            .map(|l| (l.to_string(), vec![(None, 0..l.len())]))
            .collect()
    };
    let mut out = format!(
        "<div class=\"diff-file\">\n<div class=\"diff-head\"><span class=\"path\">{}</span> <span class=\"muted\">{} lines</span></div>\n\
         <table class=\"diff\"><colgroup><col class=\"no\"><col class=\"sign\"><col></colgroup><tbody>\n",
        escape(name),
        lines.len()
    );
    for (i, (body, runs)) in lines.iter().enumerate() {
        let row = Row {
            tag: ChangeTag::Equal,
            old_no: None,
            new_no: Some(i + 1),
            segments: vec![(false, body.clone())],
        };
        let _ = writeln!(
            out,
            "<tr class=\"ctx\"><td class=\"no\">{}</td><td class=\"sign\"></td><td class=\"code\">{}</td></tr>",
            i + 1,
            code_html(&row, Some(&(body.clone(), runs.clone())), false)
        );
    }
    out.push_str("</tbody></table>\n</div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(l: &Line) -> String {
        l.row.segments.iter().map(|(_, s)| s.as_str()).collect()
    }

    #[test]
    fn a_reindented_block_is_context_not_a_change() {
        let old = "fn main() {\nlet a = 1;\nlet b = 2;\n}\n";
        let new = "fn main() {\n    async {\n        let a = 1;\n        let b = 2;\n    };\n}\n";
        let hunks = hunks(old, new, 3);
        assert_eq!(hunks.len(), 1);
        let lines = &hunks[0].lines;
        let changed: Vec<String> = lines
            .iter()
            .filter(|l| l.row.tag != ChangeTag::Equal && !l.whitespace_only)
            .map(text)
            .collect();
        assert_eq!(changed, ["    async {", "    };"], "only the new lines");
        let ws: Vec<String> = lines
            .iter()
            .filter(|l| l.whitespace_only)
            .map(text)
            .collect();
        assert_eq!(
            ws,
            ["        let a = 1;", "        let b = 2;"],
            "the re-indented lines, in their new form"
        );
        assert_eq!(
            counts(hunks.iter().flat_map(|h| &h.lines)),
            Counts {
                added: 2,
                removed: 0,
                whitespace: 2
            }
        );
        assert_eq!(hunks[0].header, "@@ -1,4 +1,6 @@");
    }

    #[test]
    fn whitespace_alone_makes_no_hunk() {
        assert!(hunks("a\n  b\n", "a\n\n      b\n", 3).is_empty());
        let html = file_html("l.rs", "m.rs", Some("a\n b\n"), Some("a\n\tb\n"), false);
        assert!(
            html.contains("the same on both sides but for whitespace"),
            "{html}"
        );
    }

    #[test]
    fn changed_words_are_marked_and_highlighted() {
        let old = "use futures::Future;\nfn run() -> Poll<(), io::Error> {\n    x\n}\n";
        let new = "use std::future::Future;\nasync fn run(self) -> io::Result<()> {\n    x\n}\n";
        let html = file_html("legacy/x.rs", "modern/x.rs", Some(old), Some(new), true);
        assert!(html.contains("<tr class=\"del\">") && html.contains("<tr class=\"ins\">"));
        assert!(
            html.contains("<span class=\"em\"><span class=\"hljs-keyword\">async</span>"),
            "the new keyword is marked and highlighted: {html}"
        );
        assert!(html.contains("<span class=\"hljs-title\">run</span>"));
        assert!(
            !html.contains("<code"),
            "no <code>: mdBook would re-highlight it"
        );
        // Balanced: as many spans close as open.
        assert_eq!(
            html.matches("<span").count(),
            html.matches("</span>").count()
        );
    }

    #[test]
    fn hunks_name_their_item_and_escape_code() {
        let old = "impl Server {\n    fn poll(&mut self) {\n        a();\n        b();\n        c();\n        d();\n        e();\n    }\n}\n";
        let new = old.replace("e();", "f::<Vec<u8>>();");
        let hunks = hunks(old, &new, 1);
        assert_eq!(hunks[0].item.as_deref(), Some("fn poll(&mut self)"));
        let html = file_html("a", "b", Some(old), Some(&new), true);
        assert!(
            html.contains("Vec</span>&lt;") || html.contains("Vec&lt;"),
            "{html}"
        );
        assert!(!html.contains("Vec<u8>"));
    }

    #[test]
    fn a_missing_side_is_named() {
        let html = file_html(
            "legacy/a.rs",
            "modern/a.rs",
            Some("fn a() {}\n"),
            None,
            true,
        );
        assert!(html.contains("legacy/a.rs → (none)"));
        assert_eq!(html.matches("<tr class=\"del\">").count(), 1);
        let listing = listing_html("next/a.rs", "fn a() {}\nfn b() {}\n", true);
        assert_eq!(listing.matches("<tr class=\"ctx\">").count(), 2);
    }
}
