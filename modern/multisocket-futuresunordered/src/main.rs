//! N UDP sockets on tokio 1: one future per socket in a `FuturesUnordered`.
//!
//! Each socket gets a hand-written `Receiver` future that prints what arrives; the
//! receivers go into a futures 0.3 `FuturesUnordered`, a stream of their completions,
//! driven by `try_for_each` in one task of the runtime. Like a join, it keeps every
//! receiver in one task; unlike a join, it polls only the receivers that asked to be:
//! it polls each child with a waker of its own, so a wake-up from socket k puts child
//! k on its ready queue before waking the task. Each receiver prints `poll future #i`
//! whenever it is polled, which makes that visible.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-multisocket-futuresunordered
//! echo hello | nc -u -w1 127.0.0.1 2004
//! ```
//!
//! `--sockets N` (default 10) sockets are bound on consecutive ports from `--bind`
//! (default 127.0.0.1:2000; port 0 gives each socket an ephemeral port), announced as
//! `listening udp ADDR` in socket order. Each datagram prints `recv N bytes from PEER
//! at LOCAL`; nothing is sent back. A datagram to socket 4 prints one `poll future
//! #4` line, whatever the number of sockets. SIGINT or SIGTERM prints `summary
//! recv=R` and exits 0. A socket whose receive fails ends the stream, and with it the
//! program (`try_for_each` stops at the first error).
//! `--quiet` leaves out the `recv` and `poll future` lines (for benchmarks).
//!
//! # Migration
//!
//! * futures 0.1 `FuturesUnordered` becomes futures 0.3 `FuturesUnordered`, same idea:
//!   the per-child `NotifyHandle` of 0.1 is a per-child `Waker` in 0.3. The stream
//!   items are now `io::Result<()>` (0.3 streams have no error channel), so `for_each`
//!   over a fallible stream becomes `TryStreamExt::try_for_each`.
//! * `impl Future for Receiver` keeps its shape: `poll(&mut self)` becomes
//!   `poll(self: Pin<&mut Self>, cx: &mut Context)`, `Async::NotReady` becomes
//!   `Poll::Pending`, and the implicit current task becomes the explicit `cx`.
//! * tokio-core's `recv_from` returning `WouldBlock` (and registering the current task)
//!   becomes `poll_recv_from(cx, &mut ReadBuf)`, which registers `cx`'s waker and
//!   returns `Pending`.
//! * `task::current().notify()` after the budget becomes `cx.waker().wake_by_ref()`.
//! * The hand-written `Server` future that polled the signals and then the stream
//!   becomes a `select!` between the two in an `async` block.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::future;
use futures::stream::{FuturesUnordered, TryStreamExt};
use shared::cli::{bind_error, exit_startup_error, multisocket_addrs, Args, Spec};
use shared::echo::RECV_BUFFER;
use shared::event::{emit, Counts, Event, Proto};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Datagrams read per poll before a receiver yields, so that one busy socket cannot
/// keep the others (and the shutdown signal) waiting forever.
const BUDGET: usize = 256;

/// SIGINT and SIGTERM, either of which asks the program to stop.
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

/// Receives on one socket and prints what arrives. It never completes: it ends only
/// with an error of its socket.
struct Receiver {
    index: usize,
    socket: UdpSocket,
    local: SocketAddr,
    buf: Vec<u8>,
    quiet: bool,
    received: Rc<Cell<u64>>,
}

impl Receiver {
    fn received(&mut self, len: usize, from: SocketAddr) {
        self.received.set(self.received.get() + 1);
        if !self.quiet {
            emit(&Event::Recv {
                len,
                from,
                at: Some(self.local),
            });
        }
    }

    fn failed(&self, e: io::Error) -> io::Error {
        io::Error::new(
            e.kind(),
            format!("socket #{} at {}: recv_from: {e}", self.index, self.local),
        )
    }
}

impl Future for Receiver {
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // The lesson: one line per call of this method.
        if !this.quiet {
            emit(&Event::PollFuture { index: this.index });
        }
        for _ in 0..BUDGET {
            let mut buf = ReadBuf::new(&mut this.buf);
            match this.socket.poll_recv_from(cx, &mut buf) {
                Poll::Ready(Ok(from)) => {
                    let len = buf.filled().len();
                    this.received(len, from);
                }
                // tokio registered `cx`'s waker for readability before returning.
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(ref e)) if e.kind() == io::ErrorKind::Interrupted => {}
                // An unconnected UDP socket gets no ICMP reports: an error here is the
                // socket's own, not one peer's.
                Poll::Ready(Err(e)) => return Poll::Ready(Err(this.failed(e))),
            }
        }
        // Budget spent with datagrams left: ask to be polled again after the runtime
        // has had its turn.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn main() {
    let spec = Spec::multisocket(env!("CARGO_BIN_NAME"));
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
        let mut sockets = Vec::new();
        for addr in multisocket_addrs(args.bind, args.sockets)? {
            let socket = UdpSocket::bind(addr)
                .await
                .map_err(|e| bind_error(addr, &e))?;
            let local = socket.local_addr().map_err(|e| e.to_string())?;
            sockets.push((socket, local));
        }
        // Catch SIGINT and SIGTERM before announcing the sockets, so that a signal
        // sent as soon as `listening` is read already finds its handler.
        let mut shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
        for (_, local) in &sockets {
            emit(&Event::Listening {
                proto: Proto::Udp,
                addr: *local,
            });
        }

        let received = Rc::new(Cell::new(0));
        let receivers: FuturesUnordered<Receiver> = sockets
            .into_iter()
            .enumerate()
            .map(|(index, (socket, local))| Receiver {
                index,
                socket,
                local,
                buf: vec![0; RECV_BUFFER],
                quiet: args.quiet,
                received: received.clone(),
            })
            .collect();
        // The stream yields each receiver's completion; there is nothing to do with
        // one. `FuturesUnordered` polls only the receivers whose own waker was woken
        // since the last poll: one `poll future` line per datagram.
        let receivers = receivers.try_for_each(|()| future::ready(Ok(())));
        tokio::select! {
            ended = receivers => { ended.map_err(|e| e.to_string())?; }
            _ = shutdown.recv() => {}
        }
        emit(&Event::Summary(Counts(vec![(
            "recv".into(),
            received.get(),
        )])));
        Ok(())
    })
}
