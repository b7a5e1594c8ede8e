//! TCP echo server on tokio-core 0.1: `incoming().for_each` and one future per connection.
//!
//! The shape of tokio-core's own echo example: the listener's `incoming()` stream is
//! driven by `for_each`, and every accepted connection becomes a future of its own,
//! `handle.spawn`ed onto the one event loop. Each connection future reads into its
//! buffer and writes it back, returning `NotReady` whenever the socket would block;
//! tokio-core registered the task for the direction that blocked, so the future never
//! name the readiness it waits for.
//!
//! The file reads in the order the server works. [`Incoming`] are the listener's
//! connections, each with one of `--max-connections` slots; a [`Connection`] echoes
//! what it reads (`flush`, `stopping`, `wait` and `echo` are its steps) and reports
//! how it went; `run` accepts connections until a signal comes, then waits for the
//! open ones to end and prints the summary.
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
//!   pauses accepting for 10 ms, doubling up to 1 s, while the open connections are
//!   served; one stderr line when that starts, one when accepting works again, and
//!   `accept_pauses` counts the episodes (`shared::accept`). [`Incoming`] is the
//!   stream of connections that pauses: a tokio-core `Timeout` armed in its `poll`.
//!   `incoming().for_each` could not do this: `incoming()` hands the error to the
//!   caller, and the listener stays readable, so a caller that carries on is polled
//!   again at once, inside the same `poll` — the event loop never turned again, the
//!   connections holding the descriptors were never served, and SIGTERM was never
//!   seen.
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog until one closes.
//! * A peer that does not read its echo meets backpressure: the connection holds at
//!   most one 16 KiB buffer, and reads nothing more until that is written back. No
//!   byte either way for `--idle-timeout-secs` (default 300) closes a connection
//!   (`idle timeout`): a peer that vanished without a FIN would otherwise hold its
//!   slot for ever, since an echo server never writes to a quiet connection.
//!
//! # On several threads
//!
//! With `--threads N` it runs N such servers, one per thread, each with a `Core` and
//! a listener of its own (`run`): a `Core`'s `Handle` is not `Send`, so nothing of
//! one loop can cross to another thread. The listeners share the port (SO_REUSEPORT,
//! set through net2 before the bind, `listen`), and the kernel hands each connection
//! to one of them; a busy connection keeps its thread busy while another may idle.
//! One thing is shared: the `--max-connections` bound, one `Slots` count behind a
//! lock, whose waiting list holds each thread's accept task. `shared::cores` prints
//! one `listening` line once every `Core` watches the signals, and one summary of all
//! their counts (`serve_on_threads`).
//!
//! ```text
//! cargo run -p legacy-tcp-echo -- --threads 2
//! nc 127.0.0.1 8080
//! ```

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::future::{Either, Shared};
use futures::sync::mpsc;
use futures::task::{self, Task};
use futures::{Async, Future, Poll, Stream};
use net2::unix::UnixTcpBuilderExt;
use net2::TcpBuilder;
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::cores::{self, Ready};
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

/// How many connections are open, out of `--max-connections`, and the accept tasks to
/// wake when one closes while all are taken. futures 0.1 has no semaphore: a future
/// that cannot go on keeps the `Task` of whoever must wake it. One count for every
/// thread's `Core` (`--threads`): the bound is the server's, so the count is behind a
/// lock, and each thread's accept task waits in it (a `Task` may be notified from any
/// thread).
struct Slots {
    open: Mutex<Open>,
    max: usize,
}

/// The connections open, and the accept tasks waiting for one to close.
#[derive(Default)]
struct Open {
    count: usize,
    waiting: Vec<Task>,
}

impl Slots {
    /// Takes a slot; `None` if all are taken, and then the current task is notified
    /// when one is given back.
    fn take(slots: &Arc<Slots>) -> Option<Slot> {
        let mut open = slots.open.lock().unwrap_or_else(PoisonError::into_inner);
        if open.count >= slots.max {
            if !open.waiting.iter().any(Task::will_notify_current) {
                open.waiting.push(task::current());
            }
            return None;
        }
        open.count += 1;
        Some(Slot(slots.clone()))
    }
}

