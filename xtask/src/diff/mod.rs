//! `cargo xtask diff PROGRAM` — the migration diff of one pair: the dependency change
//! (direct dependencies of both `Cargo.toml`s, with the versions `Cargo.lock`
//! resolved) and the diff of every source file, paired by path ([`harness::diff`]: the same
//! hunks the book shows). Coloured on a terminal, plain when piped; `--side-by-side`
//! for wide terminals.
//!
//! `cargo xtask diff --stat` — one table of all pairs (lines, lines changed, the share
//! of the legacy file kept, hand-written `Future`/`Stream` impls, `unsafe` blocks,
//! direct dependencies), one of the `next` programs, each against its readiness
//! sibling, and one of the ladders, a row per rung.
//!
//! `cargo xtask diff echo-uring [--against echo-epoll-edge] [--against-flavor modern]`
//! — a `next` program has no legacy side: it is diffed against a readiness program,
//! by default the `sibling` its `Cargo.toml` declares, in that program's modern flavor.
//!
//! `cargo xtask diff echo-mpsc --ladder` — each step's diff from the one before
//! (legacy → step 1 → … → modern), each headed by what the step does, then each
//! pitfall (a step done in the wrong order) against the step it gets wrong. A pitfall
//! named alone (`diff tcp-echo-early-timer`) is diffed against the step it gets wrong.

#[cfg(test)]
mod floors;
pub mod render;
pub mod stat;

use std::io::{IsTerminal, Write};

use anyhow::{bail, Result};
use clap::ValueEnum;
use harness::diff::count;
use harness::{Catalogue, Flavor, UsageError};

