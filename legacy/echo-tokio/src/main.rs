//! UDP echo server on tokio-core 0.1: one hand-written `Future` that reads and writes.
//!
//! tokio-core's own `echo-udp` example flip-flops: while it waits to send an echo it
//! cannot read. This server multiplexes instead. One future owns the socket and a
//! bounded queue of pending echoes; each time it is polled it sends what it can, then
//! reads what it can, and returns `NotReady`. Which readiness the task is woken for is
//! implicit: tokio-core's `recv_from`/`send_to` return `WouldBlock` *and* register the
//! current task for that direction, so the future never names its interest.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p legacy-echo-tokio
//! nc -u 127.0.0.1 2000
//! ```
//!
//! Every datagram is echoed byte for byte (up to 65,507 bytes), except one whose
//! source port could start an echo loop (below 1024, or the server's own): that one
//! is read and refused (`refused … could loop`; `--allow-any-source-port` turns the
//! rule off for experiments). At most `--queue`
//! echoes wait to be sent, and a datagram that arrives when the queue is full is read
//! and dropped (`dropped … queue full`). SIGINT or SIGTERM stops reading, sends what
//! is queued, prints `summary recv=R sent=S dropped=D refused=F` and exits 0.
//!
//! # On several threads
//!
//! With `--threads N` it runs N such servers, one per thread, each with a `Core` and
//! a socket of its own: a `Core`'s `Handle` is not `Send`, so nothing of one loop can
//! cross to another thread. The sockets share the port (SO_REUSEPORT, set through
//! net2 before the bind), and the kernel hands each client to one of them, always
//! the same: each client's echoes still leave in order, and a busy client keeps one
//! thread busy while another may idle. `shared::cores` prints one `listening` line
//! once every `Core` watches the signals, and one summary of all their counts.
//!
//! ```text
//! cargo run -p legacy-echo-tokio -- --threads 2
//! nc -u 127.0.0.1 2000
//! ```

use std::io;
use std::net::{SocketAddr, UdpSocket as StdUdpSocket};

use futures::{Async, Future, Poll, Stream};
use net2::unix::UnixUdpBuilderExt;
use net2::UdpBuilder;
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::cores::{self, Ready};
use shared::echo::{self, EchoCounts, EchoQueue};
use shared::event::{emit, Event, Proto};
use tokio_core::net::UdpSocket;
use tokio_core::reactor::Core;
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Datagrams handled per poll before the future yields, so that one busy socket
/// cannot keep the event loop (and the shutdown signal) waiting forever.
const BUDGET: usize = 256;

type Shutdown = Box<dyn Stream<Item = i32, Error = io::Error>>;

struct Server {
    socket: UdpSocket,
    queue: EchoQueue,
    quiet: bool,
    shutdown: Shutdown,
    stopping: bool,
}

impl Server {
    /// Sends queued echoes until the queue is empty or the socket would block.
    fn flush(&mut self) {
        while let Some((bytes, peer)) = self.queue.front() {
            match self.socket.send_to(bytes, &peer) {
                Ok(_) => {
                    let (len, to) = self.queue.pop_sent().expect("front exists");
                    if !self.quiet {
                        emit(&echo::sent_event(len, to));
                    }
                }
                // tokio-core registered this task for writability before returning.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    let (len, from) = self.queue.pop_failed().expect("front exists");
                    emit(&echo::send_failed_event(len, from, &e));
                }
            }
        }
    }

    /// Reads one datagram into the queue; `false` when the socket would block.
    fn read_one(&mut self) -> bool {
        match self.socket.recv_from(self.queue.recv_buffer()) {
            Ok((len, peer)) => {
                self.queue.received(len, peer, self.quiet);
                true
            }
            // tokio-core registered this task for readability before returning.
            Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                // A per-datagram error (an ICMP report, say) concerns one peer only.
                eprintln!("recv_from: {e}");
                true
            }
        }
    }
}

impl Future for Server {
    type Item = EchoCounts;
    type Error = io::Error;

    fn poll(&mut self) -> Poll<EchoCounts, io::Error> {
        if !self.stopping {
            if let Async::Ready(_) = self.shutdown.poll()? {
                self.stopping = true;
            }
        }
        for _ in 0..BUDGET {
            self.flush();
            if self.stopping {
                // Stop reading; finish once every queued echo has been sent.
                return Ok(if self.queue.is_empty() {
                    Async::Ready(self.queue.counts())
                } else {
                    Async::NotReady
                });
            }
            if !self.read_one() {
                return Ok(Async::NotReady);
            }
        }
        // Budget spent with work left: ask to be polled again after the event loop
        // has had its turn.
        futures::task::current().notify();
        Ok(Async::NotReady)
    }
}

fn main() {
    let spec = Spec::udp_echo(env!("CARGO_BIN_NAME")).with_threads();
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

/// The server of one thread: its own `Core`, its socket, its signal streams.
fn serve(args: &Args, socket: StdUdpSocket, ready: Ready) -> Result<EchoCounts, String> {
    let mut core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let handle = core.handle();
    let socket = UdpSocket::from_socket(socket, &handle).map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal
    // sent as soon as `listening` is read already finds its handler.
    // tokio-signal turns them into readiness on a self-pipe that every `Core` with
    // a `Signal` stream watches.
    let sigint = Signal::new(SIGINT, &handle).flatten_stream();
    let sigterm = Signal::new(SIGTERM, &handle).flatten_stream();
    let shutdown: Shutdown = Box::new(sigint.select(sigterm));
    // Printed once every thread's `Core` is ready (`shared::cores`).
    ready.listening(Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    let server = Server {
        socket,
        queue: EchoQueue::for_server(args, local),
        quiet: args.quiet,
        shutdown,
        stopping: false,
    };
    core.run(server).map_err(|e| e.to_string())
}

fn run(args: &Args) -> Result<(), String> {
    // A `Core` stays on the thread that made it (its `Handle` is not `Send`): N cores
    // take N `Core`s on N threads, each a server with its own socket on the port.
    let sockets = cores::bind_each(args.bind, args.threads, bind, StdUdpSocket::local_addr)
        .map_err(|e| bind_error(args.bind, &e))?;
    let args = args.clone();
    let counts =
        cores::serve_on_threads(sockets, move |socket, ready| serve(&args, socket, ready))?;
    let counts: EchoCounts = counts.into_iter().sum();
    emit(&counts.summary());
    Ok(())
}

/// A socket on `addr`, made with net2 as mio made its own: SO_REUSEPORT (for several
/// threads: `shared::cores` says when) must be set before the bind, which std does as
/// it creates.
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<StdUdpSocket> {
    let builder = match addr {
        SocketAddr::V4(_) => UdpBuilder::new_v4()?,
        SocketAddr::V6(_) => UdpBuilder::new_v6()?,
    };
    builder.reuse_port(reuse_port)?;
    builder.bind(addr)
}
