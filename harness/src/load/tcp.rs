//! TCP drivers, for the bench and the soak: bulk echo over several connections (or
//! paced), connection rate, and ident queries (on open connections or fresh ones).
//! Blocking sockets, one thread per direction and per connection (all pinned to the
//! client CPU by inheritance), bounded in time; every read has a timeout so that a
//! stalled server cannot hold a run.
//!
//! Each driver has a warm-up and then a measured interval, which lasts at least as
//! long as asked and on until its counter has grown by a minimum (at most
//! [`MEASURE_LIMIT`]): on a busy machine a short interval may otherwise fall where the
//! server did not run, and at 32 ident clients a /proc lookup of milliseconds makes
//! each round of replies long. The server's CPU is read at both ends of it.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use nix::sys::socket::{setsockopt, sockopt::Linger};

use crate::measure::cpu::Cpu;

/// How long any single read may wait before the driver gives the connection up.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a bulk client waits for more of its echo, also after it stops writing.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest a measured interval is stretched to reach its minimum count.
const MEASURE_LIMIT: Duration = Duration::from_secs(10);
/// Connections a connection-rate interval holds at least.
const MIN_CONNECTIONS: u64 = 20;

/// Where a load is: warming up, measuring, or over (its clients stop).
const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const OVER: u8 = 2;

/// The warm-up and the measured interval of a load.
pub type Span = (Duration, Duration);

/// The measured interval of a driver: its length and the server CPU at both ends.
#[derive(Debug, Clone)]
pub struct Interval {
    pub length: Duration,
    pub cpu: (Cpu, Cpu),
}

