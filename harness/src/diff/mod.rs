//! The one diff of the workspace: `cargo xtask diff` prints it and the book draws it,
//! hunk for hunk (a test holds the two to the same hunks).
//!
//! Lines are matched by their words (leading whitespace dropped, inner runs of blanks
//! read as one) with the patience algorithm, which keeps functions aligned where a
//! port reorders little and rewrites much. A line that changed only in whitespace (a
//! block re-indented because it moved into an `async fn`, a blank line added) is
//! shown as an unchanged line with a quiet mark, not as a removal and an insertion:
//! it opens no hunk of its own. Inside a replaced line, the words that changed are
//! marked (similar's inline diff).

pub mod count;

use similar::{capture_diff_slices, Algorithm, ChangeTag, DiffOp, InlineChangeOptions, TextDiff};

/// One line of a diff: its side, its line numbers, its text in segments (`true` =
/// the part of a changed line that changed), and whether only its whitespace changed.
#[derive(Debug, Clone, PartialEq)]
pub struct Line {
    pub tag: ChangeTag,
    pub old_no: Option<usize>,
    pub new_no: Option<usize>,
    pub segments: Vec<(bool, String)>,
    pub whitespace_only: bool,
}

impl Line {
    pub fn text(&self) -> String {
        self.segments.iter().map(|(_, s)| s.as_str()).collect()
    }

    /// A line that counts as a change (a whitespace-only one does not).
    pub fn is_change(&self) -> bool {
        self.tag != ChangeTag::Equal && !self.whitespace_only
    }
}

/// Changed lines with their context.
#[derive(Debug, Clone, PartialEq)]
pub struct Hunk {
    /// `@@ -12,7 +12,9 @@`
    pub header: String,
    /// The item the hunk is in (`fn main() {`), from the new side, as git shows it.
    pub item: Option<String>,
    pub lines: Vec<Line>,
}

/// What a diff holds: lines added, removed, and changed only in whitespace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub added: usize,
    pub removed: usize,
    pub whitespace: usize,
}

