//! RFC 1413 ident server on tokio-core 0.1, deliberately WRONG: std's blocking-style
//! `BufRead::read_line` and `write_all` called inside `poll`.
//!
//! Kept, and labelled, because it is the mistake the 2016 talk shows first. The
//! handler future wraps the connection in a std `BufReader` and calls `read_line`
//! from `poll`, as if `read_line` waited for the end of the line. On tokio-core's
//! non-blocking socket it does not: `read_line` → `read_until` → `fill_buf` → `read`
//! returns `WouldBlock` as soon as the bytes that have arrived run out. The handler
//! tolerates that at a line boundary (nothing of a query has come yet: it returns
//! `NotReady`, and tokio-core wakes it when data arrives), but it takes a `WouldBlock`
//! in the *middle* of a line as the error it is for a blocking reader, as the talk's
//! `try!` did: a query split across two TCP segments ends the connection unanswered.
//! The same goes for `write_all`, which fails when a reply does not fit the socket
//! buffer at once. The conformance suite shows both the cases where this works (a
//! whole line in one segment) and the split query where it does not.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p legacy-ident-incorrect -- --bind 127.0.0.1:1113
//! nc 127.0.0.1 1113
//! ```
//!
//! A whole query such as `1113, 40000` is answered; the same query in two pieces,
//! `(printf '1113, '; sleep 1; printf '40000\r\n') | nc 127.0.0.1 1113`, gets the
//! connection dropped: `closed … error: Resource temporarily unavailable`.
//! Otherwise it behaves like the other ident servers: one reply per query line, only
//! the querier's own connections are reported, a line longer than 1,000 bytes ends
//! the connection, `--idle-timeout-secs` closes idle ones, and SIGINT or SIGTERM
//! stops it with `summary accepted=A closed=C queries=Q accept_pauses=P`.
//!
//! Its accept loop is not where it is wrong: like the other tokio-core servers, it
//! pauses accepting after an accept error about resources (a `Timeout` in the
//! hand-written [`Incoming`] stream, `shared::accept`), and serves at most
//! `--max-connections` connections at once.

use std::cell::{Cell, RefCell};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::future::{Either, Shared};
use futures::sync::mpsc;
use futures::task::{self, Task};
use futures::{Async, Future, Poll, Stream};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, Line, MAX_LINE};
use tokio_core::net::{TcpListener, TcpStream};
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

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
    counts: Rc<RefCell<IdentCounts>>,
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

/// Lines a connection answers per turn before it yields, so that a peer with many
/// queries waiting cannot keep the event loop (and every other connection) waiting.
const BUDGET: usize = 64;

/// The talk's handler: a std `BufReader` around the connection, and the line read
/// so far.
struct IdentHandler {
    reader: BufReader<TcpStream>,
    peer: SocketAddr,
    request: String,
    sent: u64,
    quiet: bool,
    counts: Rc<RefCell<IdentCounts>>,
    idle: Timeout,
    idle_timeout: Duration,
    shutdown: Shutdown,
    _slot: Slot,
}

impl IdentHandler {
    /// Answers the line in `request`; the reply goes out with std's `write_all`.
    fn handle(&mut self) -> io::Result<()> {
        let line = self.request.as_bytes();
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let reply = ident::answer(line, self.peer.ip());
        self.counts.borrow_mut().queries += 1;
        if !self.quiet {
            emit(&ident::reply_event(self.peer, &reply));
        }
        let wire = reply.to_wire();
        // WRONG (the talk's second point): on a non-blocking socket `write_all`
        // fails with `WouldBlock` once the socket buffer is full, part written.
        self.reader.get_mut().write_all(wire.as_bytes())?;
        self.sent += wire.len() as u64;
        self.request.clear();
        Ok(())
    }

