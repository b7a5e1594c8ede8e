//! Several tasks receiving on one UDP socket, on tokio 1: every task waits in the
//! socket's list of waiters, and each is woken for what it waits on.
//!
//! `--tasks N` (default 4) `Waiter`s are spawned on the runtime, each a task of its
//! own, and all of them read the same socket (`Arc<UdpSocket>`: tokio's UDP I/O takes
//! `&self`). A datagram keeps the task that read it busy for `--work-ms` (default
//! 1000; a timer stands for a lookup or a call to another service), and a busy task
//! does not read. Four tasks and four datagrams sent at once: each task takes one,
//! at once, and no datagram waits while a task is idle.
//!
//! Each task prints `task #i woken` every time it is polled, which shows how. Since
//! tokio 0.3 (the intrusive waiter list of tokio PR #2828), a socket's record in the
//! I/O driver (`ScheduledIo`) keeps a linked list of waiters, one node per waiting
//! `recv_from().await` (the node lives inside that future, so any number of tasks can
//! wait without allocating). When the socket becomes readable the driver wakes every
//! waiter whose interest it satisfies; the first to run reads the datagram, the
//! others find the socket empty (one `recvfrom` returning `EAGAIN` each) and wait
//! again. That is a small thundering herd: with N idle tasks, each datagram wakes
//! all N, and the `woken` lines show it. It is the price of nobody being forgotten.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-udp-waiters
//! for i in 1 2 3 4; do echo $i | nc -u -w0 127.0.0.1 2000; done
//! ```
//!
//! Each datagram read prints `task #i recv N bytes from PEER`; nothing is sent back.
//! `--work-ms 0` makes each task read on at once. SIGINT or SIGTERM prints
//! `summary recv=R woken=W` (datagrams read; polls of all tasks, the first included)
//! and exits 0. `--quiet` leaves out the `woken` and `recv` lines.
//!
//! # Migration
//!
//! * The point of the pair. tokio-core gave each socket one task slot per direction,
//!   and a task that waited replaced the one waiting before it; the replaced tasks
//!   slept while datagrams waited (see `legacy-udp-waiters`). Here `recv_from(..)
//!   .await` puts its own node in the socket's waiter list, so N tasks on one socket
//!   is a supported way to share it.
//! * Not every tokio 1 API uses that list. `UdpSocket::poll_recv_from` (and
//!   `AsyncRead::poll_read` on a stream) still has one reserved slot per direction,
//!   and its documentation warns that only the waker of the most recent call is
//!   woken: porting the hand-written `impl Future for Waiter` line by line to
//!   `poll_recv_from` would bring the legacy failure back. The `async fn` is the fix,
//!   not only the style.
//! * `impl Future for Waiter` becomes `impl Waiter { async fn run(self) }`; the
//!   `busy` timer field becomes `sleep(work).await` in the loop, and the
//!   `WouldBlock`-then-registered protocol becomes `recv_from(..).await`.
//! * An `async fn` cannot see its own polls, so the `task #i woken` line moved from
//!   the top of `poll` to a small wrapper future, `Woken`, around each task.
//! * The per-poll `BUDGET` and `task::current().notify()` are gone: `recv_from`
//!   spends tokio's cooperative budget, and a task that has spent it yields by itself.
//! * `Handle::spawn` becomes `tokio::spawn`, and a task still reports its own failure;
//!   spawned tasks must be `Send`, so `Rc<UdpSocket>` and `Rc<Cell<u64>>` become
//!   `Arc<UdpSocket>` and `Arc<AtomicU64>`.
//!
//! This pair keeps 41 % of the legacy file's lines (non-blank, whitespace stripped,
//! unchanged and in order), below the 50 % most pairs keep, and has no ladder: its
//! lesson is a new mechanism, not a rewrite to take in steps. `Waiter::poll`, with its
//! `busy` timer and its `WouldBlock` arm, cannot be ported line by line (to
//! `poll_recv_from` it would bring the failure back, see above): it becomes a loop of
//! two awaits; the `woken` count leaves `poll` for the `Woken` wrapper; and each
//! header explains its own mechanism, one slot per direction or a list of waiters.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::RECV_BUFFER;
use shared::event::{emit, Event, Proto};
use shared::readiness::waiters_summary;
use tokio::net::UdpSocket;
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, SignalKind};

/// One of the tasks receiving on the shared socket. It never completes: it ends only
/// with an error of its socket.
struct Waiter {
    task: usize,
    socket: Arc<UdpSocket>,
    buf: Vec<u8>,
    work: Duration,
    quiet: bool,
    received: Arc<AtomicU64>,
}

impl Waiter {
    fn received(&mut self, len: usize, from: SocketAddr) {
        self.received.fetch_add(1, Ordering::Relaxed);
        if !self.quiet {
            emit(&Event::TaskRecv {
                task: self.task,
                len,
                from,
            });
        }
    }

    fn failed(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("task #{}: recv_from: {e}", self.task))
    }

    // port of: Waiter::poll
    async fn run(mut self) -> io::Result<()> {
        loop {
            // This task's own node in the socket's list of waiters, beside every other
            // task's: a readable socket wakes them all, and none replaces another.
            match self.socket.recv_from(&mut self.buf).await {
                Ok((len, from)) => self.received(len, from),
                Err(ref e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // An unconnected UDP socket gets no ICMP reports: an error here is the
                // socket's own, not one peer's.
                Err(e) => return Err(self.failed(e)),
            }
            if !self.work.is_zero() {
                // The work on the datagram: while it runs, this task does not read.
                tokio::time::sleep(self.work).await;
            }
        }
    }
}

/// Prints `task #i woken` each time the task it wraps is polled: an `async fn` cannot
/// see its own polls.
struct Woken<F> {
    task: usize,
    inner: Pin<Box<F>>,
    quiet: bool,
    woken: Arc<AtomicU64>,
}

impl<F: Future> Future for Woken<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // The lesson: one line per poll of this task, that is, per wake-up.
        this.woken.fetch_add(1, Ordering::Relaxed);
        if !this.quiet {
            emit(&Event::TaskWoken { task: this.task });
        }
        this.inner.as_mut().poll(cx)
    }
}

const NAME: &str = env!("CARGO_BIN_NAME");

fn main() {
    let spec = Spec::udp_waiters(NAME);
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
        let socket = UdpSocket::bind(args.bind)
            .await
            .map_err(|e| bind_error(args.bind, &e))?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
        // as soon as `listening` is read already finds its handler.
        let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        emit(&Event::Listening {
            proto: Proto::Udp,
            addr: local,
        });

        let socket = Arc::new(socket);
        let received = Arc::new(AtomicU64::new(0));
        let woken = Arc::new(AtomicU64::new(0));
        for task in 0..args.tasks {
            let waiter = Waiter {
                task,
                socket: socket.clone(),
                buf: vec![0; RECV_BUFFER],
                work: args.work,
                quiet: args.quiet,
                received: received.clone(),
            };
            let waiter = Woken {
                task,
                inner: Box::pin(waiter.run()),
                quiet: args.quiet,
                woken: woken.clone(),
            };
            // One task per waiter, all on the same socket. A failure is reported here,
            // by the task itself, or it would be lost.
            tokio::spawn(async move {
                if let Err(e) = waiter.await {
                    eprintln!("{NAME}: {e}; no longer receiving");
                }
            });
        }
        // The main future only waits for a signal; the spawned tasks run beside it.
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
        }
        emit(&waiters_summary(
            received.load(Ordering::Relaxed),
            woken.load(Ordering::Relaxed),
        ));
        Ok(())
    })
}
