//! TCP echo server on compio, a completion-based runtime on io_uring: the tokio README
//! server with owned buffers.
//!
//! The shape is `tcp-echo`'s: an accept loop, and a task per connection that reads and
//! writes back. What changes is who holds the buffer. tokio's `read(&mut buf)` borrows
//! it for one readiness-driven system call; compio's `read(buf)` gives it to the
//! kernel, which fills it whenever data comes, and the buffer returns with the result:
//! `let BufResult(n, buf) = stream.read(buf).await`. Writing back is the same move in
//! the other direction, `stream.write_all(buf)`, so one buffer per connection travels
//! read → program → write → program, never copied.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p next-tcp-echo-compio
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
//! Faults are met as in `tcp-echo`: an accept that fails for lack of resources pauses
//! accepting (a `compio::time::sleep` before the next accept, 10 ms doubling to 1 s,
//! reported and counted by `shared::accept`); at most `--max-connections` connections
//! at once (no accept is in flight while every slot is taken, so the next peers wait
//! in the listen backlog); a peer that does not read its echo holds one 16 KiB buffer
//! and is read no more; no byte either way for `--idle-timeout-secs` closes a
//! connection (a sleep raced with each read and each write: losing the race drops
//! the operation, which compio cancels on the ring).
//!
//! # On several threads
//!
//! With `--threads N` it runs N such servers, one per thread, each with its own
//! runtime, ring and listener on the port (SO_REUSEPORT, set through socket2 before
//! the bind): thread per core, the model of the completion runtimes (compio, monoio,
//! glommio), whose runtime and tasks stay on the thread that made them. The kernel
//! hands each connection to one listener; nothing else is shared but the
//! `--max-connections` bound, one count behind a lock with the wakers of the accept
//! loops waiting for a slot. An accept is submitted only with a slot taken, and a
//! slot is taken only once a connection waits on this listener (`accept_after` waits
//! for its readiness first): an accept in flight on the ring that held a slot would
//! keep it from the other threads while no connection came. `shared::cores` prints
//! one `listening` line once every runtime watches the signals (compio's handler
//! tells them all), and one summary of all their counts.
//!
//! ```text
//! cargo run -p next-tcp-echo-compio -- --threads 2
//! nc 127.0.0.1 8080
//! ```
//!
//! # What cancelling means here
//!
//! tokio's `read` is cancel-safe: dropping it in a `select!` loses nothing, since no
//! byte was taken from the socket yet. A compio read is already on the ring when it is
//! dropped: compio submits a cancel and keeps the buffer until the kernel lets go, and
//! bytes the kernel read into it first are lost to the program. While the server runs,
//! a connection therefore never drops its read: only the stop decides, and bytes lost
//! in that race are bytes the peer sent after the server stopped reading, which a
//! readiness server would not have read either. A write that the peer does not take
//! within the grace period is the other operation dropped on purpose: its echo is
//! abandoned, as the `closed` reason says, and compio cancels the send on the ring.
//! (compio's `with_cancel(token)` cancels and lets the operation complete instead;
//! see `echo-compio` for why these servers do not rely on it.)
//!
//! # Against `tcp-echo`
//!
//! * `read(&mut buf)` / `write_all(&buf)` become `read(buf)` / `write_all(buf)`,
//!   each returning the buffer in a `BufResult`; the buffer is `clear`ed before each
//!   read, because compio reads into a `Vec`'s capacity and sets its length.
//! * The `watch` channel that stopped every connection becomes a `CancelToken`, used
//!   here only as a flag that can be waited on (`wait()`).
//! * `JoinSet` becomes compio's `spawn` and a `FuturesUnordered` of `JoinHandle`s.
//! * `tokio::select!` becomes `futures::select_biased!`.
//! * `--threads N`: one runtime of N workers sharing the tasks becomes N runtimes,
//!   one per thread, each with its listener, and a `Semaphore` a count whose slot an
//!   accept takes only once a connection is there for it.

use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::net::{SocketAddr, TcpListener as StdTcpListener};
use std::pin::{pin, Pin};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Poll, Waker};
use std::time::Duration;

use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};
use compio::runtime::fd::PollFd;
use compio::runtime::{spawn, CancelToken, JoinHandle, Runtime};
use compio::signal::unix::signal;
use compio::BufResult;
use futures::future::{select, Either, Fuse};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::{select_biased, FutureExt};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::cores::{self, Ready};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use socket2::{Domain, Protocol, Socket, Type};

/// SIGINT or SIGTERM, either of which asks the server to stop.
type Shutdown = Fuse<Pin<Box<dyn Future<Output = io::Result<()>>>>>;

