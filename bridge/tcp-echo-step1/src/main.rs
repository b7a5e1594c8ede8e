//! TCP echo server, migration step 1 of 2: the accept loop and each connection written
//! as async/await on futures 0.3, still run by tokio-core's `Core` through the compat
//! layer.
//!
//! The same server as `legacy/tcp-echo`: the listener's connections are accepted one
//! after another, and every accepted connection becomes a task of its own,
//! `handle.spawn`ed onto the one event loop, which reads into its buffer and writes
//! it back. What changed is how that is written: the accept loop is a `loop` around
//! the next accepted connection, and the hand-written `impl Future for Connection` is
//! `impl Connection { async fn run(self) }`, with `flush`, `stopping` and `echo` in
//! the order they had. Everything they wait on is still of the old stack.
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
//! second), prints `summary accepted=A closed=C bytes=B` and exits 0.
//!
//! # What this step does, and why it is safe
//!
//! The code changes shape; the runtime does not. The accept loop and each connection
//! become async fns on futures 0.3; tokio-core's listener, its streams (as futures 0.3
//! readers and writers), the grace period's `Timeout` and the `Shared` signal are
//! awaited through `Compat01As03`, and the async fns go back to `Core::run` and
//! `Handle::spawn` through `.compat()`. It is safe because the same executor and the
//! same reactor run the same tasks; only how they are written changed.
//!
//! The compat layer joins old and new in both directions:
//!
//! * old → new: `Compat01As03` makes a futures 0.3 future, stream or reader/writer
//!   of a futures 0.1 one. The `TcpStream` becomes a futures 0.3
//!   `AsyncRead + AsyncWrite` (io-compat), so `read(..).await` and `write(..).await`
//!   replace the `WouldBlock` arms; `incoming()`, the `Shared` signal, the `Timeout`
//!   and the channel that counts finished connections are awaited the same way.
//! * new → old: `.compat()` on a futures 0.3 future whose output is a `Result` gives
//!   the futures 0.1 future that `Core::run` and `Handle::spawn` take, once it is
//!   `Unpin` (`Box::pin`).
//!
//! Nothing observable changes, so the suite's checks pass as they do for the legacy
//! program. The `BUDGET` stays (with `yield_now`, the async spelling of
//! `task::current().notify()`): nothing on this runtime makes a busy connection's
//! `read` return `Pending` by itself.
//!
//! # In the wrong order
//!
//! Every piece of the new stack that needs tokio 1's runtime has to wait for step 2,
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
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;

use futures::compat::{Compat01As03, Future01CompatExt, Stream01CompatExt};
use futures::io::{AsyncReadExt, AsyncWriteExt};
use futures::{FutureExt, StreamExt, TryFutureExt};
use futures01::future::Shared;
use futures01::sync::mpsc;
use futures01::{Future as _, Stream as _};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use tokio_core::net::{TcpListener, TcpStream};
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Read/write rounds before a connection yields, so that one fast peer cannot keep
/// the event loop (and every other connection) waiting.
const BUDGET: usize = 64;

/// Resolves once SIGINT or SIGTERM arrives. `Shared`, so that the accept loop and
/// every connection can each hold a clone and be woken by the same signal.
type Shutdown = Shared<Box<dyn futures01::Future<Item = (), Error = ()>>>;

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
    handle: Handle,
}

impl Connection {
    fn new(stream: TcpStream, peer: SocketAddr, shutdown: Shutdown, handle: Handle) -> Self {
        Connection {
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
            handle,
        }
    }

    /// Writes back what is pending; `false` if the grace period ended first.
    async fn flush(&mut self) -> io::Result<bool> {
        while self.start < self.end {
            let written = futures::select_biased! {
                // The write first: while the peer takes its echo, the grace period is
                // not even looked at. A dropped `write` has written nothing.
                written = self.stream.write(&self.buf[self.start..self.end]).fuse() => written?,
                over = grace_over(&self.shutdown, &mut self.grace, &self.handle).fuse() => {
                    over?;
                    return Ok(false);
                }
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
        Ok(true)
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
                if !self.flush().await? {
                    return Ok(tcp_reason::ABANDONED);
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
                        n => self.end = n,
                    },
                    // Read no more once the server stops (a pending read is dropped,
                    // which loses nothing: it has read nothing).
                    _ = self.shutdown.clone().compat().fuse() => {
                        return Ok(tcp_reason::SHUTDOWN)
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
    let listener = TcpListener::bind(&args.bind, &handle).map_err(|e| bind_error(args.bind, &e))?;
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
    let record = move |counts: &mut TcpCounts, (peer, bytes, reason)| {
        counts.closed += 1;
        counts.bytes += bytes;
        if !quiet {
            emit(&echo::closed_event(peer, bytes, reason));
        }
    };
    // Every connection holds a sender; the channel ends when the last one is done.
    let (done_tx, done_rx) = mpsc::unbounded::<()>();
    let mut incoming = listener.incoming().compat();
    // Accept until a signal arrives.
    loop {
        let accepted = futures::select_biased! {
            _ = shutdown.clone().compat().fuse() => break,
            accepted = incoming.next().fuse() => accepted,
        };
        let (stream, peer) = match accepted {
            Some(Ok(accepted)) => accepted,
            // An accept error (out of file descriptors, say) is reported and the loop
            // goes on.
            Some(Err(e)) => {
                eprintln!("accept: {e}");
                continue;
            }
            None => return Err("accept loop ended".to_string()),
        };
        counts.borrow_mut().accepted += 1;
        if !quiet {
            emit(&echo::accepted_event(peer));
        }
        let connection = Connection::new(stream, peer, shutdown.clone(), handle.clone());
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
    // The listener goes with the accept loop; then so does its sender.
    drop(incoming);
    drop(done_tx);
    // Each connection now writes back what it has read and ends (within the grace
    // period); wait for the last one.
    let mut done = done_rx.compat();
    while done.next().await.is_some() {}
    emit(&counts.borrow().summary());
    Ok(())
}
