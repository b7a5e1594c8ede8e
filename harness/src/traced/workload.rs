//! The workload `trace` runs a program under, by family: the work it does (10,000
//! echoes with 16 in flight for a UDP echo server, the same step the suite's
//! `syscalls-per-echo` check runs; datagrams spread over the sockets of a multi-socket
//! program; datagrams one at a time to the idle tasks of `udp-waiters`; a flood for
//! `coop-budget`; kilobytes through a TCP echo server; queries for an ident server; a
//! demo's own sequence), its unit, and how it is driven: sequential or paced, so that
//! every system call counted belongs to a unit of work.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use nix::sys::signal::Signal;
use shared::event::Event;

use super::{now, udp_echo, EchoLoad, Measured, Traced, Work, REPLY_TIMEOUT, WORKLOAD_LIMIT};
use crate::Family;

/// What `trace` does with a program of each family: its workload.
pub trait Workload {
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

/// The UDP echo workload: the same one the suite's system-call check drives.
fn udp_load(count: u64) -> EchoLoad {
    EchoLoad {
        count,
        window: UDP_WINDOW,
        payload: UDP_PAYLOAD,
        pause: Duration::ZERO,
    }
}

/// Runs `exe` under strace (raw output to `raw`) through `count` units of its family's
/// workload, and counts its system calls.
pub fn trace(
    strace: &Path,
    exe: &Path,
    raw: &Path,
    family: Family,
    count: u64,
) -> Result<Measured> {
    match family {
        // The same step the suite's system-call check runs.
        Family::UdpEcho => udp_echo(strace, exe, raw, &udp_load(count)),
        _ => {
            let (args, listening) = family.args(count);
            let (mut traced, addrs) = Traced::start(strace, exe, &args, raw, listening)?;
            let work = drive(family, &mut traced, &addrs, count)?;
            traced.measure(work)
        }
    }
}

/// The server's CPU time per unit of the family's workload, run without strace: the
/// process CPU clock (every thread, nanoseconds) read before and after the workload.
/// `None` for the families whose workload is not a stream of echoes or queries.
pub fn cpu_per_unit(exe: &Path, family: Family, count: u64) -> Result<Option<f64>> {
    if !matches!(family, Family::UdpEcho | Family::TcpEcho | Family::Ident) {
        return Ok(None);
    }
    let (args, listening) = family.args(count);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (mut run, addrs) = crate::Running::server(exe, &args, None, listening)?;
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
    let recv_lines = |lines: &[crate::process::Line]| {
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
    let recv_lines = |lines: &[crate::process::Line]| {
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
