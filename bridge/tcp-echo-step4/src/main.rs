//! TCP echo server, migration step 4 of 4: tokio 1's own idioms — a `Semaphore` for
//! the slots, a `JoinSet` for the counts and for the end, `spawn` — while `--threads N`
//! still runs N servers, one per thread.
//!
//! The same server as `legacy/tcp-echo` and steps 1 to 3: the listener's connections
//! are accepted one after another, and every accepted connection becomes a task of its
//! own, which reads into its buffer and writes it back. Step 3's runtime, sockets,
//! timers and signals stay as they are; what it still kept of futures 0.1 is now
//! written as the modern program writes it.
//!
//! The file reads in the order the server works. [`Incoming`] are the listener's
//! connections, each with one of `--max-connections` slots; a [`Connection`] echoes
//! what it reads (`flush`, `stopping` and `echo` are its steps) and reports
//! how it went; `serve` accepts connections until a signal comes, then waits for the
//! open ones to end and prints the summary.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p bridge-tcp-echo-step4
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
//!   stream of connections that pauses: a tokio `Sleep` awaited in its `next`.
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
//! With `--threads N` it runs N such servers, one per thread, as the steps before
//! did: each thread a current-thread runtime, with a listener of its own on the port
//! (SO_REUSEPORT), and one `Semaphore` of slots for all of them. The tasks are `Send`
//! now, but a current-thread runtime runs every task it spawns on its own thread, so
//! each thread serves the connections its listener accepted; the modern program's one
//! runtime of N workers, which moves tasks between threads, is the last step.
//!
//! ```text
//! cargo run -p bridge-tcp-echo-step4 -- --threads 2
//! nc 127.0.0.1 8080
//! ```
//!
//! # What this step does, and why it is safe
//!
//! What step 3 kept of futures 0.1 becomes tokio 1's, as the modern program has it:
//! the `Slots` count, which kept the `Task`s to wake (futures 0.1 has no semaphore),
//! becomes a `Semaphore`, and a `Slot` its `OwnedSemaphorePermit`, given back when the
//! connection drops it; the `Rc<RefCell<TcpCounts>>` every connection wrote to becomes
//! a `JoinSet` of the connection tasks, whose results the accept loop records as they
//! end (`join_next`, in the `select!` beside the accept and the signals); and the
//! futures 0.1 channel whose end said that every connection was done becomes that set
//! running empty. With no `Rc` left the tasks are `Send`: `JoinSet::spawn`
//! (`tokio::spawn`) takes them, and the `LocalSet` goes. futures 0.1 and the compat
//! layer go with the last of their uses.
//!
//! None of this depends on how the runtime is built: the runtime, the sockets, the
//! timers and the signals are step 3's, each thread is still one current-thread
//! runtime that runs every task it spawns, and the bound is still one count for every
//! thread. The counts are added up where the connections end instead of where they
//! wrote, and the server still waits for the last connection before the summary. One
//! thing the `Semaphore` does not do by itself: with a listener per thread, a slot is
//! kept only when a connection is there for it, as `Slots::take` was, so
//! `Incoming::next` waits for a permit and for a connection together, and gives the
//! permit back if its listener has none.
//!
//! Nothing observable changes, so the suite's checks pass as they do for both ends.
//! What is left for the modern program is the change of shape alone: N servers, one
//! per thread, become one multi-thread runtime with one listener.
//!
//! # In the wrong order
//!
//! The multi-thread runtime before this step finds the connections holding the
//! counts' `Rc`: `tokio::spawn` refuses them, and on the `LocalSet` they stay on one
//! thread (`tcp-echo-early-threads`). The modern program's `Incoming::next`, which
//! holds a permit while it awaits the accept, is right for one listener; with one per
//! thread, a thread whose listener is idle would hold a slot that a peer of another
//! thread waits for, and fewer than `--max-connections` peers would be served.

use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Poll};
use std::time::Duration;

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
// The slots and the connections are tokio 1's: where step 3 kept futures 0.1's `Task`s,
// an `Rc` and a channel, a `Semaphore` and a `JoinSet`.
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

/// Becomes `true` once SIGINT or SIGTERM arrives. A `watch` channel, so that every
/// connection can hold a receiver and be woken by the same signal.
type Shutdown = watch::Receiver<bool>;

