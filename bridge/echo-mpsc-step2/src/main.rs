//! UDP echo server, migration step 2 of 3: the same async code on a tokio 1 runtime,
//! with tokio 1's signals; the socket is still tokio-core's, driven by the reactor
//! tokio-core runs on a thread of its own.
//!
//! The same server as `legacy/echo-mpsc` and step 1: the reader receives datagrams and
//! pushes them into a bounded futures 0.1 `mpsc` channel; the writer pops them and
//! sends the echoes; both hold the same socket (`Rc<UdpSocket>`) and run inside *one*
//! task, joined. What changed is the executor: the joined async fns are given to a
//! tokio 1 current-thread runtime (`block_on`) instead of `Core::run`.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p bridge-echo-mpsc-step2
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
//! The executor changes; the I/O does not. tokio 1's `block_on` runs the async fns of
//! step 1 unchanged, and tokio-core's socket keeps working under it, because
//! tokio-core 0.1.18 finds readiness on a reactor thread of its own, which needs no
//! `Core::run`. The signals move to tokio 1 in the same step: tokio-signal 0.1
//! delivers them through a task on the `Core`, which nobody runs any more.
//!
//! The adapters that await tokio-core's socket and the futures 0.1 channel stay as
//! they were (`Compat01As03` makes a 0.1 task out of whatever `Waker` polls it: a
//! tokio 1 one now). Only the outermost `.compat()` goes: tokio 1 takes the futures
//! 0.3 future itself.
//!
//! That the old socket still works here is not luck, and it is the reason this step
//! is safe: tokio-core 0.1.18 is a shim over tokio 0.1, and `Core::new` starts tokio
//! 0.1's reactor on a thread of its own (the `Runtime::reactor` handle of tokio 0.1
//! runs in the background). The socket's readiness is found by that thread, which
//! `notify`s the 0.1 task that registered, which wakes the tokio 1 task through the
//! compat layer. So the `Core` is created as before, for its `Handle`, and kept
//! alive, but never run. This is how real migrations kept old I/O working under a
//! new executor: the old reactor on a thread of its own (tokio-compat did the same
//! for tokio 0.1 with a background reactor and timer). Each readiness event now
//! crosses threads — the reactor thread wakes the runtime's thread — which is the
//! cost of this step (the book's "What each step costs" measures it).
//!
//! Whatever needs the `Core` itself to turn must move with the executor, in this
//! same step:
//!
//! * tokio-signal 0.1 delivers signals through a driver task it `spawn`s on the
//!   `Core` (`Handle::spawn`): a `Core` that is never run never polls it, so SIGINT
//!   and SIGTERM would be caught and then ignored. The signals are tokio 1's here
//!   (`Shutdown`, as the modern program has it). `echo-mpsc-old-signals`
//!   is this step with tokio-signal kept: the suite shows it ignoring SIGTERM.
//! * tokio-core's `Timeout` and `Interval` run on the `Core`'s timer, which only
//!   turns inside `Core::run` (this program has none; `ident-service`'s ladder
//!   does, and `ident-service-old-timer` shows a timeout that never fires).
//! * `Handle::spawn` queues tasks that only `Core::run` starts.
//!
//! The reader keeps its `BUDGET`: tokio 1's cooperative budget only counts tokio 1
//! resources, and the old socket is not one, so a flooded `recv_from` still never
//! returns `Pending` by itself.
//!
//! # In the wrong order
//!
//! Moving the socket before the executor (a tokio 1 `UdpSocket` inside `Core::run`)
//! panics with "there is no reactor running, must be called from the context of a
//! Tokio 1.x runtime". Moving the executor but not the signals leaves a server that
//! cannot be stopped but by SIGKILL (`echo-mpsc-old-signals`).

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
use futures01::Async;
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, QueueBytes, SourceRule, RECV_BUFFER};
use shared::event::{emit, Event, Proto};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio_core::net::UdpSocket;
use tokio_core::reactor::Core;

/// Datagrams read before the reader yields, so that a flood cannot keep the writer
/// (in the same task) and the shutdown signal waiting forever.
const BUDGET: usize = 256;

/// SIGINT and SIGTERM, either of which asks the server to stop. tokio 1's signals:
/// tokio-signal 0.1 delivers through a task on the `Core`, which nobody runs now.
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

    async fn run(mut self) -> EchoCounts {
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
                    _ = self.shutdown.recv().fuse() => return self.stop(),
                };
                self.received(len, peer);
            }
            // Budget spent with datagrams still coming: the signal gets its turn (as at
            // the top of the old `poll`), then the writer, by yielding to the executor.
            let signal = futures::poll!(std::pin::pin!(self.shutdown.recv()));
            if signal.is_ready() {
                return self.stop();
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
    // as soon as `listening` is read already finds its handler.
    let shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
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
    let counts = EchoCounts {
        recv: read.recv,
        sent: written.sent,
        dropped: read.dropped + written.dropped,
        refused: read.refused,
    };
    emit(&counts.summary());
    Ok(())
}
