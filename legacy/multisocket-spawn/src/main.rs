//! N UDP sockets on tokio-core 0.1: one task per socket, spawned with `Handle::spawn`.
//!
//! Each socket gets a hand-written `Receiver` future that prints what arrives, and
//! each receiver is spawned on the event loop as a task of its own. futures 0.1
//! notifies at the level of the task, so a datagram on socket k wakes task k and no
//! other: only receiver k is polled. (Compare `multisocket-join`, where all the
//! receivers share one task and every datagram polls them all.) Each receiver prints
//! `poll future #i` whenever it is polled, which makes that visible.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p legacy-multisocket-spawn
//! echo hello | nc -u -w1 127.0.0.1 2004
//! ```
//!
//! `--sockets N` (default 10) sockets are bound on consecutive ports from `--bind`
//! (default 127.0.0.1:2000; port 0 gives each socket an ephemeral port), announced as
//! `listening udp ADDR` in socket order. Each datagram prints `recv N bytes from PEER
//! at LOCAL`; nothing is sent back. A datagram to socket 4 prints one `poll future
//! #4` line. SIGINT or SIGTERM prints `summary recv=R` and exits 0. A socket whose
//! receive fails is reported on stderr and the others go on; since `Handle::spawn`
//! takes only futures that cannot fail (`Error = ()`), the task must report its own
//! error: nothing else ever sees it.
//! `--quiet` leaves out the `recv` and `poll future` lines (for benchmarks).

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use futures::{Async, Future, Poll, Stream};
use shared::cli::{bind_error, exit_startup_error, multisocket_addrs, Args, Spec};
use shared::echo::RECV_BUFFER;
use shared::event::{emit, Counts, Event, Proto};
use tokio_core::net::UdpSocket;
use tokio_core::reactor::Core;
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Datagrams read per poll before a receiver yields, so that one busy socket cannot
/// keep the others (and the shutdown signal) waiting forever.
const BUDGET: usize = 256;

type Shutdown = Box<dyn Stream<Item = i32, Error = io::Error>>;

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
    type Item = ();
    type Error = io::Error;

    fn poll(&mut self) -> Poll<(), io::Error> {
        // The lesson: one line per call of this method.
        if !self.quiet {
            emit(&Event::PollFuture { index: self.index });
        }
        for _ in 0..BUDGET {
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, from)) => self.received(len, from),
                // tokio-core registered this task for readability before returning.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Async::NotReady),
                Err(ref e) if e.kind() == io::ErrorKind::Interrupted => {}
                // An unconnected UDP socket gets no ICMP reports: an error here is the
                // socket's own, not one peer's.
                Err(e) => return Err(self.failed(e)),
            }
        }
        // Budget spent with datagrams left: ask to be polled again after the event
        // loop has had its turn.
        futures::task::current().notify();
        Ok(Async::NotReady)
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
    let mut core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let handle = core.handle();
    let mut sockets = Vec::new();
    for addr in multisocket_addrs(args.bind, args.sockets)? {
        let socket = UdpSocket::bind(&addr, &handle).map_err(|e| bind_error(addr, &e))?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        sockets.push((socket, local));
    }
    // Catch SIGINT and SIGTERM before announcing the sockets, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let sigint = Signal::new(SIGINT, &handle).flatten_stream();
    let sigterm = Signal::new(SIGTERM, &handle).flatten_stream();
    let shutdown: Shutdown = Box::new(sigint.select(sigterm));
    for (_, local) in &sockets {
        emit(&Event::Listening {
            proto: Proto::Udp,
            addr: *local,
        });
    }

    let received = Rc::new(Cell::new(0));
    for (index, (socket, local)) in sockets.into_iter().enumerate() {
        let receiver = Receiver {
            index,
            socket,
            local,
            buf: vec![0; RECV_BUFFER],
            quiet: args.quiet,
            received: received.clone(),
        };
        // One task per socket. `Handle::spawn` wants `Error = ()`: a failure is
        // reported here, by the task itself, or it would be lost.
        handle.spawn(receiver.map_err(|e| eprintln!("{NAME}: {e}; no longer receiving there")));
    }
    // The main future only waits for a signal; the spawned tasks run beside it.
    core.run(shutdown.into_future().map(|_| ()))
        .map_err(|(e, _)| e.to_string())?;
    emit(&Event::Summary(Counts(vec![(
        "recv".into(),
        received.get(),
    )])));
    Ok(())
}
