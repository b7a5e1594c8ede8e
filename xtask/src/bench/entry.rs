//! What the bench measures, whatever the family: a [`Job`] is one entry of the results
//! (a program of one flavor, in one configuration, at one socket count), with what it
//! takes to run it. This module knows no family: `families` dispatches to each, and
//! each family reads its own figures out of the entries ([`Job::rounds`]).

use std::path::PathBuf;

use anyhow::Result;
use harness::flavor::label_rank;
use harness::results::bench::{Entry, FamilyFigures, Rounds};
use harness::Program;

/// The flavors the bench reads entries against (the conformance matrix's words; a
/// step of a ladder is `bridge-1`, …), and its own: a baseline of the bench, and a
/// reference server of this machine (a program people deploy, such as oidentd).
pub const LEGACY: &str = "legacy";
pub const MODERN: &str = "modern";
pub const NEXT: &str = "next";
pub const BASELINE: &str = "baseline";
pub const REFERENCE: &str = "reference";

/// What it takes to run an entry.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// What the catalogue says of the program; `None` for a baseline or a reference.
    pub catalogue: Option<Program>,
    /// The package to build and its binary (none for a reference: it is found on the
    /// machine), and the binary once built.
    pub package: String,
    pub binary: String,
    pub exe: PathBuf,
    /// The options of a variant, added to the server's command line.
    pub variant: Vec<String>,
    /// Whether the UDP echo family runs its next-era loads on this entry.
    pub next_era_loads: bool,
}

/// One entry: its record, filled round by round, and its subject.
#[derive(Debug, Clone)]
pub struct Job {
    pub subject: Subject,
    pub entry: Entry,
}

impl Job {
    /// An entry of `program` with no figures yet (`rounds`: the empty rounds of its
    /// family). The run's settings are given to every entry when it is recorded.
    pub fn new(program: &str, flavor: &str, sockets: Option<usize>, rounds: Rounds) -> Job {
        let entry = Entry {
            program: program.into(),
            flavor: flavor.into(),
            variant: None,
            sockets,
            skipped: None,
            errors: Vec::new(),
            settings: Default::default(),
            rounds,
        };
        let subject = Subject::default();
        Job { subject, entry }
    }

    /// An entry of a program of the catalogue (its binary is named as its package).
    pub fn of(program: &Program, sockets: Option<usize>, rounds: Rounds) -> Job {
        let mut job = Job::new(&program.name, &program.flavor_label(), sockets, rounds);
        job.subject.catalogue = Some(program.clone());
        (job.subject.package, job.subject.binary) =
            (program.package.clone(), program.package.clone());
        job
    }

    /// The same entry in the configuration of `options`.
    pub fn with_variant(mut self, options: &[String]) -> Job {
        self.entry.variant = Some(options.join(" "));
        self.subject.variant = options.to_vec();
        self
    }

    /// The same, not measured, for `reason`.
    pub fn skipped(mut self, reason: String) -> Job {
        self.entry.skipped = Some(reason);
        self
    }

    /// `echo-tokio modern`, `ident-tokio legacy --lookup proc`, `multisocket-join
    /// legacy ×100`.
    pub fn title(&self) -> String {
        self.entry.key()
    }

    pub fn program(&self) -> &str {
        &self.entry.program
    }

    pub fn flavor(&self) -> &str {
        &self.entry.flavor
    }

    pub fn variant(&self) -> Option<&str> {
        self.entry.variant.as_deref()
    }

    /// `program` of `flavor` in its default configuration.
    pub fn is(&self, program: &str, flavor: &str) -> bool {
        self.program() == program && self.flavor() == flavor && self.variant().is_none()
    }

    /// The rounds of family `F`'s figures (none if the entry is of another family).
    pub fn rounds<F: FamilyFigures>(&self) -> &[Option<F>] {
        self.entry.rounds_of().unwrap_or(&[])
    }

    /// Records the figures of round `round` (from 0), or its error (returned).
    pub fn record<F: FamilyFigures + Clone>(&mut self, round: usize, r: Result<F>) -> Result<()> {
        let mut rounds = self.rounds::<F>().to_vec();
        rounds.push(r.as_ref().ok().cloned());
        self.entry.rounds = F::wrap(rounds);
        let error = r
            .as_ref()
            .err()
            .map(|e| format!("round {}: {e:#}", round + 1));
        self.entry.errors.extend(error);
        r.map(|_| ())
    }

    /// The values of one figure (a value, or maybe none) in the rounds that have it.
    pub fn values<F, V>(&self, figure: impl Fn(&F) -> V) -> Vec<f64>
    where
        F: FamilyFigures,
        V: Into<Option<f64>>,
    {
        let rounds = self.rounds::<F>().iter().flatten();
        rounds.filter_map(|f| figure(f).into()).collect()
    }
}

/// The entry of `program`, `flavor` in its default configuration at `sockets`.
pub fn find<'a>(
    jobs: &[&'a Job],
    program: &str,
    flavor: &str,
    sockets: Option<usize>,
) -> Option<&'a Job> {
    let mut found = jobs.iter().copied().filter(|j| j.entry.sockets == sockets);
    found.find(|j| j.is(program, flavor))
}

/// Whether `job` is a program of the catalogue (not a baseline or a reference).
pub fn ours(job: &Job) -> bool {
    ![BASELINE, REFERENCE].contains(&job.flavor())
}

/// The programs of the catalogue among `jobs`, in order.
pub fn programs<'a>(jobs: &[&'a Job]) -> Vec<&'a str> {
    distinct(jobs.iter().filter(|j| ours(j)).map(|j| j.program()))
}

/// The configurations `program` was measured in: the default (`None`), and others.
pub fn variants<'a>(jobs: &[&'a Job], program: &str) -> Vec<Option<&'a str>> {
    distinct(
        jobs.iter()
            .filter(|j| j.program() == program)
            .map(|j| j.variant()),
    )
}

fn distinct<T: PartialEq>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut out = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

/// Puts the entries of each program together in the order of the story (legacy, the
/// steps of its ladder, modern, next), programs in the order they first appear; a
/// program's own entries (socket counts, variants) keep their order otherwise.
pub fn story_order(jobs: &mut [Job]) {
    let first = distinct(jobs.iter().map(|j| j.program().to_string()));
    let program = |j: &Job| first.iter().position(|p| p == j.program());
    jobs.sort_by_key(|j| (program(j), label_rank(j.flavor())));
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// An entry of no catalogue program, with the figures of its rounds.
    pub fn job<F: FamilyFigures>(
        program: &str,
        flavor: &str,
        rounds: impl IntoIterator<Item = F>,
    ) -> Job {
        let rounds = rounds.into_iter().map(Some).collect();
        Job::new(program, flavor, None, F::wrap(rounds))
    }

    #[test]
    fn a_program_s_entries_come_in_the_order_of_the_story() {
        let make = |program: &str, flavor| Job::new(program, flavor, None, Rounds::Unmeasured);
        let mut jobs = [
            ("b", MODERN),
            ("a", LEGACY),
            ("b", LEGACY),
            ("a", NEXT),
            ("b", "bridge-1"),
        ]
        .map(|(p, f)| make(p, f));
        story_order(&mut jobs);
        let order = jobs.iter().map(Job::title).collect::<Vec<_>>();
        assert_eq!(
            order,
            ["b legacy", "b bridge-1", "b modern", "a legacy", "a next"]
        );
        let variant = make("c", MODERN).with_variant(&["--lookup".into(), "proc".into()]);
        assert_eq!(variant.title(), "c modern --lookup proc");
        assert!(!variant.is("c", MODERN));
    }
}
