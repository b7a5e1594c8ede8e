//! Checks of `coop-budget`: a reader of a flooded UDP socket and a ticker on one
//! thread. The program prints `read N datagrams in one poll` each time the reader
//! gives the thread back, `tick N late US us` per tick, and the worst of both in its
//! summary.
//!
//! Under a flood, whether the reader gives the thread back depends on the era and on
//! the loop (`--loop recv|ready|fixed`): tokio 1's `recv_from().await` spends the
//! cooperative budget and yields, `ready()` + `try_recv_from` spend none and starve
//! the ticker, `consume_budget()` fixes that; tokio-core has no budget, so only a
//! hand-made one helps. The expected outcome per loop is declared by each program in
//! its own `Cargo.toml` (`[package.metadata.study.under-flood.LOOP]`), with thresholds chosen for a loaded two-core machine (see the
//! constants below for what was measured).

use std::net::{SocketAddr, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use harness::declared::FloodOutcome;
use harness::process::{run_to_end, Running};
use nix::sys::signal::Signal;
use shared::cli::ReadLoop;
use shared::event::{Counts, Event};

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
        name: "bad-loop",
        run: bad_loop,
    },
    Check {
        name: "port-in-use",
        run: common::udp_port_in_use,
    },
    Check {
        name: "flood-loop-recv",
        run: flood_recv,
    },
    Check {
        name: "flood-loop-ready",
        run: flood_ready,
    },
    Check {
        name: "flood-loop-fixed",
        run: flood_fixed,
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

/// What a flood does to the ticker, in words, for the messages.
fn describe(outcome: FloodOutcome) -> String {
    match outcome {
        FloodOutcome::Yields => format!(
            "yields once {BUDGET} datagrams are read in a poll, the ticker runs after every \
             poll or two (at most {} datagrams between two ticks) and is late by at most {} ms",
            3 * BUDGET,
            ON_TIME.as_millis()
        ),
        FloodOutcome::Starves => format!(
            "starves the ticker: more than {BUDGET} datagrams in one poll, ticker late by at \
             least {:.0}% of the flood",
            STARVED_SHARE * 100.0
        ),
    }
}

/// tokio 1's budget per poll of a task, in units (tokio/src/task/coop: `Budget::initial`),
/// and the legacy program's own `BUDGET`, the same on purpose: a reader that yields
/// reads exactly this many datagrams in its longest poll.
const BUDGET: u64 = 128;

/// The flood: [`FLOOD_RATE`] datagrams/s for [`FLOOD_TIME`], sent in bursts that
/// catch up with the clock (a sender descheduled for a while refills the socket at
/// once), at most [`FLOOD_MAX`] in all. Five times what the reader can read at
/// [`COST`] each, yet the sender sleeps between bursts: the machine keeps a CPU for
/// the server and for the other checks.
const FLOOD_TIME: Duration = Duration::from_millis(1500);
const FLOOD_RATE: u64 = 20_000;
const FLOOD_MAX: u64 = 40_000;
const FLOOD_LEN: usize = 32;
/// Longest burst: a little more than a default receive buffer holds (about 256
/// small datagrams); the kernel drops the rest anyway.
const BURST_MAX: u64 = 400;
/// `--cost-us`: CPU each datagram costs the reader. It makes the reader surely slower
/// than the flood, and makes a full receive buffer (about 256 small datagrams) last
/// the reader 64 ms, so that the socket does not run dry whenever the sender waits
/// for a CPU on a loaded machine. A budget's worth (128 × COST = 32 ms) stays well
/// below what counts as late.
const COST: Duration = Duration::from_micros(250);
/// Worst ticker lateness that still counts as on time. Measured: tens of ms on a
/// quiet machine (about one budget's worth of datagrams, 32 ms), 140–630 ms with
/// other builds loading the machine (load 19 on two cores: the ticker waits for a
/// CPU, not for the reader). What does not depend on the load is checked in
/// datagrams: at most three polls' worth between two ticks.
const ON_TIME: Duration = Duration::from_millis(1000);
/// Least lateness of a starved ticker, as a share of the flood. Measured: the whole
/// flood or more (1.6–2.2 s for a 1.5 s flood at load 19); a sender kept off the CPU
/// longer than the reader takes to empty a full buffer would split the stall.
const STARVED_SHARE: f64 = 0.6;
/// A check only means something if the reader read more than a budget's worth in
/// all: fewer, and no loop could have shown whether it yields at the budget.
const LEAST_READ: u64 = 2 * BUDGET;
const START_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

fn bad_loop(ctx: &Ctx) -> Outcome {
    let (status, _, stderr) = run_to_end(ctx.exe, &["--loop", "spin"], Duration::from_secs(5))?;
    ensure!(status.code() == Some(2), "{status}, expected 2");
    Ok(format!(
        "--loop spin: exit 2: {}",
        common::one_line_error(&stderr)?
    ))
}

fn ticks(lines: &[harness::process::Line]) -> usize {
    lines
        .iter()
        .filter(|l| matches!(l.event(), Ok(Event::TickLate { .. })))
        .count()
}

fn start(ctx: &Ctx, read_loop: ReadLoop) -> Result<(Running, SocketAddr)> {
    let cost = COST.as_micros().to_string();
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--loop",
        read_loop.as_str(),
        "--cost-us",
        &cost,
    ];
    let (mut run, addrs) = Running::server(ctx.exe, &args, None, 1)?;
    // The ticker is running before the flood starts.
    run.wait_until(START_TIMEOUT, |lines| ticks(lines) >= 2)
        .with_context(|| format!("no tick lines: {}", run.stderr()))?;
    Ok((run, addrs[0]))
}

