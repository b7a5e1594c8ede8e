//! UDP echo server on tokio 1: a reader and a writer task joined by an mpsc queue.
//!
//! The reader receives datagrams and pushes them into a bounded tokio `mpsc`
//! channel; the writer pops them and sends the echoes. Both hold the same socket
//! (`Arc<UdpSocket>`: tokio's UDP I/O takes `&self`), and each runs as a task of its
//! own, spawned on the runtime and waiting on the socket independently. That is
//! possible since tokio keeps an intrusive list of waiters per I/O resource: any
//! number of tasks may wait for readiness of the same socket, each woken for what it
//! waits on.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-echo-mpsc
//! nc -u 127.0.0.1 2000
//! ```
//!
//! Every datagram is echoed byte for byte (up to 65,507 bytes); at most `--queue`
//! echoes wait in the channel, and a datagram that arrives when it is full is read
//! and dropped (`dropped … queue full`). SIGINT or SIGTERM stops the reader, the
//! writer sends what the channel holds, then `summary recv=R sent=S dropped=D` is
//! printed and the program exits 0.
//!
//! # Migration
//!
//! * The hand-written `impl Future for Reader` / `for Writer` become two `async fn`
//!   loops, and `reader.join(writer)` in one task becomes two `tokio::spawn`ed tasks
//!   awaited through their `JoinHandle`s. tokio-core could wake one task per
//!   direction of a socket; tokio 1's waiter list lifts that limit.
//! * `Rc<UdpSocket>` becomes `Arc<UdpSocket>`: spawned tasks must be `Send`, even on a
//!   current-thread runtime.
//! * futures 0.1 `mpsc::channel(queue - 1)` (capacity is buffer + 1 per sender)
//!   becomes tokio `mpsc::channel(queue)`, whose capacity is exactly what it says.
//!   `try_send` keeps its meaning: full means drop.
//! * `recv_from`/`send_to` returning `WouldBlock` and registering the task becomes
//!   `recv_from(..).await`/`send_to(..).await`, which wait on readiness themselves.
//! * The shutdown signal is raced with `select!` against the next datagram;
//!   `recv_from` is cancel-safe, so losing the race loses no datagram.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, RECV_BUFFER};
use shared::event::{emit, Event, Proto};
use tokio::net::UdpSocket;
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc::{self, Receiver, Sender};

/// One echo waiting to be sent.
type Echo = (Vec<u8>, SocketAddr);

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

/// Receives datagrams and queues their echoes; returns its counts once a shutdown
/// signal arrives, dropping its `Sender` so that the writer sees the end.
async fn reader(
    socket: Arc<UdpSocket>,
    queue: Sender<Echo>,
    quiet: bool,
    mut shutdown: Shutdown,
) -> EchoCounts {
    let mut buf = vec![0; RECV_BUFFER];
    let mut counts = EchoCounts::default();
    loop {
        let (len, peer) = tokio::select! {
            // The socket first: while datagrams are waiting, the shutdown future is not
            // polled at all (polling it registers a waiter, per datagram). A flood
            // cannot starve it: once tokio's cooperative budget is spent, `recv_from`
            // returns `Pending` and the signal gets its turn.
            biased;
            received = socket.recv_from(&mut buf) => match received {
                Ok(received) => received,
                // A per-datagram error (an ICMP report, say) concerns one peer only.
                Err(e) => {
                    eprintln!("recv_from: {e}");
                    continue;
                }
            },
            // Stop reading; dropping the sender lets the writer drain and finish.
            _ = shutdown.recv() => return counts,
        };
        counts.recv += 1;
        if !quiet {
            emit(&echo::recv_event(len, peer));
        }
        if queue.try_send((buf[..len].to_vec(), peer)).is_err() {
            // Full: the writer has `--queue` echoes pending. (It cannot be closed:
            // the writer only finishes after this sender is dropped.)
            counts.dropped += 1;
            if !quiet {
                emit(&echo::queue_full_event(len, peer));
            }
        }
    }
}

/// Sends the queued echoes; returns its counts when the channel is closed and empty.
async fn writer(socket: Arc<UdpSocket>, mut queue: Receiver<Echo>, quiet: bool) -> EchoCounts {
    let mut counts = EchoCounts::default();
    while let Some((bytes, peer)) = queue.recv().await {
        match socket.send_to(&bytes, peer).await {
            Ok(_) => {
                counts.sent += 1;
                if !quiet {
                    emit(&echo::sent_event(bytes.len(), peer));
                }
            }
            Err(e) => {
                counts.dropped += 1;
                emit(&echo::send_failed_event(bytes.len(), peer, &e));
            }
        }
    }
    counts
}

fn main() {
    let spec = Spec::udp_echo(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &shared::cli::Args) -> Result<(), String> {
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(async {
        let socket = UdpSocket::bind(args.bind)
            .await
            .map_err(|e| bind_error(args.bind, &e))?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        // Catch SIGINT and SIGTERM before announcing the socket, so that a signal
        // sent as soon as `listening` is read already finds its handler.
        let shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
        emit(&Event::Listening {
            proto: Proto::Udp,
            addr: local,
        });

        let (tx, rx) = mpsc::channel(args.queue);
        let socket = Arc::new(socket);
        let reader = tokio::spawn(reader(socket.clone(), tx, args.quiet, shutdown));
        let writer = tokio::spawn(writer(socket, rx, args.quiet));
        // Two tasks, each woken only for its own direction of the socket.
        let read = reader
            .await
            .map_err(|e| format!("reader task failed: {e}"))?;
        let written = writer
            .await
            .map_err(|e| format!("writer task failed: {e}"))?;
        let counts = EchoCounts {
            recv: read.recv,
            sent: written.sent,
            dropped: read.dropped + written.dropped,
        };
        emit(&counts.summary());
        Ok(())
    })
}
