//! Checks of `udp-waiters`: several tasks receiving on one UDP socket, each printing
//! `task #i woken` per poll and `task #i recv …` per datagram it reads.
//!
//! The lesson is who is woken. tokio-core 0.1 (tokio-reactor 0.1) keeps one task slot
//! per direction of a socket, and a task that waits replaces the one before it; tokio
//! 1 keeps a list of waiters and wakes every one whose interest a readiness event
//! satisfies. Which of those a program shows it declares in its own `Cargo.toml`
//! (`[package.metadata.study.woken]`), measured with datagrams sent one at a time;
//! what it costs (a datagram waiting in the socket's buffer while tasks sleep) is
//! measured with a burst, and documented as an expected failure of the legacy
//! package.

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use harness::declared::Woken;
use harness::process::run_to_end;
use harness::results::bench::TaskCounts;
use nix::sys::signal::Signal;
use shared::event::Event;

use crate::check::{Check, Ctx, Outcome};
use crate::checks::common;
use crate::measure::waiters;

pub const CHECKS: &[Check] = &[
    crate::check!("help", common::help),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("bad-address", common::bad_address),
    crate::check!("bad-task-count", bad_task_count),
    crate::check!("port-in-use", common::udp_port_in_use),
    crate::check!("wakeups-per-datagram", wakeups_per_datagram),
    crate::check!("burst-spread-over-tasks", burst_spread_over_tasks),
    crate::check!(
        "no-datagram-waits-while-a-task-sleeps",
        no_datagram_waits_while_a_task_sleeps
    ),
    crate::check!("sigterm", sigterm),
    crate::check!("era-purity", common::era_purity),
];

const TASKS: usize = 4;
const START_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Datagrams sent one at a time to count wake-ups.
const PROBES: usize = 20;
/// How long each datagram keeps its task busy in the burst checks.
const WORK: Duration = Duration::from_millis(600);
/// A datagram of the burst is read "at once" when its line arrives within this of the
/// burst: half of WORK, and far above what the modern flavor takes (measured 3–30 ms,
/// at load 12 on two cores).
const AT_ONCE: Duration = Duration::from_millis(300);

fn bad_task_count(ctx: &Ctx) -> Outcome {
    let (status, _, stderr) = run_to_end(ctx.exe, &["--tasks", "0"], Duration::from_secs(5))?;
    ensure!(status.code() == Some(2), "{status}, expected 2");
    Ok(format!(
        "--tasks 0: exit 2: {}",
        common::one_line_error(&stderr)?
    ))
}

/// Sends [`PROBES`] datagrams one at a time to [`TASKS`] idle tasks (`--work-ms 0`)
/// and counts, per task, the wake-ups and the datagrams read; compares with [`WOKEN`].
fn wakeups_per_datagram(ctx: &Ctx) -> Outcome {
    let documented = ctx.program.declared.woken.as_ref();
    let (expected, why) = documented
        .map(|d| (d.expect, d.why.as_str()))
        .with_context(|| {
            format!(
                "{} documents no wake-up pattern: declare [package.metadata.study.woken] \
                 in its Cargo.toml",
                ctx.program.package
            )
        })?;
    let per_task: Vec<TaskCounts> = waiters::probes(ctx.exe, TASKS, PROBES)?;
    let rate = |n: usize| n as f64 / PROBES as f64;
    let figures = (per_task.iter().enumerate())
        .map(|(t, c)| format!("#{t} {:.2} ({} read)", rate(c.woken as usize), c.recv))
        .collect::<Vec<_>>()
        .join(", ");
    let total_recv = per_task.iter().map(|c| c.recv).sum::<u64>() as usize;
    ensure!(
        total_recv == PROBES,
        "{total_recv} `recv` lines for {PROBES} datagrams"
    );
    // About once per datagram: a margin for a datagram that arrives while the herd of
    // the previous one is still being polled on a loaded machine.
    let once_each = |n: u64| (0.75..=1.25).contains(&rate(n as usize));
    let observed = {
        let woken: Vec<&TaskCounts> = per_task.iter().filter(|c| c.woken > 0).collect();
        if per_task.iter().all(|c| once_each(c.woken)) {
            Some(Woken::EveryTask)
        } else if woken.len() == 1 && once_each(woken[0].woken) && woken[0].recv == PROBES as u64 {
            Some(Woken::OneTask)
        } else {
            None
        }
    };
    ensure!(
        observed == Some(expected),
        "{PROBES} datagrams one at a time to {TASKS} idle tasks; wake-ups per datagram per \
         task: {figures}: {}; expected {expected} ({why})",
        observed.map_or("neither pattern".to_string(), |w| w.to_string()),
    );
    Ok(format!(
        "{PROBES} datagrams one at a time to {TASKS} idle tasks; wake-ups per datagram per \
         task: {figures}: {expected}, as documented: {why}"
    ))
}

