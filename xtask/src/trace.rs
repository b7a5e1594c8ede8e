//! `cargo xtask trace PROGRAM… [--flavor legacy|modern] [--format table|json]` — runs
//! each side of a pair (release build) under `strace -f`, drives it with a fixed,
//! bounded workload on loopback, stops it with SIGTERM, and prints the system calls per
//! unit of work of both sides next to each other.
//!
//! The workload depends on the program's family (declared in its `Cargo.toml`): 10,000 echoes with 16 in flight for the UDP echo servers,
//! datagrams spread over the sockets of the multi-socket programs, kilobytes through
//! the TCP echo servers, queries for the ident servers, and for the demos their own
//! sequence. Per-unit figures count only the calls made while the workload ran (by
//! strace's timestamps); a second table counts the whole run, start-up included,
//! which is where a runtime's wake-up pipes and eventfds are made.
//!
//! A `next` program (io_uring, batched I/O) has no legacy side: it is traced beside
//! its declared readiness sibling (`echo-uring` beside modern `echo-epoll-edge`), so
//! that `io_uring_enter` per echo reads against `epoll_wait`, `recvfrom` and `sendto`
//! per echo. For the echo and ident families the server's CPU time per unit (echo,
//! KiB, query) is measured too, in a second run of the same workload without strace
//! (ptrace multiplies the cost of a system call, so a traced run says nothing about
//! CPU).

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use harness::workspace::relative;
use harness::{build, project_root, Catalogue, Family, Flavor, Profile, Running};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};
use shared::event::Event;

use crate::args::{self, FlavorArg, Format};
use crate::diff;
use crate::pairs::{self, Pair};
use crate::strace::{self, Tally, MAIN_ROWS};

#[derive(clap::Args)]
pub struct Args {
    /// Programs to trace (e.g. echo-tokio).
    programs: Vec<String>,
    /// Trace every pair.
    #[arg(long)]
    all: bool,
    /// Only this flavor.
    #[arg(long, value_enum)]
    flavor: Option<FlavorArg>,
    /// Output format: a table for people, JSON for scripts (and `study --trace-json`).
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Units of work instead of the family's default (e.g. echoes).
    #[arg(long)]
    count: Option<u64>,
}

/// What one run of one side measured.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlavorTrace {
    pub flavor: String,
    /// Units of work done (echoes received back, polls, queries, …).
    pub units: u64,
    /// Seconds the workload took under strace.
    pub seconds: f64,
    /// Calls made while the workload ran.
    pub workload: Tally,
    /// Calls of the whole run, start-up and shut-down included.
    pub whole_run: Tally,
    /// Where the raw strace output was kept, relative to the workspace root.
    pub raw: String,
    /// The program traced, when it is not the one the table is named after (the
    /// readiness sibling a next program is traced beside).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Server CPU time per unit, in nanoseconds, from a run of the same workload
    /// without strace (the echo families only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_ns_per_unit: Option<f64>,
}

/// Both sides of one program.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProgramTrace {
    pub program: String,
    /// The unit of work, singular (`echoed datagram`).
    pub unit: String,
    /// The workload in words.
    pub workload: String,
    pub flavors: Vec<FlavorTrace>,
}

/// What `trace` does with a program of each family: its workload.
trait Workload {
    fn default_count(self) -> u64;
    fn unit(self) -> &'static str;
    fn args(self, count: u64) -> (Vec<String>, usize);
    fn describe(self, count: u64) -> String;
}

impl Workload for Family {
    fn default_count(self) -> u64 {
        match self {
            Family::UdpEcho => 10_000,
            Family::Multisocket => 1_000,
            Family::FutureNotify => 100,
            Family::MioMixed => 50,
            Family::TcpEcho => 4_096,
            // Each query reads /proc/net/tcp: a few hundred are plenty.
            Family::Ident => 200,
            Family::MioEmpty | Family::MioPipe => 1,
        }
    }

