//! The UDP load generator: C connected client sockets, each keeping W datagrams in
//! flight, on one thread that batches its own I/O with `sendmmsg`/`recvmmsg`.
//!
//! Each datagram carries its sequence number and its send time, so an echo tells its
//! own round-trip time without a lookup. A socket that hears nothing for the loss
//! timeout while datagrams are in flight counts them as lost and re-primes its window
//! with fresh sequence numbers; an echo of an older number that arrives after that is
//! counted as late and otherwise ignored. A run is bounded both in time (warm-up,
//! measured interval, drain) and in count (`max_datagrams`).
//!
//! The server's CPU account is read through `probe` exactly at the start and at the
//! end of the measured interval, so CPU per echo is the server's CPU over that
//! interval divided by the echoes that came back in it.
//!
//! A load may be paced ([`run_paced`]): a fixed number of datagrams a second in all,
//! the sockets taking turns, each still holding at most W in flight.
//!
//! A load may send its datagrams as GSO batches ([`EchoLoad::gso_segments`]): one
//! `sendmsg` with a `UDP_SEGMENT` control message carries that many datagrams, which
//! the kernel cuts apart (or hands whole to a receiver that asked for GRO). Such a
//! load's peers read with UDP GRO as well: on loopback the receive side of a datagram
//! runs in its sender's context and is charged to the sender, so a peer that made the
//! kernel cut a GSO echo apart for it would bill the server for the cutting. The
//! control messages are quinn-udp's, as in the server that makes use of them
//! (`next/echo-batch`).
//!
//! For the multi-socket programs, which only receive, [`spray`] sends a known number
//! of datagrams spread over all their sockets at a fixed pace; [`flood`] sends a
//! known number to one echo server as fast as the kernel takes them.

