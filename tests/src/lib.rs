//! The conformance suite: one library of checks, run against both flavors of every
//! program in the workspace.
//!
//! For each program it spawns the built binary with `--bind 127.0.0.1:0` (learning
//! ports from the `listening` lines), drives it from real sockets and checks
//! behaviour, not source. Documented differences between eras are data
//! ([`expect`]), never an `if` inside a check. `cargo test` runs the whole matrix
//! (`tests/conformance.rs`); `cargo xtask conformance` runs a selection and prints it
//! as a table or JSON.

pub mod check;
pub mod checks;
pub mod expect;
pub mod netns;
pub mod process;
pub mod programs;
pub mod purity;
pub mod report;
pub mod selftest;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::thread;

use anyhow::{bail, Result};

use crate::check::Ctx;
use crate::programs::{Flavor, Metadata, Program};
use crate::report::{CheckResult, Report, Row, Status};

/// Which rows to run.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Program names (`echo-mpsc`); empty means all.
    pub programs: Vec<String>,
    /// One flavor, or both.
    pub flavor: Option<Flavor>,
}

/// Rows run at the same time. The checks mostly wait on sockets and timers; the
/// namespaces and ports of each row are its own.
pub const DEFAULT_JOBS: usize = 4;

/// Builds what the selection needs, runs its rows on `jobs` threads and returns the
/// matrix. `on_row` sees each row as it completes (for progress output).
pub fn run(selection: &Selection, jobs: usize, on_row: &(dyn Fn(&Row) + Sync)) -> Result<Report> {
    let meta = Metadata::load()?;
    let all = meta.programs();
    for name in &selection.programs {
        if !all.iter().any(|p| &p.name == name) {
            let mut names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
            names.dedup();
            bail!(
                "unknown program '{name}'; the programs are: {}",
                names.join(", ")
            );
        }
    }
    let chosen: Vec<Program> = all
        .into_iter()
        .filter(|p| selection.programs.is_empty() || selection.programs.contains(&p.name))
        .filter(|p| selection.flavor.is_none_or(|f| f == p.flavor))
        .collect();
    // With no program named, the rows that test the suite itself come along.
    let self_tests = selection.programs.is_empty() && selection.flavor.is_none();
    let mut packages: Vec<&str> = chosen.iter().map(|p| p.package.as_str()).collect();
    if self_tests {
        packages.push(selftest::PACKAGE);
    }
    let exes = programs::build(&packages)?;

    let queue = Mutex::new(chosen.into_iter().collect::<VecDeque<_>>());
    let rows = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let Some(program) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    return;
                };
                let row = run_row(&program, exes.get(&program.package), &meta);
                on_row(&row);
                if let Ok(mut rows) = rows.lock() {
                    rows.push(row);
                }
            });
        }
    });
    let mut rows = rows.into_inner().unwrap_or_default();
    if self_tests {
        for row in selftest::rows(&meta, &|name| exes.get(name).cloned()) {
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(Report::new(rows))
}

fn run_row(program: &Program, exe: Option<&std::path::PathBuf>, meta: &Metadata) -> Row {
    let fail = |name: &str, detail: String| {
        Row::new(
            &program.name,
            program.flavor.as_str(),
            vec![CheckResult {
                name: name.to_string(),
                status: Status::Fail,
                detail,
            }],
        )
    };
    let Some(exe) = exe else {
        return fail(
            "build",
            format!("no binary named {} was built", program.package),
        );
    };
    let Some(checks) = checks::for_program(&program.name) else {
        return fail(
            "checks",
            "the suite has no checks for this program's family".to_string(),
        );
    };
    let ctx = Ctx { program, exe, meta };
    let results = checks.iter().map(|c| check::run(c, &ctx)).collect();
    Row::new(&program.name, program.flavor.as_str(), results)
}
