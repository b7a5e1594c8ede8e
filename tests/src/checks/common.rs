//! Checks every server gets: `--help`, bad start-up input, and era purity.

use std::net::{TcpListener, UdpSocket};
use std::time::Duration;

use anyhow::{bail, ensure, Result};

use crate::check::{Ctx, Outcome};
use harness::process::run_to_end;

use crate::purity;

const QUICK: Duration = Duration::from_secs(5);

/// A start-up error is one line on stderr, no panic, no backtrace, non-zero exit.
pub(crate) fn one_line_error(stderr: &str) -> Result<String> {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    ensure!(!stderr.contains("panicked"), "panicked: {stderr:?}");
    ensure!(
        !stderr.contains("stack backtrace"),
        "backtrace on stderr: {stderr:?}"
    );
    ensure!(
        lines.len() == 1,
        "expected one line on stderr, got {}: {stderr:?}",
        lines.len()
    );
    Ok(lines[0].to_string())
}

pub fn help(ctx: &Ctx) -> Outcome {
    let (status, stdout, stderr) = run_to_end(ctx.exe, &ctx.args(&["--help"]), QUICK)?;
    ensure!(
        status.success(),
        "--help exited with {status}; stderr {stderr:?}"
    );
    ensure!(stdout.contains("Usage:"), "no usage on stdout: {stdout:?}");
    ensure!(
        stdout.contains("--bind"),
        "usage does not mention --bind: {stdout:?}"
    );
    Ok(format!("exit 0, {} lines of usage", stdout.lines().count()))
}

pub fn unknown_flag(ctx: &Ctx) -> Outcome {
    let (status, _, stderr) = run_to_end(ctx.exe, &ctx.args(&["--no-such-flag"]), QUICK)?;
    ensure!(status.code() == Some(2), "{status}, expected 2");
    Ok(format!("exit 2: {}", one_line_error(&stderr)?))
}

pub fn bad_address(ctx: &Ctx) -> Outcome {
    let (status, _, stderr) = run_to_end(ctx.exe, &ctx.args(&["--bind", "127.0.0.1"]), QUICK)?;
    ensure!(status.code() == Some(2), "{status}, expected 2");
    Ok(format!("exit 2: {}", one_line_error(&stderr)?))
}

fn in_use(ctx: &Ctx, addr: std::net::SocketAddr) -> Outcome {
    let bind = addr.to_string();
    let (status, stdout, stderr) = run_to_end(ctx.exe, &ctx.args(&["--bind", &bind]), QUICK)?;
    ensure!(
        !status.success() && status.code().is_some(),
        "{status}, expected a non-zero exit"
    );
    ensure!(
        !stdout.contains("listening"),
        "announced a socket it could not bind: {stdout:?}"
    );
    let line = one_line_error(&stderr)?;
    ensure!(
        line.contains(&addr.port().to_string()),
        "error does not name the address: {line}"
    );
    Ok(format!("{status}: {line}"))
}

pub fn udp_port_in_use(ctx: &Ctx) -> Outcome {
    let taken = UdpSocket::bind("127.0.0.1:0")?;
    in_use(ctx, taken.local_addr()?)
}

pub fn tcp_port_in_use(ctx: &Ctx) -> Outcome {
    let taken = TcpListener::bind("127.0.0.1:0")?;
    in_use(ctx, taken.local_addr()?)
}

pub fn era_purity(ctx: &Ctx) -> Outcome {
    let bad = purity::violations(ctx.catalogue, &ctx.program.package, ctx.program.flavor)?;
    if !bad.is_empty() {
        bail!("{} depends on {}", ctx.program.package, bad.join(", "));
    }
    let n = ctx.catalogue.dependency_tree(&ctx.program.package)?.len();
    Ok(format!("{n} crates in the tree, none of the other era"))
}
