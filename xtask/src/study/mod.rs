//! `cargo xtask study` — the study as a book (mdBook): it opens with what was found,
//! then one chapter per family group in the README's order (`Chapter::ALL`), one page
//! per pair in the order of the story (`Program::story_key`), then the conformance
//! matrix, the performance figures and where every figure comes from. Nothing here
//! lists programs or chapters by hand: a family or flavor that lands shows up as it is.
//!
//! Figures are current by default: they come from the latest results under `target/`
//! (`trace/*.json`, `bench/bench.json`, `study/polls.json`), each captioned with the
//! command, date, machine and rounds of its run; `--run-missing` runs what is missing
//! first. Conformance rows come from running the suite (the default), from a saved
//! `cargo xtask conformance --format json` (`--conformance-json FILE`), or are shown as
//! not run (`--no-conformance`).
//!
//! The book is rendered by mdBook used as a library (`mdbook-driver`): nothing to
//! install beyond `cargo`, the version pinned in `Cargo.lock` like every other
//! dependency, and its warnings (unbalanced HTML, say) fail the build instead of
//! scrolling by.

mod book;
mod charts;
mod diff_html;
mod figures;
mod findings;
mod highlight;
mod pages;
mod polls;
mod readiness;
mod results;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use conformance::{Selection, DEFAULT_JOBS};
use harness::{project_root, Catalogue, Chapter, Family};
use serde_json::Value;

use crate::pairs::{self, Pair};
use results::{Conformance, Results};

#[derive(clap::Args)]
pub struct Args {
    /// Folder of the book: its Markdown goes to DIR/src, the site to DIR/book.
    #[arg(long, value_name = "DIR", default_value = "target/study")]
    out: PathBuf,
    /// Where to find the latest results: DIR/trace/*.json, DIR/bench/bench.json,
    /// DIR/study/polls.json.
    #[arg(long, value_name = "DIR", default_value = "target")]
    results: PathBuf,
    /// Take the conformance rows from this `cargo xtask conformance --format json`
    /// output instead of running the suite.
    #[arg(long, value_name = "FILE", conflicts_with = "no_conformance")]
    conformance_json: Option<PathBuf>,
    /// Do not run the conformance suite; the book says so.
    #[arg(long)]
    no_conformance: bool,
    /// Also take trace figures from this `cargo xtask trace --format json` output (may
    /// be given more than once; the newest trace of each side wins).
    #[arg(long, value_name = "FILE")]
    trace_json: Vec<PathBuf>,
    /// Take the bench figures from this bench.json instead of DIR/bench/bench.json.
    #[arg(long, value_name = "FILE")]
    bench_json: Option<PathBuf>,
    /// Take the poll sweep from this file instead of DIR/study/polls.json.
    #[arg(long, value_name = "FILE")]
    polls_json: Option<PathBuf>,
    /// Take the readiness measurements (udp-waiters, coop-budget) from this file
    /// instead of DIR/study/readiness.json.
    #[arg(long, value_name = "FILE")]
    readiness_json: Option<PathBuf>,
    /// First run what is missing: trace every pair without a trace, a quick bench if
    /// there is no bench.json, the poll sweep and the readiness measurements if there
    /// are none.
    #[arg(long)]
    run_missing: bool,
    /// Measure the poll sweep again, even if there is one.
    #[arg(long)]
    sweep_polls: bool,
    /// Measure the readiness programs again (udp-waiters, coop-budget: about a
    /// minute), even if there are figures.
    #[arg(long)]
    measure_readiness: bool,
    /// Conformance rows run at the same time.
    #[arg(long, default_value_t = DEFAULT_JOBS)]
    jobs: usize,
}

/// One pair of the book: where its page is, and what it is.
pub struct PairInfo {
    pub pair: Pair,
    pub name: String,
    pub family: Family,
    pub chapter: Chapter,
    /// Its page, relative to the book's `src/` (`udp-echo/echo-tokio.md`).
    pub path: String,
}

/// One chapter: its title, its page, and its pairs (indices into [`Book::pairs`]).
pub struct ChapterInfo {
    pub chapter: Chapter,
    pub title: String,
    pub path: String,
    pub pairs: Vec<usize>,
}

/// The book's outline: chapters in `Chapter::ALL` order, pairs in story order.
pub struct Book {
    pub chapters: Vec<ChapterInfo>,
    pairs: Vec<PairInfo>,
}

