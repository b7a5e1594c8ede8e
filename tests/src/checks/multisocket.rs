//! Checks of the multi-socket programs (multisocket-join, multisocket-spawn,
//! multisocket-futuresunordered): N UDP sockets, one future per socket, a `recv … at
//! LOCAL` line per datagram and a `poll future #i` line per poll of future i.
//!
//! The poll lines are the lesson: how many per-socket futures one datagram makes the
//! program poll. That is measured, one datagram at a time, and compared with the
//! documented pattern of the composition the program declares in its `Cargo.toml`
//! (`polls = "every" | "every-up-to-30" | "woken"`) at that number of sockets
//! ([`POLL_PATTERNS`]): data, not an `if` in a check.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use nix::sys::signal::Signal;
use shared::event::Event;

use crate::check::{Check, Ctx, Outcome};
use crate::checks::common;
use harness::process::{run_to_end, Running};
use harness::Polls;

use crate::measure::polls;

/// How many of its per-socket futures a program polls for one datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Polled {
    /// Every future, whichever socket the datagram arrived on.
    Every,
    /// Only the future of the socket that received the datagram.
    OnlyTarget,
}

impl fmt::Display for Polled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Polled::Every => "every future",
            Polled::OnlyTarget => "only the target's future",
        })
    }
}

/// The documented poll pattern of each composition a program may declare
/// (`[package.metadata.study] polls = …`): (composition, up to this many sockets,
/// pattern, why). The first row whose bound holds applies.
pub const POLL_PATTERNS: &[(Polls, usize, Polled, &str)] = &[
    (
        Polls::Every,
        usize::MAX,
        Polled::Every,
        "one task joins every future (futures 0.1 join_all, no size threshold): whichever \
         socket woke it, the task polls them all",
    ),
    (
        Polls::EveryUpTo30,
        30,
        Polled::Every,
        "futures 0.3 (try_)join_all polls every future while there are at most 30 \
         (futures-util's join_all::SMALL)",
    ),
    (
        Polls::EveryUpTo30,
        usize::MAX,
        Polled::OnlyTarget,
        "above 30 futures 0.3 (try_)join_all runs a FuturesOrdered: one waker per future",
    ),
    (
        Polls::Woken,
        usize::MAX,
        Polled::OnlyTarget,
        "each future has a waker (0.3) or notify handle (0.1) of its own: a task per \
         socket, or FuturesUnordered",
    ),
];

/// The documented pattern for a program of composition `polls` with `sockets` sockets.
pub fn poll_pattern(polls: Polls, sockets: usize) -> (Polled, &'static str) {
    POLL_PATTERNS
        .iter()
        .find(|(p, up_to, _, _)| *p == polls && sockets <= *up_to)
        .map(|(_, _, polled, why)| (*polled, *why))
        .unwrap_or((Polled::Every, "no documented pattern"))
}

const COMMON_HEAD: [Check; 5] = [
    crate::check!("help", common::help),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("bad-address", common::bad_address),
    crate::check!("port-in-use", common::udp_port_in_use),
    crate::check!("sockets-past-the-last-port", sockets_past_the_last_port),
];

const COMMON_TAIL: [Check; 6] = [
    crate::check!("consecutive-ports", consecutive_ports),
    crate::check!("one-recv-per-datagram", one_recv_per_datagram),
    crate::check!("polls-at-10-sockets", |ctx| polls(ctx, 10)),
    crate::check!("polls-at-40-sockets", |ctx| polls(ctx, 40)),
    crate::check!("sigterm", |ctx| signal_check(ctx, Signal::SIGTERM)),
    crate::check!("sigint", |ctx| signal_check(ctx, Signal::SIGINT)),
];

const ERA_PURITY: Check = crate::check!("era-purity", common::era_purity);

/// The checks of every multi-socket program, with both sides of futures 0.3's
/// `join_all` threshold (30 futures polled all at once, 31 through `FuturesOrdered`).
pub const CHECKS: &[Check] = &[
    COMMON_HEAD[0],
    COMMON_HEAD[1],
    COMMON_HEAD[2],
    COMMON_HEAD[3],
    COMMON_HEAD[4],
    COMMON_TAIL[0],
    COMMON_TAIL[1],
    COMMON_TAIL[2],
    crate::check!("polls-at-30-sockets", |ctx| polls(ctx, 30)),
    crate::check!("polls-at-31-sockets", |ctx| polls(ctx, 31)),
    COMMON_TAIL[3],
    COMMON_TAIL[4],
    COMMON_TAIL[5],
    ERA_PURITY,
];

const RECV_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);
/// A program has finished reacting to a datagram once it has printed nothing for this
/// long. Its lines for one datagram are printed by one poll of one task, microseconds
/// apart; this is only the margin for a loaded machine.
const QUIET: Duration = Duration::from_millis(200);
/// Datagrams sent one at a time to measure the poll pattern.
const PROBES: usize = 5;

fn start(ctx: &Ctx, sockets: usize) -> Result<(Running, Vec<SocketAddr>)> {
    let n = sockets.to_string();
    Running::server(
        ctx.exe,
        &["--bind", "127.0.0.1:0", "--sockets", &n],
        None,
        sockets,
    )
}