use std::io::{self, IoSliceMut};
use std::mem;
use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::poll::{poll, ppoll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{setsockopt, sockopt, SockaddrLike, SockaddrStorage};
use nix::sys::time::TimeSpec;
use nix::time::ClockId;
use quinn_udp::{RecvMeta, Transmit, UdpSocketState, BATCH_SIZE};

use crate::measure::cpu::Cpu;

/// Silence after which the datagrams in flight on a socket count as lost: generous,
/// for on a busy machine a server may be descheduled for tens of milliseconds, and a
/// late echo is not a lost one.
const LOSS_TIMEOUT: Duration = Duration::from_millis(500);
/// Datagrams moved per `recvmmsg` call at most.
const RECV_BATCH: usize = 64;
/// Bytes of a datagram the client looks at: the header (sequence number, send time).
const HEADER: usize = 16;
/// RTT samples kept per run at most (8 bytes each): beyond this the percentiles are
/// those of the first samples.
const MAX_SAMPLES: usize = 4_000_000;

/// The shape of one echo load.
#[derive(Debug, Clone)]
pub struct EchoLoad {
    /// Client sockets (C), each connected to the server.
    pub sockets: usize,
    /// Datagrams in flight per socket (W).
    pub window: usize,
    /// Payload size in bytes (≥ 16: sequence number and send time).
    pub payload: usize,
    /// The warm-up and the measured interval.
    pub span: (Duration, Duration),
    /// Upper bound on datagrams sent in one run, whatever the time.
    pub max_datagrams: u64,
    /// Send the datagrams in GSO batches of this many segments (the window is then
    /// refilled a whole batch at a time).
    pub gso_segments: Option<usize>,
}

/// What one echo run measured.
#[derive(Debug, Clone, Default)]
pub struct EchoOutcome {
    /// Length of the measured interval.
    pub interval: Duration,
    /// Echoes received during the measured interval.
    pub echoes: u64,
    /// Datagrams sent and echoes received over the whole run.
    pub sent: u64,
    pub received: u64,
    /// Datagrams given up after the loss timeout (whole run, including the drain).
    pub losses: u64,
    /// Echoes that arrived after their datagram had been counted as lost.
    pub late: u64,
    /// Round-trip times of the echoes of the measured interval, sorted, nanoseconds.
    pub rtt_ns: Vec<u64>,
    /// Echoes of the measured interval, client socket by client socket.
    pub per_client: Vec<u64>,
    /// Server CPU account at the start and the end of the measured interval.
    pub server_cpu: (Cpu, Cpu),
    /// CPU time of the load generator's thread over the measured interval.
    pub client_cpu: Duration,
}

impl EchoOutcome {
    /// The `p`-th percentile (0–100) of the RTTs, in nanoseconds.
    pub fn rtt_percentile(&self, p: usize) -> Option<u64> {
        super::percentile(&self.rtt_ns, p)
    }
}

struct Client {
    socket: UdpSocket,
    next_seq: u64,
    /// Sequence numbers below this were counted as lost.
    floor: u64,
    in_flight: usize,
    /// Echoes received in the measured interval.
    echoes: u64,
    last_progress: Instant,
    /// quinn-udp's state of the socket, for GSO sends.
    gso: Option<UdpSocketState>,
}

impl Client {
    fn connect(server: SocketAddr, start: Instant, gso: bool) -> Result<Client> {
        let socket = UdpSocket::bind(LOCAL).context("bind a client socket")?;
        socket.connect(server).context("connect a client socket")?;
        socket.set_nonblocking(true)?;
        let gso = gso.then(|| gso_state(&socket)).transpose()?;
        Ok(Client {
            socket,
            next_seq: 0,
            floor: 0,
            in_flight: 0,
            echoes: 0,
            last_progress: start,
            gso,
        })
    }
}

impl Client {
    /// `n` more datagrams in flight; returns `n`.
    fn sent(&mut self, n: usize) -> u64 {
        if self.in_flight == 0 && n > 0 {
            self.last_progress = Instant::now();
        }
        self.in_flight += n;
        self.next_seq += n as u64;
        n as u64
    }
}

/// Stamps a datagram with its sequence number and its send time.
fn stamp(datagram: &mut [u8], seq: u64, now_ns: u64) {
    datagram[..8].copy_from_slice(&seq.to_le_bytes());
    datagram[8..16].copy_from_slice(&now_ns.to_le_bytes());
}

/// Whether this kernel takes GSO sends (UDP_SEGMENT) and GRO reads (UDP_GRO), or why
/// not.
pub fn gso_available() -> Result<(), String> {
    let socket = UdpSocket::bind(LOCAL).map_err(|e| e.to_string())?;
    let state = UdpSocketState::new((&socket).into()).map_err(|e| e.to_string())?;
    match (state.max_gso_segments(), state.gro_segments()) {
        (gso, gro) if gso >= 2 && gro >= 2 => Ok(()),
        _ => Err("UDP GSO and GRO (UDP_SEGMENT, UDP_GRO) are not available on this kernel".into()),
    }
}

/// quinn-udp's state of a client socket that sends GSO batches and reads with UDP GRO
/// (which quinn-udp turns on): a GSO echo arrives whole, its datagrams `stride` bytes
/// apart, each with its own sequence number and send time.
fn gso_state(socket: &UdpSocket) -> Result<UdpSocketState> {
    let state = UdpSocketState::new(socket.into()).context("quinn-udp socket state")?;
    if state.max_gso_segments() < 2 || state.gro_segments() < 2 {
        bail!("UDP GSO and GRO are not available on this kernel");
    }
    Ok(state)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    Warmup,
    Measure,
    Drain(Instant),
}

/// Where the client sockets are bound: the servers listen on IPv4 loopback.
const LOCAL: (Ipv4Addr, u16) = (Ipv4Addr::LOCALHOST, 0);

/// The CPU time of the calling thread.
fn thread_cpu() -> Result<Duration> {
    Ok(Duration::from(ClockId::CLOCK_THREAD_CPUTIME_ID.now()?))
}

/// Runs one echo load against `server`. `probe` reads the server's CPU account.
pub fn run_echo(
    server: SocketAddr,
    load: &EchoLoad,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<EchoOutcome> {
    run_paced(server, load, None, probe)
}

/// The same, paced: `pace` datagrams a second in all, from the start of the warm-up.
pub fn run_paced(
    server: SocketAddr,
    load: &EchoLoad,
    pace: Option<u64>,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<EchoOutcome> {
    let whole_batches = load
        .gso_segments
        .is_none_or(|n| n > 1 && load.window.is_multiple_of(n));
    if load.payload < HEADER || load.sockets == 0 || load.window == 0 || !whole_batches {
        bail!("bad load shape: {load:?}");
    }
    let mut run = EchoRun::new(server, load)?;
    run.pace = pace;
    while !run.advance(probe)? {
        let got = run.read_echoes()?;
        run.expire_silent();
        if !matches!(run.phase, Phase::Drain(_)) {
            run.refill()?;
        }
        // Nothing arrived: sleep until a socket is readable (or a deadline is near).
        if got == 0 {
            run.wait()?;
        }
    }
    run.out.rtt_ns.sort_unstable();
    run.out.per_client = run.clients.iter().map(|c| c.echoes).collect();
    Ok(run.out)
}

/// One echo load under way.
struct EchoRun<'a> {
    load: &'a EchoLoad,
    server: SocketAddr,
    start: Instant,
    clients: Vec<Client>,
    send_bufs: Vec<Vec<u8>>,
    recv_bufs: Vec<Vec<u8>>,
    /// What one read filled: each buffer's length, and the stride of its datagrams.
    lens: Vec<(usize, usize)>,
    meta: Vec<RecvMeta>,
    out: EchoOutcome,
    phase: Phase,
    /// The start of the measured interval, and the client thread's CPU time then.
    t0: Instant,
    c0: Duration,
    /// Paced: datagrams a second in all.
    pace: Option<u64>,
}

impl<'a> EchoRun<'a> {
    fn new(server: SocketAddr, load: &'a EchoLoad) -> Result<EchoRun<'a>> {
        let start = Instant::now();
        let gso = load.gso_segments.is_some();
        let clients = (0..load.sockets)
            .map(|_| Client::connect(server, start, gso))
            .collect::<Result<Vec<Client>>>()?;
        // A GRO read may hold a whole GSO echo: buffers of 64 KiB, the most one holds.
        let recv_bufs = match gso {
            true => vec![vec![0u8; 1 << 16]; BATCH_SIZE],
            false => vec![vec![0u8; load.payload.max(HEADER) + 64]; RECV_BATCH],
        };
        Ok(EchoRun {
            load,
            server,
            start,
            clients,
            send_bufs: vec![vec![0xA5u8; load.payload]; load.window],
            lens: Vec::with_capacity(recv_bufs.len()),
            meta: vec![RecvMeta::default(); recv_bufs.len()],
            recv_bufs,
            out: EchoOutcome::default(),
            phase: Phase::Warmup,
            t0: start,
            c0: Duration::ZERO,
            pace: None,
        })
    }

    /// Moves to the next phase when its time has come (reading the server's CPU at
    /// both ends of the measured interval); true when the run is over.
    fn advance(&mut self, probe: &mut dyn FnMut() -> Result<Cpu>) -> Result<bool> {
        let now = Instant::now();
        let warm_end = self.start + self.load.span.0;
        let measure_end = warm_end + self.load.span.1;
        let out = &mut self.out;
        match self.phase {
            Phase::Warmup if now >= warm_end => {
                out.server_cpu.0 = probe()?;
                self.c0 = thread_cpu()?;
                self.t0 = Instant::now();
                out.echoes = 0;
                out.rtt_ns.clear();
                self.phase = Phase::Measure;
            }
            // An interval in which nothing came back (a server starved of its CPU for a
            // moment, on a busy machine) goes on until something does, or the loss
            // timeout passes: its figures are per echo and per second of what it lasted.
            Phase::Measure
                if (now >= measure_end
                    && (out.echoes > 0 || now >= measure_end + LOSS_TIMEOUT))
                    || out.sent >= self.load.max_datagrams =>
            {
                out.server_cpu.1 = probe()?;
                out.client_cpu = thread_cpu()?.saturating_sub(self.c0);
                out.interval = self.t0.elapsed();
                self.phase = Phase::Drain(Instant::now() + LOSS_TIMEOUT);
            }
            Phase::Drain(until)
                if now >= until || self.clients.iter().all(|c| c.in_flight == 0) =>
            {
                // What is still in flight after the drain never came back.
                out.losses += self.clients.iter().map(|c| c.in_flight as u64).sum::<u64>();
                return Ok(true);
            }
            _ => {}
        }
        Ok(false)
    }

    /// Reads every echo that has arrived; returns how many datagrams came.
    fn read_echoes(&mut self) -> Result<usize> {
        let measuring = self.phase == Phase::Measure;
        let mut got = 0;
        for c in self.clients.iter_mut() {
            loop {
                let n = receive(c, &mut self.recv_bufs, &mut self.lens, &mut self.meta)?;
                if n == 0 {
                    break;
                }
                let now_ns = self.start.elapsed().as_nanos() as u64;
                c.last_progress = Instant::now();
                for (buf, &(len, stride)) in self.recv_bufs.iter().zip(&self.lens) {
                    for datagram in buf[..len].chunks(stride.max(1)) {
                        got += 1;
                        if datagram.len() >= HEADER {
                            record(&mut self.out, c, datagram, now_ns, measuring);
                        }
                    }
                }
                if n < self.recv_bufs.len() {
                    break;
                }
            }
        }
        Ok(got)
    }

    /// A socket silent for the loss timeout gives up what it has in flight.
    fn expire_silent(&mut self) {
        let now = Instant::now();
        for c in self.clients.iter_mut() {
            if c.in_flight > 0 && now.duration_since(c.last_progress) >= LOSS_TIMEOUT {
                self.out.losses += c.in_flight as u64;
                c.in_flight = 0;
                c.floor = c.next_seq;
            }
        }
    }

    /// Refills every socket's window, each datagram stamped with its sequence number
    /// and its send time.
    fn refill(&mut self) -> Result<()> {
        if let Some(segments) = self.load.gso_segments {
            return self.refill_gso(segments);
        }
        // Paced, what is due; each socket in turn first, so that none is favoured.
        let due = |rate| (self.start.elapsed().as_secs_f64() * rate as f64) as u64;
        let mut budget = (self.pace.map_or(u64::MAX, due)).saturating_sub(self.out.sent);
        let (count, first) = (self.clients.len(), self.out.sent as usize);
        for i in (0..count).map(|k| (first + k) % count) {
            let c = &mut self.clients[i];
            let want = (self.load.window - c.in_flight).min(budget as usize);
            if want == 0 {
                continue;
            }
            let now_ns = self.start.elapsed().as_nanos() as u64;
            for (i, buf) in self.send_bufs.iter_mut().take(want).enumerate() {
                stamp(buf, c.next_seq + i as u64, now_ns);
            }
            let n = send_batch(c.socket.as_raw_fd(), &self.send_bufs[..want], None)?;
            budget -= n as u64;
            self.out.sent += c.sent(n);
        }
        Ok(())
    }

    /// Refills every socket's window a whole GSO batch at a time: one `sendmsg` of
    /// `segments` datagrams, each stamped like a datagram sent alone.
    fn refill_gso(&mut self, segments: usize) -> Result<()> {
        let payload = self.load.payload;
        let mut batch = vec![0xA5u8; payload * segments];
        for c in self.clients.iter_mut() {
            while self.load.window - c.in_flight >= segments {
                let now_ns = self.start.elapsed().as_nanos() as u64;
                for (i, d) in batch.chunks_mut(payload).enumerate() {
                    stamp(d, c.next_seq + i as u64, now_ns);
                }
                let transmit = Transmit {
                    destination: self.server,
                    ecn: None,
                    contents: &batch,
                    segment_size: Some(payload),
                    src_ip: None,
                };
                let state = c.gso.as_ref().context("a GSO load without GSO state")?;
                match state.try_send((&c.socket).into(), &transmit) {
                    Ok(()) => {}
                    Err(e) if would_block_or_refused(&e) => break,
                    Err(e) => return Err(e).context("sendmsg with UDP_SEGMENT"),
                }
                self.out.sent += c.sent(segments);
            }
        }
        Ok(())
    }

    /// Sleeps until a client socket is readable, 5 ms at most (paced: until the next
    /// datagram is due, at most).
    fn wait(&self) -> Result<()> {
        let mut fds: Vec<PollFd> = (self.clients.iter())
            .map(|c| PollFd::new(c.socket.as_fd(), PollFlags::POLLIN))
            .collect();
        let next = |rate| Duration::from_secs_f64((self.out.sent + 1) as f64 / rate as f64);
        let due = (self.pace.map(next)).map(|d| (self.start + d).duration_since(Instant::now()));
        let limit = due.unwrap_or(Duration::MAX).min(Duration::from_millis(5));
        match ppoll(&mut fds, Some(TimeSpec::from_duration(limit)), None) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => Ok(()),
            Err(e) => Err(e).context("poll"),
        }
    }
}

/// One read of what has arrived on `c` (one `recvmmsg`; quinn-udp's, with GRO, for a
/// GSO client) into `bufs`: each buffer filled, its length and the stride of the
/// datagrams in it, in `lens`; returns how many buffers were filled.
fn receive(
    c: &Client,
    bufs: &mut [Vec<u8>],
    lens: &mut Vec<(usize, usize)>,
    meta: &mut [RecvMeta],
) -> Result<usize> {
    let Some(state) = &c.gso else {
        return recv_batch(c.socket.as_raw_fd(), bufs, lens);
    };
    let mut slices: Vec<IoSliceMut<'_>> = bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
    let n = match state.recv((&c.socket).into(), &mut slices, meta) {
        Ok(n) => n,
        Err(e) if would_block_or_refused(&e) => 0,
        Err(e) => return Err(e).context("recvmmsg with UDP GRO"),
    };
    lens.clear();
    lens.extend(meta[..n].iter().map(|m| (m.len, m.stride)));
    Ok(n)
}

/// One echo back: late if its datagram was already counted as lost; otherwise one
/// less in flight and, in the measured interval, an echo with its round-trip time.
fn record(out: &mut EchoOutcome, c: &mut Client, buf: &[u8], now_ns: u64, measuring: bool) {
    let seq = u64::from_le_bytes(buf[0..8].try_into().expect("8 bytes"));
    let sent_ns = u64::from_le_bytes(buf[8..16].try_into().expect("8 bytes"));
    if seq < c.floor {
        out.late += 1;
        return;
    }
    c.in_flight = c.in_flight.saturating_sub(1);
    out.received += 1;
    if measuring {
        (out.echoes, c.echoes) = (out.echoes + 1, c.echoes + 1);
        if out.rtt_ns.len() < MAX_SAMPLES {
            out.rtt_ns.push(now_ns.saturating_sub(sent_ns));
        }
    }
}

/// How a paced spray of datagrams over many sockets is shaped.
#[derive(Debug, Clone)]
pub struct SprayLoad {
    /// Datagrams per second, sent in bursts of `burst`.
    pub rate: u64,
    /// Datagrams per burst, each to the next socket in turn.
    pub burst: usize,
    pub duration: Duration,
    pub payload: usize,
}

/// Sends `rate × duration` datagrams, round-robin over `targets`, at a steady pace;
/// returns how many were sent.
pub fn spray(targets: &[SocketAddr], load: &SprayLoad) -> Result<u64> {
    if targets.is_empty() {
        bail!("no target sockets");
    }
    let socket = UdpSocket::bind(LOCAL).context("bind the sending socket")?;
    let total = (load.rate as f64 * load.duration.as_secs_f64()).round() as u64;
    let bufs = vec![vec![0x5Au8; load.payload]; load.burst];
    let start = Instant::now();
    let mut sent = 0u64;
    let mut next = 0usize;
    while sent < total {
        // Burst k is due at k·burst/rate seconds.
        let due = start + Duration::from_secs_f64(sent as f64 / load.rate as f64);
        let now = Instant::now();
        if due > now {
            thread::sleep(due - now);
        }
        let n = (load.burst as u64).min(total - sent) as usize;
        let dests: Vec<SocketAddr> = (0..n)
            .map(|i| targets[(next + i) % targets.len()])
            .collect();
        let done = send_batch(socket.as_raw_fd(), &bufs[..n], Some(&dests))?;
        if done == 0 {
            // Our own send buffer is full: give the kernel a moment.
            thread::sleep(Duration::from_micros(100));
        }
        next = (next + done) % targets.len();
        sent += done as u64;
        if start.elapsed() > load.duration * 4 + Duration::from_secs(2) {
            break; // bounded in time even if sends stall
        }
    }
    Ok(sent)
}

/// A send that found the socket buffer full, was interrupted, or met an ICMP report
/// of an earlier datagram (the server went away: the datagrams concerned will count
/// as lost).
fn would_block_or_refused(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted | io::ErrorKind::ConnectionRefused
    )
}

/// What a flood measured on the client side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FloodOutcome {
    /// Datagrams the kernel took from the client, and echoes that came back.
    pub sent: u64,
    pub echoed: u64,
}

