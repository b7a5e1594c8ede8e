//! Checks of the UDP echo family (RFC 862 over UDP, bounded queue, true multiplexing);
//! the faults (a stopped and continued server, sources that could loop) are in
//! [`faults`].

mod faults;

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use harness::declared::EventOrder;
use nix::sys::signal::Signal;
use nix::sys::socket::{setsockopt, sockopt};
use shared::event::{Counts, Event, QUEUE_FULL};
use shared::vectors;

use crate::check::{Check, Ctx, Outcome, Skipped};
use crate::checks::common;
use crate::netns;
use harness::load::flood::Pace;
use harness::measure::udp_table;
use harness::process::{Line, Running};

pub const CHECKS: &[Check] = &[
    crate::check!("help", common::help),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("bad-address", common::bad_address),
    crate::check!("port-in-use", common::udp_port_in_use),
    crate::check!("payloads-ipv4", |ctx| payloads(
        ctx,
        IpAddr::V4(Ipv4Addr::LOCALHOST),
        "127.0.0.1:0"
    )),
    crate::check!("payloads-ipv6", |ctx| payloads(
        ctx,
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        "[::1]:0"
    )),
    crate::check!("concurrent-clients", concurrent_clients),
    crate::check!("burst-past-queue", burst_past_queue),
    crate::check!("reads-while-writes-pending", reads_while_writes_pending),
    crate::check!("sigterm", |ctx| signal_check(ctx, Signal::SIGTERM)),
    crate::check!("sigint", |ctx| signal_check(ctx, Signal::SIGINT)),
    crate::check!("stop-continue", faults::stop_continue),
    crate::check!("no-loop-ipv4", faults::no_loop_ipv4),
    crate::check!("no-loop-ipv6", faults::no_loop_ipv6),
    crate::check!("era-purity", common::era_purity),
];

const RECV_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);

fn start(ctx: &Ctx, bind: &str, extra: &[&str]) -> Result<(Running, SocketAddr)> {
    let mut args = vec!["--bind", bind];
    args.extend_from_slice(extra);
    let (run, addrs) = Running::server(ctx.exe, &ctx.args(&args), None, 1)?;
    Ok((run, addrs[0]))
}

fn client(ip: IpAddr) -> Result<UdpSocket> {
    let sock =
        UdpSocket::bind(SocketAddr::new(ip, 0)).with_context(|| format!("client bind on {ip}"))?;
    sock.set_read_timeout(Some(RECV_TIMEOUT))?;
    Ok(sock)
}

/// Sends `payload` and waits for its echo; checks it came from `server`, byte-exact.
fn round_trip(sock: &UdpSocket, server: SocketAddr, payload: &[u8]) -> Result<()> {
    sock.send_to(payload, server)?;
    let mut buf = vec![0u8; 70_000];
    let (n, from) = harness::load::recv_from(sock, &mut buf)
        .with_context(|| format!("no echo of {} bytes within {RECV_TIMEOUT:?}", payload.len()))?;
    ensure!(from == server, "echo came from {from}, not {server}");
    ensure!(
        n == payload.len(),
        "echo of {} bytes came back as {n} bytes",
        payload.len()
    );
    ensure!(
        &buf[..n] == payload,
        "echo of {} bytes differs from what was sent",
        payload.len()
    );
    Ok(())
}

/// Counts of `recv`, `sent`, `dropped` and `refused` lines.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    recv: u64,
    sent: u64,
    dropped: u64,
    queue_full: u64,
    refused: u64,
}

impl Tally {
    fn of(lines: &[Line]) -> Tally {
        let mut t = Tally::default();
        for line in lines {
            match line.event() {
                Ok(Event::Recv { .. }) => t.recv += 1,
                Ok(Event::Sent { .. }) => t.sent += 1,
                Ok(Event::Dropped { reason, .. }) => {
                    t.dropped += 1;
                    t.queue_full += u64::from(reason == QUEUE_FULL);
                }
                Ok(Event::Refused { .. }) => t.refused += 1,
                _ => {}
            }
        }
        t
    }

    /// Every datagram read has been echoed, dropped or refused.
    fn settled(&self) -> bool {
        self.recv == self.sent + self.dropped + self.refused
    }
}

fn summary_of(run: &Running) -> Result<Counts> {
    let events = run.events()?;
    match events.last() {
        Some(Event::Summary(c)) => Ok(c.clone()),
        other => bail!("last line is not a summary: {other:?}"),
    }
}

