//! The checks a row on threads gets besides its family's (which it runs with
//! `--threads 2`, order per client and faults included): that the option is the
//! program's, and that the threads it asked for are the ones that serve.
//!
//! How a program uses its threads is what it declares (`across-cores`): N event
//! loops, each with a socket of its own on the port (`reuseport`, `thread-per-core`),
//! or one runtime whose worker threads share one socket's work (`work-stealing`).
//! Either way the clients are served on the threads the program started for them, not
//! on the thread that started the program: under load, that thread does at most a
//! quarter of the server's work. (A runtime of N workers that runs every task on the
//! thread that called `block_on`, a `LocalSet`'s, would have the N workers and use
//! none.)

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use harness::process::{run_to_end, Running};
use harness::Family;
use nix::sys::signal::Signal;
use shared::event::Event;

use crate::check::{Check, Ctx, Outcome};
use crate::checks::common;

pub const CHECKS: &[Check] = &[
    crate::check!("threads-usage", threads_usage),
    crate::check!("serves-on-threads", serves_on_threads),
];

const QUICK: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);
/// Clients at once: enough that the kernel's hash gives each of two sockets some
/// (all on one of two: one chance in 2^15).
const CLIENTS: usize = 16;
/// Datagrams each UDP client keeps in flight.
const WINDOW: usize = 4;
/// How long they keep the server busy.
const LOAD_FOR: Duration = Duration::from_millis(1500);
/// The most of the server's CPU time the thread that started it may use while it
/// serves on its threads.
const MAX_MAIN_SHARE: f64 = 0.25;
/// Less CPU than this over the load would measure nothing.
const MIN_CPU: Duration = Duration::from_millis(100);

/// `--help` lists `--threads N`, and `--threads 0` is a usage error of one line that
/// names the option (not an unknown one).
fn threads_usage(ctx: &Ctx) -> Outcome {
    let (status, stdout, _) = run_to_end(ctx.exe, &["--help"], QUICK)?;
    ensure!(status.success(), "--help exited with {status}");
    ensure!(
        stdout.contains("--threads N"),
        "the usage does not list --threads N, which the program declares (across-cores): \
         {stdout:?}"
    );
    let (status, _, stderr) = run_to_end(ctx.exe, &["--threads", "0"], QUICK)?;
    ensure!(
        status.code() == Some(2),
        "--threads 0: {status}, expected 2"
    );
    let line = common::one_line_error(&stderr)?;
    ensure!(
        line.contains("--threads") && !line.contains("unknown"),
        "--threads 0: {line}"
    );
    Ok(format!(
        "--help lists --threads N; --threads 0: exit 2, {line}"
    ))
}

