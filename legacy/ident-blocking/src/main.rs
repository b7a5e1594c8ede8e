//! RFC 1413 ident server, blocking: one std thread per connection.
//!
//! The architecture the 2016 talk starts from: the main thread blocks in `accept`,
//! and every connection gets a thread of its own that blocks in `read` and `write`.
//! Simple and correct, at the price of one thread (and its stack) per connection. The
//! threads share the counts and the list of open connections through `Arc`s.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p legacy-ident-blocking -- --bind 127.0.0.1:1113
//! nc 127.0.0.1 1113
//! ```
//!
//! and type a query such as `1113, 40000` (a port pair of one of your connections to
//! it: `ss -tn` shows them). Every query line gets one reply, `S, C : USERID : UNIX :
//! USER` or `S, C : ERROR : NO-USER | INVALID-PORT | UNKNOWN-ERROR`, and only
//! connections between the querier's address and this host are ever reported
//! (RFC 1413 §3). A line longer than 1,000 bytes ends the connection; each read goes
//! through `Read::take`, so no more than that is ever buffered. A connection idle
//! for `--idle-timeout-secs` (a socket read timeout) is closed. SIGINT and SIGTERM
//! are blocked in every thread and taken by one thread with `sigwait`: it shuts the
//! listener and every open connection down for reading, which wakes their blocked
//! threads; the server then prints `summary accepted=A closed=C queries=Q` and
//! exits 0.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::io::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use nix::sys::signal::{SigSet, SIGINT, SIGTERM};
use nix::sys::socket::{shutdown, Shutdown};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, Line, MAX_LINE};

/// What the threads share.
struct State {
    counts: Mutex<IdentCounts>,
    /// A handle on every open connection (to shut it down), by connection number.
    open: Mutex<HashMap<u64, TcpStream>>,
    /// Signalled each time a connection closes.
    one_closed: Condvar,
    stopping: AtomicBool,
    quiet: bool,
    idle_timeout: Duration,
}

impl State {
    /// Stops the server: no more accepts, and every blocked read returns end-of-file.
    fn stop(&self, listener: &TcpListener) {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        // Set under the lock, so that the accept loop cannot register a connection
        // this loop would miss.
        self.stopping.store(true, Ordering::SeqCst);
        for stream in open.values() {
            let _ = stream.shutdown(std::net::Shutdown::Read);
        }
        // Shutting a listening socket down makes a blocked `accept` fail (Linux).
        let _ = shutdown(listener.as_raw_fd(), Shutdown::Read);
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
        // At most MAX_LINE + 1 bytes: enough to tell a whole line from a long one.
        let read = (&mut reader)
            .take(MAX_LINE as u64 + 1)
            .read_until(b'\n', &mut line);
        match read {
            Ok(0) => break Cow::Borrowed(reason::EOF),
            Ok(_) => {}
            // The read timeout: nothing arrived for --idle-timeout-secs.
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
    mask.add(SIGINT);
    mask.add(SIGTERM);
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
    let listener = Arc::new(listener);
    let state = Arc::new(State {
        counts: Mutex::new(IdentCounts::default()),
        open: Mutex::new(HashMap::new()),
        one_closed: Condvar::new(),
        stopping: AtomicBool::new(false),
        quiet: args.quiet,
        idle_timeout: args.idle_timeout,
    });
    {
        let (state, listener) = (state.clone(), listener.clone());
        thread::spawn(move || {
            if signals.wait().is_ok() {
                state.stop(&listener);
            }
        });
    }
    emit(&Event::Listening {
        proto: Proto::Tcp,
        addr: local,
    });

    let mut next_id = 0u64;
    for accepted in listener.incoming() {
        let stream = match accepted {
            Ok(stream) => stream,
            Err(_) if state.stopping.load(Ordering::SeqCst) => break,
            // Out of file descriptors, say: report it and go on.
            Err(e) => {
                eprintln!("accept: {e}");
                continue;
            }
        };
        let Ok(peer) = stream.peer_addr() else {
            continue; // reset before we got to it
        };
        let _ = stream.set_read_timeout(Some(state.idle_timeout));
        let _ = stream.set_write_timeout(Some(state.idle_timeout));
        let Ok(handle) = stream.try_clone() else {
            continue;
        };
        {
            let mut open = lock(&state.open);
            if state.stopping.load(Ordering::SeqCst) {
                break;
            }
            open.insert(next_id, handle);
        }
        lock(&state.counts).accepted += 1;
        if !state.quiet {
            emit(&ident::accepted_event(peer));
        }
        let id = next_id;
        next_id += 1;
        // One thread per connection, detached: the open list says when all are done.
        let spawned = thread::Builder::new().spawn({
            let state = state.clone();
            move || {
                let (sent, why) = serve(&stream, peer, &state);
                drop(stream);
                lock(&state.counts).closed += 1;
                if !state.quiet {
                    emit(&ident::closed_event(peer, sent, why));
                }
                lock(&state.open).remove(&id);
                state.one_closed.notify_all();
            }
        });
        if let Err(e) = spawned {
            // The closure (and the stream) is gone: account for the connection.
            eprintln!("cannot start a thread: {e}");
            lock(&state.counts).closed += 1;
            if !state.quiet {
                emit(&ident::closed_event(peer, 0, "error: no thread"));
            }
            lock(&state.open).remove(&id);
        }
    }
    // Wait for every connection thread to finish.
    let mut open = lock(&state.open);
    while !open.is_empty() {
        open = state
            .one_closed
            .wait(open)
            .unwrap_or_else(|e| e.into_inner());
    }
    drop(open);
    emit(&lock(&state.counts).summary());
    Ok(())
}