/// Stops the server with `sig`; checks exit 0 within 2 s and a summary that adds up
/// and agrees with the event lines. Returns the summary's (recv, sent, dropped); the
/// refused datagrams are [`stop_counting_refused`]'s.
fn stop(run: &mut Running, sig: Signal) -> Result<(u64, u64, u64)> {
    let (recv, sent, dropped, refused) = stop_counting_refused(run, sig)?;
    ensure!(
        refused == 0,
        "summary says refused={refused}: nothing here could loop"
    );
    Ok((recv, sent, dropped))
}

/// [`stop`], with the summary's `refused` count as well.
fn stop_counting_refused(run: &mut Running, sig: Signal) -> Result<(u64, u64, u64, u64)> {
    run.signal(sig)?;
    let status = run
        .wait_exit(EXIT_TIMEOUT)
        .with_context(|| format!("after {sig:?}"))?;
    ensure!(
        status.success(),
        "{status} after {sig:?}; stderr: {}",
        run.stderr_excerpt()
    );
    let c = summary_of(run)?;
    let (Some(recv), Some(sent), Some(dropped), Some(refused)) = (
        c.get("recv"),
        c.get("sent"),
        c.get("dropped"),
        c.get("refused"),
    ) else {
        bail!("summary lacks recv/sent/dropped/refused: {c:?}");
    };
    ensure!(
        recv == sent + dropped + refused,
        "summary does not add up: recv={recv} sent={sent} dropped={dropped} refused={refused}"
    );
    let t = Tally::of(&run.seen);
    ensure!(
        (t.recv, t.sent, t.dropped, t.refused) == (recv, sent, dropped, refused),
        "summary recv={recv} sent={sent} dropped={dropped} refused={refused} but the event \
         lines count {t:?}"
    );
    Ok((recv, sent, dropped, refused))
}

