//! Checks of the TCP echo family (RFC 862 over TCP: tcp-echo, tcp-echo-mio).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use nix::sys::signal::Signal;
use nix::sys::socket::{setsockopt, sockopt};
use shared::echo::tcp_reason;
use shared::event::{Counts, Event};

use crate::check::{Check, Ctx, Outcome};
use crate::checks::{common, faults};
use harness::process::Running;

pub const CHECKS: &[Check] = &[
    crate::check!("help", common::help),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("bad-address", common::bad_address),
    crate::check!("port-in-use", common::tcp_port_in_use),
    crate::check!("ten-mb-full-duplex", ten_mb_full_duplex),
    crate::check!("concurrent-200", concurrent_200),
    crate::check!("half-close", half_close),
    crate::check!("reset-mid-stream", reset_mid_stream),
    crate::check!("sigterm", |ctx| signal_check(ctx, Signal::SIGTERM)),
    crate::check!("sigint", |ctx| signal_check(ctx, Signal::SIGINT)),
    crate::check!("sigterm-unread-echo", sigterm_unread_echo),
    crate::check!("fd-exhaustion", faults::exhaustion_echo),
    crate::check!("idle-1000", faults::idle_peers_echo),
    crate::check!("max-connections", faults::max_connections_echo),
    crate::check!("unread-10-mib", faults::unread_echo),
    crate::check!("era-purity", common::era_purity),
];

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);

fn start(ctx: &Ctx) -> Result<(Running, SocketAddr)> {
    let (run, addrs) = Running::server(ctx.exe, &ctx.args(&["--bind", "127.0.0.1:0"]), None, 1)?;
    Ok((run, addrs[0]))
}

fn connect(server: SocketAddr) -> Result<TcpStream> {
    let s = TcpStream::connect(server).with_context(|| format!("connect to {server}"))?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(IO_TIMEOUT))?;
    Ok(s)
}

/// Byte `i` of stream number `seed`: a pattern that shifts with the offset, so a
/// lost, doubled or reordered chunk shows.
fn pattern_byte(seed: u64, i: u64) -> u8 {
    let x = i.wrapping_add(seed.wrapping_mul(0x9E37_79B9));
    (x ^ (x >> 8) ^ (x >> 16) ^ seed) as u8
}

fn pattern(seed: u64, from: u64, len: usize) -> Vec<u8> {
    (0..len as u64)
        .map(|i| pattern_byte(seed, from + i))
        .collect()
}

/// Writes `total` bytes of pattern `seed`, in chunks.
fn write_pattern(mut s: &TcpStream, seed: u64, total: u64) -> Result<()> {
    let mut sent = 0u64;
    while sent < total {
        let n = (total - sent).min(64 * 1024) as usize;
        s.write_all(&pattern(seed, sent, n))
            .with_context(|| format!("write at offset {sent}"))?;
        sent += n as u64;
    }
    Ok(())
}

/// Reads until end-of-file, checking each byte against pattern `seed`; returns
/// how many came back.
fn read_pattern(mut s: &TcpStream, seed: u64) -> Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    loop {
        let n = match s.read(&mut buf) {
            Ok(n) => n,
            // A stop and continue of this process (or a signal) interrupts a read
            // that has a timeout; the kernel does not restart it.
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("read after {got} bytes of echo")),
        };
        if n == 0 {
            return Ok(got);
        }
        let want = pattern(seed, got, n);
        if buf[..n] != want[..] {
            let at = buf[..n]
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(0);
            bail!("echo differs at byte {}", got + at as u64);
        }
        got += n as u64;
    }
}

/// `closed` lines by peer: (bytes, reason).
fn closed_lines(run: &Running) -> Result<HashMap<SocketAddr, (u64, String)>> {
    let mut out = HashMap::new();
    for e in run.events()? {
        if let Event::Closed {
            peer,
            bytes,
            reason,
        } = e
        {
            out.insert(peer, (bytes, reason.to_string()));
        }
    }
    Ok(out)
}

fn count_lines(run: &Running, f: impl Fn(&Event) -> bool) -> usize {
    run.seen
        .iter()
        .filter(|l| l.event().map(|e| f(&e)).unwrap_or(false))
        .count()
}

