//! What a check is, what it is given, and how its outcome becomes a [`Status`].

use std::fmt;
use std::path::Path;

use harness::{Catalogue, OnThreads, Program};

use harness::results::conformance::{CheckResult, Status};

/// What a check gets: the program, its built binary, the workspace's catalogue, and
/// the threads of the row (`None`: the program as it starts by default, on one thread).
pub struct Ctx<'a> {
    pub program: &'a Program,
    pub exe: &'a Path,
    pub catalogue: &'a Catalogue,
    pub threads: Option<&'a OnThreads>,
    extra: Vec<String>,
}

impl<'a> Ctx<'a> {
    /// The program as it starts by default: one thread.
    pub fn new(program: &'a Program, exe: &'a Path, catalogue: &'a Catalogue) -> Ctx<'a> {
        Ctx {
            program,
            exe,
            catalogue,
            threads: None,
            extra: Vec::new(),
        }
    }

    /// The program run with `--threads N` (its declaration is that of its row on
    /// threads).
    pub fn on_threads(t: &'a OnThreads, exe: &'a Path, catalogue: &'a Catalogue) -> Ctx<'a> {
        Ctx {
            program: &t.program,
            exe,
            catalogue,
            threads: Some(t),
            extra: t.args(),
        }
    }

    /// `args`, and the options every start of the program gets on this row
    /// (`--threads 2` on a row on threads): what each check starts it with.
    pub fn args(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        let mut all = args.to_vec();
        all.extend(self.extra.iter().map(String::as_str));
        all
    }

    /// The flavor label of the row: `modern`, `modern×2`.
    pub fn label(&self) -> String {
        match self.threads {
            Some(t) => t.flavor_label(),
            None => self.program.flavor_label(),
        }
    }
}

/// A check's own verdict before expectations are applied: `Ok(detail)` passed,
/// `Err` failed, unless the error is a [`Skipped`].
pub type Outcome = anyhow::Result<String>;

/// A check that cannot run on this machine (returned as an error, reported as skip).
#[derive(Debug)]
pub struct Skipped(pub String);

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "skipped: {}", self.0)
    }
}

impl std::error::Error for Skipped {}

/// `check!("help", common::help)`: one named check, on one line of a family's list.
#[macro_export]
macro_rules! check {
    ($name:literal, $run:expr) => {
        $crate::check::Check {
            name: $name,
            run: $run,
        }
    };
}

/// One named check.
#[derive(Clone, Copy)]
pub struct Check {
    pub name: &'static str,
    pub run: fn(&Ctx) -> Outcome,
}

/// Runs one check and applies the documented expectations for this program and
/// flavor: a documented failure that fails is `xfail`, one that passes is `xpass`.
pub fn run(check: &Check, ctx: &Ctx) -> CheckResult {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (check.run)(ctx)))
        .unwrap_or_else(|p| {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(anyhow::anyhow!("check panicked: {msg}"))
        });
    let documented = ctx.program.expected_failure(check.name);
    let (status, detail) = match (outcome, documented) {
        (Err(e), _) if e.downcast_ref::<Skipped>().is_some() => (Status::Skip, format!("{e}")),
        (Ok(detail), None) => (Status::Pass, detail),
        (Err(e), None) => (Status::Fail, format!("{e:#}")),
        (Err(e), Some(why)) => (Status::Xfail, format!("{why} — observed: {e:#}")),
        (Ok(detail), Some(why)) => (
            Status::Xpass,
            format!("documented to fail ({why}) but passed: {detail}"),
        ),
    };
    CheckResult {
        name: check.name.to_string(),
        status,
        detail,
    }
}
