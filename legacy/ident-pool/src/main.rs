//! RFC 1413 ident server on tokio-core 0.1, the owner lookup on a `futures-cpupool`
//! `CpuPool`.
//!
//! The talk's advice for blocking work: "Do not block a future. Never wait in a
//! future! … Then: use a thread pool (for futures: futures_cpupool)". This is
//! ident-tokio with one change: the lookup of a connection's owner, which may take
//! milliseconds of CPU (reading `/proc/net/tcp*`, `--lookup proc`), runs on a pool
//! thread. `pool.spawn_fn(..)` returns a `CpuFuture` of the reply; the connection's
//! task waits for it like for any other future, and meanwhile the event loop serves
//! every other connection. In ident-tokio the same lookup runs inside `poll`, on the
//! event loop's only thread: a second client waits for it.
//!
//! The file reads in the order the server works. [`Requests`] are the query lines of
//! one connection; [`Incoming`] are the listener's connections, each with one of
//! `--max-connections` slots; a [`Connection`] answers its requests, one reply per
//! line, and reports how it went ([`Served`]); `run` accepts connections until a
//! signal comes, then waits for the open ones to end and prints the summary.
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
//! # Faults
//!
//! * Out of descriptors: an accept that fails for lack of resources (`EMFILE`, …)
//!   pauses accepting for 10 ms, doubling up to 1 s, while the open connections are
//!   served; one stderr line when that starts, one when accepting works again, and
//!   `accept_pauses` counts the episodes (`shared::accept`). [`Incoming`] is the
//!   stream of connections that pauses: a tokio-core `Timeout` armed in its `poll`.
//!   `incoming().then(Ok).for_each(…)` could not do this: the listener stays
//!   readable, so `for_each` polled it again at once, inside the same `poll`, for as
//!   long as accepts failed — the event loop never turned again, the connections
//!   holding the descriptors were never served, and SIGTERM was never seen.
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog until one closes.
//!
//! # When the pool is worth it
//!
//! A pool costs a hand-over per query: the job goes to a pool thread through a queue,
//! and the answer comes back through a wake-up of the event loop — two context
//! switches at least. With the `/proc` lookup (about 10 ms) that is noise, and the
//! event loop stays free. With the netlink lookup (a few microseconds, the default)
//! the hand-over costs more than the lookup it hands over; ident-tokio does as well
//! there (the book's ident figures, from `cargo xtask bench ident-tokio ident-pool`).

use std::borrow::Cow;
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
use shared::ident::{self, lookup, reason, IdentCounts, LineBuffer, LineError};
use tokio_core::net::{TcpListener, TcpStream};
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_io::io::ReadHalf;
use tokio_io::AsyncRead;
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Resolves once SIGINT or SIGTERM arrives. `Shared`, so that the accept loop and
/// every connection can each hold a clone and be woken by the same signal.
type Shutdown = Shared<Box<dyn Future<Item = (), Error = ()>>>;

/// Why a connection's requests ended early (end-of-file is their end).
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

impl End {
    /// What the connection's `closed` line says.
    fn reason(self) -> Cow<'static, str> {
        match self {
            End::Idle => Cow::Borrowed(reason::IDLE),
            End::TooLong => Cow::Borrowed(reason::TOO_LONG),
            End::InvalidUtf8 => Cow::Borrowed(reason::INVALID_UTF8),
            End::Shutdown => Cow::Borrowed(reason::SHUTDOWN),
            End::Io(e) => Cow::Owned(format!("error: {e}")),
        }
    }
}

/// How one connection went: its peer, reply bytes sent, queries answered, and why
/// it ended.
struct Served {
    peer: SocketAddr,
    sent: u64,
    queries: u64,
    why: Cow<'static, str>,
}

/// The query lines of one connection, as a `Stream` of `String`s.
struct Requests {
    reader: ReadHalf<TcpStream>,
    /// Bytes read and not yet returned as a line: never more than `MAX_LINE + 1`.
    lines: LineBuffer,
    /// Reset when a line is complete; polled while the task waits for the socket.
    idle: Timeout,
    idle_timeout: Duration,
    shutdown: Shutdown,
}

impl Stream for Requests {
    type Item = String;
    type Error = End;

