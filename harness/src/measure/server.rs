//! A server under measurement: one of the workspace's programs, started with `--quiet
//! --bind 127.0.0.1:0` (ports learned from its `listening` lines), pinned to the server
//! CPU, stopped with SIGTERM and its `summary` line read back; or oidentd, the ident
//! family's reference, where the machine has it.
//!
//! oidentd is the ident server Linux distributions ship. The bench starts it itself on
//! a loopback port, in the foreground, and stops it; nothing of the system's own
//! oidentd (a service on port 113, if any) is touched. Under the system-wide
//! configuration (Debian's denies every user capability) it replies with the owner
//! of the connection named, found with netlink `inet_diag` as ours do. It forks a
//! process per connection, answers one query and closes: it is measured on fresh
//! connections only, and its CPU counts the children it reaps (`cpu`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use crate::results::bench::ServerCounts;
use crate::Running;
use anyhow::{bail, Context, Result};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use shared::event::{Counts, Event};

use super::affinity::Placement;
use super::cpu;

/// How long a server may take to exit after SIGTERM (and oidentd to start).
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// The reference's name in the tables.
pub const OIDENTD: &str = "oidentd";

pub struct Server {
    run: Running,
    /// The addresses of its `listening` lines, in order.
    pub addrs: Vec<SocketAddr>,
    /// Whether it prints a `summary` line when it stops (a reference server does not).
    summary: bool,
}

impl Server {
    /// Starts `exe --quiet --bind 127.0.0.1:0 EXTRA…`, waits for its `listening`
    /// lines (one per socket) and pins it to the server CPU.
    pub fn start(exe: &Path, extra: &[&str], sockets: usize, on: &Placement) -> Result<Server> {
        Server::launch(exe, &[&["--quiet"], extra].concat(), sockets, on)
    }

    /// The same without `--quiet`: the server prints a line per event, which
    /// [`Server::stop_with_events`] returns (for the order of its reads and writes;
    /// each line costs the server a `write`, so nothing is timed in such a run).
    pub fn start_verbose(exe: &Path, extra: &[&str], on: &Placement) -> Result<Server> {
        Server::launch(exe, extra, 1, on)
    }

    fn launch(exe: &Path, extra: &[&str], sockets: usize, on: &Placement) -> Result<Server> {
        let args = [&["--bind", "127.0.0.1:0"], extra].concat();
        let (run, addrs) = Running::server(exe, &args, None, sockets)
            .with_context(|| format!("starting {}", exe.display()))?;
        on.pin_server(run.pid())?;
        Ok(Server {
            run,
            addrs,
            summary: true,
        })
    }

    /// Starts `oidentd --foreground --nosyslog --quiet --address 127.0.0.1 --port P`
    /// on a free port, waits until it accepts, and pins it (its children inherit the
    /// pin) to the server CPU.
    pub fn oidentd(exe: &Path, on: &Placement) -> Result<Server> {
        let mut last = String::new();
        // The free port is found by binding it and letting it go: another process may
        // take it in between, so try again a few times.
        for _ in 0..3 {
            let addr = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?.local_addr()?;
            let mut cmd = Command::new(exe);
            cmd.args([
                "--foreground",
                "--nosyslog",
                "--quiet",
                "--address",
                "127.0.0.1",
            ])
            .args(["--port", &addr.port().to_string()]);
            let mut run = Running::start(cmd).context("cannot start oidentd")?;
            let deadline = Instant::now() + STOP_TIMEOUT;
            while run.alive() && Instant::now() < deadline {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    on.pin_server(run.pid())?;
                    let (addrs, summary) = (vec![addr], false);
                    return Ok(Server {
                        run,
                        addrs,
                        summary,
                    });
                }
                thread::sleep(Duration::from_millis(10));
            }
            last = run.stderr().trim().to_string();
        }
        bail!("oidentd did not start listening (stderr: {last})")
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
        let status = (self.run.wait_exit(STOP_TIMEOUT))
            .context("waiting for the server to exit after SIGTERM")?;
        if !self.summary {
            return Ok(Default::default());
        }
        if !status.success() {
            let stderr = self.run.stderr();
            bail!(
                "server exited with {status} after SIGTERM (stderr: {})",
                stderr.trim()
            );
        }
        let events = self.run.events()?;
        let summary = events.iter().rev().find_map(|e| match e {
            Event::Summary(c) => Some(c.clone()),
            _ => None,
        });
        Ok((summary.context("no summary line after SIGTERM")?, events))
    }
}

/// The counts of a `summary` line, as the records keep them.
pub fn counts(c: &Counts) -> ServerCounts {
    let count = |key| c.get(key).map(|v| v as f64);
    ServerCounts {
        server_recv: count("recv"),
        server_sent: count("sent"),
        server_dropped: count("dropped"),
    }
}

/// The oidentd binary of this machine, or why there is none.
pub fn find_oidentd() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Daemons live in sbin, which a user's PATH may not hold.
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/usr/local/sbin".into()]);
    let found = dirs.map(|d| d.join(OIDENTD)).find(|p| p.is_file());
    found.ok_or_else(|| {
        "not installed: no reference row (apt-get install oidentd, dnf install oidentd)".into()
    })
}
