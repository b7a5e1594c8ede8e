//! Fault checks every TCP server gets, echo and ident alike: out of descriptors, a
//! thousand idle (or slow) peers, the connection bound, and (echo) a peer that never
//! reads. What a server must do in each is in `../shared/DESIGN.md` ("Faults are part of
//! the lesson") and in `shared::accept`; the figures each check measures are in its
//! detail line, so that a run of the suite is also the measurement.

use std::collections::HashSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use harness::measure::cpu::{self, rss_kib, Cpu};
use harness::process::{Line, Running};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use shared::event::{Counts, Event};

use crate::check::{Ctx, Outcome, Skipped};

/// What a client of the family sends to be served, and what it gets back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// RFC 862: the bytes come back.
    Echo,
    /// RFC 1413: a malformed query gets its INVALID-PORT reply (no lookup, so the
    /// checks measure the server, not `/proc`).
    Ident,
}

impl Proto {
    /// The request of probe client `i`, and the answer it must get.
    fn exchange(self, i: usize) -> (Vec<u8>, Vec<u8>) {
        match self {
            Proto::Echo => {
                let req = format!("probe {i:06} of the fault checks\n").into_bytes();
                (req.clone(), req)
            }
            Proto::Ident => (
                b"0, 0\r\n".to_vec(),
                b"0, 0 : ERROR : INVALID-PORT\r\n".to_vec(),
            ),
        }
    }

    /// The summary key that counts the work done (bytes echoed, queries answered).
    fn work_key(self) -> &'static str {
        match self {
            Proto::Echo => "bytes",
            Proto::Ident => "queries",
        }
    }
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(10);
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);
/// What "served promptly" means while the server is under a fault.
const PROMPT: Duration = Duration::from_secs(2);

// ----- the server process, seen from outside -----

/// Starts the server with `args` and, if given, a descriptor limit (soft and hard
/// `RLIMIT_NOFILE`) set in the child before it executes the program.
fn start(ctx: &Ctx, args: &[&str], nofile: Option<u64>) -> Result<(Running, SocketAddr)> {
    let mut cmd = Command::new(ctx.exe);
    cmd.args(ctx.args(&["--bind", "127.0.0.1:0"])).args(args);
    if let Some(limit) = nofile {
        let lim = libc::rlimit {
            rlim_cur: limit as libc::rlim_t,
            rlim_max: limit as libc::rlim_t,
        };
        // SAFETY: between fork and exec only async-signal-safe calls may run;
        // setrlimit is a plain system call, and `lim` was built before the fork.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let mut run = Running::start(cmd)?;
    let addrs = run.listening(1)?;
    Ok((run, addrs[0]))
}

/// The share of one core a process used over `window`.
fn cpu_share(pid: Pid, window: Duration) -> Result<f64> {
    let (c0, t0) = (Cpu::read(pid)?, Instant::now());
    thread::sleep(window);
    let (c1, t1) = (Cpu::read(pid)?, Instant::now());
    Ok(c1.since(&c0).as_secs_f64() / (t1 - t0).as_secs_f64())
}

/// Raises this process's soft descriptor limit to its hard limit if it is below
/// `need`; a check that cannot have `need` descriptors is skipped, never passed.
fn raise_nofile(need: u64) -> Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error()).context("getrlimit");
    }
    let need = need as libc::rlim_t;
    if lim.rlim_cur < need {
        if lim.rlim_max < need {
            return Err(Skipped(format!(
                "needs {need} descriptors, and the hard RLIMIT_NOFILE is {}",
                lim.rlim_max
            ))
            .into());
        }
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } != 0 {
            return Err(Skipped(format!(
                "cannot raise RLIMIT_NOFILE to {need}: {}",
                std::io::Error::last_os_error()
            ))
            .into());
        }
        lim = raised;
    }
    Ok(lim.rlim_cur)
}

/// Stops the server with SIGTERM: exit 0 within 2 s, and a summary that adds up with
/// the event lines (accepted = closed = the lines of each; the work counted = the
/// bytes on the `closed` lines, or the `reply` lines). Returns the summary.
fn stop(run: &mut Running, proto: Proto) -> Result<Counts> {
    let (events, c) = stop_quiet(run, proto)?;
    let mut lines = (0u64, 0u64, 0u64);
    for e in &events {
        match (e, proto) {
            (Event::Accepted { .. }, _) => lines.0 += 1,
            (Event::Closed { bytes, .. }, Proto::Echo) => {
                lines.1 += 1;
                lines.2 += bytes;
            }
            (Event::Closed { .. }, Proto::Ident) => lines.1 += 1,
            (Event::Reply { .. }, Proto::Ident) => lines.2 += 1,
            _ => {}
        }
    }
    let key = proto.work_key();
    let summary = (c.get("accepted"), c.get("closed"), c.get(key));
    ensure!(
        summary == (Some(lines.0), Some(lines.1), Some(lines.2)),
        "summary accepted, closed, {key} = {summary:?}, but the lines count {lines:?}"
    );
    Ok(c)
}

