//! A program run under `strace -f`, and the step the suite and `cargo xtask trace`
//! share: run a UDP echo server under strace, drive a fixed echo workload on
//! loopback, stop it, and tally its system calls per echo ([`udp_echo`]).
//!
//! Only the calls made while the workload ran count per unit (by strace's `-ttt`
//! timestamps against the same wall clock); the whole run, start-up included, is
//! tallied beside them.

use std::fs;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, ensure, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::process::Running;
use crate::strace::{self, Tally};

/// Longest a workload may take before it gives up.
pub const WORKLOAD_LIMIT: Duration = Duration::from_secs(120);
/// Longest one reply may take.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// The `strace` on PATH, or an error that says how to install it.
pub fn find_strace() -> Result<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("strace"))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!(
                "strace is not installed; install it with `apt-get install strace` \
                 (Debian/Ubuntu; `dnf install strace` on Fedora) and run this again"
            )
        })
}

/// Seconds since the epoch, as strace's `-ttt` prints them.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Units of work done, and the wall-clock window they were done in (`None`: the
/// whole run).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Work {
    pub units: u64,
    pub window: Option<(f64, f64)>,
}

/// A program running under strace; killed (not just strace) if dropped early.
pub struct Traced {
    /// The strace process; the program's stdout comes through it.
    pub run: Running,
    program: Option<Pid>,
    raw: PathBuf,
    started: Instant,
}

impl Drop for Traced {
    fn drop(&mut self) {
        // strace detaches from a tracee when it is killed, which would leave the
        // program running: kill the program itself.
        if let Some(pid) = self.program.take() {
            let _ = kill(pid, Signal::SIGKILL);
            let _ = self.run.wait_exit(EXIT_TIMEOUT);
        }
    }
}

