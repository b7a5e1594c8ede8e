//! The conformance suite: one library of checks, run against both flavors of every
//! program in the workspace.
//!
//! For each program it spawns the built binary with `--bind 127.0.0.1:0` (learning
//! ports from the `listening` lines), drives it from real sockets and checks
//! behaviour, not source. Documented differences between eras are data, declared
//! by each program in its own `Cargo.toml` (`harness::Declared`), never an `if` inside
//! a check. A program that takes `--threads` (it declares `across-cores`) has a second
//! row, run with `--threads 2` ([`SUITE_THREADS`]; flavor `modern×2`, results key
//! `PROGRAM modern×2`), with every check of its first row and [`checks::threads`].
//! `cargo test` runs the whole matrix
//! (`tests/conformance.rs`); `cargo xtask conformance` runs a selection and prints it
//! as a table or JSON.

pub mod check;
pub mod checks;
pub mod measure;
pub mod needs;
pub mod netns;
pub mod purity;
pub mod report;
pub mod selftest;

use std::collections::VecDeque;
use std::sync::Mutex;
use std::thread;

use anyhow::Result;

use harness::{build, Built, Catalogue, Flavor, OnThreads, Profile, Program};

use crate::check::Ctx;
use crate::report::Report;
use harness::results::conformance::{CheckResult, Row, Status};

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
pub const DEFAULT_JOBS: u16 = 4;

/// The threads of the rows on several threads: every program that takes `--threads`
/// (it declares `across-cores`) gets a row with `--threads 2` beside its own. Two,
/// whatever the machine: enough for everything a second thread changes (who serves
/// which client, who wakes, what is shared), the same row on every machine, and no
/// more threads than the two cores the suite is sized for.
pub const SUITE_THREADS: u32 = 2;

/// One row of the matrix: a program as it starts by default, or on threads.
#[derive(Debug, Clone)]
enum Subject {
    Program(Program),
    OnThreads(OnThreads),
}

impl Subject {
    fn program(&self) -> &Program {
        match self {
            Subject::Program(p) => p,
            Subject::OnThreads(t) => &t.program,
        }
    }

    fn label(&self) -> String {
        match self {
            Subject::Program(p) => p.flavor_label(),
            Subject::OnThreads(t) => t.flavor_label(),
        }
    }
}

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

    // Each program's row, and beside it its row on threads if it takes `--threads`.
    let subjects = chosen.into_iter().flat_map(|p| {
        let threaded = p.on_threads(SUITE_THREADS).map(Subject::OnThreads);
        [Some(Subject::Program(p)), threaded].into_iter().flatten()
    });
    let queue = Mutex::new(subjects.collect::<VecDeque<_>>());
    let rows = Mutex::new(Vec::new());
    thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| loop {
                let Some(subject) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                    return;
                };
                let started = std::time::Instant::now();
                let mut row = run_row(&subject, &built, &catalogue);
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

/// One row: the checks of the program's family (on threads, and those of
/// [`checks::threads`]; for a pitfall that documents a compiler error, that of
/// [`checks::compile`]), or one failing check that says why the program cannot be
/// checked (it does not build, or declares no known family).
fn run_row(subject: &Subject, built: &Built, catalogue: &Catalogue) -> Row {
    let (program, label) = (subject.program(), subject.label());
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
    let mut all = checks::for_family(family);
    match subject {
        Subject::OnThreads(_) => all.extend_from_slice(checks::threads::CHECKS),
        // What the compiler says does not depend on threads: once, on the first row.
        Subject::Program(p) if p.declared.compile_error.is_some() => {
            all.extend_from_slice(checks::compile::CHECKS)
        }
        Subject::Program(_) => {}
    }
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
    let ctx = match subject {
        Subject::Program(p) => Ctx::new(p, exe, catalogue),
        Subject::OnThreads(t) => Ctx::on_threads(t, exe, catalogue),
    };
    let results = all.iter().map(|c| check::run(c, &ctx)).collect();
    Row::new(&program.name, &label, results)
}