/// The words of a line: what two lines must share to count as the same line.
fn words(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn body(s: &str) -> String {
    s.trim_end_matches(['\n', '\r']).to_string()
}

/// Every line of `old` → `new` in order.
pub fn lines(old: &str, new: &str) -> Vec<Line> {
    let raw = TextDiff::configure()
        .algorithm(Algorithm::Patience)
        .diff_lines(old, new);
    let old_lines: Vec<&str> = raw.iter_old_slices().collect();
    let new_lines: Vec<&str> = raw.iter_new_slices().collect();
    let old_keys: Vec<String> = old_lines.iter().map(|l| words(l)).collect();
    let new_keys: Vec<String> = new_lines.iter().map(|l| words(l)).collect();
    let mut options = InlineChangeOptions::new();
    options.semantic_cleanup(true);
    let mut out = Vec::new();
    for op in &capture_diff_slices(Algorithm::Patience, &old_keys, &new_keys) {
        if let DiffOp::Equal {
            old_index,
            new_index,
            len,
        } = *op
        {
            for (o, n) in (old_index..old_index + len).zip(new_index..) {
                out.push(Line {
                    tag: ChangeTag::Equal,
                    old_no: Some(o + 1),
                    new_no: Some(n + 1),
                    segments: vec![(false, body(new_lines[n]))],
                    whitespace_only: body(old_lines[o]) != body(new_lines[n]),
                });
            }
            continue;
        }
        for change in raw.iter_inline_changes_with_options(op, options) {
            let mut segments: Vec<(bool, String)> = (change.iter_strings_lossy())
                .map(|(emph, s)| (emph, s.into_owned()))
                .collect();
            if let Some((_, last)) = segments.last_mut() {
                *last = body(last);
            }
            let text: String = segments.iter().map(|(_, s)| s.as_str()).collect();
            out.push(Line {
                tag: change.tag(),
                old_no: change.old_index().map(|i| i + 1),
                new_no: change.new_index().map(|i| i + 1),
                segments: tidy(segments),
                // A blank line added or removed changes nothing but layout.
                whitespace_only: text.trim().is_empty(),
            });
        }
    }
    out
}

/// Marks read as phrases: blanks between two marked words are marked, a mark that is
/// only blanks is not (re-spacing is not the change), and neighbours of the same kind
/// join.
fn tidy(mut segments: Vec<(bool, String)>) -> Vec<(bool, String)> {
    let marked_word = |s: &(bool, String)| s.0 && !s.1.trim().is_empty();
    for i in 0..segments.len() {
        if segments[i].1.trim().is_empty() {
            let between = i > 0
                && i + 1 < segments.len()
                && marked_word(&segments[i - 1])
                && marked_word(&segments[i + 1]);
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
pub fn hunks(old: &str, new: &str, context: usize) -> Vec<Hunk> {
    group(&lines(old, new), new, context)
}

fn group(lines: &[Line], new: &str, context: usize) -> Vec<Hunk> {
    // Windows around the changed lines, merged where they touch.
    let mut windows: Vec<(usize, usize)> = Vec::new();
    for (i, _) in lines.iter().enumerate().filter(|(_, l)| l.is_change()) {
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
    let hunk = |(from, to): (usize, usize)| {
        let part = &lines[from..to];
        type Side = fn(&Line) -> Option<usize>;
        let start = |no: Side| {
            // A side with no line here: the line before the hunk, as diff -u.
            let before = || lines[..from].iter().rev().find_map(no).unwrap_or(0);
            part.iter().find_map(no).unwrap_or_else(before)
        };
        let count = |no: Side| part.iter().filter(|l| no(l).is_some()).count();
        let (old_no, new_no): (Side, Side) = (|l| l.old_no, |l| l.new_no);
        let new_start = start(new_no);
        Hunk {
            header: format!(
                "@@ -{},{} +{},{} @@",
                start(old_no),
                count(old_no),
                new_start,
                count(new_no)
            ),
            item: enclosing_item(&new_text, new_start.saturating_sub(1)),
            lines: part.to_vec(),
        }
    };
    windows.into_iter().map(hunk).collect()
}

/// The nearest item opened above line `at` (0-based) of `lines`: an `fn`, `impl`,
/// `struct`, `enum`, `trait` or `mod` line, as `git diff` names a hunk's function.
fn enclosing_item(lines: &[&str], at: usize) -> Option<String> {
    const STARTS: [&str; 6] = ["fn ", "impl", "struct ", "enum ", "trait ", "mod "];
    const QUALIFIERS: [&str; 5] = ["pub(crate) ", "pub ", "async ", "unsafe ", "const "];
    lines[..at.min(lines.len())].iter().rev().find_map(|l| {
        let t = l.trim_start();
        let bare = QUALIFIERS
            .iter()
            .fold(t, |t, p| t.strip_prefix(p).unwrap_or(t));
        (STARTS.iter().any(|s| bare.starts_with(s)) && !t.ends_with(';'))
            .then(|| t.trim_end().trim_end_matches('{').trim_end().to_string())
    })
}

pub fn counts<'a>(lines: impl IntoIterator<Item = &'a Line>) -> Counts {
    let mut c = Counts::default();
    for l in lines {
        match (l.tag, l.whitespace_only) {
            (ChangeTag::Equal, false) => {}
            (_, true) => c.whitespace += 1,
            (ChangeTag::Insert, false) => c.added += 1,
            (ChangeTag::Delete, false) => c.removed += 1,
        }
    }
    c
}

/// How much of `old` a port keeps: of `old`'s non-blank lines (whitespace stripped),
/// how many survive unchanged and in order in `new`, as Python's
/// `difflib.SequenceMatcher(None, old, new, autojunk=False).get_matching_blocks()`
/// counts them (the longest common block first, then recursively left and right of
/// it; no line counted twice). Returns (kept, of). Written out here because the
/// figure is defined by that algorithm, and its twenty lines are easier to check than
/// an unmaintained port of difflib.
pub fn kept(old: &str, new: &str) -> (usize, usize) {
    let strip = |s: &str| -> Vec<String> {
        let lines = s.lines().map(|l| l.split_whitespace().collect::<String>());
        lines.filter(|l| !l.is_empty()).collect()
    };
    let (a, b) = (strip(old), strip(new));
    let mut positions: std::collections::HashMap<&str, Vec<usize>> = Default::default();
    for (j, line) in b.iter().enumerate() {
        positions.entry(line).or_default().push(j);
    }
    let mut total = 0;
    let mut queue = vec![(0, a.len(), 0, b.len())];
    while let Some((alo, ahi, blo, bhi)) = queue.pop() {
        // The longest block a[i..i+k] == b[j..j+k] in the window, earliest first.
        let (mut best, mut lengths) = ((alo, blo, 0), std::collections::HashMap::new());
        for (i, line) in a.iter().enumerate().take(ahi).skip(alo) {
            let mut next = std::collections::HashMap::new();
            for &j in positions.get(line.as_str()).into_iter().flatten() {
                if j < blo || j >= bhi {
                    continue;
                }
                let k = lengths.get(&(j.wrapping_sub(1))).copied().unwrap_or(0) + 1;
                next.insert(j, k);
                if k > best.2 {
                    best = (i + 1 - k, j + 1 - k, k);
                }
            }
            lengths = next;
        }
        let (i, j, k) = best;
        if k > 0 {
            total += k;
            if alo < i && blo < j {
                queue.push((alo, i, blo, j));
            }
            if i + k < ahi && j + k < bhi {
                queue.push((i + k, ahi, j + k, bhi));
            }
        }
    }
    (total, a.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reindented_block_is_context_not_a_change() {
        let old = "fn main() {\nlet a = 1;\nlet b = 2;\n}\n";
        let new = "fn main() {\n    async {\n        let a = 1;\n        let b = 2;\n    };\n}\n";
        let hunks = hunks(old, new, 3);
        assert_eq!(hunks.len(), 1);
        let lines = &hunks[0].lines;
        let changed: Vec<String> = lines
            .iter()
            .filter(|l| l.is_change())
            .map(Line::text)
            .collect();
        assert_eq!(changed, ["    async {", "    };"], "only the new lines");
        let ws: Vec<String> = lines
            .iter()
            .filter(|l| l.whitespace_only)
            .map(Line::text)
            .collect();
        assert_eq!(
            ws,
            ["        let a = 1;", "        let b = 2;"],
            "in their new form"
        );
        let c = counts(hunks.iter().flat_map(|h| &h.lines));
        assert_eq!((c.added, c.removed, c.whitespace), (2, 0, 2));
        assert_eq!(hunks[0].header, "@@ -1,4 +1,6 @@");
        assert!(
            super::hunks("a\n  b\n", "a\n\n      b\n", 3).is_empty(),
            "whitespace alone"
        );
    }

    #[test]
    fn hunks_carry_numbers_emphasis_and_their_item() {
        let old = "fn main() {\n    let core = Core::new()?;\n}\n";
        let new = "fn main() {\n    let runtime = Builder::new_current_thread()?;\n}\n";
        let h = hunks(old, new, 3);
        let tags: Vec<ChangeTag> = h[0].lines.iter().map(|r| r.tag).collect();
        use ChangeTag::*;
        assert_eq!(tags, [Equal, Delete, Insert, Equal]);
        assert_eq!(
            (h[0].lines[1].old_no, h[0].lines[2].new_no),
            (Some(2), Some(2))
        );
        let marked: Vec<&str> = (h[0].lines[2].segments.iter())
            .filter(|(e, _)| *e)
            .map(|(_, s)| s.as_str())
            .collect();
        assert!(marked.iter().any(|s| s.contains("runtime")), "{marked:?}");
        let old = "impl Server {\n    fn poll(&mut self) {\n        a();\n        b();\n        c();\n    }\n}\n";
        let new = old.replace("c();", "d();");
        assert_eq!(
            hunks(old, &new, 1)[0].item.as_deref(),
            Some("fn poll(&mut self)")
        );
    }

    #[test]
    fn kept_is_difflib_s_matching_blocks_of_non_blank_lines() {
        assert_eq!(kept("a\nb\nc\n", "a\nb\nc\n"), (3, 3));
        assert_eq!(
            kept("a\n\n  b\nc\n", "a\nb\nX\nc\n"),
            (3, 3),
            "blanks and indent ignored"
        );
        assert_eq!(
            kept("a\nb\nc\nd\n", "d\na\nb\nc\n"),
            (3, 4),
            "in order: d is not kept"
        );
        assert_eq!(kept("x\ny\n", ""), (0, 2));
        // The longest block first: `b c d` in the middle, then `a` left of it.
        assert_eq!(kept("a\nb\nc\nd\ne\n", "a\nz\nb\nc\nd\ny\n"), (4, 5));
        // A repeated line is counted once: difflib pairs each line with one line.
        assert_eq!(kept("}\n}\n}\n", "}\n"), (1, 3));
    }
}
