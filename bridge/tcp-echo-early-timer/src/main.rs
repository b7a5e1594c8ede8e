//! TCP echo server, migration step 1 done in the wrong order: the grace period moved to
//! tokio 1's timer while tokio-core's `Core` still runs everything — and the server
//! panics at shutdown. **Deliberately wrong**; the suite shows how it fails.
//!
//! This is `bridge/tcp-echo-step1` with one change: the grace period is a
//! `tokio::time::Instant` deadline awaited with `tokio::time::sleep_until`, as in the
//! modern program, instead of tokio-core's `Timeout`. It compiles, it starts, and it
//! passes every check but one, because the timer is only made when a connection
//! still has an echo to write at shutdown. Then `sleep_until` looks for the tokio 1
//! runtime it belongs to, finds `Core::run` instead, and panics: "there is no reactor
//! running, must be called from the context of a Tokio 1.x runtime". The panic
//! unwinds out of `Core::run`: the server dies with status 101, no `closed` line, no
//! summary.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p bridge-tcp-echo-early-timer
//! python3 -c 'import socket,time; s=socket.create_connection(("127.0.0.1",8080)); s.sendall(b"x"*(8<<20)); time.sleep(60)'
//! ```
//!
//! and press Ctrl-C in the first terminal while the client is not reading its echo.
//!
//! # Why this is a pitfall
//!
//! Rewriting code as async invites writing it as the modern program does, timers
//! included; but every piece of tokio 1 that needs its runtime — sockets, timers,
//! `tokio::spawn` — must wait until tokio 1 runs the code (step 2). A socket fails at
//! start-up, where nobody can miss it; a timer fails where it is first polled, which
//! for a grace period is at shutdown, under a slow peer: the check
//! `sigterm-unread-echo` (documented in its `Cargo.toml`).

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
use std::task::Poll;
use std::time::Duration;

use futures::compat::{Compat01As03, Future01CompatExt, Stream01CompatExt};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::{FutureExt, StreamExt, TryFutureExt};
use futures01::future::Shared;
use futures01::sync::mpsc;
use futures01::task::{self as task01, Task};
use futures01::{Async, Future as _, Stream as _};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use tokio::time::Instant;
use tokio_core::net::{TcpListener, TcpStream};
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Read/write rounds before a connection yields, so that one fast peer cannot keep
/// the event loop (and every other connection) waiting.
const BUDGET: usize = 64;

/// Resolves once SIGINT or SIGTERM arrives. `Shared`, so that the accept loop and
/// every connection can each hold a clone and be woken by the same signal.
type Shutdown = Shared<Box<dyn futures01::Future<Item = (), Error = ()>>>;

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
            *slots.waiting.borrow_mut() = Some(task01::current());
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
    /// Set when the server is asked to stop: until when the peer may take its echo
    /// (a deadline on tokio 1's timer, which only works on tokio 1's runtime).
    grace: Option<Instant>,
    /// Fires when no byte moved either way for `idle_timeout`.
    idle: Compat01As03<Timeout>,
    idle_timeout: Duration,
    /// Whether bytes moved since the idle timer was last set.
    active: bool,
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
                _ = grace_over(&self.shutdown, &mut self.grace).fuse() => {
                    return Ok(Some(tcp_reason::ABANDONED))
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
    async fn run(mut self) -> (SocketAddr, u64, Cow<'static, str>) {
        let reason = match self.echo().await {
            Ok(reason) => Cow::Borrowed(reason),
            Err(e) => echo::tcp_error_reason(&e),
        };
        (self.peer, self.echoed, reason)
    }
}

/// Resolves once the server is asked to stop and then the grace period, which starts
/// the first time a connection sees the signal, is over. `sleep_until` panics here:
/// it is polled by `Core::run`, not by a tokio 1 runtime.
async fn grace_over(shutdown: &Shutdown, grace: &mut Option<Instant>) {
    let _ = shutdown.clone().compat().await;
    let deadline = *grace.get_or_insert_with(|| Instant::now() + TCP_SHUTDOWN_GRACE);
    tokio::time::sleep_until(deadline).await;
}

/// Resolves when no byte moved either way for the idle timeout: bytes moved since the
/// timer was set push it back first. One `Timeout` per connection, reset, as before.
async fn idle_over(
    idle: &mut Compat01As03<Timeout>,
    active: &mut bool,
    idle_timeout: Duration,
) -> io::Result<()> {
    if std::mem::take(active) {
        idle.get_mut()
            .reset(std::time::Instant::now() + idle_timeout);
    }
    idle.await
}

