//! A pair's diff on a terminal: its dependency change, then every source file's
//! hunks, unified or side by side, coloured when stdout is a terminal.

use std::fmt::Write as _;

use anyhow::Result;
use harness::catalogue::Dependency;
use harness::{Catalogue, Flavor};
use similar::ChangeTag;

use harness::diff::{self as hunks, Hunk, Line};
use harness::pairs::Pair;

/// ANSI colours, or none.
pub struct Style {
    pub on: bool,
}

pub const RED: &str = "31";
pub const GREEN: &str = "32";
pub const CYAN: &str = "36";
pub const BOLD: &str = "1";
pub const DIM: &str = "2";
pub const YELLOW: &str = "33";

impl Style {
    pub fn paint(&self, sgr: &str, text: &str) -> String {
        match self.on && !text.is_empty() && !sgr.is_empty() {
            true => format!("\x1b[{sgr}m{text}\x1b[0m"),
            false => text.to_string(),
        }
    }
}

#[derive(Clone, Copy)]
pub enum Layout {
    Unified,
    SideBySide(usize),
}

/// `^0.1.31 → 0.1.31`, with the kind when it is not a normal dependency.
pub fn describe_dep(d: &Dependency) -> String {
    let mut s = match &d.resolved {
        Some(v) => format!("{} → {v}", d.req),
        None => d.req.clone(),
    };
    if d.kind != "normal" {
        s += &format!(" ({})", d.kind);
    }
    s
}

/// A dependency of either side, for the dependency table.
#[derive(Debug, Clone)]
pub struct DepRow {
    pub name: String,
    pub legacy: Option<Dependency>,
    pub modern: Option<Dependency>,
}

impl DepRow {
    /// `-` removed, `+` added, `~` changed, blank the same.
    pub fn mark(&self) -> char {
        match (&self.legacy, &self.modern) {
            (Some(_), None) => '-',
            (None, Some(_)) => '+',
            (Some(a), Some(b)) if a.req == b.req && a.resolved == b.resolved => ' ',
            _ => '~',
        }
    }
}

/// Both sides' direct dependencies, by name (`shared` first, then alphabetical).
pub fn dependency_rows(catalogue: &Catalogue, pair: &Pair) -> Vec<DepRow> {
    let side = |f: Flavor| pair.side(f).map(|p| catalogue.dependencies(&p.package));
    let (legacy, modern) = (
        side(Flavor::Legacy).unwrap_or_default(),
        side(Flavor::Modern).unwrap_or_default(),
    );
    let mut names: Vec<&String> = legacy.iter().chain(&modern).map(|d| &d.name).collect();
    names.sort_by_key(|n| (n.as_str() != "shared", n.as_str()));
    names.dedup();
    let find = |deps: &[Dependency], n: &str| deps.iter().find(|d| d.name == n).cloned();
    let row = |n: &String| DepRow {
        name: n.clone(),
        legacy: find(&legacy, n),
        modern: find(&modern, n),
    };
    names.into_iter().map(row).collect()
}

/// Why a side shows nothing.
pub fn missing_side_note(pair: &Pair) -> Option<String> {
    let (what, shows) = match (&pair.legacy, &pair.modern) {
        (Some(_), None) => ("modern", "removed"),
        (None, Some(_)) => ("legacy", "added"),
        _ => return None,
    };
    Some(format!(
        "{} has no {what} side yet: the diff is against nothing (every line shows as {shows}).",
        pair.name
    ))
}

/// The labels of a pair's two sides as the matrix shows them (`legacy`, `bridge-1`,
/// `modern`, `next`; a pitfall marked `✗`).
pub fn rung_labels(pair: &Pair) -> (String, String) {
    let label = |p: Option<&harness::Program>, default: &str| match p {
        Some(p) if p.declared.pitfall_of.is_some() => format!("{} ✗", p.flavor_label()),
        Some(p) => p.flavor_label(),
        None => default.to_string(),
    };
    (
        label(pair.legacy.as_ref(), "legacy"),
        label(pair.modern.as_ref(), "modern"),
    )
}

/// One pair: its dependency change, then each source file's hunks.
pub fn pair(
    catalogue: &Catalogue,
    pair: &Pair,
    style: &Style,
    layout: Layout,
    context: usize,
) -> Result<String> {
    let (l, m) = (
        pair.display_dir(Flavor::Legacy),
        pair.display_dir(Flavor::Modern),
    );
    let mut out = style.paint(BOLD, &format!("{}: {l} → {m}", pair.name)) + "\n";
    if let Some(note) = missing_side_note(pair) {
        out += &(style.paint(YELLOW, &note) + "\n");
    }
    out += "\n";
    out += &style.paint(
        BOLD,
        "Dependencies (direct; requirement → version in Cargo.lock)",
    );
    out += "\n";
    let (left, right) = rung_labels(pair);
    let cell = |d: &Option<Dependency>| d.as_ref().map_or("—".into(), describe_dep);
    let rows = (dependency_rows(catalogue, pair).iter())
        .map(|r| {
            vec![
                r.mark().to_string(),
                r.name.clone(),
                cell(&r.legacy),
                cell(&r.modern),
            ]
        })
        .collect();
    out += &harness::table(&["", "crate", &left, &right], rows);
    for file in pair.paired_sources()? {
        let name = |flavor: Flavor, present: bool| match present {
            true => format!("{}/src/{}", pair.display_dir(flavor), file.path),
            false => "/dev/null".to_string(),
        };
        out += "\n";
        out += &(style.paint(
            BOLD,
            &format!("--- {}", name(Flavor::Legacy, file.legacy.is_some())),
        ) + "\n");
        out += &(style.paint(
            BOLD,
            &format!("+++ {}", name(Flavor::Modern, file.modern.is_some())),
        ) + "\n");
        let (old, new) = (
            file.legacy.as_deref().unwrap_or(""),
            file.modern.as_deref().unwrap_or(""),
        );
        let hunks = hunks::hunks(old, new, context);
        if hunks.is_empty() {
            out += "(identical but for whitespace)\n";
        }
        for hunk in &hunks {
            match layout {
                Layout::Unified => unified(&mut out, hunk, style),
                Layout::SideBySide(width) => side_by_side(&mut out, hunk, style, width),
            }
        }
    }
    Ok(out)
}

