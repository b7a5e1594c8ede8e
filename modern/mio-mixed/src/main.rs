//! mio 0.8: one poll waiting on a UDP socket and on events made by another thread.
//!
//! A mio `Poll` can wait for kernel readiness (a socket) and for user-space events
//! (something another thread decided) at the same time. In mio 0.8 the second kind is
//! a `Waker`, created for one token of the poll's registry and shared with any thread:
//! `wake()` there makes the poller report the waker's token. Underneath, a `Waker` is
//! an eventfd registered with the epoll instance, and `wake()` adds one to its
//! counter: the kernel then reports the eventfd to `epoll_wait`, whether or not the
//! poller is waiting at that moment.
//!
//! Here a timer thread wakes the poll every `--interval-ms` (default 3000), while the
//! same poll waits on a UDP socket and on a signalfd.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-mio-mixed
//! nc -u 127.0.0.1 2000
//! ```
//!
//! Each datagram prints `recv N bytes from PEER` (nothing is sent back), each timer
//! event `tick N`. The waker shows as one `anon_inode:[eventfd]` entry in
//! `/proc/PID/fd`, and under `strace -f` each tick is an 8-byte `write` to the eventfd
//! by the timer thread, and no `read` at all: the poller never resets the counter.
//! SIGINT or SIGTERM prints `summary recv=R ticks=T` and exits 0: the signals are
//! blocked before the timer thread starts (a new thread inherits the mask) and read
//! from a signalfd registered with the same poll.
//! `--quiet` leaves out the `recv` lines (not the ticks).
//!
//! # Migration
//!
//! * `Registration::new2()` + `poll.register(&registration, …)` and a `SetReadiness`
//!   for the other thread become one `Arc<Waker>` (`Waker::new(poll.registry(),
//!   TIMER)`), and `set_readiness(Ready::readable())` becomes `wake()`. mio 0.8 has no
//!   user-space readiness queue: a waker carries no readiness, only "wake up".
//! * The wake-up channel changes from mio's private pipe (written only when the
//!   poller might be asleep, and drained by the poller) to an eventfd that every
//!   `wake()` writes to and that is registered edge-triggered, so it is never read.
//! * `Ready`/`PollOpt` become `Interest`; mio 0.8 registrations are always
//!   edge-triggered, as this one already was. `poll.register(&socket, …)` becomes
//!   `poll.registry().register(&mut socket, …)`, and `EventedFd` becomes `SourceFd`.
//! * `poll.poll` takes `&mut self` and returns `Interrupted` instead of retrying when
//!   a caught signal interrupts `epoll_wait` (none is caught here: they are blocked).
//! * nix 0.30's `SignalFd` reads with `&self` and flags are `SfdFlags::…`.

use std::io;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token, Waker};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::RECV_BUFFER;
use shared::event::{emit, Counts, Event, Proto};

const SOCKET: Token = Token(0);
const TIMER: Token = Token(1);
const SIGNALS: Token = Token(2);

/// Datagrams read per wake-up before the loop polls again, so that a flood cannot
/// keep the timer events and the signalfd waiting forever.
const BUDGET: usize = 256;

struct Mixed {
    socket: UdpSocket,
    buf: Vec<u8>,
    quiet: bool,
    signals: SignalFd,
    /// Ticks made by the timer thread; the poller reports each one once.
    made: Arc<AtomicU64>,
    recv: u64,
    ticks: u64,
    /// The socket may still hold datagrams (the budget ran out before
    /// `WouldBlock`): poll without blocking, since no new edge will come.
    socket_pending: bool,
    stopping: bool,
}

