//! What every generated part is made from ([`Ctx`]), what a part is ([`Part`]), and
//! the small pieces of Markdown and HTML every part writes.

use harness::results::conformance::{CheckResult, Row, Status};
use harness::{Catalogue, Chapter, Program};

use crate::doc::escape;
use crate::study::results::Results;
use harness::pairs::Pair;

/// What every part is made from.
pub struct Ctx<'a> {
    pub catalogue: &'a Catalogue,
    pub pairs: &'a [Pair],
    pub results: &'a Results,
}

impl Ctx<'_> {
    /// The page of a program, from the book's root (`udp-echo/echo-tokio.md`).
    pub fn page_of(&self, program: &str) -> Option<String> {
        let pair = self.pairs.iter().find(|p| p.name == program)?;
        Some(format!(
            "{}/{}.md",
            pair.family().ok()?.chapter().key(),
            pair.name
        ))
    }

    /// `[echo-tokio](../udp-echo/echo-tokio.md)` from a part, or the bare name.
    pub fn link(&self, program: &str) -> String {
        match self.page_of(program) {
            Some(page) => format!("[`{program}`]({{{{root}}}}{page})"),
            None => format!("`{program}`"),
        }
    }

    /// The program that holds `path` (a file's path from the workspace root).
    pub fn program_at(&self, path: &str) -> Option<&Program> {
        let programs = self.catalogue.programs().iter();
        programs
            .into_iter()
            .find(|p| path.starts_with(&format!("{}/", harness::workspace::relative(&p.dir))))
    }

    /// Where line `n` of `path` is in the listings of its program's page, from the
    /// book's root (`{{root}}udp-echo/echo-mpsc.md#legacy-echo-mpsc-main-rs-L44`).
    pub fn line_link(&self, path: &str, n: usize) -> Option<String> {
        let program = self.program_at(path)?;
        let file = path.split("/src/").nth(1)?;
        let page = self.page_of(&program.name)?;
        Some(format!(
            "{{{{root}}}}{page}#{}",
            line_anchor(program, file, n)
        ))
    }

    /// The programs of a chapter, in story order.
    pub fn pairs_of(&self, chapter: Chapter) -> Vec<&Pair> {
        let of = |p: &&Pair| p.family().is_ok_and(|f| f.chapter() == chapter);
        self.pairs.iter().filter(of).collect()
    }
}

/// One generated file: its path under `gen/` (or, for a program's page, under the
/// book's root), its Markdown, the figures it draws (file name, SVG), and what it
/// lacked, if anything.
#[derive(Debug, Default)]
pub struct Part {
    pub path: String,
    pub md: String,
    pub figures: Vec<(String, String)>,
    pub missing: Option<String>,
}

impl Part {
    pub fn new(path: &str, md: String) -> Part {
        Part {
            path: path.to_string(),
            md,
            ..Part::default()
        }
    }

    /// This part followed by `other`: its text, and its figures.
    pub fn and(mut self, other: Part) -> Part {
        self.md += &other.md;
        self.figures.extend(other.figures);
        self
    }

    /// A part with nothing to show: what it would show, why it cannot, and how to
    /// measure it (`how` empty when this machine cannot).
    pub fn missing(path: &str, what: &str, why: &str, how: &str) -> Part {
        let how = match how {
            "" => String::new(),
            how => format!(
                " To measure it: <code>{how}</code>, then <code>cargo xtask study</code> again."
            ),
        };
        let md = format!(
            "<div class=\"missing\"><b>{what}</b>: not in this book — {why}.{how}</div>\n\n"
        );
        Part {
            path: path.to_string(),
            md: block(&md),
            missing: Some(format!("{what}: {why}")),
            figures: Vec::new(),
        }
    }
}

/// The checks of a conformance row that did not pass: status, name, what it observed.
pub fn failed_checks(row: Option<&Row>) -> Vec<String> {
    let failed = (row.into_iter().flat_map(|r| &r.checks)).filter(|c| c.status != Status::Pass);
    let note = |c: &CheckResult| {
        let (status, detail) = (c.status.as_str(), escape(&c.detail));
        format!("{status} <code>{}</code>: {detail}", c.name)
    };
    failed.map(note).collect()
}

/// A status as a badge.
pub fn badge(status: Option<Status>) -> String {
    let s = status.map_or("not run", Status::as_str);
    format!("<span class=\"badge {}\">{s}</span>", s.replace(' ', "-"))
}

/// A Markdown table; `|` in a cell is escaped, a line break becomes a space.
pub fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cell = |c: &str| c.replace('|', "\\|").replace('\n', " ");
    let line = |cells: Vec<String>| format!("| {} |\n", cells.join(" | "));
    let mut out = line(header.iter().map(|h| cell(h)).collect());
    out += &line(header.iter().map(|_| "---".to_string()).collect());
    for r in rows {
        out += &line(r.iter().map(|c| cell(c)).collect());
    }
    out + "\n"
}

/// An HTML block as CommonMark needs it: no blank line inside (it would end the
/// block), a blank line after.
pub fn block(html: &str) -> String {
    let lines: Vec<&str> = html.lines().filter(|l| !l.trim().is_empty()).collect();
    lines.join("\n") + "\n\n"
}

/// `echo-tokio modern` → the flavor label's programs of a pair, in ladder order.
pub fn labels(pair: &Pair) -> Vec<(String, &Program)> {
    let mut all: Vec<&Program> = pair.programs().collect();
    all.sort_by_key(|p| harness::flavor::label_rank(&p.flavor_label()));
    all.into_iter().map(|p| (p.flavor_label(), p)).collect()
}

/// `3.2`, `1,234`, `0.004`: a figure for people.
pub fn num(v: f64) -> String {
    crate::study::svg::short(v)
}

/// A median with its spread: `2.4 (2.1–2.9)`.
pub fn spread(s: &harness::results::Stat, scale: f64) -> String {
    let s = s.scaled(scale);
    match s.n > 1 && s.max > s.min {
        true => format!("{} ({}–{})", num(s.median), num(s.min), num(s.max)),
        false => num(s.median),
    }
}

/// Where some records came from: each distinct run once, in words.
pub fn runs_line<'a>(
    what: &str,
    runs: impl Iterator<Item = &'a harness::results::Run>,
    now: u64,
) -> String {
    let mut seen: Vec<&harness::results::Run> = Vec::new();
    for run in runs {
        if !seen
            .iter()
            .any(|s| s.command == run.command && s.unix_time == run.unix_time)
        {
            seen.push(run);
        }
    }
    if seen.is_empty() {
        return String::new();
    }
    let each: Vec<String> = seen
        .iter()
        .map(|r| crate::study::results::brief(r, now))
        .collect();
    let sources = "<a href=\"{{root}}sources.html\">where the figures come from</a>";
    format!(
        "<p class=\"provenance\">{what} {} ({sources}).</p>\n\n",
        each.join("; ")
    )
}

/// Where the conformance rows come from.
pub fn provenance_of_rows(ctx: &Ctx) -> String {
    let runs = ctx.results.conformance.records().iter().map(|r| &r.run);
    runs_line("From", runs, ctx.results.now)
}

/// The anchor of line `n` of `file` of `program` in its page's listings.
pub fn line_anchor(program: &Program, file: &str, n: usize) -> String {
    format!("{}-L{n}", listing_id(program, file))
}

pub fn listing_id(program: &Program, file: &str) -> String {
    let slug: String = file
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{}-{slug}", program.package)
}