/// The burst of the two burst checks: [`TASKS`] datagrams at once to [`TASKS`] idle
/// tasks, each kept busy [`WORK`] by a datagram; (task, delay) in the order read.
fn burst(ctx: &Ctx) -> Result<Vec<(usize, Duration)>> {
    let reads = waiters::burst(ctx.exe, TASKS, WORK)?;
    let delay = |ms: f64| Duration::from_secs_f64(ms / 1e3);
    Ok(reads.iter().map(|r| (r.task, delay(r.after_ms))).collect())
}

fn describe(receipts: &[(usize, Duration)]) -> String {
    receipts
        .iter()
        .map(|(t, d)| format!("task #{t} after {} ms", d.as_millis()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A burst of [`TASKS`] datagrams to [`TASKS`] idle tasks is spread over all of them,
/// one datagram each.
fn burst_spread_over_tasks(ctx: &Ctx) -> Outcome {
    let got = burst(ctx)?;
    ensure!(
        got.len() == TASKS,
        "{} of {TASKS} datagrams read: {}",
        got.len(),
        describe(&got)
    );
    let tasks: BTreeSet<usize> = got.iter().map(|(t, _)| *t).collect();
    ensure!(
        tasks.len() == TASKS,
        "{TASKS} datagrams at once to {TASKS} idle tasks were read by {} task(s): {}",
        tasks.len(),
        describe(&got)
    );
    Ok(format!(
        "{TASKS} datagrams at once, each keeping its task busy {} ms: {}",
        WORK.as_millis(),
        describe(&got)
    ))
}

/// No datagram of the burst waits in the socket buffer while an idle task could read
/// it: every one is read within [`AT_ONCE`] of the burst.
fn no_datagram_waits_while_a_task_sleeps(ctx: &Ctx) -> Outcome {
    let got = burst(ctx)?;
    let readers: BTreeSet<usize> = got.iter().map(|(t, _)| *t).collect();
    let idle: Vec<String> = (0..TASKS)
        .filter(|t| !readers.contains(t))
        .map(|t| format!("#{t}"))
        .collect();
    ensure!(
        got.len() == TASKS,
        "only {} of {TASKS} datagrams read ({}) while task(s) {} slept",
        got.len(),
        describe(&got),
        idle.join(", ")
    );
    let late: Vec<&(usize, Duration)> = got.iter().filter(|(_, d)| *d > AT_ONCE).collect();
    ensure!(
        late.is_empty(),
        "{} of {TASKS} datagrams waited more than {} ms although {TASKS} tasks were idle when \
         they arrived: {}{}",
        late.len(),
        AT_ONCE.as_millis(),
        describe(&got),
        match idle.is_empty() {
            true => String::new(),
            false => format!("; task(s) {} never woke", idle.join(", ")),
        }
    );
    Ok(format!(
        "{TASKS} datagrams at once to {TASKS} idle tasks all read within {} ms: {}",
        AT_ONCE.as_millis(),
        describe(&got)
    ))
}

/// SIGTERM: exit 0 and a summary that agrees with the lines.
fn sigterm(ctx: &Ctx) -> Outcome {
    let (mut run, server) = waiters::start(ctx.exe, TASKS, Duration::ZERO)?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    for i in 0..10 {
        sock.send_to(format!("datagram {i}").as_bytes(), server)?;
    }
    run.wait_until(START_TIMEOUT, |lines| waiters::receipts(lines).len() >= 10)?;
    let (events, c) = run.stop_with_summary(Signal::SIGTERM, EXIT_TIMEOUT)?;
    let woken = events
        .iter()
        .filter(|e| matches!(e, Event::TaskWoken { .. }))
        .count() as u64;
    let recv = waiters::receipts(&run.seen).len() as u64;
    ensure!(
        (c.get("recv"), c.get("woken")) == (Some(recv), Some(woken)),
        "summary {c:?}, but the lines count recv={recv} woken={woken}"
    );
    Ok(format!(
        "exit 0, summary recv={recv} woken={woken} agrees with the lines"
    ))
}
