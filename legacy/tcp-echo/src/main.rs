//! TCP echo server on tokio-core 0.1: `incoming().for_each` and one future per connection.
//!
//! The shape of tokio-core's own echo example: the listener's `incoming()` stream is
//! driven by `for_each`, and every accepted connection becomes a future of its own,
//! `handle.spawn`ed onto the one event loop. Each connection future reads into its
//! buffer and writes it back, returning `NotReady` whenever the socket would block;
//! tokio-core registered the task for the direction that blocked, so the future never
//! names the readiness it waits for.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p legacy-tcp-echo
//! nc 127.0.0.1 8080
//! ```
//!
//! Every byte is written back, in order (RFC 862). A peer that closes its sending
//! side gets the rest of its echo and then end-of-file; a peer that resets concerns
//! only its own connection. Each connection prints `accepted from PEER` and
//! `closed PEER after N bytes: REASON` (N = bytes written back). SIGINT or SIGTERM
//! stops accepting, lets every connection write back what it has read (for up to one
//! second), prints `summary accepted=A closed=C bytes=B accept_pauses=P` and exits 0.
//!
//! # Faults
//!
//! * Out of descriptors: an accept that fails for lack of resources (`EMFILE`, …)
//!   pauses accepting — a tokio-core `Timeout` of 10 ms, doubling up to 1 s — while
//!   the open connections are served; one stderr line when that starts, one when
//!   accepting works again, and `accept_pauses` counts the episodes
//!   (`shared::accept`). `incoming().for_each` could not do this: `incoming()` hands
//!   the error to the caller, and the listener stays readable, so a caller that
//!   carries on is polled again at once, inside the same `poll` — the event loop never
//!   turned again, the connections holding the descriptors were never served, and
//!   SIGTERM was never seen. [`Incoming`] below is the stream that pauses instead.
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog until one closes.
//! * A peer that does not read its echo meets backpressure: the connection holds at
//!   most one 16 KiB buffer, and reads nothing more until that is written back. No
//!   byte either way for `--idle-timeout-secs` (default 300) closes a connection
//!   (`idle timeout`): a peer that vanished without a FIN would otherwise hold its
//!   slot for ever, since an echo server never writes to a quiet connection.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::future::{Either, Shared};
use futures::sync::mpsc;
use futures::task::{self, Task};
use futures::{Async, Future, Poll, Stream};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use tokio_core::net::{TcpListener, TcpStream};
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Read/write rounds per poll before a connection yields, so that one fast peer
/// cannot keep the event loop (and every other connection) waiting.
const BUDGET: usize = 64;

/// Resolves once SIGINT or SIGTERM arrives. `Shared`, so that the accept loop and
/// every connection can each hold a clone and be woken by the same signal.
type Shutdown = Shared<Box<dyn Future<Item = (), Error = ()>>>;

/// How many connections are open, out of `--max-connections`, and the accept task to
/// wake when one closes while all are taken. futures 0.1 has no semaphore: a future
/// that cannot go on keeps the `Task` of whoever must wake it.
struct Slots {
    open: Cell<usize>,
    max: usize,
    waiting: RefCell<Option<Task>>,
}

impl Slots {
    /// Takes a slot; `None` if all are taken, and then the current task is notified
    /// when one is given back.
    fn take(slots: &Rc<Slots>) -> Option<Slot> {
        if slots.open.get() >= slots.max {
            *slots.waiting.borrow_mut() = Some(task::current());
            return None;
        }
        slots.open.set(slots.open.get() + 1);
        Some(Slot(slots.clone()))
    }
}

/// One connection's slot, given back when the connection (which holds it) is dropped.
struct Slot(Rc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
        if let Some(accepting) = self.0.waiting.borrow_mut().take() {
            accepting.notify();
        }
    }
}

/// The listener's connections, as a stream that pauses: while `--max-connections`
/// are open (the next peers wait in the listen backlog), and for a growing pause after
/// an accept error about resources. `TcpListener::incoming()` hands every error to the
/// caller and leaves the listener readable, so that a caller that carries on spins.
struct Incoming {
    listener: TcpListener,
    slots: Rc<Slots>,
    policy: AcceptPolicy,
    /// Armed after an accept failed for lack of resources: nothing is accepted until
    /// it fires.
    pause: Option<Timeout>,
    handle: Handle,
    counts: Rc<RefCell<TcpCounts>>,
}