impl Traced {
    /// Starts `exe args…` under `strace -f -ttt`, writing the trace to `raw`, and
    /// waits for `listening` lines of it; returns it with their addresses.
    pub fn start(
        strace: &Path,
        exe: &Path,
        args: &[String],
        raw: &Path,
        listening: usize,
    ) -> Result<(Traced, Vec<SocketAddr>)> {
        let raw_s = raw.to_string_lossy().to_string();
        let exe_s = exe.to_string_lossy().to_string();
        let mut strace_args: Vec<&str> =
            vec!["-f", "-qq", "-ttt", "-s", "16", "-o", &raw_s, "--", &exe_s];
        strace_args.extend(args.iter().map(String::as_str));
        let (run, addrs) = if listening > 0 {
            Running::server(strace, &strace_args, None, listening)?
        } else {
            (Running::spawn(strace, &strace_args, None)?, Vec::new())
        };
        let strace_pid = run.pid().as_raw() as u32;
        let mut traced = Traced {
            run,
            program: None,
            raw: raw.to_path_buf(),
            started: Instant::now(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        while traced.program.is_none() {
            traced.program = child_of(strace_pid, exe);
            if traced.program.is_some() {
                break;
            }
            // A demo that runs to its end may be gone before it is found: then strace
            // is gone too, and there is nothing left to stop.
            if !traced.run.alive() {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "the program did not start under strace: {}",
                traced.run.stderr().trim()
            );
            thread::sleep(Duration::from_millis(5));
        }
        traced.started = Instant::now();
        Ok((traced, addrs))
    }

    /// Stops the program with `signal` (or waits for it to exit by itself) and waits
    /// for strace to finish writing.
    pub fn stop(&mut self, signal: Option<Signal>) -> Result<()> {
        let pid = self.program.take();
        if let (Some(pid), Some(sig)) = (pid, signal) {
            kill(pid, sig).with_context(|| format!("cannot send {sig} to the program"))?;
        }
        let status = self
            .run
            .wait_exit(EXIT_TIMEOUT)
            .with_context(|| match signal {
                Some(sig) => format!("the program did not exit after {sig}"),
                None => "the program did not exit by itself".to_string(),
            });
        let status = match status {
            Ok(s) => s,
            Err(e) => {
                // Put it back, so that dropping this kills it.
                self.program = pid;
                return Err(e);
            }
        };
        ensure!(
            status.success() || signal.is_some(),
            "the program exited with {status}; stderr: {}",
            self.run.stderr().trim()
        );
        Ok(())
    }

    /// Parses what strace wrote (after [`Traced::stop`]) and tallies it: per unit of
    /// `work` while it ran, and for the whole run.
    pub fn measure(&self, work: Work) -> Result<Measured> {
        let seconds = match work.window {
            Some((from, to)) => to - from,
            None => self.started.elapsed().as_secs_f64(),
        };
        let text = fs::read_to_string(&self.raw)
            .with_context(|| format!("cannot read {}", self.raw.display()))?;
        let calls = strace::parse(&text);
        ensure!(!calls.is_empty(), "strace recorded no system call");
        Ok(Measured {
            units: work.units,
            seconds,
            workload: strace::tally(&calls, work.window),
            whole_run: strace::tally(&calls, None),
        })
    }
}

/// What one traced run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// Units of work done (echoes received back, polls, queries, …).
    pub units: u64,
    /// Seconds the workload took under strace (for a whole-run workload, from start-up
    /// to the measurement).
    pub seconds: f64,
    /// Calls made while the workload ran.
    pub workload: Tally,
    /// Calls of the whole run, start-up and shut-down included.
    pub whole_run: Tally,
}

impl Measured {
    /// Calls of `row` per unit of work, while the workload ran.
    pub fn per_unit(&self, row: &str) -> f64 {
        self.workload.get(row) as f64 / self.units.max(1) as f64
    }
}

/// The child of `parent` running `exe`: the program strace started. strace forks
/// short-lived test processes of its own at start-up, so being a child is not enough.
fn child_of(parent: u32, exe: &Path) -> Option<Pid> {
    let exe = fs::canonicalize(exe).ok()?;
    for entry in fs::read_dir("/proc").ok()? {
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid …`; comm may hold spaces, so split after the `)`.
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(parent) && fs::read_link(entry.path().join("exe")).ok() == Some(exe.clone())
        {
            return Some(Pid::from_raw(pid));
        }
    }
    None
}

/// A UDP echo workload: `count` echoes of `payload` bytes from one client on
/// loopback, `window` of them in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoLoad {
    pub count: u64,
    pub window: usize,
    pub payload: usize,
    /// How long the client waits after each echo before it sends the next datagram:
    /// zero keeps the window full; a pause longer than the server takes to answer
    /// (under strace too) makes it find the socket empty and sleep after every echo.
    pub pause: Duration,
}

impl EchoLoad {
    /// The server's arguments: quiet (no line per datagram), and a queue that holds
    /// every echo that can be in flight, so that nothing is dropped.
    pub fn server_args(&self) -> Vec<String> {
        ["--bind", "127.0.0.1:0", "--quiet", "--queue"]
            .iter()
            .map(|s| s.to_string())
            .chain([self.window.to_string()])
            .collect()
    }

    pub fn describe(&self) -> String {
        let pause = match self.pause.is_zero() {
            true => String::new(),
            false => format!(", {} µs apart", self.pause.as_micros()),
        };
        format!(
            "{} echoes of {} bytes, {} in flight{pause}, one client on loopback",
            self.count, self.payload, self.window
        )
    }

    /// Runs the workload against `server`.
    pub fn drive(&self, server: SocketAddr) -> Result<Work> {
        let local: SocketAddr = if server.is_ipv4() {
            "127.0.0.1:0".parse()?
        } else {
            "[::1]:0".parse()?
        };
        let sock = UdpSocket::bind(local)?;
        sock.set_read_timeout(Some(REPLY_TIMEOUT))?;
        sock.connect(server)?;
        let payload = vec![0x5au8; self.payload];
        let mut buf = vec![0u8; self.payload.max(2048)];
        let limit = Instant::now() + WORKLOAD_LIMIT;
        let from = now();
        let mut sent = 0u64;
        while sent < self.count.min(self.window as u64) {
            sock.send(&payload)?;
            sent += 1;
        }
        let mut got = 0u64;
        while got < self.count {
            let n = crate::load::recv(&sock, &mut buf)
                .with_context(|| format!("no echo within {REPLY_TIMEOUT:?} after {got} echoes"))?;
            ensure!(
                n == self.payload,
                "an echo of {} bytes came back as {n}",
                self.payload
            );
            got += 1;
            if sent < self.count {
                if !self.pause.is_zero() {
                    thread::sleep(self.pause);
                }
                sock.send(&payload)?;
                sent += 1;
            }
            ensure!(
                Instant::now() < limit,
                "{got} echoes in {WORKLOAD_LIMIT:?}: giving up"
            );
        }
        Ok(Work {
            units: got,
            window: Some((from, now())),
        })
    }
}

/// The shared step: runs the UDP echo server `exe` under `strace` (trace written to
/// `raw`), drives `load`, stops it with SIGTERM and tallies its system calls.
pub fn udp_echo(strace: &Path, exe: &Path, raw: &Path, load: &EchoLoad) -> Result<Measured> {
    udp_echo_with(strace, exe, &[], raw, load)
}

/// [`udp_echo`], the server started with `extra` options too (`--threads 2`).
pub fn udp_echo_with(
    strace: &Path,
    exe: &Path,
    extra: &[String],
    raw: &Path,
    load: &EchoLoad,
) -> Result<Measured> {
    let mut args = load.server_args();
    args.extend_from_slice(extra);
    let (mut traced, addrs) = Traced::start(strace, exe, &args, raw, 1)?;
    let work = load.drive(addrs[0])?;
    traced.stop(Some(Signal::SIGTERM))?;
    traced.measure(work)
}
pub mod workload;