fn payloads(ctx: &Ctx, ip: IpAddr, bind: &str) -> Outcome {
    let sock = match client(ip) {
        Ok(s) => s,
        Err(e) if ip.is_ipv6() => {
            return Err(Skipped(format!("no IPv6 loopback here: {e:#}")).into())
        }
        Err(e) => return Err(e),
    };
    let (mut run, server) = start(ctx, bind, &[])?;
    ensure!(server.ip() == ip, "listening on {server}, asked for {bind}");
    let vectors = vectors::payloads();
    for v in &vectors {
        round_trip(&sock, server, &v.bytes).with_context(|| v.name)?;
    }
    let n = vectors.len() as u64;
    run.wait_until(RECV_TIMEOUT, |lines| Tally::of(lines).sent >= n)?;
    // The event lines match what the client saw: one recv and one sent per vector,
    // in order, with the client's address and the right lengths.
    let me = sock.local_addr()?;
    let mut expected = Vec::new();
    for v in &vectors {
        let len = v.bytes.len();
        expected.push(Event::Recv {
            len,
            from: me,
            at: None,
        });
        expected.push(Event::Sent { len, to: me });
    }
    let seen: Vec<Event> = run.events()?.into_iter().skip(1).collect();
    let order = ctx.program.declared.event_order.as_ref();
    match order.map_or(EventOrder::Causal, |o| o.expect) {
        EventOrder::Causal => ensure!(
            seen == expected,
            "event lines {seen:?} do not match the client's view {expected:?}"
        ),
        EventOrder::PerTask => ensure!(
            in_order_per_task(&seen, &expected),
            "event lines {seen:?} do not match the client's view {expected:?}, even task \
             by task ({})",
            order.map_or("", |o| o.why.as_str())
        ),
    }
    let (recv, sent, dropped) = stop(&mut run, Signal::SIGTERM)?;
    ensure!(
        (recv, sent, dropped) == (n, n, 0),
        "summary recv={recv} sent={sent} dropped={dropped}"
    );
    Ok(format!(
        "{n} vectors ({}) echoed byte-exact to {me}; {} event lines parse and match",
        vectors
            .iter()
            .map(|v| v.bytes.len().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        seen.len()
    ))
}

/// Whether `seen` holds the lines of `expected`, each kind (`recv`, `sent`) in its
/// order, and each `sent` after the `recv` of the same datagram: the order of the
/// lines of a reader task and a writer task that print their own, at the same time.
fn in_order_per_task(seen: &[Event], expected: &[Event]) -> bool {
    let kind = |sent: bool| move |e: &&Event| matches!(e, Event::Sent { .. }) == sent;
    let (seen_recv, seen_sent): (Vec<&Event>, Vec<&Event>) = (
        seen.iter().filter(kind(false)).collect(),
        seen.iter().filter(kind(true)).collect(),
    );
    let want_recv: Vec<&Event> = expected.iter().filter(kind(false)).collect();
    let want_sent: Vec<&Event> = expected.iter().filter(kind(true)).collect();
    let at = |n: usize, sent: bool| {
        let mut of_kind = seen.iter().enumerate().filter(|(_, e)| kind(sent)(e));
        of_kind.nth(n).map(|(i, _)| i)
    };
    seen.len() == expected.len()
        && seen_recv == want_recv
        && seen_sent == want_sent
        && (0..want_sent.len()).all(|n| at(n, false) < at(n, true))
}

const CLIENTS: usize = 16;
const PER_CLIENT: usize = 100;
const WINDOW: usize = 4;

fn tagged(client: usize, seq: usize, len: usize) -> Vec<u8> {
    let mut p = format!("client {client:02} seq {seq:05} ").into_bytes();
    p.resize(len, b'.');
    p
}

fn concurrent_clients(ctx: &Ctx) -> Outcome {
    // The queue is larger than what 16 clients keep in flight, so nothing may drop.
    let queue = (CLIENTS * WINDOW * 2).to_string();
    let (mut run, server) = start(ctx, "127.0.0.1:0", &["--queue", &queue])?;
    let workers: Vec<_> = (0..CLIENTS)
        .map(|c| {
            thread::spawn(move || -> Result<SocketAddr> {
                let sock = client(server.ip())?;
                let mut buf = [0u8; 256];
                let (mut next_send, mut next_recv) = (0, 0);
                while next_recv < PER_CLIENT {
                    while next_send < PER_CLIENT && next_send - next_recv < WINDOW {
                        sock.send_to(&tagged(c, next_send, 48 + c), server)?;
                        next_send += 1;
                    }
                    let (n, _) = harness::load::recv_from(&sock, &mut buf)
                        .with_context(|| format!("client {c}: no echo of seq {next_recv}"))?;
                    let want = tagged(c, next_recv, 48 + c);
                    ensure!(
                        buf[..n] == want[..],
                        "client {c} expected its seq {next_recv}, got {:?}",
                        String::from_utf8_lossy(&buf[..n])
                    );
                    next_recv += 1;
                }
                Ok(sock.local_addr()?)
            })
        })
        .collect();
    let mut peers = HashSet::new();
    for w in workers {
        peers.insert(w.join().map_err(|_| anyhow!("client thread panicked"))??);
    }
    let total = (CLIENTS * PER_CLIENT) as u64;
    run.wait_until(RECV_TIMEOUT, |lines| Tally::of(lines).sent >= total)?;
    // Per peer, the server's lines show 100 reads and 100 echoes of that peer's size.
    let mut per_peer: HashMap<SocketAddr, (usize, usize)> = HashMap::new();
    for e in run.events()? {
        match e {
            Event::Recv { from, .. } => per_peer.entry(from).or_default().0 += 1,
            Event::Sent { to, .. } => per_peer.entry(to).or_default().1 += 1,
            Event::Dropped { .. } => bail!("dropped a datagram with a queue of {queue}: {e}"),
            _ => {}
        }
    }
    ensure!(
        per_peer.len() == CLIENTS,
        "lines name {} peers, expected {CLIENTS}",
        per_peer.len()
    );
    for (peer, counts) in &per_peer {
        ensure!(peers.contains(peer), "lines name an unknown peer {peer}");
        ensure!(
            *counts == (PER_CLIENT, PER_CLIENT),
            "peer {peer}: (recv, sent) = {counts:?}"
        );
    }
    stop(&mut run, Signal::SIGTERM)?;
    Ok(format!(
        "{CLIENTS} clients × {PER_CLIENT} datagrams, window {WINDOW}: each got only its own echoes, in order"
    ))
}

/// Makes a client socket's receive buffer large (as root, past `rmem_max`), so that
/// the suite itself does not lose echoes while the server bursts them.
fn big_receive_buffer(sock: &UdpSocket) {
    let size = 8 << 20;
    if setsockopt(&sock.as_fd(), sockopt::RcvBufForce, &size).is_err() {
        let _ = setsockopt(&sock.as_fd(), sockopt::RcvBuf, &size);
    }
}

/// Reads echoes on a thread of its own and hands each one over as it arrives; the
/// thread ends when the receiver is dropped.
fn echo_stream(sock: UdpSocket) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = sock.set_read_timeout(Some(Duration::from_millis(100)));
        let mut buf = vec![0u8; 70_000];
        loop {
            match harness::load::recv_from(&sock, &mut buf) {
                Ok((n, _)) => {
                    if tx.send(buf[..n].to_vec()).is_err() {
                        return;
                    }
                }
                // Timed out: is anyone still listening?
                Err(_) => {
                    if tx.send(Vec::new()).is_err() {
                        return;
                    }
                }
            }
        }
    });
    rx
}

