//! `cargo xtask trace PROGRAM… [--flavor legacy|modern] [--format table|json]` — runs
//! each side of a pair (release build) under `strace -f`, drives it with a fixed,
//! bounded workload on loopback, stops it with SIGTERM, and prints the system calls per
//! unit of work of both sides next to each other.
//!
//! The workload depends on the program's family (declared in its `Cargo.toml`): 10,000
//! echoes with 16 in flight for the UDP echo servers (the step the suite's
//! `syscalls-per-echo` check runs too, shorter: `harness::traced::udp_echo`),
//! datagrams spread over the sockets of the multi-socket programs, datagrams one at a
//! time to the idle tasks of `udp-waiters`, a flood for `coop-budget`, kilobytes
//! through the TCP echo servers, queries for the ident servers, and for the demos
//! their own sequence. Per-unit figures count only the calls made while the workload
//! ran (by strace's timestamps); a second table counts the whole run, start-up
//! included, which is where a runtime's wake-up pipes and eventfds are made. The
//! strace reader and the running under strace live in `harness` (`strace`, `traced`).
//!
//! A `next` program (io_uring, batched I/O) has no legacy side: it is traced beside
//! its declared readiness sibling (`echo-uring` beside modern `echo-epoll-edge`), so
//! that `io_uring_enter` per echo reads against `epoll_wait`, `recvfrom` and `sendto`
//! per echo. For the echo and ident families the server's CPU time per unit (echo,
//! KiB, query) is measured too, in a second run of the same workload without strace
//! (ptrace multiplies the cost of a system call, so a traced run says nothing about
//! CPU).
//!
//! Besides what it prints, every traced side is saved as JSON (with the command, time
//! and machine) to `target/trace/PROGRAM-FLAVOR.json`, next to its raw strace output:
//! `cargo xtask study` takes the latest figures from there.

use std::collections::BTreeSet;
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use harness::strace::{self, Tally, MAIN_ROWS};
use harness::traced::{
    self, find_strace, now, EchoLoad, Traced, Work, REPLY_TIMEOUT, WORKLOAD_LIMIT,
};
use harness::workspace::relative;
use harness::{build, project_root, Catalogue, Family, Flavor, Profile};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use shared::event::Event;

use crate::args::{self, FlavorArg, Format};
use crate::diff;
use crate::pairs::{self, Pair};
use crate::runinfo::RunInfo;

#[derive(clap::Args)]
pub struct Args {
    /// Programs to trace (e.g. echo-tokio).
    programs: Vec<String>,
    /// Trace every pair (pitfalls only when named).
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
    /// The command, time and machine of the run (in the files saved under
    /// `target/trace/`, which the study reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunInfo>,
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
            Family::UdpWaiters => 500,
            Family::CoopBudget => 200_000,
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
            Family::UdpWaiters => "datagram",
            Family::CoopBudget => "datagram read",
        }
    }

    /// Arguments of the program and how many `listening` lines it prints.
    fn args(self, count: u64) -> (Vec<String>, usize) {
        let v = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        match self {
            Family::UdpEcho => (udp_load(count).server_args(), 1),
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
            // Idle tasks (no work per datagram): the wake-ups are the lesson, and the
            // `recv` lines pace the sender.
            Family::UdpWaiters => (
                v(&[
                    "--bind",
                    "127.0.0.1:0",
                    "--tasks",
                    &WAITERS.to_string(),
                    "--work-ms",
                    "0",
                ]),
                1,
            ),
            Family::CoopBudget => (
                v(&["--bind", "127.0.0.1:0", "--loop", "recv", "--quiet"]),
                1,
            ),
        }
    }

    fn describe(self, count: u64) -> String {
        match self {
            Family::UdpEcho => udp_load(count).describe(),
            Family::Multisocket => format!(
                "{count} datagrams round-robin over {SOCKETS} sockets, at most {SOCKETS} unread"
            ),
            Family::FutureNotify => format!("{} polls, 2 ms apart", count + 1),
            Family::MioMixed => format!("{count} timer ticks, 10 ms apart"),
            Family::TcpEcho => format!("{count} KiB echoed in 1 KiB writes over one connection"),
            Family::Ident => format!("{count} queries, one after another, over one connection"),
            Family::MioEmpty => format!(
                "{} s of polling with nothing registered",
                MIO_EMPTY_RUN.as_secs()
            ),
            Family::MioPipe => "the demo's own sequence, to its exit".to_string(),
            Family::UdpWaiters => {
                format!("{count} datagrams one at a time to {WAITERS} idle tasks on one socket")
            }
            Family::CoopBudget => format!(
                "a flood of {count} datagrams from one thread, read with --loop recv beside \
                 the 10 ms ticker"
            ),
        }
    }
}

