//! RFC 1413 ident server, migration step 2 of 3: the accept loop written as
//! async/await too, still run by tokio-core's `Core` through the compat layer.
//!
//! The same server as `legacy/ident-tokio` and step 1: each connection is an async fn
//! that awaits its query lines and writes a reply to each. What changed is the accept
//! loop: the hand-written `impl Stream for Incoming` is
//! `impl Incoming { async fn next(&mut self) }`, and `incoming.for_each(…)`, raced
//! with the signal by `select2`, is a `loop` in `async fn serve`, which `Core::run`
//! drives. Everything they wait on is still of the old stack.
//!
//! The file reads in the order the server works. [`Requests`] are the query lines of
//! one connection; [`Incoming`] are the listener's connections, each with one of
//! `--max-connections` slots; a [`Connection`] answers its requests, one reply per
//! line, and reports how it went ([`Served`]); `serve` accepts connections until a
//! signal comes, then waits for the open ones to end and prints the summary.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p bridge-ident-tokio-step2 -- --bind 127.0.0.1:1113
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
//!   stream of connections that pauses: a tokio-core `Timeout` awaited in its `next`.
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog until one closes.
//!
//! # What this step does, and why it is safe
//!
//! The accept loop changes shape; the runtime does not. `Incoming::poll` becomes
//! `Incoming::next`, an async fn that awaits the pause (tokio-core's `Timeout`), a
//! slot and the next connection through the compat layer: `Slots::take` and
//! tokio-core's `accept` are futures 0.1 polls, awaited as `poll_fn`s, and they
//! register the current 0.1 task, which `Compat01As03` makes from the async fn's waker.
//! `run` keeps only the `Core`: everything it did on the event loop is `async fn
//! serve`, boxed, pinned and made a futures 0.1 future with `.compat()` for
//! `Core::run`. Its `select2` of the accept loop with the signal, and the second
//! `Core::run` that waited for the channel of finished connections, become a `loop`
//! over a `select_biased!` of the signal and `incoming.next()`, and a `while let`
//! over the channel, awaited through `Compat01As03`. It is safe for the reason step 1
//! was: the same executor and the same reactor run the same tasks.
//!
//! The `Slots` stay (futures 0.1 has no semaphore: the slot count keeps the `Task` to
//! wake), as do the `Shared` signal, the `Rc<RefCell<IdentCounts>>` and the channel
//! whose end says that every connection is done: each of them works through the
//! compat layer, and each has a tokio 1 successor that needs tokio 1's runtime.
//!
//! Nothing observable changes, so the suite's checks pass as they do for the legacy
//! program.
//!
//! # In the wrong order
//!
//! As for step 1: what needs tokio 1's runtime waits for step 3. tokio 1's
//! `Semaphore` would work here (it needs no runtime), but the signal that the accept
//! loop races with is tokio-signal's, on the `Core`, and moves with the runtime.

// The workspace pins the compat layer under a key of its own (`futures-compat`), since
// `futures` names the modern crate there; in this crate it is `futures`, as in the
// code this one becomes. futures 0.1 is `futures01`.
extern crate futures_compat as futures;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::compat::{Compat01As03, Future01CompatExt, Stream01CompatExt};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::{FutureExt, StreamExt, TryFutureExt};
use futures01::future::Shared;
use futures01::sync::mpsc;
use futures01::task::{self, Task};
use futures01::{Async, Future, Stream};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, LineBuffer, LineError};
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

/// Lines a connection answers per turn before it yields, so that a peer with many
/// queries waiting cannot keep the event loop (and every other connection) waiting:
/// nothing in futures 0.1 or tokio-core yields on its own.
const BUDGET: usize = 64;

/// The query lines of one connection.
struct Requests {
    /// tokio-io's read half as a futures 0.3 reader.
    reader: Compat01As03<ReadHalf<TcpStream>>,
    /// Bytes read and not yet returned as a line: never more than `MAX_LINE + 1`.
    lines: LineBuffer,
    /// Reset when a line is complete; awaited while the task waits for the socket.
    idle: Compat01As03<Timeout>,
    idle_timeout: Duration,
    shutdown: Shutdown,
    /// Lines returned since the task last waited.
    turn: usize,
}

