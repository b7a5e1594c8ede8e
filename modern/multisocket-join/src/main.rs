//! N UDP sockets on tokio 1: one future per socket, all joined into one task.
//!
//! Each socket gets a hand-written `Receiver` future that prints what arrives, and
//! futures 0.3's `try_join_all` combines them into a single future run by the
//! runtime. Up to 30 futures, that joined future polls *every* receiver whenever the
//! task is woken, as futures 0.1 did: a wake-up for socket k polls them all. Above 30
//! (`futures_util::future::join_all::SMALL`, decided from the iterator's size hint),
//! `join_all` and `try_join_all` switch to a `FuturesOrdered`, which gives each child
//! a waker of its own and polls only the ones that were woken. Each receiver prints
//! `poll future #i` whenever it is polled, which makes both sides of that line visible.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-multisocket-join
//! echo hello | nc -u -w1 127.0.0.1 2004
//! ```
//!
//! `--sockets N` (default 10) sockets are bound on consecutive ports from `--bind`
//! (default 127.0.0.1:2000; port 0 gives each socket an ephemeral port), announced as
//! `listening udp ADDR` in socket order. Each datagram prints `recv N bytes from PEER
//! at LOCAL`; nothing is sent back. A datagram to socket 4 of 10 prints ten `poll
//! future #i` lines, one per receiver; of 40, only `poll future #4`. SIGINT or
//! SIGTERM prints `summary recv=R` and exits 0. A socket whose receive fails ends the
//! join, and with it the program (`try_join_all` stops at the first error).
//! `--quiet` leaves out the `recv` and `poll future` lines (for benchmarks).
//!
//! # Migration
//!
//! * futures 0.1 `join_all` stopped at the first error; in futures 0.3 that is
//!   `try_join_all`. (0.3's `join_all` waits for every future and collects their
//!   results, errors included.) Both switch to `FuturesOrdered` above 30 futures, so
//!   the "every datagram polls every future" cost of the legacy program holds here
//!   only up to 30 sockets. The switch is decided from `size_hint`: an iterator with no
//!   upper bound gets `FuturesOrdered` even for two futures.
//! * `impl Future for Receiver` keeps its shape: `poll(&mut self)` becomes
//!   `poll(self: Pin<&mut Self>, cx: &mut Context)`, `Async::NotReady` becomes
//!   `Poll::Pending`, and the implicit current task becomes the explicit `cx`.
//! * tokio-core's `recv_from` returning `WouldBlock` (and registering the current task)
//!   becomes `poll_recv_from(cx, &mut ReadBuf)`, which registers `cx`'s waker and
//!   returns `Pending`.
//! * `task::current().notify()` after the budget becomes `cx.waker().wake_by_ref()`.
//! * The hand-written `Server` future that polled the signals and then the join
//!   becomes a `select!` between the two in an `async` block.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::future::try_join_all;
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
        let receivers: Vec<Receiver> = sockets
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
        // A `Vec` has an exact size hint: ≤ 30 receivers are polled all at once, more
        // go into a `FuturesOrdered`.
        let receivers = try_join_all(receivers);
        tokio::select! {
            joined = receivers => { joined.map_err(|e| e.to_string())?; }
            _ = shutdown.recv() => {}
        }
        emit(&Event::Summary(Counts(vec![(
            "recv".into(),
            received.get(),
        )])));
        Ok(())
    })
}
