//! UDP echo server on mio 0.8 with `Interest`, edge-triggered (the only mode left).
//!
//! mio wraps epoll (kqueue, IOCP elsewhere) in one portable API: a source is
//! registered with a `Token` and an `Interest`, and `Poll::poll` fills `Events`.
//! Edge-triggered, a source is reported when it
//! *becomes* ready, not at every poll while it stays ready, so readiness must be
//! drained: read until `recv_from` returns `WouldBlock`, send until the queue is empty
//! or `send_to` returns `WouldBlock`. Only then is the next edge sure to be reported.
//! The read budget (so that a flood cannot starve the signalfd) cuts a drain short,
//! and no edge will come for what is left: the server therefore remembers readiness
//! itself, in `readable` and `writable`, set by events and cleared only by
//! `WouldBlock`, and while `readable` is set it polls with a zero timeout.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-echo-mio-edge
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
//! blocked at start-up and read from a signalfd (nix 0.30) registered with the same
//! `Poll` as the socket, through `SourceFd`: shutdown is one more event.
//!
//! # Migration
//!
//! The edge-triggered logic does not change: mio 0.8 made edge triggering the only
//! mode, and its documented contract ("perform the operation until `WouldBlock`") is
//! what this loop already did. Remembering readiness across the read budget, as here,
//! is also the portable way to get level-triggered behaviour back (compare
//! `modern-echo-mio-level`, which re-arms with `reregister` instead); it is what
//! tokio does inside, keeping readiness until an operation reports `WouldBlock`.
//!
//! * `Ready` + `PollOpt::edge()` become `Interest`, which cannot be empty
//!   (`Interest::READABLE | Interest::WRITABLE`); `PollOpt` is gone, and with it
//!   level and oneshot.
//! * Registration moved from `Poll` to its `Registry`
//!   (`poll.registry().register(&mut source, …)`), and sources are taken by `&mut`.
//! * `event.readiness().is_readable()` becomes `event.is_readable()`; errors are
//!   `event.is_error()` instead of `UnixReady::from(readiness).is_error()`.
//! * `UdpSocket::from_socket` (fallible, `&SocketAddr` arguments) becomes
//!   `UdpSocket::from_std` (infallible, `SocketAddr` by value); `EventedFd` becomes
//!   `SourceFd`.
//! * `Poll::poll` takes `&mut self` and returns `ErrorKind::Interrupted` on EINTR
//!   instead of retrying; the loop treats it as a wake-up with nothing ready.
//! * `Poll::new` no longer creates a wake-up pipe for user-space readiness (0.6's
//!   `Registration`/`SetReadiness`): only the epoll descriptor. See `mio-empty`.

use std::io;
use std::net::{self};
use std::os::unix::io::AsRawFd;
use std::time::Duration;

use mio::net::UdpSocket;
// mio 0.8: `Interest` replaces `Ready` + `PollOpt` (always edge-triggered), and
// `SourceFd` the `EventedFd` of a raw descriptor.
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, EchoQueue};
use shared::event::{emit, Event, Proto};

/// Datagrams read per wake-up before the loop goes back to `poll`, so that one busy
/// socket cannot keep the signalfd waiting forever.
const BUDGET: usize = 256;

/// The tokens that tell the events apart.
const SOCKET: Token = Token(0);
const SIGNALS: Token = Token(1);

/// What one call to `poll` reported.
#[derive(Default)]
struct Wakeup {
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
    poll: Poll,
    events: Events,
    /// What the socket is registered for, to call `reregister` only on a change.
    // `Interest`, where mio 0.6 had `Ready`: there is no readiness to register, only
    // what to be woken for.
    registered: Interest,
    /// The socket was reported readable and `recv_from` has not said `WouldBlock`
    /// since.
    readable: bool,
    /// `send_to` has not said `WouldBlock` since the socket was last reported
    /// writable.
    writable: bool,
}