/// Takes echoes from `stream` until `count` have arrived or `timeout` passes, then
/// anything that follows within a short grace period (a duplicate would show here).
fn take_echoes(stream: &mpsc::Receiver<Vec<u8>>, count: u64, timeout: Duration) -> Vec<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut got = Vec::new();
    let mut grace_until = None;
    loop {
        let now = Instant::now();
        let until = grace_until.unwrap_or(deadline);
        if now >= until {
            return got;
        }
        match stream.recv_timeout(until - now) {
            // An empty marker is the reader's heartbeat; echoes here are never empty.
            Ok(e) if e.is_empty() => {}
            Ok(e) => got.push(e),
            Err(_) => return got,
        }
        if grace_until.is_none() && got.len() as u64 >= count {
            grace_until = Some(Instant::now() + Duration::from_millis(300));
        }
    }
}

fn seq_payload(seq: u32, len: usize) -> Vec<u8> {
    let mut p = seq.to_be_bytes().to_vec();
    p.extend(vectors::pattern(len - 4).iter().map(|b| b ^ seq as u8));
    p
}

/// Checks that every echo is one that was sent (`count` payloads of `len` bytes,
/// numbered from `first`), and none twice. Returns how many there were.
fn check_echoes(echoes: &[Vec<u8>], first: u32, count: u32, len: usize) -> Result<u64> {
    let mut seen = HashSet::new();
    for e in echoes {
        ensure!(e.len() >= 4, "echo of {} bytes was never sent", e.len());
        let seq = u32::from_be_bytes([e[0], e[1], e[2], e[3]]);
        ensure!(
            (first..first + count).contains(&seq) && *e == seq_payload(seq, len),
            "an echo does not match anything sent (seq {seq}, {} bytes)",
            e.len()
        );
        ensure!(seen.insert(seq), "seq {seq} echoed twice");
    }
    Ok(seen.len() as u64)
}

const BURST: u32 = 2000;
const BURST_LEN: usize = 32;

fn burst_past_queue(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let sock = client(server.ip())?;
    big_receive_buffer(&sock);
    for seq in 0..BURST {
        sock.send_to(&seq_payload(seq, BURST_LEN), server)?;
    }
    // Read echoes until a probe comes back; everything before it has arrived.
    sock.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut echoes = Vec::new();
    let mut probes_answered = 0u64;
    let mut buf = vec![0u8; 1024];
    'probing: for attempt in 0..5u32 {
        let p = format!("probe {attempt}");
        sock.send_to(p.as_bytes(), server)?;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                if buf[..n].starts_with(b"probe ") {
                    probes_answered += 1;
                    if buf[..n] == *p.as_bytes() {
                        break 'probing;
                    }
                } else {
                    echoes.push(buf[..n].to_vec());
                }
            }
        }
    }
    ensure!(
        probes_answered > 0,
        "the server did not answer a probe after the burst"
    );
    ensure!(
        run.alive(),
        "the server died during the burst: {}",
        run.stderr()
    );
    // A burst is load, not an error: what the queue drops is on stdout, counted, and
    // stderr says at most one thing about it (never a line per datagram).
    let stderr = run.stderr();
    ensure!(
        stderr.lines().count() <= 1,
        "stderr flooded during the burst: {} lines, {}",
        stderr.lines().count(),
        run.stderr_excerpt()
    );
    let (recv, sent, dropped) = stop(&mut run, Signal::SIGTERM)?;
    // Anything still in the client's buffer arrived before the probe's echo.
    sock.set_nonblocking(true)?;
    while let Ok((n, _)) = sock.recv_from(&mut buf) {
        if buf[..n].starts_with(b"probe ") {
            probes_answered += 1;
        } else {
            echoes.push(buf[..n].to_vec());
        }
    }
    let unique = check_echoes(&echoes, 0, BURST, BURST_LEN)?;
    ensure!(
        unique + probes_answered == sent,
        "client got {unique} echoes and {probes_answered} probe echoes, server says sent={sent}"
    );
    Ok(format!(
        "{BURST} datagrams at once, queue 8: server read {recv}, echoed {sent}, dropped {dropped}; \
         client got exactly {sent}, none twice; answered a probe afterwards; stderr quiet"
    ))
}