fn wait_closed(run: &mut Running, n: usize) -> Result<()> {
    run.wait_until(EVENT_TIMEOUT, |lines| {
        lines
            .iter()
            .filter(|l| matches!(l.event(), Ok(Event::Closed { .. })))
            .count()
            >= n
    })
    .with_context(|| format!("waiting for {n} `closed` lines"))
}

/// Stops the server with `sig`: exit 0 within 2 s, and a summary that agrees with
/// the event lines. Returns the summary.
fn stop(run: &mut Running, sig: Signal) -> Result<Counts> {
    let (_, c) = run.stop_with_summary(sig, EXIT_TIMEOUT)?;
    let (Some(accepted), Some(closed), Some(bytes)) =
        (c.get("accepted"), c.get("closed"), c.get("bytes"))
    else {
        bail!("summary lacks accepted/closed/bytes: {c:?}");
    };
    let lines_accepted = count_lines(run, |e| matches!(e, Event::Accepted { .. })) as u64;
    let closed_map = closed_lines(run)?;
    let lines_bytes: u64 = closed_map.values().map(|(b, _)| b).sum();
    ensure!(
        accepted == closed,
        "summary accepted={accepted} closed={closed}: a connection was left unaccounted"
    );
    ensure!(
        (accepted, closed, bytes) == (lines_accepted, closed_map.len() as u64, lines_bytes),
        "summary accepted={accepted} closed={closed} bytes={bytes}, but the lines say \
         accepted={lines_accepted} closed={} bytes={lines_bytes}",
        closed_map.len()
    );
    Ok(c.clone())
}

const TEN_MB: u64 = 10 * 1024 * 1024;

fn ten_mb_full_duplex(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx)?;
    let s = connect(server)?;
    let me = s.local_addr()?;
    let t0 = Instant::now();
    // Write and read at the same time: a server that stopped reading while its
    // writes were pending (or the reverse) would deadlock both sides here.
    let writer = {
        let s = s.try_clone()?;
        thread::spawn(move || -> Result<()> {
            write_pattern(&s, 1, TEN_MB)?;
            s.shutdown(Shutdown::Write)?;
            Ok(())
        })
    };
    let got = read_pattern(&s, 1)?;
    writer
        .join()
        .map_err(|_| anyhow!("writer thread panicked"))??;
    let took = t0.elapsed();
    ensure!(got == TEN_MB, "got {got} bytes back, sent {TEN_MB}");
    wait_closed(&mut run, 1)?;
    let closed = closed_lines(&run)?;
    ensure!(
        closed.get(&me) == Some(&(TEN_MB, tcp_reason::EOF.to_string())),
        "closed line for {me}: {:?}",
        closed.get(&me)
    );
    let c = stop(&mut run, Signal::SIGTERM)?;
    ensure!(c.get("bytes") == Some(TEN_MB), "summary {c:?}");
    Ok(format!(
        "10 MiB written and read concurrently, echoed byte-exact in {took:.2?}, then EOF; \
         `closed … after {TEN_MB} bytes: eof`"
    ))
}

const CONNS: usize = 200;
const PER_CONN: u64 = 20_000;

