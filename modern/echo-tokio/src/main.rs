//! UDP echo server on tokio 1: one task that waits on the socket's readiness.
//!
//! tokio's own `echo-udp` example flip-flops: while it waits to send an echo it
//! cannot read. This server multiplexes instead. One task owns the socket and a
//! bounded queue of pending echoes; it waits on `UdpSocket::ready` for READABLE, plus
//! WRITABLE while echoes are queued, then sends what it can with `try_send_to` and
//! reads what it can with `try_recv_from`. The interest is named explicitly, and the
//! `try_*` calls clear the readiness they found stale.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-echo-tokio
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
//! With `--threads N` the runtime is tokio's multi-thread runtime, with N worker
//! threads that run the tasks and steal them from each other; the server is the same
//! one task on the same one socket. One task reads and writes, so each client's
//! echoes still leave in the order its datagrams came; but one worker at a time
//! serves them all. More workers give a server of one task no more throughput, and
//! cost wake-ups: while one worker runs the task, an idle one holds the I/O driver
//! and is woken by every edge of the socket (the suite's `syscalls-per-echo`, with
//! `--threads 2`).
//!
//! ```text
//! cargo run -p modern-echo-tokio -- --threads 2
//! nc -u 127.0.0.1 2000
//! ```
//!
//! # Migration
//!
//! * The hand-written `impl Future for Server` becomes an `async fn run` loop; the
//!   state that `poll` kept between calls is now just local to the loop.
//! * tokio-core's `recv_from`/`send_to` registered the task for a direction as a side
//!   effect of returning `WouldBlock`. tokio 1 separates the two: `ready(Interest)`
//!   waits, `try_recv_from`/`try_send_to` act without waiting. The WRITABLE interest is
//!   asked for only while the queue holds echoes, so an idle server is not woken by a
//!   socket that is always writable.
//! * `Core::new` + `core.run(future)` becomes a current-thread runtime and
//!   `block_on`; one thread, as before, and measured to be the cheaper flavor for a
//!   single socket (no work stealing, no cross-thread wake-ups).
//! * `tokio_signal::unix::Signal` streams become `tokio::signal::unix::signal`, raced
//!   against readiness with `select!` instead of polled at the top of `poll`.
//! * `task::current().notify()` to yield after a budget becomes
//!   `tokio::task::yield_now().await`.
//! * `--threads N`: N `Core`s on N threads, each with its own SO_REUSEPORT socket,
//!   become one runtime of N workers and one socket. A task may run on any worker, so
//!   nothing is set up per thread any more (no net2 socket, no `shared::cores`), and
//!   `serve` is `run`'s setup without the `Core`. The server becomes a task of its own
//!   (`tokio::spawn`), so that it runs on a worker and not on the thread that waits
//!   in `block_on`; a task must be `Send`, and `Server` is (a socket, a queue, signal
//!   streams). What goes is the kernel's spreading of the clients over the threads:
//!   the one task serves them all.

use std::io;

use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, EchoCounts, EchoQueue};
use shared::event::{emit, Event, Proto};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};

/// Datagrams handled per wake-up before the task yields, so that one busy socket
/// cannot keep the runtime (and the shutdown signal) waiting forever.
const BUDGET: usize = 256;

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
            match self.socket.try_send_to(bytes, peer) {
                Ok(_) => {
                    let (len, to) = self.queue.pop_sent().expect("front exists");
                    if !self.quiet {
                        emit(&echo::sent_event(len, to));
                    }
                }
                // tokio cleared the WRITABLE readiness; `ready` will wait for it.
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
        match self.socket.try_recv_from(self.queue.recv_buffer()) {
            Ok((len, peer)) => {
                self.queue.received(len, peer, self.quiet);
                true
            }
            // tokio cleared the READABLE readiness; `ready` will wait for it.
            Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                // A per-datagram error (an ICMP report, say) concerns one peer only.
                eprintln!("recv_from: {e}");
                true
            }
        }
    }

    /// Sends and reads until the socket would block both ways or the budget is
    /// spent; `true` if the budget ran out with work left.
    fn pump(&mut self) -> bool {
        for _ in 0..BUDGET {
            self.flush();
            if self.stopping || !self.read_one() {
                return false;
            }
        }
        true
    }

    // port of: Server::poll
    async fn run(mut self) -> io::Result<EchoCounts> {
        loop {
            if self.pump() {
                tokio::task::yield_now().await;
                continue;
            }
            if self.stopping && self.queue.is_empty() {
                return Ok(self.queue.counts());
            }
            // Stop reading once asked to stop; wait for WRITABLE only while there is
            // something to write.
            let interest = match (self.stopping, self.queue.is_empty()) {
                (false, true) => Interest::READABLE,
                (false, false) => Interest::READABLE | Interest::WRITABLE,
                (true, _) => Interest::WRITABLE,
            };
            tokio::select! {
                ready = self.socket.ready(interest) => { ready?; }
                _ = self.shutdown.recv(), if !self.stopping => self.stopping = true,
            }
        }
    }
}

fn main() {
    let spec = Spec::udp_echo(env!("CARGO_BIN_NAME")).with_threads();
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    if args.threads > 1 {
        return serve_on_threads(args);
    }
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(serve(args))
}

/// `--threads N`: one runtime whatever N, its N worker threads running the tasks and
/// stealing them from each other. A task is `Send`, and any worker may run it: N is
/// a number of workers, not of servers.
fn serve_on_threads(args: &Args) -> Result<(), String> {
    let runtime = Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(serve(args))
}

/// The server, on the runtime: one socket, one task.
async fn serve(args: &Args) -> Result<(), String> {
    let socket = UdpSocket::bind(args.bind)
        .await
        .map_err(|e| bind_error(args.bind, &e))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal
    // sent as soon as `listening` is read already finds its handler.
    let shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
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
    // `core.run(server)` becomes a task of its own, so that it runs on a worker (not
    // on this thread, which only waits for it). One task reads and writes the one
    // socket: a client's echoes leave in the order its datagrams came, on any number
    // of workers, and one worker at a time serves them all.
    let task = tokio::spawn(server.run());
    let counts = task.await.map_err(|e| format!("server task failed: {e}"))?;
    let counts = counts.map_err(|e| e.to_string())?;
    emit(&counts.summary());
    Ok(())
}
