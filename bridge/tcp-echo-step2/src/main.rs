//! TCP echo server, migration step 2 of 2: on tokio 1 — runtime, sockets, timer and
//! signals together; the connections still counted through a futures 0.1 channel,
//! used through the compat layer.
//!
//! The same server as `legacy/tcp-echo` and step 1: the accept loop takes the
//! listener's connections one after another, and every accepted connection becomes a
//! task of its own, which reads into its buffer and writes it back. The async fns of
//! step 1 keep their shape; what they wait on is now tokio 1's: `TcpListener`,
//! `TcpStream` (`read(..).await`, `write(..).await` of tokio's `AsyncReadExt` /
//! `AsyncWriteExt`), `tokio::time`'s deadline for the grace period, tokio's signals.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p bridge-tcp-echo-step2
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
//! As the modern program: an accept that fails for lack of resources (`EMFILE`, …)
//! pauses accepting — a `tokio::time::sleep` of 10 ms, doubling up to 1 s, one more
//! branch of the accept loop's `select!` — while the open connections are served,
//! reported and counted by `shared::accept`; at most `--max-connections` connections
//! at once (a `Semaphore` permit, taken before the accept); a peer that does not read
//! its echo meets backpressure; no byte either way for `--idle-timeout-secs` closes a
//! connection (`idle timeout`).
//!
//! # What this step does, and why it is safe
//!
//! The runtime, the sockets, the timer and the signals move to tokio 1 together, while
//! what depends on no runtime stays: the `Rc<RefCell<…>>` counts, now on a
//! `LocalSet`, and the futures 0.1 channel that says when every connection is done,
//! awaited through the compat layer. Moving them together is what makes it safe: a
//! timer has to move exactly with its runtime.
//!
//! A tokio 1 timer needs tokio 1's runtime (step 1 could not have it), and
//! tokio-core's `Timeout` needs its `Core` to be running (this step could not keep
//! it): a timer must move exactly with the runtime. The sockets could lag behind for
//! a while (`echo-mpsc`'s ladder shows tokio-core's socket on tokio 1, driven by the
//! reactor thread tokio-core starts), but here nothing is gained by waiting, and a
//! connection's reads, writes and grace period are best moved as one.
//!
//! What stays is what does not depend on a runtime: the shape of the server, its
//! `Rc<RefCell<TcpCounts>>` and the futures 0.1 channel whose end says "every
//! connection is done", awaited through `Compat01As03`. `Rc` is not `Send`, so the
//! connections are spawned with `spawn_local` on a `LocalSet`, tokio 1's home for
//! tasks that must stay on one thread — the `Handle::spawn` of `Core` had no `Send`
//! bound either. The signal that every connection watches becomes a futures 0.3
//! `Shared` future (of a oneshot the accept loop fires when it stops). The `BUDGET`
//! goes: tokio 1's sockets count against tokio's cooperative budget, so a busy
//! connection's `read` returns `Pending` after a while by itself.
//!
//! # In the wrong order
//!
//! Moving the runtime but keeping tokio-core's `Timeout` leaves a grace period that
//! never ends: the `Core` that turns its timer is not run any more (if it has been
//! dropped, polling the timeout fails with "timer is shutdown" instead).
//! `ident-service-old-timer` shows the first on the ident server's idle
//! timer. Dropping the `BUDGET` before the sockets are tokio 1's would let one fast
//! peer keep every other connection waiting.

// The workspace pins the compat layer under a key of its own (`futures-compat`), since
// `futures` names the modern crate there; in this crate it is `futures`, as in the
// code this one becomes. futures 0.1 is `futures01`.
extern crate futures_compat as futures;

use std::borrow::Cow;
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::compat::Stream01CompatExt;
use futures::future::Shared;
use futures::{FutureExt, StreamExt};
use futures01::sync::mpsc;
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::LocalSet;
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

/// Resolves once the server is asked to stop. `Shared`, so that every connection can
/// hold a clone and be woken by the same event.
type Stop = Shared<oneshot::Receiver<()>>;

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
                _ = grace_over(&self.shutdown, &mut self.grace) => {
                    return Ok(Some(tcp_reason::ABANDONED))
                }
                // A timer of tokio 1, made afresh for each wait: it needs no `Handle`
                // and no reset.
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

    /// Whether the server was asked to stop. Only looks (`Shared::peek`): the task
    /// waits for the signal in `echo` and `grace_over`.
    fn stopping(&self) -> bool {
        self.shutdown.peek().is_some()
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
                _ = self.shutdown.clone() => return Ok(tcp_reason::SHUTDOWN),
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
/// (The step before counted slots itself and kept the accept task's 0.1 `Task`; a
/// `Semaphore` is that, with an async `acquire`.)
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
async fn grace_over(shutdown: &Stop, grace: &mut Option<Instant>) {
    let _ = shutdown.clone().await;
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
    // The connections hold `Rc`s: they are spawned on this `LocalSet`, whose tasks
    // stay on the thread that runs it.
    LocalSet::new().block_on(&runtime, serve(args))
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
    let (stop_tx, stop) = oneshot::channel();
    let stop = stop.shared();
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
    // One permit per connection: `--max-connections` at once.
    let slots = Arc::new(Semaphore::new(args.max_connections));
    let mut policy = AcceptPolicy::new();
    // Set after an accept failed for lack of resources: accept nothing until then.
    let mut paused: Option<Instant> = None;
    // Accept until a signal arrives.
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.recv() => break,
            accepted = accept(&listener, &slots), if paused.is_none() => accepted,
            // The pause is one more branch: a signal still stops the server meanwhile,
            // and the connections (tasks of their own) are served.
            () = tokio::time::sleep_until(paused.unwrap_or_else(Instant::now)), if paused.is_some() => {
                paused = None;
                continue;
            }
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
                    paused = Some(Instant::now() + pause);
                }
                continue;
            }
        };
        counts.borrow_mut().accepted += 1;
        if !quiet {
            emit(&echo::accepted_event(peer));
        }
        let connection = Connection::new(stream, peer, slot, stop.clone(), idle_timeout);
        let (counts, done) = (counts.clone(), done_tx.clone());
        // A task of its own, on this thread's `LocalSet`.
        tokio::task::spawn_local(async move {
            let closed = connection.run().await;
            record(&mut counts.borrow_mut(), closed);
            drop(done);
        });
    }
    drop(listener);
    drop(done_tx);
    // Each connection now writes back what it has read and ends (within the grace
    // period); wait for the last one.
    let _ = stop_tx.send(());
    let mut done = done_rx.compat();
    while done.next().await.is_some() {}
    emit(&counts.borrow().summary());
    Ok(())
}