impl Server {
    /// Sends queued echoes until the queue is empty or the socket would block;
    /// `false` when it would block.
    fn flush(&mut self) -> bool {
        while let Some((bytes, peer)) = self.queue.front() {
            // mio 0.8 takes the address by value (`SocketAddr` is `Copy`).
            match self.socket.send_to(bytes, peer) {
                Ok(_) => {
                    let (len, to) = self.queue.pop_sent().expect("front exists");
                    if !self.quiet {
                        emit(&echo::sent_event(len, to));
                    }
                }
                // The echo stays queued; the socket gets registered as writable,
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
    /// [`BUDGET`] datagrams. Each direction stops only at `WouldBlock`, which is what
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
    /// signalfd is edge-triggered too: it must be read until `WouldBlock`.
    fn on_signal(&mut self) -> Result<(), String> {
        loop {
            match self.signals.read_signal() {
                Ok(Some(_)) => self.stopping = true,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("signalfd: {e}")),
            }
        }
    }

    /// What the socket should be polled for: readability until shutdown begins,
    /// writability only while echoes are queued.
    // `Interest` constants, where mio 0.6 built `Ready` values with `readable()`.
    fn interest(&self) -> Interest {
        match (self.stopping, self.queue.is_empty()) {
            (false, true) => Interest::READABLE,
            (false, false) => Interest::READABLE | Interest::WRITABLE,
            (true, _) => Interest::WRITABLE,
        }
    }

    /// Re-registers the socket when the interest changed. Edge-triggered, an idle
    /// interest does not spin, but writability would still end a poll each time
    /// sent datagrams free buffer space: once per echo on loopback. Re-registering
    /// also re-arms: the socket is reported at once if already ready.
    fn update_interest(&mut self) -> Result<(), String> {
        let wanted = self.interest();
        if wanted != self.registered {
            self.poll
                // Registering goes through the poll's `Registry`, takes the source by
                // `&mut`, and has no `PollOpt`: every registration is edge-triggered.
                .registry()
                .reregister(&mut self.socket, SOCKET, wanted)
                .map_err(|e| format!("reregister: {e}"))?;
            self.registered = wanted;
        }
        Ok(())
    }

    /// Waits in `poll` for a new edge on the signalfd or the socket, at most
    /// `timeout` (`None`: forever).
    fn wait(&mut self, timeout: Option<Duration>) -> Result<Wakeup, String> {
        match self.poll.poll(&mut self.events, timeout) {
            Ok(()) => {}
            // A signal that is not blocked interrupted the wait: nothing is ready.
            Err(ref e) if e.kind() == io::ErrorKind::Interrupted => return Ok(Wakeup::default()),
            Err(e) => return Err(format!("poll: {e}")),
        }
        let mut woken = Wakeup::default();
        for event in self.events.iter() {
            match event.token() {
                SIGNALS => woken.signal = true,
                SOCKET => {
                    // An error is reported whatever the interest; `recv_from`
                    // returns the pending error and clears it.
                    woken.readable = event.is_readable() || event.is_error();
                    woken.writable = event.is_writable();
                }
                _ => {}
            }
        }
        Ok(woken)
    }

    fn run(mut self) -> Result<EchoCounts, String> {
        loop {
            self.pump();
            if self.stopping && self.queue.is_empty() {
                return Ok(self.queue.counts());
            }
            self.update_interest()?;
            // Datagrams left by the budget will bring no new edge: look at the
            // signalfd without blocking, then go on reading.
            let timeout = if self.readable && !self.stopping {
                // `Duration::ZERO`, a constant since Rust 1.53.
                Some(Duration::ZERO)
            } else {
                None
            };
            let woken = self.wait(timeout)?;
            if woken.signal {
                self.on_signal()?;
            }
            // Remember the edges: the flags are cleared only by `WouldBlock`.
            self.readable |= woken.readable;
            self.writable |= woken.writable;
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
    let socket = net::UdpSocket::bind(args.bind).map_err(|e| bind_error(args.bind, &e))?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // `from_std` cannot fail (mio 0.6's `from_socket` set the socket non-blocking
    // itself); registering needs `&mut` sources, through the `Registry`.
    let mut socket = UdpSocket::from_std(socket);
    let poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    // Registering reports what is already pending, as a first edge.
    let registry = poll.registry();
    registry
        .register(
            &mut SourceFd(&signals.as_raw_fd()),
            SIGNALS,
            Interest::READABLE,
        )
        .and_then(|()| registry.register(&mut socket, SOCKET, Interest::READABLE))
        .map_err(|e| format!("register: {e}"))?;
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
        poll,
        // One event per registered source is all a poll can report.
        events: Events::with_capacity(2),
        // What `register` asked for.
        registered: Interest::READABLE,
        readable: false,
        // A new socket can send: assume so until `send_to` says `WouldBlock`.
        writable: true,
    };
    let counts = server.run()?;
    emit(&counts.summary());
    Ok(())
}
