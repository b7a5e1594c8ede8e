//! UDP echo server on tokio 1: a reader and a writer task joined by an mpsc queue.
//!
//! The reader receives datagrams and pushes them into a bounded tokio `mpsc`
//! channel; the writer pops them and sends the echoes. Both hold the same socket
//! (`Arc<UdpSocket>`: tokio's UDP I/O takes `&self`), and each runs as a task of its
//! own, spawned on the runtime and waiting on the socket independently.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-echo-mpsc
//! nc -u 127.0.0.1 2000
//! ```
//!
//! Every datagram is echoed byte for byte (up to 65,507 bytes), except one whose
//! source port could start an echo loop (below 1024, or the server's own): that one
//! is read and refused (`refused … could loop`; `--allow-any-source-port` turns the
//! rule off for experiments). At most `--queue`
//! echoes wait in the channel, and a datagram that arrives when it is full is read
//! and dropped (`dropped … queue full`). SIGINT or SIGTERM stops the reader, the
//! writer sends what the channel holds, then `summary recv=R sent=S dropped=D refused=F` is
//! printed and the program exits 0.
//!
//! # On several threads
//!
//! With `--threads N` the runtime is tokio's multi-thread runtime, with N worker
//! threads that run the tasks and steal them from each other; the program is the
//! same two tasks on the same one socket. The writer, woken by the reader, mostly
//! runs on the reader's worker (tokio keeps a task that another wakes on the waker's
//! worker when it can), and sometimes on the other, at the same time. Each client's
//! echoes still leave in the order its datagrams came: one task reads, one task
//! writes, and the channel between them is first in, first out. The event lines of
//! the two tasks are another matter: the client may have its echo, send its next
//! datagram and have the reader print `recv` before the writer prints the `sent` of
//! that echo (each task's lines stay in order).
//!
//! ```text
//! cargo run -p modern-echo-mpsc -- --threads 2
//! nc -u 127.0.0.1 2000
//! ```
//!
//! # Migration
//!
//! * The hand-written `impl Future for Reader` / `for Writer` become
//!   `impl Reader { async fn run(self) }` and the same for `Writer`; the structs, their
//!   fields and `Reader::received` stay. `Writer::current`, the echo held between two
//!   polls while the socket would not take it, is gone: it is a local that lives
//!   across the `.await`.
//! * The change of shape is the lesson: `reader.join(writer)` in one task becomes two
//!   `tokio::spawn`ed tasks awaited through their `JoinHandle`s. tokio-core would have
//!   allowed this very pair (its registration keeps one waiting task per direction of
//!   a socket, and here one task reads and one writes) but not a second task in the
//!   same direction, which silently replaced the first; since nothing in the types
//!   enforced that, the legacy program keeps both halves in one task. tokio 1 keeps an
//!   intrusive list of waiters per I/O resource instead: each `recv_from(..).await` or
//!   `send_to(..).await` that has to wait adds its own entry, so any number of tasks
//!   may wait on one socket in either direction (a second writer task would just
//!   work), and a wake-up polls only the tasks whose direction became ready. (Two
//!   single-waiter slots survive for the `poll_recv_from`-style `poll_*` methods,
//!   which wake only their most recent caller.)
//! * `Rc<UdpSocket>` becomes `Arc<UdpSocket>`: spawned tasks must be `Send`, even on a
//!   current-thread runtime.
//! * futures 0.1 `mpsc::channel(queue - 1)` (capacity is buffer + 1 per sender)
//!   becomes tokio `mpsc::channel(queue)`, whose capacity is exactly what it says.
//!   `try_send` keeps its meaning: full means drop.
//! * `recv_from`/`send_to` returning `WouldBlock` and registering the task becomes
//!   `recv_from(..).await`/`send_to(..).await`, which wait on readiness themselves.
//! * The shutdown signal, polled at the top of `poll`, is raced with `select!` against
//!   the next datagram; `recv_from` is cancel-safe, so losing the race loses no
//!   datagram. The reader's `BUDGET` and `task::current().notify()` go: tokio's
//!   cooperative budget makes a flooded `recv_from` yield.
//! * New: the reader yields when the queue is full (`yield_now`), so that the writer
//!   task gets its turn. The legacy reader needs no such line to stay correct (both
//!   halves are polled in one task, its writer after each reader turn), and neither
//!   does this one; but here the turn ends only when the budget of 128 reads is spent,
//!   and under a flood the writer would then send the 8 echoes the queue holds per
//!   turn of up to 128 reads, dropping the rest while the socket could take every
//!   echo. With the yield it echoes all it reads, 8 reads per writer turn (the bench's
//!   flood shows the share and the turns; the suite's `burst-past-queue` checks that
//!   the counts add up). A datagram is still dropped and reported when the queue is
//!   full because the socket pushes back, which is what the queue is for.
//! * New: `--threads N` (the legacy program has one `Core`, one thread). Nothing in
//!   the tasks changes for it: they are `Send` already, as `tokio::spawn` requires
//!   even on one thread; only the runtime does (`serve_on_threads`).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, QueueBytes, SourceRule, RECV_BUFFER};
use shared::event::{emit, Event, Proto};
use tokio::net::UdpSocket;
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::mpsc::{self, Receiver, Sender};

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

/// One echo waiting to be sent.
type Echo = (Vec<u8>, SocketAddr);

/// Receives datagrams and queues their echoes; returns its counts once a shutdown
/// signal arrives, dropping its `Sender` so that the writer sees the end.
struct Reader {
    socket: Arc<UdpSocket>,
    buf: Vec<u8>,
    queue: Sender<Echo>,
    /// The bytes of the echoes in the channel, bounded like `EchoQueue`'s.
    bytes: QueueBytes,
    sources: SourceRule,
    quiet: bool,
    shutdown: Shutdown,
    counts: EchoCounts,
}