fn client() -> Result<UdpSocket> {
    UdpSocket::bind("127.0.0.1:0").context("client bind")
}

/// Which pattern a set of polls for a datagram to socket `target` of `sockets` shows.
fn classify(polls: &[usize], target: usize, sockets: usize) -> Option<Polled> {
    let distinct: BTreeSet<usize> = polls.iter().copied().collect();
    if polls.len() == sockets && distinct.len() == sockets && distinct.iter().all(|i| *i < sockets)
    {
        Some(Polled::Every)
    } else if polls == [target] {
        Some(Polled::OnlyTarget)
    } else {
        None
    }
}

/// Sends [`PROBES`] datagrams one at a time to different sockets and, for each,
/// counts the `poll future` lines it caused; compares with [`POLL_PATTERNS`].
fn polls(ctx: &Ctx, sockets: usize) -> Outcome {
    let (expected, why) = poll_pattern(ctx.program.polls()?, sockets);
    let targets = [sockets - 1, 0, sockets / 2, 1, sockets - 2];
    let probes = polls::probe(ctx.exe, sockets, &targets[..PROBES], QUIET)?;
    for p in &probes {
        let pattern = classify(&p.polls, p.target, sockets);
        ensure!(
            pattern == Some(expected),
            "{sockets} sockets, datagram to socket #{}: polled {} future(s) {:?}, which is \
             {}; expected {expected} ({why})",
            p.target,
            p.polls.len(),
            p.polls,
            pattern.map_or(
                "neither every future nor only the target".to_string(),
                |p| p.to_string()
            ),
        );
    }
    let measured: Vec<String> = probes.iter().map(|p| p.polls.len().to_string()).collect();
    Ok(format!(
        "{sockets} sockets: measured {} polls for datagrams to sockets {:?} ({}); \
         expected {expected}: {why}",
        measured.join(", "),
        &targets[..PROBES],
        match expected {
            Polled::Every => format!("every future, {sockets} each"),
            Polled::OnlyTarget => "only the target's future, 1 each".to_string(),
        }
    ))
}

/// More sockets than ports remain (or than any port range holds) is bad input: exit
/// 2 and one line, like any other bad value.
fn sockets_past_the_last_port(ctx: &Ctx) -> Outcome {
    let mut lines = Vec::new();
    for args in [
        &["--sockets", "100000"][..],
        &["--bind", "127.0.0.1:65530", "--sockets", "10"],
    ] {
        let (status, _, stderr) = run_to_end(ctx.exe, args, EXIT_TIMEOUT)?;
        ensure!(
            status.code() == Some(2),
            "{args:?}: exit status {status}, expected 2"
        );
        let line = common::one_line_error(&stderr)?;
        ensure!(line.ends_with("(try --help)"), "{args:?}: {line}");
        lines.push(line);
    }
    Ok(format!("exit 2: {}", lines.join(" / ")))
}

/// Every datagram to socket k gives exactly one `recv` line, naming socket k's
/// address, the client and the length.
fn one_recv_per_datagram(ctx: &Ctx) -> Outcome {
    const SOCKETS: usize = 10;
    let (mut run, addrs) = start(ctx, SOCKETS)?;
    let distinct: BTreeSet<SocketAddr> = addrs.iter().copied().collect();
    ensure!(
        distinct.len() == SOCKETS,
        "listening addresses are not distinct: {addrs:?}"
    );
    let sock = client()?;
    let me = sock.local_addr()?;
    // Two rounds over the sockets, in an order that is not the sockets' own; each
    // datagram's length names its socket and round.
    let order = [3, 7, 0, 9, 5, 1, 8, 2, 6, 4];
    let mut sent = Vec::new();
    for round in 0..2 {
        for &k in &order {
            let len = 1 + k + round * SOCKETS;
            sock.send_to(&vec![b'x'; len], addrs[k])?;
            sent.push((len, k));
        }
    }
    let total = sent.len();
    run.wait_until(RECV_TIMEOUT, |lines| {
        lines
            .iter()
            .filter(|l| matches!(l.event(), Ok(Event::Recv { .. })))
            .count()
            >= total
    })?;
    let counts = stop(&mut run, Signal::SIGTERM)?;
    let mut got: Vec<(usize, usize)> = Vec::new();
    for e in run.events()? {
        if let Event::Recv { len, from, at } = e {
            ensure!(from == me, "recv line names peer {from}, not {me}");
            let Some(at) = at else {
                bail!("recv line without `at LOCAL`: {len} bytes from {from}")
            };
            let k = addrs.iter().position(|a| *a == at).with_context(|| {
                format!("recv line names {at}, which is not a listening socket")
            })?;
            got.push((len, k));
        }
    }
    got.sort();
    sent.sort();
    ensure!(
        got == sent,
        "(length, socket) of the recv lines {got:?} differ from what was sent {sent:?}"
    );
    ensure!(
        counts == total as u64,
        "summary recv={counts}, but {total} datagrams were sent and reported"
    );
    Ok(format!(
        "{total} datagrams over {SOCKETS} sockets: one recv line each, naming its socket; summary recv={counts}"
    ))
}

