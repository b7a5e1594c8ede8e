//! TCP echo server, migration step 1 of 4: each connection written as async/await on
//! futures 0.3, still run by tokio-core's `Core` through the compat layer.
//!
//! The same server as `legacy/tcp-echo`: the listener's `incoming()` connections are
//! driven by `for_each`, and every accepted connection becomes a task of its own,
//! `handle.spawn`ed onto the one event loop, which reads into its buffer and writes
//! it back. What changed is how a connection is written: the hand-written
//! `impl Future for Connection` is `impl Connection { async fn run(self) }`, with
//! `flush`, `stopping` and `echo` in the order they had. Everything they wait on is
//! still of the old stack, and so is the accept loop.
//!
//! The file reads in the order the server works. [`Incoming`] are the listener's
//! connections, each with one of `--max-connections` slots; a [`Connection`] echoes
//! what it reads (`flush`, `stopping` and `echo` are its steps) and reports
//! how it went; `run` accepts connections until a signal comes, then waits for the
//! open ones to end and prints the summary.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p bridge-tcp-echo-step1
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
//! With `--threads N` it runs N such servers as the legacy program does, one per
//! thread, each with a `Core` and a listener of its own on the port (SO_REUSEPORT),
//! and one `Slots` count for all of them: this step changes none of it.
//!
//! ```text
//! cargo run -p bridge-tcp-echo-step1 -- --threads 2
//! nc 127.0.0.1 8080
//! ```
//!
//! # What this step does, and why it is safe
//!
//! A connection changes shape; the runtime does not. Its `poll` and the helpers it
//! called become async fns on futures 0.3; tokio-core's stream (as a futures 0.3
//! reader and writer), the grace period's and the idle timer's `Timeout`s and the
//! `Shared` signal are awaited through `Compat01As03`, and `Connection::run` goes back
//! to `Handle::spawn` through `.compat()`. It is safe because the same executor and
//! the same reactor run the same tasks; only how they are written changed.
//!
//! The compat layer joins old and new in both directions:
//!
//! * old → new: `Compat01As03` makes a futures 0.3 future, stream or reader/writer
//!   of a futures 0.1 one. The `TcpStream` becomes a futures 0.3
//!   `AsyncRead + AsyncWrite` (io-compat), so `read(..).await` and `write(..).await`
//!   replace the `WouldBlock` arms; the `Shared` signal and the `Timeout`s are
//!   awaited the same way.
//! * new → old: `.compat()` on a futures 0.3 future whose output is a `Result` gives
//!   the futures 0.1 future that `Handle::spawn` takes, once it is `Unpin`
//!   (`Box::pin`).
//!
//! Nothing observable changes, so the suite's checks pass as they do for the legacy
//! program. The `BUDGET` stays (with `yield_now`, the async spelling of
//! `task::current().notify()`): nothing on this runtime makes a busy connection's
//! `read` return `Pending` by itself. `wait` goes: what it did (push back the idle
//! timer when bytes moved, poll it) is `idle_over`, raced with each read and write.
//! The idle timer is still one tokio-core `Timeout` per connection, pushed back when
//! bytes moved, as before; a fresh `Timeout` per wait would be simpler, but
//! `ident-service`'s step 1 with one per request grew with every query under a peer
//! that sent queries and read no reply. The accept loop (`Incoming`, `for_each`) is
//! untouched: it is step 2.
//!
//! # In the wrong order
//!
//! Every piece of the new stack that needs tokio 1's runtime has to wait for step 3,
//! however convenient it looks while rewriting the code as async: a tokio 1 socket
//! made inside `Core::run` panics at once, and a tokio 1 timer panics when it is
//! first polled — "there is no reactor running, must be called from the context of a
//! Tokio 1.x runtime". For the grace period that is only at shutdown, with a peer
//! that does not read: `tcp-echo-early-timer` is this step with `tokio::time`'s
//! deadline, and the suite shows it passing everything but that check.

// The workspace pins the compat layer under a key of its own (`futures-compat`), since
// `futures` names the modern crate there; in this crate it is `futures`, as in the
// code this one becomes. futures 0.1 is `futures01`.
extern crate futures_compat as futures;

