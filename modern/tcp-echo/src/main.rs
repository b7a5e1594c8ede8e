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
//!   pauses accepting — a `tokio::time::sleep` of 10 ms, doubling up to 1 s, in the
//!   same `select!` as the signal and the reaping of connections — while the open
//!   connections are served; one stderr line when that starts, one when accepting
//!   works again, and `accept_pauses` counts the episodes (`shared::accept`). A loop
//!   that only reports the error and accepts again spins: the listener stays readable.
//! * At most `--max-connections` (default 1024) connections at once: each holds a
//!   semaphore permit, taken before the accept, so that the next peers wait in the
//!   listen backlog until one closes.
//! * A peer that does not read its echo meets backpressure: the connection holds at
//!   most one 16 KiB buffer, and reads nothing more until that is written back. No
//!   byte either way for `--idle-timeout-secs` (default 300) closes a connection
//!   (`idle timeout`): a peer that vanished without a FIN would otherwise hold its
//!   slot for ever, since an echo server never writes to a quiet connection.
//!
//! # Migration
//!
//! * The hand-written `impl Future for Connection` becomes
//!   `impl Connection { async fn run(self) }`; the struct keeps its buffer,
//!   `start..end`, `read_done` and `echoed`, and `flush`, `stopping` and `echo` keep
//!   their names and order. `WouldBlock` and the task registered as its side effect
//!   become `read(..).await`/`write(..).await`; the `BUDGET` loop and
//!   `task::current().notify()` go, because tokio's cooperative budget makes a busy
//!   connection's I/O return `Pending` after a while and so yield to the others.
//! * `incoming().for_each` + `handle.spawn(future)` becomes a `loop` around
//!   `accept().await` + `JoinSet::spawn(connection.run())`. The accept loop also
//!   reaps finished tasks (`join_next`), so the counts stay in one place instead of
//!   an `Rc<RefCell<…>>` every connection writes to, and a mpsc channel whose end
//!   said "all connections are done" becomes `JoinSet` running empty.
//! * A `Shared` signal future polled by every connection becomes a `watch` channel:
//!   each connection waits for `changed()` beside its read, and a `select!` drops the
//!   pending read (cancel-safe) when the server stops.
//! * The grace period is a deadline raced with each `write` once stopping, instead of
//!   a `Timeout` polled in `poll`; a timer needs no `Handle` (the runtime is found
//!   from the task), so the struct's `handle` field goes.
//! * `Core::run` becomes a current-thread runtime and `block_on`; one thread, as
//!   before (tokio-core 0.1.18 ran tokio 0.1's reactor on a second thread).
//! * "Wait, then retry" after a failed accept: tokio-core's `Timeout`, polled by a
//!   hand-written `Incoming` stream, becomes `sleep_until` as one more branch of the
//!   accept loop's `select!` (the accept branch is disabled meanwhile). The idle
//!   timer, a `Timeout` reset whenever bytes moved, becomes a `sleep` raced with each
//!   read and each write.
//! * The connection bound: a slot count with the accept task's `Task` handle (no
//!   semaphore in futures 0.1) becomes a `tokio::sync::Semaphore`; the
//!   `OwnedSemaphorePermit` moves into the connection, and dropping it gives the slot
//!   back.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// SIGINT and SIGTERM, either of which asks the server to stop.
struct Shutdown {
    sigint: Signal,
    sigterm: Signal,
}

impl Shutdown {
    fn new() -> io::Result<Shutdown> {
        Ok(Shutdown {
            sigint: signal(SignalKind::interrupt())?,
            sigterm: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.sigint.recv() => {}
            _ = self.sigterm.recv() => {}
        }
    }
}

/// Becomes `true` once SIGINT or SIGTERM arrives. A `watch` channel, so that every
/// connection can hold a receiver and be woken by the same signal.
type Stop = watch::Receiver<bool>;

/// One connection: what was read and not yet written back is `buf[start..end]`.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    read_done: bool,
    echoed: u64,
    shutdown: Stop,
    /// Set when the server is asked to stop: until when the peer may take its echo.
    grace: Option<Instant>,
    /// How long a read or a write may wait without a byte moving.
    idle_timeout: Duration,
    _slot: OwnedSemaphorePermit,
}

