//! UDP echo server, migration step 3 of 3: tokio 1's socket; the futures 0.1 `mpsc`
//! channel between the reader and the writer is all that is left of the old stack,
//! used through the compat layer.
//!
//! The same server as `legacy/echo-mpsc` and steps 1 and 2: the reader receives
//! datagrams and pushes them into a bounded futures 0.1 `mpsc` channel; the writer
//! pops them and sends the echoes; both hold the same socket (`Rc<UdpSocket>`:
//! tokio's UDP I/O takes `&self`) and run inside *one* task, joined.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p bridge-echo-mpsc-step3
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
//! The I/O changes: the socket is tokio 1's, and tokio-core, its `Core` and its
//! reactor thread go, with the adapters around the old socket and the reader's
//! `BUDGET`. It is safe because the executor already is tokio 1's, which the new
//! socket needs, and what is left of the old stack, the futures 0.1 channel, works on
//! any executor through the compat layer.
//!
//! Readiness is now found by the runtime's own driver on the runtime's thread (no
//! thread hop per event any more). The adapters that awaited the old socket
//! (`recv_from`/`send_to` as `poll_fn` futures) give way to the socket's own
//! `recv_from(..).await`; `BUDGET` and `yield_now` go because tokio 1's socket counts
//! against tokio's cooperative budget, so a flooded `recv_from` returns `Pending`
//! after a while and the signal, then the writer, get their turn. The async fns keep
//! their shape.
//!
//! The futures 0.1 channel stays, its receiver awaited through `Compat01As03`: the
//! piece of old code a real migration keeps longest is often such a channel, shared
//! with code not yet ported, and it works on any executor. Each time the writer waits
//! on it, the compat layer makes a 0.1 task out of the waker — the cost that is left
//! in this step. The modern program replaces it with tokio's `mpsc`, and only then
//! splits the halves into two tasks: that change of shape is the lesson of the pair,
//! and it is the tokio 1 socket (any number of waiters per direction) that allows it.
//!
//! # In the wrong order
//!
//! The socket could not have moved before the executor (a tokio 1 socket inside
//! `Core::run` panics: "there is no reactor running, must be called from the context
//! of a Tokio 1.x runtime"). Dropping the `BUDGET` before the socket is tokio 1's
//! would let a flood starve the signal and the writer: nothing would make the old
//! socket's `recv_from` return `Pending` while datagrams keep coming. The channel can
//! move at any step (futures 0.3 and tokio channels work on either executor).

// The workspace pins the compat layer under a key of its own (`futures-compat`), since
// `futures` names the modern crate there; in this crate it is `futures`, as in the
// code this one becomes. futures 0.1 is `futures01`.
extern crate futures_compat as futures;

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use futures::compat::{Compat01As03, Stream01CompatExt};
use futures::StreamExt;
use futures01::sync::mpsc::{self, Receiver, Sender};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, QueueBytes, SourceRule, RECV_BUFFER};
use shared::event::{emit, Event, Proto};
use tokio::net::UdpSocket;
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};

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
    socket: Rc<UdpSocket>,
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

    async fn run(mut self) -> EchoCounts {
        loop {
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
    socket: Rc<UdpSocket>,
    /// The futures 0.1 receiver, as a futures 0.3 stream.
    queue: Compat01As03<Receiver<Echo>>,
    bytes: QueueBytes,
    quiet: bool,
    counts: EchoCounts,
}

impl Writer {
    async fn run(mut self) -> EchoCounts {
        // The echo being sent is a local, kept across the `.await` below.
        while let Some(Ok((bytes, peer))) = self.queue.next().await {
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
        // `None`, or `Some(Err(()))`, which futures 0.1 mpsc receivers never yield.
        self.counts
    }
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
    runtime.block_on(serve(args))
}

/// Everything that ran on the event loop, now on the runtime.
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

    // futures 0.1 channels hold `buffer + 1` messages per sender: one sender and a
    // buffer of `queue - 1` give exactly `--queue` pending echoes.
    let (tx, rx) = mpsc::channel(args.queue - 1);
    let bytes = QueueBytes::new(args.queue);
    let socket = Rc::new(socket);
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
        queue: rx.compat(),
        bytes,
        quiet: args.quiet,
        counts: EchoCounts::default(),
    };
    // One task, as before: `join` polls both halves whenever either is woken.
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