fn concurrent_200(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx)?;
    // All 200 connect first, then all write at once.
    let barrier = Arc::new(Barrier::new(CONNS));
    let t0 = Instant::now();
    let workers: Vec<_> = (0..CONNS)
        .map(|i| {
            let barrier = barrier.clone();
            thread::Builder::new()
                .stack_size(256 * 1024)
                .spawn(move || -> Result<(SocketAddr, u64)> {
                    let s = connect(server);
                    barrier.wait();
                    let s = s?;
                    let seed = 1000 + i as u64;
                    let writer = {
                        let s = s.try_clone()?;
                        thread::Builder::new().stack_size(256 * 1024).spawn(
                            move || -> Result<()> {
                                write_pattern(&s, seed, PER_CONN)?;
                                s.shutdown(Shutdown::Write)?;
                                Ok(())
                            },
                        )?
                    };
                    let got = read_pattern(&s, seed).with_context(|| format!("connection {i}"))?;
                    writer.join().map_err(|_| anyhow!("writer panicked"))??;
                    Ok((s.local_addr()?, got))
                })
                .map_err(anyhow::Error::from)
        })
        .collect::<Result<_>>()?;
    let mut peers = HashMap::new();
    for w in workers {
        let (peer, got) = w.join().map_err(|_| anyhow!("client thread panicked"))??;
        ensure!(
            got == PER_CONN,
            "{peer} got {got} bytes back, sent {PER_CONN}"
        );
        peers.insert(peer, got);
    }
    let took = t0.elapsed();
    wait_closed(&mut run, CONNS)?;
    let closed = closed_lines(&run)?;
    for peer in peers.keys() {
        ensure!(
            closed.get(peer) == Some(&(PER_CONN, tcp_reason::EOF.to_string())),
            "closed line for {peer}: {:?}",
            closed.get(peer)
        );
    }
    let c = stop(&mut run, Signal::SIGTERM)?;
    ensure!(
        c.get("accepted") == Some(CONNS as u64) && c.get("bytes") == Some(CONNS as u64 * PER_CONN),
        "summary {c:?}"
    );
    Ok(format!(
        "{CONNS} connections open at once, {PER_CONN} distinct bytes each, all echoed exactly in {took:.2?}"
    ))
}

fn half_close(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx)?;
    let s = connect(server)?;
    let me = s.local_addr()?;
    // Send everything and close the sending side before reading a single byte: the
    // echo must still come back, then end-of-file.
    let len = 200_000;
    write_pattern(&s, 7, len)?;
    s.shutdown(Shutdown::Write)?;
    let got = read_pattern(&s, 7)?;
    ensure!(
        got == len,
        "got {got} bytes back after closing the write side, sent {len}"
    );
    wait_closed(&mut run, 1)?;
    let closed = closed_lines(&run)?;
    ensure!(
        closed.get(&me) == Some(&(len, tcp_reason::EOF.to_string())),
        "closed line for {me}: {:?}",
        closed.get(&me)
    );
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "{len} bytes sent, write side shut, nothing read yet: all {len} came back, then EOF"
    ))
}

fn set_linger_zero(s: &TcpStream) -> Result<()> {
    let linger = nix::libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    setsockopt(s, sockopt::Linger, &linger).context("SO_LINGER")?;
    Ok(())
}

fn reset_mid_stream(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx)?;
    // B streams 2 MiB while A streams and then resets with its echo unread.
    let b = connect(server)?;
    let b_addr = b.local_addr()?;
    let b_writer = {
        let b = b.try_clone()?;
        thread::spawn(move || -> Result<()> {
            let half = 1024 * 1024;
            write_pattern(&b, 11, half)?;
            // Pause so that A's reset lands in the middle of B's stream.
            thread::sleep(Duration::from_millis(200));
            let rest = pattern(11, half, half as usize);
            (&b).write_all(&rest)?;
            b.shutdown(Shutdown::Write)?;
            Ok(())
        })
    };
    let b_reader = {
        let b = b.try_clone()?;
        thread::spawn(move || read_pattern(&b, 11))
    };
    let a = connect(server)?;
    let a_addr = a.local_addr()?;
    write_pattern(&a, 12, 512 * 1024)?;
    // Read a little, so that the reset comes mid-stream with echo still in flight.
    let mut some = [0u8; 1000];
    (&a).read_exact(&mut some)?;
    set_linger_zero(&a)?;
    drop(a);
    let got = b_reader.join().map_err(|_| anyhow!("reader panicked"))??;
    b_writer.join().map_err(|_| anyhow!("writer panicked"))??;
    ensure!(got == 2 * 1024 * 1024, "B got {got} bytes back, sent 2 MiB");
    wait_closed(&mut run, 2)?;
    let closed = closed_lines(&run)?;
    let a_line = closed.get(&a_addr).cloned();
    ensure!(
        matches!(&a_line, Some((_, reason)) if reason == tcp_reason::RESET),
        "closed line for the reset peer {a_addr}: {a_line:?}"
    );
    ensure!(
        closed.get(&b_addr) == Some(&(2 * 1024 * 1024, tcp_reason::EOF.to_string())),
        "closed line for {b_addr}: {:?}",
        closed.get(&b_addr)
    );
    // And a new connection after the reset is served.
    let c = connect(server)?;
    write_pattern(&c, 13, 1000)?;
    c.shutdown(Shutdown::Write)?;
    ensure!(
        read_pattern(&c, 13)? == 1000,
        "a later connection was not echoed"
    );
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "A reset (SO_LINGER 0) mid-stream: `closed {a_addr} after {} bytes: reset`; B's 2 MiB \
         echoed exactly; a later connection served",
        a_line.map(|(n, _)| n).unwrap_or(0)
    ))
}