/// Listens for SIGINT and SIGTERM. compio installs a signal's handler when its
/// future is first polled, so this polls once now: a signal sent as soon as
/// `listening` is read then already finds its handler.
async fn shutdown() -> io::Result<Shutdown> {
    let either: Pin<Box<dyn Future<Output = io::Result<()>>>> = Box::pin(async {
        let sigint = pin!(signal(libc::SIGINT));
        let sigterm = pin!(signal(libc::SIGTERM));
        match select(sigint, sigterm).await {
            Either::Left((done, _)) | Either::Right((done, _)) => done,
        }
    });
    let mut either = either.fuse();
    if let std::task::Poll::Ready(Err(e)) = futures::poll!(&mut either) {
        return Err(e);
    }
    Ok(either)
}

/// Resolves once the server is asked to stop, then once the grace period is over.
async fn grace_over(stop: CancelToken) {
    stop.wait().await;
    compio::time::sleep(TCP_SHUTDOWN_GRACE).await;
}

/// One connection: reads, writes back, until the peer is done or the server stops.
/// Returns the peer, the bytes written back to it, and why the connection ended.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    stop: CancelToken,
    idle_timeout: Duration,
) -> (SocketAddr, u64, Cow<'static, str>) {
    // The connection's one buffer: the kernel's while a read or a write has it, ours
    // in between.
    let mut buf = Vec::with_capacity(TCP_BUFFER);
    let mut echoed = 0u64;
    let reason = loop {
        // Read no more once the server stops.
        if stop.is_cancelled() {
            break Cow::Borrowed(tcp_reason::SHUTDOWN);
        }
        buf.clear();
        let BufResult(read, back) = {
            let mut read = pin!(stream.read(buf).fuse());
            let mut stopped = pin!(stop.clone().wait().fuse());
            let mut idle = pin!(compio::time::sleep(idle_timeout).fuse());
            select_biased! {
                done = read => done,
                // Dropping the read cancels it on the ring.
                () = stopped => break Cow::Borrowed(tcp_reason::SHUTDOWN),
                () = idle => break Cow::Borrowed(tcp_reason::IDLE),
            }
        };
        buf = back;
        match read {
            // Everything read has been written back; dropping the stream closes
            // our side, and the peer reads end-of-file after its last byte.
            Ok(0) => break Cow::Borrowed(tcp_reason::EOF),
            Ok(_) => {}
            Err(e) => break echo::tcp_error_reason(&e),
        }
        let n = buf.len() as u64;
        // Write back what was read; once stopping, only until the grace period ends.
        // Losing that race drops the write: compio cancels it on the ring.
        let mut write = pin!(stream.write_all(buf).fuse());
        let mut grace = pin!(grace_over(stop.clone()).fuse());
        let mut idle = pin!(compio::time::sleep(idle_timeout).fuse());
        select_biased! {
            BufResult(written, back) = write => {
                buf = back;
                match written {
                    Ok(()) => echoed += n,
                    Err(e) => break echo::tcp_error_reason(&e),
                }
            }
            () = grace => break Cow::Borrowed(tcp_reason::ABANDONED),
            // The peer took nothing for the idle timeout.
            () = idle => break Cow::Borrowed(tcp_reason::IDLE),
        }
    };
    // The connection is over: its slot is free.
    drop(slot);
    (peer, echoed, reason)
}

/// A listener, and the same socket to wait on until a connection is there (compio's
/// `TcpListener` offers no readiness of its own).
struct Listener {
    listener: TcpListener,
    waiting: PollFd<StdTcpListener>,
}

/// How many connections are open, out of `--max-connections`: one count for every
/// thread's runtime (`--threads`), the server's bound, behind a lock with the wakers
/// of the accept loops waiting for a slot. A waker may be woken from any thread:
/// compio hands the wake to the task's own runtime.
struct Slots {
    open: Mutex<Open>,
    max: usize,
}

/// The connections open, and the accept loops waiting for one to close.
#[derive(Default)]
struct Open {
    count: usize,
    waiting: Vec<Waker>,
}

impl Slots {
    /// Takes a slot once one is free.
    async fn take(slots: &Arc<Slots>) -> Slot {
        std::future::poll_fn(|cx| {
            let mut open = slots.open.lock().unwrap_or_else(PoisonError::into_inner);
            if open.count >= slots.max {
                if !open.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                    open.waiting.push(cx.waker().clone());
                }
                return Poll::Pending;
            }
            open.count += 1;
            Poll::Ready(Slot(slots.clone()))
        })
        .await
    }
}

/// One connection's slot, given back when the connection (which holds it) ends.
struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut open = self.0.open.lock().unwrap_or_else(PoisonError::into_inner);
        open.count -= 1;
        for accepting in open.waiting.drain(..) {
            accepting.wake();
        }
    }
}