/// Waits the warm-up, reads `counter` and the server CPU and starts the measured
/// phase; waits the interval and on until `counter` has grown by `min`; reads them
/// again and ends the load.
fn measure(
    phase: &AtomicU8,
    counter: &AtomicU64,
    (warmup, measure): Span,
    min: u64,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<(u64, Interval)> {
    thread::sleep(warmup);
    let (c0, n0, t0) = (probe(), counter.load(Relaxed), Instant::now());
    phase.store(MEASURE, Relaxed);
    thread::sleep(measure);
    while counter.load(Relaxed) - n0 < min && t0.elapsed() < MEASURE_LIMIT {
        thread::sleep(Duration::from_millis(5));
    }
    let (n1, length, c1) = (counter.load(Relaxed), t0.elapsed(), probe());
    phase.store(OVER, Relaxed);
    let cpu = (c0?, c1?);
    Ok((n1 - n0, Interval { length, cpu }))
}

/// What a bulk echo load did.
#[derive(Debug, Clone)]
pub struct Bulk {
    /// Bytes echoed during the measured interval, and the interval.
    pub bytes: u64,
    pub interval: Interval,
    /// Over the whole load: bytes written, and bytes echoed back by the time each
    /// connection closed.
    pub written: u64,
    pub echoed: u64,
    /// Connections whose echo stopped before the server closed them (a read error, or
    /// nothing for [`DRAIN_TIMEOUT`]): what they were owed is lost.
    pub broken: u64,
    /// Bytes echoed during the measured interval, connection by connection; paced,
    /// the round-trip time of each message echoed in it, sorted, nanoseconds.
    pub per_connection: Vec<u64>,
    pub rtt_ns: Vec<u64>,
}

/// Bulk echo: `connections` connections, each writing `chunk`-byte writes as fast as
/// the server takes them while a second thread reads the echo back; when the load is
/// over each stops writing (a half close) and reads the rest until the server closes.
/// The bench reads the rate, the soak what was lost.
pub fn bulk_echo(
    server: SocketAddr,
    shape: (usize, usize),
    span: Span,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<Bulk> {
    echo(server, shape, None, span, probe)
}

/// Paced echo: the same, each connection writing one `size`-byte message at a time,
/// `per_s` messages a second in all, each timed from its write to its echo's end.
pub fn paced_echo(
    server: SocketAddr,
    (connections, size): (usize, usize),
    per_s: u64,
    span: Span,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<Bulk> {
    let every = Duration::from_secs_f64(connections as f64 / per_s.max(1) as f64);
    echo(server, (connections, size), Some(every), span, probe)
}

fn echo(
    server: SocketAddr,
    (connections, chunk): (usize, usize),
    pace: Option<Duration>,
    span: Span,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<Bulk> {
    let (phase, echoed) = (&AtomicU8::new(WARMUP), &AtomicU64::new(0));
    let connect = |_| -> Result<TcpStream> {
        let stream = TcpStream::connect(server).context("connect")?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(DRAIN_TIMEOUT))?;
        // Short, so that a writer blocked by a server that stopped reading still sees
        // the end of the load.
        stream.set_write_timeout(Some(Duration::from_millis(200)))?;
        Ok(stream)
    };
    let streams = (0..connections).map(connect).collect::<Result<Vec<_>>>()?;
    thread::scope(|scope| {
        let mut pairs = Vec::new();
        for mut stream in &streams {
            // Paced, each message's send time, from the writer to the reader.
            let (times, sent_at) = mpsc::channel();
            let write = scope.spawn(move || -> Result<u64> {
                let (data, mut written, mut due) = (vec![0x42u8; chunk], 0, Instant::now());
                while phase.load(Relaxed) != OVER {
                    if let Some(every) = pace {
                        due += every;
                        thread::sleep(due.saturating_duration_since(Instant::now()));
                        let _ = times.send(Instant::now());
                        stream.write_all(&data).context("write")?;
                        written += chunk as u64;
                        continue;
                    }
                    match stream.write(&data) {
                        Ok(n) => written += n as u64,
                        Err(e)
                            if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                        Err(e) => return Err(e).context("write"),
                    }
                }
                stream.shutdown(Shutdown::Write).context("half close")?;
                Ok(written)
            });
            let read = scope.spawn(move || {
                let (mut buf, mut mine, mut rtt, mut pending) = (vec![0u8; chunk], 0, vec![], 0);
                let result = loop {
                    let n = match stream.read(&mut buf) {
                        Ok(0) => break Ok(()),
                        Ok(n) => n,
                        Err(e) => break Err(e),
                    };
                    let (now, measuring) = (Instant::now(), phase.load(Relaxed) == MEASURE);
                    echoed.fetch_add(n as u64, Relaxed);
                    (mine, pending) = (mine + u64::from(measuring) * n as u64, pending + n);
                    // A message is echoed once its last byte is back.
                    while pace.is_some() && pending >= chunk {
                        pending -= chunk;
                        match sent_at.recv() {
                            Ok(t) if measuring => rtt.push(now.duration_since(t).as_nanos() as u64),
                            _ => {}
                        }
                    }
                };
                (result, mine, rtt)
            });
            pairs.push((write, read));
        }
        // At least one write's worth echoed.
        let result = measure(phase, echoed, span, chunk as u64, probe);
        let (mut written, mut broken, mut per_connection, mut rtt_ns) = (0, 0, vec![], vec![]);
        for (write, read) in pairs {
            written += write.join().map_err(|_| anyhow!("a writer panicked"))??;
            let (read, mine, rtt) = read.join().map_err(|_| anyhow!("a reader panicked"))?;
            broken += u64::from(read.is_err());
            per_connection.push(mine);
            rtt_ns.extend(rtt);
        }
        rtt_ns.sort_unstable();
        let ((bytes, interval), echoed) = (result?, echoed.load(Relaxed));
        Ok(Bulk {
            bytes,
            interval,
            written,
            echoed,
            broken,
            per_connection,
            rtt_ns,
        })
    })
}

/// Connection rate: `workers` threads, each connecting, writing one byte, reading its
/// echo and closing, over and over; at most `max` connections in all. Returns the
/// connections completed during the measured interval, and the failed ones over the
/// whole run.
pub fn connect_rate(
    server: SocketAddr,
    (workers, max): (usize, u64),
    span: Span,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<(u64, u64, Interval)> {
    let (phase, started) = (&AtomicU8::new(WARMUP), &AtomicU64::new(0));
    let (done, failed) = (&AtomicU64::new(0), &AtomicU64::new(0));
    let once = || -> std::io::Result<()> {
        let mut s = TcpStream::connect_timeout(&server, IO_TIMEOUT)?;
        s.set_read_timeout(Some(IO_TIMEOUT))?;
        s.write_all(b"x")?;
        s.read_exact(&mut [0u8; 1])?;
        // Close with a reset: thousands of connections would otherwise sit in
        // TIME_WAIT for a minute, and swell the /proc/net/tcp that the ident servers
        // read on every query.
        reset_on_close(&s);
        Ok(())
    };
    let (n, interval) = thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while phase.load(Relaxed) != OVER && started.fetch_add(1, Relaxed) < max {
                    let count = if once().is_ok() { done } else { failed };
                    count.fetch_add(1, Relaxed);
                }
            });
        }
        measure(phase, done, span, MIN_CONNECTIONS, probe)
    })?;
    Ok((n, failed.load(Relaxed), interval))
}

