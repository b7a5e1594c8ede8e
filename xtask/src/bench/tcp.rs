//! TCP drivers: bulk echo throughput over several connections, connection rate, and
//! ident queries (on open connections or each on a fresh one). Blocking sockets, one thread per direction
//! and per connection (all pinned to the client CPU by inheritance), bounded in time;
//! every read has a timeout so that a stalled server cannot hold a run.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
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

/// Waits `warmup`, reads the counter and the server CPU, waits `measure` and on until
/// the counter has grown by `min` (at most [`MEASURE_LIMIT`]: on a busy machine a short
/// interval may fall where the server did not run), reads them again.
fn measure_counter(
    counter: &AtomicU64,
    warmup: Duration,
    measure: Duration,
    min: u64,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<(u64, Interval)> {
    thread::sleep(warmup);
    let c0 = probe()?;
    let n0 = counter.load(Ordering::Relaxed);
    let t0 = Instant::now();
    thread::sleep(measure);
    while counter.load(Ordering::Relaxed) - n0 < min && t0.elapsed() < MEASURE_LIMIT {
        thread::sleep(Duration::from_millis(5));
    }
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
    // At least one write's worth echoed.
    let result = measure_counter(&echoed, warmup, measure, chunk as u64, probe);
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
    let result = measure_counter(&done, warmup, measure, MIN_CONNECTIONS, probe);
    stop.store(true, Ordering::Relaxed);
    for t in threads {
        t.join().map_err(|_| anyhow!("a client thread panicked"))?;
    }
    let (n, interval) = result?;
    Ok((n, failed.load(Ordering::Relaxed), interval))
}

/// The shape of one ident load.
#[derive(Debug, Clone, Copy)]
pub struct IdentLoad {
    /// Clients asking at the same time, each on a thread of its own.
    pub clients: usize,
    /// Each query on a fresh connection (connect, query, read the reply, close), or
    /// every query of a client on the one connection it keeps open.
    pub fresh: bool,
    pub warmup: Duration,
    /// The measured interval lasts at least this long, and on until `min_replies`
    /// replies have come in it (at most [`MEASURE_LIMIT`]): on a busy machine a short
    /// interval may otherwise fall where the server did not run, and at 32 clients a
    /// /proc lookup of milliseconds makes each round of replies long.
    pub measure: Duration,
    pub min_replies: u64,
    /// Upper bound on the connections one fresh load opens.
    pub max_connections: u64,
}

/// The longest a measured interval is stretched to reach its minimum count.
pub const MEASURE_LIMIT: Duration = Duration::from_secs(10);
/// Connections a connection-rate interval holds at least.
const MIN_CONNECTIONS: u64 = 20;

/// What one ident load measured.
#[derive(Debug, Clone, Default)]
pub struct IdentOutcome {
    /// Replies received during the measured interval.
    pub replies: u64,
    /// Wall time of each query answered in the measured interval, from the write of
    /// the query (the connect, for a fresh one) to the end of its reply line; sorted,
    /// nanoseconds.
    pub wall_ns: Vec<u64>,
    /// Replies over the whole run, in the measured interval or not.
    pub answered: u64,
    /// Replies over the whole run that were not `USERID` (an `ERROR` reply).
    pub error_replies: u64,
    /// Queries that failed over the whole run: no reply within the timeout, a refused
    /// or reset connection (an open-connection client then stops).
    pub failures: u64,
    pub interval: Option<Interval>,
}

impl IdentOutcome {
    /// The `p`-th percentile (0–100) of the wall times, in µs.
    pub fn wall_percentile_us(&self, p: usize) -> Option<f64> {
        let n = self.wall_ns.len();
        (n > 0).then(|| self.wall_ns[(n * p / 100).min(n - 1)] as f64 / 1e3)
    }
}

/// Where a load is: warming up, measuring, or over.
const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const OVER: u8 = 2;

/// One ident client's counts, returned by its thread.
#[derive(Default)]
struct ClientCounts {
    answered: u64,
    wall_ns: Vec<u64>,
    error_replies: u64,
    failures: u64,
}

/// Ident queries from `load.clients` threads, each asking about the very connection
/// it asks on (`server-port , client-port`: a connection of this host whose owner the
/// server can find and report). The replies of the measured interval are counted, and
/// the server's CPU read at both ends of it.
pub fn ident_queries(
    server: SocketAddr,
    load: &IdentLoad,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<IdentOutcome> {
    let phase = Arc::new(AtomicU8::new(WARMUP));
    let replies = Arc::new(AtomicU64::new(0));
    let connections = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for _ in 0..load.clients {
        let (phase, replies, connections) = (phase.clone(), replies.clone(), connections.clone());
        let (fresh, max) = (load.fresh, load.max_connections);
        threads.push(thread::spawn(move || {
            let mut counts = ClientCounts::default();
            let mut open: Option<(TcpStream, Vec<u8>)> = None;
            while phase.load(Ordering::Relaxed) != OVER {
                if fresh && connections.fetch_add(1, Ordering::Relaxed) >= max {
                    break;
                }
                let started = Instant::now();
                let asked = match (fresh, open.take()) {
                    (false, Some(conn)) => Ok(conn),
                    (_, _) => ident_connect(server),
                };
                let result = asked.and_then(|(mut stream, query)| {
                    let line = ident_ask(&mut stream, &query)?;
                    Ok((stream, query, line))
                });
                let (stream, query, line) = match result {
                    Ok(done) => done,
                    Err(_) => {
                        counts.failures += 1;
                        if fresh {
                            // Refused or reset: not a reason to spin.
                            thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                        // An open connection that failed is given up.
                        break;
                    }
                };
                let wall = started.elapsed();
                counts.answered += 1;
                if !line.windows(6).any(|w| w == b"USERID") {
                    counts.error_replies += 1;
                }
                if phase.load(Ordering::Relaxed) == MEASURE {
                    replies.fetch_add(1, Ordering::Relaxed);
                    counts.wall_ns.push(wall.as_nanos() as u64);
                }
                match fresh {
                    // Close with a reset, so that no connection is left in TIME_WAIT
                    // (thousands would swell the table a /proc lookup reads).
                    true => reset_on_close(&stream),
                    false => open = Some((stream, query)),
                }
            }
            counts
        }));
    }
    thread::sleep(load.warmup);
    let c0 = probe();
    let n0 = replies.load(Ordering::Relaxed);
    let t0 = Instant::now();
    phase.store(MEASURE, Ordering::Relaxed);
    thread::sleep(load.measure);
    while replies.load(Ordering::Relaxed) - n0 < load.min_replies && t0.elapsed() < MEASURE_LIMIT {
        thread::sleep(Duration::from_millis(5));
    }
    phase.store(OVER, Ordering::Relaxed);
    let n1 = replies.load(Ordering::Relaxed);
    let length = t0.elapsed();
    let c1 = probe();
    let mut out = IdentOutcome::default();
    for t in threads {
        let c = t.join().map_err(|_| anyhow!("a client thread panicked"))?;
        out.wall_ns.extend(c.wall_ns);
        out.answered += c.answered;
        out.error_replies += c.error_replies;
        out.failures += c.failures;
    }
    out.wall_ns.sort_unstable();
    out.replies = n1 - n0;
    out.interval = Some(Interval {
        length,
        cpu: (c0?, c1?),
    });
    Ok(out)
}

/// A connection to the ident server, and the query that names it.
fn ident_connect(server: SocketAddr) -> std::io::Result<(TcpStream, Vec<u8>)> {
    let stream = TcpStream::connect_timeout(&server, IO_TIMEOUT)?;
    stream.set_nodelay(true)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    let local = stream.local_addr()?;
    let query = format!("{} , {}\r\n", server.port(), local.port()).into_bytes();
    Ok((stream, query))
}

/// Sends `query` and reads its reply line (without anything after it: the server
/// answers one query at a time).
fn ident_ask(stream: &mut TcpStream, query: &[u8]) -> std::io::Result<Vec<u8>> {
    stream.write_all(query)?;
    let mut line = Vec::with_capacity(128);
    let mut buf = [0u8; 512];
    while !line.ends_with(b"\n") {
        match stream.read(&mut buf)? {
            0 => return Err(ErrorKind::UnexpectedEof.into()),
            n => line.extend_from_slice(&buf[..n]),
        }
    }
    Ok(line)
}

/// Sets SO_LINGER to 0, so that dropping the stream resets the connection.
fn reset_on_close(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let _ = setsockopt(stream, Linger, &linger);
}
