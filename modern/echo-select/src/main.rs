//! UDP echo server on `select(2)` through nix 0.30: one loop multiplexing reads, writes
//! and signals, with borrowed descriptors.
//!
//! `select` is the oldest readiness API, and the plainest: every turn of the loop
//! builds the descriptor sets from scratch (the socket and a signalfd in the read set,
//! the socket in the write set only while echoes are queued), blocks until one of them
//! is ready, and finds the answer written over the sets. It is level-triggered: a
//! socket that still holds datagrams is reported again by the next call, so the loop
//! may stop after a budget of reads and lose nothing. Its price is paid on every call
//! (the kernel scans the sets, the program rebuilds them) and in a hard ceiling:
//! descriptors numbered `FD_SETSIZE` (1024) or above cannot be watched at all.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-echo-select
//! nc -u 127.0.0.1 2000
//! ```
//!
//! Every datagram is echoed byte for byte (up to 65,507 bytes), except one whose
//! source port could start an echo loop (below 1024, or the server's own): that one
//! is read and refused (`refused … could loop`; `--allow-any-source-port` turns the
//! rule off for experiments). At most `--queue`
//! echoes wait to be sent, and a datagram that arrives when the queue is full is read
//! and dropped (`dropped … queue full`). SIGINT or SIGTERM stops reading, sends what
//! is queued, prints `summary recv=R sent=S dropped=D refused=F` and exits 0. The signals are
//! blocked at start-up and read from a signalfd that sits in the same read set as the
//! socket: shutdown is one more readiness event, with no signal handler.
//!
//! # Migration
//!
//! * `FdSet::insert` takes a `BorrowedFd<'fd>` instead of a `RawFd`, and the set
//!   carries that lifetime: it borrows the socket and the signalfd, so the compiler
//!   rejects closing either while a set still names it. With nix 0.9 a set was a bag
//!   of integers that could outlive, or name the wrong, descriptor.
//! * `select` works out `nfds` (the highest descriptor plus one) when given `None`, and
//!   takes `&mut FdSet` and the timeout directly (each argument is
//!   `Into<Option<…>>`), so the hand-computed `nfds` and the `Some(…)` wrappers go.
//! * `nix::Error` is `Errno` itself: `Err(Errno::EINTR)` instead of
//!   `Err(Error::Sys(Errno::EINTR))`.
//! * `SignalFd` owns an `OwnedFd` and reads with `&self` into a `MaybeUninit`. nix 0.9
//!   read into (and built `SigSet::empty` from) the deprecated `mem::uninitialized`,
//!   which today's Rust keeps working only by filling the memory with a fixed
//!   pattern.
//! * bitflags 2: flags are associated constants (`SfdFlags::SFD_NONBLOCK`), and
//!   signals are `Signal::SIGINT` rather than glob re-exports.
//! * `FD_SETSIZE` is a `usize` now. A descriptor beyond it still cannot be watched
//!   (nix 0.30 asserts where nix 0.9 indexed out of bounds; both panic), so the check
//!   at start-up stays.

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::select::{select, FdSet, FD_SETSIZE};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, EchoQueue};
use shared::event::{emit, Event, Proto};

/// Datagrams read per wake-up before the loop goes back to `select`, so that one
/// busy socket cannot keep the signalfd waiting forever.
const BUDGET: usize = 256;

/// What one call to `select` reported.
#[derive(Default)]
struct Ready {
    signal: bool,
    readable: bool,
    writable: bool,
}

struct Server {
    socket: UdpSocket,
    queue: EchoQueue,
    quiet: bool,
    signals: SignalFd,
    stopping: bool,
}