impl Stream for Incoming {
    type Item = (TcpStream, SocketAddr, Slot);
    type Error = io::Error;

    fn poll(&mut self) -> Poll<Option<Self::Item>, io::Error> {
        loop {
            if let Some(pause) = self.pause.as_mut() {
                // Polling the `Timeout` registers this task to be woken when the
                // pause is over; until then, the event loop serves the connections
                // and would see a signal.
                if pause.poll()?.is_not_ready() {
                    return Ok(Async::NotReady);
                }
                self.pause = None;
            }
            let Some(slot) = Slots::take(&self.slots) else {
                return Ok(Async::NotReady);
            };
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.policy.accepted();
                    return Ok(Async::Ready(Some((stream, peer, slot))));
                }
                // tokio-core registered this task for the listener's readiness.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Async::NotReady),
                // Out of descriptors, say: wait, then retry; a failed connection: the
                // next one, at once. `shared::accept` decides and reports.
                Err(e) => match self.policy.failed(&e) {
                    Next::Retry => {}
                    Next::Pause(pause) => {
                        self.counts.borrow_mut().accept_pauses = self.policy.pauses();
                        self.pause = Some(Timeout::new(pause, &self.handle)?);
                    }
                },
            }
        }
    }
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
    shutdown: Shutdown,
    /// Armed when the server is asked to stop: how long the peer has left to take
    /// its echo.
    grace: Option<Timeout>,
    /// Fires when no byte moved either way for `idle_timeout`.
    idle: Timeout,
    idle_timeout: Duration,
    /// Whether bytes moved since the idle timer was last set.
    active: bool,
    handle: Handle,
    _slot: Slot,
}

impl Connection {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        slot: Slot,
        shutdown: Shutdown,
        idle_timeout: Duration,
        handle: Handle,
    ) -> io::Result<Self> {
        Ok(Connection {
            stream,
            peer,
            buf: vec![0; TCP_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            read_done: false,
            echoed: 0,
            shutdown,
            grace: None,
            idle: Timeout::new(idle_timeout, &handle)?,
            idle_timeout,
            active: false,
            handle,
            _slot: slot,
        })
    }

    /// Writes back what is pending; `true` once nothing is left.
    fn flush(&mut self) -> io::Result<bool> {
        while self.start < self.end {
            match self.stream.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.start += n;
                    self.echoed += n as u64;
                    self.active = true;
                }
                // tokio-core registered this task for writability before returning.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.start = 0;
        self.end = 0;
        Ok(true)
    }

    /// Whether the server was asked to stop. Polling the shared signal also
    /// registers this task to be woken by it.
    fn stopping(&mut self) -> io::Result<bool> {
        if self.grace.is_none() {
            if let Ok(Async::NotReady) = self.shutdown.poll() {
                return Ok(false);
            }
            self.grace = Some(Timeout::new(TCP_SHUTDOWN_GRACE, &self.handle)?);
        }
        Ok(true)
    }

    /// Waits for the socket: `NotReady`, unless no byte moved either way for the idle
    /// timeout. Bytes moved since the timer was set push it back; polling it registers
    /// this task to be woken when it fires.
    fn wait(&mut self) -> io::Result<Async<&'static str>> {
        if std::mem::take(&mut self.active) {
            self.idle.reset(Instant::now() + self.idle_timeout);
        }
        if self.idle.poll()?.is_ready() {
            return Ok(Async::Ready(tcp_reason::IDLE));
        }
        Ok(Async::NotReady)
    }

    /// Echoes until the socket would block; `Ready(reason)` when the connection ends.
    fn echo(&mut self) -> io::Result<Async<&'static str>> {
        for _ in 0..BUDGET {
            let flushed = self.flush()?;
            if self.stopping()? {
                // Read no more; end once what was read has been written back, or
                // when the grace period is over.
                if flushed {
                    return Ok(Async::Ready(tcp_reason::SHUTDOWN));
                }
                if let Some(grace) = self.grace.as_mut() {
                    if grace.poll()?.is_ready() {
                        return Ok(Async::Ready(tcp_reason::ABANDONED));
                    }
                }
                return Ok(Async::NotReady);
            }
            if !flushed {
                // The peer takes no more for now: read nothing more from it either.
                return self.wait();
            }
            if self.read_done {
                // Everything read has been written back; dropping the stream closes
                // our side, and the peer reads end-of-file after its last byte.
                return Ok(Async::Ready(tcp_reason::EOF));
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => self.read_done = true,
                Ok(n) => {
                    self.end = n;
                    self.active = true;
                }
                // tokio-core registered this task for readability before returning.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return self.wait(),
                Err(e) => return Err(e),
            }
        }
        // Budget spent with work left: ask to be polled again after the others.
        futures::task::current().notify();
        Ok(Async::NotReady)
    }
}