/// The last lines of a long stderr, for a failure message.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().collect();
    let from = lines.len().saturating_sub(3);
    format!(
        "{} bytes, {} lines, ending {:?}",
        stderr.len(),
        lines.len(),
        &lines[from..]
    )
}

// ----- clients -----

/// One client that sent its request and waits for its answer.
struct Probe {
    stream: Option<TcpStream>,
    peer: SocketAddr,
    want: Vec<u8>,
    got: Vec<u8>,
    answered: bool,
    /// The server closed the connection (or it failed) before the whole answer came.
    lost: Option<String>,
}

impl Probe {
    /// Connects, sends request `i`; the answer is read later, without blocking.
    fn send(server: SocketAddr, proto: Proto, i: usize) -> Result<Probe> {
        let stream = TcpStream::connect_timeout(&server, CONNECT_TIMEOUT)
            .with_context(|| format!("client {i}: connect"))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let (req, want) = proto.exchange(i);
        (&stream)
            .write_all(&req)
            .with_context(|| format!("client {i}: send"))?;
        stream.set_nonblocking(true)?;
        Ok(Probe {
            peer: stream.local_addr()?,
            stream: Some(stream),
            want,
            got: Vec::new(),
            answered: false,
            lost: None,
        })
    }

    fn waiting(&self) -> bool {
        !self.answered && self.lost.is_none() && self.stream.is_some()
    }

    /// Reads what has arrived; returns whether the answer is now complete.
    fn read_some(&mut self) -> Result<bool> {
        let Some(stream) = self.stream.as_ref() else {
            return Ok(false);
        };
        let mut buf = [0u8; 4096];
        loop {
            match (&*stream).read(&mut buf) {
                Ok(0) => {
                    self.lost = Some(format!("closed after {} bytes", self.got.len()));
                    return Ok(false);
                }
                Ok(n) => self.got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.lost = Some(e.to_string());
                    return Ok(false);
                }
            }
        }
        if self.got.len() >= self.want.len() {
            ensure!(
                self.got == self.want,
                "{} got {:?}, expected {:?}",
                self.peer,
                String::from_utf8_lossy(&self.got),
                String::from_utf8_lossy(&self.want)
            );
            self.answered = true;
        }
        Ok(self.answered)
    }

    /// Closes the client's side: it leaves.
    fn leave(&mut self) {
        self.stream = None;
    }
}

/// Waits for answers: returns the probes answered meanwhile, once every probe is
/// answered, or none was for `settle`, or `limit` has passed.
fn gather(probes: &mut [Probe], settle: Duration, limit: Duration) -> Result<Vec<usize>> {
    let deadline = Instant::now() + limit;
    let mut quiet_since = Instant::now();
    let mut answered = Vec::new();
    loop {
        let waiting: Vec<usize> = (0..probes.len()).filter(|&i| probes[i].waiting()).collect();
        let now = Instant::now();
        if waiting.is_empty() || now >= deadline || now - quiet_since >= settle {
            return Ok(answered);
        }
        let ready: Vec<usize> = {
            let mut fds: Vec<PollFd> = waiting
                .iter()
                .filter_map(|&i| probes[i].stream.as_ref())
                .map(|s| PollFd::new(s.as_fd(), PollFlags::POLLIN))
                .collect();
            let wait = (deadline - now).min(Duration::from_millis(100));
            let ms = u16::try_from(wait.as_millis()).unwrap_or(100);
            match poll(&mut fds, PollTimeout::from(ms)) {
                Ok(_) => {}
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).context("poll"),
            }
            waiting
                .iter()
                .zip(&fds)
                .filter(|(_, fd)| fd.revents().is_some_and(|r| !r.is_empty()))
                .map(|(&i, _)| i)
                .collect()
        };
        for i in ready {
            if probes[i].read_some()? {
                answered.push(i);
                quiet_since = Instant::now();
            }
        }
    }
}

/// A fresh client is served: connect, ask, answer; returns how long it took.
fn served(server: SocketAddr, proto: Proto, i: usize, within: Duration) -> Result<Duration> {
    let t0 = Instant::now();
    let mut p = Probe::send(server, proto, i)?;
    let done = gather(std::slice::from_mut(&mut p), within, within)?;
    let took = t0.elapsed();
    if done.is_empty() {
        bail!(
            "a fresh client got no answer within {within:?} ({})",
            p.lost.as_deref().unwrap_or("nothing came")
        );
    }
    Ok(took)
}

/// The peers of the `accepted` lines so far.
fn accepted_peers(run: &mut Running) -> HashSet<SocketAddr> {
    run.collect();
    run.seen
        .iter()
        .filter_map(|l| match l.event() {
            Ok(Event::Accepted { peer }) => Some(peer),
            _ => None,
        })
        .collect()
}

