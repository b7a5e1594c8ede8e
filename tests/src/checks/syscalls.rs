//! System calls per echo of the UDP echo servers, measured under strace: the wake-up
//! costs the study explains, as checks that fail if they stop being true.
//!
//! Each server runs under `strace -f` while one client on loopback makes [`LOAD`]
//! echoes (the step `cargo xtask trace` runs too: `harness::traced::udp_echo`).
//! Counted per echo, over the calls made while the echoes ran: the reads and writes
//! that returned a datagram (exactly one of each per echo, everywhere), the reads
//! that found the socket empty, `epoll_wait` (how often the program slept to learn
//! what is ready), and `epoll_ctl` (how often it changed what it asked for). The
//! expected figures are data per program and flavor ([`EXPECTED`]), next to the
//! reason, with margins that hold for a dev build (what the suite runs) and a
//! release build, on a loaded machine. Without strace the check is skipped.

use std::fs;
use std::ops::RangeInclusive;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use harness::strace::EPOLL_WAIT;
use harness::traced::{self, find_strace, EchoLoad, Measured};
use harness::{project_root, Flavor};

use crate::check::{Check, Ctx, Outcome, Skipped};

pub const CHECKS: &[Check] = &[Check {
    name: "syscalls-per-echo",
    run: syscalls_per_echo,
}];

/// The workload: 2,000 echoes of 64 bytes, 16 in flight, one client on loopback (the
/// load of `cargo xtask trace`, shorter).
pub const LOAD: EchoLoad = EchoLoad {
    count: 2_000,
    window: 16,
    payload: 64,
    pause: Duration::ZERO,
};

/// A ping-pong: 1,000 echoes one at a time, 1 ms apart, so that the server finds the
/// socket empty and sleeps after every echo even under strace (which slows it more
/// than the client): the case where level- and edge-triggered registrations differ.
pub const PING_PONG: EchoLoad = EchoLoad {
    count: 1_000,
    window: 1,
    payload: 64,
    pause: Duration::from_millis(1),
};

/// How `epoll_ctl` calls are counted.
#[derive(Debug, Clone, PartialEq)]
pub enum Ctl {
    /// Per echo.
    PerEcho(RangeInclusive<f64>),
    /// Per turn of the event loop (per `epoll_wait`).
    PerTurn(RangeInclusive<f64>),
}

/// How a program moves datagrams.
#[derive(Debug, Clone, PartialEq)]
pub enum Io {
    /// One call reads a datagram and one sends its echo: exactly one of each returns
    /// data per echo.
    OnePerEcho {
        recv: &'static str,
        send: &'static str,
    },
    /// Calls that each move many datagrams (`recvmmsg`, GSO `sendmsg`, one
    /// `io_uring_enter` completing several operations): each call per echo within its
    /// range.
    Batched(&'static [(&'static str, RangeInclusive<f64>)]),
}

/// What one program of one flavor is documented to cost per echo.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// The workload the figures are for.
    pub load: EchoLoad,
    /// The calls that read datagrams and send echoes.
    pub io: Io,
    /// `epoll_wait` per echo.
    pub epoll_wait: RangeInclusive<f64>,
    pub epoll_ctl: Ctl,
    pub why: &'static str,
}

const NONE: RangeInclusive<f64> = 0.0..=0.0;
/// Almost never: a program that drains the socket to `EAGAIN` before it sleeps
/// sleeps only when the client has nothing in flight, which 16 echoes in flight make
/// rare (measured 0.001–0.01 per echo).
const RARELY: RangeInclusive<f64> = 0.0..=0.1;

