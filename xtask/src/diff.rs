//! `cargo xtask diff PROGRAM` — the migration diff of one pair: the dependency change
//! (direct dependencies of both `Cargo.toml`s, with the versions `Cargo.lock`
//! resolved) and a unified diff of every source file, paired by path. Coloured on a
//! terminal, plain when piped; `--side-by-side` for wide terminals.
//!
//! `cargo xtask diff --stat` — one table of all pairs: lines of code, lines changed,
//! hand-written `Future`/`Stream` impls, `unsafe` blocks, direct dependencies; then one
//! of the `next` programs, each against its readiness sibling.
//!
//! `cargo xtask diff echo-uring [--against echo-epoll-edge] [--against-flavor modern]`
//! — a `next` program (completion-based or batched I/O) has no legacy side: it is
//! diffed against a readiness program instead, by default the `sibling` its
//! `Cargo.toml` declares, in that program's modern flavor.
//!
//! `cargo xtask diff echo-mpsc --ladder` — the migration ladder of a program: each
//! step's diff from the one before (legacy → step 1 → … → modern), dependencies and
//! sources, each headed by what the step does, then each pitfall (a step done in the
//! wrong order) against the step it gets wrong. `diff --stat` adds one table of the
//! ladders, a row per rung. A pitfall named alone (`diff tcp-echo-early-timer`) is
//! diffed against the step it gets wrong.

use std::io::{IsTerminal, Write};

use anyhow::{bail, Result};
use clap::ValueEnum;
use harness::catalogue::Dependency;
use harness::{Catalogue, Flavor};
use similar::{ChangeTag, TextDiff};

use crate::args::FlavorArg;
use crate::pairs::{self, Pair, Pitfall};
use crate::stat::{self, PairStat, SideStat};

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum Color {
    Auto,
    Always,
    Never,
}

#[derive(clap::Args)]
pub struct Args {
    /// The program whose pair to show (e.g. echo-tokio).
    program: Option<String>,
    /// One table of every pair instead of one diff.
    #[arg(long)]
    stat: bool,
    /// Legacy on the left, modern on the right.
    #[arg(long)]
    side_by_side: bool,
    /// Width of the side-by-side view (default: the terminal's, else 160).
    #[arg(long)]
    width: Option<usize>,
    /// Lines of context around each change.
    #[arg(long, default_value_t = 3)]
    context: usize,
    /// Colour: on a terminal (auto), always, or never.
    #[arg(long, value_enum, default_value = "auto")]
    color: Color,
    /// Diff the program's next side against this program (a readiness sibling)
    /// instead of legacy against modern; a next program's declared `sibling` when
    /// not given.
    #[arg(long)]
    against: Option<String>,
    /// The flavor of the --against program to diff against (default: modern).
    #[arg(long, value_enum)]
    against_flavor: Option<FlavorArg>,
    /// The migration ladder: each step's diff from the one before, legacy → bridge
    /// steps → modern, then the ladder's pitfalls.
    #[arg(long, conflicts_with_all = ["against", "against_flavor", "stat"])]
    ladder: bool,
}

pub fn main(args: Args) -> Result<i32> {
    let catalogue = Catalogue::load()?;
    let all = pairs::pairs(&catalogue);
    let tty = std::io::stdout().is_terminal();
    let style = Style {
        on: match args.color {
            Color::Auto => tty,
            Color::Always => true,
            Color::Never => false,
        },
    };
    let mut out = String::new();
    if args.stat {
        let chosen: Vec<&Pair> = match &args.program {
            Some(name) => vec![pairs::find(&all, name)?],
            None => all.iter().collect(),
        };
        let eras: Vec<&Pair> = chosen
            .iter()
            .copied()
            .filter(|p| p.legacy.is_some() || p.modern.is_some())
            .collect();
        let stats = eras
            .iter()
            .map(|p| stat::pair_stat(&catalogue, p))
            .collect::<Result<Vec<_>>>()?;
        if !stats.is_empty() {
            out.push_str(&stat_table(&stats));
        }
        let mut next = Vec::new();
        for pair in chosen.iter().filter(|p| p.side(Flavor::Next).is_some()) {
            let sibling = pair
                .side(Flavor::Next)
                .and_then(|p| p.declared.sibling.as_deref());
            let against = match sibling {
                Some(name) => against(&all, pair, Some(name), args.against_flavor)?,
                None => None,
            };
            let stat = match &against {
                Some(c) => stat::pair_stat(&catalogue, c)?,
                // No sibling declared: a one-sided row.
                None => PairStat {
                    legacy: None,
                    ..stat::pair_stat(&catalogue, &next_only(pair))?
                },
            };
            let label = against
                .as_ref()
                .and_then(|c| c.legacy.as_ref())
                .map(|p| format!("{} {}", p.flavor, p.name))
                .unwrap_or_else(|| "—".to_string());
            next.push((stat, label));
        }
        if !next.is_empty() {
            if !stats.is_empty() {
                out.push('\n');
            }
            out.push_str(&next_stat_table(&next));
        }
        let pitfalls = pairs::pitfalls(&all);
        // The ladders of the programs chosen (a pitfall's is the one it belongs to).
        let mut ladders: Vec<&Pair> = Vec::new();
        for pair in &chosen {
            let ladder = match pitfalls.iter().find(|f| f.program.name == pair.name) {
                Some(f) => pairs::find(&all, &f.ladder)?,
                None => pair,
            };
            let has_ends = ladder.legacy.is_some() || ladder.modern.is_some();
            if ladder.has_ladder() && has_ends && !ladders.iter().any(|l| l.name == ladder.name) {
                ladders.push(ladder);
            }
        }
        let mut rungs = Vec::new();
        for pair in ladders {
            rungs.extend(ladder_stat(&catalogue, pair, &pitfalls)?);
        }
        if !rungs.is_empty() {
            if !out.is_empty() {
                out.push('\n');
            }
            out.push_str(&ladder_stat_table(&rungs));
        }
    } else {
        let Some(name) = &args.program else {
            let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
            return Err(harness::UsageError(format!(
                "name a program, or use --stat for all; the programs are: {}",
                names.join(", ")
            ))
            .into());
        };
        let found = pairs::find(&all, name)?;
        let width = args
            .width
            .or_else(|| tty.then(terminal_width).flatten())
            .unwrap_or(160);
        let layout = if args.side_by_side {
            Layout::SideBySide(width)
        } else {
            Layout::Unified
        };
        let pitfalls = pairs::pitfalls(&all);
        if args.ladder {
            out.push_str(&render_ladder(
                &catalogue,
                &all,
                &pitfalls,
                found,
                &style,
                layout,
                args.context,
            )?);
        } else {
            let shown = match pitfall_pair(&pitfalls, found) {
                Some(p) => Some(p),
                None => against(&all, found, args.against.as_deref(), args.against_flavor)?,
            };
            let pair = shown.as_ref().unwrap_or(found);
            out.push_str(&render_pair(
                &catalogue,
                pair,
                &style,
                layout,
                args.context,
            )?);
        }
    }
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    Ok(0)
}