use crate::args::FlavorArg;
use harness::pairs::{self, Pair, Pitfall};
use render::{Layout, Style, BOLD, DIM, YELLOW};

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
    #[arg(long, value_parser = clap::value_parser!(u16).range(60..))]
    width: Option<u16>,
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
    let on = match args.color {
        Color::Auto => tty,
        Color::Always => true,
        Color::Never => false,
    };
    let out = match (args.stat, &args.program) {
        (true, name) => stat(&catalogue, &all, name.as_deref(), args.against_flavor)?,
        (false, None) => {
            let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
            return Err(UsageError(format!(
                "name a program, or use --stat for all; the programs are: {}",
                names.join(", ")
            ))
            .into());
        }
        (false, Some(name)) => {
            let found = pairs::find(&all, name)?;
            let width = args.width.map(usize::from);
            let width = (width.or_else(|| tty.then(terminal_width).flatten())).unwrap_or(160);
            let layout = match args.side_by_side {
                true => Layout::SideBySide(width),
                false => Layout::Unified,
            };
            let view = View {
                catalogue: &catalogue,
                style: Style { on },
                layout,
                context: args.context,
            };
            match args.ladder {
                true => view.ladder(&all, found)?,
                false => {
                    let shown = match pitfall_pair(&pairs::pitfalls(&all), found) {
                        Some(p) => Some(p),
                        None => against(&all, found, args.against.as_deref(), args.against_flavor)?,
                    };
                    render::pair(
                        &catalogue,
                        shown.as_ref().unwrap_or(found),
                        &view.style,
                        layout,
                        args.context,
                    )?
                }
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    // A closed pipe (`| head`) is not an error worth reporting.
    let _ = stdout.write_all(out.as_bytes());
    let _ = stdout.flush();
    Ok(0)
}

/// `--stat`: the pairs, the next programs, the ladders.
fn stat(
    catalogue: &Catalogue,
    all: &[Pair],
    name: Option<&str>,
    flavor: Option<FlavorArg>,
) -> Result<String> {
    let chosen: Vec<&Pair> = match name {
        Some(name) => vec![pairs::find(all, name)?],
        None => all.iter().collect(),
    };
    let mut parts = Vec::new();
    let stats = stat::pair_stats(catalogue, &chosen)?;
    if !stats.is_empty() {
        parts.push(stat::pairs_table(&stats));
    }
    let mut next = Vec::new();
    for pair in chosen.iter().filter(|p| p.side(Flavor::Next).is_some()) {
        let sibling = pair
            .side(Flavor::Next)
            .and_then(|p| p.declared.sibling.as_deref());
        let shown = match sibling {
            Some(name) => against(all, pair, Some(name), flavor)?,
            None => None,
        };
        let label = (shown.as_ref().and_then(|c| c.legacy.as_ref()))
            .map_or("—".to_string(), |p| format!("{} {}", p.flavor, p.name));
        let shown = shown.unwrap_or_else(|| next_only(pair));
        next.push((count::pair_stat(catalogue, &shown)?, label));
    }
    if !next.is_empty() {
        parts.push(stat::next_table(&next));
    }
    let pitfalls = pairs::pitfalls(all);
    let mut rungs = Vec::new();
    for ladder in ladders_of(all, &chosen, &pitfalls)? {
        rungs.extend(stat::ladder(catalogue, ladder, &pitfalls)?);
    }
    if !rungs.is_empty() {
        parts.push(stat::ladders_table(&rungs));
    }
    let chosen_names: Vec<&str> = chosen.iter().map(|p| p.name.as_str()).collect();
    let variations = stat::variations(catalogue, all)?;
    let variations: Vec<_> = variations
        .into_iter()
        .filter(|v| chosen_names.contains(&v.program.as_str()))
        .collect();
    if !variations.is_empty() {
        parts.push(stat::variations_table(&variations));
    }
    Ok(parts.join("\n"))
}

/// The ladders of the programs chosen (a pitfall's is the one it belongs to).
fn ladders_of<'a>(
    all: &'a [Pair],
    chosen: &[&'a Pair],
    pitfalls: &[Pitfall],
) -> Result<Vec<&'a Pair>> {
    let mut ladders: Vec<&Pair> = Vec::new();
    for pair in chosen {
        let ladder = match pitfalls.iter().find(|f| f.program.name == pair.name) {
            Some(f) => pairs::find(all, &f.ladder)?,
            None => pair,
        };
        let ends = ladder.legacy.is_some() || ladder.modern.is_some();
        if ladder.has_ladder() && ends && !ladders.iter().any(|l| l.name == ladder.name) {
            ladders.push(ladder);
        }
    }
    Ok(ladders)
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
        let why = format!(
            "--against sets a next program beside a readiness one; {} has no next side",
            pair.name
        );
        return Err(UsageError(why).into());
    };
    let Some(sibling) = against.or(next.declared.sibling.as_deref()) else {
        if eras {
            return Ok(None);
        }
        bail!(
            "{} declares no `sibling` in [package.metadata.study]; name the program to diff it \
             against with --against",
            next.package
        );
    };
    let flavor: Flavor = flavor.map(Into::into).unwrap_or(Flavor::Modern);
    let other = pairs::find(all, sibling)?;
    let Some(left) = other.side(flavor) else {
        return Err(UsageError(format!(
            "{sibling} has no {flavor} side to diff {} against",
            pair.name
        ))
        .into());
    };
    Ok(Some(Pair::between(&pair.name, left, next)))
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

/// A pitfall named on its own is shown beside the step it gets wrong.
pub fn pitfall_pair(pitfalls: &[Pitfall], pair: &Pair) -> Option<Pair> {
    let f = pitfalls.iter().find(|f| f.program.name == pair.name)?;
    Some(Pair::between(&pair.name, f.right.as_ref()?, &f.program))
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

/// How a diff is printed.
struct View<'a> {
    catalogue: &'a Catalogue,
    style: Style,
    layout: Layout,
    context: usize,
}

impl View<'_> {
    /// The ladder of `pair` (or of the ladder a pitfall belongs to): an overview, each
    /// step's diff from the one before, then the ladder's pitfalls.
    fn ladder(&self, all: &[Pair], pair: &Pair) -> Result<String> {
        let pitfalls = pairs::pitfalls(all);
        let pair = match pitfalls.iter().find(|f| f.program.name == pair.name) {
            Some(f) => pairs::find(all, &f.ladder)?,
            None => pair,
        };
        let rungs = pair.ladder();
        let labels: Vec<String> = rungs.iter().map(|p| p.flavor_label()).collect();
        let title = format!(
            "{}: the migration ladder, {}",
            pair.name,
            labels.join(" → ")
        );
        let mut out = self.style.paint(BOLD, &title) + "\n";
        for p in &rungs {
            out += &format!(
                "  {:<9} {}\n",
                p.flavor_label(),
                harness::workspace::relative(&p.dir)
            );
        }
        let own: Vec<&Pitfall> = pitfalls.iter().filter(|f| f.ladder == pair.name).collect();
        for f in &own {
            let dir = harness::workspace::relative(&f.program.dir);
            let step = f.program.flavor_label();
            out += &format!(
                "  {:<9} {dir}  (pitfall: {step} done in the wrong order)\n",
                ""
            );
        }
        if !pair.has_ladder() {
            let note = format!(
                "{} has no bridge steps: its ladder is its two ends.",
                pair.name
            );
            out += &(self.style.paint(YELLOW, &note) + "\n");
        }
        let steps = rungs.len().saturating_sub(1);
        for (i, w) in rungs.windows(2).enumerate() {
            let (from, to) = (w[0].flavor_label(), w[1].flavor_label());
            let title = format!("━━ step {} of {steps}: {from} → {to} ━━", i + 1);
            let summary = match pairs::step_summary(w[1]) {
                Some(text) => text,
                None if w[1].flavor == Flavor::Modern => format!(
                    "The modern program itself: its `# Migration` section says what changed from \
                     legacy ({}/src/main.rs).",
                    harness::workspace::relative(&w[1].dir)
                ),
                None => String::new(),
            };
            out += &self.section(&title, &summary, &Pair::between(&pair.name, w[0], w[1]))?;
        }
        for f in own {
            let Some(right) = &f.right else { continue };
            let title = format!(
                "━━ pitfall {}: {} done in the wrong order ━━",
                f.program.name,
                f.program.flavor_label()
            );
            let doc = crate::doc::first_paragraph(&pairs::doc_of(&f.program).unwrap_or_default());
            out += &self.section(
                &title,
                &doc,
                &Pair::between(&f.program.name, right, &f.program),
            )?;
        }
        Ok(out)
    }

    /// A title, a paragraph under it, and the pair's diff.
    fn section(&self, title: &str, text: &str, pair: &Pair) -> Result<String> {
        let mut out = format!("\n{}\n", self.style.paint(BOLD, title));
        for line in textwrap::wrap(text, 88) {
            out += &(self.style.paint(DIM, &format!("  {line}")) + "\n");
        }
        out += "\n";
        Ok(out + &render::pair(self.catalogue, pair, &self.style, self.layout, self.context)?)
    }
}

#[cfg(test)]
mod tests;