/// Waits until the server has printed `n` `accepted` lines (counting each line once).
fn wait_accepted(run: &mut Running, n: usize) -> Result<()> {
    let (mut looked, mut accepted) = (0, 0);
    let result = run.wait_until(Duration::from_secs(5), |lines| {
        for l in &lines[looked..] {
            if matches!(l.event(), Ok(Event::Accepted { .. })) {
                accepted += 1;
            }
        }
        looked = lines.len();
        accepted >= n
    });
    result.with_context(|| format!("the server accepted {accepted} of {n} connections within 5 s"))
}

// ----- descriptor exhaustion -----

/// The descriptor limit of the server: room for a few dozen connections beside what
/// the runtime itself holds (3 standard streams, the listener, an epoll instance,
/// the signal machinery, and per connection one descriptor, two in ident-blocking).
const EXHAUSTION_NOFILE: u64 = 64;
/// More clients than the server can hold at once, fewer than any listen backlog here
/// (128 for std's listener).
const EXHAUSTION_CLIENTS: usize = 100;
/// The share of a core a server may use while it cannot accept.
const MAX_CPU_WHILE_EXHAUSTED: f64 = 0.10;
/// What stderr may grow by over the measured second (an episode prints one line when
/// it starts and one when it ends).
const MAX_STDERR_GROWTH: usize = 400;

/// More clients than the server has descriptors for: those accepted are served, those
/// in the backlog wait while the server pauses (little CPU, a bounded stderr), all are
/// served as the first leave, a fresh client is served within 2 s once they all have
/// left, and SIGTERM still stops it with a summary that adds up.
///
/// Beside it, at the same time, a second server is exhausted the same way and stopped
/// with SIGTERM in the middle of its pause: it exits 0 within 2 s, summary and all.
fn exhaustion(ctx: &Ctx, proto: Proto) -> Outcome {
    let (recovers, stops) = thread::scope(|s| {
        let stops = s.spawn(|| exhaustion_sigterm(ctx, proto));
        let recovers = exhaustion_recovers(ctx, proto);
        let stops = stops
            .join()
            .unwrap_or_else(|_| Err(anyhow!("the SIGTERM half panicked")));
        (recovers, stops)
    });
    let (recovers, stops) = (
        recovers?,
        stops.context("SIGTERM while out of descriptors")?,
    );
    Ok(format!("{recovers}; {stops}"))
}