fn serves_on_threads(ctx: &Ctx) -> Outcome {
    let threads = ctx.threads.context("a check of the rows on threads")?;
    let across = threads.across_cores();
    let family = ctx.program.family()?;
    // Quiet (no line per datagram or query); a UDP queue that holds every echo in
    // flight, so that nothing is dropped and every client gets all its answers.
    let mut args = vec!["--bind", "127.0.0.1:0", "--quiet"];
    let queue = (CLIENTS * WINDOW * 2).to_string();
    if family == Family::UdpEcho {
        args.extend(["--queue", &queue]);
    }
    let (mut run, addrs) = Running::server(ctx.exe, &ctx.args(&args), None, 1)?;
    let server = addrs[0];
    let pid = run.pid().as_raw();
    let want = across.sockets(threads.threads);
    let sockets = sockets_on_port(pid, server.port(), family)?;
    ensure!(
        sockets == want as usize,
        "{sockets} sockets on port {} ({across}, {} threads: expected {want})",
        server.port(),
        threads.threads
    );
    let before = cpu_by_thread(pid)?;
    let served = load(family, server)?;
    let after = cpu_by_thread(pid)?;
    stop(&mut run)?;
    let mut used: Vec<(String, Duration)> = after
        .iter()
        .map(|(tid, (name, t))| {
            let from = before.get(tid).map_or(Duration::ZERO, |(_, b)| *b);
            (format!("{name} ({tid})"), t.saturating_sub(from))
        })
        .collect();
    let total: Duration = used.iter().map(|(_, t)| *t).sum();
    let main = after.get(&pid).map_or(Duration::ZERO, |(_, t)| {
        t.saturating_sub(before.get(&pid).map_or(Duration::ZERO, |(_, b)| *b))
    });
    ensure!(
        total >= MIN_CPU,
        "the server used {total:?} of CPU under {CLIENTS} clients for {LOAD_FOR:?}: too \
         little to tell who served them"
    );
    let share = |t: Duration| t.as_secs_f64() / total.as_secs_f64();
    used.sort_by_key(|(_, t)| std::cmp::Reverse(*t));
    let busiest: Vec<String> = used
        .iter()
        .filter(|(_, t)| share(*t) >= 0.05)
        .map(|(name, t)| format!("{name} {:.0} %", share(*t) * 100.0))
        .collect();
    let figures = format!(
        "{sockets} socket(s) on the port ({across}, --threads {}); {CLIENTS} clients for \
         {LOAD_FOR:?}, {served}: the main thread did {:.0} % of the server's {total:.2?} of \
         CPU; {} threads, busiest: {}",
        threads.threads,
        share(main) * 100.0,
        after.len(),
        busiest.join(", ")
    );
    ensure!(
        share(main) <= MAX_MAIN_SHARE,
        "{figures}: the thread that started the program served the clients, not the \
         threads it asked for"
    );
    Ok(figures)
}

/// Sockets of process `pid` bound on `port`: listening ones for TCP, UDP ones for UDP;
/// each socket once, however many descriptors it has.
fn sockets_on_port(pid: i32, port: u16, family: Family) -> Result<usize> {
    let (tables, listening) = match family {
        Family::UdpEcho => (["udp", "udp6"], None),
        _ => (["tcp", "tcp6"], Some("0A")),
    };
    let mut inodes = HashSet::new();
    for table in tables {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            let local = f.get(1).and_then(|a| a.rsplit(':').next());
            let on_port = local.and_then(|p| u16::from_str_radix(p, 16).ok()) == Some(port);
            let state_ok = listening.is_none_or(|s| f.get(3) == Some(&s));
            if let (true, true, Some(inode)) = (on_port, state_ok, f.get(9)) {
                inodes.insert(inode.to_string());
            }
        }
    }
    let mut mine = HashSet::new();
    for fd in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let link = std::fs::read_link(fd?.path()).unwrap_or_default();
        let link = link.to_string_lossy();
        let inode = link
            .strip_prefix("socket:[")
            .and_then(|l| l.strip_suffix(']'));
        if let Some(inode) = inode.filter(|i| inodes.contains(*i)) {
            mine.insert(inode.to_string());
        }
    }
    Ok(mine.len())
}

/// CPU time (user + system) of each thread of `pid`, with its name, by thread id.
fn cpu_by_thread(pid: i32) -> Result<BTreeMap<i32, (String, Duration)>> {
    // SAFETY: sysconf reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut out = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let task = task?;
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse().ok()) else {
            continue;
        };
        // A thread may end between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        let (name, rest) = stat
            .split_once(" (")
            .and_then(|(_, r)| r.rsplit_once(") "))
            .context("malformed /proc/PID/task/TID/stat")?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
        let ticks: u64 = f.get(11).context("utime")?.parse::<u64>()?
            + f.get(12).context("stime")?.parse::<u64>()?;
        let time = Duration::from_micros(ticks * 1_000_000 / hz);
        out.insert(tid, (name.to_string(), time));
    }
    Ok(out)
}