fn painted(line: &Line, style: &Style, base: &str) -> String {
    let paint = |(emph, s): &(bool, String)| {
        let s = s.replace('\t', "    ");
        match (base.is_empty(), emph) {
            (true, _) => s,
            (false, true) => style.paint(&format!("{base};7"), &s),
            (false, false) => style.paint(base, &s),
        }
    };
    line.segments.iter().map(paint).collect()
}

/// The sign and colour of a line: `·` marks one that changed only in whitespace.
fn sign(line: &Line) -> (&'static str, &'static str) {
    match (line.tag, line.whitespace_only) {
        (ChangeTag::Equal, false) => (" ", ""),
        (_, true) => ("·", DIM),
        (ChangeTag::Delete, _) => ("-", RED),
        (ChangeTag::Insert, _) => ("+", GREEN),
    }
}

fn header(hunk: &Hunk, style: &Style) -> String {
    let item = hunk
        .item
        .as_deref()
        .map(|i| format!(" {i}"))
        .unwrap_or_default();
    style.paint(CYAN, &format!("{}{item}", hunk.header)) + "\n"
}

fn unified(out: &mut String, hunk: &Hunk, style: &Style) {
    *out += &header(hunk, style);
    for line in &hunk.lines {
        let (sign, sgr) = sign(line);
        let base = if line.is_change() { sgr } else { "" };
        let _ = writeln!(
            out,
            "{}{}",
            style.paint(sgr, sign),
            painted(line, style, base)
        );
    }
}

/// One side of a side-by-side line: cut to `width` characters (`…` marks a cut) and
/// padded to it.
fn column(line: Option<&Line>, width: usize, style: &Style) -> String {
    let Some(line) = line else {
        return " ".repeat(width);
    };
    let (_, sgr) = sign(line);
    let base = if line.is_change() { sgr } else { "" };
    let text = line.text().replace('\t', "    ");
    let n = text.chars().count();
    if n <= width {
        return painted(line, style, base) + &" ".repeat(width - n);
    }
    let cut: String = text.chars().take(width.saturating_sub(1)).collect();
    style.paint(base, &cut) + &style.paint(DIM, "…")
}

fn side_by_side(out: &mut String, hunk: &Hunk, style: &Style, width: usize) {
    // number (4) + space + mark + text, twice, and " │ " between.
    let text_w = (width.saturating_sub(15) / 2).max(20);
    *out += &header(hunk, style);
    let lines = &hunk.lines;
    let mut i = 0;
    while i < lines.len() {
        // Deleted lines followed by inserted lines are shown against each other.
        let dels = lines[i..]
            .iter()
            .take_while(|r| r.tag == ChangeTag::Delete)
            .count();
        let ins = lines[i + dels..]
            .iter()
            .take_while(|r| r.tag == ChangeTag::Insert)
            .count();
        let rows: Vec<(Option<&Line>, Option<&Line>)> = match dels + ins {
            0 => vec![(Some(&lines[i]), Some(&lines[i]))],
            _ => (0..dels.max(ins))
                .map(|k| {
                    (
                        (k < dels).then(|| &lines[i + k]),
                        (k < ins).then(|| &lines[i + dels + k]),
                    )
                })
                .collect(),
        };
        i += (dels + ins).max(1);
        for (l, r) in rows {
            let num = |n: Option<usize>| n.map_or("    ".into(), |n| format!("{n:>4}"));
            let mark = |x: Option<&Line>, tag| match x {
                Some(x) if x.tag == tag => sign(x),
                _ => (" ", ""),
            };
            let ((lm, ls), (rm, rs)) = (mark(l, ChangeTag::Delete), mark(r, ChangeTag::Insert));
            let line = format!(
                "{} {}{}{}{} {}{}",
                style.paint(DIM, &num(l.and_then(|x| x.old_no))),
                style.paint(ls, lm),
                column(l, text_w, style),
                style.paint(DIM, " │ "),
                style.paint(DIM, &num(r.and_then(|x| x.new_no))),
                style.paint(rs, rm),
                column(r, text_w, style),
            );
            // No trailing blanks when the right side is short or empty.
            let _ = writeln!(out, "{}", line.trim_end_matches(' '));
        }
    }
}

#[cfg(test)]
pub fn tests_side_by_side(out: &mut String, hunk: &Hunk, style: &Style, width: usize) {
    side_by_side(out, hunk, style, width)
}
