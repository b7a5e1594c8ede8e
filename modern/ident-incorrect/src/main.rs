//! RFC 1413 ident server on tokio 1, deliberately WRONG: a blocking std read inside
//! a task.
//!
//! Kept, and labelled, because it is the mistake the talk warns about ("do not block
//! the current thread!") as it is still made today. Each connection is a task, as in
//! ident-tokio, but the task turns its socket into a std `TcpStream`, makes it
//! blocking, and reads it with std's `read`. Two things go wrong:
//!
//! * The read blocks the thread, and the runtime (current-thread, like the other
//!   servers here) has only that one: while one peer is silent, no other connection
//!   is accepted or served, and signals wait too. A task must never block; `await`
//!   is where it lets the others run.
//! * A blocking `read` returns what has arrived, not a line, and the code takes what
//!   one read returned as whole lines: a query split across two TCP segments is
//!   answered as two malformed queries (`INVALID-PORT`, twice).
//!
//! The conformance suite shows both, next to the cases where the program works (one
//! client, whole lines).
//!
//! Try it from three terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p modern-ident-incorrect -- --bind 127.0.0.1:1113
//! nc 127.0.0.1 1113          # connect, type nothing
//! nc 127.0.0.1 1113          # this one gets no answer until the first types
//! ```
//!
//! and a query in two pieces, `(printf '1113, '; sleep 1; printf '40000\r\n') | nc
//! 127.0.0.1 1113`, is answered `0, 0 : ERROR : INVALID-PORT` twice.
//!
//! Otherwise it behaves like the other ident servers: one reply per query line, only
//! the querier's own connections are reported, more than 1,000 bytes without a line
//! end ends the connection, `--idle-timeout-secs` (a socket read timeout here)
//! closes idle ones, and SIGINT or SIGTERM stops it with `summary accepted=A
//! closed=C queries=Q accept_pauses=P`, once no read is blocking the thread.
//!
//! Its accept loop is not where it is wrong: like the other tokio servers, it pauses
//! accepting after an accept error about resources (a `sleep` in the `select!`,
//! `shared::accept`), and serves at most `--max-connections` connections at once (a
//! semaphore permit per connection). Its blocking reads make both moot while one
//! peer holds the thread.
//!
//! # Migration
//!
//! The legacy program's mistake (std `read_line` on a non-blocking socket inside
//! `poll`) fails fast: `WouldBlock` comes back and the connection is dropped. tokio 1
//! makes the opposite mistake easy: `into_std()` hands back the socket, and one
//! `set_nonblocking(false)` later every std call blocks the runtime's thread. The
//! fixes are the same in both eras: keep the bytes of a partial line across reads
//! (ident-tokio, ident-service), and wait with `.await`, never with a blocking call
//! (or move blocking work to `spawn_blocking`).

use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, Line, MAX_LINE};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// SIGINT and SIGTERM, either of which asks the server to stop.
struct Shutdown {
    sigint: Signal,
    sigterm: Signal,
}

impl Shutdown {
    fn new() -> io::Result<Shutdown> {
        Ok(Shutdown {
            sigint: signal(SignalKind::interrupt())?,
            sigterm: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.sigint.recv() => {}
            _ = self.sigterm.recv() => {}
        }
    }
}

/// How one connection went: its peer, reply bytes sent, queries answered, and why
/// it ended.
struct Served {
    peer: SocketAddr,
    sent: u64,
    queries: u64,
    why: Cow<'static, str>,
}

/// Serves one connection, blocking: called from async code, which is the mistake.
fn serve_blocking(stream: &std::net::TcpStream, peer: SocketAddr, quiet: bool) -> Served {
    let (mut sent, mut queries) = (0u64, 0u64);
    let mut buf = [0u8; MAX_LINE + 1];
    let why = 'conn: loop {
        // WRONG: a blocking read on the runtime's only thread.
        let n = match (&*stream).read(&mut buf) {
            Ok(0) => break Cow::Borrowed(reason::EOF),
            Ok(n) => n,
            // A signal interrupted the read (a read with a timeout is not restarted
            // by the kernel): as any blocking loop does, read again.
            Err(ref e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // The read timeout: nothing arrived for --idle-timeout-secs.
            Err(ref e)
                if e.kind() == io::ErrorKind::WouldBlock || e.kind() == io::ErrorKind::TimedOut =>
            {
                break Cow::Borrowed(reason::IDLE)
            }
            Err(e) => break Cow::Owned(format!("error: {e}")),
        };
        // WRONG: what one read returned is taken as whole lines; a partial line at
        // the end is answered as if it were complete.
        let mut rest = &buf[..n];
        while !rest.is_empty() {
            let (line, used) = match ident::next_line(rest) {
                Line::Complete { line, consumed } => (line, consumed),
                Line::Incomplete => (rest.strip_suffix(b"\r").unwrap_or(rest), rest.len()),
                Line::TooLong => break 'conn Cow::Borrowed(reason::TOO_LONG),
            };
            let reply = ident::answer(line, peer.ip());
            queries += 1;
            if !quiet {
                emit(&ident::reply_event(peer, &reply));
            }
            let wire = reply.to_wire();
            if let Err(e) = (&*stream).write_all(wire.as_bytes()) {
                break 'conn Cow::Owned(format!("error: {e}"));
            }
            sent += wire.len() as u64;
            rest = &rest[used..];
        }
    };
    Served {
        peer,
        sent,
        queries,
        why,
    }
}

/// One connection's task: leaves tokio for a blocking std socket.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    // Held until the connection is over: then its slot is free.
    _slot: OwnedSemaphorePermit,
    idle_timeout: Duration,
    quiet: bool,
) -> Served {
    let blocking = stream.into_std().and_then(|s| {
        // WRONG: `into_std` hands the socket back non-blocking, as tokio documents;
        // this makes every std call on it block the thread.
        s.set_nonblocking(false)?;
        s.set_read_timeout(Some(idle_timeout))?;
        s.set_write_timeout(Some(idle_timeout))?;
        Ok(s)
    });
    match blocking {
        Ok(stream) => serve_blocking(&stream, peer, quiet),
        Err(e) => Served {
            peer,
            sent: 0,
            queries: 0,
            why: Cow::Owned(format!("error: {e}")),
        },
    }
}