const UDP_WINDOW: usize = 16;
const UDP_PAYLOAD: usize = 64;
const SOCKETS: usize = 10;
const WAITERS: usize = 4;
const MIO_EMPTY_RUN: Duration = Duration::from_secs(1);
/// Rows of the trace table beyond the main ones.
const MAX_EXTRA_ROWS: usize = 6;

pub fn main(args: Args) -> Result<i32> {
    // Say what is missing before building anything.
    find_strace()?;
    let catalogue = Catalogue::load()?;
    let all = pairs::pairs(&catalogue);
    let chosen: Vec<&Pair> = if args.all {
        // A pitfall (a ladder's step done in the wrong order) may fail the workload on
        // purpose (one ignores SIGTERM): traced when named, not with --all.
        all.iter()
            .filter(|p| p.programs().all(|p| p.declared.pitfall_of.is_none()))
            .collect()
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
    // A next program is traced beside its readiness sibling, a pitfall beside the
    // step it gets wrong.
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

/// The UDP echo workload: the same one the suite's system-call check drives.
fn udp_load(count: u64) -> EchoLoad {
    EchoLoad {
        count,
        window: UDP_WINDOW,
        payload: UDP_PAYLOAD,
        pause: Duration::ZERO,
    }
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
        run: None,
    };
    let dir = project_root().join("target").join("trace");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for program in pair.programs().filter(|p| flavors.contains(&p.flavor)) {
        let exe = built.exe(&program.package)?;
        // A pitfall's column is marked, beside the step it gets wrong.
        let label = match program.declared.pitfall_of {
            Some(_) => format!("{} ✗", program.flavor_label()),
            None => program.flavor_label(),
        };
        let raw = dir.join(format!(
            "{}-{}.strace",
            program.name,
            program.flavor_label()
        ));
        eprintln!("tracing {} ({})…", program.package, out.workload);
        let t = trace_one(strace, exe, &raw, family, count)
            .with_context(|| format!("tracing {}", program.package))?;
        let cpu_ns_per_unit = cpu_per_unit(exe, family, count)
            .with_context(|| format!("measuring the CPU time of {}", program.package))?;
        let t = FlavorTrace {
            flavor: label.clone(),
            raw: relative(&raw),
            program: (program.name != pair.name).then(|| program.name.clone()),
            cpu_ns_per_unit,
            ..t
        };
        // Each side is saved as it is traced, so that the study finds the latest
        // figures of every side, however they were traced.
        let saved = ProgramTrace {
            flavors: vec![t.clone()],
            run: Some(RunInfo::now()),
            ..out.clone()
        };
        let json = dir.join(format!("{}-{label}.json", pair.name));
        fs::write(&json, serde_json::to_string_pretty(&saved)? + "\n")
            .with_context(|| format!("cannot write {}", json.display()))?;
        out.flavors.push(t);
    }
    out.run = Some(RunInfo::now());
    Ok(out)
}

fn trace_one(
    strace: &Path,
    exe: &Path,
    raw: &Path,
    family: Family,
    count: u64,
) -> Result<FlavorTrace> {
    let measured = match family {
        // The same step the suite's system-call check runs.
        Family::UdpEcho => traced::udp_echo(strace, exe, raw, &udp_load(count))?,
        _ => {
            let (args, listening) = family.args(count);
            let (mut traced, addrs) = Traced::start(strace, exe, &args, raw, listening)?;
            let work = drive(family, &mut traced, &addrs, count)?;
            traced.measure(work)?
        }
    };
    Ok(FlavorTrace {
        flavor: String::new(),
        units: measured.units,
        seconds: measured.seconds,
        workload: measured.workload,
        whole_run: measured.whole_run,
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
    let (mut run, addrs) = harness::Running::server(exe, &args, None, listening)?;
    let clock = nix::time::ClockId::pid_cpu_clock_id(run.pid()).context("clock_getcpuclockid")?;
    let before = Duration::from(clock.now().context("the server's CPU clock")?);
    let work = match family {
        Family::TcpEcho => tcp_echo(addrs[0], count)?,
        Family::Ident => ident(addrs[0], count)?,
        _ => udp_load(count).drive(addrs[0])?,
    };
    let after = Duration::from(clock.now().context("the server's CPU clock")?);
    run.signal(Signal::SIGTERM)?;
    run.wait_exit(Duration::from_secs(15))?;
    let spent = after.saturating_sub(before).as_nanos() as f64;
    Ok(Some(spent / work.units.max(1) as f64))
}

/// Runs the family's workload, then stops the program (SIGTERM, or waits for a demo
/// that exits by itself).
fn drive(family: Family, traced: &mut Traced, addrs: &[SocketAddr], count: u64) -> Result<Work> {
    let work = match family {
        Family::UdpEcho => udp_load(count).drive(addrs[0])?,
        Family::UdpWaiters => waiters(traced, addrs[0], count)?,
        Family::CoopBudget => {
            let work = coop_flood(addrs[0], count)?;
            traced.stop(Some(Signal::SIGTERM))?;
            // The unit is a datagram the reader read: the flood outruns it, and the
            // kernel drops the rest.
            let read = traced
                .run
                .events()?
                .into_iter()
                .rev()
                .find_map(|e| match e {
                    Event::Summary(c) => c.get("recv"),
                    _ => None,
                });
            return Ok(Work {
                units: read.context("no summary with recv=")?.max(1),
                window: work.window,
            });
        }
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

/// `count` datagrams, one at a time: each is sent once the previous one's `task #i
/// recv` line has arrived.
fn waiters(traced: &mut Traced, server: SocketAddr, count: u64) -> Result<Work> {
    let sock = client_udp(server)?;
    let recv_lines = |lines: &[harness::process::Line]| {
        lines
            .iter()
            .filter(|l| matches!(l.event(), Ok(Event::TaskRecv { .. })))
            .count() as u64
    };
    let from = now();
    for sent in 1..=count {
        sock.send_to(b"trace", server)?;
        traced
            .run
            .wait_until(REPLY_TIMEOUT, |lines| recv_lines(lines) >= sent)
            .with_context(|| format!("waiting for the `recv` line of datagram {sent}"))?;
    }
    Ok(Work {
        units: count,
        window: Some((from, now())),
    })
}

/// A flood of `count` datagrams from one thread, as fast as it goes, bounded by
/// [`WORKLOAD_LIMIT`].
fn coop_flood(server: SocketAddr, count: u64) -> Result<Work> {
    let sock = client_udp(server)?;
    sock.connect(server)?;
    let limit = Instant::now() + WORKLOAD_LIMIT;
    let from = now();
    let mut sent = 0;
    while sent < count && Instant::now() < limit {
        // A full receive buffer drops the datagram (loopback does not push back).
        if sock.send(b"flood of thirty-two bytes, each.").is_ok() {
            sent += 1;
        }
    }
    Ok(Work {
        units: sent,
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
            let role = match t.flavor.starts_with("bridge") {
                true => "the step it gets wrong",
                false => "its readiness sibling",
            };
            out.push_str(&format!("  column {}: {sibling}, {role}\n", t.flavor));
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
    // Ten columns a cell, more for a longer label (`bridge-2 ✗`).
    let cw = trace
        .flavors
        .iter()
        .map(|t| t.flavor.chars().count() + 1)
        .max()
        .unwrap_or(10)
        .max(10);
    let head = |title: &str| {
        let mut s = format!("{title:<width$}");
        for t in &trace.flavors {
            s.push_str(&format!("{:>cw$}", t.flavor));
        }
        s.push('\n');
        s
    };
    let line = |name: &str, cells: Vec<String>| {
        let mut s = format!("  {name:<w$}", w = width - 2);
        for c in cells {
            s.push_str(&format!("{c:>cw$}"));
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
            run: None,
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
            run: None,
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
