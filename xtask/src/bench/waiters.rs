//! `udp-waiters`: several tasks waiting on one UDP socket. Who a datagram wakes
//! (datagrams sent one at a time to idle tasks), and what that costs (a burst to
//! tasks that each work a while on a datagram): measured by the suite's own code
//! (`conformance::measure::waiters`), which the checks judge against each program's
//! declaration; recorded here round by round for the book.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Result;
use conformance::measure::waiters::{self, Load};
use harness::results::bench::WaitersFigures;

use super::cells::{family_table, Cells, Column};
use super::entry::Job;
use super::settings::Settings;
use harness::measure::affinity::Placement;

pub fn run(job: &Job, s: &Settings, on: &Placement) -> Result<WaitersFigures> {
    let load = Load {
        tasks: s.waiter_tasks,
        probes: s.waiter_probes,
        work: Duration::from_millis(s.waiter_work_ms),
    };
    on.unpinned(|| waiters::round(&job.subject.exe, &load))
}

pub fn section(jobs: &[&Job], s: &Settings) -> String {
    // Datagrams each task read, over every round.
    let read = |c: &Cells<WaitersFigures>| {
        let mut read = vec![0; s.waiter_tasks];
        for f in c.job.rounds::<WaitersFigures>().iter().flatten() {
            read.iter_mut()
                .zip(&f.tasks)
                .for_each(|(sum, t)| *sum += t.recv);
        }
        read.iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let readers = |f: &WaitersFigures| f.burst.iter().map(|b| b.task).collect::<BTreeSet<_>>();
    let columns: [Column<WaitersFigures>; 4] = [
        ("woken/datagram", &|c| {
            c.num(|f| f.woken_per_datagram(), 1.0)
        }),
        ("read, by task", &read),
        ("burst: readers", &|c| c.count(|f| readers(f).len() as f64)),
        ("last read ms", &|c| c.num(|f| f.burst_last_ms(), 1.0)),
    ];
    let (n, probes, ms) = (s.waiter_tasks, s.waiter_probes, s.waiter_work_ms);
    let title = format!(
        "udp-waiters: {n} tasks on one socket; {probes} datagrams one at a time to the idle \
         tasks, then {n} at once to tasks that work {ms} ms on each"
    );
    family_table(&title, jobs, &columns)
}
