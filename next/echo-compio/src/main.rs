//! UDP echo server on compio, a completion-based runtime on io_uring: owned buffers.
//!
//! `echo-tokio` waits for readiness and then borrows a buffer for the length of one
//! `try_recv_from`. A completion runtime cannot lend: the kernel writes the buffer
//! some time after the call that submitted the receive returned, while the program
//! goes on. So compio's I/O takes the buffer by value and hands it back with the
//! result — `socket.send_to(buf, peer).await` returns `BufResult(n, buf)` — and the
//! borrow checker keeps the program's hands off the buffer while the kernel has it.
//! Receiving goes one step further: one multishot receive stays on the ring while the
//! server reads (reads never wait for writes), and the kernel puts each datagram in a
//! buffer of the runtime's pool (io_uring's provided buffers), lent to the program
//! until it drops it. Each pending echo is one send; all that a turn of the runtime
//! queued reach the kernel together, in one `io_uring_enter`.
//!
//! The multishot receive is compio's own batching, and what `cargo xtask bench --perf`
//! pointed at: with one receive submitted per datagram, the kernel armed a poll for
//! each (the socket was empty when it came) and compio moved an operation in and out
//! of the heap for each, and the server cost about 1.9× echo-uring's CPU per echo.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p next-echo-compio
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
//! # What cancelling means here
//!
//! Dropping a tokio `recv_from` future loses nothing: nothing was read yet. Dropping a
//! compio receive does not stop the kernel: the receive is already on the ring. compio
//! then submits a cancel (`IORING_OP_ASYNC_CANCEL`), and a datagram the kernel put in
//! a pool buffer first is read from the socket and never seen. So while the server
//! runs, its receive is never dropped: no `select!` with a timer or a signal decides
//! its fate. Only at shutdown is it dropped (that is how this server stops reading),
//! and the datagrams lost in that race are ones that came after the server stopped
//! reading: what a readiness server leaves unread in its socket buffer when it exits.
//! The sends are never cancelled: they are what shutdown waits for.
//!
//! compio also offers to cancel *and wait*: `with_cancel(token)`, then
//! `token.cancel()`, and the future completes with whatever the kernel did. This server
//! does not rely on it: with compio 0.19.2 on this machine the cancel was never
//! submitted in a release build (the server hung at shutdown; a debug build stopped),
//! apparently because the token reaches the operation through a waker whose vtable is
//! recognised by address, which an optimised build does not keep unique.
//!
//! # Why compio
//!
//! Of the io_uring runtimes, compio is the one still maintained: releases every few
//! weeks (0.19.2 in August 2026, 300+ commits in the year before), where monoio's last
//! release (0.2.4) dates from August 2024 and glommio's (0.9.0) from 2024, with its
//! repository quiet since April 2025. It is not the cheapest: the same flip-flop echo
//! (receive, send, repeat) written on each cost less server CPU per echo on monoio
//! than on compio, when both were measured on the machine this was written on. A study
//! that will be read and rebuilt for years needs the maintained one; the price is the
//! bench's to show (the book's next-era figures). compio is single-threaded per
//! runtime like this server, builds on the
//! `io-uring` crate that `echo-uring` uses directly, and can be built without its
//! epoll fallback: this program is io_uring or nothing, and says so at start-up.
//!
//! # Against `echo-tokio`
//!
//! * `UdpSocket::ready(Interest)` + `try_recv_from(&mut buf)` becomes one stream,
//!   `recv_from_multi()`, whose datagrams come in pool buffers; `try_send_to(&buf)`
//!   becomes `send_to(buf, peer).await`, one per pending echo, in a `FuturesOrdered`
//!   so that echoes leave the queue in the order they were queued.
//! * The queue's bytes are lent (`&[u8]`); a send needs a buffer of its own, so each
//!   echo is copied into a send buffer from a free list, which comes back with the
//!   send's result.
//! * `tokio::select!` over `ready()` and the signal becomes `futures::select_biased!`
//!   over three completions: the signal, the oldest send, the next datagram.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZero;
use std::pin::{pin, Pin};

use compio::driver::ProactorBuilder;
use compio::net::UdpSocket;
use compio::runtime::Runtime;
use compio::signal::unix::signal;
use compio::BufResult;
use futures::future::{select, Either, Fuse};
use futures::stream::{self, FuturesOrdered, StreamExt};
use futures::{select_biased, FutureExt};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, EchoQueue, RECV_BUFFER};
use shared::event::{emit, Event, Proto};

/// Receive buffers in the pool: a datagram that finds none waits in the socket.
const POOL_BUFFERS: NonZero<u16> = NonZero::new(64).expect("not zero");

/// SIGINT or SIGTERM, either of which asks the server to stop.
type Shutdown = Fuse<Pin<Box<dyn Future<Output = io::Result<()>>>>>;

