//! RFC 1413 ident server on tokio-core 0.1, the owner lookup on a `futures-cpupool`
//! `CpuPool`.
//!
//! The talk's advice for blocking work: "Do not block a future. Never wait in a
//! future! … Then: use a thread pool (for futures: futures_cpupool)". This is
//! ident-tokio (a hand-written request `Stream`, `fold`ed over the write half with
//! `write_all`) with one change: the lookup of a connection's owner, which may take
//! milliseconds of CPU (reading `/proc/net/tcp*`, `--lookup proc`), runs on a pool
//! thread. `pool.spawn_fn(..)` returns a `CpuFuture` of the reply; the connection's
//! task waits for it like for any other future, and meanwhile the event loop serves
//! every other connection. In ident-tokio the same lookup runs inside `poll`, on the
//! event loop's only thread: a second client waits for it.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p legacy-ident-pool -- --bind 127.0.0.1:1113 --lookup proc
//! nc 127.0.0.1 1113
//! ```
//!
//! and type a query such as `1113, 40000` (a port pair of one of your connections to
//! it: `ss -tn` shows them). Every query line gets one reply, `S, C : USERID : UNIX :
//! USER` or `S, C : ERROR : NO-USER | INVALID-PORT | UNKNOWN-ERROR`, and only
//! connections between the querier's address and this host are ever reported
//! (RFC 1413 §3). Lines are text: one that is not UTF-8 ends the connection, as does
//! one longer than 1,000 bytes (never more than that is buffered). A connection with
//! no query for `--idle-timeout-secs` is closed: the timer is reset when a line is
//! complete, not when a byte comes, so that it bounds the time a query line may take.
//! SIGINT or SIGTERM stops accepting and closes every connection once its current
//! reply is written, then prints `summary accepted=A closed=C queries=Q
//! accept_pauses=P` and exits 0.
//!
//! Faults are met as in ident-tokio: an accept that fails for lack of resources
//! pauses accepting (a `Timeout` in the hand-written [`Incoming`] stream,
//! `shared::accept`), and at most `--max-connections` connections are served at once
//! (the next peers wait in the listen backlog). A connection yields at every lookup
//! (it waits for the pool), so it needs no budget of lines per turn.
//!
//! # When the pool is worth it
//!
//! A pool costs a hand-over per query: the job goes to a pool thread through a queue,
//! and the answer comes back through a wake-up of the event loop — two context
//! switches at least. With the `/proc` lookup (about 10 ms) that is noise, and the
//! event loop stays free. With the netlink lookup (a few microseconds, the default)
//! the hand-over costs more than the lookup it hands over; ident-tokio does as well
//! there (see the README's figures).

use std::cell::{Cell, RefCell};
use std::io::{self, Read};
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::future::{Either, Shared};
use futures::sync::mpsc;
use futures::task::{self, Task};
use futures::{Async, Future, Poll, Stream};
use futures_cpupool::{Builder as PoolBuilder, CpuPool};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, lookup, reason, IdentCounts, Line, MAX_LINE};
use tokio_core::net::{TcpListener, TcpStream};
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_io::io::ReadHalf;
use tokio_io::AsyncRead;
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Resolves once SIGINT or SIGTERM arrives. `Shared`, so that the accept loop and
/// every connection can each hold a clone and be woken by the same signal.
type Shutdown = Shared<Box<dyn Future<Item = (), Error = ()>>>;

/// Why a connection's request stream ended early (end-of-file is the stream's end).
#[derive(Debug)]
enum End {
    Idle,
    TooLong,
    InvalidUtf8,
    Shutdown,
    Io(io::Error),
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> End {
        End::Io(e)
    }
}

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

/// The query lines of one connection, as a `Stream` of `String`s.
struct Requests {
    reader: ReadHalf<TcpStream>,
    /// Bytes read and not yet returned as a line: never more than `MAX_LINE + 1`.
    buf: Vec<u8>,
    idle: Timeout,
    idle_timeout: Duration,
    shutdown: Shutdown,
}

impl Stream for Requests {
    type Item = String;
    type Error = End;

