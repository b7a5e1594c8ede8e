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

use std::borrow::Cow;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{pin, Pin};
use std::time::Duration;

use compio::io::{AsyncRead, AsyncWriteExt};
use compio::net::{TcpListener, TcpStream};
use compio::runtime::{spawn, CancelToken, JoinHandle, Runtime};
use compio::signal::unix::signal;
use compio::BufResult;
use futures::future::{select, Either, Fuse, FusedFuture};
use futures::stream::{FuturesUnordered, StreamExt};
use futures::{select_biased, FutureExt};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};

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
    (peer, echoed, reason)
}

/// The next connection, after `pause` (a pause after an accept failed for lack of
/// resources, so that running out of descriptors does not become a loop that burns a
/// core: `shared::accept` says how long).
async fn accept_after(
    listener: &TcpListener,
    pause: Duration,
) -> io::Result<(TcpStream, SocketAddr)> {
    if !pause.is_zero() {
        compio::time::sleep(pause).await;
    }
    listener.accept().await
}

fn main() {
    let spec = Spec::tcp_echo(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let runtime = Runtime::new().map_err(|e| format!("io_uring is not available here: {e}"))?;
    runtime.block_on(async {
        let listener = TcpListener::bind(args.bind)
            .await
            .map_err(|e| bind_error(args.bind, &e))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        let mut shutdown = shutdown()
            .await
            .map_err(|e| format!("cannot watch signals: {e}"))?;
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
        let stop = CancelToken::new();
        type Done = (SocketAddr, u64, Cow<'static, str>);
        let mut connections: FuturesUnordered<JoinHandle<Done>> = FuturesUnordered::new();
        let mut policy = AcceptPolicy::new();
        // How long to wait before the next accept: zero, unless the last one failed
        // for lack of resources.
        let mut pause = Duration::ZERO;
        {
            let mut accepting = pin!(accept_after(&listener, pause).fuse());
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
                            Ok((stream, peer)) => {
                                policy.accepted();
                                counts.accepted += 1;
                                if !quiet {
                                    emit(&echo::accepted_event(peer));
                                }
                                let idle_timeout = args.idle_timeout;
                                connections.push(spawn(connection(stream, peer, stop.clone(), idle_timeout)));
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
                        // With every slot taken, no accept is in flight: the next peers
                        // wait in the listen backlog until a connection ends.
                        if connections.len() < args.max_connections {
                            accepting.set(accept_after(&listener, pause).fuse());
                        } else {
                            accepting.set(Fuse::terminated());
                        }
                    }
                    done = connections.select_next_some() => {
                        match done {
                            Ok(done) => record(&mut counts, done),
                            Err(e) => return Err(format!("connection task failed: {e:?}")),
                        }
                        if accepting.is_terminated() {
                            accepting.set(accept_after(&listener, pause).fuse());
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
        emit(&counts.summary());
        Ok(())
    })
}
