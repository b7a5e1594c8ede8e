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

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use harness::declared::Woken;
use harness::process::{run_to_end, Line, Running};
use nix::sys::signal::Signal;
use shared::event::Event;

use crate::check::{Check, Ctx, Outcome};
use crate::checks::common;

pub const CHECKS: &[Check] = &[
    Check {
        name: "help",
        run: common::help,
    },
    Check {
        name: "unknown-flag",
        run: common::unknown_flag,
    },
    Check {
        name: "bad-address",
        run: common::bad_address,
    },
    Check {
        name: "bad-task-count",
        run: bad_task_count,
    },
    Check {
        name: "port-in-use",
        run: common::udp_port_in_use,
    },
    Check {
        name: "wakeups-per-datagram",
        run: wakeups_per_datagram,
    },
    Check {
        name: "burst-spread-over-tasks",
        run: burst_spread_over_tasks,
    },
    Check {
        name: "no-datagram-waits-while-a-task-sleeps",
        run: no_datagram_waits_while_a_task_sleeps,
    },
    Check {
        name: "sigterm",
        run: sigterm,
    },
    Check {
        name: "era-purity",
        run: common::era_purity,
    },
];

const TASKS: usize = 4;
const START_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Datagrams sent one at a time to count wake-ups.
const PROBES: usize = 20;
/// The program has finished reacting to a datagram once it printed nothing for this
/// long: the lines of one datagram come from one turn of the event loop, microseconds
/// apart; this is the margin for a loaded machine.
const QUIET: Duration = Duration::from_millis(50);
/// How long each datagram keeps its task busy in the burst checks.
const WORK: Duration = Duration::from_millis(600);
/// A datagram of the burst is read "at once" when its line arrives within this of the
/// burst: half of WORK, and far above what the modern flavor takes (measured 3–30 ms,
/// at load 12 on two cores).
const AT_ONCE: Duration = Duration::from_millis(300);

fn start(ctx: &Ctx, work: Duration) -> Result<(Running, SocketAddr)> {
    let tasks = TASKS.to_string();
    let work = work.as_millis().to_string();
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--tasks",
        &tasks,
        "--work-ms",
        &work,
    ];
    let (mut run, addrs) = Running::server(ctx.exe, &args, None, 1)?;
    // Start-up: every task is polled once before anything arrives.
    run.wait_until(START_TIMEOUT, |lines| woken_tasks(lines).len() == TASKS)
        .with_context(|| format!("not every task was polled at start-up: {}", run.stderr()))?;
    settle(&mut run)?;
    Ok((run, addrs[0]))
}

fn woken_tasks(lines: &[Line]) -> BTreeSet<usize> {
    lines
        .iter()
        .filter_map(|l| match l.event() {
            Ok(Event::TaskWoken { task }) => Some(task),
            _ => None,
        })
        .collect()
}

/// Reads lines until none has arrived for [`QUIET`].
fn settle(run: &mut Running) -> Result<()> {
    let limit = Instant::now() + START_TIMEOUT;
    while run.next_line(QUIET).is_ok() {
        ensure!(
            Instant::now() < limit,
            "still printing {START_TIMEOUT:?} later"
        );
    }
    Ok(())
}

/// The `task #i recv` lines among `lines`: (task, when the suite read the line).
fn receipts(lines: &[Line]) -> Vec<(usize, Instant)> {
    lines
        .iter()
        .filter_map(|l| match l.event() {
            Ok(Event::TaskRecv { task, .. }) => Some((task, l.at)),
            _ => None,
        })
        .collect()
}

fn bad_task_count(ctx: &Ctx) -> Outcome {
    let (status, _, stderr) = run_to_end(ctx.exe, &["--tasks", "0"], Duration::from_secs(5))?;
    ensure!(status.code() == Some(2), "{status}, expected 2");
    Ok(format!(
        "--tasks 0: exit 2: {}",
        common::one_line_error(&stderr)?
    ))
}

