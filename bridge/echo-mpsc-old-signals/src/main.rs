//! UDP echo server, migration step 2 done in the wrong order: the executor moved to
//! tokio 1, the signals stayed with tokio-signal 0.1 — and SIGINT and SIGTERM are
//! caught and then ignored. **Deliberately wrong**; the suite shows how it fails.
//!
//! This is `bridge/echo-mpsc-step2` with one change: the shutdown signal is still
//! tokio-signal 0.1's stream, awaited through the compat layer as in step 1.
//! Everything else works: datagrams are echoed, because tokio-core's socket is
//! driven by tokio 0.1's reactor on a thread of its own. But tokio-signal 0.1 does
//! not deliver a signal from that reactor: its handler writes to a self-pipe, and a
//! *driver task*, `spawn`ed on the `Core` by `Signal::new` (`Handle::spawn`), reads
//! the pipe and forwards the signal to each `Signal` stream. `Handle::spawn` only
//! queues the task for `Core::run` to start, and nobody runs the `Core` now. So the
//! handler is installed (the default action, terminating the process, is gone),
//! the signal arrives, and nothing reads the pipe: the server cannot be stopped but
//! by SIGKILL, and it never prints its summary.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p bridge-echo-mpsc-old-signals
//! pkill -TERM -f bridge-echo-mpsc-old-signals   # nothing happens
//! ```
//!
//! # Why this is a pitfall
//!
//! Nothing fails at start-up or under load: the suite's echo checks pass, and only
//! the checks that stop the server fail (`sigterm`, `sigint`; documented in its
//! `Cargo.toml`). Anything of tokio-core that needs the `Core` to turn
//! behaves this way once the executor is tokio 1's: tasks given to `Handle::spawn`,
//! `Timeout` and `Interval` (the `Core`'s timer), tokio-signal. Step 2 moves the
//! signals with the executor, to tokio 1's `signal`, and leaves only the socket,
//! which needs no more than tokio 0.1's reactor thread.

// The workspace pins the compat layer under a key of its own (`futures-compat`), since
// `futures` names the modern crate there; in this crate it is `futures`, as in the
// code this one becomes. futures 0.1 is `futures01`.
extern crate futures_compat as futures;

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::task::Poll;

use futures::compat::{Compat01As03, Future01CompatExt, Stream01CompatExt};
use futures::{FutureExt, StreamExt};
use futures01::sync::mpsc::{self, Receiver, Sender};
use futures01::{Async, Future as _, Stream as _};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, QueueBytes, SourceRule, RECV_BUFFER};
use shared::event::{emit, Event, Proto};
use tokio::runtime::Builder;
use tokio_core::net::UdpSocket;
use tokio_core::reactor::Core;
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Datagrams read before the reader yields, so that a flood cannot keep the writer
/// (in the same task) and the shutdown signal waiting forever.
const BUDGET: usize = 256;

/// SIGINT or SIGTERM: the futures 0.1 stream of tokio-signal, as a futures 0.3 one —
/// left as it was in step 1. Its items come from a driver task on the `Core`.
type Shutdown = Compat01As03<Box<dyn futures01::Stream<Item = i32, Error = io::Error>>>;

/// One echo waiting to be sent.
type Echo = (Vec<u8>, SocketAddr);