/// Keeps the server busy from [`CLIENTS`] clients for [`LOAD_FOR`], each a thread that
/// asks, waits for the answer and asks again; says what was served.
fn load(family: Family, server: SocketAddr) -> Result<String> {
    let deadline = Instant::now() + LOAD_FOR;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|i| {
            thread::spawn(move || -> Result<u64> {
                match family {
                    Family::UdpEcho => udp_client(server, i, deadline),
                    Family::TcpEcho => tcp_echo_client(server, i, deadline),
                    _ => ident_client(server, deadline),
                }
            })
        })
        .collect();
    let mut answers = 0;
    for c in clients {
        answers += c.join().map_err(|_| anyhow::anyhow!("client panicked"))??;
    }
    Ok(match family {
        Family::UdpEcho => format!("{answers} echoes"),
        Family::TcpEcho => format!("{} MiB echoed", answers / (1 << 20)),
        _ => format!("{answers} queries answered"),
    })
}

/// Echoes of 64 bytes, [`WINDOW`] in flight, each checked to be the client's own, in order.
fn udp_client(server: SocketAddr, i: usize, deadline: Instant) -> Result<u64> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.set_read_timeout(Some(QUICK))?;
    sock.connect(server)?;
    let payload = |seq: u64| format!("client {i:02} {seq:010} ").repeat(3).into_bytes();
    let (mut sent, mut got) = (0u64, 0u64);
    let mut buf = [0u8; 256];
    while sent < WINDOW as u64 {
        sock.send(&payload(sent))?;
        sent += 1;
    }
    while Instant::now() < deadline {
        let n = harness::load::recv(&sock, &mut buf).context("no echo")?;
        ensure!(
            buf[..n] == payload(got),
            "client {i}: echo {got} out of order"
        );
        got += 1;
        sock.send(&payload(sent))?;
        sent += 1;
    }
    Ok(got)
}

/// 16 KiB written, 16 KiB read back, again and again.
fn tcp_echo_client(server: SocketAddr, i: usize, deadline: Instant) -> Result<u64> {
    let mut s = TcpStream::connect(server)?;
    s.set_read_timeout(Some(QUICK))?;
    let chunk: Vec<u8> = (0..16 * 1024).map(|k| (k + i) as u8).collect();
    let mut back = vec![0u8; chunk.len()];
    let mut echoed = 0u64;
    while Instant::now() < deadline {
        s.write_all(&chunk)?;
        s.read_exact(&mut back)?;
        ensure!(back == chunk, "connection {i}: the echo differs");
        echoed += chunk.len() as u64;
    }
    Ok(echoed)
}

/// A malformed query (no lookup: the server's work, not /proc's) and its reply.
fn ident_client(server: SocketAddr, deadline: Instant) -> Result<u64> {
    let s = TcpStream::connect(server)?;
    s.set_read_timeout(Some(QUICK))?;
    let mut reader = BufReader::new(s.try_clone()?);
    let mut line = String::new();
    let mut answered = 0u64;
    while Instant::now() < deadline {
        (&s).write_all(b"0, 0\r\n")?;
        line.clear();
        reader.read_line(&mut line)?;
        ensure!(line == "0, 0 : ERROR : INVALID-PORT\r\n", "reply {line:?}");
        answered += 1;
    }
    Ok(answered)
}

/// SIGTERM: exit 0 within 2 s, a summary last.
fn stop(run: &mut Running) -> Result<()> {
    run.signal(Signal::SIGTERM)?;
    let status = run.wait_exit(EXIT_TIMEOUT).context("after SIGTERM")?;
    ensure!(
        status.success(),
        "{status} after SIGTERM: {}",
        run.stderr_excerpt()
    );
    match run.events()?.last() {
        Some(Event::Summary(_)) => Ok(()),
        other => bail!("last line is not a summary: {other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_its_threads_and_sockets_counted() {
        let pid = std::process::id() as i32;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let _same = listener.try_clone().unwrap();
        assert_eq!(sockets_on_port(pid, port, Family::TcpEcho).unwrap(), 1);
        let udp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let port = udp.local_addr().unwrap().port();
        assert_eq!(sockets_on_port(pid, port, Family::UdpEcho).unwrap(), 1);
        assert_eq!(sockets_on_port(pid, port, Family::TcpEcho).unwrap(), 0);
        let threads = cpu_by_thread(pid).unwrap();
        assert!(threads.contains_key(&pid), "{threads:?}");
    }
}