/// The documented figures: (program, flavor, expected).
pub fn expected() -> Vec<(&'static str, Flavor, Expected)> {
    let plain = |epoll_wait: RangeInclusive<f64>, epoll_ctl: Ctl, why: &'static str| Expected {
        load: LOAD,
        io: Io::OnePerEcho {
            recv: "recvfrom",
            send: "sendto",
        },
        epoll_wait,
        epoll_ctl,
        why,
    };
    let batched = |io, epoll_wait, why| Expected {
        load: LOAD,
        io: Io::Batched(io),
        epoll_wait,
        epoll_ctl: Ctl::PerEcho(NONE),
        why,
    };
    let mut out = Vec::new();
    for flavor in [Flavor::Legacy, Flavor::Modern] {
        out.push((
            "echo-select",
            flavor,
            plain(
                NONE,
                Ctl::PerEcho(NONE),
                "select(2), not epoll: one pselect6 per turn, no epoll at all",
            ),
        ));
        for program in ["echo-epoll-level", "echo-epoll-edge", "echo-mio-edge"] {
            out.push((
                program,
                flavor,
                plain(
                    RARELY,
                    Ctl::PerEcho(NONE),
                    "drains the socket to EAGAIN before it sleeps; the registration \
                     never changes",
                ),
            ));
        }
    }
    out.extend([
        (
            "echo-mio-level",
            Flavor::Legacy,
            Expected {
                load: PING_PONG,
                epoll_wait: ONE_PER_ECHO,
                ..plain(
                    NONE,
                    Ctl::PerTurn(0.95..=1.05),
                    "level-triggered mio 0.6 code declares its interest with reregister \
                     before every poll: one epoll_ctl per turn, on a ping-pong one per echo",
                )
            },
        ),
        (
            "echo-mio-level",
            Flavor::Modern,
            Expected {
                load: PING_PONG,
                epoll_wait: ONE_PER_ECHO,
                ..plain(
                    NONE,
                    Ctl::PerTurn(NONE),
                    "registered once; reregistered only when the interest changes or to \
                     re-arm after the read budget runs out, which a ping-pong never does: \
                     no epoll_ctl at all",
                )
            },
        ),
        (
            "echo-tokio",
            Flavor::Legacy,
            plain(
                0.3..=2.5,
                Ctl::PerEcho(NONE),
                "tokio-core's reactor runs on a thread of its own and sleeps in \
                 epoll_wait after every batch of edge-triggered events: the socket's \
                 readable and writable edges wake it once or more per echo (measured \
                 1.3–1.7 per echo, 0.75 while the suite floods other servers beside it: \
                 a reactor thread that waits for a CPU finds more events per wake-up)",
            ),
        ),
        (
            "echo-tokio",
            Flavor::Modern,
            plain(
                RARELY,
                Ctl::PerEcho(NONE),
                "tokio 1's current-thread runtime polls the driver only when the task has \
                 nothing left to do, and the task drains the socket first",
            ),
        ),
        (
            "echo-mpsc",
            Flavor::Legacy,
            plain(
                0.3..=2.0,
                Ctl::PerEcho(NONE),
                "tokio-core's reactor thread again, woken by the socket's edges about \
                 once per echo (measured 0.88–0.98; lower on a loaded machine, as for \
                 echo-tokio)",
            ),
        ),
        (
            "echo-mpsc",
            Flavor::Modern,
            plain(
                0.0..=0.3,
                Ctl::PerEcho(NONE),
                "two tasks on one current-thread runtime: the reader finds the socket \
                 empty and the runtime polls the driver about once per window of 16 \
                 echoes (measured 0.062–0.079)",
            ),
        ),
        (
            "echo-uring",
            Flavor::Next,
            batched(
                URING,
                NONE,
                "completion-based: a multishot receive stays armed and sends are \
                 submitted in batches, one io_uring_enter per turn of the loop, each \
                 turn completing several echoes (measured 0.12 per echo); no recvfrom, \
                 sendto or epoll at all",
            ),
        ),
        (
            "echo-compio",
            Flavor::Next,
            batched(
                COMPIO,
                NONE,
                "compio submits and waits in one io_uring_enter whenever its task has \
                 nothing left to run, which for one receive and one send in turn is \
                 about once per echo (measured 1.00)",
            ),
        ),
        (
            "echo-batch",
            Flavor::Next,
            batched(
                BATCH,
                RARELY,
                "readiness with batching: one recvmmsg reads what has arrived, and \
                 consecutive echoes of one size to one peer leave in one GSO sendmsg \
                 (measured 0.06 of each per echo with 16 in flight)",
            ),
        ),
    ]);
    out
}

