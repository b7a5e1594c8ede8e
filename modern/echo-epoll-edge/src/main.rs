//! UDP echo server on edge-triggered epoll through nix 0.30: drain to EAGAIN, owned fds.
//!
//! With `EPOLLET`, epoll reports a change, not a state: the socket is reported when
//! it *becomes* readable (a datagram arrives), not by every wait while datagrams are
//! waiting. A loop that read one datagram per event would leave the rest in the kernel
//! until another datagram happened to arrive. So readiness is drained: read until
//! `recv_from` fails with EAGAIN (`WouldBlock`), send until the queue is empty or
//! `send_to` fails with EAGAIN; only then is the next edge sure to be reported. The
//! read budget (so that a flood cannot starve the signalfd) cuts a drain short, and
//! the edge will not come again for what is left: the server therefore remembers
//! readiness itself, in `readable` and `writable`, set by events and cleared only by
//! EAGAIN, and while `readable` is set it polls epoll without blocking. What edge
//! triggering buys is that a wait ends only when something new happened.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-echo-epoll-edge
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
//! The edge-triggered logic (drain to EAGAIN, remember what the budget left) does not
//! change at all: it is the kernel's contract, not nix's. What changes is how the
//! descriptors are held and named.
//!
//! * `epoll_create1` returned a bare `RawFd`, which needed a hand-written `Drop` to
//!   be closed; `nix::sys::epoll::Epoll` owns an `OwnedFd` and closes itself.
//!   `SignalFd` owns an `OwnedFd` too, and the socket always did.
//! * `epoll_ctl(epfd, EpollOp::…, raw_fd, &mut event)` becomes `Epoll::add`,
//!   `modify` and `delete`, which take the socket itself (`AsFd`) rather than its
//!   number, so a closed descriptor cannot be registered by mistake. (nix 0.9's way to
//!   delete, `epoll_ctl(…, EpollCtlDel, fd, None)`, even turned `None` into a null
//!   `&mut EpollEvent`: undefined behaviour, and a panic in today's debug builds.)
//! * `epoll_wait(epfd, &mut events, ms)` took milliseconds in an `isize`, -1 meaning
//!   forever; `Epoll::wait` takes an `EpollTimeout`: `EpollTimeout::ZERO` to poll,
//!   `EpollTimeout::NONE` to block.
//! * `nix::Error` is `Errno` itself: `Err(Errno::EINTR)` instead of
//!   `Err(Error::Sys(Errno::EINTR))`.
//! * bitflags 2: `EpollFlags::EPOLLET`, `SfdFlags::SFD_NONBLOCK` are associated
//!   constants instead of module-level ones; signals are `Signal::SIGINT`.

use std::io;
use std::net::UdpSocket;
use std::os::fd::{AsFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, EchoQueue};
use shared::event::{emit, Event, Proto};

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
    /// The socket was reported readable and `recv_from` has not said EAGAIN since.
    readable: bool,
    /// `send_to` has not said EAGAIN since the socket was last reported writable.
    writable: bool,
}

impl Server {
    /// Sends queued echoes until the queue is empty or the socket would block;
    /// `false` when it would block.
    fn flush(&mut self) -> bool {
        while let Some((bytes, peer)) = self.queue.front() {
            match self.socket.send_to(bytes, peer) {
                Ok(_) => {
                    let (len, to) = self.queue.pop_sent().expect("front exists");
                    if !self.quiet {
                        emit(&echo::sent_event(len, to));
                    }
                }
                // The echo stays queued; the socket gets registered for EPOLLOUT,
                // whose edge comes when the send buffer has room again.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) => {
                    let (len, from) = self.queue.pop_failed().expect("front exists");
                    emit(&echo::send_failed_event(len, from, &e));
                }
            }
        }
        true
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

    /// Sends and reads for as long as the socket is known ready, reading at most
    /// [`BUDGET`] datagrams. Each direction stops only at EAGAIN, which is what
    /// re-arms its edge; a flag left set means readiness not yet used up.
    fn pump(&mut self) {
        let mut budget = BUDGET;
        loop {
            if self.writable {
                self.writable = self.flush();
            }
            if self.stopping || !self.readable || budget == 0 {
                return;
            }
            self.readable = self.read_one();
            budget -= 1;
        }
    }

    /// Reads every pending signal; SIGINT or SIGTERM asks the server to stop. The
    /// signalfd is edge-triggered too: it must be read until EAGAIN.
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

    /// Changes the socket's registration when the interest changed. Edge-triggered,
    /// an idle interest does not spin, but EPOLLOUT would still end a wait each time
    /// sent datagrams free buffer space: once per echo on loopback. Re-registering
    /// also re-arms: `EPOLL_CTL_MOD` reports the socket at once if already ready.
    fn update_interest(&mut self) -> Result<(), String> {
        let wanted = self.interest();
        if wanted != self.registered {
            let mut event = EpollEvent::new(wanted | EpollFlags::EPOLLET, SOCKET);
            // The socket is borrowed as a descriptor (`AsFd`), not passed as a raw
            // number that could already be closed.
            self.epoll
                .modify(&self.socket, &mut event)
                .map_err(|e| format!("epoll_ctl: {e}"))?;
            self.registered = wanted;
        }
        Ok(())
    }

    /// Waits in `epoll_wait` for a new edge on the signalfd or the socket, at most
    /// `timeout`.
    fn wait(&self, timeout: EpollTimeout) -> Result<Ready, String> {
        // One slot per registered descriptor: a wait reports each at most once.
        let mut events = [EpollEvent::empty(); 2];
        let n = match self.epoll.wait(&mut events, timeout) {
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
            self.pump();
            if self.stopping && self.queue.is_empty() {
                return Ok(self.queue.counts());
            }
            self.update_interest()?;
            // Datagrams left by the budget will bring no new edge: look at the
            // signalfd without blocking (`ZERO`, where nix 0.9 took 0 ms), then go
            // on reading.
            let timeout = if self.readable && !self.stopping {
                EpollTimeout::ZERO
            } else {
                EpollTimeout::NONE
            };
            let ready = self.wait(timeout)?;
            if ready.signal {
                self.on_signal()?;
            }
            // Remember the edges: the flags are cleared only by EAGAIN.
            self.readable |= ready.readable;
            self.writable |= ready.writable;
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
    // Registering reports what is already pending, as a first edge.
    let add = |fd: BorrowedFd<'_>, data: u64| {
        let event = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, data);
        epoll.add(fd, event).map_err(|e| format!("epoll_ctl: {e}"))
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
        readable: false,
        // A new socket can send: assume so until `send_to` says EAGAIN.
        writable: true,
    };
    let counts = server.run()?;
    emit(&counts.summary());
    Ok(())
}