/// The clients served first leave; then, round by round, those waiting are served
/// and leave in turn, for at most 20 s. Returns the rounds it took.
fn served_as_others_leave(probes: &mut [Probe], first: &[usize]) -> Result<usize> {
    for &i in first {
        probes[i].leave();
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut rounds = 0;
    while probes.iter().any(Probe::waiting) && Instant::now() < deadline {
        rounds += 1;
        let settle = Duration::from_millis(2500);
        let done = gather(probes, settle, deadline - Instant::now())?;
        if done.is_empty() {
            break;
        }
        for i in done {
            probes[i].leave();
        }
    }
    Ok(rounds)
}

fn exhaustion_recovers(ctx: &Ctx, proto: Proto) -> Outcome {
    let (mut run, server) = start(ctx, &[], Some(EXHAUSTION_NOFILE))?;
    let pid = run.pid();
    let mut probes = Vec::with_capacity(EXHAUSTION_CLIENTS);
    for i in 0..EXHAUSTION_CLIENTS {
        probes.push(Probe::send(server, proto, i)?);
    }
    // Those the server could accept are answered; the others wait in the backlog.
    let first = gather(&mut probes, Duration::from_secs(1), Duration::from_secs(10))?;
    // While the others wait: little CPU, and stderr grows by a bounded amount.
    let err0 = run.stderr().len();
    let cpu = cpu_share(pid, Duration::from_secs(1))?;
    let err1 = run.stderr();
    ensure!(
        cpu < MAX_CPU_WHILE_EXHAUSTED,
        "{:.0} % of a core while {} clients waited for a descriptor; stderr {}",
        cpu * 100.0,
        EXHAUSTION_CLIENTS - first.len(),
        tail(&err1)
    );
    ensure!(
        err1.len() - err0 <= MAX_STDERR_GROWTH,
        "stderr grew by {} bytes in one second: {}",
        err1.len() - err0,
        tail(&err1)
    );
    ensure!(
        !first.is_empty(),
        "no client of {EXHAUSTION_CLIENTS} was served with {EXHAUSTION_NOFILE} descriptors; stderr: {}",
        tail(&run.stderr())
    );
    ensure!(
        first.len() < EXHAUSTION_CLIENTS,
        "all {EXHAUSTION_CLIENTS} clients were served at once: {EXHAUSTION_NOFILE} descriptors did not run out"
    );
    let answered: HashSet<SocketAddr> = first.iter().map(|&i| probes[i].peer).collect();
    let accepted = accepted_peers(&mut run);
    let unserved: Vec<&SocketAddr> = accepted.difference(&answered).collect();
    ensure!(
        unserved.is_empty(),
        "{} accepted but not served while out of descriptors, e.g. {:?}",
        unserved.len(),
        &unserved[..unserved.len().min(3)]
    );
    ensure!(
        err1.contains("Too many open files"),
        "the failed accepts were not reported: stderr {err1:?}"
    );
    // The served clients leave; the waiting ones must then be accepted and served,
    // by the server itself (no new connection comes to wake it).
    let rounds = served_as_others_leave(&mut probes, &first)?;
    let left: Vec<String> = probes
        .iter()
        .filter(|p| !p.answered)
        .map(|p| format!("{} ({})", p.peer, p.lost.as_deref().unwrap_or("no answer")))
        .collect();
    ensure!(
        left.is_empty(),
        "{} of {EXHAUSTION_CLIENTS} clients never served once others left, e.g. {:?}; stderr {}",
        left.len(),
        &left[..left.len().min(3)],
        tail(&run.stderr())
    );
    drop(probes);
    let recovered = served(server, proto, EXHAUSTION_CLIENTS, PROMPT)?;
    let stderr = run.stderr();
    let c = stop(&mut run, proto)?;
    let pauses = c.get("accept_pauses").unwrap_or(0);
    ensure!(
        pauses >= 1,
        "accepts failed (stderr says so) but the summary counts no pause: {c:?}"
    );
    ensure!(
        c.get("accepted") == Some(EXHAUSTION_CLIENTS as u64 + 1),
        "summary {c:?}: expected every client accepted once"
    );
    Ok(format!(
        "{EXHAUSTION_CLIENTS} clients, RLIMIT_NOFILE {EXHAUSTION_NOFILE}: {} served at once, \
         {:.1} % of a core while the rest waited, stderr {} bytes in {} lines; all served in \
         {rounds} rounds as others left; a fresh client served {recovered:.2?} after; \
         accept_pauses={pauses}",
        first.len(),
        cpu * 100.0,
        stderr.len(),
        stderr.lines().count(),
    ))
}

/// Out of descriptors with clients waiting, the server pausing its accepts: SIGTERM
/// still stops it.
fn exhaustion_sigterm(ctx: &Ctx, proto: Proto) -> Outcome {
    let (mut run, server) = start(ctx, &[], Some(EXHAUSTION_NOFILE))?;
    let mut probes = Vec::with_capacity(EXHAUSTION_CLIENTS);
    for i in 0..EXHAUSTION_CLIENTS {
        probes.push(Probe::send(server, proto, i)?);
    }
    let first = gather(&mut probes, Duration::from_secs(1), Duration::from_secs(10))?;
    ensure!(
        first.len() < EXHAUSTION_CLIENTS && run.stderr().contains("Too many open files"),
        "descriptors did not run out: {} of {EXHAUSTION_CLIENTS} served; stderr {}",
        first.len(),
        tail(&run.stderr())
    );
    let t0 = Instant::now();
    let c = stop(&mut run, proto)?;
    let took = t0.elapsed();
    ensure!(
        c.get("accept_pauses").unwrap_or(0) >= 1,
        "summary {c:?}: no pause counted"
    );
    Ok(format!(
        "a second server, SIGTERM while it paused with {} clients waiting: exit 0 after \
         {took:.2?}, `{}`",
        EXHAUSTION_CLIENTS - first.len(),
        Event::Summary(c)
    ))
}

pub fn exhaustion_echo(ctx: &Ctx) -> Outcome {
    exhaustion(ctx, Proto::Echo)
}

pub fn exhaustion_ident(ctx: &Ctx) -> Outcome {
    exhaustion(ctx, Proto::Ident)
}

// ----- a thousand idle or slow peers -----

/// Idle (echo) or slow (ident) peers held at once.
const IDLE_PEERS: usize = 1000;
/// The idle timeout the check runs the server with.
const IDLE_TIMEOUT: Duration = Duration::from_secs(3);
/// How late after its idle timeout a peer may be closed: the server may accept it
/// late, on a loaded machine, and its clock starts then.
const CLOSE_MARGIN: Duration = Duration::from_secs(6);
/// How long the server's `closed` lines may trail the peers' end-of-file.
const LINES_TIMEOUT: Duration = Duration::from_secs(5);
/// How often a slow ident peer sends one more byte of a line it never ends: well
/// inside the idle timeout, so that a timer restarted by every byte would never fire.
const SLOW_BYTE_EVERY: Duration = Duration::from_secs(1);

/// The most a server may hold (VmRSS) with 1,000 idle or slow peers, in KiB, where
/// it does not declare its own bound (`rss-at-1000-peers-kib` in its `Cargo.toml`,
/// what it was measured at in a debug build, with a margin of about half again): 64
/// KiB a peer. The detail line prints the measurement either way.
pub const DEFAULT_RSS_AT_1000_KIB: u64 = 64 * 1024;

fn rss_bound(ctx: &Ctx) -> u64 {
    (ctx.program.declared.rss_at_1000_peers_kib).unwrap_or(DEFAULT_RSS_AT_1000_KIB)
}

/// A thousand peers that hold a connection and do nothing useful with it: echo peers
/// that sent one byte, took it back and went quiet; ident peers that send one byte of
/// a line every second and never end it. Meanwhile other clients are answered
/// promptly and the server's RSS stays under the bound stated for it; the idle
/// timeout (run at 3 s) closes every one of them — for ident within 3 s of its
/// accept, although bytes keep coming: the timeout bounds the time to complete a line.
fn idle_peers(ctx: &Ctx, proto: Proto) -> Outcome {
    raise_nofile((IDLE_PEERS as u64 + 100) * crate::DEFAULT_JOBS as u64 + 1024)?;
    let timeout = IDLE_TIMEOUT.as_secs().to_string();
    let (mut run, server) = start(ctx, &["--idle-timeout-secs", &timeout], None)?;
    let pid = run.pid();
    served(server, proto, 0, PROMPT)?;
    let before = rss_kib(pid)?;
    // Slow ident peers: one more byte each, every second, never a newline; from the
    // first second of each, so that a timer restarted by every byte would never fire.
    let slow: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let stop_bytes = Arc::new(AtomicBool::new(false));
    let dripper =
        (proto == Proto::Ident).then(|| drip_slow_bytes(slow.clone(), stop_bytes.clone()));
    let t0 = Instant::now();
    let mut peers = Vec::with_capacity(IDLE_PEERS);
    for i in 0..IDLE_PEERS {
        let s = TcpStream::connect_timeout(&server, CONNECT_TIMEOUT)
            .with_context(|| format!("idle peer {i}: connect"))?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.set_write_timeout(Some(IO_TIMEOUT))?;
        (&s).write_all(b"1")
            .with_context(|| format!("idle peer {i}: first byte"))?;
        match proto {
            Proto::Echo => {
                let mut one = [0u8; 1];
                (&s).read_exact(&mut one)
                    .with_context(|| format!("idle peer {i}: its echo"))?;
            }
            Proto::Ident => {
                if let Ok(mut slow) = slow.lock() {
                    slow.push(s.try_clone()?);
                }
            }
        }
        peers.push((s, Instant::now()));
        // In batches that the listen backlog holds (128 for std and tokio 1): a
        // connection past it waits for a SYN retransmission, a second or more.
        if peers.len() % 100 == 0 {
            wait_accepted(&mut run, peers.len() + 1)?;
        }
    }
    let opened = t0.elapsed();
    let result = (|| -> Result<String> {
        let prompt = served(server, proto, 1, PROMPT)
            .context("another client, while 1,000 peers held connections")?;
        let rss = rss_kib(pid)?;
        let bound = rss_bound(ctx);
        ensure!(
            rss <= bound,
            "VmRSS {rss} KiB with {IDLE_PEERS} peers (before them: {before} KiB), over the bound of {bound} KiB"
        );
        let closed_after = closed_by_idle_timeout(&peers, proto)?;
        let earliest = closed_after.iter().min().copied().unwrap_or_default();
        ensure!(
            earliest + Duration::from_millis(200) >= IDLE_TIMEOUT,
            "a peer was closed {earliest:.2?} after it went idle, before the {IDLE_TIMEOUT:?} timeout"
        );
        let latest = closed_after.iter().max().copied().unwrap_or_default();
        Ok(format!(
            "{IDLE_PEERS} {} peers opened in {opened:.2?}; another client served in {prompt:.2?}; \
             VmRSS {before} → {rss} KiB (bound {bound}; {:.1} KiB a peer); all closed by the \
             {IDLE_TIMEOUT:?} idle timeout, {earliest:.2?} to {latest:.2?} after going idle",
            match proto {
                Proto::Echo => "idle",
                Proto::Ident => "slow (a byte a second, no newline)",
            },
            rss.saturating_sub(before) as f64 / IDLE_PEERS as f64
        ))
    })();
    stop_bytes.store(true, Ordering::Relaxed);
    let dripped = dripper.map(|t| t.join().unwrap_or(0));
    drop(slow);
    let detail = result?;
    drop(peers);
    // Each peer read end-of-file before, or as, the server printed its `closed` line:
    // wait for the lines rather than count what has arrived.
    let idle = |lines: &[Line]| {
        lines
            .iter()
            .filter(|l| matches!(l.event(), Ok(Event::Closed { reason, .. }) if reason == "idle timeout"))
            .count()
    };
    let _ = run.wait_until(LINES_TIMEOUT, |lines| idle(lines) >= IDLE_PEERS);
    let idle_lines = idle(&run.seen);
    let c = stop(&mut run, proto)?;
    ensure!(
        idle_lines >= IDLE_PEERS,
        "{idle_lines} `closed … idle timeout` lines for {IDLE_PEERS} peers; summary {c:?}"
    );
    Ok(match dripped {
        Some(n) => format!("{detail}; {n} slow bytes sent"),
        None => detail,
    })
}

/// Sends one more byte to each slow peer every `SLOW_BYTE_EVERY`, never a newline,
/// until told to stop; returns how many bytes went out.
fn drip_slow_bytes(
    slow: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let mut sent = 0u64;
        while !stop.load(Ordering::Relaxed) {
            thread::sleep(SLOW_BYTE_EVERY);
            let streams: Vec<TcpStream> = match slow.lock() {
                Ok(s) => s.iter().filter_map(|s| s.try_clone().ok()).collect(),
                Err(_) => break,
            };
            for s in &streams {
                // A peer already closed by the server fails here: that is the point.
                if (&*s).write(b"2").is_ok() {
                    sent += 1;
                }
            }
        }
        sent
    })
}