/// The shape of one ident load.
#[derive(Debug, Clone, Copy)]
pub struct IdentLoad {
    /// Clients asking at the same time, each on a thread of its own.
    pub clients: usize,
    /// Each query on a fresh connection (connect, query, read the reply, close), or
    /// every query of a client on the one connection it keeps open.
    pub fresh: bool,
    pub span: Span,
    /// Replies the measured interval holds at least.
    pub min_replies: u64,
    /// Upper bound on the connections one fresh load opens.
    pub max_connections: u64,
}

/// What one ident load (or one of its clients) measured.
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
        super::percentile(&self.wall_ns, p).map(|ns| ns as f64 / 1e3)
    }
}

/// Ident queries from `load.clients` threads, each asking about the very connection
/// it asks on (`server-port , client-port`: a connection of this host whose owner the
/// server can find and report).
pub fn ident_queries(
    server: SocketAddr,
    load: &IdentLoad,
    probe: &mut dyn FnMut() -> Result<Cpu>,
) -> Result<IdentOutcome> {
    let (phase, replies, opened) = (AtomicU8::new(WARMUP), AtomicU64::new(0), AtomicU64::new(0));
    let counters = (&phase, &replies, &opened);
    thread::scope(|scope| {
        let spawn = |_| scope.spawn(move || ident_client(server, load, counters));
        let clients: Vec<_> = (0..load.clients).map(spawn).collect();
        let result = measure(&phase, &replies, load.span, load.min_replies, probe);
        let mut out = IdentOutcome::default();
        for client in clients {
            let c = client
                .join()
                .map_err(|_| anyhow!("a client thread panicked"))?;
            out.wall_ns.extend(c.wall_ns);
            out.answered += c.answered;
            out.error_replies += c.error_replies;
            out.failures += c.failures;
        }
        out.wall_ns.sort_unstable();
        let (replies, interval) = result?;
        Ok(IdentOutcome {
            replies,
            interval: Some(interval),
            ..out
        })
    })
}

/// One ident client, until the load is over: its own counts.
fn ident_client(
    server: SocketAddr,
    load: &IdentLoad,
    (phase, replies, opened): (&AtomicU8, &AtomicU64, &AtomicU64),
) -> IdentOutcome {
    let mut out = IdentOutcome::default();
    let mut open: Option<(TcpStream, Vec<u8>)> = None;
    while phase.load(Relaxed) != OVER {
        if load.fresh && opened.fetch_add(1, Relaxed) >= load.max_connections {
            break;
        }
        let started = Instant::now();
        let asked = match open.take() {
            Some(conn) if !load.fresh => Ok(conn),
            _ => ident_connect(server),
        };
        let result = asked.and_then(|(mut stream, query)| {
            let line = ident_ask(&mut stream, &query)?;
            Ok((stream, query, line))
        });
        let Ok((stream, query, line)) = result else {
            out.failures += 1;
            // A fresh connection refused or reset is not a reason to spin; an open
            // connection that failed is given up.
            match load.fresh {
                true => thread::sleep(Duration::from_millis(1)),
                false => break,
            }
            continue;
        };
        out.answered += 1;
        out.error_replies += u64::from(!line.windows(6).any(|w| w == b"USERID"));
        if phase.load(Relaxed) == MEASURE {
            replies.fetch_add(1, Relaxed);
            out.wall_ns.push(started.elapsed().as_nanos() as u64);
        }
        match load.fresh {
            // Close with a reset, so that no connection is left in TIME_WAIT
            // (thousands would swell the table a /proc lookup reads).
            true => reset_on_close(&stream),
            false => open = Some((stream, query)),
        }
    }
    out
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
    let (mut line, mut buf) = (Vec::with_capacity(128), [0u8; 512]);
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
    let _ = setsockopt(
        stream,
        Linger,
        &libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    );
}
