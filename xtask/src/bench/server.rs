//! Running one program as a server under load: `--quiet --bind 127.0.0.1:0`, ports learned from its `listening` lines,
//! pinned to the server CPU, stopped with SIGTERM and its `summary` line read back.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use harness::Running;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use shared::event::{Counts, Event};

use super::affinity::Placement;
use super::cpu;

/// How long a server may take to exit after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);

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