/// How many connections are open, out of `--max-connections`, and the accept tasks to
/// wake when one closes while all are taken: tokio's `Semaphore`, whose permits are
/// the slots (futures 0.1 had no semaphore). One for every thread's runtime
/// (`--threads`): the bound is the server's, and a permit may be taken and given back
/// on any thread.
type Slots = Semaphore;

/// One connection's slot, given back when the connection (which holds it) is dropped.
type Slot = OwnedSemaphorePermit;

/// The listener's connections, each with its slot: none while `--max-connections`
/// are open (the next peers wait in the listen backlog), and none for a growing pause
/// after an accept error about resources. An accept loop that only reports the error
/// and carries on spins: the listener stays readable.
struct Incoming {
    listener: TcpListener,
    slots: Arc<Slots>,
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
            // Waits for a slot, a permit given back when a connection ends, and keeps
            // it only when a connection is there for it, as `Slots::take` did: on
            // several threads (`--threads`), a permit held while one listener waits
            // would be one fewer for the others. The `acquire` is kept across polls,
            // so this task keeps its place in the `Semaphore`'s queue; a permit given
            // back goes to the next thread waiting, or back to the count.
            let (slots, listener) = (&self.slots, &self.listener);
            let mut acquire = None;
            let accepted = std::future::poll_fn(|cx| {
                let acquiring =
                    acquire.get_or_insert_with(|| Box::pin(slots.clone().acquire_owned()));
                let slot = ready!(acquiring.as_mut().poll(cx));
                acquire = None;
                let slot = slot.map_err(io::Error::other)?;
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
    /// its echo (a `Sleep`, boxed and pinned so that it can be awaited by reference).
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
        // Nothing here can fail: a timer is made without a `Handle`, and cannot be
        // refused one.
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
    // No `LocalSet` any more: the connections hold no `Rc`, and the runtime spawns
    // them itself; a current-thread runtime still runs them all on this thread.
    runtime.block_on(serve(args, listener, slots, ready))
}

/// Everything that ran on the event loop, now on the runtime.
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

    // The counts are the accept loop's alone: each connection's come back with its
    // task, so no `Rc<RefCell<…>>` is shared with the connections.
    let mut counts = TcpCounts::default();
    let quiet = args.quiet;
    let idle_timeout = args.idle_timeout;
    let record = move |counts: &mut TcpCounts, (peer, bytes, reason)| {
        counts.closed += 1;
        counts.bytes += bytes;
        if !quiet {
            emit(&echo::closed_event(peer, bytes, reason));
        }
    };
    // Every connection is a task of the set; the set runs empty when the last is done.
    let mut connections = JoinSet::new();
    let mut incoming = Incoming {
        listener,
        slots,
        policy: AcceptPolicy::new(),
        pause: None,
    };
    // Accept until a signal arrives: each connection is a task of its own, whose
    // count the loop records when it is done.
    loop {
        let (stream, peer, slot) = tokio::select! {
            accepted = incoming.next() => accepted.map_err(|e| format!("accept loop failed: {e}"))?,
            Some(done) = connections.join_next() => {
                let closed = done.map_err(|e| format!("connection task failed: {e}"))?;
                record(&mut counts, closed);
                continue;
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        };
        counts.accepted += 1;
        if !quiet {
            emit(&echo::accepted_event(peer));
        }
        let connection = Connection::new(stream, peer, slot, shutdown.clone(), idle_timeout);
        connections.spawn(connection.run());
    }
    counts.accept_pauses = incoming.policy.pauses();
    // Accept no more; tell every connection to stop.
    drop(incoming);
    let _ = stop.send(true);
    // Each connection now writes back what it has read and ends (within the grace
    // period); wait for the last one.
    while let Some(done) = connections.join_next().await {
        let closed = done.map_err(|e| format!("connection task failed: {e}"))?;
        record(&mut counts, closed);
    }
    Ok(counts)
}

/// `--threads N` (1 by default): N servers, one per thread, as in step 3. The
/// connections could move between threads now, but a current-thread runtime keeps
/// them on its own: N cores still take N runtimes on N threads, each a server with its
/// own listener on the port.
fn serve_on_threads(args: &Args) -> Result<(), String> {
    let listeners = cores::bind_each(args.bind, args.threads, listen, StdTcpListener::local_addr)
        .map_err(|e| bind_error(args.bind, &e))?;
    // One `Semaphore` of slots for every thread's server.
    let slots = Arc::new(Slots::new(args.max_connections));
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