/// Receives datagrams and queues their echoes; returns its counts once a shutdown
/// signal arrives, dropping its `Sender` so that the writer sees the end.
struct Reader {
    socket: Rc<UdpSocket>,
    buf: Vec<u8>,
    queue: Option<Sender<Echo>>,
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
        let Some(queue) = self.queue.as_mut() else {
            return;
        };
        // Full: the writer has `--queue` echoes pending, or their bytes would pass the
        // bound. (The receiver cannot be gone: the writer only finishes after this
        // sender is dropped.)
        let queued = self.bytes.take(len) && {
            let sent = queue.try_send((self.buf[..len].to_vec(), peer)).is_ok();
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

    /// Stops reading; dropping the sender lets the writer drain and finish.
    fn stop(&mut self) -> EchoCounts {
        self.queue = None;
        self.counts
    }

    async fn run(mut self) -> io::Result<EchoCounts> {
        loop {
            for _ in 0..BUDGET {
                let (len, peer) = futures::select_biased! {
                    // The socket first: while datagrams are waiting, the signal is not
                    // polled (polling it registers the task, per datagram).
                    received = recv_from(&self.socket, &mut self.buf).fuse() => match received {
                        Ok(received) => received,
                        // A per-datagram error (an ICMP report, say) concerns one peer only.
                        Err(e) => {
                            eprintln!("recv_from: {e}");
                            continue;
                        }
                    },
                    signal = self.shutdown.next().fuse() => {
                        signal.transpose()?;
                        return Ok(self.stop());
                    }
                };
                self.received(len, peer);
            }
            // Budget spent with datagrams still coming: the signal gets its turn (as at
            // the top of the old `poll`), then the writer, by yielding to the executor.
            if let Poll::Ready(signal) = futures::poll!(self.shutdown.next()) {
                signal.transpose()?;
                return Ok(self.stop());
            }
            yield_now().await;
        }
    }
}

/// Sends the queued echoes; returns its counts when the channel is closed and
/// empty.
struct Writer {
    socket: Rc<UdpSocket>,
    /// The futures 0.1 receiver, as a futures 0.3 stream.
    queue: Compat01As03<Receiver<Echo>>,
    bytes: QueueBytes,
    quiet: bool,
    counts: EchoCounts,
}

impl Writer {
    async fn run(mut self) -> EchoCounts {
        // The echo being sent is a local now, kept across the `.await` below: no
        // `current` field to hold it between polls.
        while let Some(Ok((bytes, peer))) = self.queue.next().await {
            match send_to(&self.socket, &bytes, &peer).await {
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
        // `None`, or `Some(Err(()))`, which futures 0.1 mpsc receivers never yield.
        self.counts
    }
}

/// tokio-core's `recv_from` as a futures 0.1 future, awaited through the compat
/// layer. `WouldBlock` means tokio-core has registered the current 0.1 task, which
/// `Compat01As03` made from this async fn's `Waker`: `NotReady` until woken.
async fn recv_from(socket: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    futures01::future::poll_fn(|| would_block(socket.recv_from(buf)))
        .compat()
        .await
}

/// tokio-core's `send_to`, likewise.
async fn send_to(socket: &UdpSocket, bytes: &[u8], peer: &SocketAddr) -> io::Result<usize> {
    futures01::future::poll_fn(|| would_block(socket.send_to(bytes, peer)))
        .compat()
        .await
}

/// An old non-blocking call as a futures 0.1 poll: `WouldBlock` is `NotReady`.
fn would_block<T>(result: io::Result<T>) -> futures01::Poll<T, io::Error> {
    match result {
        Ok(t) => Ok(Async::Ready(t)),
        Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Async::NotReady),
        Err(e) => Err(e),
    }
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
    // Still made, for the `Handle` the old socket is bound with, and kept until the
    // end, but never run: it owns the tokio 0.1 runtime whose reactor, on a thread of
    // its own, finds the socket's readiness.
    let core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let result = runtime.block_on(serve(args, &core));
    drop(core);
    result
}

/// Everything that ran on the event loop, now on the runtime.
async fn serve(args: &shared::cli::Args, core: &Core) -> Result<(), String> {
    let handle = core.handle();
    let socket = UdpSocket::bind(&args.bind, &handle).map_err(|e| bind_error(args.bind, &e))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler. The handler is
    // installed now; what forwards the signal to the streams is a task that
    // `Signal::new` spawns on the `Core` — which this program never runs.
    let sigint = Signal::new(SIGINT, &handle).flatten_stream();
    let sigterm = Signal::new(SIGTERM, &handle).flatten_stream();
    let signals: Box<dyn futures01::Stream<Item = i32, Error = io::Error>> =
        Box::new(sigint.select(sigterm));
    let shutdown = signals.compat();
    emit(&Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    // futures 0.1 channels hold `buffer + 1` messages per sender: one sender and a
    // buffer of `queue - 1` give exactly `--queue` pending echoes.
    let (tx, rx) = mpsc::channel(args.queue - 1);
    let bytes = QueueBytes::new(args.queue);
    let socket = Rc::new(socket);
    let reader = Reader {
        socket: socket.clone(),
        buf: vec![0; RECV_BUFFER],
        queue: Some(tx),
        bytes: bytes.clone(),
        sources: SourceRule::for_server(args, local),
        quiet: args.quiet,
        shutdown,
        counts: EchoCounts::default(),
    };
    let writer = Writer {
        socket,
        queue: rx.compat(),
        bytes,
        quiet: args.quiet,
        counts: EchoCounts::default(),
    };
    // One task, as before: `join` polls both halves whenever either is woken; tokio 1
    // runs the futures 0.3 future as it is, no `.compat()` around it.
    let (read, written) = futures::join!(reader.run(), writer.run());
    let read = read.map_err(|e| e.to_string())?;
    let counts = EchoCounts {
        recv: read.recv,
        sent: written.sent,
        dropped: read.dropped + written.dropped,
        refused: read.refused,
    };
    emit(&counts.summary());
    Ok(())
}
