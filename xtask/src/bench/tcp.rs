//! TCP drivers: bulk echo throughput over several connections, connection rate, and
//! ident queries over many connections. Blocking sockets, one thread per direction
//! and per connection (all pinned to the client CPU by inheritance), bounded in time;
//! every read has a timeout so that a stalled server cannot hold a run.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{setsockopt, sockopt::Linger};

use super::cpu::Cpu;

/// How long any single read may wait before the driver gives the connection up.
const IO_TIMEOUT: Duration = Duration::from_secs(2);

/// The measured interval of a driver: its length and the server CPU at both ends.
#[derive(Debug, Clone)]
pub struct Interval {
    pub length: Duration,
    pub cpu: (Cpu, Cpu),
}

/// Waits `warmup`, reads the counter and the server CPU, waits `measure`, reads them
/// again.
fn measure_counter(
    counter: &AtomicU64,
    warmup: Duration,
    measure: Duration,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<(u64, Interval)> {
    thread::sleep(warmup);
    let c0 = probe()?;
    let n0 = counter.load(Ordering::Relaxed);
    let t0 = Instant::now();
    thread::sleep(measure);
    let n1 = counter.load(Ordering::Relaxed);
    let c1 = probe()?;
    Ok((
        n1 - n0,
        Interval {
            length: t0.elapsed(),
            cpu: (c0, c1),
        },
    ))
}

/// Bulk echo: `connections` connections, each writing `chunk`-byte writes as fast as
/// the server takes them while a second thread reads the echo back. Returns the bytes
/// echoed during the measured interval.
pub fn bulk_echo(
    server: SocketAddr,
    connections: usize,
    chunk: usize,
    warmup: Duration,
    measure: Duration,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<(u64, Interval)> {
    let echoed = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for _ in 0..connections {
        let stream = TcpStream::connect(server).context("connect")?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        let mut reader = stream.try_clone()?;
        let mut writer = stream;
        let stop_w = stop.clone();
        threads.push(thread::spawn(move || -> Result<()> {
            let data = vec![0x42u8; chunk];
            while !stop_w.load(Ordering::Relaxed) {
                match writer.write_all(&data) {
                    Ok(()) => {}
                    // A write timeout: the server is not reading; look at the flag.
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => return Err(e).context("write"),
                }
            }
            let _ = writer.shutdown(Shutdown::Write);
            Ok(())
        }));
        let echoed_r = echoed.clone();
        threads.push(thread::spawn(move || -> Result<()> {
            let mut buf = vec![0u8; chunk];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        echoed_r.fetch_add(n as u64, Ordering::Relaxed);
                    }
                    Err(e) => return Err(e).context("read the echo"),
                }
            }
        }));
    }
    let result = measure_counter(&echoed, warmup, measure, probe);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join()
            .map_err(|_| anyhow!("a client thread panicked"))?
            .context("bulk echo connection")?;
    }
    result
}