/// The comparison of a program's `next` side with a readiness program, as a pair
/// whose left side is that program (in `flavor`, modern by default) and whose right
/// side is the next one; `None` when the program's own legacy → modern diff is what
/// to show (it has one, and no --against was given). The readiness program is
/// `against`, else the next package's declared `sibling`.
fn against(
    all: &[Pair],
    pair: &Pair,
    against: Option<&str>,
    flavor: Option<FlavorArg>,
) -> Result<Option<Pair>> {
    let next = pair.side(Flavor::Next);
    let eras = pair.legacy.is_some() || pair.modern.is_some();
    if against.is_none() && (eras || next.is_none()) {
        return Ok(None);
    }
    let Some(next) = next else {
        bail!(
            "--against sets a next program beside a readiness one; {} has no next side",
            pair.name
        );
    };
    let Some(sibling) = against.or(next.declared.sibling.as_deref()) else {
        return match eras {
            true => Ok(None),
            false => bail!(
                "{} declares no `sibling` in [package.metadata.study]; name the program to \
                 diff it against with --against",
                next.package
            ),
        };
    };
    let flavor: Flavor = flavor.map(Into::into).unwrap_or(Flavor::Modern);
    let other = pairs::find(all, sibling)?;
    let Some(left) = other.side(flavor) else {
        bail!(
            "{sibling} has no {flavor} side to diff {} against",
            pair.name
        );
    };
    Ok(Some(Pair {
        name: pair.name.clone(),
        legacy: Some(left.clone()),
        modern: Some(next.clone()),
        others: Vec::new(),
    }))
}

/// What a pair shows in a diff: a next program without legacy or modern side set
/// against its declared sibling, a pitfall beside the step of its ladder it gets
/// wrong; any other pair as it is.
pub fn as_shown(all: &[Pair], pair: &Pair) -> Pair {
    if let Some(p) = pitfall_pair(&pairs::pitfalls(all), pair) {
        return p;
    }
    match against(all, pair, None, None) {
        Ok(Some(c)) => c,
        _ => pair.clone(),
    }
}

/// A next program alone, on the right-hand side of a pair.
fn next_only(pair: &Pair) -> Pair {
    Pair {
        name: pair.name.clone(),
        legacy: None,
        modern: pair.side(Flavor::Next).cloned(),
        others: Vec::new(),
    }
}

/// The flavors a pair's two sides are shown as: `legacy`/`modern`, or the flavors of
/// the programs set side by side (`modern`/`next`).
pub fn side_labels(pair: &Pair) -> (&'static str, &'static str) {
    (
        pair.legacy.as_ref().map_or("legacy", |p| p.flavor.as_str()),
        pair.modern.as_ref().map_or("modern", |p| p.flavor.as_str()),
    )
}

/// The labels of a pair's two sides as the matrix shows them (`legacy`, `bridge-1`,
/// `modern`, `next`).
fn rung_labels(pair: &Pair) -> (String, String) {
    let (l, m) = side_labels(pair);
    let label = |p: &harness::Program| match p.declared.pitfall_of {
        Some(_) => format!("{} ✗", p.flavor_label()),
        None => p.flavor_label(),
    };
    (
        pair.legacy.as_ref().map_or(l.to_string(), label),
        pair.modern.as_ref().map_or(m.to_string(), label),
    )
}

/// A pitfall named on its own is shown beside the step it gets wrong.
fn pitfall_pair(pitfalls: &[Pitfall], pair: &Pair) -> Option<Pair> {
    let f = pitfalls.iter().find(|f| f.program.name == pair.name)?;
    Some(Pair::between(&pair.name, f.right.as_ref()?, &f.program))
}

/// The ladder of `pair` (or of the ladder a pitfall belongs to): an overview, each
/// step's diff from the one before, then the ladder's pitfalls.
fn render_ladder(
    catalogue: &Catalogue,
    all: &[Pair],
    pitfalls: &[Pitfall],
    pair: &Pair,
    style: &Style,
    layout: Layout,
    context: usize,
) -> Result<String> {
    let pair = match pitfalls.iter().find(|f| f.program.name == pair.name) {
        Some(f) => pairs::find(all, &f.ladder)?,
        None => pair,
    };
    let rungs = pair.ladder();
    let labels: Vec<String> = rungs.iter().map(|p| p.flavor_label()).collect();
    let mut out = String::new();
    out.push_str(&style.paint(
        BOLD,
        &format!(
            "{}: the migration ladder, {}",
            pair.name,
            labels.join(" → ")
        ),
    ));
    out.push('\n');
    for p in &rungs {
        out.push_str(&format!(
            "  {:<9} {}\n",
            p.flavor_label(),
            harness::workspace::relative(&p.dir)
        ));
    }
    let own: Vec<&Pitfall> = pitfalls.iter().filter(|f| f.ladder == pair.name).collect();
    for f in &own {
        out.push_str(&format!(
            "  {:<9} {}  (pitfall: {} done in the wrong order)\n",
            "",
            harness::workspace::relative(&f.program.dir),
            f.program.flavor_label()
        ));
    }
    if !pair.has_ladder() {
        out.push_str(&style.paint(
            YELLOW,
            &format!(
                "{} has no bridge steps: its ladder is its two ends.",
                pair.name
            ),
        ));
        out.push('\n');
    }
    let steps = rungs.len().saturating_sub(1);
    for (i, w) in rungs.windows(2).enumerate() {
        out.push('\n');
        let title = format!(
            "━━ step {} of {steps}: {} → {} ━━",
            i + 1,
            w[0].flavor_label(),
            w[1].flavor_label()
        );
        out.push_str(&style.paint(BOLD, &title));
        out.push('\n');
        let summary = match pairs::step_summary(w[1]) {
            Some(text) => text,
            None if w[1].flavor == Flavor::Modern => format!(
                "The modern program itself: its `# Migration` section says what changed from \
                 legacy ({}/src/main.rs).",
                harness::workspace::relative(&w[1].dir)
            ),
            None => String::new(),
        };
        for line in wrap(&summary, 88) {
            out.push_str(&style.paint(DIM, &format!("  {line}")));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&render_pair(
            catalogue,
            &Pair::between(&pair.name, w[0], w[1]),
            style,
            layout,
            context,
        )?);
    }
    for f in own {
        let Some(right) = &f.right else { continue };
        out.push('\n');
        let title = format!(
            "━━ pitfall {}: {} done in the wrong order ━━",
            f.program.name,
            f.program.flavor_label()
        );
        out.push_str(&style.paint(BOLD, &title));
        out.push('\n');
        let doc = fs_doc(&f.program);
        for line in wrap(&crate::doc::first_paragraph(&doc), 88) {
            out.push_str(&style.paint(DIM, &format!("  {line}")));
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&render_pair(
            catalogue,
            &Pair::between(&f.program.name, right, &f.program),
            style,
            layout,
            context,
        )?);
    }
    Ok(out)
}

