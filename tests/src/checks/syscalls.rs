//! System calls per echo of the UDP echo servers, measured under strace: the wake-up
//! costs the study explains, as checks that fail if they stop being true.
//!
//! Each server runs under `strace -f` while one client on loopback makes [`LOAD`]
//! echoes (the step `cargo xtask trace` runs too: `harness::traced::udp_echo`).
//! Counted per echo, over the calls made while the echoes ran: the reads and writes
//! that returned a datagram (exactly one of each per echo, everywhere), the reads
//! that found the socket empty, `epoll_wait` (how often the program slept to learn
//! what is ready), and `epoll_ctl` (how often it changed what it asked for). Each
//! program declares its figures in its own `Cargo.toml`
//! (`[package.metadata.study.syscalls-per-echo]`, see `harness::declared`), next to
//! the reason, with margins that hold for a dev build (what the suite runs) and a
//! release build, on a loaded machine. Without strace the check is skipped.

use std::fs;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use harness::declared::{Ctl, EchoLoadKind, Io, Range, SyscallsPerEcho};
use harness::project_root;
use harness::strace::EPOLL_WAIT;
use harness::traced::{self, find_strace, EchoLoad, Measured};

use crate::check::{Check, Ctx, Outcome, Skipped};

pub const CHECKS: &[Check] = &[crate::check!("syscalls-per-echo", syscalls_per_echo)];

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

/// The workload of a declared kind.
pub fn load_of(kind: EchoLoadKind) -> EchoLoad {
    match kind {
        EchoLoadKind::Window => LOAD,
        EchoLoadKind::PingPong => PING_PONG,
    }
}

/// Where the raw trace of a check is kept, for a look after a failure.
fn raw_path(ctx: &Ctx) -> Result<std::path::PathBuf> {
    let dir = project_root()
        .join("target")
        .join("conformance")
        .join("strace");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir.join(format!("{}-{}.strace", ctx.program.name, ctx.label())))
}

/// Runs the program under strace with its declared load and compares its calls per
/// echo with what it declares.
fn syscalls_per_echo(ctx: &Ctx) -> Outcome {
    let strace = find_strace().map_err(|e| Skipped(format!("{e:#}")))?;
    let exp: &SyscallsPerEcho = ctx
        .program
        .declared
        .syscalls_per_echo
        .as_ref()
        .with_context(|| {
            format!(
                "{} declares no system calls per echo: measure them with `cargo xtask trace {} \
             --count {}` (release) and this check (dev), and declare them in its Cargo.toml \
             under [package.metadata.study.syscalls-per-echo]",
                ctx.program.package, ctx.program.name, LOAD.count
            )
        })?;
    let load = load_of(exp.load);
    let raw = raw_path(ctx)?;
    let extra = ctx.threads.map(|t| t.args()).unwrap_or_default();
    let m: Measured =
        traced::udp_echo_with(&strace, ctx.exe, &extra, &raw, &load).with_context(|| {
            // Said from the workspace root, so that a saved report names no machine.
            let shown = raw.strip_prefix(project_root()).unwrap_or(&raw);
            format!("under strace (raw trace: {})", shown.display())
        })?;
    let w = &m.workload;
    let epoll_wait = m.per_unit(EPOLL_WAIT);
    let (ctl_figure, ctl_range, ctl_unit) = match &exp.epoll_ctl {
        Ctl::PerEcho(r) => (m.per_unit("epoll_ctl"), r, "per echo"),
        Ctl::PerTurn(r) => (
            w.get("epoll_ctl") as f64 / w.get(EPOLL_WAIT).max(1) as f64,
            r,
            "per epoll_wait",
        ),
    };
    let (io_figures, io_error) = io(&m, &exp.io);
    let figures = format!(
        "{} echoes, {} in flight: {io_figures}, epoll_wait {epoll_wait:.3}, epoll_ctl \
         {ctl_figure:.3} {ctl_unit}",
        m.units, load.window
    );
    if let Some(e) = io_error {
        anyhow::bail!("{figures}; expected {e} ({})", exp.why);
    }
    ensure!(
        exp.epoll_wait.holds(epoll_wait),
        "{figures}; expected epoll_wait {} per echo ({})",
        exp.epoll_wait,
        exp.why
    );
    ensure!(
        ctl_range.holds(ctl_figure),
        "{figures}; expected epoll_ctl {ctl_range} {ctl_unit} ({})",
        exp.why
    );
    Ok(format!(
        "{figures}; declared epoll_wait {} per echo, epoll_ctl {ctl_range} {ctl_unit}: {}",
        exp.epoll_wait, exp.why
    ))
}

/// The figures of the calls that move datagrams, and what is wrong with them, if
/// anything.
fn io(m: &Measured, io: &Io) -> (String, Option<String>) {
    let w = &m.workload;
    match io {
        Io::OnePerEcho([recv, send]) => {
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
            let measured: Vec<(&str, f64, &Range)> = calls
                .iter()
                .map(|(name, range)| (name.as_str(), m.per_unit(name), range))
                .collect();
            let figures = measured
                .iter()
                .map(|(name, v, _)| format!("{name} {v:.3}"))
                .collect::<Vec<_>>()
                .join(", ");
            let error = measured
                .iter()
                .find(|(_, v, r)| !r.holds(*v))
                .map(|(name, _, r)| format!("{name} {r} per echo"));
            (figures, error)
        }
    }
}
