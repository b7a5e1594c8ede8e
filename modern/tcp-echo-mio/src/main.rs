//! TCP echo server directly on mio 0.8: a slab of connections, edge-triggered, with
//! interest changes.
//!
//! What tokio hides, written out: one `Poll`, a listener, a signalfd, and a `Slab` of
//! connections whose keys are their tokens. Every source is edge-triggered (mio 0.8
//! has no other mode): an event says "something changed", so each handler works until
//! the socket says `WouldBlock`, or the next edge may never come. A connection is
//! registered for readable while it has nothing to write back, and for writable
//! (only) while output is pending: the interest follows its state through
//! `reregister`, so a connection whose peer is slow to read is not woken for data it
//! will not read yet, and an idle one is not woken because its socket is writable.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-tcp-echo-mio
//! nc 127.0.0.1 8080
//! ```
//!
//! Every byte is written back, in order (RFC 862), partial writes included. A peer
//! that closes its sending side gets the rest of its echo and then end-of-file; a
//! peer that resets concerns only its own connection. Each connection prints
//! `accepted from PEER` and `closed PEER after N bytes: REASON` (N = bytes written
//! back). SIGINT and SIGTERM are blocked and read from a signalfd registered in the
//! same poll: on either, the server stops accepting, lets every connection write back
//! what it has read (for up to one second), prints `summary accepted=A closed=C
//! bytes=B accept_pauses=P` and exits 0.
//!
//! # Faults
//!
//! * Out of descriptors: an accept that fails for lack of resources (`EMFILE`, …)
//!   pauses accepting for 10 ms, doubling up to 1 s, while the open connections are
//!   served: the listener's events are ignored meanwhile, and the poll waits no longer
//!   than the pause, after which the server accepts again by itself. (It must: with
//!   edge triggering, the peers waiting in the backlog raise no new edge, and a server
//!   that waited for one would leave them there until someone new connects.) One
//!   stderr line when a pause starts, one when accepting works again, and
//!   `accept_pauses` counts the episodes (`shared::accept`).
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog; the server accepts again when one closes.
//! * A peer that does not read its echo meets backpressure: the connection holds at
//!   most one 16 KiB buffer, and is registered for writable only, so nothing more is
//!   read from it until that is written back. No byte either way for
//!   `--idle-timeout-secs` (default 300) closes a connection (`idle timeout`): the
//!   poll also waits no longer than until the first connection may have gone idle,
//!   and a sweep over the slab closes the idle ones (a timer wheel would find them
//!   without the sweep; at a few thousand connections it is not worth its code).
//!
//! # Migration
//!
//! * `Ready` + `PollOpt::edge()` becomes `Interest`: mio 0.8 is edge-triggered only,
//!   so the option disappears, and an interest can no longer be empty (the
//!   connection's state machine never needs one: it always waits on something).
//! * `register`/`reregister` move from `Poll` to `poll.registry()` and take the
//!   source by `&mut`: the registry may have to change it (on some platforms it
//!   does), and the borrow checker now sees that.
//! * `EventedFd(&fd)` becomes `SourceFd(&fd)` for the signalfd; nix 0.30's
//!   `SignalFd` owns its descriptor (`OwnedFd`) and reads with `&self`.
//! * `TcpListener::bind(&addr)` takes the address by value; `accept` no longer goes
//!   through `net2`, and `Token(usize::MAX)` is no longer reserved (the fixed tokens
//!   keep their values so that the two sources read alike).
//! * bitflags 2 in nix: `SfdFlags::SFD_NONBLOCK`, `Signal::SIGINT`.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use slab::Slab;

/// Tokens of the two fixed sources; connections use their slab key.
const LISTENER: Token = Token(usize::MAX - 1);
const SIGNALS: Token = Token(usize::MAX - 2);

/// Read/write rounds a connection gets per turn, so that one fast peer cannot keep
/// the others waiting. A connection that spends it is still ready, and no new edge
/// will say so: it is put on the `again` list and served before the next wait.
const BUDGET: usize = 64;

