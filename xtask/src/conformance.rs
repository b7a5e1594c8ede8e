//! `cargo xtask conformance [PROGRAM…] [--flavor …] [--format table|json]`: builds
//! what it needs, runs the suite (the same library `cargo test` runs) and prints the
//! program × flavor matrix. Exit status 1 on any unexpected result.

use anyhow::{anyhow, Result};
use conformance::report::Row;
use conformance::{Selection, DEFAULT_JOBS};

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
    #[arg(long, default_value_t = DEFAULT_JOBS)]
    jobs: usize,
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
    let report =
        conformance::run(&selection, args.jobs, &progress).map_err(|e| anyhow!("{e:#}"))?;
    if table && args.verbose {
        print!("{}", report.to_table_verbose());
    } else if table {
        print!("{}", report.to_table());
    } else {
        println!("{}", report.to_json());
    }
    Ok(if report.ok() { 0 } else { 1 })
}
