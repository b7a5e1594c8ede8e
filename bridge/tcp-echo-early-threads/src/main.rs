//! TCP echo server, migration step 3 given several cores the modern way too early: the
//! multi-thread runtime while the connections still hold `Rc`s. It compiles and serves
//! every client correctly, on one thread; the way that would use the cores does not
//! compile. **Deliberately wrong**; the suite shows how it fails.
//!
//! This is `bridge/tcp-echo-step3` with one change: `--threads N` builds one runtime
//! with N worker threads, as the modern program does, instead of step 3's N
//! current-thread runtimes on N threads with N listeners (`serve_on_workers`). The
//! connections are still spawned with `spawn_local` on a `LocalSet`, because they
//! hold the counts' `Rc<RefCell<TcpCounts>>`: `tokio::spawn`, which would hand them
//! to the workers, requires a `Send` future and is refused. Build the crate with that
//! line switched on to see it:
//!
//! ```text
//! cargo rustc -p bridge-tcp-echo-early-threads -- --cfg spawn_on_workers
//! ```
//!
//! ```text
//! error: future cannot be sent between threads safely
//!     |
//!     |         tokio::spawn(task);
//!     |         ^^^^^^^^^^^^^^^^^^ future created by async block is not `Send`
//!     |
//!     = help: within `{async block@…}`, the trait `std::marker::Send` is not
//!       implemented for `Rc<RefCell<TcpCounts>>`
//! note: captured value is not `Send`
//!     |             record(&mut counts.borrow_mut(), closed);
//!     |                         ^^^^^^ has type `Rc<RefCell<TcpCounts>>` which is not `Send`
//! note: required by a bound in `tokio::spawn`
//! ```
//!
//! (the suite's `compile-error` check holds the first line and the help). So the
//! `LocalSet` stays, and a `LocalSet` runs its tasks on the thread that calls its
//! `block_on`, whatever the runtime: with `--threads 2` the two worker threads drive
//! the I/O and the timers, and that one thread serves every connection.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p bridge-tcp-echo-early-threads -- --threads 2
//! nc 127.0.0.1 8080
//! ```
//!
//! and watch the threads with `top -H -p $(pgrep -f early-threads)` while a few clients
//! stream: the one named after the program does the work.
//!
//! # Why this is a pitfall
//!
//! The multi-thread runtime is one line of the builder, and `LocalSet` accepts it:
//! nothing fails, nothing is slow on one client, and the workers show up in `top`. A
//! task runs on the workers only if it may move there, which is what `Send` says; here
//! it is the counts that every connection shares through an `Rc`. Step 3 uses its
//! cores by running N whole servers, one per thread, each with its own `Rc`s; step 4
//! gives the counts back through a `JoinSet` instead and holds no `Rc`, and only then
//! does the modern program `tokio::spawn` onto the workers: this program makes that
//! last change before step 4. The suite's `serves-on-threads`, on this program's row
//! with `--threads 2`, shows the one thread doing the work (documented in its
//! `Cargo.toml`).

// The workspace pins the compat layer under a key of its own (`futures-compat`), since
// `futures` names the modern crate there; in this crate it is `futures`, as in the
// code this one becomes. futures 0.1 is `futures01`.
extern crate futures_compat as futures;

use std::borrow::Cow;
use std::cell::RefCell;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{ready, Poll};
use std::time::Duration;

use futures::compat::{Future01CompatExt, Stream01CompatExt};
use futures::{FutureExt, StreamExt};
use futures01::sync::mpsc;
use futures01::task::{self, Task};
use futures01::Async;
use net2::unix::UnixTcpBuilderExt;
use net2::TcpBuilder;
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::cores::{self, Ready};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::LocalSet;
use tokio::time::{Instant, Sleep};