impl Mixed {
    /// Reads datagrams until the socket would block or the budget is spent. The
    /// socket is registered edge-triggered: it is reported again only once new data
    /// arrives, so reading stops only at `WouldBlock` (or is resumed by the loop).
    fn read_some(&mut self) {
        self.socket_pending = true;
        for _ in 0..BUDGET {
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    self.recv += 1;
                    if !self.quiet {
                        emit(&Event::Recv {
                            len,
                            from,
                            at: None,
                        });
                    }
                }
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.socket_pending = false;
                    return;
                }
                // A per-datagram error concerns one peer only.
                Err(e) => eprintln!("recv_from: {e}"),
            }
        }
    }

    /// Prints one `tick N` per timer event made since the last report. Several
    /// `wake` calls between two polls may give one event, so the count, not the
    /// number of events, says how many ticks there were.
    fn report_ticks(&mut self) {
        let made = self.made.load(Ordering::Acquire);
        while self.ticks < made {
            self.ticks += 1;
            emit(&Event::Tick { count: self.ticks });
        }
    }

    /// Reads every pending signal; SIGINT or SIGTERM asks the loop to stop.
    fn on_signal(&mut self) -> Result<(), String> {
        loop {
            match self.signals.read_signal() {
                Ok(Some(_)) => self.stopping = true,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("signalfd: {e}")),
            }
        }
    }

    // `&mut Poll`: mio 0.8's `poll` takes the poll mutably.
    fn run(mut self, poll: &mut Poll) -> Result<Counts, String> {
        let mut events = Events::with_capacity(64);
        while !self.stopping {
            // Datagrams left from the last turn: look for events without blocking.
            let timeout = if self.socket_pending {
                Some(Duration::from_millis(0))
            } else {
                None
            };
            // mio 0.8 hands an `epoll_wait` interrupted by a signal back to the caller
            // (mio 0.6 retried it itself): wait again.
            match poll.poll(&mut events, timeout) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(format!("poll: {e}")),
            }
            let mut readable = self.socket_pending;
            for event in &events {
                match event.token() {
                    SOCKET => readable = true,
                    TIMER => self.report_ticks(),
                    SIGNALS => self.on_signal()?,
                    _ => {}
                }
            }
            // Once stopping, nothing more is read.
            if readable && !self.stopping {
                self.read_some();
            }
        }
        Ok(Counts(vec![
            ("recv".into(), self.recv),
            ("ticks".into(), self.ticks),
        ]))
    }
}

/// Every `interval`, counts a tick and wakes the poll. Ends if waking fails.
fn timer(interval: Duration, made: Arc<AtomicU64>, waker: Arc<Waker>) {
    loop {
        thread::sleep(interval);
        made.fetch_add(1, Ordering::Release);
        // From a thread that is not polling: adds one to the eventfd's counter, which
        // the kernel reports to `epoll_wait` now or at its next call.
        if waker.wake().is_err() {
            return;
        }
    }
}

/// Blocks SIGINT and SIGTERM and returns a signalfd that reads them. Blocked, they
/// no longer kill the process: they wait, pending, until read from the descriptor.
fn shutdown_signals() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    // Signals and flags are named through their types in current nix.
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    // Still single-threaded here, so the thread's mask is the process's, and every
    // thread spawned later inherits it.
    mask.thread_block()?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

fn main() {
    let spec = Spec::mio_mixed(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    // Block the signals before anything else, and before the timer thread exists.
    let signals = shutdown_signals().map_err(|e| format!("cannot watch signals: {e}"))?;
    let mut socket = UdpSocket::bind(args.bind).map_err(|e| bind_error(args.bind, &e))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;

    let mut poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    let register = |e: io::Error| format!("cannot register with the poll: {e}");
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)
        .map_err(register)?;
    // A user-space event source: an eventfd, registered for `TIMER`; the timer
    // thread gets a handle to it.
    let waker = Arc::new(Waker::new(poll.registry(), TIMER).map_err(register)?);
    poll.registry()
        .register(
            &mut SourceFd(&signals.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )
        .map_err(register)?;
    emit(&Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    let made = Arc::new(AtomicU64::new(0));
    let interval = args.interval;
    let timer_made = made.clone();
    thread::Builder::new()
        .name("timer".into())
        // The thread owns the `Waker`, where it owned the `SetReadiness`.
        .spawn(move || timer(interval, timer_made, waker))
        .map_err(|e| format!("cannot start the timer thread: {e}"))?;

    let mixed = Mixed {
        socket,
        buf: vec![0; RECV_BUFFER],
        quiet: args.quiet,
        signals,
        made,
        recv: 0,
        ticks: 0,
        socket_pending: false,
        stopping: false,
    };
    // No `Registration` to keep alive until the loop is done: the `Waker`, which
    // the timer thread owns, is what is registered.
    let counts = mixed.run(&mut poll)?;
    emit(&Event::Summary(counts));
    Ok(())
}