/// Takes a connection slot, then the next connection: with every slot taken, the
/// peers wait in the listen backlog until a connection ends and its permit is dropped.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let slot = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(io::Error::other)?;
    let (stream, peer) = listener.accept().await?;
    Ok((stream, peer, slot))
}

fn main() {
    let spec = Spec::ident(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(async {
        let listener = TcpListener::bind(args.bind)
            .await
            .map_err(|e| bind_error(args.bind, &e))?;
        let local = listener.local_addr().map_err(|e| e.to_string())?;
        // Catch SIGINT and SIGTERM before announcing the socket, so that a signal
        // sent as soon as `listening` is read already finds its handler.
        let mut shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
        emit(&Event::Listening {
            proto: Proto::Tcp,
            addr: local,
        });

        let mut counts = IdentCounts::default();
        let quiet = args.quiet;
        let record = |counts: &mut IdentCounts, served: Served| {
            counts.closed += 1;
            counts.queries += served.queries;
            if !quiet {
                emit(&ident::closed_event(served.peer, served.sent, served.why));
            }
        };
        let mut connections = JoinSet::new();
        // One permit per connection: `--max-connections` at once.
        let slots = Arc::new(Semaphore::new(args.max_connections));
        let mut policy = AcceptPolicy::new();
        // Set after an accept failed for lack of resources: accept nothing until then.
        let mut paused: Option<Instant> = None;
        // Accept until a signal arrives, reaping connections as they end.
        loop {
            tokio::select! {
                accepted = accept(&listener, &slots), if paused.is_none() => match accepted {
                    Ok((stream, peer, slot)) => {
                        policy.accepted();
                        counts.accepted += 1;
                        if !quiet {
                            emit(&ident::accepted_event(peer));
                        }
                        connections.spawn(connection(stream, peer, slot, args.idle_timeout, quiet));
                    }
                    // Out of descriptors, say: wait, then retry; a failed connection:
                    // the next one, at once. `shared::accept` decides and reports.
                    Err(e) => {
                        if let Next::Pause(pause) = policy.failed(&e) {
                            counts.accept_pauses = policy.pauses();
                            paused = Some(Instant::now() + pause);
                        }
                    }
                },
                // The pause is one more branch: connections are still reaped and a
                // signal still stops the server meanwhile.
                () = tokio::time::sleep_until(paused.unwrap_or_else(Instant::now)), if paused.is_some() => {
                    paused = None;
                }
                Some(done) = connections.join_next() => match done {
                    Ok(served) => record(&mut counts, served),
                    Err(e) => return Err(format!("connection task failed: {e}")),
                },
                _ = shutdown.recv() => break,
            }
        }
        drop(listener);
        // The tasks cannot be told to stop: a std read is not an `.await` that a
        // `select!` could drop. Each ends when its peer closes or goes idle.
        while let Some(done) = connections.join_next().await {
            match done {
                Ok(served) => record(&mut counts, served),
                Err(e) => return Err(format!("connection task failed: {e}")),
            }
        }
        emit(&counts.summary());
        Ok(())
    })
}
