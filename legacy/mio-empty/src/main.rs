//! mio 0.6 with nothing registered: the poll never returns, and shows what mio
//! creates before anything is registered.
//!
//! `Poll::new` creates an epoll instance, and also a pipe: mio 0.6 keeps a queue of
//! user-space readiness (`Registration`/`SetReadiness`, set from any thread) beside
//! the kernel's, and a thread that sets readiness while the poller sleeps in
//! `epoll_wait` wakes it by writing a byte to that pipe. The pipe is created and
//! registered with the epoll instance whether or not the program ever uses a
//! `Registration`. This program registers nothing and polls without a timeout, so
//! the poll never returns, and the process can be looked at while it waits.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p legacy-mio-empty
//! ls -l /proc/$(pgrep -n legacy-mio-empt)/fd
//! ```
//!
//! Besides stdin, stdout and stderr the process holds an `anon_inode:[eventpoll]` and
//! two `pipe:[…]` ends of one pipe. Under `strace -f` the start-up shows
//! `epoll_create1`, `pipe2` and the `epoll_ctl` that registers the pipe's read end,
//! then one `epoll_wait` that never returns. It prints `step about to poll with
//! nothing registered` first. SIGINT or SIGTERM ends it with `step stopped by a
//! signal: the poll never returned` and exit 0; the signal is taken by a thread of its
//! own (`sigwait`), so that nothing is registered with the poll to hear it.

use std::process;
use std::thread;

use mio::{Events, Poll};
use nix::sys::signal::{SigSet, SIGINT, SIGTERM};
use shared::cli::{exit_startup_error, Spec};
use shared::event::{emit, Event};

/// What a signal prints: the poll it interrupted never returned.
const STOPPED: &str = "stopped by a signal: the poll never returned";

/// SIGINT and SIGTERM are blocked in every thread and taken by one of their own with
/// `sigwait`, which ends the process: nothing is registered with the poll, so the
/// poll still never returns, and the signal does not interrupt `epoll_wait` either.
fn stop_on_signal() -> Result<(), String> {
    let mut mask = SigSet::empty();
    mask.add(SIGINT);
    mask.add(SIGTERM);
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
    // Creates the epoll instance and the wake-up pipe, and registers the pipe.
    let poll = Poll::new().map_err(|e| format!("cannot create poll: {e}"))?;
    let mut events = Events::with_capacity(16);
    emit(&Event::Step("about to poll with nothing registered".into()));
    loop {
        // No timeout and nothing that could become ready: `epoll_wait` blocks for
        // good. (mio 0.6 retries an `epoll_wait` interrupted by a signal itself.)
        poll.poll(&mut events, None)
            .map_err(|e| format!("poll: {e}"))?;
    }
}