impl Reader {
    fn received(&mut self, len: usize, peer: SocketAddr) {
        self.counts.recv += 1;
        if !self.quiet {
            emit(&echo::recv_event(len, peer));
        }
        // A source that could start an echo loop gets no echo.
        if self.sources.refuses(len, peer, self.quiet) {
            self.counts.refused += 1;
            return;
        }
        // Full: the writer has `--queue` echoes pending, or their bytes would pass the
        // bound. (The receiver cannot be gone: the writer only finishes after this
        // sender is dropped.)
        let queued = self.bytes.take(len) && {
            // The sender is the reader's own for its whole life (tokio's `Receiver`
            // ends when it is dropped): no `Option` to take it out of at shutdown.
            let sent = self
                .queue
                .try_send((self.buf[..len].to_vec(), peer))
                .is_ok();
            if !sent {
                self.bytes.give_back(len);
            }
            sent
        };
        if !queued {
            self.counts.dropped += 1;
            if !self.quiet {
                emit(&echo::queue_full_event(len, peer));
            }
        }
    }

    // port of: Reader::poll
    async fn run(mut self) -> EchoCounts {
        loop {
            // The queue is full: let the writer run before reading on. The writer task
            // was woken by the first echo queued, but a task is only left when it
            // yields, and under a flood `recv_from` keeps returning datagrams until the
            // cooperative budget (128) is spent: the writer would send 8 echoes per
            // 128 reads and the other 120 would be dropped though the socket could
            // take them. After the yield the writer has emptied the queue, unless the
            // socket itself pushes back; then the datagram is read and dropped as
            // before, one extra pass of the scheduler later.
            if self.queue.capacity() == 0 {
                tokio::task::yield_now().await;
            }
            let (len, peer) = tokio::select! {
                // The socket first: while datagrams are waiting, the shutdown future is
                // not polled at all (polling it registers a waiter, per datagram). A
                // flood cannot starve it: once tokio's cooperative budget is spent,
                // `recv_from` returns `Pending` and the signal gets its turn.
                biased;
                received = self.socket.recv_from(&mut self.buf) => match received {
                    Ok(received) => received,
                    // A per-datagram error (an ICMP report, say) concerns one peer only.
                    Err(e) => {
                        eprintln!("recv_from: {e}");
                        continue;
                    }
                },
                // Stop reading; dropping the sender (with `self`) lets the writer drain
                // and finish.
                _ = self.shutdown.recv() => return self.counts,
            };
            self.received(len, peer);
        }
    }
}

/// Sends the queued echoes; returns its counts when the channel is closed and
/// empty.
struct Writer {
    socket: Arc<UdpSocket>,
    queue: Receiver<Echo>,
    bytes: QueueBytes,
    quiet: bool,
    counts: EchoCounts,
}

impl Writer {
    // port of: Writer::poll
    async fn run(mut self) -> EchoCounts {
        // The echo being sent is a local now, kept across the `.await` below: no
        // `current` field to hold it between polls.
        while let Some((bytes, peer)) = self.queue.recv().await {
            // Waits for WRITABLE in this task alone; the reader's task is not polled.
            match self.socket.send_to(&bytes, peer).await {
                Ok(_) => {
                    self.counts.sent += 1;
                    if !self.quiet {
                        emit(&echo::sent_event(bytes.len(), peer));
                    }
                }
                Err(e) => {
                    self.counts.dropped += 1;
                    emit(&echo::send_failed_event(bytes.len(), peer, &e));
                }
            }
            self.bytes.give_back(bytes.len());
        }
        self.counts
    }
}

fn main() {
    let spec = Spec::udp_echo(env!("CARGO_BIN_NAME")).with_threads();
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &shared::cli::Args) -> Result<(), String> {
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

/// `--threads N`: one runtime, its N worker threads running the tasks and stealing
/// them from each other. The reader and the writer are tasks already (hence `Arc`):
/// on two workers they may run at the same time, and the channel between them keeps
/// each client's echoes in order.
fn serve_on_threads(args: &shared::cli::Args) -> Result<(), String> {
    let runtime = Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(serve(args))
}

/// Everything that ran on the event loop, now on the runtime.
// port of: run
async fn serve(args: &shared::cli::Args) -> Result<(), String> {
    let socket = UdpSocket::bind(args.bind)
        .await
        .map_err(|e| bind_error(args.bind, &e))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
    emit(&Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    // tokio's channel holds exactly `--queue` pending echoes.
    let (tx, rx) = mpsc::channel(args.queue);
    let bytes = QueueBytes::new(args.queue);
    let socket = Arc::new(socket);
    let reader = Reader {
        socket: socket.clone(),
        buf: vec![0; RECV_BUFFER],
        queue: tx,
        bytes: bytes.clone(),
        sources: SourceRule::for_server(args, local),
        quiet: args.quiet,
        shutdown,
        counts: EchoCounts::default(),
    };
    let writer = Writer {
        socket,
        queue: rx,
        bytes,
        quiet: args.quiet,
        counts: EchoCounts::default(),
    };
    // Two tasks, each woken only for its own direction of the socket: the reader
    // waits in the socket's waiter list for READABLE, the writer for WRITABLE.
    let (read, written) = tokio::try_join!(tokio::spawn(reader.run()), tokio::spawn(writer.run()))
        .map_err(|e| format!("task failed: {e}"))?;
    let counts = EchoCounts {
        recv: read.recv,
        sent: written.sent,
        dropped: read.dropped + written.dropped,
        refused: read.refused,
    };
    emit(&counts.summary());
    Ok(())
}