/// What a turn of a connection came to.
enum Turn {
    /// It would block; its interest says on what.
    Wait,
    /// Budget spent with the socket still ready.
    Again,
    /// It is over, for this reason.
    Closed(std::borrow::Cow<'static, str>),
}

/// One connection: what was read and not yet written back is `buf[start..end]`.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    read_done: bool,
    echoed: u64,
    /// When a byte last moved either way.
    last_active: Instant,
    /// What it is registered for.
    // `Interest`, where mio 0.6 had `Ready`: only what to be woken for.
    interest: Interest,
}

impl Connection {
    /// Writes back what is pending; `true` once nothing is left. A write may take
    /// only part of the buffer: the rest stays pending for the next writable edge.
    fn flush(&mut self) -> io::Result<bool> {
        while self.start < self.end {
            match self.stream.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.start += n;
                    self.echoed += n as u64;
                    self.last_active = Instant::now();
                }
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.start = 0;
        self.end = 0;
        Ok(true)
    }

    /// Writes, then reads, until the socket would block, the budget is spent or
    /// the connection is over. Once `stopping`, it only writes.
    fn turn(&mut self, stopping: bool) -> io::Result<Turn> {
        for _ in 0..BUDGET {
            let flushed = self.flush()?;
            if stopping && flushed {
                return Ok(Turn::Closed(tcp_reason::SHUTDOWN.into()));
            }
            if !flushed || stopping {
                return Ok(Turn::Wait);
            }
            if self.read_done {
                // Everything read has been written back; dropping the stream
                // closes our side, and the peer reads end-of-file after its last
                // byte.
                return Ok(Turn::Closed(tcp_reason::EOF.into()));
            }
            // Edge-triggered: read until WouldBlock, or the next edge may never come.
            match self.stream.read(&mut self.buf) {
                Ok(0) => self.read_done = true,
                Ok(n) => {
                    self.end = n;
                    self.last_active = Instant::now();
                }
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Turn::Wait),
                Err(e) => return Err(e),
            }
        }
        Ok(Turn::Again)
    }

    /// Readable while there is nothing to write back, writable only while there is.
    // `Interest` constants, where mio 0.6 built `Ready` values.
    fn wanted(&self) -> Interest {
        if self.start < self.end {
            Interest::WRITABLE
        } else {
            Interest::READABLE
        }
    }
}

struct Server {
    poll: Poll,
    listener: Option<TcpListener>,
    signals: SignalFd,
    connections: Slab<Connection>,
    /// Connections that spent their budget while still ready.
    again: Vec<usize>,
    stopping: Option<Instant>,
    /// What to do when `accept` fails (`shared::accept`).
    policy: AcceptPolicy,
    /// Set after an accept failed for lack of resources: the listener's events are
    /// ignored until then, and the poll waits no longer.
    paused: Option<Instant>,
    max_connections: usize,
    /// A connection closed while every slot was taken: accept again, since the
    /// peers waiting in the backlog will raise no new edge.
    accept_again: bool,
    idle_timeout: Duration,
    /// When the first connection may have been idle for `idle_timeout`.
    next_sweep: Option<Instant>,
    quiet: bool,
    counts: TcpCounts,
}

