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

use std::net::UdpSocket;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use harness::declared::FloodOutcome;
use harness::process::{run_to_end, Running};
use nix::sys::signal::Signal;
use shared::cli::ReadLoop;
use shared::event::{Counts, Event};

use crate::check::{Check, Ctx, Outcome};
use crate::checks::common;
use crate::measure::coop;

pub const CHECKS: &[Check] = &[
    crate::check!("help", common::help),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("bad-address", common::bad_address),
    crate::check!("bad-loop", bad_loop),
    crate::check!("port-in-use", common::udp_port_in_use),
    crate::check!("flood-loop-recv", |ctx| flood_check(ctx, ReadLoop::Recv)),
    crate::check!("flood-loop-ready", |ctx| flood_check(ctx, ReadLoop::Ready)),
    crate::check!("flood-loop-fixed", |ctx| flood_check(ctx, ReadLoop::Fixed)),
    crate::check!("sigterm", sigterm),
    crate::check!("era-purity", common::era_purity),
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
    let f = coop::flood(ctx.exe, read_loop)?;
    let (recv, most, most_between) = (f.recv, f.most_per_poll, f.most_between_ticks);
    let worst = Duration::from_micros(f.worst_late_us);
    let flood_time = Duration::from_secs_f64(f.flood_ms / 1e3);
    let figures = format!(
        "{} datagrams in {} ms, {recv} read at {} µs each; most in one poll {most}, \
         most between two ticks {most_between}, ticker late by at most {} ms",
        f.sent,
        flood_time.as_millis(),
        coop::COST.as_micros(),
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

/// SIGTERM: exit 0 and a summary that agrees with the lines.
fn sigterm(ctx: &Ctx) -> Outcome {
    let (mut run, server) = coop::start(ctx.exe, ReadLoop::Recv)?;
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
