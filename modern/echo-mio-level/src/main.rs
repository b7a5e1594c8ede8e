//! UDP echo server on mio 0.8, which is edge-triggered only: level-triggered
//! behaviour recovered by re-arming with `reregister`.
//!
//! mio wraps epoll (kqueue, IOCP elsewhere) in one portable API: a source is
//! registered with a `Token` and an `Interest`, and `Poll::poll` fills `Events`. The
//! legacy twin of this program registered its socket level-triggered: reported by
//! every poll for as long as it is ready, so the loop could read a budget of
//! datagrams per event and count on the next poll to report the rest. mio 0.8 has no
//! such mode; every registration is edge-triggered, reported when it becomes ready.
//! This server keeps the level-triggered loop as it was and recovers the one
//! guarantee it relied on: when the read budget runs out before the socket would
//! block, the socket is re-registered, which makes epoll look at it again and report
//! it at the next poll if datagrams are still waiting, exactly as level triggering
//! would have. The interest still follows the program's state, as before: writable
//! only while echoes are queued, readable only until shutdown begins.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-echo-mio-level
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
//! * **What "level" meant.** With `PollOpt::level()` mio 0.6 registered the socket
//!   with epoll without `EPOLLET`: each `poll` reported it again while it held a
//!   datagram (readable) or had send-buffer room (writable), whatever the program had
//!   done since. mio 0.7 removed `PollOpt` (level, edge, oneshot): every registration
//!   is edge-triggered now, on every platform, and a source is reported only when it
//!   becomes ready. mio's documented contract is that an operation must be repeated
//!   until it returns `WouldBlock`, after which the next readiness is reported.
//! * **How level is recovered here.** Level and edge differ only for readiness the
//!   program leaves unused. This loop drains everything to `WouldBlock` except in one
//!   case: the read budget. Sends go until `WouldBlock` or an empty queue (and then
//!   writability is not wanted); signals are read until `WouldBlock`. So when the
//!   budget runs out, `read_some` says so and the socket is `reregister`ed with its
//!   unchanged interest. On Linux that is `EPOLL_CTL_MOD`, and the kernel re-polls a
//!   modified descriptor and queues an event at once if it is still ready: the next
//!   poll reports the socket, as level triggering did. It costs one `epoll_ctl` per
//!   wake-up that ends on the budget, none otherwise. This re-arming is epoll's
//!   behaviour rather than a promise of mio's API; the portable way, which keeps the
//!   readiness in the program (set by events, cleared by `WouldBlock`) and polls
//!   with a zero timeout while it is set, is shown by `modern-echo-mio-edge`.
//! * **Registering once.** The legacy loop declared its interest with `reregister`
//!   before every poll, as level-triggered mio 0.6 code was written: one
//!   `epoll_ctl` per turn. Here the registration stays as it is and is changed only
//!   when the interest changes (echoes queued or not) or to re-arm after the
//!   budget: on a ping-pong of single datagrams, no `epoll_ctl` at all.
//! * `Ready` + `PollOpt` become `Interest`, which cannot be empty
//!   (`Interest::READABLE | Interest::WRITABLE`); registration moved from `Poll` to
//!   its `Registry` (`poll.registry().register(&mut source, …)`), and sources are
//!   taken by `&mut`.
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
    /// The read budget ran out before `WouldBlock`: re-arm the socket's edge.
    rearm: bool,
}

impl Server {
    /// Sends queued echoes until the queue is empty or the socket would block.
    fn flush(&mut self) {
        while let Some((bytes, peer)) = self.queue.front() {
            // mio 0.8 takes the address by value (`SocketAddr` is `Copy`).
            match self.socket.send_to(bytes, peer) {
                Ok(_) => {
                    let (len, to) = self.queue.pop_sent().expect("front exists");
                    if !self.quiet {
                        emit(&echo::sent_event(len, to));
                    }
                }
                // The echo stays queued; the socket gets registered as writable.
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
    /// while reading goes on; `true` if the budget ran out first. Datagrams left over
    /// would bring no new edge: the caller re-arms the socket.
    fn read_some(&mut self) -> bool {
        for _ in 0..BUDGET {
            if !self.read_one() {
                return false;
            }
            self.flush();
        }
        true
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

    /// Re-registers the socket when the interest changed, or to re-arm it. Either
    /// way epoll looks at the socket afresh and reports it at the next poll if it is
    /// ready for the interest: what level triggering did at every poll.
    fn update_interest(&mut self) -> Result<(), String> {
        let wanted = self.interest();
        if wanted != self.registered || self.rearm {
            self.poll
                // Registering goes through the poll's `Registry`, takes the source by
                // `&mut`, and has no `PollOpt`: every registration is edge-triggered.
                .registry()
                .reregister(&mut self.socket, SOCKET, wanted)
                .map_err(|e| format!("reregister: {e}"))?;
            self.registered = wanted;
            self.rearm = false;
        }
        Ok(())
    }

    /// Blocks in `poll` until the signalfd or the socket is ready.
    fn wait(&mut self) -> Result<Wakeup, String> {
        match self.poll.poll(&mut self.events, None) {
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
            if self.stopping && self.queue.is_empty() {
                return Ok(self.queue.counts());
            }
            self.update_interest()?;
            let woken = self.wait()?;
            if woken.signal {
                self.on_signal()?;
            }
            if woken.writable {
                self.flush();
            }
            // Once stopping, nothing more is read: only what is queued goes out.
            if woken.readable && !self.stopping {
                // Level behaviour by hand: remember whether the socket may hold more, for
                // the next turn to look again without a new edge.
                self.rearm = self.read_some();
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
    let socket = net::UdpSocket::bind(args.bind).map_err(|e| bind_error(args.bind, &e))?;
    socket.set_nonblocking(true).map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // `from_std` cannot fail (mio 0.6's `from_socket` set the socket non-blocking
    // itself); registering needs `&mut` sources, through the `Registry`.
    let mut socket = UdpSocket::from_std(socket);
    let poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
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
        rearm: false,
    };
    let counts = server.run()?;
    emit(&counts.summary());
    Ok(())
}