impl Server {
    /// Accepts until `WouldBlock` (edge-triggered, like everything else), a pause, or
    /// `--max-connections`.
    fn accept(&mut self) -> io::Result<()> {
        loop {
            if self.paused.is_some() || self.connections.len() >= self.max_connections {
                return Ok(());
            }
            let Some(listener) = self.listener.as_ref() else {
                return Ok(());
            };
            // `mut`: registering takes the source by `&mut` in mio 0.8.
            let (mut stream, peer) = match listener.accept() {
                Ok(accepted) => {
                    self.policy.accepted();
                    accepted
                }
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                // Out of descriptors, say: pause (the check above returns), then retry;
                // a failed connection: the next one, at once. `shared::accept` decides
                // and reports.
                Err(e) => {
                    if let Next::Pause(pause) = self.policy.failed(&e) {
                        self.counts.accept_pauses = self.policy.pauses();
                        self.paused = Some(Instant::now() + pause);
                    }
                    continue;
                }
            };
            let entry = self.connections.vacant_entry();
            let token = Token(entry.key());
            self.poll
                // Through the `Registry`, by `&mut`, and without `PollOpt::edge()`: mio 0.8
                // registers every source edge-triggered.
                .registry()
                .register(&mut stream, token, Interest::READABLE)?;
            entry.insert(Connection {
                stream,
                peer,
                buf: vec![0; TCP_BUFFER].into_boxed_slice(),
                start: 0,
                end: 0,
                read_done: false,
                echoed: 0,
                last_active: Instant::now(),
                // What `register` asked for.
                interest: Interest::READABLE,
            });
            self.counts.accepted += 1;
            if !self.quiet {
                emit(&echo::accepted_event(peer));
            }
            let idle_at = Instant::now() + self.idle_timeout;
            self.next_sweep = Some(self.next_sweep.map_or(idle_at, |t| t.min(idle_at)));
            // Data may have arrived with the connection: the edge for it fired
            // before the registration, so read now.
            self.serve(token.0);
        }
    }

    /// Gives connection `key` a turn, then closes it or adjusts its interest.
    fn serve(&mut self, key: usize) {
        let stopping = self.stopping.is_some();
        let Some(conn) = self.connections.get_mut(key) else {
            return; // closed earlier in this batch of events
        };
        let reason = match conn.turn(stopping) {
            Ok(Turn::Closed(reason)) => reason,
            Err(e) => echo::tcp_error_reason(&e),
            Ok(turn) => {
                if let Turn::Again = turn {
                    self.again.push(key);
                }
                let wanted = conn.wanted();
                if wanted != conn.interest {
                    // reregister with the new interest; with edge triggering this
                    // also re-arms, and reports whatever is ready now.
                    if let Err(e) = self
                        .poll
                        // As for `register`: the `Registry`, `&mut`, no `PollOpt`.
                        .registry()
                        .reregister(&mut conn.stream, Token(key), wanted)
                    {
                        let reason = echo::tcp_error_reason(&e);
                        self.close(key, reason);
                        return;
                    }
                    conn.interest = wanted;
                }
                return;
            }
        };
        self.close(key, reason);
    }

    fn close(&mut self, key: usize, reason: std::borrow::Cow<'static, str>) {
        // Dropping the stream closes it, which also removes it from the epoll set.
        let conn = self.connections.remove(key);
        if self.connections.len() + 1 == self.max_connections {
            self.accept_again = true;
        }
        self.counts.closed += 1;
        self.counts.bytes += conn.echoed;
        if !self.quiet {
            emit(&echo::closed_event(conn.peer, conn.echoed, reason));
        }
    }

    /// Reads every pending signal (edge-triggered: until none is left).
    fn on_signals(&mut self) -> io::Result<()> {
        let mut asked = false;
        loop {
            match self.signals.read_signal() {
                Ok(Some(_)) => asked = true,
                Ok(None) => break,
                Err(e) => return Err(io::Error::other(format!("signalfd: {e}"))),
            }
        }
        if asked && self.stopping.is_none() {
            // Stop accepting (dropping the listener closes it), read no more, and
            // give every connection a turn to write back what it holds.
            self.listener = None;
            self.stopping = Some(Instant::now() + TCP_SHUTDOWN_GRACE);
            let keys: Vec<usize> = self.connections.iter().map(|(k, _)| k).collect();
            for key in keys {
                self.serve(key);
            }
        }
        Ok(())
    }