fn signal_check(ctx: &Ctx, sig: Signal) -> Outcome {
    let (mut run, server) = start(ctx, "127.0.0.1:0", &[])?;
    let sock = client(server.ip())?;
    for i in 0..20u32 {
        round_trip(&sock, server, &seq_payload(i, 100))?;
    }
    run.wait_until(RECV_TIMEOUT, |lines| Tally::of(lines).sent >= 20)?;
    let t0 = Instant::now();
    let counts = stop(&mut run, sig)?;
    ensure!(
        counts == (20, 20, 0),
        "summary (recv, sent, dropped) = {counts:?}, expected (20, 20, 0)"
    );
    Ok(format!(
        "exit 0 after {:?}, summary recv=20 sent=20 dropped=0",
        t0.elapsed()
    ))
}

/// Bytes in the kernel send queues of the UDP sockets on `port` (one, or one per
/// thread of a server that binds the port on each: `--threads`), as the server's own
/// network namespace sees them.
fn tx_queue(pid: i32, port: u16) -> Option<u64> {
    let any = SocketAddr::from((Ipv4Addr::UNSPECIFIED, port));
    let rows = udp_table::rows(pid, any).ok()?;
    rows.iter().map(|r| r.tx_queue).reduce(|a, b| a + b)
}

const FLOOD: u32 = 2400;
/// Sent after the flood; shorter than a flood datagram so the two never mix up.
const PROBE: &[u8] = b"after the flood";
const FLOOD_LEN: usize = 200;
const PACE: Duration = Duration::from_micros(500);

/// Datagrams `seqs`, paced against the clock, so that the offered load (~3 Mbit/s)
/// outruns the 1 Mbit/s link without overrunning the server's receive buffer.
fn flood(sock: &UdpSocket, server: SocketAddr, seqs: std::ops::Range<u32>) -> Result<()> {
    let pace = Pace {
        rate: 1.0 / PACE.as_secs_f64(),
        count: seqs.len() as u64,
        time: Duration::from_secs(30),
        burst: 16,
    };
    let payload = |i: u64| seq_payload(seqs.start + i as u32, FLOOD_LEN);
    let sent = harness::load::flood::paced(sock, server, pace, payload, None)?;
    ensure!(
        sent == pace.count,
        "the flood stopped at {sent} of {}",
        pace.count
    );
    Ok(())
}

/// The largest send queue of the server's socket on `port`, sampled every 5 ms until
/// told to stop.
fn sample_send_queue(pid: i32, port: u16, stop: Arc<AtomicBool>) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut max = 0;
        while !stop.load(Ordering::Relaxed) {
            max = max.max(tx_queue(pid, port).unwrap_or(0));
            thread::sleep(Duration::from_millis(5));
        }
        max
    })
}

/// Whether the server echoes a probe datagram within ten tries, a second each (the
/// link may still be draining a flood).
fn answers_a_probe(run: &mut Running, sock: &UdpSocket, server: SocketAddr) -> Result<bool> {
    let sent_probe = format!("sent {} bytes", PROBE.len());
    for _ in 0..10 {
        sock.send_to(PROBE, server)?;
        let seen = run.wait_until(Duration::from_secs(1), |lines| {
            lines.iter().any(|l| l.text.starts_with(&sent_probe))
        });
        if seen.is_ok() {
            return Ok(true);
        }
    }
    Ok(false)
}