/// Waits for the idle timeout to close every peer (each reads end-of-file, or a
/// reset); how long after going idle each one was closed.
fn closed_by_idle_timeout(peers: &[(TcpStream, Instant)], proto: Proto) -> Result<Vec<Duration>> {
    let mut closed_after = Vec::with_capacity(peers.len());
    for (i, (s, since)) in peers.iter().enumerate() {
        let limit = (*since + IDLE_TIMEOUT + CLOSE_MARGIN)
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        s.set_read_timeout(Some(limit))?;
        let mut buf = [0u8; 64];
        loop {
            match (&*s).read(&mut buf) {
                Ok(0) => break,
                Ok(_) if proto == Proto::Ident => bail!("peer {i} got a reply to half a line"),
                Ok(_) => bail!("idle peer {i} got bytes it did not send"),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => break,
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!(
                            "peer {i} still open {:.1?} after it went idle (idle timeout {IDLE_TIMEOUT:?})",
                            since.elapsed()
                        )
                    })
                }
            }
        }
        closed_after.push(since.elapsed());
    }
    Ok(closed_after)
}

pub fn idle_peers_echo(ctx: &Ctx) -> Outcome {
    idle_peers(ctx, Proto::Echo)
}

pub fn slow_peers_ident(ctx: &Ctx) -> Outcome {
    idle_peers(ctx, Proto::Ident)
}