    /// Closes the connections through which no byte moved for the idle timeout, and
    /// notes when the next one may have been.
    fn sweep(&mut self, now: Instant) {
        let idle: Vec<usize> = self
            .connections
            .iter()
            .filter(|(_, c)| now >= c.last_active + self.idle_timeout)
            .map(|(k, _)| k)
            .collect();
        for key in idle {
            self.close(key, tcp_reason::IDLE.into());
        }
        self.next_sweep = self
            .connections
            .iter()
            .map(|(_, c)| c.last_active + self.idle_timeout)
            .min();
    }

    fn run(mut self) -> io::Result<TcpCounts> {
        let mut events = Events::with_capacity(1024);
        loop {
            if let Some(deadline) = self.stopping {
                if self.connections.is_empty() {
                    return Ok(self.counts);
                }
                if Instant::now() >= deadline {
                    let keys: Vec<usize> = self.connections.iter().map(|(k, _)| k).collect();
                    for key in keys {
                        self.close(key, tcp_reason::ABANDONED.into());
                    }
                    return Ok(self.counts);
                }
            }
            // Wait for events; not at all if some connection is still ready, and no
            // longer than the grace period once stopping, the pause of the accepts, or
            // until a connection may have gone idle.
            let timeout = if !self.again.is_empty() {
                Some(Duration::ZERO)
            } else {
                [self.stopping, self.paused, self.next_sweep]
                    .into_iter()
                    .flatten()
                    .min()
                    .map(|deadline| deadline.saturating_duration_since(Instant::now()))
            };
            match self.poll.poll(&mut events, timeout) {
                Ok(_) => {}
                Err(ref e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for key in std::mem::take(&mut self.again) {
                self.serve(key);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept()?,
                    SIGNALS => self.on_signals()?,
                    // Whatever the readiness, a turn tries both directions: a write
                    // or read that would block costs one system call and no harm.
                    Token(key) => self.serve(key),
                }
            }
            let now = Instant::now();
            // The pause is over, or a slot came free: accept again by ourselves.
            if self.paused.is_some_and(|until| now >= until) {
                self.paused = None;
                self.accept_again = true;
            }
            if std::mem::take(&mut self.accept_again) {
                self.accept()?;
            }
            if self.stopping.is_none() && self.next_sweep.is_some_and(|at| now >= at) {
                self.sweep(now);
            }
        }
    }
}

/// Blocks SIGINT and SIGTERM and returns a signalfd that reads them. Blocked, they
/// no longer kill the process: they wait, pending, until read from the descriptor.
fn shutdown_signals() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    // Signals and flags are named through their types in current nix.
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    // The program is single-threaded, so the thread's mask is the process's.
    mask.thread_block()?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

fn main() {
    let spec = Spec::tcp_echo(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    // Block the signals before anything else, so that a signal sent as soon as
    // `listening` is read is already waiting on the signalfd.
    let signals = shutdown_signals().map_err(|e| format!("cannot watch signals: {e}"))?;
    let poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    // mio 0.8 takes the address by value, and registering needs `&mut` sources.
    let mut listener = TcpListener::bind(args.bind).map_err(|e| bind_error(args.bind, &e))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)
        .map_err(|e| e.to_string())?;
    poll.registry()
        .register(
            &mut SourceFd(&signals.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )
        .map_err(|e| e.to_string())?;
    emit(&Event::Listening {
        proto: Proto::Tcp,
        addr: local,
    });

    let server = Server {
        poll,
        listener: Some(listener),
        signals,
        connections: Slab::new(),
        again: Vec::new(),
        stopping: None,
        policy: AcceptPolicy::new(),
        paused: None,
        max_connections: args.max_connections,
        accept_again: false,
        idle_timeout: args.idle_timeout,
        next_sweep: None,
        quiet: args.quiet,
        counts: TcpCounts::default(),
    };
    let counts = server.run().map_err(|e| e.to_string())?;
    emit(&counts.summary());
    Ok(())
}