/// The documented figures of the steps of migration ladders (bridge packages), which
/// share a flavor: (program, step, expected).
pub fn bridge_expected() -> Vec<(&'static str, u32, Expected)> {
    let plain = |epoll_wait: RangeInclusive<f64>, why: &'static str| Expected {
        load: LOAD,
        io: Io::OnePerEcho {
            recv: "recvfrom",
            send: "sendto",
        },
        epoll_wait,
        epoll_ctl: Ctl::PerEcho(NONE),
        why,
    };
    let reactor_thread = || {
        plain(
            0.3..=2.0,
            "the socket is still tokio-core's: its reactor thread sleeps in epoll_wait \
             and is woken by the socket's edges about once per echo, as for legacy \
             echo-mpsc (measured 0.89–0.96), whether Core::run or tokio 1 runs the task",
        )
    };
    vec![
        ("echo-mpsc", 1, reactor_thread()),
        ("echo-mpsc", 2, reactor_thread()),
        ("echo-mpsc-old-signals", 2, reactor_thread()),
        (
            "echo-mpsc",
            3,
            plain(
                0.0..=0.3,
                "tokio 1's socket on a current-thread runtime: the task drains the socket \
                 before the runtime polls the driver, about once per window of 16 echoes \
                 (measured 0.07)",
            ),
        ),
    ]
}

/// echo-uring: batched submissions, no per-datagram call.
const URING: &[(&str, RangeInclusive<f64>)] = &[
    ("io_uring_enter", 0.0..=0.5),
    ("recvfrom", NONE),
    ("sendto", NONE),
];
/// echo-compio: one enter per operation pair, give or take.
const COMPIO: &[(&str, RangeInclusive<f64>)] = &[
    ("io_uring_enter", 0.5..=2.0),
    ("recvfrom", NONE),
    ("sendto", NONE),
];
/// echo-batch: many datagrams per call each way.
const BATCH: &[(&str, RangeInclusive<f64>)] = &[
    ("recvmmsg", 0.0..=0.5),
    ("sendmsg", 0.0..=0.5),
    ("recvfrom", NONE),
    ("sendto", NONE),
];

/// A ping-pong: the server drains the socket and sleeps once per echo (an echo that
/// arrives while it is still sending the last one saves a sleep, rarely).
const ONE_PER_ECHO: RangeInclusive<f64> = 0.9..=1.05;

/// Where the raw trace of a check is kept, for a look after a failure.
fn raw_path(ctx: &Ctx) -> Result<std::path::PathBuf> {
    let dir = project_root()
        .join("target")
        .join("conformance")
        .join("strace");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir.join(format!(
        "{}-{}.strace",
        ctx.program.name,
        ctx.program.flavor_label()
    )))
}

fn within(v: f64, r: &RangeInclusive<f64>) -> bool {
    // Per-echo figures are ratios of counts: compare with a hair of slack for the
    // decimal bounds.
    v >= r.start() - 1e-9 && v <= r.end() + 1e-9
}

fn show(r: &RangeInclusive<f64>) -> String {
    format!("{}–{}", r.start(), r.end())
}

