//! `cargo xtask study` — the book: the hand-written chapters of `book/src` with every
//! measured or derived part generated from the typed results (`target/results/`), and
//! a page per program. It measures nothing itself: what the results lack, it first
//! has the measuring commands measure (`conformance`, `trace`, `bench`), saying what
//! and how long, unless `--no-measure`; what this machine cannot measure is left out
//! with the reason. Then it renders the site with mdBook and prints where it is.

mod aligned;
mod book;
mod diff_html;
mod directives;
mod gen;
mod highlight;
mod measure;
mod results;
mod svg;

use std::path::PathBuf;

use anyhow::Result;
use harness::{project_root, Catalogue, UsageError};

use harness::pairs;

#[derive(clap::Args)]
pub struct Args {
    /// Folder of the book: its sources go to DIR/src, the site to DIR/book.
    #[arg(long, value_name = "DIR", default_value = "target/study")]
    out: PathBuf,
    /// Make the book from the results in DIR (as `cargo xtask` keeps them in
    /// target/results) and measure nothing.
    #[arg(long, value_name = "DIR")]
    results: Option<PathBuf>,
    /// Measure nothing: make the book from the results there are.
    #[arg(long)]
    no_measure: bool,
}

pub fn main(args: Args) -> Result<i32> {
    let absolute = |p: PathBuf| {
        if p.is_absolute() {
            p
        } else {
            project_root().join(p)
        }
    };
    let given = args.results.map(absolute);
    if let Some(dir) = &given {
        if !dir.is_dir() {
            return Err(UsageError(format!("--results {}: no such folder", dir.display())).into());
        }
    }
    let catalogue = Catalogue::load()?;
    for p in catalogue.programs() {
        p.family()?;
    }
    let pairs = pairs::pairs(&catalogue);
    let dir = given.clone().unwrap_or_else(harness::results::default_dir);
    if given.is_none() && !args.no_measure {
        let (stages, cannot) = measure::plan(&catalogue, &pairs, &results::Results::load(&dir));
        for why in &cannot {
            eprintln!("not measured here: {why}");
        }
        if !stages.is_empty() {
            measure::run(&stages)?;
        }
    }
    let results = results::Results::load(&dir);
    let ctx = gen::Ctx {
        catalogue: &catalogue,
        pairs: &pairs,
        results: &results,
    };
    let written = book::write(&ctx, &absolute(args.out))?;
    println!("{}", written.index.display());
    if !written.missing.is_empty() {
        eprintln!(
            "{} part(s) of the book have nothing to show:",
            written.missing.len()
        );
        for m in &written.missing {
            eprintln!("  {m}");
        }
    }
    Ok(0)
}
