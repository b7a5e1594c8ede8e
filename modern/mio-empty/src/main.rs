//! mio 0.8 with nothing registered: the poll never returns, and shows what mio
//! creates before anything is registered.
//!
//! `Poll::new` creates an epoll instance, and nothing else. mio 0.8 has no queue of
//! user-space readiness of its own: a thread that needs to wake the poller creates a
//! `Waker` explicitly (an eventfd on Linux), so a program that never asks for one
//! never pays for one. This program registers nothing and polls without a timeout,
//! so the poll never returns, and the process can be looked at while it waits.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p modern-mio-empty
//! ls -l /proc/$(pgrep -n modern-mio-empt)/fd
//! ```
//!
//! Besides stdin, stdout and stderr the process holds one `anon_inode:[eventpoll]`,
//! and no pipe. Under `strace -f` the start-up shows a single `epoll_create1`, then
//! one `epoll_wait` that never returns. It prints `step about to poll with nothing
//! registered` first. SIGINT or SIGTERM ends it with `step stopped by a signal: the
//! poll never returned` and exit 0; the signal is taken by a thread of its own
//! (`sigwait`), so that nothing is registered with the poll to hear it.
//!
//! # Migration
//!
//! * mio 0.6's `Poll::new` created a wake-up pipe for its user-space readiness queue
//!   (`Registration`/`SetReadiness`), used or not. mio 0.8 removed that queue; its
//!   replacement, `Waker`, is created on request (`Waker::new(registry, token)`) and
//!   is an eventfd. See `mio-mixed` and `mio-pipe`.
//! * `poll.poll(&mut events, None)` now takes `&mut self`, and returns `Interrupted`
//!   when a signal interrupts `epoll_wait` instead of retrying itself: the loop
//!   retries.

use std::io;
use std::process;
use std::thread;

use mio::{Events, Poll};
use nix::sys::signal::{SigSet, Signal};
use shared::cli::{exit_startup_error, Spec};
use shared::event::{emit, Event};

/// What a signal prints: the poll it interrupted never returned.
const STOPPED: &str = "stopped by a signal: the poll never returned";

/// SIGINT and SIGTERM are blocked in every thread and taken by one of their own with
/// `sigwait`, which ends the process: nothing is registered with the poll, so the
/// poll still never returns, and the signal does not interrupt `epoll_wait` either.
fn stop_on_signal() -> Result<(), String> {
    let mut mask = SigSet::empty();
    // Signals are named through their type in current nix.
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block()
        .map_err(|e| format!("cannot block signals: {e}"))?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if mask.wait().is_ok() {
                emit(&Event::Step(STOPPED.into()));
                process::exit(0);
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the signal thread: {e}"))
}

fn main() {
    let spec = Spec::demo(
        env!("CARGO_BIN_NAME"),
        "polls mio with nothing registered; the poll never returns",
    );
    spec.from_env();
    if let Err(e) = run() {
        exit_startup_error(spec.name, e);
    }
}

fn run() -> Result<(), String> {
    stop_on_signal()?;
    // Creates the epoll instance, and nothing else.
    let mut poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    let mut events = Events::with_capacity(16);
    emit(&Event::Step("about to poll with nothing registered".into()));
    loop {
        // No timeout and nothing that could become ready: `epoll_wait` blocks for
        // good. A signal that is caught (none is, here) would interrupt it.
        match poll.poll(&mut events, None) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("poll: {e}")),
        }
    }
}