impl Book {
    /// The outline of `pairs` (in the catalogue's story order). A program without a
    /// valid family has no chapter: the error names it.
    pub fn new(pairs: Vec<Pair>) -> Result<Book> {
        let mut infos = Vec::new();
        for pair in pairs {
            let family = pair.family()?;
            let chapter = family.chapter();
            infos.push(PairInfo {
                path: format!("{}/{}.md", slug(chapter.title()), pair.name),
                name: pair.name.clone(),
                family,
                chapter,
                pair,
            });
        }
        let chapters = Chapter::ALL
            .iter()
            .map(|&chapter| ChapterInfo {
                chapter,
                title: chapter.title().to_string(),
                path: format!("{}/index.md", slug(chapter.title())),
                pairs: (0..infos.len())
                    .filter(|&i| infos[i].chapter == chapter)
                    .collect(),
            })
            .filter(|c| !c.pairs.is_empty())
            .collect();
        Ok(Book {
            chapters,
            pairs: infos,
        })
    }

    pub fn pairs(&self) -> impl Iterator<Item = &PairInfo> {
        self.pairs.iter()
    }

    pub fn pairs_of<'a>(&'a self, c: &'a ChapterInfo) -> impl Iterator<Item = &'a PairInfo> {
        c.pairs.iter().map(|&i| &self.pairs[i])
    }

    pub fn chapter_of(&self, family: Family) -> Option<&ChapterInfo> {
        self.chapters.iter().find(|c| c.chapter == family.chapter())
    }
}

/// `TCP echo and RFC 1413 ident` → `tcp-echo-and-rfc-1413-ident`.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

fn absolute(p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        project_root().join(p)
    }
}

pub fn main(args: Args) -> Result<i32> {
    let catalogue = Catalogue::load()?;
    let all = pairs::pairs(&catalogue);
    if all.is_empty() {
        bail!("the workspace has no program (no legacy-*, modern-*, bridge-* or next-* package)");
    }
    let book = Book::new(all)?;
    let out = absolute(&args.out);
    let results_dir = absolute(&args.results);

    if args.run_missing || args.sweep_polls || args.measure_readiness {
        run_missing(&book, &catalogue, &results_dir, &args)?;
    }

    let conformance = conformance(&args, &out)?;
    let results = Results::load(
        &results_dir,
        &args.trace_json,
        results::Files {
            bench: args.bench_json.as_deref().map(absolute),
            polls: args.polls_json.as_deref().map(absolute),
            readiness: args.readiness_json.as_deref().map(absolute),
        },
        conformance,
    );
    let written = book::write(&book, &catalogue, &results, &out)?;
    println!("{}", written.index.display());
    if !written.missing.is_empty() {
        eprintln!(
            "{} figure(s) have no data yet ({}); `cargo xtask study --run-missing` measures what is missing",
            written.missing.len(),
            written.missing.join(", ")
        );
    }
    Ok(0)
}

/// The conformance rows: from a file, from a run of the suite (saved beside the
/// book for reuse), or none.
fn conformance(args: &Args, out: &Path) -> Result<Conformance> {
    if args.no_conformance {
        return Ok(Conformance {
            source: "not run for this book (--no-conformance)".into(),
            rows: None,
        });
    }
    if let Some(file) = &args.conformance_json {
        let file = absolute(file);
        let text =
            fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        return Ok(Conformance {
            source: format!("from {}", harness::workspace::relative(&file)),
            rows: Some(results::conformance_rows(&json)?),
        });
    }
    eprintln!("running the conformance suite (use --conformance-json FILE to reuse a run)…");
    let progress = |row: &conformance::report::Row| {
        eprintln!(
            "  done: {} {} ({})",
            row.program,
            row.flavor,
            row.status.as_str()
        )
    };
    let report = conformance::run(&Selection::default(), args.jobs, &progress)
        .map_err(|e| anyhow!("{e:#}"))?;
    let json = serde_json::to_value(&report)?;
    fs::create_dir_all(out).with_context(|| format!("cannot create {}", out.display()))?;
    let saved = out.join("conformance.json");
    fs::write(&saved, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("cannot write {}", saved.display()))?;
    Ok(Conformance {
        source: format!(
            "run for this book on {} (saved to {}: --conformance-json reuses it)",
            crate::runinfo::utc(crate::runinfo::unix_now()),
            harness::workspace::relative(&saved)
        ),
        rows: Some(results::conformance_rows(&json)?),
    })
}

