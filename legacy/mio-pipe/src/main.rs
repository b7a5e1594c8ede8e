//! mio 0.6 and mio issue 785: readiness set by user code while no thread is polling.
//!
//! mio 0.6 keeps user-space readiness (`Registration`/`SetReadiness`) in a queue of
//! its own, beside the kernel's. A poller about to sleep in `epoll_wait` first puts a
//! "sleep marker" in that queue; a thread that queues readiness behind the marker
//! knows the poller may be asleep and wakes it by writing a byte to a pipe that the
//! epoll instance watches. When nobody is in `epoll_wait` (in a single-threaded
//! program, whenever user code runs) the write should not be needed: the next poll
//! finds the queue non-empty and does not block. Issue 785 reported, with mio 0.6.11,
//! the pipe write happening anyway, outside any `epoll_wait`, in this exact scenario:
//! a UDP socket and a `Registration` on one poll, a datagram sent to the socket,
//! polled and received, then `set_readiness` called.
//!
//! This program replays the scenario step by step on one thread, and after
//! `set_readiness` looks at the wake-up pipe itself: it finds the pipe among the
//! descriptors the epoll instance watches (`/proc/self/fdinfo`) and asks `poll(2)`,
//! without waiting, whether it holds a byte. With the mio 0.6.23 used here it does
//! not: mio 0.6.16 fixed the issue (pull request 875, "Reduce spurious awaken calls")
//! by clearing the sleep marker when a blocking poll returns, so the `set_readiness`
//! after it sees a poller that is awake, queues the event and writes nothing. The
//! event is still delivered, once, by the next poll. The pipe stays in use for what it
//! is for, a poller blocked in `epoll_wait` while another thread sets readiness (see
//! `mio-mixed`).
//!
//! Try it (and to see the system calls, from a second terminal or in place):
//!
//! ```text
//! cargo run -p legacy-mio-pipe
//! strace -f -e trace=epoll_wait,write,read target/debug/legacy-mio-pipe
//! ```
//!
//! It prints each step as a `step …` line and exits 0; the suite checks the sequence.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Poll, PollOpt, Ready, Registration, Token};
use nix::poll::{poll, PollFd, POLLIN};
use shared::cli::{exit_startup_error, Spec};
use shared::event::{emit, Event};
use shared::fds::{self, Kind};

const SOCKET: Token = Token(0);
const REGISTRATION: Token = Token(1);

/// How long a poll that expects an event may wait for it.
const EXPECT: Duration = Duration::from_secs(1);

fn step(text: impl Into<String>) {
    emit(&Event::Step(text.into().into()));
}

/// Polls once and prints what came back, as `poll returned: …`.
fn poll_once(poll: &Poll, events: &mut Events, timeout: Duration) -> Result<(), String> {
    poll.poll(events, Some(timeout))
        .map_err(|e| format!("poll: {e}"))?;
    let seen: Vec<String> = events
        .iter()
        .map(|e| match e.token() {
            SOCKET => "token 0 (socket)".to_string(),
            REGISTRATION => "token 1 (registration)".to_string(),
            Token(t) => format!("token {t}"),
        })
        .collect();
    if seen.is_empty() {
        step("poll returned: no event");
    } else {
        step(format!("poll returned: {}", seen.join(", ")));
    }
    Ok(())
}

/// The read end of mio's wake-up pipe: the pipe among the descriptors that the poll's
/// epoll instance watches.
fn wakeup_pipe(poll: &Poll) -> Result<RawFd, String> {
    let watched = fds::epoll_watched("self", poll.as_raw_fd())
        .map_err(|e| format!("cannot read the epoll instance's fdinfo: {e}"))?;
    let open = fds::open_fds("self").map_err(|e| format!("cannot list descriptors: {e}"))?;
    watched
        .iter()
        .find(|w| {
            open.iter()
                .any(|o| o.fd == w.fd && matches!(o.kind, Kind::Pipe(_)))
        })
        .map(|w| w.fd)
        .ok_or_else(|| "the epoll instance watches no pipe".to_string())
}

/// What the poll's epoll instance watches, as a phrase.
fn watched(poll: &Poll) -> Result<String, String> {
    fds::describe_watched("self", poll.as_raw_fd())
        .map_err(|e| format!("cannot read the epoll instance's fdinfo: {e}"))
}

/// Whether a read end holds data, asked without waiting.
fn readable(fd: RawFd) -> Result<bool, String> {
    let mut fds = [PollFd::new(fd, POLLIN)];
    poll(&mut fds, 0).map_err(|e| format!("poll(2): {e}"))?;
    Ok(fds[0].revents().is_some_and(|r| r.contains(POLLIN)))
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

fn main() {
    let spec = Spec::demo(
        env!("CARGO_BIN_NAME"),
        "replays mio issue 785: readiness set while the poller is not waiting",
    );
    spec.from_env();
    if let Err(e) = run() {
        exit_startup_error(spec.name, e);
    }
}

fn run() -> Result<(), String> {
    let poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    let pipe = wakeup_pipe(&poll)?;
    step(format!(
        "created a poll: its epoll instance watches {}",
        watched(&poll)?
    ));

    let any_port: SocketAddr = ([127, 0, 0, 1], 0).into();
    let socket = UdpSocket::bind(&any_port).map_err(|e| format!("cannot bind: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    poll.register(&socket, SOCKET, Ready::readable(), PollOpt::edge())
        .map_err(|e| format!("cannot register the socket: {e}"))?;
    let (registration, set_readiness) = Registration::new2();
    poll.register(
        &registration,
        REGISTRATION,
        Ready::readable(),
        PollOpt::edge(),
    )
    .map_err(|e| format!("cannot register the registration: {e}"))?;
    step(format!(
        "registered a UDP socket (token 0) and a Registration (token 1): \
         the epoll instance watches {}",
        watched(&poll)?
    ));

    let sender = StdUdpSocket::bind(any_port).map_err(|e| format!("cannot bind: {e}"))?;
    sender
        .send_to(b"hello", local)
        .map_err(|e| format!("cannot send: {e}"))?;
    step("sent 5 bytes to the socket");

    let mut events = Events::with_capacity(16);
    poll_once(&poll, &mut events, EXPECT)?;
    let mut buf = [0u8; 64];
    let (len, _) = socket
        .recv_from(&mut buf)
        .map_err(|e| format!("recv_from: {e}"))?;
    step(format!("received {len} bytes from the socket"));

    // The moment of issue 785: no thread is in `epoll_wait` now.
    set_readiness
        .set_readiness(Ready::readable())
        .map_err(|e| format!("set_readiness: {e}"))?;
    step("set_readiness(readable) while no thread is polling");
    step(format!(
        "wake-up pipe holds a byte: {}",
        yes_no(readable(pipe)?)
    ));

    poll_once(&poll, &mut events, EXPECT)?;
    step(format!(
        "wake-up pipe holds a byte: {}",
        yes_no(readable(pipe)?)
    ));
    poll_once(&poll, &mut events, Duration::from_millis(0))?;
    step("done");
    Ok(())
}