/// Takes a connection slot, then the next connection: with every slot taken, the
/// peers wait in the listen backlog until a connection ends and gives its slot back.
/// Both are futures 0.1 polls awaited through the compat layer: `Slots::take` and
/// tokio-core's `accept` register the current 0.1 task, which `Compat01As03` made
/// from this async fn's waker.
async fn accept(
    listener: &mut TcpListener,
    slots: &Rc<Slots>,
) -> io::Result<(TcpStream, SocketAddr, Slot)> {
    let slot = futures01::future::poll_fn(|| {
        Ok::<_, io::Error>(match Slots::take(slots) {
            Some(slot) => Async::Ready(slot),
            None => Async::NotReady,
        })
    })
    .compat()
    .await?;
    let (stream, peer) = futures01::future::poll_fn(|| match listener.accept() {
        Ok(accepted) => Ok(Async::Ready(accepted)),
        Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Async::NotReady),
        Err(e) => Err(e),
    })
    .compat()
    .await?;
    Ok((stream, peer, slot))
}

/// Returns `Pending` once, having asked to be polled again: the async spelling of
/// `task::current().notify(); return Ok(Async::NotReady)`.
async fn yield_now() {
    let mut yielded = false;
    poll_fn(|cx| {
        if yielded {
            return Poll::Ready(());
        }
        yielded = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    })
    .await
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
    // The async fn is a futures 0.3 future; boxed and pinned (so `Unpin`) and made a
    // futures 0.1 one with `.compat()`, it is what `Core::run` drives.
    core.run(Box::pin(serve(args, handle)).compat())
}

/// Everything that ran on the event loop, as one async fn.
async fn serve(args: &Args, handle: Handle) -> Result<(), String> {
    let mut listener =
        TcpListener::bind(&args.bind, &handle).map_err(|e| bind_error(args.bind, &e))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let sigint = Signal::new(SIGINT, &handle).flatten_stream();
    let sigterm = Signal::new(SIGTERM, &handle).flatten_stream();
    let signals: Box<dyn futures01::Future<Item = (), Error = ()>> = Box::new(
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
    let slots = Rc::new(Slots {
        open: Cell::new(0),
        max: args.max_connections,
        waiting: RefCell::new(None),
    });
    let mut policy = AcceptPolicy::new();
    // Set after an accept failed for lack of resources: accept nothing until it fires.
    let mut paused: Option<Compat01As03<Timeout>> = None;
    // Accept until a signal arrives.
    loop {
        let accepted = match paused.take() {
            // The pause is raced with the signal: the connections are served meanwhile
            // (they are tasks of their own), and a signal still stops the server.
            Some(pause) => futures::select_biased! {
                _ = shutdown.clone().compat().fuse() => break,
                over = pause.fuse() => {
                    over.map_err(|e| format!("accept pause: {e}"))?;
                    continue;
                }
            },
            None => futures::select_biased! {
                _ = shutdown.clone().compat().fuse() => break,
                accepted = accept(&mut listener, &slots).fuse() => accepted,
            },
        };
        let (stream, peer, slot) = match accepted {
            Ok(accepted) => {
                policy.accepted();
                accepted
            }
            // Out of descriptors, say: wait, then retry; a failed connection: the next
            // one, at once. `shared::accept` decides and reports.
            Err(e) => {
                if let Next::Pause(pause) = policy.failed(&e) {
                    counts.borrow_mut().accept_pauses = policy.pauses();
                    let timeout = Timeout::new(pause, &handle).map_err(|e| e.to_string())?;
                    paused = Some(timeout.compat());
                }
                continue;
            }
        };
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
        let connection = match connection {
            Ok(connection) => connection,
            // No timer for its idle timeout: the connection ends at once.
            Err(e) => {
                record(
                    &mut counts.borrow_mut(),
                    (peer, 0, echo::tcp_error_reason(&e)),
                );
                continue;
            }
        };
        let (counts, done) = (counts.clone(), done_tx.clone());
        // A task of its own on the event loop, as before: the async block made a
        // futures 0.1 future, as `Handle::spawn` wants.
        let task = async move {
            let closed = connection.run().await;
            record(&mut counts.borrow_mut(), closed);
            drop(done);
            Ok::<(), ()>(())
        };
        handle.spawn(Box::pin(task).compat());
    }
    // The listener goes with the accept loop (pause or not); then so does its sender.
    drop(listener);
    drop(done_tx);
    // Each connection now writes back what it has read and ends (within the grace
    // period); wait for the last one.
    let mut done = done_rx.compat();
    while done.next().await.is_some() {}
    emit(&counts.borrow().summary());
    Ok(())
}