/// Runs what the book lacks: `trace` for the untraced pairs, a quick `bench` without
/// a bench.json, the poll sweep and the readiness figures without them (or when asked
/// to measure them again).
fn run_missing(book: &Book, catalogue: &Catalogue, dir: &Path, args: &Args) -> Result<()> {
    let none = Conformance {
        source: String::new(),
        rows: None,
    };
    let have = Results::load(
        dir,
        &args.trace_json,
        results::Files {
            bench: args.bench_json.as_deref().map(absolute),
            polls: args.polls_json.as_deref().map(absolute),
            readiness: args.readiness_json.as_deref().map(absolute),
        },
        none,
    );
    let default_dir = dir == absolute(Path::new("target"));
    if args.run_missing {
        let untraced: Vec<&str> = book
            .pairs()
            .filter(|p| {
                p.pair
                    .programs()
                    .any(|prog| have.trace_side(&p.name, &prog.flavor_label()).is_none())
            })
            .map(|p| p.name.as_str())
            .collect();
        if !untraced.is_empty() && default_dir {
            eprintln!("tracing what has no trace yet: {}", untraced.join(", "));
            // `trace` saves each side under target/trace/, where the book reads it.
            run_xtask(&[&["trace"][..], &untraced].concat())?;
        }
        if have.bench.is_err() && args.bench_json.is_none() {
            let out = dir.join("bench");
            let out_s = out.to_string_lossy().to_string();
            eprintln!("no bench.json: a quick bench run (to check the instrument, not to read)…");
            run_xtask(&["bench", "--quick", "--out", &out_s])?;
        }
    }
    if args.sweep_polls || (args.run_missing && have.polls.is_err() && args.polls_json.is_none()) {
        let sweep = polls::measure(catalogue.programs())?;
        let path = results::sweep_path(dir);
        save(&path, &sweep)?;
        eprintln!("poll sweep written to {}", path.display());
    }
    if args.measure_readiness
        || (args.run_missing && have.readiness.is_err() && args.readiness_json.is_none())
    {
        let figures = readiness::measure(catalogue.programs())?;
        let path = results::readiness_path(dir);
        save(&path, &figures)?;
        eprintln!("readiness figures written to {}", path.display());
    }
    Ok(())
}

/// Writes `value` as pretty JSON to `path`, creating its folder.
fn save(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(path, serde_json::to_string_pretty(value)? + "\n")
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Runs another subcommand of this xtask (the same binary), in the workspace root.
/// A failure is reported and the book goes on with what there is.
fn run_xtask(args: &[&str]) -> Result<()> {
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    let status = Command::new(exe)
        .args(args)
        .current_dir(project_root())
        .status()
        .with_context(|| format!("cannot run cargo xtask {}", args.join(" ")))?;
    if !status.success() {
        eprintln!(
            "warning: `cargo xtask {}` ended with {status}; the book shows what there is",
            args.join(" ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapter_slugs() {
        assert_eq!(
            slug("TCP echo and RFC 1413 ident"),
            "tcp-echo-and-rfc-1413-ident"
        );
        assert_eq!(
            slug("Futures and mio internals"),
            "futures-and-mio-internals"
        );
        assert_eq!(slug("UDP echo"), "udp-echo");
        let mut slugs: Vec<String> = Chapter::ALL.iter().map(|c| slug(c.title())).collect();
        slugs.dedup();
        assert_eq!(slugs.len(), Chapter::ALL.len(), "one folder per chapter");
    }

    #[test]
    fn the_outline_follows_the_catalogue() {
        let catalogue = Catalogue::load().unwrap();
        let book = Book::new(pairs::pairs(&catalogue)).unwrap();
        let order: Vec<Chapter> = book.chapters.iter().map(|c| c.chapter).collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted, "chapters in Chapter::ALL order");
        let in_chapters: Vec<&str> = book
            .chapters
            .iter()
            .flat_map(|c| book.pairs_of(c).map(|p| p.name.as_str()))
            .collect();
        assert_eq!(
            in_chapters,
            catalogue.names(),
            "every program once, in story order"
        );
    }
}
