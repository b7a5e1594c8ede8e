//! oidentd, the ident server Linux distributions ship, as the ident family's reference:
//! where it is installed, the bench starts it itself on a loopback port, in the
//! foreground, measures it on the same load as the workspace's ident servers in the
//! same rounds, and stops it. Nothing of the system's own oidentd (a service on port
//! 113, if any) is touched.
//!
//! Its defaults already answer for this host's connections: it replies with the owner
//! of the connection named (found with netlink `inet_diag` where the kernel has it,
//! as ours do), under the system-wide configuration (Debian's denies every user
//! capability: no spoofing, no hiding). It forks a process per connection, answers one
//! query and closes the connection: it is measured on fresh connections only, and its
//! CPU per query counts the children it reaps (`cpu.rs`).

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use harness::Running;
use nix::sys::signal::Signal;
use nix::unistd::Pid;

use super::affinity::Placement;
use super::cpu;
use super::entry::{Label, Subject};

/// The reference's name in the tables.
pub const NAME: &str = "oidentd";
/// How long it may take to accept its first connection, and to exit.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The oidentd binary of this machine, or why there is none.
pub fn find() -> Result<PathBuf, String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Daemons live in sbin, which a user's PATH may not hold.
    let dirs = std::env::split_paths(&path).chain(["/usr/sbin".into(), "/usr/local/sbin".into()]);
    dirs.map(|d| d.join(NAME)).find(|p| p.is_file()).ok_or_else(|| {
        "oidentd is not installed: no reference row (apt-get install oidentd, dnf install oidentd)"
            .to_string()
    })
}

/// The reference entry's subject: nothing to build, the binary found on the machine.
pub fn subject(exe: PathBuf) -> Subject {
    Subject {
        program: NAME.into(),
        label: Label::Reference,
        catalogue: None,
        package: String::new(),
        binary: NAME.into(),
        sockets: None,
        variant: None,
        next_era_loads: false,
        exe,
    }
}

/// oidentd running in the foreground on a loopback port; killed if dropped.
pub struct Oidentd {
    run: Running,
    pub addr: SocketAddr,
}

impl Oidentd {
    /// Starts `oidentd --foreground --nosyslog --quiet --address 127.0.0.1 --port P`
    /// on a free port, waits until it accepts, and pins it (its children inherit the
    /// pin) to the server CPU.
    pub fn start(exe: &PathBuf, placement: &Placement) -> Result<Oidentd> {
        let mut last = String::new();
        // The free port is found by binding it and letting it go: another process may
        // take it in between, so try again a few times.
        for _ in 0..3 {
            let addr = free_port()?;
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
            let deadline = Instant::now() + TIMEOUT;
            while run.alive() && Instant::now() < deadline {
                if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
                    placement.pin_server(run.pid())?;
                    return Ok(Oidentd { run, addr });
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

    /// SIGTERM, and wait for it to exit.
    pub fn stop(mut self) -> Result<()> {
        self.run.signal(Signal::SIGTERM)?;
        self.run
            .wait_exit(TIMEOUT)
            .context("waiting for oidentd to exit after SIGTERM")?;
        Ok(())
    }
}

/// A loopback address with a port no one listens on now.
fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("find a free port")?;
    Ok(listener.local_addr()?)
}