/// The next connection and its slot, after `pause` (a pause after an accept failed
/// for lack of resources, so that running out of descriptors does not become a loop
/// that burns a core: `shared::accept` says how long). The slot is taken once a
/// connection waits on the listener, before the accept goes on the ring: an accept
/// in flight holding a slot would keep it from the other threads' listeners while
/// no connection came.
async fn accept_after(
    listener: &Listener,
    slots: &Arc<Slots>,
    pause: Duration,
) -> io::Result<(TcpStream, SocketAddr, Slot)> {
    let Listener { listener, waiting } = listener;
    if !pause.is_zero() {
        compio::time::sleep(pause).await;
    }
    waiting.accept_ready().await?;
    let slot = Slots::take(slots).await;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, slot))
}

fn main() {
    let spec = Spec::tcp_echo(env!("CARGO_BIN_NAME")).with_threads();
    let args = spec.from_env();
    if let Err(e) = serve_on_threads(&args) {
        exit_startup_error(spec.name, e);
    }
}

/// The server of one thread: its own runtime and ring, its listener, its signal
/// listeners, its counts; the connection bound is shared.
fn run(
    args: &Args,
    listener: StdTcpListener,
    slots: Arc<Slots>,
    ready: Ready,
) -> Result<TcpCounts, String> {
    let runtime = Runtime::new().map_err(|e| format!("io_uring is not available here: {e}"))?;
    runtime.block_on(async {
        let waiting = listener.try_clone().and_then(PollFd::new);
        let waiting = waiting.map_err(|e| e.to_string())?;
        let listener = TcpListener::from_std(listener).map_err(|e| e.to_string())?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let listener = Listener { listener, waiting };
        // Every runtime's signal listeners are told (compio's handler wakes them all).
        let mut shutdown = shutdown()
            .await
            .map_err(|e| format!("cannot watch signals: {e}"))?;
        // Printed once every thread's runtime is ready (`shared::cores`).
        ready.listening(Event::Listening {
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
        let stop = CancelToken::new();
        type Done = (SocketAddr, u64, Cow<'static, str>);
        let mut connections: FuturesUnordered<JoinHandle<Done>> = FuturesUnordered::new();
        let mut policy = AcceptPolicy::new();
        // How long to wait before the next accept: zero, unless the last one failed
        // for lack of resources.
        let mut pause = Duration::ZERO;
        {
            // With every slot taken (on any thread), no accept is in flight: the next
            // peers wait in the listen backlog until a connection ends.
            let mut accepting = pin!(accept_after(&listener, &slots, pause).fuse());
            // Accept until a signal arrives, reaping connections as they end.
            loop {
                select_biased! {
                    done = shutdown => {
                        done.map_err(|e| format!("signal: {e}"))?;
                        break;
                    }
                    accepted = accepting => {
                        pause = Duration::ZERO;
                        match accepted {
                            Ok((stream, peer, slot)) => {
                                policy.accepted();
                                counts.accepted += 1;
                                if !quiet {
                                    emit(&echo::accepted_event(peer));
                                }
                                let idle_timeout = args.idle_timeout;
                                let connection = connection(stream, peer, slot, stop.clone(), idle_timeout);
                                connections.push(spawn(connection));
                            }
                            // Out of descriptors, say: pause, then retry; a failed
                            // connection: the next one, at once.
                            Err(e) => {
                                if let Next::Pause(p) = policy.failed(&e) {
                                    counts.accept_pauses = policy.pauses();
                                    pause = p;
                                }
                            }
                        }
                        accepting.set(accept_after(&listener, &slots, pause).fuse());
                    }
                    done = connections.select_next_some() => {
                        match done {
                            Ok(done) => record(&mut counts, done),
                            Err(e) => return Err(format!("connection task failed: {e:?}")),
                        }
                    }
                }
            }
            // Dropping the accept in flight cancels it on the ring.
        }
        drop(listener);
        // Each connection now writes back what it has read and ends (within the
        // grace period); wait for the last one.
        stop.cancel();
        while let Some(done) = connections.next().await {
            match done {
                Ok(done) => record(&mut counts, done),
                Err(e) => return Err(format!("connection task failed: {e:?}")),
            }
        }
        Ok(counts)
    })
}

/// `--threads N` (1 by default): N servers, one per thread, each with its own
/// runtime, ring and listener on the port, nothing shared but the connection bound:
/// a compio runtime belongs to the thread that made it (thread per core, as
/// tokio-core's `Core` did).
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

/// A listener on `addr` as compio's `TcpListener::bind` makes one (SO_REUSEADDR, a
/// backlog of 128), made with socket2: SO_REUSEPORT (for several threads:
/// `shared::cores` says when) must be set before the bind.
fn listen(addr: SocketAddr, reuse_port: bool) -> io::Result<StdTcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(reuse_port)?;
    socket.bind(&addr.into())?;
    socket.listen(128)?;
    Ok(socket.into())
}
