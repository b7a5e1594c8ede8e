//! `cargo xtask conformance [PROGRAM…] [--flavor …] [--format table|json]`: builds
//! what it needs, runs the suite (the same library `cargo test` runs) and prints the
//! program × flavor matrix, and keeps the rows in `target/results/conformance.json`
//! (merged with what is there: a row of each program and flavor, the newest). Exit
//! status 1 on any unexpected result.

use std::time::Instant;

use anyhow::Result;
use conformance::{Selection, DEFAULT_JOBS};
use harness::results::conformance::Row;
use harness::results::default_dir;
use harness::results::run::{command_line, load_average};

use crate::args::{FlavorArg, Format};

#[derive(clap::Args)]
pub struct Args {
    /// Programs to check (e.g. echo-mpsc); all when none is given.
    programs: Vec<String>,
    /// Only this flavor.
    #[arg(long, value_enum)]
    flavor: Option<FlavorArg>,
    /// Output format: a table for people, one JSON object for scripts.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Rows run at the same time.
    #[arg(long, default_value_t = DEFAULT_JOBS, value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: u16,
    /// List every check of every row with its detail, passed ones too.
    #[arg(short, long)]
    verbose: bool,
}

pub fn main(args: Args) -> Result<i32> {
    let selection = Selection {
        programs: args.programs,
        flavor: args.flavor.map(Into::into),
    };
    let table = args.format == Format::Table;
    let progress = |row: &Row| {
        if table {
            eprintln!("{}", row.progress());
        }
    };
    let (started, load) = (Instant::now(), load_average());
    let report = conformance::run(&selection, args.jobs.into(), &progress)?;
    let kept = report.save(
        &default_dir(),
        started.elapsed(),
        [load, load_average()],
        command_line(),
    )?;
    if table {
        eprintln!("kept in {}", harness::workspace::relative(&kept));
    }
    if table && args.verbose {
        print!("{}", report.to_table_verbose());
    } else if table {
        print!("{}", report.to_table());
    } else {
        println!("{}", report.to_json());
    }
    Ok(if report.ok() { 0 } else { 1 })
}