// ----- the connection bound -----

/// `--max-connections 3`: three clients are served; a fourth connects (the kernel
/// completes the handshake) but waits in the backlog, unanswered and not accepted,
/// until one of the three leaves; then it is served.
fn max_connections(ctx: &Ctx, proto: Proto) -> Outcome {
    const MAX: usize = 3;
    let (mut run, server) = start(ctx, &["--max-connections", &MAX.to_string()], None)?;
    let mut probes = Vec::new();
    for i in 0..MAX {
        probes.push(Probe::send(server, proto, i)?);
    }
    let first = gather(&mut probes, PROMPT, PROMPT)?;
    ensure!(
        first.len() == MAX,
        "{} of {MAX} clients served under --max-connections {MAX}",
        first.len()
    );
    let mut extra = vec![Probe::send(server, proto, MAX)?];
    let early = gather(
        &mut extra,
        Duration::from_millis(700),
        Duration::from_millis(700),
    )?;
    ensure!(
        early.is_empty(),
        "client {} was served while {MAX} connections were open",
        MAX + 1
    );
    let accepted = accepted_peers(&mut run);
    ensure!(
        !accepted.contains(&extra[0].peer),
        "client {} was accepted while {MAX} connections were open",
        MAX + 1
    );
    let t0 = Instant::now();
    probes[0].leave();
    let later = gather(&mut extra, PROMPT, PROMPT)?;
    ensure!(
        later.len() == 1,
        "client {} not served within {PROMPT:?} after one of {MAX} left ({})",
        MAX + 1,
        extra[0].lost.as_deref().unwrap_or("no answer")
    );
    let took = t0.elapsed();
    drop(probes);
    drop(extra);
    let c = stop(&mut run, proto)?;
    ensure!(c.get("accepted") == Some(MAX as u64 + 1), "summary {c:?}");
    Ok(format!(
        "--max-connections {MAX}: client {} waited in the backlog (not accepted, 700 ms), served \
         {took:.2?} after one left",
        MAX + 1
    ))
}

pub fn max_connections_echo(ctx: &Ctx) -> Outcome {
    max_connections(ctx, Proto::Echo)
}

pub fn max_connections_ident(ctx: &Ctx) -> Outcome {
    max_connections(ctx, Proto::Ident)
}

// ----- a peer that never reads -----

const UNREAD: u64 = 10 * 1024 * 1024;
/// What the server's RSS may grow by while a peer writes 10 MiB and reads nothing: a
/// connection's buffer is 16 KiB; this leaves room for the allocator and the runtime.
const MAX_UNREAD_GROWTH_KIB: u64 = 2048;

