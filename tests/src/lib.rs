//! The conformance suite: one library of checks, run against both flavors of every
//! program in the workspace.
//!
//! For each program it spawns the built binary with `--bind 127.0.0.1:0` (learning
//! ports from the `listening` lines), drives it from real sockets and checks
//! behaviour, not source. Documented differences between eras are data, declared
//! by each program in its own `Cargo.toml` (`harness::Declared`), never an `if` inside
//! a check. `cargo test` runs the whole matrix
//! (`tests/conformance.rs`); `cargo xtask conformance` runs a selection and prints it
//! as a table or JSON.

pub mod check;
pub mod checks;
pub mod needs;
pub mod netns;
pub mod purity;
pub mod report;
pub mod selftest;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::thread;

use anyhow::Result;

use harness::{build, Built, Catalogue, Flavor, Profile, Program};

use crate::check::Ctx;
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
    let catalogue = Catalogue::load()?;
    let chosen = catalogue.select(&selection.programs, selection.flavor)?;
    // With no program named, the rows that test the suite itself come along.
    let self_tests = selection.programs.is_empty() && selection.flavor.is_none();
    let mut packages: Vec<&str> = chosen.iter().map(|p| p.package.as_str()).collect();
    if self_tests {
        packages.push(selftest::PACKAGE);
    }
    let built = build(&packages, Profile::Dev)?;

    let queue = Mutex::new(chosen.into_iter().collect::<VecDeque<_>>());
    let rows = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let Some(program) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    return;
                };
                let started = std::time::Instant::now();
                let mut row = run_row(&program, &built, &catalogue);
                row.seconds = started.elapsed().as_secs_f64();
                on_row(&row);
                if let Ok(mut rows) = rows.lock() {
                    rows.push(row);
                }
            });
        }
    });
    let mut rows = rows.into_inner().unwrap_or_default();
    if self_tests {
        for row in selftest::rows(&catalogue, &|name| built.exe(name).ok().cloned()) {
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(Report::new(rows))
}

/// One row: the checks of the program's family, or one failing check that says why
/// the program cannot be checked (it does not build, or declares no known family).
fn run_row(program: &Program, built: &Built, catalogue: &Catalogue) -> Row {
    let label = program.flavor_label();
    let fail = |name: &str, detail: String| {
        let check = CheckResult {
            name: name.to_string(),
            status: Status::Fail,
            detail,
        };
        Row::new(&program.name, &label, vec![check])
    };
    let family = match program.family() {
        Ok(f) => f,
        Err(e) => return fail("family", format!("{e:#}")),
    };
    let exe = match built.exe(&program.package) {
        Ok(exe) => exe,
        Err(e) => return fail("build", format!("{e:#}")),
    };
    let all = checks::for_family(family);
    // A documented failure of a check the family does not run is a typo that would
    // otherwise document nothing.
    let declared = program
        .declared
        .expected_failure
        .iter()
        .flat_map(|g| &g.checks);
    if let Some(unknown) = declared.clone().find(|c| !all.iter().any(|a| a.name == *c)) {
        let names: Vec<&str> = all.iter().map(|c| c.name).collect();
        let why = format!(
            "{}: [package.metadata.study] documents a failure of `{unknown}`, which is no \
             check of the {family} family ({})",
            program.package,
            names.join(", ")
        );
        return fail("expected-failure", why);
    }
    // A program that needs what this machine lacks (io_uring, say) is not run at all.
    if let Some(why) = harness::needs::unmet(&program.declared.needs, harness::needs::machine) {
        return Row::new(&program.name, &label, needs::skipped(&all, &why));
    }
    let ctx = Ctx {
        program,
        exe,
        catalogue,
    };
    let results = all.iter().map(|c| check::run(c, &ctx)).collect();
    Row::new(&program.name, &label, results)
}