/// `--bind 127.0.0.1:P --sockets 3` listens on P, P+1, P+2 in that order; with P+1
/// taken, the program refuses to start and names P+1.
fn consecutive_ports(ctx: &Ctx) -> Outcome {
    // Find three free consecutive ports; another process may take one in between,
    // so try a few times.
    let mut last_error = String::new();
    for _ in 0..5 {
        let port = UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port();
        if port > u16::MAX - 2 {
            continue;
        }
        let free = (0..3).all(|i| UdpSocket::bind(("127.0.0.1", port + i)).is_ok());
        if !free {
            continue;
        }
        let bind = format!("127.0.0.1:{port}");
        match Running::server(ctx.exe, &["--bind", &bind, "--sockets", "3"], None, 3) {
            Ok((mut run, addrs)) => {
                let ports: Vec<u16> = addrs.iter().map(SocketAddr::port).collect();
                ensure!(
                    ports == [port, port + 1, port + 2],
                    "--bind {bind} --sockets 3 listened on ports {ports:?}"
                );
                stop(&mut run, Signal::SIGTERM)?;
                // The same run, with the second port taken.
                let taken = UdpSocket::bind(("127.0.0.1", port + 1))
                    .with_context(|| format!("port {} was just free", port + 1))?;
                let (status, stdout, stderr) =
                    run_to_end(ctx.exe, &["--bind", &bind, "--sockets", "3"], EXIT_TIMEOUT)?;
                drop(taken);
                ensure!(
                    !status.success() && status.code().is_some(),
                    "started with port {} taken: {status}",
                    port + 1
                );
                ensure!(
                    !stdout.contains("listening"),
                    "announced sockets although one could not be bound: {stdout:?}"
                );
                let line = common::one_line_error(&stderr)?;
                ensure!(
                    line.contains(&format!(":{}", port + 1)),
                    "error does not name port {}: {line}",
                    port + 1
                );
                return Ok(format!(
                    "listened on {port}, {}, {} in order; with {} taken: {status}, `{line}`",
                    port + 1,
                    port + 2,
                    port + 1
                ));
            }
            Err(e) => last_error = format!("{e:#}"),
        }
    }
    bail!("could not run on three free consecutive ports: {last_error}")
}

/// Stops the program with `sig`; checks exit 0 within 2 s and a last line
/// `summary recv=R` that agrees with the `recv` lines. Returns R.
fn stop(run: &mut Running, sig: Signal) -> Result<u64> {
    let (events, c) = run.stop_with_summary(sig, EXIT_TIMEOUT)?;
    let recv = c
        .get("recv")
        .with_context(|| format!("summary without recv: {c:?}"))?;
    let lines = events
        .iter()
        .filter(|e| matches!(e, Event::Recv { .. }))
        .count() as u64;
    ensure!(recv == lines, "summary recv={recv}, but {lines} recv lines");
    Ok(recv)
}

fn signal_check(ctx: &Ctx, sig: Signal) -> Outcome {
    let (mut run, addrs) = start(ctx, 4)?;
    let sock = client()?;
    for i in 0..12 {
        sock.send_to(b"ping", addrs[i % addrs.len()])?;
    }
    run.wait_until(RECV_TIMEOUT, |lines| {
        lines
            .iter()
            .filter(|l| matches!(l.event(), Ok(Event::Recv { .. })))
            .count()
            >= 12
    })?;
    let t0 = Instant::now();
    let recv = stop(&mut run, sig)?;
    ensure!(recv == 12, "summary recv={recv}, expected 12");
    Ok(format!(
        "exit 0 {:?} after {sig:?}, summary recv=12",
        t0.elapsed()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_classified() {
        assert_eq!(
            classify(&[0, 1, 2, 3], 2, 4),
            Some(Polled::Every),
            "all, once each"
        );
        assert_eq!(classify(&[2], 2, 4), Some(Polled::OnlyTarget));
        assert_eq!(classify(&[1], 2, 4), None, "the wrong future");
        assert_eq!(classify(&[2, 2], 2, 4), None, "polled twice");
        assert_eq!(classify(&[0, 1, 2, 2], 2, 4), None, "one missing");
        assert_eq!(classify(&[], 2, 4), None);
    }

    #[test]
    fn every_composition_has_a_pattern_at_every_size() {
        for polls in [Polls::Every, Polls::EveryUpTo30, Polls::Woken] {
            for n in [1, 10, 30, 31, 40, 1000] {
                assert_ne!(poll_pattern(polls, n).1, "no documented pattern");
            }
        }
        assert_eq!(poll_pattern(Polls::EveryUpTo30, 30).0, Polled::Every);
        assert_eq!(poll_pattern(Polls::EveryUpTo30, 31).0, Polled::OnlyTarget);
        assert_eq!(poll_pattern(Polls::Every, 1000).0, Polled::Every);
        assert_eq!(poll_pattern(Polls::Woken, 10).0, Polled::OnlyTarget);
    }
}
