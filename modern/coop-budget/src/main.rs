//! A flooded UDP reader beside a ticker, on one thread of tokio 1: the cooperative
//! budget decides who runs, and the loops that bypass it starve everyone else.
//!
//! Two tasks share a current-thread runtime: a `Reader` that reads the socket and
//! counts datagrams, and a `Ticker` that wakes every `--interval-ms` (default 10) and
//! prints how late it ran (`tick N late US us`). The reader prints, each time it
//! gives the thread back to the scheduler, how many datagrams it read in that poll
//! (`read N datagrams in one poll`). Flood the socket and watch the ticker. `--loop`
//! picks how the reader reads:
//!
//! * `recv` (default): `recv_from(..).await` in a loop. Every call spends one unit of
//!   the task's cooperative budget (128 per poll of a task); once it is spent,
//!   `recv_from` returns `Pending` even with datagrams waiting, the task yields, the
//!   driver and the ticker get their turn, and the reader goes on. Under a flood the
//!   reader reads 128 datagrams per poll and the ticker stays on time.
//! * `ready`: `ready(Interest::READABLE).await`, then `try_recv_from` — the shape
//!   tokio's own documentation shows for `ready()`. Neither call spends budget:
//!   `ready()` returns at once while the readiness is set, and `try_recv_from` is a
//!   plain system call. While the flood keeps the socket non-empty the task never
//!   returns `Pending`, and the thread never gets back to the ticker (nor to the
//!   signal handler): the ticker is late by the length of the flood. Real programs
//!   hit this; nothing warns about it.
//! * `fixed`: the same loop with `tokio::task::consume_budget().await` before each
//!   `try_recv_from`. It charges one unit per attempt to the same budget `recv_from`
//!   spends, and yields only when that is exhausted: the ticker is on time again,
//!   at the cost of one budget check per datagram. (`yield_now().await` per datagram
//!   would also fix it, but returns to the scheduler after every datagram, and the
//!   scheduler polls the I/O driver before it runs a yielded task again: under
//!   strace, one `epoll_wait` per datagram against one per 35 with
//!   `consume_budget`, and 2.7 times fewer datagrams read from the same flood.
//!   Yielding every K datagrams by hand re-invents the budget and ignores what the
//!   task's other resources already spent.)
//!
//! `--cost-us` (default 0) makes each datagram cost the reader that much CPU, a
//! stand-in for parsing or decrypting it; it makes a reader slower than its flood.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run --release -p modern-coop-budget -- --loop ready --cost-us 100
//! python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);
//!     [s.sendto(b"flood", ("127.0.0.1", 2000)) for _ in range(500_000)]'
//! ```
//!
//! With `--loop ready` the `tick` lines stop while the flood lasts and resume with
//! one tick late by the whole flood; with `recv` or `fixed` they go on, each late by
//! at most about one budget's worth of datagrams (128 × 100 µs here) plus whatever
//! the machine adds. SIGINT or SIGTERM prints `summary recv=R polls=P
//! most_per_poll=M ticks=T worst_late_us=W` and exits 0. `--quiet` leaves out the
//! `read` and `tick` lines.
//!
//! # Migration
//!
//! * The point of the pair. tokio-core had no budget: a reader that reads until
//!   `WouldBlock` keeps the thread for as long as a flood lasts, however it is
//!   written, and the fix was a hand-made budget (`task::current().notify()` after K
//!   datagrams, as `legacy-coop-budget --loop fixed` does). tokio 1 made the budget
//!   the runtime's: every tokio resource (sockets, channels, timers, `JoinHandle`s)
//!   spends it, so `recv_from().await` yields by itself. The readiness API
//!   (`ready()`, `readable()`, `try_*`) is the exception, and the `ready` loop takes
//!   tokio 1 back to tokio-core's behaviour without a hint.
//! * `impl Future for Reader` becomes `impl Reader { async fn run(self) }`, and the
//!   hand-made budget of `fixed` (`this_poll`, `notify()`) becomes
//!   `consume_budget()`. The `PerPoll` wrapper that counts datagrams per poll stays
//!   a hand-written future: an async fn cannot see its own polls.
//! * `impl Future for Ticker` becomes `impl Ticker { async fn run(self) }`: tokio-core's
//!   `Timeout`, polled and `reset`, becomes a `Sleep`, awaited and `reset`.
//! * Spawned tasks must be `Send`: `Rc<RefCell<…>>` becomes `Arc<Mutex<…>>`, locked
//!   once per poll or tick, and the per-datagram count an `AtomicU64`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use shared::cli::{bind_error, exit_startup_error, Args, ReadLoop, Spec};
use shared::echo::RECV_BUFFER;
use shared::event::{emit, Event, Proto};
use shared::readiness::{coop_summary, spend_cpu, ReadStats, TickStats};
use tokio::io::Interest;
use tokio::net::UdpSocket;
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, SignalKind};
use tokio::time::{Instant, Sleep};