/// A client socket with small, fixed buffers (no autotuning): a receive buffer of `rcv`
/// bytes and, if given, a send buffer of `snd`. A server writing to it while it does
/// not read is stuck for sure, not just slowed down.
pub fn connect_small(server: SocketAddr, rcv: usize, snd: Option<usize>) -> Result<TcpStream> {
    use nix::sys::socket::{
        connect, setsockopt, socket, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn,
    };
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(v4) = server else {
        bail!("expected an IPv4 server address, got {server}");
    };
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )?;
    setsockopt(&fd, sockopt::RcvBuf, &rcv).context("SO_RCVBUF")?;
    if let Some(snd) = snd {
        setsockopt(&fd, sockopt::SndBuf, &snd).context("SO_SNDBUF")?;
    }
    connect(fd.as_raw_fd(), &SockaddrIn::from(v4)).context("connect")?;
    Ok(TcpStream::from(fd))
}

/// A peer with small buffers both ways, so that what the kernel can hold between it
/// and the server (the server's own buffers, mostly) stays well below the 10 MiB
/// written: the writes must stall.
fn connect_small_buffers(server: SocketAddr) -> Result<TcpStream> {
    connect_small(server, 64 * 1024, Some(64 * 1024))
}

fn pattern_byte(i: u64) -> u8 {
    (i ^ (i >> 8) ^ (i >> 16) ^ 0x5a) as u8
}

/// A TCP echo peer writes 10 MiB and reads nothing: the server stops reading from it
/// (its writes stall), its RSS does not grow with what was written, another client
/// is served meanwhile, and once the peer reads, all 10 MiB come back in order.
pub fn unread_echo(ctx: &Ctx) -> Outcome {
    let (mut run, server) = start(ctx, &[], None)?;
    let pid = run.pid();
    served(server, Proto::Echo, 0, PROMPT)?;
    let before = rss_kib(pid)?;
    let s = connect_small_buffers(server)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let me = s.local_addr()?;
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (s, written) = (s.try_clone()?, written.clone());
        thread::spawn(move || -> Result<()> {
            let mut at = 0u64;
            while at < UNREAD {
                let n = (UNREAD - at).min(64 * 1024);
                let chunk: Vec<u8> = (at..at + n).map(pattern_byte).collect();
                (&s).write_all(&chunk)
                    .with_context(|| format!("write at offset {at}"))?;
                at += n;
                written.store(at, Ordering::Relaxed);
            }
            s.shutdown(Shutdown::Write)?;
            Ok(())
        })
    };
    // Wait until the writes stall: the socket buffers are full and the server reads
    // no more from this peer.
    let stalled_at = wait_stalled(&written, pid)?;
    ensure!(
        stalled_at < UNREAD,
        "all {UNREAD} bytes were taken without a byte read back: no backpressure seen"
    );
    let rss = rss_kib(pid)?;
    let grown = rss.saturating_sub(before);
    ensure!(
        grown <= MAX_UNREAD_GROWTH_KIB,
        "VmRSS grew by {grown} KiB ({before} → {rss}) while a peer wrote {stalled_at} bytes and read none"
    );
    let other = served(server, Proto::Echo, 1, PROMPT).context("another client, meanwhile")?;
    // Now read: everything comes back, in order, then end-of-file.
    let mut buf = vec![0u8; 64 * 1024];
    let mut got = 0u64;
    loop {
        let n = match (&s).read(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).with_context(|| format!("read after {got} bytes of echo")),
        };
        if n == 0 {
            break;
        }
        if let Some(at) = (0..n).find(|&k| buf[k] != pattern_byte(got + k as u64)) {
            bail!("echo differs at byte {}", got + at as u64);
        }
        got += n as u64;
    }
    writer
        .join()
        .map_err(|_| anyhow!("writer thread panicked"))??;
    ensure!(got == UNREAD, "got {got} bytes back, sent {UNREAD}");
    let closed = run
        .wait_until(Duration::from_secs(5), |lines| {
            lines.iter().any(|l| {
                matches!(l.event(), Ok(Event::Closed { peer, bytes, .. }) if peer == me && bytes == UNREAD)
            })
        })
        .context("no `closed` line with all 10 MiB");
    closed?;
    stop(&mut run, Proto::Echo)?;
    Ok(format!(
        "writes stalled at {stalled_at} bytes (the server stopped reading); VmRSS {before} → \
         {rss} KiB; another client served in {other:.2?}; then all {UNREAD} bytes came back \
         in order"
    ))
}

/// Stops a server started with `--quiet` (no per-connection lines to count): exit 0
/// within 2 s, and a summary in which every connection accepted was closed. Returns
/// the event lines and the summary.
fn stop_quiet(run: &mut Running, proto: Proto) -> Result<(Vec<Event>, Counts)> {
    let (events, c) = run.stop_with_summary(Signal::SIGTERM, EXIT_TIMEOUT)?;
    let key = proto.work_key();
    let (Some(accepted), Some(closed), Some(_), Some(_)) = (
        c.get("accepted"),
        c.get("closed"),
        c.get(key),
        c.get("accept_pauses"),
    ) else {
        bail!("summary lacks accepted/closed/{key}/accept_pauses: {c:?}");
    };
    ensure!(
        accepted == closed,
        "summary accepted={accepted} closed={closed}: a connection was left unaccounted"
    );
    Ok((events, c))
}

