//! A flooded UDP reader beside a ticker, on one thread of tokio-core 0.1, which has
//! no cooperative budget: a reader that reads until `WouldBlock` keeps the thread
//! for as long as a flood lasts.
//!
//! Two tasks share the event loop's thread: a `Reader` that reads the socket and
//! counts datagrams, and a `Ticker` that wakes every `--interval-ms` (default 10) and
//! prints how late it ran (`tick N late US us`). The reader prints, each time it
//! gives the thread back to the event loop, how many datagrams it read in that poll
//! (`read N datagrams in one poll`). Flood the socket and watch the ticker. `--loop`
//! picks how the reader reads:
//!
//! * `recv` (default): `recv_from` until it returns `WouldBlock`, the way tokio-core
//!   code was written. Nothing in tokio-core limits how long one poll may run: while
//!   the flood keeps the socket non-empty the reader never returns, the ticker (and
//!   the signal handler) never run, and the ticker is late by the length of the
//!   flood.
//! * `ready`: `poll_read()` before each `recv_from`, tokio-core's readiness check.
//!   It behaves exactly as `recv`: there is no budget to bypass. (In tokio 1 the two
//!   loops part ways; see `modern-coop-budget`.)
//! * `fixed`: a budget of the program's own: after `BUDGET` datagrams in one poll the
//!   reader asks to be polled again (`task::current().notify()`) and returns
//!   `NotReady`, so the event loop fires the ticker's timer and runs it before the
//!   reader goes on. That is what every legacy program of this workspace that reads
//!   in a loop does.
//!
//! `--cost-us` (default 0) makes each datagram cost the reader that much CPU, a
//! stand-in for parsing or decrypting it; it makes a reader slower than its flood.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run --release -p legacy-coop-budget -- --loop recv --cost-us 100
//! python3 -c 'import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM);
//!     [s.sendto(b"flood", ("127.0.0.1", 2000)) for _ in range(500_000)]'
//! ```
//!
//! With `recv` or `ready` the `tick` lines stop while the flood lasts and resume with
//! one tick late by the whole flood; with `fixed` they go on, each late by at most
//! about one budget's worth of datagrams (128 × 100 µs here) plus whatever the
//! machine adds. SIGINT or SIGTERM prints `summary recv=R polls=P most_per_poll=M
//! ticks=T worst_late_us=W` and exits 0. `--quiet` leaves out the `read` and `tick`
//! lines.

use std::cell::{Cell, RefCell};
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures::{Async, Future, Poll, Stream};
use shared::cli::{bind_error, exit_startup_error, Args, ReadLoop, Spec};
use shared::echo::RECV_BUFFER;
use shared::event::{emit, Event, Proto};
use shared::readiness::{coop_summary, spend_cpu, ReadStats, TickStats};
use tokio_core::net::UdpSocket;
use tokio_core::reactor::{Core, Timeout};
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// `--loop fixed`: datagrams read per poll before the reader yields (tokio 1's
/// budget is 128 units per poll of a task; the same here).
const BUDGET: u64 = 128;

type Shutdown = Box<dyn Stream<Item = i32, Error = io::Error>>;

/// Reads the socket and counts datagrams, in the way `--loop` says. It never
/// completes: it ends only with an error of its socket.
struct Reader {
    socket: UdpSocket,
    buf: Vec<u8>,
    read_loop: ReadLoop,
    cost: Duration,
    /// Datagrams read so far; `PerPoll` turns it into a count per poll.
    read: Rc<Cell<u64>>,
    /// Datagrams read in this poll (for the hand-made budget of `fixed`).
    this_poll: u64,
}

impl Reader {
    fn received(&mut self) {
        self.read.set(self.read.get() + 1);
        self.this_poll += 1;
        spend_cpu(self.cost);
    }
}

impl Future for Reader {
    type Item = ();
    type Error = io::Error;

