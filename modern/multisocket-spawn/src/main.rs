//! N UDP sockets on tokio 1: one task per socket, in a `JoinSet`.
//!
//! Each socket gets a hand-written `Receiver` future that prints what arrives, and
//! each receiver is spawned on the runtime as a task of its own, into a `JoinSet`. A
//! datagram on socket k wakes task k and no other: only receiver k is polled.
//! (Compare `multisocket-join`, where all the receivers share one task.) Each
//! receiver prints `poll future #i` whenever it is polled, which makes that visible.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-multisocket-spawn
//! echo hello | nc -u -w1 127.0.0.1 2004
//! ```
//!
//! `--sockets N` (default 10) sockets are bound on consecutive ports from `--bind`
//! (default 127.0.0.1:2000; port 0 gives each socket an ephemeral port), announced as
//! `listening udp ADDR` in socket order. Each datagram prints `recv N bytes from PEER
//! at LOCAL`; nothing is sent back. A datagram to socket 4 prints one `poll future
//! #4` line. SIGINT or SIGTERM prints `summary recv=R` and exits 0. A socket whose
//! receive fails is reported on stderr and the others go on: its task ends with the
//! error, and the main task, waiting on `JoinSet::join_next`, receives and reports it
//! (a task that panics is reported the same way, as a `JoinError`).
//! `--quiet` leaves out the `recv` and `poll future` lines (for benchmarks).
//!
//! # Migration
//!
//! * `handle.spawn(future)` becomes `JoinSet::spawn(future)`. tokio-core's spawn
//!   took `Error = ()` futures and gave nothing back, so each task had to report its
//!   own failure; a `JoinSet` keeps every task's output (`io::Result<()>` here), and
//!   `join_next` hands each one to the task that owns the set, so a failed socket is
//!   reported, not lost. A panic in a task, which would have unwound through
//!   `Core::run` and ended the program, is caught and reported as a `JoinError`; the
//!   other sockets go on. Dropping the set aborts what is left in it.
//! * Spawned tasks must be `Send`, even on a current-thread runtime: the shared count
//!   is an `Arc<AtomicU64>` instead of an `Rc<Cell<u64>>`.
//! * `impl Future for Receiver` keeps its shape: `poll(&mut self)` becomes
//!   `poll(self: Pin<&mut Self>, cx: &mut Context)`, `Async::NotReady` becomes
//!   `Poll::Pending`, and the implicit current task becomes the explicit `cx`.
//! * tokio-core's `recv_from` returning `WouldBlock` (and registering the current task)
//!   becomes `poll_recv_from(cx, &mut ReadBuf)`, which registers `cx`'s waker and
//!   returns `Pending`.
//! * `task::current().notify()` after the budget becomes `cx.waker().wake_by_ref()`.
//! * `core.run(shutdown)` becomes a `select!` loop between the signals and
//!   `join_next`.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use shared::cli::{bind_error, exit_startup_error, multisocket_addrs, Args, Spec};
use shared::echo::RECV_BUFFER;
use shared::event::{emit, Counts, Event, Proto};
use tokio::io::ReadBuf;
use tokio::net::UdpSocket;
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::task::JoinSet;

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
    // `Arc<AtomicU64>`, where it was `Rc<Cell<u64>>`: a task spawned on tokio 1
    // may move between threads, so what it holds must be `Send`.
    received: Arc<AtomicU64>,
}

impl Receiver {
    fn received(&mut self, len: usize, from: SocketAddr) {
        self.received.fetch_add(1, Ordering::Relaxed);
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

const NAME: &str = env!("CARGO_BIN_NAME");

fn main() {
    let spec = Spec::multisocket(NAME);
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

        let received = Arc::new(AtomicU64::new(0));
        let mut tasks = JoinSet::new();
        // Which socket each task serves, to name it if it panics.
        let mut names = HashMap::new();
        for (index, (socket, local)) in sockets.into_iter().enumerate() {
            let receiver = Receiver {
                index,
                socket,
                local,
                buf: vec![0; RECV_BUFFER],
                quiet: args.quiet,
                received: received.clone(),
            };
            // One task per socket; its output (the error that ended it) stays in
            // the set until `join_next` hands it over.
            let task = tasks.spawn(receiver);
            names.insert(task.id(), format!("socket #{index} at {local}"));
        }
        loop {
            tokio::select! {
                Some(ended) = tasks.join_next() => match ended {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("{NAME}: {e}; no longer receiving there"),
                    Err(e) => {
                        let name = names.get(&e.id()).map_or("a socket", String::as_str);
                        eprintln!("{NAME}: the task of {name} failed: {e}");
                    }
                },
                _ = shutdown.recv() => break,
            }
        }
        emit(&Event::Summary(Counts(vec![(
            "recv".into(),
            received.load(Ordering::Relaxed),
        )])));
        Ok(())
    })
}