    fn poll(&mut self) -> Poll<Option<String>, End> {
        loop {
            match ident::next_line(&self.buf) {
                Line::Complete { line, consumed } => {
                    let line = String::from_utf8(line.to_vec()).map_err(|_| End::InvalidUtf8)?;
                    self.buf.drain(..consumed);
                    self.idle.reset(Instant::now() + self.idle_timeout);
                    return Ok(Async::Ready(Some(line)));
                }
                Line::TooLong => return Err(End::TooLong),
                Line::Incomplete => {}
            }
            // Polling the shared signal also registers this task to be woken by it.
            if let Ok(Async::Ready(_)) | Err(_) = self.shutdown.poll() {
                return Err(End::Shutdown);
            }
            // Read no more than what could still complete a line.
            let mut chunk = [0u8; MAX_LINE + 1];
            let room = MAX_LINE + 1 - self.buf.len();
            match self.reader.read(&mut chunk[..room]) {
                // End-of-file; a partial line left in the buffer gets no answer.
                Ok(0) => return Ok(Async::Ready(None)),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => {
                    // tokio-core registered this task for readability; the timer
                    // registers it for the idle deadline.
                    if self.idle.poll()?.is_ready() {
                        return Err(End::Idle);
                    }
                    return Ok(Async::NotReady);
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Serves one connection: the request stream folded over the write half, each
/// lookup on `pool`.
fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    args: &Args,
    shutdown: Shutdown,
    handle: &Handle,
    counts: Rc<RefCell<IdentCounts>>,
    pool: CpuPool,
) -> io::Result<impl Future<Item = (u64, &'static str, Option<io::Error>), Error = ()>> {
    let (reader, writer) = stream.split();
    let requests = Requests {
        reader,
        buf: Vec::with_capacity(128),
        idle: Timeout::new(args.idle_timeout, handle)?,
        idle_timeout: args.idle_timeout,
        shutdown,
    };
    let sent = Rc::new(Cell::new(0u64));
    let quiet = args.quiet;
    let served = {
        let sent = sent.clone();
        requests.fold(writer, move |writer, line| {
            // The lookup runs on a pool thread (the line moves there with it); this
            // task waits for the `CpuFuture` without holding the event loop.
            let lookup =
                pool.spawn_fn(move || Ok::<_, End>(ident::answer(line.as_bytes(), peer.ip())));
            let (counts, sent) = (counts.clone(), sent.clone());
            // What follows runs back on the event loop's thread, when the task is
            // woken by the pool: counts and event lines stay single-threaded.
            lookup.and_then(move |reply| {
                counts.borrow_mut().queries += 1;
                if !quiet {
                    emit(&ident::reply_event(peer, &reply));
                }
                let wire = reply.to_wire();
                let len = wire.len() as u64;
                // `write_all` takes the write half and gives it back when done.
                tokio_io::io::write_all(writer, wire)
                    .map(move |(writer, _)| {
                        sent.set(sent.get() + len);
                        writer
                    })
                    .map_err(End::Io)
            })
        })
    };
    Ok(served.then(move |ended| {
        let (why, error) = match ended {
            Ok(_) => (reason::EOF, None),
            Err(End::Idle) => (reason::IDLE, None),
            Err(End::TooLong) => (reason::TOO_LONG, None),
            Err(End::InvalidUtf8) => (reason::INVALID_UTF8, None),
            Err(End::Shutdown) => (reason::SHUTDOWN, None),
            Err(End::Io(e)) => ("error", Some(e)),
        };
        Ok((sent.get(), why, error))
    }))
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

    // The threads the lookups run on; cloning a `CpuPool` clones a handle to it.
    let pool = PoolBuilder::new()
        .pool_size(lookup::pool_threads())
        .name_prefix("lookup-")
        .create();
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
        let (counts, handle, shutdown, args, pool) = (
            counts.clone(),
            handle.clone(),
            shutdown.clone(),
            args.clone(),
            pool.clone(),
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
            match connection(
                stream,
                peer,
                &args,
                shutdown.clone(),
                &handle,
                counts.clone(),
                pool.clone(),
            ) {
                Ok(served) => handle.spawn(served.map(move |(sent, why, error)| {
                    // The connection is over: its slot is free.
                    drop(slot);
                    let why = match error {
                        Some(e) => format!("{why}: {e}"),
                        None => why.to_string(),
                    };
                    closed(sent, why);
                })),
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