    fn poll(&mut self) -> Poll<(), io::Error> {
        self.this_poll = 0;
        loop {
            match self.read_loop {
                // Nothing to check: read until the socket would block.
                ReadLoop::Recv => {}
                // `NotReady` (and this task registered) unless the socket was last
                // seen readable. It spends nothing: tokio-core has nothing to spend.
                ReadLoop::Ready => {
                    if self.socket.poll_read().is_not_ready() {
                        return Ok(Async::NotReady);
                    }
                }
                // A budget of our own: after BUDGET datagrams, ask to be polled again
                // and give the thread back to the event loop.
                ReadLoop::Fixed => {
                    if self.this_poll == BUDGET {
                        futures::task::current().notify();
                        return Ok(Async::NotReady);
                    }
                }
            }
            match self.socket.recv_from(&mut self.buf) {
                Ok(_) => self.received(),
                // tokio-core registered this task for readability before returning.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Async::NotReady),
                Err(ref e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Prints `read N datagrams in one poll` each time the reader gives the thread back.
struct PerPoll<F> {
    inner: F,
    read: Rc<Cell<u64>>,
    stats: Rc<RefCell<ReadStats>>,
    quiet: bool,
}

impl<F: Future> Future for PerPoll<F> {
    type Item = F::Item;
    type Error = F::Error;

    fn poll(&mut self) -> Poll<F::Item, F::Error> {
        let before = self.read.get();
        let polled = self.inner.poll();
        let line = self.stats.borrow_mut().poll_done(self.read.get() - before);
        if !self.quiet {
            emit(&line);
        }
        polled
    }
}

/// Wakes every `interval` and records how late it ran.
struct Ticker {
    interval: Duration,
    due: Instant,
    timeout: Timeout,
    stats: Rc<RefCell<TickStats>>,
    quiet: bool,
}

impl Future for Ticker {
    type Item = ();
    type Error = io::Error;

    fn poll(&mut self) -> Poll<(), io::Error> {
        loop {
            // The timer registered this task with the timer wheel if not yet due.
            if self.timeout.poll()?.is_not_ready() {
                return Ok(Async::NotReady);
            }
            let now = Instant::now();
            let line = self.stats.borrow_mut().tick(self.due, now);
            if !self.quiet {
                emit(&line);
            }
            // The next tick is due one interval from now: a late tick delays the ones
            // after it instead of being followed by a burst of catch-up ticks.
            self.due = now + self.interval;
            self.timeout.reset(self.due);
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
    // turns, and nothing but the reader itself decides when its turn ends.
    let mut core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let handle = core.handle();
    let socket = UdpSocket::bind(&args.bind, &handle).map_err(|e| bind_error(args.bind, &e))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let sigint = Signal::new(SIGINT, &handle).flatten_stream();
    let sigterm = Signal::new(SIGTERM, &handle).flatten_stream();
    let shutdown: Shutdown = Box::new(sigint.select(sigterm));
    emit(&Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    let read = Rc::new(Cell::new(0));
    let read_stats = Rc::new(RefCell::new(ReadStats::default()));
    let tick_stats = Rc::new(RefCell::new(TickStats::default()));
    let reader = Reader {
        socket,
        buf: vec![0; RECV_BUFFER],
        read_loop: args.read_loop,
        cost: args.cost,
        read: read.clone(),
        this_poll: 0,
    };
    let reader = PerPoll {
        inner: reader,
        read,
        stats: read_stats.clone(),
        quiet: args.quiet,
    };
    let due = Instant::now() + args.interval;
    let ticker = Ticker {
        interval: args.interval,
        due,
        timeout: Timeout::new_at(due, &handle).map_err(|e| format!("cannot start timer: {e}"))?,
        stats: tick_stats.clone(),
        quiet: args.quiet,
    };
    // `Handle::spawn` wants `Error = ()`: a failure is reported here, by the task
    // itself, or it would be lost.
    handle.spawn(reader.map_err(|e| eprintln!("{NAME}: recv_from: {e}; no longer receiving")));
    handle.spawn(ticker.map_err(|e| eprintln!("{NAME}: timer: {e}; no more ticks")));
    // The main future only waits for a signal; the spawned tasks run beside it.
    core.run(shutdown.into_future().map(|_| ()))
        .map_err(|(e, _)| e.to_string())?;
    emit(&coop_summary(&read_stats.borrow(), &tick_stats.borrow()));
    Ok(())
}
