//! std `Future` and `Waker`: a future that asks, from another thread, to be polled
//! again.
//!
//! A future that returns `Pending` is not polled again by chance: it must first
//! arrange for its waker to be woken. Here the `Notified` future does it by hand.
//! Each time it is polled it prints a line, clones the waker it was polled with
//! (`cx.waker()`), hands it to a thread that sleeps `--interval-ms` and then calls
//! `wake()` on it, and returns `Pending`. The wake-up makes the executor poll the
//! future again; on its `--count`-th poll it completes.
//!
//! The executor is `futures::executor::block_on`, the smallest futures 0.3 has: it
//! polls the future on the calling thread and parks the thread between polls; `wake()`
//! unparks it. No runtime is involved, because nothing here waits on I/O: waking is a
//! contract between a future and whatever polls it, not a feature of the reactor.
//!
//! Try it:
//!
//! ```text
//! cargo run -p modern-future-notify -- --count 5 --interval-ms 500
//! ```
//!
//! Each poll prints `poll N after MS ms` (N from 1, MS since the first poll was
//! about to happen), then `done N polls in MS ms`, and the program exits 0. With
//! `--count 0` there is nothing to poll: it prints `done 0 polls in 0 ms`; with
//! `--interval-ms 0` the notifier wakes it at once, which shows what a round trip
//! through another thread costs. SIGINT or SIGTERM stops it early: `summary polls=N`,
//! exit 0. Run it under `strace -f` to see the futex wake-ups between the threads.
//!
//! # Migration
//!
//! * `futures::task::current()`, a handle to an implicit, thread-local current task,
//!   becomes `cx.waker().clone()`: the waker is passed to `poll` explicitly, in the
//!   `Context`. There is no "current task" to ask for any more.
//! * `task.notify()` becomes `waker.wake()` (or `wake_by_ref()` to keep the waker).
//! * `poll(&mut self) -> Poll<T, E>` becomes `poll(self: Pin<&mut Self>, cx) ->
//!   Poll<Result<T, E>>`; `Async::NotReady` becomes `Poll::Pending`. The future holds
//!   no self-references, so it is `Unpin` and `get_mut` is all the pinning it needs.
//! * `future.wait()` becomes `futures::executor::block_on(future)`: same parking
//!   executor, now a free function (futures 0.3 futures have no `wait` method).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::thread;
use std::time::{Duration, Instant};

use futures::executor::block_on;
use nix::sys::signal::{SigSet, Signal};
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
    type Output = io::Result<u64>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<u64>> {
        let this = self.get_mut();
        this.polls += 1;
        POLLS.store(this.polls, Ordering::Relaxed);
        emit(&Event::Poll {
            count: this.polls,
            elapsed_ms: elapsed_ms(this.start),
        });
        if this.polls >= this.count {
            return Poll::Ready(Ok(this.polls));
        }
        // Without this, nothing would ever poll the future again: returning
        // `Pending` promises that the waker will be woken.
        let waker = cx.waker().clone();
        let interval = this.interval;
        let spawned = thread::Builder::new()
            .name("notifier".into())
            .spawn(move || {
                thread::sleep(interval);
                waker.wake();
            });
        match spawned {
            Ok(_) => Poll::Pending,
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

/// SIGINT and SIGTERM are blocked in every thread and taken by one of their own with
/// `sigwait`, which prints the summary and ends the process: the signal is no part of
/// what is shown, so nothing that polls hears of it.
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
        // Polls on this thread, parking it between polls until the waker is woken.
        block_on(future).map_err(|e| format!("cannot start the notifier thread: {e}"))?
    };
    emit(&Event::Done {
        polls,
        elapsed_ms: elapsed_ms(start),
    });
    Ok(())
}