/// Per task: wake-ups after start-up, and datagrams read.
#[derive(Debug, Default, Clone, Copy)]
struct PerTask {
    woken: usize,
    recv: usize,
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
    let (mut run, server) = start(ctx, Duration::ZERO)?;
    let first = run.seen.len();
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    for i in 0..PROBES {
        sock.send_to(format!("probe {i}").as_bytes(), server)?;
        run.wait_until(START_TIMEOUT, |lines| receipts(&lines[first..]).len() > i)
            .with_context(|| format!("no `recv` line for datagram {i}"))?;
        settle(&mut run)?;
    }
    let mut per_task: BTreeMap<usize, PerTask> =
        (0..TASKS).map(|t| (t, PerTask::default())).collect();
    for line in &run.seen[first..] {
        match line.event()? {
            Event::TaskWoken { task } => per_task.entry(task).or_default().woken += 1,
            Event::TaskRecv { task, .. } => per_task.entry(task).or_default().recv += 1,
            other => bail!("unexpected line `{other}`"),
        }
    }
    ensure!(
        per_task.len() == TASKS,
        "lines name tasks {:?}, expected #0 to #{}",
        per_task.keys().collect::<Vec<_>>(),
        TASKS - 1
    );
    let rate = |n: usize| n as f64 / PROBES as f64;
    let figures = per_task
        .iter()
        .map(|(t, c)| format!("#{t} {:.2} ({} read)", rate(c.woken), c.recv))
        .collect::<Vec<_>>()
        .join(", ");
    let total_recv: usize = per_task.values().map(|c| c.recv).sum();
    ensure!(
        total_recv == PROBES,
        "{total_recv} `recv` lines for {PROBES} datagrams"
    );
    // About once per datagram: a margin for a datagram that arrives while the herd of
    // the previous one is still being polled on a loaded machine.
    let once_each = |n: usize| (0.75..=1.25).contains(&rate(n));
    let observed = {
        let woken: Vec<&PerTask> = per_task.values().filter(|c| c.woken > 0).collect();
        if per_task.values().all(|c| once_each(c.woken)) {
            Some(Woken::EveryTask)
        } else if woken.len() == 1 && once_each(woken[0].woken) && woken[0].recv == PROBES {
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
    run.signal(Signal::SIGTERM)?;
    run.wait_exit(EXIT_TIMEOUT)?;
    Ok(format!(
        "{PROBES} datagrams one at a time to {TASKS} idle tasks; wake-ups per datagram per \
         task: {figures}: {expected}, as documented: {why}"
    ))
}

/// Sends [`TASKS`] datagrams at once to [`TASKS`] idle tasks, each kept busy [`WORK`]
/// by a datagram; returns the receipts (task, delay after the burst) in order, waiting
/// until all have arrived or long enough for one task to have served them all.
fn burst(ctx: &Ctx) -> Result<(Vec<(usize, Duration)>, Running)> {
    let (mut run, server) = start(ctx, WORK)?;
    let first = run.seen.len();
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    let sent = Instant::now();
    for i in 0..TASKS {
        sock.send_to(format!("burst {i}").as_bytes(), server)?;
    }
    let serial = WORK * TASKS as u32 + START_TIMEOUT;
    // A program that serves them one by one still gets to the last: wait for it.
    let _ = run.wait_until(serial, |lines| receipts(&lines[first..]).len() >= TASKS);
    let got = receipts(&run.seen[first..])
        .into_iter()
        .map(|(task, at)| (task, at.saturating_duration_since(sent)))
        .collect();
    Ok((got, run))
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
    let (got, mut run) = burst(ctx)?;
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
    run.signal(Signal::SIGTERM)?;
    run.wait_exit(EXIT_TIMEOUT)?;
    Ok(format!(
        "{TASKS} datagrams at once, each keeping its task busy {} ms: {}",
        WORK.as_millis(),
        describe(&got)
    ))
}

/// No datagram of the burst waits in the socket buffer while an idle task could read
/// it: every one is read within [`AT_ONCE`] of the burst.
fn no_datagram_waits_while_a_task_sleeps(ctx: &Ctx) -> Outcome {
    let (got, mut run) = burst(ctx)?;
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
    run.signal(Signal::SIGTERM)?;
    run.wait_exit(EXIT_TIMEOUT)?;
    Ok(format!(
        "{TASKS} datagrams at once to {TASKS} idle tasks all read within {} ms: {}",
        AT_ONCE.as_millis(),
        describe(&got)
    ))
}

/// SIGTERM: exit 0 and a summary that agrees with the lines.
fn sigterm(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, Duration::ZERO)?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    for i in 0..10 {
        sock.send_to(format!("datagram {i}").as_bytes(), server)?;
    }
    run.wait_until(START_TIMEOUT, |lines| receipts(lines).len() >= 10)?;
    run.signal(Signal::SIGTERM)?;
    let status = run.wait_exit(EXIT_TIMEOUT)?;
    ensure!(status.success(), "{status}: {}", run.stderr());
    let events = run.events()?;
    let Some(Event::Summary(c)) = events.last() else {
        bail!("last line is not a summary: {:?}", events.last());
    };
    let woken = events
        .iter()
        .filter(|e| matches!(e, Event::TaskWoken { .. }))
        .count() as u64;
    let recv = receipts(&run.seen).len() as u64;
    ensure!(
        (c.get("recv"), c.get("woken")) == (Some(recv), Some(woken)),
        "summary {c:?}, but the lines count recv={recv} woken={woken}"
    );
    Ok(format!(
        "exit 0, summary recv={recv} woken={woken} agrees with the lines"
    ))
}
