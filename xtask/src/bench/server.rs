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
        Server::launch(exe, extra, sockets, placement, true)
    }

    /// The same without `--quiet`: the server prints a line per event, which
    /// [`Server::stop_with_events`] returns (for the order of its reads and writes;
    /// the lines cost the server a `write` each, so nothing is timed in such a run).
    pub fn start_verbose(
        exe: &Path,
        extra: &[&str],
        sockets: usize,
        placement: &Placement,
    ) -> Result<Server> {
        Server::launch(exe, extra, sockets, placement, false)
    }

    fn launch(
        exe: &Path,
        extra: &[&str],
        sockets: usize,
        placement: &Placement,
        quiet: bool,
    ) -> Result<Server> {
        let mut args = vec!["--bind", "127.0.0.1:0"];
        if quiet {
            args.insert(0, "--quiet");
        }
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
    pub fn stop(self) -> Result<Counts> {
        Ok(self.stop_with_events()?.0)
    }

    /// SIGTERM, then the `summary` line's counts and every event line the server
    /// printed after its `listening` lines.
    pub fn stop_with_events(mut self) -> Result<(Counts, Vec<Event>)> {
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
        let events = self.run.events()?;
        let counts = (events.iter().rev())
            .find_map(|e| match e {
                Event::Summary(c) => Some(c.clone()),
                _ => None,
            })
            .context("no summary line after SIGTERM")?;
        Ok((counts, events))
    }
}
