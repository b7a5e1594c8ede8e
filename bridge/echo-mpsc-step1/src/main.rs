//! UDP echo server, migration step 1 of 3: the reader and the writer written as
//! async/await on futures 0.3, still run by tokio-core's `Core` through the compat
//! layer.
//!
//! The same server as `legacy/echo-mpsc`: the reader receives datagrams and pushes them
//! into a bounded futures 0.1 `mpsc` channel; the writer pops them and sends the
//! echoes; both hold the same socket (`Rc<UdpSocket>`) and run inside *one* task,
//! joined. What changed is only how the two halves are written: each hand-written
//! `impl Future` is now an `async fn run`, and everything they wait on is still of the
//! old stack, awaited through futures 0.3's compat layer.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p bridge-echo-mpsc-step1
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
//! # What this step does, and why it is safe
//!
//! The code changes shape; the runtime does not. Each hand-written `impl Future`
//! becomes an `async fn run` on futures 0.3, and everything it waits on is still of
//! the old stack — tokio-core's socket, tokio-signal's stream, the futures 0.1 channel
//! — awaited through `Compat01As03`; the joined async fns go back to `Core::run` as a
//! futures 0.1 future through `.compat()`. It is safe because nothing that runs the
//! code or finds readiness changes: the same executor polls the same one task, and the
//! compat layer turns each old `task::current()` registration into a wake-up of the
//! async fn.
//!
//! Two adapters join the old and the new:
//!
//! * `.compat()` on a futures 0.1 future or stream (`Future01CompatExt`,
//!   `Stream01CompatExt`) gives a futures 0.3 one (`Compat01As03`) that async code can
//!   `.await`. When the old future parks, it calls `task::current()`; `Compat01As03`
//!   has made that 0.1 task out of the 0.3 `Waker`, so the old reactor's `notify`
//!   wakes the async fn.
//! * `.compat()` on a futures 0.3 future (`TryFutureExt::compat`) gives a futures
//!   0.1 one (`Compat`) that `Core::run` can drive, as long as its output is a
//!   `Result` and it is `Unpin` (a 0.1 future may be moved between polls): hence
//!   `Box::pin(…)` around the joined async fns.
//!
//! Nothing observable changes, so the suite's checks pass as they do for the legacy
//! program, and every later step is a change of one layer under code that is already
//! async. What the old `poll` did implicitly has to be said explicitly: tokio-core's
//! `recv_from` returns `WouldBlock` *and registers the current task*, which becomes a
//! small `poll_fn` future per call (`recv_from`, `send_to` below); the reader's
//! `BUDGET` stays, because no cooperative budget makes a flooded `recv_from` yield on
//! this runtime.
//!
//! # In the wrong order
//!
//! Switching the executor first (tokio 1's `block_on` around the legacy futures) does
//! not compile without this step's adapters, and adding them *is* this step. Moving the
//! I/O first does: a tokio 1 `UdpSocket` made inside `Core::run` panics at once with
//! "there is no reactor running, must be called from the context of a Tokio 1.x
//! runtime" — tokio 1 resources need their runtime, and `Core::run` is not one. The
//! other way round works for the socket (step 2) but not for everything (see step 2).

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
use futures::{FutureExt, StreamExt, TryFutureExt};
use futures01::sync::mpsc::{self, Receiver, Sender};
use futures01::{Async, Future as _, Stream as _};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, QueueBytes, SourceRule, RECV_BUFFER};
use shared::event::{emit, Event, Proto};
use tokio_core::net::UdpSocket;
use tokio_core::reactor::Core;
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Datagrams read before the reader yields, so that a flood cannot keep the writer
/// (in the same task) and the shutdown signal waiting forever.
const BUDGET: usize = 256;

/// SIGINT or SIGTERM: the futures 0.1 stream of tokio-signal, as a futures 0.3 one.
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
    let mut core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let handle = core.handle();
    let socket = UdpSocket::bind(&args.bind, &handle).map_err(|e| bind_error(args.bind, &e))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler. tokio-signal turns
    // them into readiness on a self-pipe that the event loop watches.
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
    // One task, as before: `join` polls both halves whenever either is woken. The
    // joined async fns are a futures 0.3 future; boxed and pinned (so `Unpin`) and
    // made a futures 0.1 one with `.compat()`, they are what `Core::run` drives.
    let serve = async {
        let (read, written) = futures::join!(reader.run(), writer.run());
        Ok::<_, io::Error>((read?, written))
    };
    let (read, written) = core
        .run(Box::pin(serve).compat())
        .map_err(|e| e.to_string())?;
    let counts = EchoCounts {
        recv: read.recv,
        sent: written.sent,
        dropped: read.dropped + written.dropped,
        refused: read.refused,
    };
    emit(&counts.summary());
    Ok(())
}
