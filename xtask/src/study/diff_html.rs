//! The book's diffs as HTML: the hunks of [`harness::diff`] (the same as
//! `cargo xtask diff` prints), Rust highlighted with syntect, the changed words of a
//! changed line marked, whitespace-only lines shown as context with a quiet mark; and
//! whole files as listings, each line with an anchor the book's code quotes link to.

use std::fmt::Write as _;

use similar::ChangeTag;

use super::highlight;
use crate::doc::escape;
use harness::diff::{self as hunks, Line};

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
    let lines = hunks::lines(o, n);
    let hunks = hunks::hunks(o, n, 3);
    let c = hunks::counts(&lines);
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
    let (old_hl, new_hl) = (highlight::lines(o, rust), highlight::lines(n, rust));
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
            "<tr class=\"hunk\" data-hunk=\"{}\"><td colspan=\"4\">{}{item}</td></tr>",
            escape(&hunk.header),
            escape(&hunk.header)
        );
        for row in &hunk.lines {
            let (class, sign, title) = match (row.tag, row.whitespace_only) {
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
fn code_html(row: &Line, source: Option<&(String, highlight::Line)>, marks: bool) -> String {
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
pub fn listing_html(name: &str, text: &str, rust: bool, anchor: &str) -> String {
    format!(
        "<div class=\"diff-file\">\n<div class=\"diff-head\"><span class=\"path\">{}</span> <span class=\"muted\">{} lines</span></div>\n{}</div>\n",
        escape(name),
        text.lines().count(),
        numbered_rows(text, rust, 1, Some(anchor))
    )
}

/// A piece of a Rust file (the aligned view's function), its lines numbered from
/// `first` as in the file; `name` is the file's, as a tooltip.
pub fn excerpt_html(name: &str, text: &str, first: usize) -> String {
    format!(
        "<div class=\"diff-file\" title=\"{}\">\n{}</div>\n",
        escape(name),
        numbered_rows(text, true, first, None)
    )
}

/// Lines as a table of line number and highlighted code, each row with the anchor
/// `ANCHOR-Ln` when `anchor` is given.
fn numbered_rows(text: &str, rust: bool, first: usize, anchor: Option<&str>) -> String {
    let lines = highlight::lines(text, rust);
    let mut out = String::from(
        "<table class=\"diff\"><colgroup><col class=\"no\"><col class=\"sign\"><col></colgroup><tbody>\n",
    );
    for (i, (body, runs)) in lines.iter().enumerate() {
        let n = first + i;
        let row = Line {
            tag: ChangeTag::Equal,
            old_no: None,
            new_no: Some(n),
            segments: vec![(false, body.clone())],
            whitespace_only: false,
        };
        let id = anchor
            .map(|a| format!(" id=\"{a}-L{n}\""))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "<tr class=\"ctx\"{id}><td class=\"no\">{n}</td><td class=\"sign\"></td><td class=\"code\">{}</td></tr>",
            code_html(&row, Some(&(body.clone(), runs.clone())), false)
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_words_are_marked_and_highlighted() {
        let old = "use futures::Future;\nfn run() -> Poll<(), io::Error> {\n    x\n}\n";
        let new = "use std::future::Future;\nasync fn run(self) -> io::Result<()> {\n    x\n}\n";
        let html = file_html("legacy/x.rs", "modern/x.rs", Some(old), Some(new), true);
        assert!(html.contains("<tr class=\"del\">") && html.contains("<tr class=\"ins\">"));
        assert!(
            html.contains("<span class=\"em\"><span class=\"hljs-keyword\">async</span>"),
            "{html}"
        );
        assert!(
            !html.contains("<code"),
            "no <code>: mdBook would re-highlight it"
        );
        assert_eq!(
            html.matches("<span").count(),
            html.matches("</span>").count()
        );
        assert!(html.contains("data-hunk=\"@@ -1,4 +1,4 @@\""), "{html}");
    }

    #[test]
    fn whitespace_alone_and_missing_sides_are_said() {
        let html = file_html("l.rs", "m.rs", Some("a\n b\n"), Some("a\n\tb\n"), false);
        assert!(
            html.contains("the same on both sides but for whitespace"),
            "{html}"
        );
        let html = file_html(
            "legacy/a.rs",
            "modern/a.rs",
            Some("fn a() {}\n"),
            None,
            true,
        );
        assert!(html.contains("legacy/a.rs → (none)"));
        assert_eq!(html.matches("<tr class=\"del\">").count(), 1);
        let listing = listing_html("next/a.rs", "fn a() {}\nfn b() {}\n", true, "next-a");
        assert_eq!(listing.matches("<tr class=\"ctx\"").count(), 2);
        assert!(listing.contains("id=\"next-a-L2\""), "{listing}");
    }
}
