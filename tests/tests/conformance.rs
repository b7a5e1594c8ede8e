//! `cargo test` runs the whole conformance matrix: every program of the workspace, in
//! both flavors, built and driven by the suite. The matrix is printed as it is by
//! `cargo xtask conformance`, and kept in `target/results/conformance.json` as that
//! command keeps it; any unexpected result fails the test run.

use std::time::Instant;

use conformance::{Selection, DEFAULT_JOBS};
use harness::results::conformance::Row;
use harness::results::default_dir;
use harness::results::run::load_average;

fn main() {
    let progress = |row: &Row| eprintln!("{}", row.progress());
    let (started, load) = (Instant::now(), load_average());
    match conformance::run(&Selection::default(), usize::from(DEFAULT_JOBS), &progress) {
        Ok(report) => {
            print!("{}", report.to_table());
            // The same run `cargo xtask conformance` makes: kept for the book.
            let took = started.elapsed();
            let command = "cargo test --workspace (tests/tests/conformance.rs)".to_string();
            if let Err(e) = report.save(&default_dir(), took, [load, load_average()], command) {
                eprintln!("warning: the matrix was not kept: {e:#}");
            }
            if !report.ok() {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("conformance suite could not run: {e:#}");
            std::process::exit(1);
        }
    }
}