impl Connection {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        slot: OwnedSemaphorePermit,
        shutdown: Stop,
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
            idle_timeout,
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
                _ = grace_over(&mut self.shutdown, &mut self.grace) => {
                    return Ok(Some(tcp_reason::ABANDONED))
                }
                _ = tokio::time::sleep(self.idle_timeout) => return Ok(Some(tcp_reason::IDLE)),
            };
            match written {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => {
                    self.start += n;
                    self.echoed += n as u64;
                }
            }
        }
        self.start = 0;
        self.end = 0;
        Ok(None)
    }

    /// Whether the server was asked to stop. Only looks: the task waits for the
    /// signal in `echo` and `grace_over`.
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
                // Everything read has been written back; dropping the stream closes
                // our side, and the peer reads end-of-file after its last byte.
                return Ok(tcp_reason::EOF);
            }
            tokio::select! {
                // The read first: a read that is ready at once never arms the timer.
                biased;
                read = self.stream.read(&mut self.buf) => match read? {
                    0 => self.read_done = true,
                    n => self.end = n,
                },
                // Read no more once the server stops (a pending read is dropped, which
                // loses nothing: `read` is cancel-safe).
                _ = self.shutdown.wait_for(|stopping| *stopping) => {
                    return Ok(tcp_reason::SHUTDOWN)
                }
                _ = tokio::time::sleep(self.idle_timeout) => return Ok(tcp_reason::IDLE),
            }
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

/// Takes a connection slot, then the next connection: with every slot taken, the
/// peers wait in the listen backlog until a connection ends and its permit is dropped.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(io::Error::other)?;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, slot))
}

/// Resolves once the server is asked to stop and then the grace period, which starts
/// the first time a connection sees the signal, is over.
async fn grace_over(shutdown: &mut Stop, grace: &mut Option<Instant>) {
    let _ = shutdown.wait_for(|stopping| *stopping).await;
    let deadline = *grace.get_or_insert_with(|| Instant::now() + TCP_SHUTDOWN_GRACE);
    tokio::time::sleep_until(deadline).await;
}

fn main() {
    let spec = Spec::tcp_echo(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let runtime = Builder::new_current_thread()
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
    let mut shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
    let (stop_tx, stop) = watch::channel(false);
    emit(&Event::Listening {
        proto: Proto::Tcp,
        addr: local,
    });

    let mut counts = TcpCounts::default();
    let quiet = args.quiet;
    let record = |counts: &mut TcpCounts, (peer, bytes, reason)| {
        counts.closed += 1;
        counts.bytes += bytes;
        if !quiet {
            emit(&echo::closed_event(peer, bytes, reason));
        }
    };
    // Every connection is a task of the set; the set runs empty when the last is done.
    let mut connections = JoinSet::new();
    // One permit per connection: `--max-connections` at once.
    let slots = Arc::new(Semaphore::new(args.max_connections));
    let mut policy = AcceptPolicy::new();
    // Set after an accept failed for lack of resources: accept nothing until then.
    let mut paused: Option<Instant> = None;
    // Accept until a signal arrives, reaping connections as they end.
    loop {
        tokio::select! {
            accepted = accept(&listener, &slots), if paused.is_none() => match accepted {
                Ok((stream, peer, slot)) => {
                    policy.accepted();
                    counts.accepted += 1;
                    if !quiet {
                        emit(&echo::accepted_event(peer));
                    }
                    let connection =
                        Connection::new(stream, peer, slot, stop.clone(), args.idle_timeout);
                    connections.spawn(connection.run());
                }
                // Out of descriptors, say: wait, then retry; a failed connection: the
                // next one, at once. `shared::accept` decides and reports.
                Err(e) => {
                    if let Next::Pause(pause) = policy.failed(&e) {
                        counts.accept_pauses = policy.pauses();
                        paused = Some(Instant::now() + pause);
                    }
                }
            },
            // The pause is one more branch: connections are still reaped and a signal
            // still stops the server meanwhile.
            () = tokio::time::sleep_until(paused.unwrap_or_else(Instant::now)), if paused.is_some() => {
                paused = None;
            }
            Some(done) = connections.join_next() => match done {
                Ok(closed) => record(&mut counts, closed),
                Err(e) => return Err(format!("connection task failed: {e}")),
            },
            _ = shutdown.recv() => break,
        }
    }
    drop(listener);
    // Each connection now writes back what it has read and ends (within the grace
    // period); wait for the last one.
    let _ = stop_tx.send(true);
    while let Some(done) = connections.join_next().await {
        match done {
            Ok(closed) => record(&mut counts, closed),
            Err(e) => return Err(format!("connection task failed: {e}")),
        }
    }
    emit(&counts.summary());
    Ok(())
}