/// Listens for SIGINT and SIGTERM. compio installs a signal's handler when its
/// future is first polled, so this polls once now: a signal sent as soon as
/// `listening` is read then already finds its handler.
async fn shutdown() -> io::Result<Shutdown> {
    let either: Pin<Box<dyn Future<Output = io::Result<()>>>> = Box::pin(async {
        let sigint = pin!(signal(libc::SIGINT));
        let sigterm = pin!(signal(libc::SIGTERM));
        match select(sigint, sigterm).await {
            Either::Left((done, _)) | Either::Right((done, _)) => done,
        }
    });
    let mut either = either.fuse();
    if let std::task::Poll::Ready(Err(e)) = futures::poll!(&mut either) {
        return Err(e);
    }
    Ok(either)
}

/// One send of `buf` to `peer`; the buffer comes back with the result.
async fn send(socket: &UdpSocket, buf: Vec<u8>, peer: SocketAddr) -> BufResult<usize, Vec<u8>> {
    socket.send_to(buf, peer).await
}

struct Server {
    socket: UdpSocket,
    queue: EchoQueue,
    quiet: bool,
    shutdown: Shutdown,
    stopping: bool,
}

impl Server {
    async fn run(self) -> io::Result<EchoCounts> {
        let Server {
            socket,
            mut queue,
            quiet,
            mut shutdown,
            mut stopping,
        } = self;
        // Send buffers not lent to the kernel right now.
        let mut free: Vec<Vec<u8>> = Vec::new();
        // The multishot receive: one submission, a completion per datagram. When the
        // pool runs dry the kernel ends it, and the stream submits it again.
        let mut receiving = socket.recv_from_multi().boxed_local().fuse();
        // One send per echo at the head of the queue, oldest first: each owns a copy
        // of its echo until it completes. `FuturesOrdered` yields them in order even
        // when a later one completes first.
        let mut sends = FuturesOrdered::new();
        loop {
            // Submit a send for every pending echo that has none yet; they reach the
            // kernel together at the next turn of the runtime.
            for (bytes, peer) in queue.pending().skip(sends.len()) {
                let mut buf = free.pop().unwrap_or_else(new_buffer);
                buf.clear();
                buf.extend_from_slice(bytes);
                sends.push_back(send(&socket, buf, peer));
            }
            if stopping && sends.is_empty() {
                return Ok(queue.counts());
            }
            // Completed sends first, as the readiness servers flush before they read:
            // an echo that went out before the next datagram came in is reported so.
            select_biased! {
                done = shutdown => {
                    done?;
                    // Stop reading: drop the receive, which cancels it on the ring.
                    stopping = true;
                    receiving = stream::empty().boxed_local().fuse();
                }
                BufResult(result, buf) = sends.select_next_some() => {
                    match result {
                        Ok(_) => {
                            let (len, to) = queue.pop_sent().expect("a send per pending echo");
                            if !quiet {
                                emit(&echo::sent_event(len, to));
                            }
                        }
                        Err(e) => {
                            let (len, from) = queue.pop_failed().expect("a send per pending echo");
                            emit(&echo::send_failed_event(len, from, &e));
                        }
                    }
                    free.push(buf);
                }
                got = receiving.select_next_some() => match got {
                    Ok(datagram) => {
                        // The pool's buffer goes back to the kernel when dropped.
                        let (data, from) = (datagram.data(), datagram.addr());
                        if let Some(peer) = from.and_then(|a| a.as_socket()) {
                            // Queued straight from the pool's buffer.
                            queue.received_bytes(data, peer, quiet);
                        }
                    }
                    // The pool ran dry: the datagram waits in the socket, and the stream
                    // submits the receive again. (compio reports the kernel's ENOBUFS as
                    // `ResourceBusy`.)
                    Err(e) if e.kind() == io::ErrorKind::ResourceBusy => {}
                    // A per-datagram error (an ICMP report, say) concerns one peer only.
                    Err(e) => eprintln!("recv_from: {e}"),
                }
            }
        }
    }
}

/// A buffer for one datagram of any size.
fn new_buffer() -> Vec<u8> {
    Vec::with_capacity(RECV_BUFFER)
}

fn main() {
    let spec = Spec::udp_echo(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &shared::cli::Args) -> Result<(), String> {
    // The receive pool: buffers for the largest datagram, its sender and a header.
    let mut proactor = ProactorBuilder::new();
    proactor
        .buffer_pool_size(POOL_BUFFERS)
        .buffer_pool_buffer_len(RECV_BUFFER + 160);
    let runtime = Runtime::builder().with_proactor(proactor).build();
    let runtime = runtime.map_err(|e| format!("io_uring is not available here: {e}"))?;
    runtime.block_on(async {
        let socket = UdpSocket::bind(args.bind)
            .await
            .map_err(|e| bind_error(args.bind, &e))?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let shutdown = shutdown()
            .await
            .map_err(|e| format!("cannot watch signals: {e}"))?;
        emit(&Event::Listening {
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
        let counts = server.run().await.map_err(|e| e.to_string())?;
        emit(&counts.summary());
        Ok(())
    })
}