/// Reads the socket and counts datagrams, in the way `--loop` says. It never
/// completes: it ends only with an error of its socket.
struct Reader {
    socket: UdpSocket,
    buf: Vec<u8>,
    read_loop: ReadLoop,
    cost: Duration,
    /// Datagrams read so far; `PerPoll` turns it into a count per poll.
    read: Arc<AtomicU64>,
}

impl Reader {
    fn received(&self) {
        self.read.fetch_add(1, Ordering::Relaxed);
        spend_cpu(self.cost);
    }

    // port of: Reader::poll
    async fn run(mut self) -> io::Result<()> {
        loop {
            match self.read_loop {
                // Spends one unit of budget per datagram; `Pending` once it is spent.
                ReadLoop::Recv => {
                    self.socket.recv_from(&mut self.buf).await?;
                    self.received();
                }
                // Spends nothing: `ready()` is immediate while the readiness is set,
                // and only a `WouldBlock` clears it.
                ReadLoop::Ready => {
                    self.socket.ready(Interest::READABLE).await?;
                    match self.socket.try_recv_from(&mut self.buf) {
                        Ok(_) => self.received(),
                        Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
                // The same loop, charged to the budget one unit per attempt, before
                // it (as `recv_from` charges): `Pending` once the budget is spent.
                ReadLoop::Fixed => {
                    self.socket.ready(Interest::READABLE).await?;
                    tokio::task::consume_budget().await;
                    match self.socket.try_recv_from(&mut self.buf) {
                        Ok(_) => self.received(),
                        Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}

/// Prints `read N datagrams in one poll` each time the reader gives the thread back.
/// A hand-written future still: an `async fn` cannot see its own polls.
struct PerPoll<F> {
    inner: Pin<Box<F>>,
    read: Arc<AtomicU64>,
    stats: Arc<Mutex<ReadStats>>,
    quiet: bool,
}

impl<F: Future> Future for PerPoll<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        let before = this.read.load(Ordering::Relaxed);
        let polled = this.inner.as_mut().poll(cx);
        let read = this.read.load(Ordering::Relaxed) - before;
        let line = this
            .stats
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .poll_done(read);
        if !this.quiet {
            emit(&line);
        }
        polled
    }
}

/// Wakes every `interval` and records how late it ran.
struct Ticker {
    interval: Duration,
    due: Instant,
    timeout: Pin<Box<Sleep>>,
    stats: Arc<Mutex<TickStats>>,
    quiet: bool,
}

impl Ticker {
    // port of: Ticker::poll
    async fn run(mut self) {
        loop {
            // Awaiting the timer registers this task with the timer wheel if not yet due.
            (&mut self.timeout).await;
            let now = Instant::now();
            let line = self
                .stats
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .tick(self.due.into_std(), now.into_std());
            if !self.quiet {
                emit(&line);
            }
            // The next tick is due one interval from now: a late tick delays the ones
            // after it instead of being followed by a burst of catch-up ticks.
            self.due = now + self.interval;
            self.timeout.as_mut().reset(self.due);
        }
    }
}

const NAME: &str = env!("CARGO_BIN_NAME");

fn main() {
    let spec = Spec::coop_budget(NAME);
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    // One thread for everything: the reader, the ticker and the signal handler take
    // turns, and the budget decides whose turn it is.
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

        let read = Arc::new(AtomicU64::new(0));
        let read_stats = Arc::new(Mutex::new(ReadStats::default()));
        let tick_stats = Arc::new(Mutex::new(TickStats::default()));
        let reader = Reader {
            socket,
            buf: vec![0; RECV_BUFFER],
            read_loop: args.read_loop,
            cost: args.cost,
            read: read.clone(),
        };
        let reader = PerPoll {
            inner: Box::pin(reader.run()),
            read,
            stats: read_stats.clone(),
            quiet: args.quiet,
        };
        let due = Instant::now() + args.interval;
        let ticker = Ticker {
            interval: args.interval,
            due,
            timeout: Box::pin(tokio::time::sleep_until(due)),
            stats: tick_stats.clone(),
            quiet: args.quiet,
        };
        // A task's error is reported by the task itself, or it would be lost.
        tokio::spawn(async move {
            if let Err(e) = reader.await {
                eprintln!("{NAME}: recv_from: {e}; no longer receiving");
            }
        });
        tokio::spawn(ticker.run());
        // The main future only waits for a signal; the spawned tasks run beside it.
        tokio::select! {
            _ = sigint.recv() => {}
            _ = sigterm.recv() => {}
        }
        let read = *read_stats.lock().unwrap_or_else(PoisonError::into_inner);
        let ticks = *tick_stats.lock().unwrap_or_else(PoisonError::into_inner);
        emit(&coop_summary(&read, &ticks));
        Ok(())
    })
}
