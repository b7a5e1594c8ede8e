//! RFC 1413 ident server, blocking: one scoped std thread per connection.
//!
//! The architecture the 2016 talk starts from: the main thread blocks in `accept`,
//! and every connection gets a thread of its own that blocks in `read` and `write`.
//! Simple and correct, at the price of one thread (and its stack) per connection. The
//! threads are scoped (`std::thread::scope`): they borrow the server's state, and the
//! scope does not end before the last of them has.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p modern-ident-blocking -- --bind 127.0.0.1:1113
//! nc 127.0.0.1 1113
//! ```
//!
//! and type a query such as `1113, 40000` (a port pair of one of your connections to
//! it: `ss -tn` shows them). Every query line gets one reply, `S, C : USERID : UNIX :
//! USER` or `S, C : ERROR : NO-USER | INVALID-PORT | UNKNOWN-ERROR`, and only
//! connections between the querier's address and this host are ever reported
//! (RFC 1413 §3). A line longer than 1,000 bytes ends the connection; no more than
//! that is ever buffered. A query line that is not complete `--idle-timeout-secs`
//! after the server began waiting for it closes the connection (`idle timeout`): the
//! socket's read timeout is set, before each read, to what is left of that time, so
//! that a peer sending one byte every few seconds cannot hold a thread for ever.
//! SIGINT and SIGTERM are blocked in every thread and taken by one thread with
//! `sigwait`: it shuts the listener and every open connection down for reading,
//! which wakes their blocked threads; the server then prints `summary accepted=A
//! closed=C queries=Q accept_pauses=P` and exits 0.
//!
//! # Faults
//!
//! * Out of descriptors: an accept that fails for lack of resources (`EMFILE`, …)
//!   pauses accepting — a timed wait on a `Condvar`, 10 ms doubling up to 1 s, that
//!   the signal thread cuts short — while the connection threads go on serving; one
//!   stderr line when that starts, one when accepting works again, and
//!   `accept_pauses` counts the episodes (`shared::accept`).
//! * At most `--max-connections` (default 1024) connections, and so threads, at once:
//!   the accept loop waits on the same `Condvar` for one to close, and the next peers
//!   wait in the listen backlog meanwhile.
//! * One descriptor per connection: the list the signal thread shuts down holds the
//!   raw descriptor, removed (under its lock) before the stream is closed, not a
//!   `try_clone` — that would take a second descriptor per connection, and when it
//!   failed for want of one, the accepted connection was silently dropped.
//!
//! # Migration
//!
//! * `thread::spawn` + `Arc<State>` becomes `thread::scope` + `&State` (Rust 1.63):
//!   the connection threads borrow the state, and the end of the scope joins them
//!   all, so the wait loop at exit disappears (the `Condvar` stays: the accept loop
//!   still waits on it for a free slot, and for its pauses). A thread that cannot be
//!   started is an `Err` from `Builder::spawn_scoped`, as it was from
//!   `Builder::spawn`.
//! * "Wait, then retry" after a failed accept is a timed wait in both eras, on std's
//!   `Condvar::wait_timeout_while`: nothing about it changed since 2016.
//! * The signal thread is scoped too: it borrows the listener instead of sharing an
//!   `Arc<TcpListener>`.
//! * nix 0.30: `Signal::SIGINT` (bitflags 2 and enums instead of glob constants).
//! * The line bound and the line's deadline (`read_line`) are the same in both:
//!   without the bound a peer that never sends a newline makes the buffer grow
//!   without end, and without the deadline a peer that sends one byte at a time holds
//!   its thread for ever.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{SigSet, Signal};
use nix::sys::socket::{shutdown, Shutdown};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, Line, MAX_LINE};

/// What the threads share.
struct State {
    counts: Mutex<IdentCounts>,
    /// The descriptor of every open connection (to shut it down), by connection
    /// number. An entry is removed before its stream is closed, under this lock, so
    /// that every descriptor listed is open.
    open: Mutex<HashMap<u64, RawFd>>,
    /// Signalled each time a connection closes, and when the server stops.
    one_closed: Condvar,
    stopping: AtomicBool,
    quiet: bool,
    idle_timeout: Duration,
    max_connections: usize,
}

