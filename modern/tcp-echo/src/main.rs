//! TCP echo server on tokio 1: an accept loop and one task per connection.
//!
//! The shape of tokio's README example: the accept loop awaits `listener.accept()`,
//! and every accepted connection becomes a task of its own, `tokio::spawn`ed onto the
//! runtime. Each connection task reads into its buffer and writes it back with
//! `read(..).await` and `write_all(..).await`; the runtime parks the task on the
//! socket's readiness in between.
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
//! second), prints `summary accepted=A closed=C bytes=B` and exits 0.
//!
//! # Migration
//!
//! * `incoming().for_each` + `handle.spawn(future)` becomes a `loop` around
//!   `accept().await` + `JoinSet::spawn(async move { … })`. The accept loop also
//!   reaps finished tasks (`join_next`), so the counts stay in one place instead of
//!   an `Rc<RefCell<…>>` every connection writes to, and a mpsc channel whose end
//!   said "all connections are done" becomes `JoinSet` running empty.
//! * The hand-written connection future (a buffer, `start..end`, `WouldBlock` on each
//!   side, a budget and `task::current().notify()`) becomes the README's loop of
//!   `read` then `write_all`; tokio's cooperative budget does the yielding.
//! * A `Shared` signal future polled by every connection becomes a `watch` channel:
//!   each task waits for `changed()` beside its read, and a `select!` drops the
//!   pending read (cancel-safe) when the server stops.
//! * The grace period is a `sleep` raced with `write_all` once stopping, instead of a
//!   `Timeout` polled at the top of `poll`.
//! * `Core::run` becomes a current-thread runtime and `block_on`; one thread, as
//!   before.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;

use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio::task::JoinSet;

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

/// Resolves once the server is asked to stop, then once the grace period is over.
async fn grace_over(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stopping| *stopping).await;
    tokio::time::sleep(TCP_SHUTDOWN_GRACE).await;
}

/// One connection: reads, writes back, until the peer is done or the server stops.
/// Returns the peer, the bytes written back to it, and why the connection ended.
async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) -> (SocketAddr, u64, Cow<'static, str>) {
    let mut buf = vec![0; TCP_BUFFER];
    let mut echoed = 0u64;
    let reason = loop {
        let n = tokio::select! {
            read = stream.read(&mut buf) => match read {
                // Everything read has been written back; dropping the stream closes
                // our side, and the peer reads end-of-file after its last byte.
                Ok(0) => break Cow::Borrowed(tcp_reason::EOF),
                Ok(n) => n,
                Err(e) => break echo::tcp_error_reason(&e),
            },
            // Read no more once the server stops (a pending read is dropped, which
            // loses nothing: `read` is cancel-safe).
            _ = stop.wait_for(|stopping| *stopping) => break Cow::Borrowed(tcp_reason::SHUTDOWN),
        };
        // Write back what was read; once stopping, only until the grace period ends.
        tokio::select! {
            written = stream.write_all(&buf[..n]) => match written {
                Ok(()) => echoed += n as u64,
                Err(e) => break echo::tcp_error_reason(&e),
            },
            _ = grace_over(&mut stop) => break Cow::Borrowed(tcp_reason::ABANDONED),
        }
    };
    (peer, echoed, reason)
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
    runtime.block_on(async {
        let listener = TcpListener::bind(args.bind)
            .await
            .map_err(|e| bind_error(args.bind, &e))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        // Catch SIGINT and SIGTERM before announcing the socket, so that a signal
        // sent as soon as `listening` is read already finds its handler.
        let mut shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
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
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut connections = JoinSet::new();
        // Accept until a signal arrives, reaping connections as they end.
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        counts.accepted += 1;
                        if !quiet {
                            emit(&echo::accepted_event(peer));
                        }
                        connections.spawn(connection(stream, peer, stop_rx.clone()));
                    }
                    // Out of file descriptors, say: report it and go on.
                    Err(e) => eprintln!("accept: {e}"),
                },
                Some(done) = connections.join_next() => match done {
                    Ok(done) => record(&mut counts, done),
                    Err(e) => return Err(format!("connection task failed: {e}")),
                },
                _ = shutdown.recv() => break,
            }
        }
        drop(listener);
        // Each connection now writes back what it has read and ends (within the
        // grace period); wait for the last one.
        let _ = stop_tx.send(true);
        while let Some(done) = connections.join_next().await {
            match done {
                Ok(done) => record(&mut counts, done),
                Err(e) => return Err(format!("connection task failed: {e}")),
            }
        }
        emit(&counts.summary());
        Ok(())
    })
}
