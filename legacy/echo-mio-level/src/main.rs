//! UDP echo server on mio 0.6 with level-triggered registrations (`PollOpt::level`).
//!
//! mio wraps epoll (kqueue, IOCP elsewhere) in one portable API: a source is
//! registered with a `Token`, an interest (`Ready`) and a trigger mode (`PollOpt`), and
//! `Poll::poll` fills `Events`. mio 0.6 still offered epoll's level-triggered mode: a
//! registered socket is reported by every poll for as long as it is ready, whatever
//! the program did since. So the loop may read a budget of datagrams per event and
//! come back for the rest: the next poll reports the socket again. In exchange the
//! interest must follow the program's state, as with raw level-triggered epoll:
//! writable only while echoes are queued (an idle socket is always writable, and a
//! standing interest would end every poll at once), readable only until shutdown
//! begins. As mio 0.6 level-triggered programs were written (the original of this
//! one included), the interest is simply declared again with `reregister` before
//! every poll: one `epoll_ctl` per turn of the loop, so per datagram when they come
//! one at a time.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p legacy-echo-mio-level
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
//! blocked at start-up and read from a signalfd (nix 0.9) registered with the same
//! `Poll` as the socket, through `EventedFd`: shutdown is one more event.

use std::io;
use std::net::{self};
use std::os::unix::io::AsRawFd;

use mio::net::UdpSocket;
use mio::unix::{EventedFd, UnixReady};
use mio::{Events, Poll, PollOpt, Ready, Token};
use nix::sys::signal::{SigSet, SIGINT, SIGTERM};
use nix::sys::signalfd::{SignalFd, SFD_CLOEXEC, SFD_NONBLOCK};
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
}

impl Server {
    /// Sends queued echoes until the queue is empty or the socket would block.
    fn flush(&mut self) {
        while let Some((bytes, peer)) = self.queue.front() {
            match self.socket.send_to(bytes, &peer) {
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
    /// while reading goes on. Datagrams left over are not forgotten: the socket is
    /// level-triggered and the next `poll` reports it again at once.
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

    /// What the socket should be polled for: readability until shutdown begins,
    /// writability only while echoes are queued.
    fn interest(&self) -> Ready {
        match (self.stopping, self.queue.is_empty()) {
            (false, true) => Ready::readable(),
            (false, false) => Ready::readable() | Ready::writable(),
            (true, _) => Ready::writable(),
        }
    }

    /// Declares the interest for the next poll. Level-triggered, an interest left in
    /// place is reported by every poll while it holds, so it is set before each one.
    fn update_interest(&mut self) -> Result<(), String> {
        let wanted = self.interest();
        self.poll
            .reregister(&self.socket, SOCKET, wanted, PollOpt::level())
            .map_err(|e| format!("reregister: {e}"))
    }

    /// Blocks in `poll` until the signalfd or the socket is ready.
    fn wait(&mut self) -> Result<Wakeup, String> {
        // mio 0.6 retries a poll interrupted by a signal (EINTR) by itself.
        self.poll
            .poll(&mut self.events, None)
            .map_err(|e| format!("poll: {e}"))?;
        let mut woken = Wakeup::default();
        for event in self.events.iter() {
            let ready = event.readiness();
            match event.token() {
                SIGNALS => woken.signal = true,
                SOCKET => {
                    // An error is reported whatever the interest; `recv_from`
                    // returns the pending error and clears it.
                    woken.readable = ready.is_readable() || UnixReady::from(ready).is_error();
                    woken.writable = ready.is_writable();
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
                self.read_some();
            }
        }
    }
}

/// Blocks SIGINT and SIGTERM and returns a signalfd that reads them. Blocked, they
/// no longer kill the process: they wait, pending, until read from the descriptor.
fn shutdown_signals() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(SIGINT);
    mask.add(SIGTERM);
    // The program is single-threaded, so the thread's mask is the process's.
    mask.thread_block()?;
    SignalFd::with_flags(&mask, SFD_NONBLOCK | SFD_CLOEXEC)
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
    let socket = UdpSocket::from_socket(socket).map_err(|e| e.to_string())?;
    let poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    poll.register(
        &EventedFd(&signals.as_raw_fd()),
        SIGNALS,
        Ready::readable(),
        PollOpt::level(),
    )
    .and_then(|()| poll.register(&socket, SOCKET, Ready::readable(), PollOpt::level()))
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
    };
    let counts = server.run()?;
    emit(&counts.summary());
    Ok(())
}