/// Sends `count` datagrams of `payload` bytes to `server` from one socket, as fast as
/// the kernel takes them (`sendmmsg` batches of [`RECV_BATCH`]), reading echoes in
/// between, then reads echoes until the server has gone idle (its CPU account, read
/// through `probe`, still for `quiet`) and nothing more comes. Bounded in time: 10 s
/// of sending and 10 s of waiting at most.
pub fn flood(
    server: SocketAddr,
    count: u64,
    payload: usize,
    quiet: Duration,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<FloodOutcome> {
    let socket = UdpSocket::bind(LOCAL).context("bind the flooding socket")?;
    socket
        .connect(server)
        .context("connect the flooding socket")?;
    socket.set_nonblocking(true)?;
    // Room for every echo, so that what the client misses is not the client's doing
    // (SO_RCVBUFFORCE needs CAP_NET_ADMIN; without it the kernel's maximum applies).
    let room = (count as usize).saturating_mul(2048).min(64 << 20);
    let _ = setsockopt(&socket, sockopt::RcvBufForce, &room)
        .or_else(|_| setsockopt(&socket, sockopt::RcvBuf, &room));
    let bufs = vec![vec![0x5Au8; payload.max(1)]; RECV_BATCH];
    let mut recv_bufs = vec![vec![0u8; payload.max(1) + 64]; RECV_BATCH];
    let mut lens = Vec::with_capacity(RECV_BATCH);
    let mut out = FloodOutcome { sent: 0, echoed: 0 };
    let fd = socket.as_raw_fd();
    let start = Instant::now();
    while out.sent < count && start.elapsed() < Duration::from_secs(10) {
        let n = (count - out.sent).min(RECV_BATCH as u64) as usize;
        let done = send_batch(fd, &bufs[..n], None)?;
        out.sent += done as u64;
        out.echoed += recv_batch(fd, &mut recv_bufs, &mut lens)? as u64;
        if done == 0 {
            // Our own send buffer is full: give the kernel a moment.
            thread::sleep(Duration::from_micros(50));
        }
    }
    // A busy machine may keep the server from running for a while: wait until it has
    // done everything it will do (idle, and no echo for `quiet`), not for a fixed time.
    let waiting = Instant::now();
    let mut last_echo = Instant::now();
    let mut cpu = probe()?;
    let mut last_busy = Instant::now();
    while waiting.elapsed() < Duration::from_secs(10) {
        let got = recv_batch(fd, &mut recv_bufs, &mut lens)?;
        if got > 0 {
            out.echoed += got as u64;
            last_echo = Instant::now();
            continue;
        }
        let mut fds = [PollFd::new(socket.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, PollTimeout::from(10u8)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(e).context("poll"),
        }
        let now = probe()?;
        if now.since(&cpu) > Duration::from_micros(100) {
            last_busy = Instant::now();
        }
        cpu = now;
        if last_busy.elapsed() >= quiet && last_echo.elapsed() >= quiet {
            break;
        }
    }
    Ok(out)
}

/// `sendmmsg` of `bufs` (to the connected peer, or to `dests[i]`), without waiting;
/// returns how many datagrams the kernel took (0 if it would block).
fn send_batch(fd: RawFd, bufs: &[Vec<u8>], dests: Option<&[SocketAddr]>) -> Result<usize> {
    let names: Vec<SockaddrStorage> = dests
        .unwrap_or_default()
        .iter()
        .map(|&a| a.into())
        .collect();
    // The kernel only reads these buffers.
    let iov = |b: &Vec<u8>| iovec(b.as_ptr() as *mut u8, b.len());
    let mut iovs: Vec<libc::iovec> = bufs.iter().map(iov).collect();
    let mut hdrs = headers(&mut iovs);
    for (h, name) in hdrs.iter_mut().zip(&names) {
        h.msg_hdr.msg_name = name.as_ptr() as *mut libc::c_void;
        h.msg_hdr.msg_namelen = name.len();
    }
    // SAFETY: every header points at an iovec and (optionally) an address that live
    // until the call returns; the buffers are only read.
    let n = unsafe { libc::sendmmsg(fd, hdrs.as_mut_ptr(), hdrs.len() as _, libc::MSG_DONTWAIT) };
    batch_done(n, "sendmmsg")
}

/// `recvmmsg` into `bufs` without waiting; returns how many datagrams arrived (0 if
/// none), their lengths in `lens` (twice: a datagram is its own stride).
fn recv_batch(fd: RawFd, bufs: &mut [Vec<u8>], lens: &mut Vec<(usize, usize)>) -> Result<usize> {
    let iov = |b: &mut Vec<u8>| iovec(b.as_mut_ptr(), b.len());
    let mut iovs: Vec<libc::iovec> = bufs.iter_mut().map(iov).collect();
    let mut hdrs = headers(&mut iovs);
    let (flags, no_timeout) = (libc::MSG_DONTWAIT, std::ptr::null_mut());
    // SAFETY: every header points at an iovec over a buffer we own mutably until the
    // call returns; no timeout pointer.
    let n = unsafe { libc::recvmmsg(fd, hdrs.as_mut_ptr(), hdrs.len() as _, flags, no_timeout) };
    let n = batch_done(n, "recvmmsg")?;
    lens.clear();
    lens.extend(
        hdrs[..n]
            .iter()
            .map(|h| (h.msg_len as usize, h.msg_len as usize)),
    );
    Ok(n)
}

fn iovec(base: *mut u8, len: usize) -> libc::iovec {
    libc::iovec {
        iov_base: base as *mut libc::c_void,
        iov_len: len,
    }
}

/// A message header per iovec, each with that one buffer.
fn headers(iovs: &mut [libc::iovec]) -> Vec<libc::mmsghdr> {
    let header = |iov: &mut libc::iovec| {
        // SAFETY: mmsghdr is plain data; all-zero is a valid (empty) header.
        let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
        (h.msg_hdr.msg_iov, h.msg_hdr.msg_iovlen) = (iov, 1);
        h
    };
    iovs.iter_mut().map(header).collect()
}

/// The count a batch call returned; 0 where it would block, was interrupted, or met
/// an ICMP report of an earlier datagram (the server went away, or was not there yet:
/// the datagrams concerned will count as lost).
fn batch_done(n: libc::c_int, call: &str) -> Result<usize> {
    match n {
        0.. => Ok(n as usize),
        _ => match io::Error::last_os_error() {
            e if would_block_or_refused(&e) => Ok(0),
            e => Err(e).context(call.to_string()),
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use nix::sys::socket::getsockopt;
    use nix::unistd::Pid;

    use super::*;

    /// Echoes as echo-batch does with GRO-reading peers: each GRO batch read goes back
    /// whole, as one GSO send. Until `stop`.
    fn gso_echo(socket: &UdpSocket, stop: &AtomicBool) {
        let state = UdpSocketState::new(socket.into()).unwrap();
        socket.set_nonblocking(false).unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(10)))
            .unwrap();
        let mut bufs = vec![vec![0u8; 1 << 16]; BATCH_SIZE];
        let mut meta = vec![RecvMeta::default(); BATCH_SIZE];
        while !stop.load(Ordering::Relaxed) {
            let mut slices: Vec<IoSliceMut<'_>> =
                bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
            let Ok(n) = state.recv(socket.into(), &mut slices, &mut meta) else {
                continue;
            };
            for (buf, m) in bufs.iter().zip(&meta).take(n) {
                let transmit = Transmit {
                    destination: m.addr,
                    ecn: None,
                    contents: &buf[..m.len],
                    segment_size: Some(m.stride),
                    src_ip: None,
                };
                state.try_send(socket.into(), &transmit).unwrap();
            }
        }
    }

    #[test]
    fn an_interval_in_which_nothing_came_back_lasts_until_something_does() {
        // A server that answers only 300 ms after the load starts (starved of its CPU,
        // say): later than the warm-up and the measured interval together.
        let (server, ms) = (UdpSocket::bind(LOCAL).unwrap(), Duration::from_millis);
        let addr = server.local_addr().unwrap();
        let load = EchoLoad {
            sockets: 1,
            window: 1,
            payload: 64,
            span: (ms(50), ms(100)),
            max_datagrams: 1_000,
            gso_segments: None,
        };
        let out = thread::scope(|scope| {
            scope.spawn(|| {
                thread::sleep(ms(300));
                server.set_read_timeout(Some(ms(200))).unwrap();
                let mut buf = [0u8; 256];
                while let Ok((n, from)) = server.recv_from(&mut buf) {
                    server.send_to(&buf[..n], from).unwrap();
                }
            });
            run_echo(addr, &load, &mut || Cpu::read(Pid::this())).unwrap()
        });
        assert!(out.echoes > 0 && out.interval >= ms(200), "{out:?}");
    }

    #[test]
    fn gso_peers_read_whole_gro_batches_and_count_every_datagram() {
        let server = UdpSocket::bind(LOCAL).unwrap();
        let addr = server.local_addr().unwrap();
        let client = Client::connect(addr, Instant::now(), true).unwrap();
        assert!(getsockopt(&client.socket, sockopt::UdpGroSegment).unwrap());
        let load = EchoLoad {
            sockets: 2,
            window: 16,
            payload: 100,
            span: (Duration::from_millis(50), Duration::from_millis(200)),
            max_datagrams: 200_000,
            gso_segments: Some(8),
        };
        let stop = AtomicBool::new(false);
        let out = thread::scope(|scope| {
            scope.spawn(|| gso_echo(&server, &stop));
            let out = run_echo(addr, &load, &mut || Cpu::read(Pid::this()));
            stop.store(true, Ordering::Relaxed);
            out.unwrap()
        });
        assert!(
            out.echoes > 0 && out.rtt_ns.len() as u64 == out.echoes,
            "{out:?}"
        );
        // A GRO batch cut short by a small buffer would lose datagrams.
        assert_eq!((out.losses, out.late, out.received), (0, 0, out.sent));
    }
}
