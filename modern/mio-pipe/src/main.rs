//! mio 0.8 and the case of mio issue 785: a wake-up made while no thread is polling.
//!
//! mio 0.6 kept user-space readiness (`Registration`/`SetReadiness`) in a queue of its
//! own and woke a sleeping poller through a pipe; issue 785 was about that pipe being
//! written when no poller was asleep, and mio 0.6.16 fixed it (see the legacy
//! program). mio 0.8 removed the queue altogether. What is left is a `Waker`: an
//! eventfd registered with the epoll instance (edge-triggered, as every mio 0.8
//! registration), and `wake()` is one `write` that adds 1 to its counter, every time,
//! whether a thread is in `epoll_wait` or not. Nothing decides whether to write,
//! so there is nothing to get wrong: the kernel remembers the wake-up, and the next
//! `epoll_wait` reports it, once. mio never reads the counter back (it only resets it
//! if it would overflow): the edge is the new write, not the counter's value.
//!
//! This program replays the scenario of issue 785 step by step on one thread, with a
//! `Waker` in place of the `Registration`, and after `wake()` looks at the eventfd
//! itself: it finds it among the descriptors the epoll instance watches
//! (`/proc/self/fdinfo`) and reads its counter from there (`eventfd-count`).
//!
//! Try it (and to see the system calls, from a second terminal or in place):
//!
//! ```text
//! cargo run -p modern-mio-pipe
//! strace -f -e trace=epoll_wait,write,read target/debug/modern-mio-pipe
//! ```
//!
//! It prints each step as a `step …` line and exits 0; the suite checks the sequence.
//!
//! # Migration
//!
//! * `Registration::new2()` and `poll.register(&registration, token, …)` become
//!   `Waker::new(poll.registry(), token)`; `set_readiness(Ready::readable())` becomes
//!   `wake()`. A waker carries no readiness to set or clear: it only says "wake up".
//! * mio's private wake-up pipe, created by every `Poll::new` and written only when
//!   the poller might be asleep, becomes an eventfd that exists only if a `Waker` is
//!   created, and is written on every `wake()`. The question of issue 785 (is the
//!   write needed now?) is no longer asked; a `wake()` costs one system call, always.
//! * `Ready`/`PollOpt` become `Interest` (always edge-triggered), and registering takes
//!   `&mut` the source through `poll.registry()`.

use std::net::{SocketAddr, UdpSocket as StdUdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::time::Duration;

use mio::net::UdpSocket;
use mio::{Events, Interest, Poll, Token, Waker};
use shared::cli::{exit_startup_error, Spec};
use shared::event::{emit, Event};
use shared::fds::{self, Kind};

const SOCKET: Token = Token(0);
const WAKER: Token = Token(1);

/// How long a poll that expects an event may wait for it.
const EXPECT: Duration = Duration::from_secs(1);

fn step(text: impl Into<String>) {
    emit(&Event::Step(text.into().into()));
}

/// Polls once and prints what came back, as `poll returned: …`.
// `&mut Poll`: mio 0.8's `poll` takes the poll mutably; token 1 is the waker.
fn poll_once(poll: &mut Poll, events: &mut Events, timeout: Duration) -> Result<(), String> {
    poll.poll(events, Some(timeout))
        .map_err(|e| format!("poll: {e}"))?;
    let seen: Vec<String> = events
        .iter()
        .map(|e| match e.token() {
            SOCKET => "token 0 (socket)".to_string(),
            WAKER => "token 1 (waker)".to_string(),
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

/// The waker's eventfd: the eventfd among the descriptors that the poll's epoll
/// instance watches (where mio 0.6 had its wake-up pipe).
// port of: wakeup_pipe
fn waker_eventfd(poll: &Poll) -> Result<RawFd, String> {
    let watched = fds::epoll_watched("self", poll.as_raw_fd())
        .map_err(|e| format!("cannot read the epoll instance's fdinfo: {e}"))?;
    let open = fds::open_fds("self").map_err(|e| format!("cannot list descriptors: {e}"))?;
    watched
        .iter()
        .find(|w| {
            open.iter()
                // An eventfd, where mio 0.6 had its wake-up pipe.
                .any(|o| o.fd == w.fd && matches!(o.kind, Kind::EventFd))
        })
        .map(|w| w.fd)
        .ok_or_else(|| "the epoll instance watches no eventfd".to_string())
}

/// What the poll's epoll instance watches, as a phrase.
fn watched(poll: &Poll) -> Result<String, String> {
    fds::describe_watched("self", poll.as_raw_fd())
        .map_err(|e| format!("cannot read the epoll instance's fdinfo: {e}"))
}

/// The eventfd's counter, as the kernel shows it in fdinfo: what a wake-up left
/// behind, as a byte in the pipe was.
// port of: readable
fn counter(fd: RawFd) -> Result<u64, String> {
    fds::eventfd_count("self", fd).map_err(|e| format!("cannot read the eventfd counter: {e}"))
}

fn main() {
    let spec = Spec::demo(
        env!("CARGO_BIN_NAME"),
        "replays the case of mio issue 785 with a Waker: a wake-up while the poller is not waiting",
    );
    spec.from_env();
    if let Err(e) = run() {
        exit_startup_error(spec.name, e);
    }
}

fn run() -> Result<(), String> {
    // No wake-up pipe to find here: mio 0.8 creates nothing but the epoll
    // instance, until a `Waker` is made.
    let mut poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    step(format!(
        "created a poll: its epoll instance watches {}",
        watched(&poll)?
    ));

    let any_port: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut socket = UdpSocket::bind(any_port).map_err(|e| format!("cannot bind: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    poll.registry()
        .register(&mut socket, SOCKET, Interest::READABLE)
        .map_err(|e| format!("cannot register the socket: {e}"))?;
    let waker =
        Waker::new(poll.registry(), WAKER).map_err(|e| format!("cannot create the waker: {e}"))?;
    let eventfd = waker_eventfd(&poll)?;
    step(format!(
        "registered a UDP socket (token 0) and a Waker (token 1): \
         the epoll instance watches {}",
        watched(&poll)?
    ));

    let sender = StdUdpSocket::bind(any_port).map_err(|e| format!("cannot bind: {e}"))?;
    sender
        .send_to(b"hello", local)
        .map_err(|e| format!("cannot send: {e}"))?;
    step("sent 5 bytes to the socket");

    let mut events = Events::with_capacity(16);
    poll_once(&mut poll, &mut events, EXPECT)?;
    let mut buf = [0u8; 64];
    let (len, _) = socket
        .recv_from(&mut buf)
        .map_err(|e| format!("recv_from: {e}"))?;
    step(format!("received {len} bytes from the socket"));

    // The moment of issue 785: no thread is in `epoll_wait` now. `wake` writes to
    // the eventfd regardless.
    waker.wake().map_err(|e| format!("wake: {e}"))?;
    step("wake() while no thread is polling");
    step(format!("eventfd counter: {}", counter(eventfd)?));

    poll_once(&mut poll, &mut events, EXPECT)?;
    step(format!("eventfd counter: {}", counter(eventfd)?));
    poll_once(&mut poll, &mut events, Duration::from_millis(0))?;
    step("done");
    Ok(())
}