    fn unit(self) -> &'static str {
        match self {
            Family::UdpEcho => "echoed datagram",
            Family::Multisocket => "datagram",
            Family::FutureNotify => "poll",
            Family::MioMixed => "tick",
            Family::TcpEcho => "KiB echoed",
            Family::Ident => "query",
            Family::MioEmpty | Family::MioPipe => "run",
        }
    }

    /// Arguments of the program and how many `listening` lines it prints.
    fn args(self, count: u64) -> (Vec<String>, usize) {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            // The queue holds every echo that can be in flight: nothing is dropped.
            Family::UdpEcho => (
                v(&[
                    "--bind",
                    "127.0.0.1:0",
                    "--quiet",
                    "--queue",
                    &UDP_WINDOW.to_string(),
                ]),
                1,
            ),
            // The per-datagram lines pace the sender; they are the program's lesson.
            Family::Multisocket => (
                v(&["--bind", "127.0.0.1:0", "--sockets", &SOCKETS.to_string()]),
                SOCKETS,
            ),
            Family::FutureNotify => (
                v(&["--count", &(count + 1).to_string(), "--interval-ms", "2"]),
                0,
            ),
            Family::MioMixed => (v(&["--bind", "127.0.0.1:0", "--interval-ms", "10"]), 1),
            Family::TcpEcho | Family::Ident => (v(&["--bind", "127.0.0.1:0", "--quiet"]), 1),
            Family::MioEmpty | Family::MioPipe => (Vec::new(), 0),
        }
    }

    fn describe(self, count: u64) -> String {
        match self {
            Family::UdpEcho => format!(
                "{count} echoes of {UDP_PAYLOAD} bytes, {UDP_WINDOW} in flight, one client on loopback"
            ),
            Family::Multisocket => format!(
                "{count} datagrams round-robin over {SOCKETS} sockets, at most {SOCKETS} unread"
            ),
            Family::FutureNotify => format!("{} polls, 2 ms apart", count + 1),
            Family::MioMixed => format!("{count} timer ticks, 10 ms apart"),
            Family::TcpEcho => format!("{count} KiB echoed in 1 KiB writes over one connection"),
            Family::Ident => format!("{count} queries, one after another, over one connection"),
            Family::MioEmpty => format!("{} s of polling with nothing registered", MIO_EMPTY_RUN.as_secs()),
            Family::MioPipe => "the demo's own sequence, to its exit".to_string(),
        }
    }
}

const UDP_WINDOW: usize = 16;
const UDP_PAYLOAD: usize = 64;
const SOCKETS: usize = 10;
const MIO_EMPTY_RUN: Duration = Duration::from_secs(1);
/// Longest a workload may take before the trace gives up.
const WORKLOAD_LIMIT: Duration = Duration::from_secs(120);
/// Longest one reply may take.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(15);
/// Rows of the trace table beyond the main ones.
const MAX_EXTRA_ROWS: usize = 6;