/// The `//!` header of a program's `src/main.rs` (empty if it has none).
fn fs_doc(program: &harness::Program) -> String {
    std::fs::read_to_string(program.dir.join("src/main.rs"))
        .map(|src| crate::doc::inner_doc(&src))
        .unwrap_or_default()
}

/// `text` cut into lines of at most `width` characters, at blanks.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// The terminal's width in columns: `$COLUMNS`, else what the terminal on stdout says
/// (through `console`, the crate indicatif draws with).
fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()) {
        return Some(cols);
    }
    console::Term::stdout()
        .size_checked()
        .map(|(_rows, cols)| cols as usize)
}

/// ANSI colours, or none.
pub struct Style {
    pub on: bool,
}

impl Style {
    fn paint(&self, sgr: &str, text: &str) -> String {
        if self.on && !text.is_empty() && !sgr.is_empty() {
            format!("\x1b[{sgr}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

const RED: &str = "31";
const GREEN: &str = "32";
const CYAN: &str = "36";
const BOLD: &str = "1";
const DIM: &str = "2";
const YELLOW: &str = "33";

#[derive(Clone, Copy)]
pub enum Layout {
    Unified,
    SideBySide(usize),
}

/// One line of a hunk: which side it is on, its line numbers, and its text in
/// segments (`true` = the part of a changed line that changed).
#[derive(Debug, Clone)]
pub struct Row {
    pub tag: ChangeTag,
    pub old_no: Option<usize>,
    pub new_no: Option<usize>,
    pub segments: Vec<(bool, String)>,
}

impl Row {
    #[cfg(test)]
    pub fn text(&self) -> String {
        self.segments.iter().map(|(_, s)| s.as_str()).collect()
    }
}

/// A group of changes with its context.
#[derive(Debug, Clone)]
pub struct Hunk {
    /// `@@ -1,20 +1,40 @@`
    pub header: String,
    pub rows: Vec<Row>,
}

/// The hunks of a line diff of `old` → `new`, with `context` lines around changes.
pub fn hunks(old: &str, new: &str, context: usize) -> Vec<Hunk> {
    let diff = TextDiff::from_lines(old, new);
    diff.grouped_ops(context)
        .iter()
        .filter(|group| !group.is_empty())
        .map(|group| {
            let header = similar::udiff::UnifiedHunkHeader::new(group).to_string();
            let mut rows = Vec::new();
            for op in group {
                for change in diff.iter_inline_changes(op) {
                    let mut segments: Vec<(bool, String)> = change
                        .iter_strings_lossy()
                        .map(|(emph, s)| (emph, s.into_owned()))
                        .collect();
                    if let Some((_, last)) = segments.last_mut() {
                        while last.ends_with('\n') || last.ends_with('\r') {
                            last.pop();
                        }
                    }
                    rows.push(Row {
                        tag: change.tag(),
                        old_no: change.old_index().map(|i| i + 1),
                        new_no: change.new_index().map(|i| i + 1),
                        segments: merge_segments(segments),
                    });
                }
            }
            Hunk { header, rows }
        })
        .collect()
}

/// Joins runs of emphasised words: the blanks between two emphasised words are
/// emphasised too, and neighbours with the same emphasis become one segment, so that
/// a changed phrase reads as one mark rather than a row of separate ones.
fn merge_segments(mut segments: Vec<(bool, String)>) -> Vec<(bool, String)> {
    for i in 1..segments.len().saturating_sub(1) {
        if !segments[i].0
            && segments[i].1.trim().is_empty()
            && segments[i - 1].0
            && segments[i + 1].0
        {
            segments[i].0 = true;
        }
    }
    let mut out: Vec<(bool, String)> = Vec::new();
    for (emph, text) in segments {
        match out.last_mut() {
            Some((e, t)) if *e == emph => t.push_str(&text),
            _ if text.is_empty() => {}
            _ => out.push((emph, text)),
        }
    }
    out
}

/// A dependency of either side, for the dependency table.
#[derive(Debug, Clone)]
pub struct DepRow {
    pub name: String,
    pub legacy: Option<Dependency>,
    pub modern: Option<Dependency>,
}

impl DepRow {
    pub fn same(&self) -> bool {
        match (&self.legacy, &self.modern) {
            (Some(a), Some(b)) => a.req == b.req && a.resolved == b.resolved,
            _ => false,
        }
    }
}

/// Both sides' direct dependencies, by name (`shared` first, then alphabetical).
pub fn dependency_rows(catalogue: &Catalogue, pair: &Pair) -> Vec<DepRow> {
    let side = |f: Flavor| {
        pair.side(f)
            .map(|p| catalogue.dependencies(&p.package))
            .unwrap_or_default()
    };
    let (legacy, modern) = (side(Flavor::Legacy), side(Flavor::Modern));
    let mut names: Vec<&String> = legacy.iter().chain(&modern).map(|d| &d.name).collect();
    names.sort_by_key(|n| (n.as_str() != "shared", n.as_str()));
    names.dedup();
    names
        .into_iter()
        .map(|n| DepRow {
            name: n.clone(),
            legacy: legacy.iter().find(|d| &d.name == n).cloned(),
            modern: modern.iter().find(|d| &d.name == n).cloned(),
        })
        .collect()
}

/// `^0.1.31 → 0.1.31`, with the kind when it is not a normal dependency.
pub fn describe_dep(d: &Dependency) -> String {
    let mut s = match &d.resolved {
        Some(v) => format!("{} → {v}", d.req),
        None => d.req.clone(),
    };
    if d.kind != "normal" {
        s.push_str(&format!(" ({})", d.kind));
    }
    s
}

/// Why a side shows nothing.
pub fn missing_side_note(pair: &Pair) -> Option<String> {
    match (&pair.legacy, &pair.modern) {
        (Some(_), None) => Some(format!(
            "{} has no modern side yet: the diff is against nothing (every line shows as removed).",
            pair.name
        )),
        (None, Some(_)) => Some(format!(
            "{} has no legacy side yet: the diff is against nothing (every line shows as added).",
            pair.name
        )),
        _ => None,
    }
}

fn render_pair(
    catalogue: &Catalogue,
    pair: &Pair,
    style: &Style,
    layout: Layout,
    context: usize,
) -> Result<String> {
    let mut out = String::new();
    let (l, m) = (
        pair.display_dir(Flavor::Legacy),
        pair.display_dir(Flavor::Modern),
    );
    out.push_str(&style.paint(BOLD, &format!("{}: {l} → {m}", pair.name)));
    out.push('\n');
    if let Some(note) = missing_side_note(pair) {
        out.push_str(&style.paint(YELLOW, &note));
        out.push('\n');
    }

    // The dependency change.
    out.push('\n');
    out.push_str(&style.paint(
        BOLD,
        "Dependencies (direct; requirement → version in Cargo.lock)",
    ));
    out.push('\n');
    let rows = dependency_rows(catalogue, pair);
    let w = rows
        .iter()
        .map(|r| r.name.len())
        .max()
        .unwrap_or(10)
        .max(10);
    let cell = |d: &Option<Dependency>| d.as_ref().map(describe_dep).unwrap_or("—".into());
    let lw = rows
        .iter()
        .map(|r| cell(&r.legacy).chars().count())
        .max()
        .unwrap_or(6)
        .max(6);
    let (left, right) = rung_labels(pair);
    out.push_str(&style.paint(DIM, &format!("  {:<w$}  {:<lw$}  {right}", "", left)));
    out.push('\n');
    for r in &rows {
        let (mark, sgr) = match (&r.legacy, &r.modern) {
            (Some(_), None) => ('-', RED),
            (None, Some(_)) => ('+', GREEN),
            _ if r.same() => (' ', ""),
            _ => ('~', YELLOW),
        };
        let lcell = cell(&r.legacy);
        let pad = lw - lcell.chars().count();
        let line = format!(
            "{mark} {:<w$}  {lcell}{}  {}",
            r.name,
            " ".repeat(pad),
            cell(&r.modern)
        );
        out.push_str(&if sgr.is_empty() {
            line
        } else {
            style.paint(sgr, &line)
        });
        out.push('\n');
    }

    // The sources.
    for file in pair.paired_sources()? {
        let old = file.legacy.as_deref().unwrap_or("");
        let new = file.modern.as_deref().unwrap_or("");
        let name = |flavor: Flavor, present: bool| {
            if present {
                format!("{}/src/{}", pair.display_dir(flavor), file.path)
            } else {
                "/dev/null".to_string()
            }
        };
        out.push('\n');
        out.push_str(&style.paint(
            BOLD,
            &format!("--- {}", name(Flavor::Legacy, file.legacy.is_some())),
        ));
        out.push('\n');
        out.push_str(&style.paint(
            BOLD,
            &format!("+++ {}", name(Flavor::Modern, file.modern.is_some())),
        ));
        out.push('\n');
        let hunks = hunks(old, new, context);
        if hunks.is_empty() {
            out.push_str("(identical)\n");
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

fn segments_painted(row: &Row, style: &Style, base: &str) -> String {
    row.segments
        .iter()
        .map(|(emph, s)| {
            let s = expand_tabs(s);
            match (base.is_empty(), emph) {
                (true, _) => s,
                (false, true) => style.paint(&format!("{base};7"), &s),
                (false, false) => style.paint(base, &s),
            }
        })
        .collect()
}

fn unified(out: &mut String, hunk: &Hunk, style: &Style) {
    out.push_str(&style.paint(CYAN, &hunk.header));
    out.push('\n');
    for row in &hunk.rows {
        let (sign, sgr) = match row.tag {
            ChangeTag::Delete => ("-", RED),
            ChangeTag::Insert => ("+", GREEN),
            ChangeTag::Equal => (" ", ""),
        };
        out.push_str(&style.paint(sgr, sign));
        out.push_str(&segments_painted(row, style, sgr));
        out.push('\n');
    }
}

fn expand_tabs(s: &str) -> String {
    s.replace('\t', "    ")
}

/// One side of a side-by-side line: cut to `width` characters (`…` marks a cut) and
/// padded to it.
fn column(row: Option<&Row>, width: usize, style: &Style, sgr: &str) -> String {
    let Some(row) = row else {
        return " ".repeat(width);
    };
    let mut left = width;
    let mut out = String::new();
    let total: usize = row
        .segments
        .iter()
        .map(|(_, s)| expand_tabs(s).chars().count())
        .sum();
    let cut = total > width;
    if cut {
        left = width.saturating_sub(1);
    }
    for (emph, s) in &row.segments {
        if left == 0 {
            break;
        }
        let s: String = expand_tabs(s).chars().take(left).collect();
        left -= s.chars().count();
        out.push_str(&match (sgr.is_empty(), emph) {
            (true, _) => s,
            (false, true) => style.paint(&format!("{sgr};7"), &s),
            (false, false) => style.paint(sgr, &s),
        });
    }
    if cut {
        out.push_str(&style.paint(DIM, "…"));
    }
    out.push_str(&" ".repeat(left));
    out
}

fn side_by_side(out: &mut String, hunk: &Hunk, style: &Style, width: usize) {
    // number (4) + space + mark + text, twice, and " │ " between.
    let text_w = (width.saturating_sub(15) / 2).max(20);
    out.push_str(&style.paint(CYAN, &hunk.header));
    out.push('\n');
    let mut i = 0;
    let rows = &hunk.rows;
    while i < rows.len() {
        // Deleted lines followed by inserted lines are shown against each other.
        let dels: Vec<&Row> = rows[i..]
            .iter()
            .take_while(|r| r.tag == ChangeTag::Delete)
            .collect();
        let ins: Vec<&Row> = rows[i + dels.len()..]
            .iter()
            .take_while(|r| r.tag == ChangeTag::Insert)
            .collect();
        let pairs: Vec<(Option<&Row>, Option<&Row>)> = if dels.is_empty() && ins.is_empty() {
            vec![(Some(&rows[i]), Some(&rows[i]))]
        } else {
            (0..dels.len().max(ins.len()))
                .map(|k| (dels.get(k).copied(), ins.get(k).copied()))
                .collect()
        };
        i += if dels.is_empty() && ins.is_empty() {
            1
        } else {
            dels.len() + ins.len()
        };
        for (l, r) in pairs {
            let num = |n: Option<usize>| n.map(|n| format!("{n:>4}")).unwrap_or("    ".into());
            let (lmark, lsgr) = match l.map(|r| r.tag) {
                Some(ChangeTag::Delete) => ("-", RED),
                _ => (" ", ""),
            };
            let (rmark, rsgr) = match r.map(|r| r.tag) {
                Some(ChangeTag::Insert) => ("+", GREEN),
                _ => (" ", ""),
            };
            out.push_str(&style.paint(DIM, &num(l.and_then(|r| r.old_no))));
            out.push(' ');
            out.push_str(&style.paint(lsgr, lmark));
            out.push_str(&column(l, text_w, style, lsgr));
            out.push_str(&style.paint(DIM, " │ "));
            out.push_str(&style.paint(DIM, &num(r.and_then(|r| r.new_no))));
            out.push(' ');
            out.push_str(&style.paint(rsgr, rmark));
            out.push_str(&column(r, text_w, style, rsgr));
            // No trailing blanks when the right side is short or empty.
            let trimmed = out.trim_end_matches(' ').len();
            out.truncate(trimmed);
            out.push('\n');
        }
    }
}

/// The `diff --stat` table of the next programs: each beside the readiness program
/// it is diffed against (`against`, e.g. `modern echo-epoll-edge`).
pub fn next_stat_table(rows: &[(PairStat, String)]) -> String {
    let w = rows
        .iter()
        .map(|(s, _)| s.name.len())
        .max()
        .unwrap_or(7)
        .max(7);
    let aw = rows
        .iter()
        .map(|(_, a)| a.chars().count())
        .max()
        .unwrap_or(7)
        .max(7);
    let mut out = format!(
        "{:<w$}  {:<aw$}  {:>7}  {:>6}  {:>7}  {:>13}  {:>6}  {:>12}\n",
        "next", "against", "against", "next", "changed", "Future/Stream", "unsafe", "dependencies"
    );
    out.push_str(&format!(
        "{:<w$}  {:<aw$}  {:>7}  {:>6}  {:>7}  {:>13}  {:>6}  {:>12}\n",
        "program", "", "lines", "lines", "lines", "impls A/N", "A/N", "A/N"
    ));
    let pair = |a: String, b: String| format!("{a}/{b}");
    for (s, against) in rows {
        out.push_str(&format!(
            "{:<w$}  {:<aw$}  {:>7}  {:>6}  {:>7}  {:>13}  {:>6}  {:>12}\n",
            s.name,
            against,
            cell(s.legacy, |x| x.code_lines),
            cell(s.modern, |x| x.code_lines),
            s.changed,
            pair(
                cell(s.legacy, |x| x.future_impls),
                cell(s.modern, |x| x.future_impls)
            ),
            pair(
                cell(s.legacy, |x| x.unsafe_blocks),
                cell(s.modern, |x| x.unsafe_blocks)
            ),
            pair(
                cell(s.legacy, |x| x.dependencies),
                cell(s.modern, |x| x.dependencies)
            ),
        ));
    }
    out.push_str(
        "\nnext programs (completion-based and batched I/O) have no legacy side: each is \
         counted against the\nreadiness program it is diffed against (its declared sibling; \
         `cargo xtask diff PROGRAM`\nshows that diff). A/N = against/next; — = no sibling \
         declared.\n",
    );
    out
}

/// One rung of a ladder in `diff --stat`: a step, an end, or a pitfall.
#[derive(Debug, Clone)]
pub struct RungStat {
    /// The ladder (program) it belongs to.
    pub ladder: String,
    /// `legacy`, `bridge-1`, …, `modern`.
    pub label: String,
    /// A pitfall's own program name (`None` for the rungs of the ladder itself).
    pub pitfall: Option<String>,
    pub side: SideStat,
    /// Lines inserted plus deleted from the rung before (for a pitfall: from the step
    /// it gets wrong); `None` for the first rung.
    pub changed: Option<usize>,
    /// Uses of the compat layer in the code: `.compat()`, `.sink_compat()` and
    /// `Compat01As03::new(…)`.
    pub compat: usize,
    /// Direct dependencies of the old stack and of the new one.
    pub old_deps: usize,
    pub new_deps: usize,
}

/// The rungs of one program's ladder, then its pitfalls.
pub fn ladder_stat(
    catalogue: &Catalogue,
    pair: &Pair,
    pitfalls: &[Pitfall],
) -> Result<Vec<RungStat>> {
    let rungs = pair.ladder();
    let mut out = Vec::new();
    let rung = |program: &harness::Program,
                side: Option<SideStat>,
                changed: Option<usize>,
                pitfall: Option<String>|
     -> Result<RungStat> {
        let sources = pairs::program_sources(program)?;
        let deps = catalogue.dependencies(&program.package);
        let normal = || deps.iter().filter(|d| d.kind == "normal");
        Ok(RungStat {
            ladder: pair.name.clone(),
            label: program.flavor_label(),
            pitfall,
            side: side.unwrap_or_default(),
            changed,
            compat: sources
                .iter()
                .filter(|(p, _)| p.ends_with(".rs"))
                .map(|(_, src)| compat_uses(src))
                .sum(),
            old_deps: normal().filter(|d| era_of(d) == Some(Era::Old)).count(),
            new_deps: normal().filter(|d| era_of(d) == Some(Era::New)).count(),
        })
    };
    for (i, program) in rungs.iter().enumerate() {
        let (side, changed) = match i {
            0 => {
                let next = rungs.get(1).copied().unwrap_or(program);
                let s = stat::pair_stat(catalogue, &Pair::between(&pair.name, program, next))?;
                (s.legacy, None)
            }
            _ => {
                let s =
                    stat::pair_stat(catalogue, &Pair::between(&pair.name, rungs[i - 1], program))?;
                (s.modern, Some(s.changed))
            }
        };
        out.push(rung(program, side, changed, None)?);
    }
    for f in pitfalls.iter().filter(|f| f.ladder == pair.name) {
        let Some(right) = &f.right else { continue };
        let s = stat::pair_stat(
            catalogue,
            &Pair::between(&f.program.name, right, &f.program),
        )?;
        out.push(rung(
            &f.program,
            s.modern,
            Some(s.changed),
            Some(f.program.name.clone()),
        )?);
    }
    Ok(out)
}

/// Which stack a direct dependency belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2016–2018: futures 0.1, tokio-core and its companions, mio 0.6, …
    Old,
    /// Today's: futures 0.3, tokio 1, tokio-util, tower-service, mio ≥ 0.7, …
    New,
}

/// The era of a dependency, by crate and resolved version; `None` for crates of
/// neither (`shared`, `slab`, …). A renamed dependency (`futures01`,
/// `futures-compat`) is known by its version.
pub fn era_of(d: &Dependency) -> Option<Era> {
    let version = d.resolved.as_deref().unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let before = |m: u64, n: u64| (major, minor) < (m, n);
    let era = |old: bool| Some(if old { Era::Old } else { Era::New });
    match d.name.as_str() {
        "tokio-core" | "tokio-io" | "tokio-signal" | "tokio-proto" | "tokio-service"
        | "futures-cpupool" => Some(Era::Old),
        "tokio-util" | "tower-service" => Some(Era::New),
        "tokio" => era(major == 0),
        "futures" | "futures01" | "futures-compat" => era(before(0, 2)),
        "mio" => era(before(0, 7)),
        "bytes" => era(before(0, 5)),
        "nix" => era(before(0, 10)),
        _ => None,
    }
}

/// Uses of the compat layer in `src`: method calls `.compat()` and `.sink_compat()`,
/// and calls of `Compat01As03::new`. A source that does not parse counts none.
pub fn compat_uses(src: &str) -> usize {
    use syn::visit::{self, Visit};
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

/// The `diff --stat` table of the migration ladders: a row per rung, then a row per
/// pitfall, named by its own program.
pub fn ladder_stat_table(rows: &[RungStat]) -> String {
    let name_of = |r: &RungStat| r.pitfall.clone().unwrap_or_else(|| r.ladder.clone());
    let w = rows
        .iter()
        .map(|r| name_of(r).len())
        .max()
        .unwrap_or(6)
        .max(6);
    let rung = |r: &RungStat| match &r.pitfall {
        Some(_) => format!("{} ✗", r.label),
        None => r.label.clone(),
    };
    let rw = rows
        .iter()
        .map(|r| rung(r).chars().count())
        .max()
        .unwrap_or(4)
        .max(4);
    let row = |a: &str, b: &str, c: &str, d: &str, e: &str, f: &str, g: &str| {
        // `{:<rw$}` counts chars, so `✗` pads as one column.
        format!("{a:<w$}  {b:<rw$}  {c:>5}  {d:>7}  {e:>13}  {f:>6}  {g:>8}\n")
    };
    let mut out = row(
        "ladder",
        "rung",
        "lines",
        "changed",
        "Future/Stream",
        "compat",
        "deps old",
    );
    out.push_str(&row("", "", "", "", "impls", "uses", "/new"));
    let mut last = String::new();
    for r in rows {
        let name = name_of(r);
        let shown = if name == last { "" } else { name.as_str() };
        out.push_str(&row(
            shown,
            &rung(r),
            &r.side.code_lines.to_string(),
            &r.changed.map_or("—".to_string(), |c| c.to_string()),
            &r.side.future_impls.to_string(),
            &r.compat.to_string(),
            &format!("{}/{}", r.old_deps, r.new_deps),
        ));
        last = name;
    }
    out.push_str(
        "\nrungs: legacy, the bridge steps (bridge/, on the futures 0.3 compat layer), modern; \
         ✗: a pitfall, the\nladder's step of that number done in the wrong order (its \
         conformance rows are documented\nfailures). changed: lines inserted + deleted from \
         the rung above (a pitfall: from the step it\ngets wrong); compat: `.compat()`, \
         `.sink_compat()` and `Compat01As03::new` in the code; deps:\ndirect dependencies \
         of the 2016–2018 stack and of today's (`cargo xtask diff PROGRAM --ladder`).\n",
    );
    out
}

fn cell(side: Option<SideStat>, f: impl Fn(SideStat) -> usize) -> String {
    side.map(|s| f(s).to_string()).unwrap_or("—".into())
}

/// The `diff --stat` table.
pub fn stat_table(stats: &[PairStat]) -> String {
    let w = stats.iter().map(|s| s.name.len()).max().unwrap_or(7).max(7);
    let mut out = format!(
        "{:<w$}  {:>6}  {:>6}  {:>7}  {:>13}  {:>6}  {:>12}\n",
        "program", "legacy", "modern", "changed", "Future/Stream", "unsafe", "dependencies"
    );
    out.push_str(&format!(
        "{:<w$}  {:>6}  {:>6}  {:>7}  {:>13}  {:>6}  {:>12}\n",
        "", "lines", "lines", "lines", "impls L/M", "L/M", "L/M"
    ));
    let pair = |a: String, b: String| format!("{a}/{b}");
    for s in stats {
        out.push_str(&format!(
            "{:<w$}  {:>6}  {:>6}  {:>7}  {:>13}  {:>6}  {:>12}\n",
            s.name,
            cell(s.legacy, |x| x.code_lines),
            cell(s.modern, |x| x.code_lines),
            s.changed,
            pair(
                cell(s.legacy, |x| x.future_impls),
                cell(s.modern, |x| x.future_impls)
            ),
            pair(
                cell(s.legacy, |x| x.unsafe_blocks),
                cell(s.modern, |x| x.unsafe_blocks)
            ),
            pair(
                cell(s.legacy, |x| x.dependencies),
                cell(s.modern, |x| x.dependencies)
            ),
        ));
    }
    out.push_str(
        "\nlines: lines of Rust code in src/ (not blank, not only a comment); changed: lines \
         inserted + deleted\nfrom legacy to modern, comments included; Future/Stream impls: \
         hand-written `impl … Future for`\nand `impl … Stream for` blocks; unsafe: `unsafe { … }` \
         blocks; dependencies: direct normal\ndependencies in Cargo.toml. L/M = legacy/modern; \
         — = that side does not exist yet.\n",
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stat::changed_lines;

    #[test]
    fn changed_lines_count_insertions_and_deletions() {
        assert_eq!(changed_lines("a\nb\nc\n", "a\nb\nc\n"), 0);
        assert_eq!(changed_lines("a\nb\nc\n", "a\nB\nc\nd\n"), 3);
        assert_eq!(changed_lines("", "x\ny\n"), 2);
        assert_eq!(changed_lines("x\ny\n", ""), 2);
    }

    #[test]
    fn hunks_carry_numbers_and_emphasis() {
        let old = "fn main() {\n    let core = Core::new()?;\n}\n";
        let new = "fn main() {\n    let runtime = Builder::new_current_thread()?;\n}\n";
        let h = hunks(old, new, 3);
        assert_eq!(h.len(), 1);
        assert_eq!(h[0].header, "@@ -1,3 +1,3 @@");
        let tags: Vec<ChangeTag> = h[0].rows.iter().map(|r| r.tag).collect();
        use ChangeTag::*;
        assert_eq!(tags, [Equal, Delete, Insert, Equal]);
        assert_eq!(h[0].rows[1].old_no, Some(2));
        assert_eq!(h[0].rows[2].new_no, Some(2));
        let row = &h[0].rows[2];
        assert_eq!(
            row.text(),
            "    let runtime = Builder::new_current_thread()?;"
        );
        let emphasised: Vec<&str> = row
            .segments
            .iter()
            .filter(|(e, _)| *e)
            .map(|(_, s)| s.as_str())
            .collect();
        let plain: String = row
            .segments
            .iter()
            .filter(|(e, _)| !*e)
            .map(|(_, s)| s.as_str())
            .collect();
        assert!(emphasised.contains(&"runtime"), "{:?}", row.segments);
        assert!(
            plain.contains("let") && plain.contains('='),
            "{:?}",
            row.segments
        );
    }

    #[test]
    fn emphasised_words_merge_across_blanks() {
        let seg = |v: &[(bool, &str)]| {
            v.iter()
                .map(|(e, s)| (*e, s.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            merge_segments(seg(&[
                (false, "let "),
                (true, "a"),
                (false, " "),
                (true, "b"),
                (false, " = 1;"),
                (false, "")
            ])),
            seg(&[(false, "let "), (true, "a b"), (false, " = 1;")])
        );
        assert_eq!(
            merge_segments(seg(&[(false, " "), (true, "x")])),
            seg(&[(false, " "), (true, "x")])
        );
    }

    #[test]
    fn plain_output_has_no_escapes_and_side_by_side_fits() {
        let h = hunks(
            "a\nold line\nz\n",
            "a\nnew line that is much longer than the column is wide\nz\n",
            1,
        );
        let plain = Style { on: false };
        let mut out = String::new();
        unified(&mut out, &h[0], &plain);
        assert_eq!(
            out,
            "@@ -1,3 +1,3 @@\n a\n-old line\n+new line that is much longer than the column is wide\n z\n"
        );
        let mut out = String::new();
        side_by_side(&mut out, &h[0], &plain, 60);
        for line in out.lines() {
            assert!(line.chars().count() <= 60, "{line:?} is wider than 60");
        }
        assert!(out.contains("   2 -old line"));
        assert!(out.contains("│    2 +new line that"));
        assert!(out.contains('…'), "the long line is cut visibly");
        let coloured = Style { on: true };
        let mut out = String::new();
        unified(&mut out, &h[0], &coloured);
        assert!(out.contains("\x1b[31m-\x1b[0m"));
    }

    fn program(name: &str, flavor: Flavor, sibling: Option<&str>) -> harness::Program {
        harness::Program {
            name: name.into(),
            flavor,
            step: None,
            package: format!("{flavor}-{name}"),
            dir: std::path::PathBuf::from(format!("/w/{flavor}/{name}")),
            family: Ok(harness::Family::UdpEcho),
            declared: harness::Declared {
                sibling: sibling.map(String::from),
                ..Default::default()
            },
        }
    }

    fn pair(name: &str, legacy: bool, modern: bool, next: Option<Option<&str>>) -> Pair {
        Pair {
            name: name.into(),
            legacy: legacy.then(|| program(name, Flavor::Legacy, None)),
            modern: modern.then(|| program(name, Flavor::Modern, None)),
            others: next
                .map(|sibling| program(name, Flavor::Next, sibling))
                .into_iter()
                .collect(),
        }
    }

    #[test]
    fn a_next_program_is_set_against_its_sibling_or_the_one_named() {
        let all = vec![
            pair("echo-edge", true, true, None),
            pair("echo-ready", true, true, None),
            pair("echo-ring", false, false, Some(Some("echo-edge"))),
            pair("echo-lone", false, false, Some(None)),
        ];
        let ring = &all[2];
        let c = against(&all, ring, None, None).unwrap().unwrap();
        let (l, r) = (c.legacy.as_ref().unwrap(), c.modern.as_ref().unwrap());
        assert_eq!((l.name.as_str(), l.flavor), ("echo-edge", Flavor::Modern));
        assert_eq!((r.name.as_str(), r.flavor), ("echo-ring", Flavor::Next));
        assert_eq!(side_labels(&c), ("modern", "next"));
        assert_eq!(c.name, "echo-ring", "still the next program's name");

        let c = against(&all, ring, Some("echo-ready"), Some(FlavorArg::Legacy))
            .unwrap()
            .unwrap();
        let l = c.legacy.as_ref().unwrap();
        assert_eq!((l.name.as_str(), l.flavor), ("echo-ready", Flavor::Legacy));

        // A pair of the two eras shows its own diff unless asked otherwise.
        assert!(against(&all, &all[0], None, None).unwrap().is_none());
        assert_eq!(side_labels(&all[0]), ("legacy", "modern"));
        let e = against(&all, &all[0], Some("echo-ready"), None).unwrap_err();
        assert!(e.to_string().contains("has no next side"), "{e}");
        let e = against(&all, &all[3], None, None).unwrap_err();
        assert!(e.to_string().contains("--against"), "{e}");
        let e = against(&all, ring, Some("nope"), None).unwrap_err();
        assert!(e.to_string().contains("unknown program 'nope'"), "{e}");
    }

    #[test]
    fn next_stat_table_says_against_what() {
        let side = SideStat {
            code_lines: 150,
            future_impls: 0,
            unsafe_blocks: 0,
            dependencies: 2,
        };
        let t = next_stat_table(&[
            (
                PairStat {
                    name: "echo-uring".into(),
                    legacy: Some(side),
                    modern: Some(SideStat {
                        unsafe_blocks: 9,
                        dependencies: 4,
                        ..side
                    }),
                    changed: 300,
                },
                "modern echo-epoll-edge".into(),
            ),
            (
                PairStat {
                    name: "echo-lone".into(),
                    legacy: None,
                    modern: Some(side),
                    changed: 150,
                },
                "—".into(),
            ),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(
            lines[2].starts_with("echo-uring  modern echo-epoll-edge"),
            "{t}"
        );
        assert!(lines[2].contains("0/9") && lines[2].contains("2/4"), "{t}");
        assert!(lines[3].contains("—/0"), "{t}");
    }

    #[test]
    fn compat_uses_are_calls_not_names() {
        let src = r#"
            //! `.compat()` in a comment is no use.
            use futures::compat::{Compat01As03, Future01CompatExt};
            fn f(s: TcpStream) {
                let a = Compat01As03::new(s);
                let b = rx.compat();
                let c = framed.sink_compat();
                core.run(Box::pin(serve()).compat());
                let d = "x.compat()";
            }
        "#;
        assert_eq!(compat_uses(src), 4);
    }

    #[test]
    fn dependencies_fall_in_their_era() {
        let dep = |name: &str, version: &str| Dependency {
            name: name.into(),
            req: format!("^{version}"),
            resolved: Some(version.into()),
            kind: "normal".into(),
            package: name.into(),
            features: Vec::new(),
        };
        assert_eq!(era_of(&dep("futures01", "0.1.31")), Some(Era::Old));
        assert_eq!(era_of(&dep("futures-compat", "0.3.34")), Some(Era::New));
        assert_eq!(era_of(&dep("futures", "0.1.31")), Some(Era::Old));
        assert_eq!(era_of(&dep("tokio", "0.1.22")), Some(Era::Old));
        assert_eq!(era_of(&dep("tokio", "1.54.1")), Some(Era::New));
        assert_eq!(era_of(&dep("tokio-service", "0.1.0")), Some(Era::Old));
        assert_eq!(era_of(&dep("tower-service", "0.3.3")), Some(Era::New));
        assert_eq!(era_of(&dep("bytes", "0.4.12")), Some(Era::Old));
        assert_eq!(era_of(&dep("shared", "0.1.0")), None);
    }

    #[test]
    fn ladder_table_groups_rungs_and_marks_pitfalls() {
        let side = SideStat {
            code_lines: 150,
            future_impls: 0,
            unsafe_blocks: 0,
            dependencies: 4,
        };
        let rung = |label: &str, pitfall: Option<&str>, changed: Option<usize>| RungStat {
            ladder: "echo-mpsc".into(),
            label: label.into(),
            pitfall: pitfall.map(String::from),
            side,
            changed,
            compat: 3,
            old_deps: 2,
            new_deps: 1,
        };
        let t = ladder_stat_table(&[
            rung("legacy", None, None),
            rung("bridge-1", None, Some(200)),
            rung("bridge-1", Some("echo-mpsc-wrong"), Some(40)),
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[2].starts_with("echo-mpsc        legacy"), "{t}");
        assert!(
            lines[2].contains(" — "),
            "no change above the first rung: {t}"
        );
        assert!(
            lines[3].starts_with("                 bridge-1"),
            "the ladder named once: {t}"
        );
        assert!(
            lines[3].contains(" 200 ") && lines[3].contains("2/1"),
            "{t}"
        );
        assert!(lines[4].starts_with("echo-mpsc-wrong  bridge-1 ✗"), "{t}");
    }

    #[test]
    fn summaries_wrap_at_blanks() {
        let lines = wrap("one two three four five six", 9);
        assert_eq!(lines, ["one two", "three", "four five", "six"]);
        assert!(wrap("", 10).is_empty());
    }

    #[test]
    fn stat_table_marks_missing_sides() {
        let side = SideStat {
            code_lines: 120,
            future_impls: 2,
            unsafe_blocks: 0,
            dependencies: 4,
        };
        let t = stat_table(&[
            PairStat {
                name: "echo-mpsc".into(),
                legacy: Some(side),
                modern: Some(SideStat {
                    future_impls: 0,
                    ..side
                }),
                changed: 90,
            },
            PairStat {
                name: "mio-empty".into(),
                legacy: Some(side),
                modern: None,
                changed: 120,
            },
        ]);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[2].starts_with("echo-mpsc"));
        assert!(lines[2].contains(" 90 ") && lines[2].contains("2/0") && lines[2].contains("4/4"));
        assert!(lines[3].contains('—') && lines[3].contains("2/—"));
    }
}