/// One connection's slot, given back when the connection (which holds it) is dropped.
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.count -= 1;
        for accepting in open.waiting.drain(..) {
            accepting.notify();
        }
    }
}

/// The listener's connections, each with its slot: none while `--max-connections`
/// are open (the next peers wait in the listen backlog), and none for a growing pause
/// after an accept error about resources. An accept loop that only reports the error
/// and carries on spins: the listener stays readable (`TcpListener::incoming()` hands
/// every error to its caller).
struct Incoming {
    listener: TcpListener,
    slots: Arc<Slots>,
    policy: AcceptPolicy,
    /// Armed after an accept failed for lack of resources: nothing is accepted until
    /// it fires.
    pause: Option<Timeout>,
    handle: Handle,
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
                    Next::Pause(pause) => self.pause = Some(Timeout::new(pause, &self.handle)?),
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
    let spec = Spec::tcp_echo(env!("CARGO_BIN_NAME")).with_threads();
    let args = spec.from_env();
    if let Err(e) = serve_on_threads(&args) {
        exit_startup_error(spec.name, e);
    }
}

/// The server of one thread: its own `Core`, its listener, its signal streams, its
/// counts; the connection bound is shared.
fn run(
    args: &Args,
    listener: StdTcpListener,
    slots: Arc<Slots>,
    ready: Ready,
) -> Result<TcpCounts, String> {
    let mut core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let handle = core.handle();
    let listener =
        TcpListener::from_listener(listener, &args.bind, &handle).map_err(|e| e.to_string())?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler (every `Core` with a
    // `Signal` stream is told).
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
    // Printed once every thread's `Core` is ready (`shared::cores`).
    ready.listening(Event::Listening {
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
    let mut incoming = Incoming {
        listener,
        slots,
        policy: AcceptPolicy::new(),
        pause: None,
        handle: handle.clone(),
    };
    // Accept until a signal arrives: each connection is a task of its own, which
    // counts itself when it is done.
    let server = incoming.by_ref().for_each(|(stream, peer, slot)| {
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
    });
    // The accept loop is dropped when `select2` returns, pause or not.
    match core.run(server.select2(shutdown.clone())) {
        Ok(Either::A(_)) => return Err("accept loop ended".to_string()),
        Err(Either::A((e, _))) => return Err(format!("accept loop failed: {e}")),
        Ok(Either::B(_)) | Err(Either::B(_)) => {}
    }
    counts.borrow_mut().accept_pauses = incoming.policy.pauses();
    // Accept no more; the channel ends once the last connection drops its sender.
    drop(incoming);
    drop(done_tx);
    // Each connection now writes back what it has read and ends (within the grace
    // period); wait for the last one.
    core.run(done_rx.for_each(|()| Ok(())))
        .map_err(|()| "waiting for connections failed".to_string())?;
    let counts = *counts.borrow();
    Ok(counts)
}

/// `--threads N` (1 by default): N servers, one per thread. A `Core` stays on the
/// thread that made it (its `Handle` is not `Send`): N cores take N `Core`s on N
/// threads, each a server with its own listener on the port.
fn serve_on_threads(args: &Args) -> Result<(), String> {
    let listeners = cores::bind_each(args.bind, args.threads, listen, StdTcpListener::local_addr)
        .map_err(|e| bind_error(args.bind, &e))?;
    let slots = Arc::new(Slots {
        open: Mutex::new(Open::default()),
        max: args.max_connections,
    });
    let args = args.clone();
    let counts = cores::serve_on_threads(listeners, move |listener, ready| {
        run(&args, listener, slots.clone(), ready)
    })?;
    let counts: TcpCounts = counts.into_iter().sum();
    emit(&counts.summary());
    Ok(())
}

/// A listener on `addr`, made with net2 as mio made its own (SO_REUSEADDR, a backlog
/// of 1,024): SO_REUSEPORT (for several threads: `shared::cores` says when) must be
/// set before the bind, which std does as it creates.
fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<StdTcpListener> {
    let builder = match addr {
        SocketAddr::V4(_) => TcpBuilder::new_v4()?,
        SocketAddr::V6(_) => TcpBuilder::new_v6()?,
    };
    builder.reuse_address(true)?;
    builder.reuse_port(reuse_port)?;
    builder.bind(addr)?;
    builder.listen(1024)
}