    fn serve(&mut self) -> io::Result<Async<&'static str>> {
        if let Ok(Async::Ready(_)) | Err(_) = self.shutdown.poll() {
            return Ok(Async::Ready(reason::SHUTDOWN));
        }
        for _ in 0..BUDGET {
            // Bounded, so that a line without end cannot grow the string forever
            // (the one correction made to the talk's code besides `NotReady` below).
            let room = (MAX_LINE + 1).saturating_sub(self.request.len()) as u64;
            // WRONG: `read_line` is written for blocking readers.
            let read = (&mut self.reader).take(room).read_line(&mut self.request);
            match read {
                Ok(0) if self.request.is_empty() => return Ok(Async::Ready(reason::EOF)),
                Ok(_) => {}
                // Nothing of a query yet: wait; tokio-core registered the task.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock && self.request.is_empty() => {
                    if self.idle.poll()?.is_ready() {
                        return Ok(Async::Ready(reason::IDLE));
                    }
                    return Ok(Async::NotReady);
                }
                // Half a line came and the rest has not yet: for a reader that
                // believed it would block until the end of the line, an error.
                Err(e) => return Err(e),
            }
            match ident::next_line(self.request.as_bytes()) {
                Line::Complete { .. } => {
                    self.handle()?;
                    self.idle.reset(Instant::now() + self.idle_timeout);
                }
                Line::TooLong => return Ok(Async::Ready(reason::TOO_LONG)),
                // End-of-file in the middle of a line: nothing to answer.
                Line::Incomplete => return Ok(Async::Ready(reason::EOF)),
            }
        }
        // Budget spent with lines left: ask to be polled again after the others.
        futures::task::current().notify();
        Ok(Async::NotReady)
    }
}

impl Future for IdentHandler {
    /// Reply bytes sent, and why the connection ended.
    type Item = (u64, String);
    type Error = ();

    fn poll(&mut self) -> Poll<(u64, String), ()> {
        let why = match self.serve() {
            Ok(Async::NotReady) => return Ok(Async::NotReady),
            Ok(Async::Ready(why)) => why.to_string(),
            Err(e) if e.kind() == io::ErrorKind::InvalidData => reason::INVALID_UTF8.to_string(),
            Err(e) => format!("error: {e}"),
        };
        Ok(Async::Ready((self.sent, why)))
    }
}

fn handler(
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    args: &Args,
    shutdown: Shutdown,
    handle: &Handle,
    counts: Rc<RefCell<IdentCounts>>,
) -> io::Result<IdentHandler> {
    Ok(IdentHandler {
        reader: BufReader::new(stream),
        peer,
        request: String::new(),
        sent: 0,
        quiet: args.quiet,
        counts,
        idle: Timeout::new(args.idle_timeout, handle)?,
        idle_timeout: args.idle_timeout,
        shutdown,
        _slot: slot,
    })
}

fn main() {
    let spec = Spec::ident(env!("CARGO_BIN_NAME"));
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

    let counts = Rc::new(RefCell::new(IdentCounts::default()));
    let quiet = args.quiet;
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
        let (counts, handle, shutdown, args) = (
            counts.clone(),
            handle.clone(),
            shutdown.clone(),
            args.clone(),
        );
        incoming.for_each(move |(stream, peer, slot)| {
            counts.borrow_mut().accepted += 1;
            if !quiet {
                emit(&ident::accepted_event(peer));
            }
            let closed = {
                let counts = counts.clone();
                let done = done_tx.clone();
                move |sent: u64, why: String| {
                    counts.borrow_mut().closed += 1;
                    if !quiet {
                        emit(&ident::closed_event(peer, sent, why));
                    }
                    drop(done);
                }
            };
            match handler(
                stream,
                peer,
                slot,
                &args,
                shutdown.clone(),
                &handle,
                counts.clone(),
            ) {
                Ok(handler) => handle.spawn(handler.map(move |(sent, why)| closed(sent, why))),
                Err(e) => closed(0, format!("error: {e}")),
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
    // Each connection ends at its next poll; wait for the last one.
    core.run(done_rx.for_each(|()| Ok(())))
        .map_err(|()| "waiting for connections failed".to_string())?;
    emit(&counts.borrow().summary());
    Ok(())
}
