//! UDP echo server on tokio-core 0.1: a reader and a writer future joined by an mpsc queue.
//!
//! The reader receives datagrams and pushes them into a bounded futures 0.1 `mpsc`
//! channel; the writer pops them and sends the echoes. Both hold the same socket
//! (`Rc<UdpSocket>`, since tokio-core's I/O takes `&self`), and both run inside *one*
//! task: they are `join`ed into a single future given to `Core::run`.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p legacy-echo-mpsc
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
//! # Why one task
//!
//! tokio-core 0.1.18 registers a socket with tokio-reactor 0.1, whose registration
//! keeps one slot for the task waiting to read and one for the task waiting to write.
//! A reader task and a writer task of their own would therefore have worked: one
//! waiter per direction is exactly what that allows ("at most two future tasks … one
//! on reading and one on writing", says tokio-core's `PollEvented`). What it cannot
//! hold is a second task waiting in the *same* direction: its registration replaces
//! the first, and the task replaced sleeps while its socket is ready ("lost
//! notifications and tasks hanging", in tokio-reactor's words). Nothing in the types
//! keeps that rule: `Rc<UdpSocket>` lends its `&self` I/O to any number of futures.
//! So code of the time kept the halves of a socket in one task, as tokio-core's own
//! `proxy` example joins its two copies, and so does this program: in one task, one
//! waiter per direction holds by construction. The price is that a wake-up of either
//! half polls both.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use futures::sync::mpsc::{self, Receiver, Sender};
use futures::{Async, Future, Poll, Stream};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, QueueBytes, SourceRule, RECV_BUFFER};
use shared::event::{emit, Event, Proto};
use tokio_core::net::UdpSocket;
use tokio_core::reactor::Core;
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Datagrams read per poll before the reader yields, so that a flood cannot keep the
/// writer (in the same task) and the shutdown signal waiting forever.
const BUDGET: usize = 256;

type Shutdown = Box<dyn Stream<Item = i32, Error = io::Error>>;

/// One echo waiting to be sent.
type Echo = (Vec<u8>, SocketAddr);

/// Receives datagrams and queues their echoes; resolves to its counts once a
/// shutdown signal arrives, dropping its `Sender` so that the writer sees the end.
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
}

impl Future for Reader {
    type Item = EchoCounts;
    type Error = io::Error;

    fn poll(&mut self) -> Poll<EchoCounts, io::Error> {
        if let Async::Ready(_) = self.shutdown.poll()? {
            // Stop reading; dropping the sender lets the writer drain and finish.
            self.queue = None;
            return Ok(Async::Ready(self.counts));
        }
        for _ in 0..BUDGET {
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, peer)) => self.received(len, peer),
                // tokio-core registered this task for readability before returning.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Async::NotReady),
                // A per-datagram error (an ICMP report, say) concerns one peer only.
                Err(e) => eprintln!("recv_from: {e}"),
            }
        }
        futures::task::current().notify();
        Ok(Async::NotReady)
    }
}

/// Sends the queued echoes; resolves to its counts when the channel is closed and
/// empty.
struct Writer {
    socket: Rc<UdpSocket>,
    queue: Receiver<Echo>,
    current: Option<Echo>,
    bytes: QueueBytes,
    quiet: bool,
    counts: EchoCounts,
}

impl Future for Writer {
    type Item = EchoCounts;
    type Error = io::Error;

    fn poll(&mut self) -> Poll<EchoCounts, io::Error> {
        loop {
            if self.current.is_none() {
                match self.queue.poll() {
                    Ok(Async::Ready(Some(echo))) => self.current = Some(echo),
                    Ok(Async::Ready(None)) => return Ok(Async::Ready(self.counts)),
                    Ok(Async::NotReady) => return Ok(Async::NotReady),
                    Err(()) => unreachable!("futures 0.1 mpsc receivers never fail"),
                }
            }
            let Some((bytes, peer)) = self.current.as_ref() else {
                continue;
            };
            match self.socket.send_to(bytes, peer) {
                Ok(_) => {
                    self.counts.sent += 1;
                    if !self.quiet {
                        emit(&echo::sent_event(bytes.len(), *peer));
                    }
                }
                // tokio-core registered this task for writability before returning.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Async::NotReady),
                Err(e) => {
                    self.counts.dropped += 1;
                    emit(&echo::send_failed_event(bytes.len(), *peer, &e));
                }
            }
            self.bytes.give_back(bytes.len());
            self.current = None;
        }
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
    let mut core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let handle = core.handle();
    let socket = UdpSocket::bind(&args.bind, &handle).map_err(|e| bind_error(args.bind, &e))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler. tokio-signal turns
    // them into readiness on a self-pipe that the event loop watches.
    let sigint = Signal::new(SIGINT, &handle).flatten_stream();
    let sigterm = Signal::new(SIGTERM, &handle).flatten_stream();
    let shutdown: Shutdown = Box::new(sigint.select(sigterm));
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
        queue: rx,
        current: None,
        bytes,
        quiet: args.quiet,
        counts: EchoCounts::default(),
    };
    // One task: `join` polls both halves whenever either is woken.
    let (read, written) = core.run(reader.join(writer)).map_err(|e| e.to_string())?;
    let counts = EchoCounts {
        recv: read.recv,
        sent: written.sent,
        dropped: read.dropped + written.dropped,
        refused: read.refused,
    };
    emit(&counts.summary());
    Ok(())
}
