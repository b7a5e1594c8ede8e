//! Faults of the UDP echo servers: a server stopped (SIGSTOP) in the middle of a flood
//! and continued, and datagrams from source ports that could start an echo loop.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Context, Result};
use harness::load::flood::Pace;
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use shared::event::Event;

use super::{
    big_receive_buffer, check_echoes, client, echo_stream, round_trip, seq_payload, start, stop,
    stop_counting_refused, take_echoes, Tally, RECV_TIMEOUT,
};
use crate::check::{Ctx, Outcome, Skipped};

/// The flood around the stop: `STOP_FLOOD` datagrams of `STOP_LEN` bytes, one every
/// `STOP_PACE` (2,000/s for 2 s); the server is stopped after `STOP_AT` and continued
/// `STOPPED` later, so that datagrams arrive before, during and after.
const STOP_FLOOD: u32 = 4000;
const STOP_LEN: usize = 64;
const STOP_PACE: Duration = Duration::from_micros(500);
const STOP_AT: Duration = Duration::from_millis(500);
const STOPPED: Duration = Duration::from_secs(1);

/// The state letter of `/proc/PID/stat` (`T` when stopped by a signal).
fn state(pid: Pid) -> Result<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.trim_start())
        .context("malformed /proc/PID/stat")?;
    after.chars().next().context("no state in /proc/PID/stat")
}

/// Waits until the state of `pid` is (or is not, with `is` false) `want`, 2 s at most.
fn wait_state(pid: Pid, want: char, is: bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let now = state(pid)?;
        if (now == want) == is {
            return Ok(());
        }
        ensure!(
            Instant::now() < deadline,
            "process state still {now:?} 2 s after the signal"
        );
        thread::sleep(Duration::from_millis(2));
    }
}

/// Sends the flood at its pace; `progress` is the next sequence number to go.
fn paced_flood(sock: UdpSocket, server: SocketAddr, progress: Arc<AtomicU64>) -> Result<()> {
    let pace = Pace {
        rate: 1.0 / STOP_PACE.as_secs_f64(),
        count: STOP_FLOOD as u64,
        time: Duration::from_secs(30),
        burst: 16,
    };
    let payload = |seq: u64| seq_payload(seq as u32, STOP_LEN);
    harness::load::flood::paced(&sock, server, pace, payload, Some(&progress))?;
    Ok(())
}

/// Collects echoes from `stream` into `echoes` until an echo equal to `probe` has
/// come, `timeout` at most; true if it came.
fn wait_for_probe(
    stream: &mpsc::Receiver<Vec<u8>>,
    probe: &[u8],
    echoes: &mut Vec<Vec<u8>>,
    probes: &mut u64,
    timeout: Duration,
) -> bool {
    let deadline = Instant::now() + timeout;
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        match stream.recv_timeout(left) {
            Ok(e) if e.is_empty() => {}
            Ok(e) if e.starts_with(b"probe ") => {
                *probes += 1;
                if e == probe {
                    return true;
                }
            }
            Ok(e) => echoes.push(e),
            Err(_) => return false,
        }
    }
    false
}