use std::borrow::Cow;
use std::cell::RefCell;
use std::future::poll_fn;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use futures::compat::{Compat01As03, Future01CompatExt};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::{FutureExt, TryFutureExt};
use futures01::future::{Either, Shared};
use futures01::sync::mpsc;
use futures01::task::{self, Task};
use futures01::{Async, Future, Poll, Stream};
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
    /// tokio-core's stream as a futures 0.3 reader and writer.
    stream: Compat01As03<TcpStream>,
    peer: SocketAddr,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    read_done: bool,
    echoed: u64,
    shutdown: Shutdown,
    /// Armed when the server is asked to stop: how long the peer has left to take
    /// its echo.
    grace: Option<Compat01As03<Timeout>>,
    /// Fires when no byte moved either way for `idle_timeout`.
    idle: Compat01As03<Timeout>,
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
            // `Compat01As03::new`, not `.compat()`: a stream is both a reader and a
            // writer, and each of the two extension traits has a `compat`.
            stream: Compat01As03::new(stream),
            peer,
            buf: vec![0; TCP_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            read_done: false,
            echoed: 0,
            shutdown,
            grace: None,
            idle: Timeout::new(idle_timeout, &handle)?.compat(),
            idle_timeout,
            active: false,
            handle,
            _slot: slot,
        })
    }

    /// Writes back what is pending; `Some(reason)` if the connection must end first:
    /// the grace period is over, or the peer took nothing for the idle timeout.
    async fn flush(&mut self) -> io::Result<Option<&'static str>> {
        while self.start < self.end {
            let written = futures::select_biased! {
                // The write first: while the peer takes its echo, the timers are not
                // even looked at. A dropped `write` has written nothing.
                written = self.stream.write(&self.buf[self.start..self.end]).fuse() => written?,
                over = grace_over(&self.shutdown, &mut self.grace, &self.handle).fuse() => {
                    over?;
                    return Ok(Some(tcp_reason::ABANDONED));
                }
                over = idle_over(&mut self.idle, &mut self.active, self.idle_timeout).fuse() => {
                    over?;
                    return Ok(Some(tcp_reason::IDLE));
                }
            };
            match written {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    self.start += n;
                    self.echoed += n as u64;
                    self.active = true;
                }
            }
        }
        self.start = 0;
        self.end = 0;
        Ok(None)
    }

    /// Whether the server was asked to stop. Only looks (`Shared::peek`): the task
    /// waits for the signal in `echo` and `grace_over`.
    fn stopping(&self) -> bool {
        self.shutdown.peek().is_some()
    }

    /// Echoes until the connection ends; returns why.
    async fn echo(&mut self) -> io::Result<&'static str> {
        loop {
            for _ in 0..BUDGET {
                // While the peer does not take its echo, nothing more is read from it.
                if let Some(reason) = self.flush().await? {
                    return Ok(reason);
                }
                if self.stopping() {
                    // Read no more: what was read has been written back.
                    return Ok(tcp_reason::SHUTDOWN);
                }
                if self.read_done {
                    // Everything read has been written back; dropping the stream
                    // closes our side, and the peer reads end-of-file after its last
                    // byte.
                    return Ok(tcp_reason::EOF);
                }
                futures::select_biased! {
                    read = self.stream.read(&mut self.buf).fuse() => match read? {
                        0 => self.read_done = true,
                        n => {
                            self.end = n;
                            self.active = true;
                        }
                    },
                    // Read no more once the server stops (a pending read is dropped,
                    // which loses nothing: it has read nothing).
                    _ = self.shutdown.clone().compat().fuse() => {
                        return Ok(tcp_reason::SHUTDOWN)
                    }
                    over = idle_over(&mut self.idle, &mut self.active, self.idle_timeout).fuse() => {
                        over?;
                        return Ok(tcp_reason::IDLE);
                    }
                }
            }
            // Budget spent with work left: let the other connections run.
            yield_now().await;
        }
    }

    /// The peer, the bytes written back to it, and why the connection ended. A
    /// connection's I/O errors are its own: they end it with a reason, never the
    /// server.
    // port of: Connection::poll
    async fn run(mut self) -> (SocketAddr, u64, Cow<'static, str>) {
        let reason = match self.echo().await {
            Ok(reason) => Cow::Borrowed(reason),
            Err(e) => echo::tcp_error_reason(&e),
        };
        (self.peer, self.echoed, reason)
    }
}

/// Resolves once the server is asked to stop and then the grace period, which starts
/// the first time a connection sees the signal, is over.
async fn grace_over(
    shutdown: &Shutdown,
    grace: &mut Option<Compat01As03<Timeout>>,
    handle: &Handle,
) -> io::Result<()> {
    let _ = shutdown.clone().compat().await;
    let timeout = match grace {
        Some(timeout) => timeout,
        None => grace.insert(Timeout::new(TCP_SHUTDOWN_GRACE, handle)?.compat()),
    };
    timeout.await
}

/// Resolves when no byte moved either way for the idle timeout: bytes moved since the
/// timer was set push it back first. One `Timeout` per connection, reset, as before.
// port of: Connection::wait
async fn idle_over(
    idle: &mut Compat01As03<Timeout>,
    active: &mut bool,
    idle_timeout: Duration,
) -> io::Result<()> {
    if std::mem::take(active) {
        idle.get_mut().reset(Instant::now() + idle_timeout);
    }
    idle.await
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
            // A task of its own on the event loop, as before: the async block made a
            // futures 0.1 future with `.compat()` (boxed and pinned, so `Unpin`), as
            // `Handle::spawn` wants.
            Ok(connection) => handle.spawn(
                Box::pin(async move {
                    let closed = connection.run().await;
                    record(&mut counts.borrow_mut(), closed);
                    drop(done);
                    Ok::<(), ()>(())
                })
                .compat(),
            ),
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