/// Runs the program under strace with [`LOAD`] and compares its calls per echo with
/// [`expected`].
fn syscalls_per_echo(ctx: &Ctx) -> Outcome {
    let strace = find_strace().map_err(|e| Skipped(format!("{e:#}")))?;
    let name = ctx.program.name.as_str();
    let exp = match ctx.program.step {
        // The steps of a ladder share the bridge flavor: each has its own row.
        Some(step) => bridge_expected()
            .into_iter()
            .find(|(p, s, _)| *p == name && *s == step)
            .map(|(_, _, e)| e),
        None => expected()
            .into_iter()
            .find(|(p, f, _)| *p == name && *f == ctx.program.flavor)
            .map(|(_, _, e)| e),
    };
    let exp = exp.with_context(|| {
        format!(
            "no documented system calls per echo for {} {}: measure them with `cargo \
                 xtask trace {} --count {}` (release) and this check (dev), and add a row to \
                 tests/src/checks/syscalls.rs",
            ctx.program.name,
            ctx.program.flavor_label(),
            ctx.program.name,
            LOAD.count
        )
    })?;
    let raw = raw_path(ctx)?;
    let m: Measured = traced::udp_echo(&strace, ctx.exe, &raw, &exp.load)
        .with_context(|| format!("under strace (raw trace: {})", raw.display()))?;
    let w = &m.workload;
    let epoll_wait = m.per_unit(EPOLL_WAIT);
    let ctl = w.get("epoll_ctl");
    let (ctl_figure, ctl_range, ctl_unit) = match &exp.epoll_ctl {
        Ctl::PerEcho(r) => (m.per_unit("epoll_ctl"), r, "per echo"),
        Ctl::PerTurn(r) => (
            ctl as f64 / w.get(EPOLL_WAIT).max(1) as f64,
            r,
            "per epoll_wait",
        ),
    };
    let (io_figures, io_error) = io(&m, &exp.io);
    let figures = format!(
        "{} echoes, {} in flight: {io_figures}, epoll_wait {epoll_wait:.3}, epoll_ctl \
         {ctl_figure:.3} {ctl_unit}",
        m.units, exp.load.window
    );
    if let Some(e) = io_error {
        anyhow::bail!("{figures}; expected {e} ({})", exp.why);
    }
    ensure!(
        within(epoll_wait, &exp.epoll_wait),
        "{figures}; expected epoll_wait {} per echo ({})",
        show(&exp.epoll_wait),
        exp.why
    );
    ensure!(
        within(ctl_figure, ctl_range),
        "{figures}; expected epoll_ctl {} {ctl_unit} ({})",
        show(ctl_range),
        exp.why
    );
    Ok(format!(
        "{figures}; documented epoll_wait {} per echo, epoll_ctl {} {ctl_unit}: {}",
        show(&exp.epoll_wait),
        show(ctl_range),
        exp.why
    ))
}

/// The figures of the calls that move datagrams, and what is wrong with them, if
/// anything.
fn io(m: &Measured, io: &Io) -> (String, Option<String>) {
    let w = &m.workload;
    match io {
        Io::OnePerEcho { recv, send } => {
            let per = |n: u64| n as f64 / m.units.max(1) as f64;
            let figures = format!(
                "{recv} {:.3} per echo (+{:.3} that found the socket empty), {send} {:.3}",
                per(w.succeeded(recv)),
                per(w.failed(recv)),
                per(w.succeeded(send))
            );
            // Exactly one datagram read and one echo sent per echo: anything read or
            // sent outside the workload's window does not count.
            let exact = w.succeeded(recv) == m.units && w.succeeded(send) == m.units;
            let error = (!exact).then(|| {
                format!("exactly one {recv} and one {send} returning a datagram per echo")
            });
            (figures, error)
        }
        Io::Batched(calls) => {
            let measured: Vec<(&str, f64, &RangeInclusive<f64>)> = calls
                .iter()
                .map(|(name, range)| (*name, m.per_unit(name), range))
                .collect();
            let figures = measured
                .iter()
                .map(|(name, v, _)| format!("{name} {v:.3}"))
                .collect::<Vec<_>>()
                .join(", ");
            let error = measured
                .iter()
                .find(|(_, v, r)| !within(*v, r))
                .map(|(name, _, r)| format!("{name} {} per echo", show(r)));
            (figures, error)
        }
    }
}
