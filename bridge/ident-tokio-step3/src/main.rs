//! RFC 1413 ident server, migration step 3 of 3: on tokio 1 — runtime, sockets,
//! timers and signals together; the slot count, the counts and the channel of
//! finished connections are still futures 0.1's, used through the compat layer.
//!
//! The same server as `legacy/ident-tokio` and steps 1 and 2: the accept loop takes
//! a slot and the next connection, and each connection is a task of its own, which
//! awaits its query lines (bytes buffered in shared's `LineBuffer` until a whole line
//! is there, so a query split across TCP segments is just a line that takes two
//! reads) and writes a reply to each. The async fns of step 2 keep their shape; what
//! they wait on is now tokio 1's: `TcpListener`, the read and write halves of a
//! `TcpStream` (`read(..).await`, `write_all(..).await`), `Sleep` for the idle timer
//! and the accept pause, tokio's signals.
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
//! cargo run -p bridge-ident-tokio-step3 -- --bind 127.0.0.1:1113
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
//!   stream of connections that pauses: a tokio `Sleep` awaited in its `next`.
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog until one closes.
//!
//! # What this step does, and why it is safe
//!
//! The runtime, the sockets, the timers and the signals move to tokio 1 together,
//! while what depends on no runtime stays: the `Slots` (futures 0.1 has no semaphore:
//! the slot count keeps the `Task` to wake, and `Compat01As03` still makes one from
//! the waker), the `Rc<RefCell<IdentCounts>>`, now on a `LocalSet`, and the futures
//! 0.1 channel that says when every connection is done, awaited through the compat
//! layer. Moving them together is what makes it safe: a timer has to move exactly
//! with its runtime.
//!
//! A tokio 1 timer needs tokio 1's runtime (steps 1 and 2 could not have it), and
//! tokio-core's `Timeout` needs its `Core` to be running (this step could not keep
//! it). tokio-signal delivers through a task it spawns on the `Core`, so the signals
//! move too, and with them the `Shared` future every connection watched: it becomes a
//! `watch` channel, which the accept loop sets when a signal comes. tokio-io's
//! reader and writer need tokio-core's sockets, so the halves become tokio's own
//! (`into_split()`, without a lock), read into the same `LineBuffer` by
//! `read(..).await`.
//!
//! `Rc` is not `Send`, so the connections are spawned with `spawn_local` on a
//! `LocalSet`, tokio 1's home for tasks that must stay on one thread — the
//! `Handle::spawn` of `Core` had no `Send` bound either. The `BUDGET` of lines per
//! turn goes: tokio 1's sockets count against tokio's cooperative budget, so a
//! connection with many lines waiting yields after a while by itself.
//!
//! Nothing observable changes, so the suite's checks pass as they do for both ends.
//! What is left for the modern program is tokio 1's own idioms: a `Semaphore` for the
//! slots, a `JoinSet` for the counts and the channel, and tokio-util's `LinesCodec`
//! for the line buffer.
//!
//! # In the wrong order
//!
//! Moving the runtime but keeping tokio-core's `Timeout` leaves an idle timer that
//! never fires: the `Core` that turns its timer is not run any more
//! (`ident-service-old-timer` shows it), and keeping tokio-signal leaves a server that
//! SIGTERM cannot stop (`echo-mpsc-old-signals`). Dropping the `BUDGET` before the
//! sockets are tokio 1's would let one peer with many queries keep every other
//! connection waiting.

// The workspace pins the compat layer under a key of its own (`futures-compat`), since
// `futures` names the modern crate there; in this crate it is `futures`, as in the
// code this one becomes. futures 0.1 is `futures01`.
extern crate futures_compat as futures;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures::compat::{Future01CompatExt, Stream01CompatExt};
use futures::StreamExt;
use futures01::sync::mpsc;
use futures01::task::{self, Task};
use futures01::Async;
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, LineBuffer, LineError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::LocalSet;
use tokio::time::{Instant, Sleep};

/// Becomes `true` once SIGINT or SIGTERM arrives. A `watch` channel, so that every
/// connection can hold a receiver and be woken by the same signal.
type Shutdown = watch::Receiver<bool>;

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

/// The query lines of one connection.
struct Requests {
    reader: OwnedReadHalf,
    /// Bytes read and not yet returned as a line: never more than `MAX_LINE + 1`.
    lines: LineBuffer,
    /// Reset when a line is complete; awaited while the task waits for the socket.
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    shutdown: Shutdown,
}

