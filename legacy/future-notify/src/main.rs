//! futures 0.1 task notification: a future that asks, from another thread, to be
//! polled again.
//!
//! A future that returns `NotReady` is not polled again by chance: it must first
//! arrange for its task to be notified. Here the `Notified` future does it by hand.
//! Each time it is polled it prints a line, takes a handle to the task that is polling
//! it (`futures::task::current()`), hands it to a thread that sleeps `--interval-ms`
//! and then calls `notify()` on it, and returns `NotReady`. The notification makes the
//! executor poll the future again; on its `--count`-th poll it completes.
//!
//! The executor is `Future::wait`, the smallest futures 0.1 has: it polls the future
//! on the calling thread and parks the thread between polls; `notify()` unparks it.
//! No event loop is involved, because nothing here waits on I/O: task notification
//! is a contract between a future and whatever polls it, not a feature of the reactor.
//!
//! Try it:
//!
//! ```text
//! cargo run -p legacy-future-notify -- --count 5 --interval-ms 500
//! ```
//!
//! Each poll prints `poll N after MS ms` (N from 1, MS since the first poll was
//! about to happen), then `done N polls in MS ms`, and the program exits 0. With
//! `--count 0` there is nothing to poll: it prints `done 0 polls in 0 ms`; with
//! `--interval-ms 0` the notifier wakes it at once, which shows what a round trip
//! through another thread costs. SIGINT or SIGTERM stops it early: `summary polls=N`,
//! exit 0. Run it under `strace -f` to see the futex wake-ups between the threads.

use std::io;
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use futures::{task, Async, Future, Poll};
use nix::sys::signal::{SigSet, SIGINT, SIGTERM};
use shared::cli::{exit_startup_error, Args, Spec};
use shared::event::{emit, Event};

/// Completes on its `count`-th poll; until then, every poll arranges the next one.
struct Notified {
    polls: u64,
    count: u64,
    interval: Duration,
    start: Instant,
}

/// Polls so far, for the summary a signal asks for.
static POLLS: AtomicU64 = AtomicU64::new(0);

fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

impl Future for Notified {
    type Item = u64;
    type Error = io::Error;

    fn poll(&mut self) -> Poll<u64, io::Error> {
        self.polls += 1;
        POLLS.store(self.polls, Ordering::Relaxed);
        emit(&Event::Poll {
            count: self.polls,
            elapsed_ms: elapsed_ms(self.start),
        });
        if self.polls >= self.count {
            return Ok(Async::Ready(self.polls));
        }
        // Without this, nothing would ever poll the future again: returning
        // `NotReady` promises that the current task will be notified.
        let task = task::current();
        let interval = self.interval;
        thread::Builder::new()
            .name("notifier".into())
            .spawn(move || {
                thread::sleep(interval);
                task.notify();
            })?;
        Ok(Async::NotReady)
    }
}

/// SIGINT and SIGTERM are blocked in every thread and taken by one of their own with
/// `sigwait`, which prints the summary and ends the process: the signal is no part of
/// what is shown, so nothing that polls hears of it.
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
                emit(&Event::Summary(shared::event::Counts(vec![(
                    "polls".into(),
                    POLLS.load(Ordering::Relaxed),
                )])));
                process::exit(0);
            }
        })
        .map(drop)
        .map_err(|e| format!("cannot start the signal thread: {e}"))
}

fn main() {
    let spec = Spec::future_notify(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    // Before the notifier threads start, so that they inherit the mask.
    stop_on_signal()?;
    let start = Instant::now();
    let polls = if args.count == 0 {
        0
    } else {
        let future = Notified {
            polls: 0,
            count: args.count,
            interval: args.interval,
            start,
        };
        // Polls on this thread, parking it between polls until the task is notified.
        future
            .wait()
            .map_err(|e| format!("cannot start the notifier thread: {e}"))?
    };
    emit(&Event::Done {
        polls,
        elapsed_ms: elapsed_ms(start),
    });
    Ok(())
}
