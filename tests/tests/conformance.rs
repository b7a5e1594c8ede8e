//! `cargo test` runs the whole conformance matrix: every program of the workspace, in
//! both flavors, built and driven by the suite. The matrix is printed as it is by
//! `cargo xtask conformance`; any unexpected result fails the test run.

use conformance::{report::Row, Selection, DEFAULT_JOBS};

fn main() {
    let progress = |row: &Row| eprintln!("{}", row.progress());
    match conformance::run(&Selection::default(), DEFAULT_JOBS, &progress) {
        Ok(report) => {
            print!("{}", report.to_table());
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