fn signal_check(ctx: &Ctx, sig: Signal) -> Outcome {
    let (mut run, server) = start(ctx)?;
    let s = connect(server)?;
    let me = s.local_addr()?;
    let mut echoed = 0u64;
    for round in 0..5u64 {
        let chunk = pattern(21, round * 1000, 1000);
        (&s).write_all(&chunk)?;
        let mut back = vec![0u8; 1000];
        (&s).read_exact(&mut back)?;
        ensure!(back == chunk, "round {round}: echo differs");
        echoed += 1000;
    }
    // The connection stays open: the signal must close it, after its echo.
    let t0 = Instant::now();
    let c = stop(&mut run, sig)?;
    let took = t0.elapsed();
    let mut rest = Vec::new();
    (&s).read_to_end(&mut rest)
        .context("reading the connection after the signal")?;
    ensure!(
        rest.is_empty(),
        "{} unexpected bytes after the signal",
        rest.len()
    );
    let closed = closed_lines(&run)?;
    ensure!(
        closed.get(&me) == Some(&(echoed, tcp_reason::SHUTDOWN.to_string())),
        "closed line for {me}: {:?}",
        closed.get(&me)
    );
    ensure!(
        (c.get("accepted"), c.get("closed"), c.get("bytes")) == (Some(1), Some(1), Some(echoed)),
        "summary {c:?}"
    );
    Ok(format!(
        "open connection closed with EOF, exit 0 after {took:.2?}, summary accepted=1 closed=1 bytes={echoed}"
    ))
}

fn sigterm_unread_echo(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx)?;
    // A receive buffer of 4 KiB: the server's echoes fill it at once.
    let s = faults::connect_small(server, 4096, None)?;
    let me = s.local_addr()?;
    // Write without ever reading until the server can take no more: its writes
    // back are stuck on a full socket.
    s.set_nonblocking(true)?;
    let chunk = vec![0x5a; 64 * 1024];
    let mut sent = 0u64;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut quiet_since = Instant::now();
    while Instant::now() < deadline && quiet_since.elapsed() < Duration::from_millis(300) {
        match (&s).write(&chunk) {
            Ok(n) => {
                sent += n as u64;
                quiet_since = Instant::now();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(10))
            }
            Err(e) => return Err(e).context("write"),
        }
    }
    ensure!(
        quiet_since.elapsed() >= Duration::from_millis(300),
        "the server kept reading for 5 s with its writes blocked ({sent} bytes)"
    );
    let t0 = Instant::now();
    stop(&mut run, Signal::SIGTERM)?;
    let took = t0.elapsed();
    // Whether the last pending bytes still fit in the server's send buffer when the
    // signal came is up to the kernel (a write can succeed on a little room that
    // raised no writable edge): both endings are correct, a hang is not.
    let closed = closed_lines(&run)?;
    let Some((echoed, reason)) = closed.get(&me).cloned() else {
        bail!("no closed line for {me}");
    };
    ensure!(
        reason == tcp_reason::ABANDONED || reason == tcp_reason::SHUTDOWN,
        "closed line for {me}: {reason}"
    );
    ensure!(
        echoed <= sent,
        "{echoed} bytes written back, only {sent} sent"
    );
    Ok(format!(
        "{sent} bytes sent, none read: exit 0 {took:.2?} after SIGTERM, \
         `closed … after {echoed} bytes: {reason}`"
    ))
}
