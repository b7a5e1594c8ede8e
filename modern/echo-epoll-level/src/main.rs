//! UDP echo server on level-triggered epoll through nix 0.30, with owned descriptors.
//!
//! epoll turns `select` inside out: the interest list lives in the kernel, set once
//! with `epoll_ctl` and changed only when it changes, and `epoll_wait` returns just
//! the descriptors that are ready, so a wait costs the same with 2 descriptors or
//! 20,000. Level-triggered (the default) keeps the contract of `select`: a descriptor
//! is reported by every wait for as long as it is ready. That is why the loop may stop
//! after a budget of reads and lose nothing, and also why it must take back any
//! interest it no longer wants: EPOLLOUT on a socket with nothing to send (always
//! writable) would end every wait at once, and so would EPOLLIN while shutting down
//! with datagrams still arriving. The socket's registration is therefore modified
//! (`EPOLL_CTL_MOD`) when the queue fills or empties and when shutdown begins.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-echo-epoll-level
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
//! blocked at start-up and read from a signalfd registered in the same epoll instance
//! as the socket: shutdown is one more readiness event, with no signal handler.
//!
//! # Migration
//!
//! * `epoll_create1` returned a bare `RawFd`, which needed a hand-written `Drop` to
//!   be closed; `nix::sys::epoll::Epoll` owns an `OwnedFd` and closes itself.
//! * `epoll_ctl(epfd, EpollOp::…, raw_fd, &mut event)` becomes `Epoll::add`,
//!   `modify` and `delete`, which take the socket itself (`AsFd`) rather than its
//!   number, so a closed descriptor cannot be registered by mistake. (nix 0.9's way to
//!   delete, `epoll_ctl(…, EpollCtlDel, fd, None)`, even turned `None` into a null
//!   `&mut EpollEvent`: undefined behaviour, and a panic in today's debug builds.)
//! * `epoll_wait(epfd, &mut events, -1)` took milliseconds in an `isize`, -1 meaning
//!   forever; `Epoll::wait` takes an `EpollTimeout` (`EpollTimeout::NONE`).
//! * `nix::Error` is `Errno` itself: `Err(Errno::EINTR)` instead of
//!   `Err(Error::Sys(Errno::EINTR))`.
//! * bitflags 2: `EpollFlags::EPOLLIN`, `SfdFlags::SFD_NONBLOCK` are associated
//!   constants instead of module-level ones; signals are `Signal::SIGINT`.
//! * `SignalFd` owns an `OwnedFd` too, and reads with `&self` into a `MaybeUninit`
//!   rather than the deprecated `mem::uninitialized`.

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, EchoQueue};
use shared::event::{emit, Event, Proto};
use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsFd, BorrowedFd};

/// Datagrams read per wake-up before the loop goes back to `epoll_wait`, so that one
/// busy socket cannot keep the signalfd waiting forever.
const BUDGET: usize = 256;

/// What each registration carries in its `data` field, to tell the events apart.
const SOCKET: u64 = 0;
const SIGNALS: u64 = 1;

// No `Epoll(RawFd)` wrapper with a `Drop` that closes it: nix's `Epoll` owns its
// descriptor (an `OwnedFd`), and closes it when dropped.

/// What one call to `epoll_wait` reported.
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
    epoll: Epoll,
    /// What the socket is registered for, to call `epoll_ctl` only on a change.
    registered: EpollFlags,
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
                // The echo stays queued; the socket gets registered for EPOLLOUT.
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
    /// while reading goes on. Datagrams left over are not forgotten: the socket is
    /// level-triggered and the next `epoll_wait` reports it again at once.
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

    /// What the socket should be waited for: readability until shutdown begins,
    /// writability only while echoes are queued.
    fn interest(&self) -> EpollFlags {
        match (self.stopping, self.queue.is_empty()) {
            // bitflags 2: the flags are associated constants of their type.
            (false, true) => EpollFlags::EPOLLIN,
            (false, false) => EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT,
            (true, _) => EpollFlags::EPOLLOUT,
        }
    }

    /// Changes the socket's registration when the interest changed. Level-triggered,
    /// an interest left in place is reported by every wait while it holds.
    fn update_interest(&mut self) -> Result<(), String> {
        let wanted = self.interest();
        if wanted != self.registered {
            let mut event = EpollEvent::new(wanted, SOCKET);
            // The socket is borrowed as a descriptor (`AsFd`), not passed as a raw
            // number that could already be closed.
            self.epoll
                .modify(&self.socket, &mut event)
                .map_err(|e| format!("epoll_ctl: {e}"))?;
            self.registered = wanted;
        }
        Ok(())
    }

    /// Blocks in `epoll_wait` until the signalfd or the socket is ready.
    fn wait(&self) -> Result<Ready, String> {
        // One slot per registered descriptor: a wait reports each at most once.
        let mut events = [EpollEvent::empty(); 2];
        // A typed timeout (`NONE`: forever) where nix 0.9 took milliseconds, -1 for
        // forever; and `nix::Error` is `Errno` itself.
        let n = match self.epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) => n,
            // A signal that is not blocked interrupted the wait: nothing is ready.
            Err(Errno::EINTR) => return Ok(Ready::default()),
            Err(e) => return Err(format!("epoll_wait: {e}")),
        };
        let mut ready = Ready::default();
        for event in &events[..n] {
            match event.data() {
                SIGNALS => ready.signal = true,
                SOCKET => {
                    // EPOLLERR comes whatever the interest; `recv_from` returns the
                    // pending error and clears it.
                    let flags = event.events();
                    // Associated constants, as in `interest`.
                    ready.readable = flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLERR);
                    ready.writable = flags.contains(EpollFlags::EPOLLOUT);
                }
                _ => {}
            }
        }
        Ok(ready)
    }

    fn run(mut self) -> Result<EchoCounts, String> {
        loop {
            if self.stopping && self.queue.is_empty() {
                return Ok(self.queue.counts());
            }
            self.update_interest()?;
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
    // An `Epoll` that owns its descriptor, and registrations that borrow the others.
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
        .map_err(|e| format!("cannot create epoll instance: {e}"))?;
    let add = |fd: BorrowedFd<'_>, data: u64| {
        epoll
            .add(fd, EpollEvent::new(EpollFlags::EPOLLIN, data))
            .map_err(|e| format!("epoll_ctl: {e}"))
    };
    add(signals.as_fd(), SIGNALS)?;
    add(socket.as_fd(), SOCKET)?;
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
        epoll,
        // What `add` registered.
        registered: EpollFlags::EPOLLIN,
    };
    let counts = server.run()?;
    emit(&counts.summary());
    Ok(())
}