impl Future for Connection {
    /// The peer, the bytes written back to it, and why the connection ended.
    type Item = (SocketAddr, u64, Cow<'static, str>);
    /// A connection's I/O errors are its own: they end it with a reason, never the
    /// server.
    type Error = ();

    fn poll(&mut self) -> Poll<Self::Item, ()> {
        let reason = match self.echo() {
            Ok(Async::NotReady) => return Ok(Async::NotReady),
            Ok(Async::Ready(reason)) => Cow::Borrowed(reason),
            Err(e) => echo::tcp_error_reason(&e),
        };
        Ok(Async::Ready((self.peer, self.echoed, reason)))
    }
}

fn main() {
    let spec = Spec::tcp_echo(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let handle = core.handle();
    let listener = TcpListener::bind(&args.bind, &handle).map_err(|e| bind_error(args.bind, &e))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let sigint = Signal::new(SIGINT, &handle).flatten_stream();
    let sigterm = Signal::new(SIGTERM, &handle).flatten_stream();
    let signals: Box<dyn Future<Item = (), Error = ()>> = Box::new(
        sigint
            .select(sigterm)
            .into_future()
            .map(|_| ())
            .map_err(|_| ()),
    );
    let shutdown = signals.shared();
    emit(&Event::Listening {
        proto: Proto::Tcp,
        addr: local,
    });

    let counts = Rc::new(RefCell::new(TcpCounts::default()));
    let quiet = args.quiet;
    let idle_timeout = args.idle_timeout;
    let record = move |counts: &mut TcpCounts, (peer, bytes, reason)| {
        counts.closed += 1;
        counts.bytes += bytes;
        if !quiet {
            emit(&echo::closed_event(peer, bytes, reason));
        }
    };
    // Every connection holds a sender; the channel ends when the last one is done.
    let (done_tx, done_rx) = mpsc::unbounded::<()>();
    let incoming = Incoming {
        listener,
        slots: Rc::new(Slots {
            open: Cell::new(0),
            max: args.max_connections,
            waiting: RefCell::new(None),
        }),
        policy: AcceptPolicy::new(),
        pause: None,
        handle: handle.clone(),
        counts: counts.clone(),
    };
    let server = {
        let (counts, handle, shutdown) = (counts.clone(), handle.clone(), shutdown.clone());
        incoming.for_each(move |(stream, peer, slot)| {
            counts.borrow_mut().accepted += 1;
            if !quiet {
                emit(&echo::accepted_event(peer));
            }
            let connection = Connection::new(
                stream,
                peer,
                slot,
                shutdown.clone(),
                idle_timeout,
                handle.clone(),
            );
            let (counts, done) = (counts.clone(), done_tx.clone());
            match connection {
                Ok(connection) => handle.spawn(connection.map(move |closed| {
                    record(&mut counts.borrow_mut(), closed);
                    drop(done);
                })),
                // No timer for its idle timeout: the connection ends at once.
                Err(e) => record(
                    &mut counts.borrow_mut(),
                    (peer, 0, echo::tcp_error_reason(&e)),
                ),
            }
            Ok(())
        })
    };
    // Accept until a signal arrives; the accept loop (and with it the listener and
    // its sender) is dropped when `select2` returns, pause or not.
    match core.run(server.select2(shutdown)) {
        Ok(Either::A(_)) => return Err("accept loop ended".to_string()),
        Err(Either::A((e, _))) => return Err(format!("accept loop failed: {e}")),
        Ok(Either::B(_)) | Err(Either::B(_)) => {}
    }
    // Each connection now writes back what it has read and ends (within the grace
    // period); wait for the last one.
    core.run(done_rx.for_each(|()| Ok(())))
        .map_err(|()| "waiting for connections failed".to_string())?;
    emit(&counts.borrow().summary());
    Ok(())
}
