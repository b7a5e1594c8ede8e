//! mio 0.6: one poll waiting on a UDP socket and on events made by another thread.
//!
//! A mio `Poll` can wait for kernel readiness (a socket) and for user-space events
//! (something another thread decided) at the same time. In mio 0.6 the second kind is
//! a `Registration`, registered like a socket, whose paired `SetReadiness` handle can
//! be moved to any thread: `set_readiness(Ready::readable())` there makes the poller
//! report the registration's token. Underneath, mio keeps those events in a queue of
//! its own, and when the poller may be asleep in `epoll_wait`, the setting thread
//! writes a byte to a pipe that the epoll instance watches, so that the poller wakes
//! up and drains the queue.
//!
//! Here a timer thread sets the readiness every `--interval-ms` (default 3000), while
//! the same poll waits on a UDP socket and on a signalfd.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p legacy-mio-mixed
//! nc -u 127.0.0.1 2000
//! ```
//!
//! Each datagram prints `recv N bytes from PEER` (nothing is sent back), each timer
//! event `tick N`. The wake-up pipe shows as two `pipe:[…]` entries in
//! `/proc/PID/fd`, and under `strace -f` each tick is a `write` of one byte by the
//! timer thread followed by a `read` by the poller. SIGINT or SIGTERM prints
//! `summary recv=R ticks=T` and exits 0: the signals are blocked before the timer
//! thread starts (a new thread inherits the mask) and read from a signalfd registered
//! with the same poll.
//! `--quiet` leaves out the `recv` lines (not the ticks).

use std::io;
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use mio::net::UdpSocket;
use mio::unix::EventedFd;
use mio::{Events, Poll, PollOpt, Ready, Registration, SetReadiness, Token};
use nix::sys::signal::{SigSet, SIGINT, SIGTERM};
use nix::sys::signalfd::{SignalFd, SFD_CLOEXEC, SFD_NONBLOCK};
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
    /// `set_readiness` calls between two polls give one event, so the count, not the
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

    fn run(mut self, poll: &Poll) -> Result<Counts, String> {
        let mut events = Events::with_capacity(64);
        while !self.stopping {
            // Datagrams left from the last turn: look for events without blocking.
            let timeout = if self.socket_pending {
                Some(Duration::from_millis(0))
            } else {
                None
            };
            // mio 0.6 retries an `epoll_wait` interrupted by a signal itself.
            poll.poll(&mut events, timeout)
                .map_err(|e| format!("poll: {e}"))?;
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

/// Every `interval`, counts a tick and sets the registration readable. Ends when the
/// poll is gone.
fn timer(interval: Duration, made: Arc<AtomicU64>, set_readiness: SetReadiness) {
    loop {
        thread::sleep(interval);
        made.fetch_add(1, Ordering::Release);
        // From a thread that is not polling: mio queues the event and, if the poller
        // may be asleep in `epoll_wait`, writes a byte to its wake-up pipe.
        if set_readiness.set_readiness(Ready::readable()).is_err() {
            return;
        }
    }
}

/// Blocks SIGINT and SIGTERM and returns a signalfd that reads them. Blocked, they
/// no longer kill the process: they wait, pending, until read from the descriptor.
fn shutdown_signals() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(SIGINT);
    mask.add(SIGTERM);
    // Still single-threaded here, so the thread's mask is the process's, and every
    // thread spawned later inherits it.
    mask.thread_block()?;
    SignalFd::with_flags(&mask, SFD_NONBLOCK | SFD_CLOEXEC)
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
    let socket = UdpSocket::bind(&args.bind).map_err(|e| bind_error(args.bind, &e))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;

    let poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    let register = |e: io::Error| format!("cannot register with the poll: {e}");
    poll.register(&socket, SOCKET, Ready::readable(), PollOpt::edge())
        .map_err(register)?;
    // A user-space event source: the poll keeps `registration`, the timer thread
    // gets `set_readiness`.
    let (registration, set_readiness) = Registration::new2();
    poll.register(&registration, TIMER, Ready::readable(), PollOpt::edge())
        .map_err(register)?;
    poll.register(
        &EventedFd(&signals.as_raw_fd()),
        SIGNALS,
        Ready::readable(),
        PollOpt::edge(),
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
        .spawn(move || timer(interval, timer_made, set_readiness))
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
    let counts = mixed.run(&poll)?;
    // Keep the registration until the loop is done: dropping it deregisters it.
    drop(registration);
    emit(&Event::Summary(counts));
    Ok(())
}