/// Connection rate: `workers` threads, each connecting, writing one byte, reading its
/// echo and closing (with a reset, so that nothing is left in TIME_WAIT), over and over. At most `max` connections in all (so that the
/// ephemeral ports in TIME_WAIT stay bounded). Returns the connections completed during
/// the measured interval, and the failed ones over the whole run.
pub fn connect_rate(
    server: SocketAddr,
    workers: usize,
    max: u64,
    warmup: Duration,
    measure: Duration,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<(u64, u64, Interval)> {
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut threads = Vec::new();
    for _ in 0..workers {
        let (done, failed, started, stop) =
            (done.clone(), failed.clone(), started.clone(), stop.clone());
        threads.push(thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) && started.fetch_add(1, Ordering::Relaxed) < max {
                let one = || -> std::io::Result<()> {
                    let mut s = TcpStream::connect_timeout(&server, IO_TIMEOUT)?;
                    s.set_read_timeout(Some(IO_TIMEOUT))?;
                    s.write_all(b"x")?;
                    let mut b = [0u8; 1];
                    s.read_exact(&mut b)?;
                    // Close with a reset (SO_LINGER 0): thousands of connections
                    // would otherwise sit in TIME_WAIT for a minute, and swell the
                    // /proc/net/tcp that the ident servers read on every query.
                    setsockopt(
                        &s,
                        Linger,
                        &libc::linger {
                            l_onoff: 1,
                            l_linger: 0,
                        },
                    )
                    .map_err(std::io::Error::from)?;
                    Ok(())
                };
                match one() {
                    Ok(()) => done.fetch_add(1, Ordering::Relaxed),
                    Err(_) => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    let result = measure_counter(&done, warmup, measure, probe);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| anyhow!("a client thread panicked"))?;
    }
    let (n, interval) = result?;
    Ok((n, failed.load(Ordering::Relaxed), interval))
}

/// What the ident driver counted.
#[derive(Debug, Clone, Default)]
pub struct IdentCounts {
    /// Replies received during the measured interval.
    pub replies: u64,
    /// Replies over the whole run that were not `USERID` (an `ERROR` reply).
    pub error_replies: u64,
    /// Queries that got no reply within the timeout (the connection is then dropped).
    pub timeouts: u64,
}

struct IdentConn {
    stream: TcpStream,
    query: Vec<u8>,
    pending: Vec<u8>,
    asked_at: Instant,
    alive: bool,
}

/// Ident queries: `connections` connections on one thread, each asking about itself
/// (`server-port , client-port`: a connection the server can find in /proc/net/tcp
/// and whose owner it reports) and asking again as soon as the reply line is in.
pub fn ident_queries(
    server: SocketAddr,
    connections: usize,
    warmup: Duration,
    measure: Duration,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<(IdentCounts, Interval)> {
    let mut conns = ident_connections(server, connections)?;
    let mut counts = IdentCounts::default();
    let start = Instant::now();
    let (warm_end, end) = (start + warmup, start + warmup + measure);
    let mut replies_total = 0u64;
    let mut mark: Option<(u64, Cpu, Instant)> = None;
    let mut buf = [0u8; 4096];
    loop {
        let now = Instant::now();
        if mark.is_none() && now >= warm_end {
            mark = Some((replies_total, probe()?, Instant::now()));
        }
        if let Some((r0, c0, t0)) = &mark {
            if now >= end {
                counts.replies = replies_total - r0;
                let cpu = (*c0, probe()?);
                let length = t0.elapsed();
                return Ok((counts, Interval { length, cpu }));
            }
        }
        let live: Vec<usize> = (0..conns.len()).filter(|&i| conns[i].alive).collect();
        if live.is_empty() {
            // Every connection timed out: nothing more to measure; wait out the time.
            thread::sleep(
                end.saturating_duration_since(now)
                    .min(Duration::from_millis(50)),
            );
            continue;
        }
        for i in readable(&conns, &live)? {
            replies_total += conns[i].read_replies(&mut buf, &mut counts);
        }
        let now = Instant::now();
        for c in conns.iter_mut().filter(|c| c.alive) {
            if now.duration_since(c.asked_at) > IO_TIMEOUT {
                counts.timeouts += 1;
                c.alive = false;
            }
        }
    }
}

/// `connections` connections to `server`, each having sent its first query, then
/// made non-blocking.
fn ident_connections(server: SocketAddr, connections: usize) -> Result<Vec<IdentConn>> {
    let mut conns = Vec::with_capacity(connections);
    for _ in 0..connections {
        let stream = TcpStream::connect(server).context("connect")?;
        stream.set_nodelay(true)?;
        let local = stream.local_addr()?;
        let query = format!("{} , {}\r\n", server.port(), local.port()).into_bytes();
        conns.push(IdentConn {
            stream,
            query,
            pending: Vec::new(),
            asked_at: Instant::now(),
            alive: true,
        });
    }
    for c in conns.iter_mut() {
        c.stream.write_all(&c.query).context("send a query")?;
        c.asked_at = Instant::now();
        c.stream.set_nonblocking(true)?;
    }
    Ok(conns)
}

/// Which of the `live` connections have something to read, waiting 10 ms at most.
fn readable(conns: &[IdentConn], live: &[usize]) -> Result<Vec<usize>> {
    let mut fds: Vec<PollFd> = live
        .iter()
        .map(|&i| PollFd::new(conns[i].stream.as_fd(), PollFlags::POLLIN))
        .collect();
    match poll(&mut fds, PollTimeout::from(10u8)) {
        Ok(_) | Err(nix::errno::Errno::EINTR) => {}
        Err(e) => return Err(e).context("poll"),
    }
    Ok(fds
        .iter()
        .zip(live)
        .filter(|(f, _)| f.revents().is_some_and(|r| !r.is_empty()))
        .map(|(_, &i)| i)
        .collect())
}

impl IdentConn {
    /// Reads what has arrived and asks again for each complete reply line; returns
    /// how many replies came.
    fn read_replies(&mut self, buf: &mut [u8], counts: &mut IdentCounts) -> u64 {
        match self.stream.read(buf) {
            Ok(0) => self.alive = false,
            Ok(n) => self.pending.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => {}
            Err(_) => self.alive = false,
        }
        let mut replies = 0;
        while let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            replies += 1;
            if !line.windows(6).any(|w| w == b"USERID") {
                counts.error_replies += 1;
            }
            // Ask again (a query is a few bytes: it fits the socket buffer).
            if self.stream.write_all(&self.query).is_err() {
                self.alive = false;
            }
            self.asked_at = Instant::now();
        }
        replies
    }
}