    fn poll(&mut self) -> Poll<Option<String>, End> {
        // No budget of lines per turn: the connection yields at every lookup, when it
        // waits for the pool.
        loop {
            match self.lines.next_line() {
                Ok(Some(line)) => {
                    self.idle.reset(Instant::now() + self.idle_timeout);
                    return Ok(Async::Ready(Some(line)));
                }
                Ok(None) => {}
                Err(LineError::TooLong) => return Err(End::TooLong),
                Err(LineError::InvalidUtf8) => return Err(End::InvalidUtf8),
            }
            // Polling the shared signal also registers this task to be woken by it.
            if let Ok(Async::Ready(_)) | Err(_) = self.shutdown.poll() {
                return Err(End::Shutdown);
            }
            // Read no more than what could still complete a line.
            match self.reader.read(self.lines.room()) {
                // End-of-file; a partial line left in the buffer gets no answer.
                Ok(0) => return Ok(Async::Ready(None)),
                Ok(n) => self.lines.filled(n),
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

/// The listener's connections, each with its slot: none while `--max-connections`
/// are open (the next peers wait in the listen backlog), and none for a growing pause
/// after an accept error about resources. An accept loop that only reports the error
/// and carries on spins: the listener stays readable (`TcpListener::incoming()` hands
/// every error to its caller).
struct Incoming {
    listener: TcpListener,
    slots: Rc<Slots>,
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

/// One accepted connection, and what serving it needs.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    idle_timeout: Duration,
    quiet: bool,
    shutdown: Shutdown,
    handle: Handle,
    /// The threads the lookups run on; cloning a `CpuPool` clones a handle to it.
    pool: CpuPool,
}

impl Connection {
    /// Serves the connection: the request stream folded over the write half, each
    /// lookup on `pool`.
    fn run(self) -> io::Result<impl Future<Item = Served, Error = ()>> {
        let Connection {
            stream,
            peer,
            slot,
            idle_timeout,
            quiet,
            shutdown,
            handle,
            pool,
        } = self;
        let (reader, writer) = stream.split();
        let requests = Requests {
            reader,
            lines: LineBuffer::new(),
            idle: Timeout::new(idle_timeout, &handle)?,
            idle_timeout,
            shutdown,
        };
        // Each step of the fold is a future that owns what it uses, so the counts
        // live in cells the steps share.
        let (sent, queries) = (Rc::new(Cell::new(0u64)), Rc::new(Cell::new(0u64)));
        let served = {
            let (sent, queries) = (sent.clone(), queries.clone());
            requests.fold(writer, move |writer, line| {
                // The lookup runs on a pool thread (the line moves there with it); this
                // task waits for it without holding the event loop.
                let lookup =
                    pool.spawn_fn(move || Ok::<_, End>(ident::answer(line.as_bytes(), peer.ip())));
                let (sent, queries) = (sent.clone(), queries.clone());
                // What follows runs back on the event loop's thread, when the task is
                // woken by the pool: the counts and the event lines stay on one thread.
                lookup.and_then(move |reply| {
                    queries.set(queries.get() + 1);
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
            // The connection is over: its slot is free.
            drop(slot);
            let why = match ended {
                Ok(_) => Cow::Borrowed(reason::EOF),
                Err(end) => end.reason(),
            };
            Ok(Served {
                peer,
                sent: sent.get(),
                queries: queries.get(),
                why,
            })
        }))
    }
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

    // The threads the lookups run on.
    let pool = PoolBuilder::new()
        .pool_size(lookup::pool_threads())
        .name_prefix("lookup-")
        .create();
    let counts = Rc::new(RefCell::new(IdentCounts::default()));
    let quiet = args.quiet;
    let record = move |counts: &mut IdentCounts, served: Served| {
        counts.closed += 1;
        counts.queries += served.queries;
        if !quiet {
            emit(&ident::closed_event(served.peer, served.sent, served.why));
        }
    };
    // Every connection holds a sender; the channel ends when the last one is done.
    let (done_tx, done_rx) = mpsc::unbounded::<()>();
    let mut incoming = Incoming {
        listener,
        slots: Rc::new(Slots {
            open: Cell::new(0),
            max: args.max_connections,
            waiting: RefCell::new(None),
        }),
        policy: AcceptPolicy::new(),
        pause: None,
        handle: handle.clone(),
    };
    // Accept until a signal arrives: each connection is a task of its own, which
    // counts itself when it is done.
    let server = incoming.by_ref().for_each(|(stream, peer, slot)| {
        counts.borrow_mut().accepted += 1;
        if !quiet {
            emit(&ident::accepted_event(peer));
        }
        let connection = Connection {
            stream,
            peer,
            slot,
            idle_timeout: args.idle_timeout,
            quiet,
            shutdown: shutdown.clone(),
            handle: handle.clone(),
            pool: pool.clone(),
        };
        let (counts, done) = (counts.clone(), done_tx.clone());
        match connection.run() {
            Ok(served) => handle.spawn(served.map(move |served| {
                record(&mut counts.borrow_mut(), served);
                drop(done);
            })),
            // No timer for its idle timeout: the connection ends at once.
            Err(e) => record(
                &mut counts.borrow_mut(),
                Served {
                    peer,
                    sent: 0,
                    queries: 0,
                    why: End::Io(e).reason(),
                },
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
    // Each connection ends at its next poll; wait for the last one.
    core.run(done_rx.for_each(|()| Ok(())))
        .map_err(|()| "waiting for connections failed".to_string())?;
    emit(&counts.borrow().summary());
    Ok(())
}