/// Becomes `true` once SIGINT or SIGTERM arrives. A `watch` channel, so that every
/// connection can hold a receiver and be woken by the same signal.
type Shutdown = watch::Receiver<bool>;

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
            // async fn's waker. The slot is taken only when a connection is there
            // for it, and given back (dropped) otherwise, as `Incoming::poll` did: on
            // several threads (`--threads`), a slot held while one listener waits
            // would be one fewer for the others.
            let (slots, listener) = (&self.slots, &self.listener);
            let accepted = std::future::poll_fn(|cx| {
                let take = futures01::future::poll_fn(|| {
                    Ok::<_, io::Error>(match Slots::take(slots) {
                        Some(slot) => Async::Ready(slot),
                        None => Async::NotReady,
                    })
                });
                let slot = ready!(take.compat().poll_unpin(cx))?;
                let accepted = ready!(listener.poll_accept(cx));
                Poll::Ready(accepted.map(|(stream, peer)| (stream, peer, slot)))
            });
            match accepted.await {
                Ok((stream, peer, slot)) => {
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
    grace: Option<Pin<Box<Sleep>>>,
    /// Fires when no byte moved either way for `idle_timeout`.
    idle: Pin<Box<Sleep>>,
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
    ) -> Self {
        Connection {
            stream,
            peer,
            buf: vec![0; TCP_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            read_done: false,
            echoed: 0,
            shutdown,
            grace: None,
            // A timer needs no `Handle`: the runtime is found from the task.
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            active: false,
            _slot: slot,
        }
    }

    /// Writes back what is pending; `Some(reason)` if the connection must end first:
    /// the grace period is over, or the peer took nothing for the idle timeout.
    async fn flush(&mut self) -> io::Result<Option<&'static str>> {
        while self.start < self.end {
            let written = tokio::select! {
                // The write first: while the peer takes its echo, the timers are not
                // even looked at. A dropped `write` has written nothing.
                biased;
                written = self.stream.write(&self.buf[self.start..self.end]) => written?,
                () = grace_over(&mut self.shutdown, &mut self.grace) => {
                    return Ok(Some(tcp_reason::ABANDONED));
                }
                () = idle_over(&mut self.idle, &mut self.active, self.idle_timeout) => {
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

    /// Whether the server was asked to stop. Only looks (`watch::Receiver::borrow`):
    /// the task waits for the signal in `echo` and `grace_over`.
    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Echoes until the connection ends; returns why.
    async fn echo(&mut self) -> io::Result<&'static str> {
        // No `BUDGET` of our own: once tokio's cooperative budget is spent, `read` and
        // `write` return `Pending`, so one fast peer yields to every other connection.
        loop {
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
            tokio::select! {
                // The read first: a read that is ready at once never looks at the
                // timer.
                biased;
                read = self.stream.read(&mut self.buf) => match read? {
                    0 => self.read_done = true,
                    n => {
                        self.end = n;
                        self.active = true;
                    }
                },
                // Read no more once the server stops (a pending read is dropped,
                // which loses nothing: it has read nothing).
                _ = self.shutdown.wait_for(|stopping| *stopping) => {
                    return Ok(tcp_reason::SHUTDOWN)
                }
                () = idle_over(&mut self.idle, &mut self.active, self.idle_timeout) => {
                    return Ok(tcp_reason::IDLE);
                }
            }
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
async fn grace_over(shutdown: &mut Shutdown, grace: &mut Option<Pin<Box<Sleep>>>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
    let sleep = grace.get_or_insert_with(|| Box::pin(tokio::time::sleep(TCP_SHUTDOWN_GRACE)));
    sleep.await
}

/// Resolves when no byte moved either way for the idle timeout: bytes moved since the
/// timer was set push it back first. One `Sleep` per connection, reset, as the
/// `Timeout` was.
// port of: Connection::wait
async fn idle_over(idle: &mut Pin<Box<Sleep>>, active: &mut bool, idle_timeout: Duration) {
    if std::mem::take(active) {
        idle.as_mut().reset(Instant::now() + idle_timeout);
    }
    idle.await
}

fn main() {
    let spec = Spec::tcp_echo(env!("CARGO_BIN_NAME")).with_threads();
    let args = spec.from_env();
    if let Err(e) = serve_on_threads(&args) {
        exit_startup_error(spec.name, e);
    }
}

/// The server of one thread: its own runtime, its listener, its signal streams, its
/// counts; the connection bound is shared.
fn run(
    args: &Args,
    listener: StdTcpListener,
    slots: Arc<Slots>,
    ready: Ready,
) -> Result<TcpCounts, String> {
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    // This thread's listener, the shared slots and the announcement go with `serve`.
    let serve = |args| serve(args, listener, slots, ready);
    // The connections hold `Rc`s: they are spawned on this `LocalSet`, whose tasks
    // stay on the thread that runs it.
    LocalSet::new().block_on(&runtime, serve(args))
}

/// Everything that ran on the event loop, as one async fn.
// port of: run
async fn serve(
    args: &Args,
    listener: StdTcpListener,
    slots: Arc<Slots>,
    ready: Ready,
) -> Result<TcpCounts, String> {
    // tokio takes a listener that does not block (tokio-core set that itself).
    listener.set_nonblocking(true).map_err(|e| e.to_string())?;
    let listener = TcpListener::from_std(listener).map_err(|e| e.to_string())?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler (every runtime with a
    // signal stream is told).
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    // The signals are awaited in the accept loop, which tells the connections.
    let (stop, shutdown) = watch::channel(false);
    // Printed once every thread's runtime is ready (`shared::cores`).
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
            emit(&echo::accepted_event(peer));
        }
        let connection = Connection::new(stream, peer, slot, shutdown.clone(), idle_timeout);
        let (counts, done) = (counts.clone(), done_tx.clone());
        let task = async move {
            // Awaited before `counts` is borrowed: a `RefCell` borrow held across an
            // `.await` stays held while other tasks run.
            let closed = connection.run().await;
            record(&mut counts.borrow_mut(), closed);
            drop(done);
        };
        // A task of its own on this thread's `LocalSet`, as it was on the `Core`. On
        // the multi-thread runtime, `tokio::spawn` would hand it to the workers; built
        // with `--cfg spawn_on_workers`, this line does, and the compiler refuses it:
        // "future cannot be sent between threads safely", for "the trait
        // `std::marker::Send` is not implemented for `Rc<RefCell<TcpCounts>>`".
        #[cfg(not(spawn_on_workers))]
        tokio::task::spawn_local(task);
        #[cfg(spawn_on_workers)]
        tokio::spawn(task);
    }
    counts.borrow_mut().accept_pauses = incoming.policy.pauses();
    // Accept no more; the channel ends once the last connection drops its sender.
    drop(incoming);
    drop(done_tx);
    let _ = stop.send(true);
    // Each connection now writes back what it has read and ends (within the grace
    // period); wait for the last one.
    let mut done = done_rx.compat();
    while done.next().await.is_some() {}
    let counts = *counts.borrow();
    Ok(counts)
}

/// `--threads N` (1 by default): N servers, one per thread. The connections hold
/// `Rc`s, which stay on the thread that made them: N cores take N runtimes on N
/// threads, each a server with its own listener on the port.
fn serve_on_threads(args: &Args) -> Result<(), String> {
    // The one change from step 3: several cores through the work-stealing runtime,
    // as the modern program has them, before the `Rc`s are gone.
    if args.threads > 1 {
        return serve_on_workers(args);
    }
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

/// `--threads N` as the modern program runs it: one runtime, its N worker threads
/// running the tasks and stealing them from each other, and one listener. But the
/// connections hold `Rc`s and are not `Send`: they cannot be `tokio::spawn`ed (see
/// `serve`), so they stay on the `LocalSet`, which runs on this thread. It compiles
/// and serves every client correctly; the N workers serve none of them.
fn serve_on_workers(args: &Args) -> Result<(), String> {
    // One listener, shared by no other: SO_REUSEPORT stays off.
    let listener = listen(args.bind, false).map_err(|e| bind_error(args.bind, &e))?;
    let slots = Arc::new(Slots {
        open: Mutex::new(Open::default()),
        max: args.max_connections,
    });
    let runtime = Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    // The connections hold `Rc`s: they are spawned on this `LocalSet`, whose tasks
    // stay on the thread that runs it, this one, whatever the runtime.
    let serving = serve(args, listener, slots, Ready::alone());
    let counts = LocalSet::new().block_on(&runtime, serving)?;
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
