//! `coop-budget`: a flooded UDP reader beside a ticker on one thread, one entry per
//! `--loop` (how the reader reads). What a flood does to the ticker is measured by
//! the suite's own code (`conformance::measure::coop`), which the checks judge against
//! each program's declaration; recorded here round by round for the book.

use anyhow::{Context, Result};
use conformance::measure::coop::{self, COST, PACE};
use harness::results::bench::CoopFigures;
use shared::cli::ReadLoop;

use super::cells::{family_table, Column};
use super::entry::Job;
use harness::measure::affinity::Placement;

/// The variant of each `--loop`: its options.
pub fn variants() -> impl Iterator<Item = Vec<String>> {
    ReadLoop::ALL
        .into_iter()
        .map(|l| vec!["--loop".into(), l.as_str().into()])
}

pub fn run(job: &Job, on: &Placement) -> Result<CoopFigures> {
    let read_loop = job.subject.variant.get(1).and_then(|l| ReadLoop::parse(l));
    let read_loop = read_loop.context("a coop-budget entry without its --loop")?;
    on.unpinned(|| coop::flood(&job.subject.exe, read_loop))
}

pub fn section(jobs: &[&Job]) -> String {
    let columns: [Column<CoopFigures>; 5] = [
        ("read", &|c| c.count(|f| f.recv as f64)),
        ("max/poll", &|c| c.count(|f| f.most_per_poll as f64)),
        ("max/tick gap", &|c| {
            c.count(|f| f.most_between_ticks as f64)
        }),
        ("worst late ms", &|c| {
            c.num(|f| f.worst_late_us as f64, 1e-3)
        }),
        ("ticks", &|c| c.count(|f| f.ticks as f64)),
    ];
    let (rate, ms, cost) = (PACE.rate, PACE.time.as_millis(), COST.as_micros());
    let title = format!(
        "coop-budget: a flood of {rate} datagrams/s for {ms} ms, {cost} µs of reader CPU each, \
         beside a ticker: datagrams read, the most in one poll and between two ticks; the \
         ticker's worst delay"
    );
    family_table(&title, jobs, &columns)
}