impl State {
    /// Stops the server: no more accepts, and every blocked read returns end-of-file.
    fn stop(&self, listener: &TcpListener) {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        // Set under the lock, so that the accept loop cannot register a connection
        // this loop would miss.
        self.stopping.store(true, Ordering::SeqCst);
        for fd in open.values() {
            let _ = shutdown(*fd, Shutdown::Read);
        }
        // Shutting a listening socket down makes a blocked `accept` fail (Linux).
        let _ = shutdown(listener.as_raw_fd(), Shutdown::Read);
        // And a pause of the accept loop ends at once.
        self.one_closed.notify_all();
    }

    /// Waits until fewer than `--max-connections` are open; `false` if the server
    /// stops first. The next peers wait in the listen backlog meanwhile.
    fn wait_for_slot(&self) -> bool {
        let open = lock(&self.open);
        let full = |open: &mut HashMap<u64, RawFd>| {
            open.len() >= self.max_connections && !self.stopping.load(Ordering::SeqCst)
        };
        drop(
            self.one_closed
                .wait_while(open, full)
                .unwrap_or_else(|e| e.into_inner()),
        );
        !self.stopping.load(Ordering::SeqCst)
    }

    /// The pause of the accept loop after an accept failed for lack of resources: a
    /// timed wait that the signal thread cuts short.
    fn pause(&self, pause: Duration) {
        let open = lock(&self.open);
        let waiting = |_: &mut HashMap<u64, RawFd>| !self.stopping.load(Ordering::SeqCst);
        drop(self.one_closed.wait_timeout_while(open, pause, waiting));
    }
}

/// Reads one line into `line` by `deadline`: at most `MAX_LINE + 1` bytes, enough to
/// tell a whole line from a long one. A socket read timeout alone restarts with every
/// byte, so that a peer sending one byte every few seconds would hold the connection
/// for ever; before each read, the timeout is set to what is left.
fn read_line(
    reader: &mut BufReader<&TcpStream>,
    line: &mut Vec<u8>,
    deadline: Instant,
) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        reader.get_ref().set_read_timeout(Some(left))?;
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(ref e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        // End-of-file, after a whole line or part of one.
        if available.is_empty() {
            return Ok(line.len());
        }
        let room = MAX_LINE + 1 - line.len();
        let chunk = &available[..available.len().min(room)];
        let (used, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(end) => (end + 1, true),
            None => (chunk.len(), line.len() + chunk.len() > MAX_LINE),
        };
        line.extend_from_slice(&chunk[..used]);
        reader.consume(used);
        if done {
            return Ok(line.len());
        }
    }
}