fn reads_while_writes_pending(ctx: &Ctx) -> Outcome {
    let pair = netns::Pair::create("1mbit")
        .map_err(|e| Skipped(format!("no test namespaces here: {e:#}")))?;
    let bind = SocketAddr::from((netns::SERVER_IP, 0)).to_string();
    let args = ctx.args(&["--bind", &bind]);
    let (mut run, addrs) = Running::server(ctx.exe, &args, Some(&pair.server_ns), 1)?;
    let server = addrs[0];
    let sock = pair.client_socket()?;
    big_receive_buffer(&sock);

    // Sample the server socket's kernel send queue while the flood runs.
    let stop_sampling = Arc::new(AtomicBool::new(false));
    let sampler = sample_send_queue(run.pid().as_raw(), server.port(), stop_sampling.clone());
    let echoes = echo_stream(sock.try_clone()?);

    flood(&sock, server, 0..FLOOD)?;
    let flood_end = Instant::now();
    // Wait (on events) until every datagram read has been echoed or dropped.
    run.wait_until(Duration::from_secs(20), |lines| {
        let t = Tally::of(lines);
        t.recv > 0 && t.settled()
    })
    .context("the server's queue did not drain after the flood")?;
    stop_sampling.store(true, Ordering::Relaxed);
    let max_tx = sampler.join().map_err(|_| anyhow!("sampler panicked"))?;
    let first = Tally::of(&run.seen);

    // 1. Send backpressure reached the server: its socket's send buffer filled up,
    //    and its own queue filled (queue full → dropped).
    ensure!(
        max_tx >= 64 * 1024,
        "the server's kernel send queue never exceeded {max_tx} bytes: no backpressure reached it"
    );
    ensure!(
        first.queue_full > 0,
        "no `dropped … queue full` line: the queue never filled"
    );
    // 2. Reads kept coming while the queue was full of pending sends: each
    //    `queue full` line is a datagram read while `--queue` echoes were pending.
    let full: Vec<Instant> = run
        .seen
        .iter()
        .filter(|l| l.text.ends_with(QUEUE_FULL))
        .map(|l| l.at)
        .collect();
    let span = full.last().copied().unwrap_or(flood_end) - full[0];
    ensure!(
        full.len() >= 100 && span >= Duration::from_millis(300),
        "only {} reads while the queue was full, over {span:?}",
        full.len()
    );

    // 3. The server answers normally afterwards (once the link has drained).
    ensure!(
        answers_a_probe(&mut run, &sock, server)?,
        "no echo of a datagram sent after the flood"
    );

    // 4. A second flood, then SIGTERM while the queue is full: queued echoes are still
    //    sent before the summary, and every one of them arrives.
    flood(&sock, server, FLOOD..FLOOD + 400)?;
    let (recv, sent, dropped) = stop(&mut run, Signal::SIGTERM)?;
    let echoes = take_echoes(&echoes, sent, Duration::from_secs(15));
    let (probes, flood_echoes): (Vec<Vec<u8>>, Vec<Vec<u8>>) =
        echoes.into_iter().partition(|e| e.as_slice() == PROBE);
    let unique = check_echoes(&flood_echoes, 0, FLOOD + 400, FLOOD_LEN)?;
    ensure!(
        unique + probes.len() as u64 == sent,
        "client got {unique} flood echoes and {} probe echoes, server says sent={sent}",
        probes.len()
    );
    Ok(format!(
        "1 Mbit/s tbf between namespaces: server send queue reached {} KiB; {} reads while the queue \
         was full over {span:?}; answered afterwards; SIGTERM mid-backpressure: recv={recv} sent={sent} \
         dropped={dropped}, every echo arrived once",
        max_tx / 1024,
        full.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_in_order_task_by_task() {
        let me: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let recv = |len| Event::Recv {
            len,
            from: me,
            at: None,
        };
        let sent = |len| Event::Sent { len, to: me };
        let expected = [recv(1), sent(1), recv(2), sent(2)];
        assert!(in_order_per_task(&expected, &expected));
        // The reader printed the second datagram before the writer the first echo.
        assert!(in_order_per_task(
            &[recv(1), recv(2), sent(1), sent(2)],
            &expected
        ));
        // An echo before its datagram, echoes swapped, a line missing: never.
        assert!(!in_order_per_task(
            &[sent(1), recv(1), recv(2), sent(2)],
            &expected
        ));
        assert!(!in_order_per_task(
            &[recv(1), recv(2), sent(2), sent(1)],
            &expected
        ));
        assert!(!in_order_per_task(&[recv(1), recv(2), sent(1)], &expected));
    }
}
