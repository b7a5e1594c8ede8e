//! Building the programs for measurement and running one of them as a server under
//! load: `--quiet --bind 127.0.0.1:0`, ports learned from its `listening` lines,
//! pinned to the server CPU, stopped with SIGTERM and its `summary` line read back.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use conformance::process::Running;
use conformance::programs::cargo;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use serde_json::Value;
use shared::event::{Counts, Event};

use super::affinity::Placement;
use super::cpu;

/// How long a server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds the binaries of `packages` with cargo profile `profile` (`release` to
/// measure, `dev` to test the instrument cheaply) and returns binary name → path.
/// Packages that do not build are returned apart with the reason, so that one
/// package being edited does not stop the others from being measured.
pub fn build(
    profile: &str,
    packages: &[String],
) -> Result<(BTreeMap<String, PathBuf>, BTreeMap<String, String>)> {
    let mut failed = BTreeMap::new();
    if packages.is_empty() {
        return Ok((BTreeMap::new(), failed));
    }
    if let Ok(exes) = build_once(profile, packages) {
        return Ok((exes, failed));
    }
    // Something does not build: find out which, one package at a time.
    let mut exes = BTreeMap::new();
    for p in packages {
        match build_once(profile, std::slice::from_ref(p)) {
            Ok(e) => exes.extend(e),
            Err(e) => {
                failed.insert(p.clone(), format!("{e:#}"));
            }
        }
    }
    Ok((exes, failed))
}

fn build_once(profile: &str, packages: &[String]) -> Result<BTreeMap<String, PathBuf>> {
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--quiet",
        "--profile",
        profile,
        "--message-format=json-render-diagnostics",
        "--bins",
    ]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo build")?;
    if !out.status.success() {
        bail!("cargo build --profile {profile} failed");
    }
    let mut exes = BTreeMap::new();
    for line in out.stdout.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" {
            if let (Some(name), Some(exe)) =
                (msg["target"]["name"].as_str(), msg["executable"].as_str())
            {
                exes.insert(name.to_string(), PathBuf::from(exe));
            }
        }
    }
    Ok(exes)
}

/// A program running as a server for one measurement.
pub struct Server {
    run: Running,
    /// The addresses of its `listening` lines, in order.
    pub addrs: Vec<SocketAddr>,
}

impl Server {
    /// Starts `exe --quiet --bind 127.0.0.1:0 EXTRA…`, waits for `listening` lines
    /// (one per socket) and pins it to the server CPU.
    pub fn start(
        exe: &Path,
        extra: &[&str],
        sockets: usize,
        placement: &Placement,
    ) -> Result<Server> {
        let mut args = vec!["--quiet", "--bind", "127.0.0.1:0"];
        args.extend_from_slice(extra);
        let (run, addrs) = Running::server(exe, &args, None, sockets)
            .with_context(|| format!("starting {}", exe.display()))?;
        placement.pin_server(run.pid())?;
        Ok(Server { run, addrs })
    }

    pub fn pid(&self) -> Pid {
        self.run.pid()
    }

    pub fn peak_rss_kib(&self) -> Result<u64> {
        cpu::peak_rss_kib(self.pid())
    }

    /// SIGTERM, then the `summary` line's counts; an exit that is not clean is an
    /// error (with the program's stderr).
    pub fn stop(mut self) -> Result<Counts> {
        self.run.signal(Signal::SIGTERM)?;
        let status = self
            .run
            .wait_exit(STOP_TIMEOUT)
            .context("waiting for the server to exit after SIGTERM")?;
        if !status.success() {
            bail!(
                "server exited with {status} after SIGTERM (stderr: {})",
                self.run.stderr().trim()
            );
        }
        self.run
            .events()?
            .into_iter()
            .rev()
            .find_map(|e| match e {
                Event::Summary(c) => Some(c),
                _ => None,
            })
            .context("no summary line after SIGTERM")
    }
}