impl Requests {
    /// The next query line; `None` at end-of-file.
    // port of: Requests::poll
    async fn next(&mut self) -> Result<Option<String>, End> {
        // No `BUDGET` of lines per turn: the reply's `write_all` spends tokio's
        // cooperative budget, and a connection with many lines waiting yields by itself.
        loop {
            match self.lines.next_line() {
                Ok(Some(line)) => {
                    self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
                    return Ok(Some(line));
                }
                Ok(None) => {}
                Err(LineError::TooLong) => return Err(End::TooLong),
                Err(LineError::InvalidUtf8) => return Err(End::InvalidUtf8),
            }
            // The signal, the read and the timer, awaited together; a dropped `read`
            // has read nothing.
            let read = tokio::select! {
                biased;
                _ = self.shutdown.wait_for(|stopping| *stopping) => return Err(End::Shutdown),
                // Read no more than what could still complete a line.
                read = self.reader.read(self.lines.room()) => read,
                () = &mut self.idle => return Err(End::Idle),
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
/// and carries on spins: the listener stays readable.
struct Incoming {
    listener: TcpListener,
    slots: Rc<Slots>,
    policy: AcceptPolicy,
    /// Armed after an accept failed for lack of resources: nothing is accepted until
    /// it is over.
    pause: Option<Pin<Box<Sleep>>>,
}

impl Incoming {
    /// The next connection and its slot. Cancel-safe, for the `select!` it runs in: a
    /// pause stays armed until it is over, and a dropped `accept` accepted nothing.
    // port of: Incoming::poll
    async fn next(&mut self) -> io::Result<(TcpStream, SocketAddr, Slot)> {
        loop {
            if let Some(pause) = self.pause.as_mut() {
                // Awaiting the `Sleep` parks this task until the pause is over; until
                // then, the runtime serves the connections and would see a signal.
                pause.await;
                self.pause = None;
            }
            // A futures 0.1 poll, awaited through the compat layer: `Slots::take`
            // registers the current 0.1 task, which `Compat01As03` made from this
            // async fn's waker.
            let slots = &self.slots;
            let slot = futures01::future::poll_fn(|| {
                Ok::<_, io::Error>(match Slots::take(slots) {
                    Some(slot) => Async::Ready(slot),
                    None => Async::NotReady,
                })
            });
            let slot = slot.compat().await?;
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    self.policy.accepted();
                    return Ok((stream, peer, slot));
                }
                // Out of descriptors, say: wait, then retry; a failed connection: the
                // next one, at once. `shared::accept` decides and reports.
                Err(e) => match self.policy.failed(&e) {
                    Next::Retry => {}
                    Next::Pause(pause) => self.pause = Some(Box::pin(tokio::time::sleep(pause))),
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
        } = self;
        // Owned halves: the write half is borrowed by the loop, not handed around.
        let (reader, mut writer) = stream.into_split();
        let mut requests = Requests {
            reader,
            lines: LineBuffer::new(),
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            shutdown,
        };
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
    // One thread, as tokio-core's `Core` ran everything on one.
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    // The connections hold `Rc`s: they are spawned on this `LocalSet`, whose tasks
    // stay on the thread that runs it.
    LocalSet::new().block_on(&runtime, serve(args))
}

/// Everything that ran on the event loop, now on the runtime.
// port of: run
async fn serve(args: &Args) -> Result<(), String> {
    let listener = TcpListener::bind(args.bind)
        .await
        .map_err(|e| bind_error(args.bind, &e))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    // The signals are awaited in the accept loop, which tells the connections.
    let (stop, shutdown) = watch::channel(false);
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
    };
    // Accept until a signal arrives: each connection is a task of its own, which
    // counts itself when it is done.
    loop {
        let (stream, peer, slot) = tokio::select! {
            biased;
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            accepted = incoming.next() => accepted.map_err(|e| format!("accept loop failed: {e}"))?,
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
        };
        let (counts, done) = (counts.clone(), done_tx.clone());
        // A task of its own on this thread's `LocalSet`, as it was on the `Core`.
        tokio::task::spawn_local(async move {
            // Awaited before `counts` is borrowed: a `RefCell` borrow held across an
            // `.await` stays held while other tasks run.
            let served = connection.run().await;
            record(&mut counts.borrow_mut(), served);
            drop(done);
        });
    }
    counts.borrow_mut().accept_pauses = incoming.policy.pauses();
    // Accept no more; the channel ends once the last connection drops its sender.
    drop(incoming);
    drop(done_tx);
    // Tell every connection to stop; each ends once its current reply is written.
    let _ = stop.send(true);
    let mut done = done_rx.compat();
    while done.next().await.is_some() {}
    emit(&counts.borrow().summary());
    Ok(())
}