/// Floods `server` (see [`FLOOD_RATE`]); returns the datagrams sent. On loopback a
/// send to a full receive buffer is dropped, not refused.
fn flood(server: SocketAddr) -> Result<u64> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(server)?;
    let payload = [0x42u8; FLOOD_LEN];
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < FLOOD_TIME && sent < FLOOD_MAX {
        let due = (start.elapsed().as_secs_f64() * FLOOD_RATE as f64) as u64;
        let burst = due.saturating_sub(sent).min(BURST_MAX);
        for _ in 0..burst {
            match sock.send(&payload) {
                // ECONNREFUSED would mean the server is gone; anything else
                // (ENOBUFS) is the flood outrunning the kernel, and counts as sent.
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    bail!("the server's port refused the flood: {e}")
                }
                _ => sent += 1,
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    Ok(sent)
}

fn summary(run: &Running) -> Result<Counts> {
    match run.events()?.last() {
        Some(Event::Summary(c)) => Ok(c.clone()),
        other => bail!("last line is not a summary: {other:?}"),
    }
}

fn flood_check(ctx: &Ctx, read_loop: ReadLoop) -> Outcome {
    let documented = ctx.program.declared.under_flood.get(read_loop.as_str());
    let (expected, why) = documented
        .map(|d| (d.expect, d.why.as_str()))
        .with_context(|| {
            format!(
                "{} documents no outcome for --loop {read_loop}: declare \
                 [package.metadata.study.under-flood.{read_loop}] in its Cargo.toml",
                ctx.program.package
            )
        })?;
    let (mut run, server) = start(ctx, read_loop)?;
    let started = Instant::now();
    let sent = flood(server)?;
    let flood_time = started.elapsed();
    // After the flood the ticker runs again, whatever it went through.
    let before = ticks(&run.seen);
    run.wait_until(START_TIMEOUT, |lines| ticks(lines) >= before + 2)
        .context("the ticker did not run again after the flood")?;
    run.signal(Signal::SIGTERM)?;
    let status = run.wait_exit(EXIT_TIMEOUT)?;
    ensure!(status.success(), "{status}: {}", run.stderr());
    let c = summary(&run)?;
    let get = |k: &str| {
        c.get(k)
            .with_context(|| format!("summary without {k}: {c:?}"))
    };
    let (recv, most, worst_us) = (get("recv")?, get("most_per_poll")?, get("worst_late_us")?);
    // The summary agrees with the lines.
    let mut line_most = 0;
    let mut line_worst = 0;
    // Datagrams read between two ticks: how much the reader did while the ticker
    // waited, counted in datagrams, so that a machine slow to schedule either task
    // changes nothing.
    let (mut between, mut most_between) = (0, 0);
    for e in run.events()? {
        match e {
            Event::ReadInPoll { datagrams } => {
                line_most = line_most.max(datagrams);
                between += datagrams;
                most_between = most_between.max(between);
            }
            Event::TickLate { late_us, .. } => {
                line_worst = line_worst.max(late_us);
                between = 0;
            }
            _ => {}
        }
    }
    ensure!(
        (line_most, line_worst) == (most, worst_us),
        "summary most_per_poll={most} worst_late_us={worst_us}, but the lines say \
         {line_most} and {line_worst}"
    );
    let worst = Duration::from_micros(worst_us);
    let figures = format!(
        "{sent} datagrams in {} ms, {recv} read at {} µs each; most in one poll {most}, \
         most between two ticks {most_between}, ticker late by at most {} ms",
        flood_time.as_millis(),
        COST.as_micros(),
        worst.as_millis()
    );
    ensure!(
        recv >= LEAST_READ,
        "{figures}: the reader read too little to tell whether it yields at a budget \
         (the machine is too busy for this check)"
    );
    // A reader that yields was stopped by its budget, not by an empty socket: then
    // it read exactly the budget in its longest poll, and the ticker ran after every
    // poll or two (a poll takes longer than the ticker's period). One that does not
    // yield read past any budget, and the ticker waited for a good part of the flood.
    let holds = match expected {
        FloodOutcome::Yields => most == BUDGET && most_between <= 3 * BUDGET && worst <= ON_TIME,
        FloodOutcome::Starves => {
            most > BUDGET && worst.as_secs_f64() >= STARVED_SHARE * flood_time.as_secs_f64()
        }
    };
    ensure!(
        holds,
        "--loop {read_loop}: {figures}; expected: {} ({why})",
        describe(expected)
    );
    Ok(format!(
        "--loop {read_loop}: {figures}: {}, as documented: {why}",
        describe(expected)
    ))
}

fn flood_recv(ctx: &Ctx) -> Outcome {
    flood_check(ctx, ReadLoop::Recv)
}

fn flood_ready(ctx: &Ctx) -> Outcome {
    flood_check(ctx, ReadLoop::Ready)
}

fn flood_fixed(ctx: &Ctx) -> Outcome {
    flood_check(ctx, ReadLoop::Fixed)
}

/// SIGTERM: exit 0 and a summary that agrees with the lines.
fn sigterm(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, ReadLoop::Recv)?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    for _ in 0..10 {
        sock.send_to(b"datagram", server)?;
    }
    run.wait_until(START_TIMEOUT, |lines| {
        lines
            .iter()
            .filter_map(|l| match l.event() {
                Ok(Event::ReadInPoll { datagrams }) => Some(datagrams),
                _ => None,
            })
            .sum::<u64>()
            >= 10
    })
    .context("the 10 datagrams were not all read")?;
    run.signal(Signal::SIGTERM)?;
    let status = run.wait_exit(EXIT_TIMEOUT)?;
    ensure!(status.success(), "{status}: {}", run.stderr());
    let c = summary(&run)?;
    let events = run.events()?;
    let polls = events
        .iter()
        .filter(|e| matches!(e, Event::ReadInPoll { .. }))
        .count() as u64;
    let ticks = events
        .iter()
        .filter(|e| matches!(e, Event::TickLate { .. }))
        .count() as u64;
    ensure!(
        (c.get("recv"), c.get("polls"), c.get("ticks")) == (Some(10), Some(polls), Some(ticks)),
        "summary {c:?}, but the lines count recv=10 polls={polls} ticks={ticks}"
    );
    Ok(format!(
        "exit 0, summary recv=10 polls={polls} ticks={ticks} agrees with the lines"
    ))
}