impl Server {
    /// Sends queued echoes until the queue is empty or the socket would block.
    fn flush(&mut self) {
        while let Some((bytes, peer)) = self.queue.front() {
            match self.socket.send_to(bytes, peer) {
                Ok(_) => {
                    let (len, to) = self.queue.pop_sent().expect("front exists");
                    if !self.quiet {
                        emit(&echo::sent_event(len, to));
                    }
                }
                // The echo stays queued; the socket goes into the write set.
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
        match self.socket.recv_from(self.queue.recv_buffer()) {
            Ok((len, peer)) => {
                self.queue.received(len, peer, self.quiet);
                true
            }
            Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(e) => {
                // A per-datagram error (an ICMP report, say) concerns one peer only.
                eprintln!("recv_from: {e}");
                true
            }
        }
    }

    /// Reads up to [`BUDGET`] datagrams, sending after each one so that echoes leave
    /// while reading goes on. Datagrams left over are not forgotten: `select` is
    /// level-triggered and reports the socket again at once.
    fn read_some(&mut self) {
        for _ in 0..BUDGET {
            if !self.read_one() {
                return;
            }
            self.flush();
        }
    }

    /// Reads every pending signal; SIGINT or SIGTERM asks the server to stop.
    fn on_signal(&mut self) -> Result<(), String> {
        loop {
            match self.signals.read_signal() {
                Ok(Some(_)) => self.stopping = true,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("signalfd: {e}")),
            }
        }
    }

    /// Blocks in `select` until the signalfd or the socket is ready. The sets are
    /// rebuilt on every call: `select` overwrites them with its answer.
    fn wait(&self) -> Result<Ready, String> {
        // Borrowed descriptors, which the current nix `FdSet` takes: a raw number
        // could be one that is already closed.
        let socket = self.socket.as_fd();
        let signals = self.signals.as_fd();
        let mut readfds = FdSet::new();
        let mut writefds = FdSet::new();
        readfds.insert(signals);
        if !self.stopping {
            readfds.insert(socket);
        }
        // Writability only while echoes are queued: an idle UDP socket is always
        // writable, and asking would make `select` return at once, forever.
        if !self.queue.is_empty() {
            writefds.insert(socket);
        }
        // `None`: nix works out `nfds`, the highest descriptor in the sets plus one.
        match select(None, &mut readfds, &mut writefds, None, None) {
            Ok(_) => {}
            // A signal that is not blocked interrupted the wait: nothing is ready.
            Err(Errno::EINTR) => return Ok(Ready::default()),
            Err(e) => return Err(format!("select: {e}")),
        }
        Ok(Ready {
            signal: readfds.contains(signals),
            readable: readfds.contains(socket),
            writable: writefds.contains(socket),
        })
    }

    fn run(mut self) -> Result<EchoCounts, String> {
        loop {
            if self.stopping && self.queue.is_empty() {
                return Ok(self.queue.counts());
            }
            let ready = self.wait()?;
            if ready.signal {
                self.on_signal()?;
            }
            if ready.writable {
                self.flush();
            }
            // Once stopping, nothing more is read: only what is queued goes out.
            if ready.readable && !self.stopping {
                self.read_some();
            }
        }
    }
}

/// `select` cannot watch a descriptor numbered `FD_SETSIZE` or above (nix 0.30
/// would fail an assertion and panic): refuse to start instead.
fn check_fd_setsize(fd: BorrowedFd<'_>) -> Result<(), String> {
    let fd = fd.as_raw_fd();
    if !usize::try_from(fd).is_ok_and(|n| n < FD_SETSIZE) {
        return Err(format!(
            "descriptor {fd} is beyond FD_SETSIZE ({FD_SETSIZE}): select cannot watch it"
        ));
    }
    Ok(())
}

/// Blocks SIGINT and SIGTERM and returns a signalfd that reads them. Blocked, they
/// no longer kill the process: they wait, pending, until read from the descriptor.
fn shutdown_signals() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    // Signals and flags are named through their types in current nix.
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    // The program is single-threaded, so the thread's mask is the process's.
    mask.thread_block()?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

fn main() {
    let spec = Spec::udp_echo(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &shared::cli::Args) -> Result<(), String> {
    // Block the signals before anything else, so that a signal sent as soon as
    // `listening` is read is already waiting on the signalfd.
    let signals = shutdown_signals().map_err(|e| format!("cannot watch signals: {e}"))?;
    let socket = UdpSocket::bind(args.bind).map_err(|e| bind_error(args.bind, &e))?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // Borrowed descriptors, as `FdSet` will take them.
    check_fd_setsize(socket.as_fd())?;
    check_fd_setsize(signals.as_fd())?;
    emit(&Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    let server = Server {
        socket,
        queue: EchoQueue::for_server(args, local),
        quiet: args.quiet,
        signals,
        stopping: false,
    };
    let counts = server.run()?;
    emit(&counts.summary());
    Ok(())
}
