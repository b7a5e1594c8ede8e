//! TCP echo server on tokio 1: an accept loop and one task per connection.
//!
//! The shape of tokio's README example: the accept loop awaits `listener.accept()`,
//! and every accepted connection becomes a task of its own, `tokio::spawn`ed onto the
//! runtime. Each connection task reads into its buffer with `read(..).await` and
//! writes it back with `write(..).await` until nothing is left (the README's
//! `write_all`, spelled out so that the count of bytes written back stays exact when
//! the grace period cuts an echo short); the runtime parks the task on the socket's
//! readiness in between.
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
//! cargo run -p modern-tcp-echo
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
//! With `--threads N` the runtime is tokio's multi-thread runtime, with N worker
//! threads that run the tasks and steal them from each other: a connection is a task,
//! and whichever worker is free runs it, so a busy connection no longer keeps a
//! thread of its own busy while another idles. The accept loop runs in `block_on`, on
//! the thread that started the program, and hands each connection to the workers;
//! one listener, one `Semaphore` for `--max-connections`, one `JoinSet` that adds up
//! the counts (`serve_on_threads`).
//!
//! ```text
//! cargo run -p modern-tcp-echo -- --threads 2
//! nc 127.0.0.1 8080
//! ```
//!
//! # Migration
//!
//! The ladder `bridge/tcp-echo-step1` … `step4` takes these changes one at a time.
//! Read whole, the pair keeps less of the legacy file than most: the legacy program
//! and every step run `--threads N` as N whole servers, one per thread, with their
//! own listener and the plumbing that starts, announces and adds them up, which one
//! runtime of N workers has no use for. The last step, from step 4, makes only that
//! change (the last bullet); the steps before make every other.
//!
//! * The hand-written `impl Future for Connection` becomes
//!   `impl Connection { async fn run(self) }`; the struct keeps its buffer,
//!   `start..end`, `read_done` and `echoed`, and `flush`, `stopping` and `echo` keep
//!   their names and order. `WouldBlock` and the task registered as its side effect
//!   become `read(..).await`/`write(..).await`; the `BUDGET` loop and
//!   `task::current().notify()` go, because tokio's cooperative budget makes a busy
//!   connection's I/O return `Pending` after a while and so yield to the others.
//! * `impl Stream for Incoming` becomes `impl Incoming { async fn next(&mut self) }`
//!   (ident-tokio's, the same in both programs), and `incoming.for_each` +
//!   `handle.spawn(future)` becomes a `loop` around `incoming.next()` in a `select!`
//!   with the signals + `JoinSet::spawn(connection.run())`. The accept loop also
//!   reaps finished tasks (`join_next`), so the counts stay in one place instead of
//!   an `Rc<RefCell<…>>` every connection writes to, and a mpsc channel whose end
//!   said "all connections are done" becomes `JoinSet` running empty.
//! * A `Shared` signal future polled by every connection becomes a `watch` channel:
//!   each connection waits for `changed()` beside its read, and a `select!` drops the
//!   pending read (cancel-safe) when the server stops.
//! * The grace period and the idle timer are tokio `Sleep`s where they were tokio-core
//!   `Timeout`s, raced with each read and each write by `grace_over` and `idle_over`
//!   where `poll` polled them (and `wait`, which pushed the idle timer back when bytes
//!   moved, is `idle_over`'s first lines); a timer needs no `Handle` (the runtime is
//!   found from the task), so the struct's `handle` field goes.
//! * `Core::run` becomes a current-thread runtime and `block_on`; one thread, as
//!   before (tokio-core 0.1.18 ran tokio 0.1's reactor on a second thread).
//! * "Wait, then retry" after a failed accept: tokio-core's `Timeout`, polled in
//!   `Incoming::poll`, becomes a `Sleep` awaited in `Incoming::next`.
//! * The connection bound: a slot count with the accept task's `Task` handle (no
//!   semaphore in futures 0.1) becomes a `tokio::sync::Semaphore`; the
//!   `OwnedSemaphorePermit` moves into the connection, and dropping it gives the slot
//!   back.
//! * `--threads N`: N whole servers on N threads (`Core`s, then the steps'
//!   current-thread runtimes), each with its own SO_REUSEPORT listener and one count
//!   of slots for all, become one runtime of N workers with one listener and its
//!   `Semaphore`. A task may run on any worker, so it must be `Send`: it is since
//!   step 4, where the counts come back through the `JoinSet` instead of an
//!   `Rc<RefCell<…>>`; with the `Rc` still there, the `LocalSet` would keep every
//!   connection on one thread (`tcp-echo-early-threads`). Nothing is set up per
//!   thread any more: the net2 listener, `shared::cores` and `run`'s per-thread half
//!   go. With one listener, `Incoming::next` may hold a permit while it awaits the
//!   accept: no other listener is waiting for it.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};

/// Becomes `true` once SIGINT or SIGTERM arrives. A `watch` channel, so that every
/// connection can hold a receiver and be woken by the same signal.
type Shutdown = watch::Receiver<bool>;

/// How many connections are open, out of `--max-connections`, and the accept task to
/// wake when one closes while all are taken: tokio's `Semaphore`, whose permits are
/// the slots (futures 0.1 had no semaphore).
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
            // Waits for a slot: a permit is given back when a connection ends.
            let slot = self.slots.clone().acquire_owned().await;
            let slot = slot.map_err(io::Error::other)?;
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
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    // `--threads N`: the multi-thread runtime (see `serve_on_threads`).
    if args.threads > 1 {
        return serve_on_threads(args);
    }
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(serve(args))
}

/// `--threads N`: one runtime whatever N, its N worker threads running the tasks and
/// stealing them from each other, where the steps before ran N event loops with N
/// listeners. A connection is a task, and any worker may run it (it is `Send`: no
/// `Rc` is left); the accept loop runs in `block_on`, on this thread, and hands each
/// connection to the workers. One listener, one `Semaphore` of slots, one `JoinSet`:
/// the counts are added up where the tasks end.
fn serve_on_threads(args: &Args) -> Result<(), String> {
    let runtime = Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(serve(args))
}

/// Everything that ran on the event loop, now on the runtime.
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
        // One listener, and its `Semaphore` of slots: no other listener waits for one.
        slots: Arc::new(Slots::new(args.max_connections)),
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
    // One server on every worker: its counts are the whole summary.
    emit(&counts.summary());
    Ok(())
}