/// SIGSTOP for 1 s in the middle of a flood, then SIGCONT: the server carries on with
/// the flood, answers a probe, and its summary adds up with what the client got.
pub(super) fn stop_continue(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let pid = run.pid();
    let sock = client(server.ip())?;
    big_receive_buffer(&sock);
    let stream = echo_stream(sock.try_clone()?);
    let progress = Arc::new(AtomicU64::new(0));
    let flood = {
        let (sock, progress) = (sock.try_clone()?, progress.clone());
        thread::spawn(move || paced_flood(sock, server, progress))
    };

    thread::sleep(STOP_AT);
    run.signal(Signal::SIGSTOP)?;
    let stopped_at_seq = progress.load(Ordering::Relaxed) as u32;
    wait_state(pid, 'T', true).context("after SIGSTOP")?;
    thread::sleep(STOPPED);
    ensure!(state(pid)? == 'T', "the server did not stay stopped");
    run.signal(Signal::SIGCONT)?;
    let continued_at_seq = progress.load(Ordering::Relaxed) as u32;
    wait_state(pid, 'T', false).context("after SIGCONT")?;
    flood
        .join()
        .map_err(|_| anyhow!("flood thread panicked"))??;
    ensure!(
        continued_at_seq < STOP_FLOOD,
        "the flood ended before SIGCONT ({continued_at_seq} sent): the machine is too slow \
         for this check's timing"
    );

    // A probe after the flood: everything before it has been read when its echo comes.
    let (mut echoes, mut probes) = (Vec::new(), 0u64);
    let mut answered = false;
    for attempt in 0..5 {
        let probe = format!("probe {attempt}");
        sock.send_to(probe.as_bytes(), server)?;
        if wait_for_probe(
            &stream,
            probe.as_bytes(),
            &mut echoes,
            &mut probes,
            Duration::from_secs(2),
        ) {
            answered = true;
            break;
        }
    }
    ensure!(answered, "no probe answered after SIGCONT");
    let (recv, sent, dropped) = stop(&mut run, Signal::SIGTERM)?;
    // Whatever is still on its way arrived before the summary was printed.
    let rest = take_echoes(
        &stream,
        sent.saturating_sub(echoes.len() as u64 + probes),
        Duration::from_secs(2),
    );
    for e in rest {
        if e.starts_with(b"probe ") {
            probes += 1;
        } else {
            echoes.push(e);
        }
    }
    let unique = check_echoes(&echoes, 0, STOP_FLOOD, STOP_LEN)?;
    ensure!(
        unique + probes == sent,
        "client got {unique} flood echoes and {probes} probe echoes, server says sent={sent}"
    );
    let seqs = || {
        echoes
            .iter()
            .map(|e| u32::from_be_bytes([e[0], e[1], e[2], e[3]]))
    };
    ensure!(
        seqs().any(|s| s < stopped_at_seq),
        "no echo of a datagram sent before SIGSTOP (seq < {stopped_at_seq})"
    );
    ensure!(
        seqs().any(|s| s >= continued_at_seq),
        "no echo of a datagram sent after SIGCONT (seq ≥ {continued_at_seq}): the server did not \
         carry on with the flood"
    );
    Ok(format!(
        "flood of {STOP_FLOOD} × {STOP_LEN} B at 2,000/s, SIGSTOP at seq {stopped_at_seq} (state T \
         seen) for {STOPPED:?}, SIGCONT at seq {continued_at_seq}: server read {recv} (the kernel \
         dropped the rest while it was stopped), echoed {sent}, dropped {dropped}; client got \
         exactly {sent}, none twice, from both sides of the stop; a probe answered afterwards"
    ))
}

/// Source ports that could loop, bound by the client to send from. Binding them needs
/// root; rows run in parallel, so one row at a time holds them.
static PRIVILEGED_PORTS: Mutex<()> = Mutex::new(());

/// The ports each family checks: two that must be there (their bind failing skips
/// the check) and more that are tried when free.
const V4_PORTS: &[u16] = &[7, 19];
const V4_MORE: &[u16] = &[0, 13, 37, 1023];
const V6_PORTS: &[u16] = &[19, 7];
const V6_MORE: &[u16] = &[13, 53];

/// A socket bound at `ip:port` (root only below 1024), with a short read timeout; the
/// error of a port in use by someone else is retried for a while.
fn bind_source(ip: IpAddr, port: u16) -> Result<UdpSocket, std::io::Error> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        match UdpSocket::bind(SocketAddr::new(ip, port)) {
            Ok(s) => {
                s.set_read_timeout(Some(Duration::from_millis(200)))?;
                return Ok(s);
            }
            Err(e) if e.kind() == ErrorKind::AddrInUse && Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The sockets to send from: the required ports (or the reason to skip), the others
/// that could be bound, and, over IPv4, the server's own port on another loopback
/// address (127.0.0.2), where a twin of the server would live.
fn looping_sources(ip: IpAddr, server: SocketAddr) -> Result<Vec<UdpSocket>> {
    let (required, more) = match ip {
        IpAddr::V4(_) => (V4_PORTS, V4_MORE),
        IpAddr::V6(_) => (V6_PORTS, V6_MORE),
    };
    let mut socks = Vec::new();
    for &port in required {
        let sock = bind_source(ip, port).map_err(|e| {
            Skipped(format!(
                "cannot bind {}: {e} (the check needs root)",
                SocketAddr::new(ip, port)
            ))
        })?;
        socks.push(sock);
    }
    for &port in more {
        // Port 0 asks the kernel for an ephemeral port: a datagram cannot be sent from
        // port 0 without raw sockets, so the rule's port 0 is proved by unit tests.
        if port == 0 {
            continue;
        }
        if let Ok(sock) = bind_source(ip, port) {
            socks.push(sock);
        }
    }
    if ip.is_ipv4() {
        let twin = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), server.port());
        if let Ok(sock) = UdpSocket::bind(twin) {
            sock.set_read_timeout(Some(Duration::from_millis(200)))?;
            socks.push(sock);
        }
    }
    Ok(socks)
}