pub fn main(args: Args) -> Result<i32> {
    // Say what is missing before building anything.
    find_strace()?;
    let catalogue = Catalogue::load()?;
    let all = pairs::pairs(&catalogue);
    let chosen: Vec<&Pair> = if args.all {
        all.iter().collect()
    } else if args.programs.is_empty() {
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        return Err(harness::UsageError(format!(
            "name a program, or use --all; the programs are: {}",
            names.join(", ")
        ))
        .into());
    } else {
        args.programs
            .iter()
            .map(|n| pairs::find(&all, n))
            .collect::<Result<_>>()?
    };
    // A next program is traced beside its readiness sibling.
    let shown: Vec<Pair> = chosen.iter().map(|p| diff::as_shown(&all, p)).collect();
    let chosen: Vec<&Pair> = shown.iter().collect();
    // A program that does not say what it is has no workload: name it and stop.
    for p in &chosen {
        p.family()?;
    }
    let flavors = args::flavors(args.flavor);
    let table_format = args.format == Format::Table;
    let results = trace_pairs(&chosen, &flavors, args.count, &|trace| {
        if table_format {
            println!("{}", table(trace));
        }
    })?;
    let mut failed = 0;
    let mut traces = Vec::new();
    for (name, result) in results {
        match result {
            Ok(t) => traces.push(t),
            Err(e) => {
                failed += 1;
                eprintln!("error: {name}: {e:#}");
            }
        }
    }
    if !table_format {
        println!("{}", serde_json::to_string_pretty(&traces)?);
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Builds (release) and traces each side of `chosen` in `flavors`; one result per
/// pair, in order, each reported to `on_done` as it completes. Fails as a whole only
/// when strace is missing or the build fails.
pub fn trace_pairs(
    chosen: &[&Pair],
    flavors: &[Flavor],
    count: Option<u64>,
    on_done: &dyn Fn(&ProgramTrace),
) -> Result<Vec<(String, Result<ProgramTrace>)>> {
    let strace = find_strace()?;
    let packages: Vec<&str> = chosen
        .iter()
        .flat_map(|p| p.programs().filter(|p| flavors.contains(&p.flavor)))
        .map(|p| p.package.as_str())
        .collect();
    ensure!(!packages.is_empty(), "no package of that flavor to trace");
    eprintln!("building {} (release)…", packages.join(", "));
    let built = build(&packages, Profile::Release)?;
    let mut out = Vec::new();
    for pair in chosen {
        let result = trace_pair(&strace, pair, flavors, &built, count);
        if let Ok(t) = &result {
            on_done(t);
        }
        out.push((pair.name.clone(), result));
    }
    Ok(out)
}

/// The `strace` on PATH, or an error that says how to install it.
fn find_strace() -> Result<PathBuf> {
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

fn trace_pair(
    strace: &Path,
    pair: &Pair,
    flavors: &[Flavor],
    built: &harness::Built,
    count: Option<u64>,
) -> Result<ProgramTrace> {
    let family = pair.family()?;
    let count = count.unwrap_or_else(|| family.default_count()).max(1);
    let mut out = ProgramTrace {
        program: pair.name.clone(),
        unit: family.unit().to_string(),
        workload: family.describe(count),
        flavors: Vec::new(),
    };
    let dir = project_root().join("target").join("trace");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for program in pair.programs().filter(|p| flavors.contains(&p.flavor)) {
        let exe = built.exe(&program.package)?;
        let label = program.flavor_label();
        let raw = dir.join(format!("{}-{label}.strace", program.name));
        eprintln!("tracing {} ({})…", program.package, out.workload);
        let t = trace_one(strace, exe, &raw, family, count)
            .with_context(|| format!("tracing {}", program.package))?;
        let cpu_ns_per_unit = cpu_per_unit(exe, family, count)
            .with_context(|| format!("measuring the CPU time of {}", program.package))?;
        out.flavors.push(FlavorTrace {
            flavor: label,
            raw: relative(&raw),
            program: (program.name != pair.name).then(|| program.name.clone()),
            cpu_ns_per_unit,
            ..t
        });
    }
    Ok(out)
}

/// A program running under strace; killed (not just strace) if dropped early.
struct Traced {
    run: Running,
    program: Option<Pid>,
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
    fn stop(&mut self, signal: Option<Signal>) -> Result<()> {
        let Some(pid) = self.program else {
            return Ok(());
        };
        if let Some(sig) = signal {
            kill(pid, sig).with_context(|| format!("cannot send {sig} to the program"))?;
        }
        let status = self
            .run
            .wait_exit(EXIT_TIMEOUT)
            .with_context(|| match signal {
                Some(sig) => format!("the program did not exit after {sig}"),
                None => "the program did not exit by itself".to_string(),
            })?;
        self.program = None;
        ensure!(
            status.success() || signal.is_some(),
            "the program exited with {status}; stderr: {}",
            self.run.stderr().trim()
        );
        Ok(())
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

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Units of work done, and the wall-clock window they were done in.
struct Work {
    units: u64,
    window: Option<(f64, f64)>,
}

fn trace_one(
    strace: &Path,
    exe: &Path,
    raw: &Path,
    family: Family,
    count: u64,
) -> Result<FlavorTrace> {
    let (args, listening) = family.args(count);
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
    let mut traced = Traced { run, program: None };
    let deadline = Instant::now() + Duration::from_secs(10);
    while traced.program.is_none() {
        traced.program = child_of(strace_pid, exe);
        if traced.program.is_none() {
            ensure!(
                Instant::now() < deadline && traced.run.alive(),
                "the program did not start under strace: {}",
                traced.run.stderr().trim()
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
    let started = Instant::now();
    let work = drive(family, &mut traced, &addrs, count)?;
    let seconds = started.elapsed().as_secs_f64();
    let text = fs::read_to_string(raw).with_context(|| format!("cannot read {}", raw.display()))?;
    let calls = strace::parse(&text);
    ensure!(!calls.is_empty(), "strace recorded no system call");
    Ok(FlavorTrace {
        flavor: String::new(),
        units: work.units,
        seconds,
        workload: strace::tally(&calls, work.window),
        whole_run: strace::tally(&calls, None),
        raw: String::new(),
        program: None,
        cpu_ns_per_unit: None,
    })
}

/// The server's CPU time per unit of the family's workload, run without strace: the
/// process CPU clock (every thread, nanoseconds) read before and after the workload.
/// `None` for the families whose workload is not a stream of echoes or queries.
fn cpu_per_unit(exe: &Path, family: Family, count: u64) -> Result<Option<f64>> {
    if !matches!(family, Family::UdpEcho | Family::TcpEcho | Family::Ident) {
        return Ok(None);
    }
    let (args, listening) = family.args(count);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut run, addrs) = Running::server(exe, &args, None, listening)?;
    let clock = nix::time::ClockId::pid_cpu_clock_id(run.pid()).context("clock_getcpuclockid")?;
    let before = Duration::from(clock.now().context("the server's CPU clock")?);
    let work = match family {
        Family::TcpEcho => tcp_echo(addrs[0], count)?,
        Family::Ident => ident(addrs[0], count)?,
        _ => udp_echoes(addrs[0], count)?,
    };
    let after = Duration::from(clock.now().context("the server's CPU clock")?);
    run.signal(Signal::SIGTERM)?;
    run.wait_exit(EXIT_TIMEOUT)?;
    let spent = after.saturating_sub(before).as_nanos() as f64;
    Ok(Some(spent / work.units.max(1) as f64))
}

/// Runs the family's workload, then stops the program (SIGTERM, or waits for a demo
/// that exits by itself).
fn drive(family: Family, traced: &mut Traced, addrs: &[SocketAddr], count: u64) -> Result<Work> {
    let work = match family {
        Family::UdpEcho => udp_echoes(addrs[0], count)?,
        Family::Multisocket => multisocket(traced, addrs, count)?,
        Family::TcpEcho => tcp_echo(addrs[0], count)?,
        Family::Ident => ident(addrs[0], count)?,
        Family::MioMixed => {
            let first = wait_for(traced, |e| matches!(e, Event::Tick { .. }))?;
            let Some(Event::Tick { count: start }) = first else {
                bail!("no tick line");
            };
            let from = now();
            wait_for(
                traced,
                |e| matches!(e, Event::Tick { count: n } if *n >= start + count),
            )?;
            Work {
                units: count,
                window: Some((from, now())),
            }
        }
        Family::FutureNotify => {
            wait_for(traced, |e| matches!(e, Event::Poll { .. }))?;
            let from = now();
            let done = wait_for(traced, |e| matches!(e, Event::Done { .. }))?;
            let to = now();
            let Some(Event::Done { polls, .. }) = done else {
                bail!("no done line");
            };
            traced.stop(None)?;
            return Ok(Work {
                units: polls.saturating_sub(1).max(1),
                window: Some((from, to)),
            });
        }
        Family::MioPipe => {
            traced.stop(None)?;
            return Ok(Work {
                units: 1,
                window: None,
            });
        }
        Family::MioEmpty => {
            // It never returns from poll: that is the lesson. Let it sit, then stop it.
            thread::sleep(MIO_EMPTY_RUN);
            traced.stop(Some(Signal::SIGTERM))?;
            return Ok(Work {
                units: 1,
                window: None,
            });
        }
    };
    traced.stop(Some(Signal::SIGTERM))?;
    Ok(work)
}

/// Reads stdout lines until one parses to an event matching `want`.
fn wait_for(traced: &mut Traced, want: impl Fn(&Event) -> bool) -> Result<Option<Event>> {
    let mut found = None;
    traced.run.wait_until(WORKLOAD_LIMIT, |lines| {
        found = lines
            .iter()
            .rev()
            .filter_map(|l| l.event().ok())
            .find(|e| want(e));
        found.is_some()
    })?;
    Ok(found)
}

fn client_udp(server: SocketAddr) -> Result<UdpSocket> {
    let local: SocketAddr = if server.is_ipv4() {
        "127.0.0.1:0".parse()?
    } else {
        "[::1]:0".parse()?
    };
    let sock = UdpSocket::bind(local)?;
    sock.set_read_timeout(Some(REPLY_TIMEOUT))?;
    Ok(sock)
}

/// `count` echoes with `UDP_WINDOW` datagrams in flight.
fn udp_echoes(server: SocketAddr, count: u64) -> Result<Work> {
    let sock = client_udp(server)?;
    sock.connect(server)?;
    let payload = [0x5au8; UDP_PAYLOAD];
    let mut buf = [0u8; 2048];
    let limit = Instant::now() + WORKLOAD_LIMIT;
    let from = now();
    let mut sent = 0u64;
    while sent < count.min(UDP_WINDOW as u64) {
        sock.send(&payload)?;
        sent += 1;
    }
    let mut got = 0u64;
    while got < count {
        let n = sock
            .recv(&mut buf)
            .with_context(|| format!("no echo within {REPLY_TIMEOUT:?} after {got} echoes"))?;
        ensure!(
            n == UDP_PAYLOAD,
            "an echo of {UDP_PAYLOAD} bytes came back as {n}"
        );
        got += 1;
        if sent < count {
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

/// `count` datagrams round-robin over the sockets, paced by the `recv` lines so that
/// no socket buffer overflows.
fn multisocket(traced: &mut Traced, addrs: &[SocketAddr], count: u64) -> Result<Work> {
    let sock = client_udp(addrs[0])?;
    let recv_lines = |lines: &[harness::process::Line]| {
        lines
            .iter()
            .filter(|l| matches!(l.event(), Ok(Event::Recv { .. })))
            .count() as u64
    };
    let from = now();
    let mut sent = 0u64;
    while sent < count {
        let batch = (count - sent).min(addrs.len() as u64);
        for k in 0..batch {
            sock.send_to(b"trace", addrs[((sent + k) as usize) % addrs.len()])?;
        }
        sent += batch;
        traced
            .run
            .wait_until(REPLY_TIMEOUT, |lines| recv_lines(lines) >= sent)
            .with_context(|| format!("waiting for `recv` lines of {sent} datagrams"))?;
    }
    Ok(Work {
        units: sent,
        window: Some((from, now())),
    })
}

/// `kib` KiB through a TCP echo server, 1 KiB written and read back at a time.
fn tcp_echo(server: SocketAddr, kib: u64) -> Result<Work> {
    let mut stream = TcpStream::connect(server)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    stream.set_nodelay(true)?;
    let chunk: Vec<u8> = (0..1024u32).map(|i| (i % 251) as u8).collect();
    let mut back = vec![0u8; 1024];
    let limit = Instant::now() + WORKLOAD_LIMIT;
    let from = now();
    for done in 0..kib {
        stream.write_all(&chunk)?;
        stream
            .read_exact(&mut back)
            .with_context(|| format!("echo of KiB {done} did not come back"))?;
        ensure!(back == chunk, "the echo differs from what was sent");
        ensure!(
            Instant::now() < limit,
            "{done} KiB in {WORKLOAD_LIMIT:?}: giving up"
        );
    }
    let to = now();
    stream.shutdown(std::net::Shutdown::Write)?;
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest);
    Ok(Work {
        units: kib,
        window: Some((from, to)),
    })
}

/// `count` ident queries about this very connection, one after another.
fn ident(server: SocketAddr, count: u64) -> Result<Work> {
    let stream = TcpStream::connect(server)?;
    stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
    let query = format!("{}, {}\r\n", server.port(), stream.local_addr()?.port());
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    let limit = Instant::now() + WORKLOAD_LIMIT;
    let from = now();
    for done in 0..count {
        writer.write_all(query.as_bytes())?;
        line.clear();
        let n = reader
            .read_line(&mut line)
            .with_context(|| format!("no reply to query {done}"))?;
        ensure!(
            n > 0,
            "the server closed the connection after {done} queries"
        );
        ensure!(line.contains(" : "), "not an ident reply: {line:?}");
        ensure!(
            Instant::now() < limit,
            "{done} queries in {WORKLOAD_LIMIT:?}: giving up"
        );
    }
    Ok(Work {
        units: count,
        window: Some((from, now())),
    })
}

/// Rows shown for `trace`: the main rows, then the other syscalls made at least once
/// per 20 units on either side (the most frequent few), then the rest as `other`.
pub fn rows(trace: &ProgramTrace) -> Vec<(String, Vec<f64>)> {
    let per_unit = |t: &FlavorTrace, n: u64| n as f64 / t.units.max(1) as f64;
    let mut out: Vec<(String, Vec<f64>)> = MAIN_ROWS
        .iter()
        .map(|r| {
            let v = trace
                .flavors
                .iter()
                .map(|t| per_unit(t, t.workload.get(r)))
                .collect();
            (r.to_string(), v)
        })
        .collect();
    // Other calls made at least once per 20 units get a row of their own, the most
    // frequent first and at most MAX_EXTRA_ROWS of them; a workload of a single run
    // shows the main rows only (everything start-up does would be "frequent").
    let names: BTreeSet<&String> = trace
        .flavors
        .iter()
        .flat_map(|t| t.workload.rows.keys())
        .filter(|name| !MAIN_ROWS.contains(&name.as_str()))
        .collect();
    let peak = |name: &str| {
        trace
            .flavors
            .iter()
            .map(|t| per_unit(t, t.workload.get(name)))
            .fold(0.0, f64::max)
    };
    let mut extra: Vec<&String> = names
        .into_iter()
        .filter(|name| trace.unit != "run" && peak(name) >= 0.05)
        .collect();
    extra.sort_by(|a, b| peak(b).total_cmp(&peak(a)).then(a.cmp(b)));
    extra.truncate(MAX_EXTRA_ROWS);
    for name in &extra {
        let v = trace
            .flavors
            .iter()
            .map(|t| per_unit(t, t.workload.get(name)))
            .collect();
        out.push((name.to_string(), v));
    }
    let other = trace
        .flavors
        .iter()
        .map(|t| {
            let shown: u64 = MAIN_ROWS
                .iter()
                .map(|r| t.workload.get(r))
                .chain(extra.iter().map(|r| t.workload.get(r)))
                .sum();
            per_unit(t, t.workload.total - shown)
        })
        .collect();
    out.push(("other".to_string(), other));
    out.push((
        "total".to_string(),
        trace
            .flavors
            .iter()
            .map(|t| per_unit(t, t.workload.total))
            .collect(),
    ));
    out
}

/// Figures of the whole run (start-up included), as whole numbers.
pub fn whole_run_rows(trace: &ProgramTrace) -> Vec<(&'static str, Vec<u64>)> {
    let col = |f: fn(&Tally) -> u64| trace.flavors.iter().map(|t| f(&t.whole_run)).collect();
    vec![
        ("threads", col(|t| t.threads as u64)),
        ("epoll instances", col(|t| t.epoll_instances)),
        ("wake-up fds created", col(|t| t.wakeup_fds)),
        ("pipe2", col(|t| t.get(strace::PIPE))),
        ("eventfd2", col(|t| t.get(strace::EVENTFD))),
        ("socketpair", col(|t| t.get("socketpair"))),
        ("system calls", col(|t| t.total)),
    ]
}

/// A per-unit figure: two decimals, more for a small non-zero one, none for zero.
pub fn format_per_unit(v: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if v < 0.01 {
        format!("{v:.4}")
    } else {
        format!("{v:.2}")
    }
}

/// The row of the CPU time per unit, measured without strace.
fn cpu_label(trace: &ProgramTrace) -> String {
    format!("server CPU µs per {} (no strace)", trace.unit)
}

/// The side-by-side table of one program.
pub fn table(trace: &ProgramTrace) -> String {
    let mut out = format!(
        "trace of {}: {} (release build, strace -f)\n",
        trace.program, trace.workload
    );
    for t in &trace.flavors {
        if let Some(sibling) = &t.program {
            out.push_str(&format!(
                "  column {}: {sibling}, its readiness sibling\n",
                t.flavor
            ));
        }
    }
    let per_unit = rows(trace);
    let whole = whole_run_rows(trace);
    let title = format!("system calls per {}", trace.unit);
    let width = per_unit
        .iter()
        .map(|(n, _)| n.len() + 2)
        .chain(whole.iter().map(|(n, _)| n.len() + 2))
        .chain([title.len(), "whole run (start-up included)".len()])
        .chain([cpu_label(trace).chars().count() + 2])
        .max()
        .unwrap_or(30);
    let head = |title: &str| {
        let mut s = format!("{title:<width$}");
        for t in &trace.flavors {
            s.push_str(&format!("{:>10}", t.flavor));
        }
        s.push('\n');
        s
    };
    let line = |name: &str, cells: Vec<String>| {
        let mut s = format!("  {name:<w$}", w = width - 2);
        for c in cells {
            s.push_str(&format!("{c:>10}"));
        }
        s.push('\n');
        s
    };
    out.push_str(&head(&title));
    for (name, values) in per_unit {
        // A workload of one run shows counts: no decimals.
        let cells = values
            .iter()
            .map(|v| match trace.unit.as_str() {
                "run" => format!("{v:.0}"),
                _ => format_per_unit(*v),
            })
            .collect();
        out.push_str(&line(&name, cells));
    }
    let col = |f: &dyn Fn(&FlavorTrace) -> String| trace.flavors.iter().map(f).collect();
    if trace.flavors.iter().any(|t| t.cpu_ns_per_unit.is_some()) {
        out.push_str(&line(
            &cpu_label(trace),
            col(&|t| {
                t.cpu_ns_per_unit
                    .map(|ns| format!("{:.2}", ns / 1000.0))
                    .unwrap_or_else(|| "—".to_string())
            }),
        ));
    }
    out.push_str(&line("units of work", col(&|t| t.units.to_string())));
    out.push_str(&line(
        "seconds under strace",
        col(&|t| format!("{:.1}", t.seconds)),
    ));
    out.push_str(&head("whole run (start-up included)"));
    for (name, values) in whole {
        out.push_str(&line(name, values.iter().map(u64::to_string).collect()));
    }
    let raws: Vec<&str> = trace.flavors.iter().map(|t| t.raw.as_str()).collect();
    out.push_str(&format!("raw traces: {}\n", raws.join(", ")));
    out
}

/// Traces from `trace --format json` output: an array of programs, or one program.
pub fn load_json(text: &str) -> Result<Vec<ProgramTrace>> {
    if let Ok(many) = serde_json::from_str::<Vec<ProgramTrace>>(text) {
        return Ok(many);
    }
    let one: ProgramTrace =
        serde_json::from_str(text).context("not the JSON of `cargo xtask trace --format json`")?;
    Ok(vec![one])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor(name: &str, units: u64, rows: &[(&str, u64)]) -> FlavorTrace {
        let mut t = Tally::default();
        for (r, n) in rows {
            t.rows.insert(r.to_string(), *n);
            t.total += n;
        }
        FlavorTrace {
            flavor: name.into(),
            units,
            seconds: 1.0,
            workload: t.clone(),
            whole_run: t,
            raw: format!("target/trace/x-{name}.strace"),
            program: None,
            cpu_ns_per_unit: None,
        }
    }

    #[test]
    fn per_unit_rows_extras_and_other() {
        let trace = ProgramTrace {
            program: "echo-x".into(),
            unit: "echoed datagram".into(),
            workload: "w".into(),
            flavors: vec![
                flavor(
                    "legacy",
                    100,
                    &[
                        ("recvfrom", 100),
                        ("sendto", 100),
                        ("pselect6", 100),
                        ("brk", 3),
                    ],
                ),
                flavor(
                    "modern",
                    100,
                    &[("recvfrom", 106), ("sendto", 100), ("epoll_wait", 52)],
                ),
            ],
        };
        let rows = rows(&trace);
        let get = |n: &str| {
            rows.iter()
                .find(|(r, _)| r == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("recvfrom"), [1.0, 1.06]);
        assert_eq!(get("epoll_wait"), [0.0, 0.52]);
        assert_eq!(
            get("pselect6"),
            [1.0, 0.0],
            "a frequent syscall gets its own row"
        );
        assert_eq!(get("other"), [0.03, 0.0], "rare ones are summed");
        assert_eq!(get("total"), [3.03, 2.58]);
        assert!(rows.iter().all(|(r, _)| r != "brk"));
        let text = table(&trace);
        assert!(text.contains("system calls per echoed datagram"));
        let line = |name: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(name))
                .unwrap()
        };
        assert!(line("pselect6").ends_with("      1.00         0"), "{text}");
        assert!(line("recvfrom").ends_with("      1.00      1.06"), "{text}");
        assert!(line("other").ends_with("      0.03         0"), "{text}");
        assert!(
            !text.contains("server CPU"),
            "no CPU row when none was measured"
        );
        let mut measured = trace.clone();
        measured.flavors[1].cpu_ns_per_unit = Some(4_250.0);
        measured.flavors[1].program = Some("echo-y".into());
        let text = table(&measured);
        assert!(
            line_of(&text, "server CPU µs per echoed datagram (no strace)")
                .ends_with("         —      4.25"),
            "{text}"
        );
        assert!(
            text.contains("column modern: echo-y, its readiness sibling"),
            "{text}"
        );
    }

    fn line_of<'a>(text: &'a str, name: &str) -> &'a str {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no line {name:?} in {text}"))
    }

    #[test]
    fn json_round_trip() {
        let trace = ProgramTrace {
            program: "echo-x".into(),
            unit: "echoed datagram".into(),
            workload: "w".into(),
            flavors: vec![flavor("legacy", 10, &[("futex", 4)])],
        };
        let text = serde_json::to_string(&vec![trace.clone()]).unwrap();
        let back = load_json(&text).unwrap();
        assert_eq!(back[0].flavors[0].workload.get("futex"), 4);
        let one = load_json(&serde_json::to_string(&trace).unwrap()).unwrap();
        assert_eq!(one.len(), 1);
        assert!(load_json("{}").is_err());
    }
}