impl Requests {
    /// The next query line; `None` at end-of-file.
    // port of: Requests::poll
    async fn next(&mut self) -> Result<Option<String>, End> {
        if self.turn == BUDGET {
            // Budget spent: let the other connections run first.
            self.turn = 0;
            yield_now().await;
        }
        loop {
            match self.lines.next_line() {
                Ok(Some(line)) => {
                    self.turn += 1;
                    self.idle
                        .get_mut()
                        .reset(Instant::now() + self.idle_timeout);
                    return Ok(Some(line));
                }
                Ok(None) => {}
                Err(LineError::TooLong) => return Err(End::TooLong),
                Err(LineError::InvalidUtf8) => return Err(End::InvalidUtf8),
            }
            // The signal, the read and the timer, awaited together where `poll` polled
            // them in turn; each registers the task, through the compat layer.
            let read = futures::select_biased! {
                _ = self.shutdown.clone().compat().fuse() => return Err(End::Shutdown),
                // Read no more than what could still complete a line.
                read = self.reader.read(self.lines.room()).fuse() => read,
                idle = (&mut self.idle).fuse() => {
                    idle?;
                    return Err(End::Idle);
                }
            };
            match read {
                // End-of-file; a partial line left in the buffer gets no answer.
                Ok(0) => return Ok(None),
                Ok(n) => self.lines.filled(n),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// Returns `Pending` once, having asked to be polled again: the async spelling of
/// `task::current().notify(); return Ok(Async::NotReady)`.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return std::task::Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    })
    .await
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
    pause: Option<Compat01As03<Timeout>>,
    handle: Handle,
}

impl Incoming {
    /// The next connection and its slot. Cancel-safe, for the `select_biased!` it
    /// runs in: a pause stays armed until it is over, and a dropped accept accepted
    /// nothing.
    // port of: Incoming::poll
    async fn next(&mut self) -> io::Result<(TcpStream, SocketAddr, Slot)> {
        loop {
            if let Some(pause) = self.pause.as_mut() {
                // Awaiting the `Timeout` parks this task until the pause is over;
                // until then, the event loop serves the connections and would see a
                // signal.
                pause.await?;
                self.pause = None;
            }
            // Futures 0.1 polls, awaited through the compat layer: `Slots::take` and
            // tokio-core's `accept` register the current 0.1 task, which
            // `Compat01As03` made from this async fn's waker.
            let slots = &self.slots;
            let slot = futures01::future::poll_fn(|| {
                Ok::<_, io::Error>(match Slots::take(slots) {
                    Some(slot) => Async::Ready(slot),
                    None => Async::NotReady,
                })
            });
            let slot = slot.compat().await?;
            let listener = &mut self.listener;
            let accepted = futures01::future::poll_fn(|| match listener.accept() {
                Ok(accepted) => Ok(Async::Ready(accepted)),
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Async::NotReady),
                Err(e) => Err(e),
            });
            match accepted.compat().await {
                Ok((stream, peer)) => {
                    self.policy.accepted();
                    return Ok((stream, peer, slot));
                }
                // Out of descriptors, say: wait, then retry; a failed connection: the
                // next one, at once. `shared::accept` decides and reports.
                Err(e) => match self.policy.failed(&e) {
                    Next::Retry => {}
                    Next::Pause(pause) => {
                        self.pause = Some(Timeout::new(pause, &self.handle)?.compat())
                    }
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
}

impl Connection {
    /// Serves the connection: query lines in, replies out.
    async fn run(self) -> Served {
        let Connection {
            stream,
            peer,
            slot,
            idle_timeout,
            quiet,
            shutdown,
            handle,
        } = self;
        let (reader, writer) = stream.split();
        let idle = match Timeout::new(idle_timeout, &handle) {
            Ok(idle) => idle,
            // No timer for its idle timeout: the connection ends at once.
            Err(e) => {
                return Served {
                    peer,
                    sent: 0,
                    queries: 0,
                    why: End::Io(e).reason(),
                }
            }
        };
        let mut requests = Requests {
            // `Compat01As03::new`, not `.compat()`: the extension traits of tokio-io's
            // reader and writer each have a `compat` of their own.
            reader: Compat01As03::new(reader),
            lines: LineBuffer::new(),
            idle: idle.compat(),
            idle_timeout,
            shutdown,
            turn: 0,
        };
        let mut writer = Compat01As03::new(writer);
        // Plain locals: nothing has to outlive one step of a fold any more.
        let (mut sent, mut queries) = (0u64, 0u64);
        let served = async {
            // The fold is a loop now; `?` ends it with the `End` that stopped it.
            while let Some(line) = requests.next().await? {
                let reply = ident::answer(line.as_bytes(), peer.ip());
                queries += 1;
                if !quiet {
                    emit(&ident::reply_event(peer, &reply));
                }
                let wire = reply.to_wire();
                let len = wire.len() as u64;
                // `write_all` borrows the write half: nothing to hand back.
                writer.write_all(wire.as_bytes()).await?;
                sent += len;
            }
            Ok::<(), End>(())
        };
        let ended = served.await;
        // The connection is over: its slot is free.
        drop(slot);
        let why = match ended {
            Ok(_) => Cow::Borrowed(reason::EOF),
            Err(end) => end.reason(),
        };
        Served {
            peer,
            sent,
            queries,
            why,
        }
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
    // The async fn is a futures 0.3 future; boxed and pinned (so `Unpin`) and made a
    // futures 0.1 one with `.compat()`, it is what `Core::run` drives.
    core.run(Box::pin(serve(args, handle)).compat())
}

/// Everything that ran on the event loop, as one async fn.
// port of: run
async fn serve(args: &Args, handle: Handle) -> Result<(), String> {
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
    loop {
        let (stream, peer, slot) = futures::select_biased! {
            _ = shutdown.clone().compat().fuse() => break,
            accepted = incoming.next().fuse() => accepted.map_err(|e| format!("accept loop failed: {e}"))?,
        };
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
        };
        let (counts, done) = (counts.clone(), done_tx.clone());
        // The connection's async fn, and what to do when it is over, in one async
        // block: made a futures 0.1 future with `.compat()` (boxed and pinned, so
        // `Unpin`), it is what `Handle::spawn` takes.
        let task = async move {
            // Awaited before `counts` is borrowed: a `RefCell` borrow held across an
            // `.await` stays held while other tasks run.
            let served = connection.run().await;
            record(&mut counts.borrow_mut(), served);
            drop(done);
            Ok::<(), ()>(())
        };
        handle.spawn(Box::pin(task).compat());
    }
    counts.borrow_mut().accept_pauses = incoming.policy.pauses();
    // Accept no more; the channel ends once the last connection drops its sender.
    drop(incoming);
    drop(done_tx);
    // Each connection ends at its next poll; wait for the last one.
    let mut done = done_rx.compat();
    while done.next().await.is_some() {}
    emit(&counts.borrow().summary());
    Ok(())
}