/// From each looping source, one datagram: read, reported as `refused … could loop`,
/// counted, never echoed; an ordinary client is answered in between. With
/// `--allow-any-source-port` the same datagram is echoed.
fn no_loop(ctx: &Ctx, ip: IpAddr, bind: &str) -> Outcome {
    let ordinary = match client(ip) {
        Ok(s) => s,
        Err(e) if ip.is_ipv6() => {
            return Err(Skipped(format!("no IPv6 loopback here: {e:#}")).into())
        }
        Err(e) => return Err(e),
    };
    // Poisoned only if another row panicked while holding it: the ports are free.
    let _ports = PRIVILEGED_PORTS.lock().unwrap_or_else(|p| p.into_inner());
    let (mut run, server) = start(ctx, bind, &[])?;
    let sources = looping_sources(ip, server)?;
    let payload = b"could this loop?";
    for sock in &sources {
        sock.send_to(payload, server)?;
    }
    // The server reads its socket in order: once this echo is back, every datagram
    // above has been read, and an echo of any of them would have been sent first.
    round_trip(&ordinary, server, b"ordinary client")?;
    let n = sources.len() as u64;
    run.wait_until(RECV_TIMEOUT, |lines| Tally::of(lines).refused >= n)
        .with_context(|| format!("waiting for {n} `refused` lines"))?;
    let mut got_echo = Vec::new();
    let mut buf = [0u8; 64];
    for sock in &sources {
        match harness::load::recv_from(sock, &mut buf) {
            Ok(_) => got_echo.push(sock.local_addr()?),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(e).context("reading at a looping source"),
        }
    }
    ensure!(
        got_echo.is_empty(),
        "echoed to looping sources {got_echo:?}"
    );
    let mut refused = Vec::new();
    for e in run.events()? {
        if let Event::Refused { len, from, reason } = e {
            ensure!(len == payload.len(), "refused line with {len} bytes");
            let port = from.port();
            ensure!(
                reason.starts_with(&format!("source port {port} ("))
                    && reason.ends_with("could loop"),
                "refused line gives the reason {reason:?}"
            );
            refused.push(format!(
                "{port} ({})",
                reason.split(['(', ')']).nth(1).unwrap_or("")
            ));
        }
    }
    ensure!(
        refused.len() as u64 == n,
        "{} refused lines for {n} looping sources",
        refused.len()
    );
    let (recv, sent, dropped, refused_count) = stop_counting_refused(&mut run, Signal::SIGTERM)?;
    ensure!(
        (recv, sent, dropped, refused_count) == (n + 1, 1, 0, n),
        "summary recv={recv} sent={sent} dropped={dropped} refused={refused_count}, expected \
         recv={} sent=1 dropped=0 refused={n}",
        n + 1
    );

    // The rule off: the first looping source gets its echo.
    let (mut run, server) = start(ctx, bind, &["--allow-any-source-port"])?;
    let first = &sources[0];
    round_trip(first, server, payload).context("with --allow-any-source-port")?;
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "refused and never echoed, from source ports {}; summary recv={recv} sent={sent} \
         refused={refused_count}; with --allow-any-source-port port {} is echoed",
        refused.join(", "),
        first.local_addr()?.port()
    ))
}

pub(super) fn no_loop_ipv4(ctx: &Ctx) -> Outcome {
    no_loop(ctx, IpAddr::V4(Ipv4Addr::LOCALHOST), "127.0.0.1:0")
}

pub(super) fn no_loop_ipv6(ctx: &Ctx) -> Outcome {
    no_loop(ctx, IpAddr::V6(Ipv6Addr::LOCALHOST), "[::1]:0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_state_is_running() {
        let s = state(Pid::this()).unwrap();
        assert!(matches!(s, 'R' | 'S'), "{s}");
    }
}