/// An ident peer that sends queries and never reads its replies: the server stops
/// reading its queries (the peer's writes stall), its RSS does not grow with what was
/// sent, another client is answered meanwhile, and once the peer reads, every query
/// has its reply, in order. The server runs with `--quiet`: the peer sends about
/// 100,000 queries before its writes stall.
pub fn unread_ident(ctx: &Ctx) -> Outcome {
    const QUERY: &[u8] = b"0, 0\n";
    const REPLY: &[u8] = b"0, 0 : ERROR : INVALID-PORT\r\n";
    let (mut run, server) = start(ctx, &["--quiet"], None)?;
    let pid = run.pid();
    served(server, Proto::Ident, 0, PROMPT)?;
    let before = rss_kib(pid)?;
    let s = connect_small_buffers(server)?;
    s.set_read_timeout(Some(IO_TIMEOUT))?;
    s.set_write_timeout(Some(Duration::from_secs(30)))?;
    let written = Arc::new(AtomicU64::new(0));
    let stop_writing = Arc::new(AtomicBool::new(false));
    let writer = {
        let (s, written, stop_writing) = (s.try_clone()?, written.clone(), stop_writing.clone());
        thread::spawn(move || -> Result<()> {
            let chunk = QUERY.repeat(10_000);
            while !stop_writing.load(Ordering::Relaxed) && written.load(Ordering::Relaxed) < UNREAD
            {
                (&s).write_all(&chunk).context("sending queries")?;
                written.fetch_add(chunk.len() as u64, Ordering::Relaxed);
            }
            s.shutdown(Shutdown::Write)?;
            Ok(())
        })
    };
    let stalled_at = wait_stalled(&written, pid)?;
    stop_writing.store(true, Ordering::Relaxed);
    ensure!(
        stalled_at < UNREAD,
        "{UNREAD} bytes of queries were taken without a reply read: no backpressure seen"
    );
    let rss = rss_kib(pid)?;
    let grown = rss.saturating_sub(before);
    let other = served(server, Proto::Ident, 1, PROMPT).context("another client, meanwhile");
    ensure!(
        grown <= MAX_UNREAD_GROWTH_KIB,
        "VmRSS grew by {grown} KiB ({before} → {rss}) while a peer sent {stalled_at} bytes of queries and read no reply"
    );
    let other = other?;
    // Now read: one reply per query, then end-of-file.
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match (&s).read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(e).with_context(|| format!("read after {} bytes of replies", got.len()))
            }
        }
    }
    writer
        .join()
        .map_err(|_| anyhow!("writer thread panicked"))??;
    let queries = written.load(Ordering::Relaxed) / QUERY.len() as u64;
    let replies = (got.len() / REPLY.len()) as u64;
    ensure!(
        got.len() % REPLY.len() == 0 && got.chunks(REPLY.len()).all(|r| r == REPLY),
        "the replies are not {} bytes each of {:?}",
        REPLY.len(),
        String::from_utf8_lossy(REPLY)
    );
    ensure!(replies == queries, "{replies} replies to {queries} queries");
    let (_, c) = stop_quiet(&mut run, Proto::Ident)?;
    ensure!(
        c.get("queries") == Some(queries + 2),
        "summary {c:?}: expected {queries} queries and 2 probes"
    );
    Ok(format!(
        "queries stalled at {stalled_at} bytes (the server stopped reading); VmRSS {before} → \
         {rss} KiB; another client answered in {other:.2?}; then all {queries} replies came \
         back in order"
    ))
}

/// Whether every thread of a process sleeps ([`cpu::asleep`]) each time it is looked
/// at over `window`: it waits for something, rather than waiting for a CPU (`R`) on a
/// busy machine.
fn asleep(pid: Pid, window: Duration) -> Result<bool> {
    let t0 = Instant::now();
    loop {
        if !cpu::asleep(pid)? {
            return Ok(false);
        }
        if t0.elapsed() >= window {
            return Ok(true);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the peer's writes stall — `written` still for 500 ms — while every
/// thread of the server sleeps for 300 ms more: it stopped reading, rather than being
/// slow to (or starved of a CPU). At most 15 s; returns what was written.
fn wait_stalled(written: &AtomicU64, pid: Pid) -> Result<u64> {
    let t0 = Instant::now();
    let (mut last, mut still_since) = (0u64, Instant::now());
    while t0.elapsed() < Duration::from_secs(15) {
        thread::sleep(Duration::from_millis(50));
        let now = written.load(Ordering::Relaxed);
        if now != last {
            (last, still_since) = (now, Instant::now());
        } else if still_since.elapsed() >= Duration::from_millis(500)
            && asleep(pid, Duration::from_millis(300))?
            && written.load(Ordering::Relaxed) == last
        {
            break;
        }
    }
    Ok(written.load(Ordering::Relaxed))
}