/// Serves one connection until it ends; returns the reply bytes sent and why it
/// ended.
fn serve(stream: &TcpStream, peer: SocketAddr, state: &State) -> (u64, Cow<'static, str>) {
    let mut reader = BufReader::new(stream);
    let mut writer = stream;
    let mut line = Vec::with_capacity(128);
    let mut sent = 0u64;
    let why = loop {
        line.clear();
        // The whole line must come within the idle timeout, however it trickles in.
        let deadline = Instant::now() + state.idle_timeout;
        match read_line(&mut reader, &mut line, deadline) {
            Ok(0) => break Cow::Borrowed(reason::EOF),
            Ok(_) => {}
            // The line's time is up: --idle-timeout-secs passed without a whole line.
            Err(ref e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                break Cow::Borrowed(reason::IDLE)
            }
            Err(e) => break Cow::Owned(format!("error: {e}")),
        }
        let query = match ident::next_line(&line) {
            Line::Complete { line, .. } => line,
            Line::TooLong => break Cow::Borrowed(reason::TOO_LONG),
            // End-of-file in the middle of a line: nothing to answer.
            Line::Incomplete => break Cow::Borrowed(reason::EOF),
        };
        let reply = ident::answer(query, peer.ip());
        let wire = reply.to_wire();
        if let Err(e) = writer.write_all(wire.as_bytes()) {
            break Cow::Owned(format!("error: {e}"));
        }
        sent += wire.len() as u64;
        lock(&state.counts).queries += 1;
        if !state.quiet {
            emit(&ident::reply_event(peer, &reply));
        }
    };
    // A read that ended because the server stopped is not the peer's end-of-file.
    if why == reason::EOF && state.stopping.load(Ordering::SeqCst) {
        return (sent, Cow::Borrowed(reason::SHUTDOWN));
    }
    (sent, why)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A thread that panicked while holding the lock left the data as it was.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Blocks SIGINT and SIGTERM in this thread, and so in every thread it starts:
/// they then wait, pending, until one thread takes them with `sigwait`.
fn block_signals() -> nix::Result<SigSet> {
    let mut mask = SigSet::empty();
    // Signals are named through their type in current nix.
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    mask.thread_block()?;
    Ok(mask)
}

fn main() {
    let spec = Spec::ident(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    // Before any thread starts, so that all inherit the mask.
    let signals = block_signals().map_err(|e| format!("cannot block signals: {e}"))?;
    let listener = TcpListener::bind(args.bind).map_err(|e| bind_error(args.bind, &e))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Scoped threads borrow the listener and the state: no `Arc`s to share them.
    let state = State {
        counts: Mutex::new(IdentCounts::default()),
        open: Mutex::new(HashMap::new()),
        one_closed: Condvar::new(),
        stopping: AtomicBool::new(false),
        quiet: args.quiet,
        idle_timeout: args.idle_timeout,
        max_connections: args.max_connections,
    };
    // Scoped threads borrow the state and the listener: no `Arc`, no clones, and
    // every thread is joined when the scope ends.
    let (state, listener) = (&state, &listener);
    thread::scope(|scope| {
        scope.spawn(move || {
            if signals.wait().is_ok() {
                state.stop(listener);
            }
        });
        emit(&Event::Listening {
            proto: Proto::Tcp,
            addr: local,
        });

        let mut policy = AcceptPolicy::new();
        let mut next_id = 0u64;
        // Accept while a slot is free (`--max-connections`) and the server runs.
        while state.wait_for_slot() {
            let (stream, peer) = match listener.accept() {
                Ok(accepted) => accepted,
                Err(_) if state.stopping.load(Ordering::SeqCst) => break,
                // Out of descriptors, say: wait, then retry; a failed connection: the
                // next one, at once. `shared::accept` decides and reports.
                Err(e) => {
                    if let Next::Pause(pause) = policy.failed(&e) {
                        lock(&state.counts).accept_pauses = policy.pauses();
                        state.pause(pause);
                    }
                    continue;
                }
            };
            policy.accepted();
            let _ = stream.set_write_timeout(Some(state.idle_timeout));
            let id = next_id;
            next_id += 1;
            // Listed and given its thread under the lock: `stop` sees every
            // connection, and one whose thread cannot start is unlisted before `stop`
            // could see its descriptor closed.
            let mut open = lock(&state.open);
            if state.stopping.load(Ordering::SeqCst) {
                break;
            }
            open.insert(id, stream.as_raw_fd());
            lock(&state.counts).accepted += 1;
            if !state.quiet {
                emit(&ident::accepted_event(peer));
            }
            // One scoped thread per connection: joined when the scope ends.
            let spawned = thread::Builder::new().spawn_scoped(scope, move || {
                let (sent, why) = serve(&stream, peer, state);
                lock(&state.counts).closed += 1;
                if !state.quiet {
                    emit(&ident::closed_event(peer, sent, why));
                }
                // Unlisted, then closed, under the lock: `stop` never shuts down a
                // descriptor that is no longer this connection's.
                let mut open = lock(&state.open);
                open.remove(&id);
                drop(stream);
                drop(open);
                state.one_closed.notify_all();
                // The connection's thread ends with the scope's closure: no block
                // of its own to close.
            });
            if let Err(e) = spawned {
                // The closure (and the stream) is gone: account for the connection.
                open.remove(&id);
                drop(open);
                eprintln!("cannot start a thread: {e}");
                lock(&state.counts).closed += 1;
                if !state.quiet {
                    emit(&ident::closed_event(peer, 0, "error: no thread"));
                }
            }
        }
        // The end of the scope waits for every connection thread.
    });
    emit(&lock(&state.counts).summary());
    Ok(())
}
