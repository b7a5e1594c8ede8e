//! RFC 1413 ident server on tokio 1, the owner lookup on tokio's blocking pool
//! (`tokio::task::spawn_blocking`).
//!
//! The talk's advice for blocking work: "Do not block a future. Never wait in a
//! future! … Then: use a thread pool". This is ident-tokio (`FramedRead` with a
//! `LinesCodec`, a `write_all(..).await` per reply) with one change: the lookup of a
//! connection's owner, which may take milliseconds of CPU (reading `/proc/net/tcp*`,
//! `--lookup proc`), runs on a thread of the runtime's blocking pool.
//! `spawn_blocking(..)` returns a `JoinHandle` of the reply; the connection's task
//! awaits it, and meanwhile the runtime serves every other connection. In
//! ident-tokio the same lookup runs inside the task, on the runtime's only thread: a
//! second client waits for it.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p modern-ident-pool -- --bind 127.0.0.1:1113 --lookup proc
//! nc 127.0.0.1 1113
//! ```
//!
//! and type a query such as `1113, 40000` (a port pair of one of your connections to
//! it: `ss -tn` shows them). Every query line gets one reply, `S, C : USERID : UNIX :
//! USER` or `S, C : ERROR : NO-USER | INVALID-PORT | UNKNOWN-ERROR`, and only
//! connections between the querier's address and this host are ever reported
//! (RFC 1413 §3). Lines are text: one that is not UTF-8 ends the connection, as does
//! one longer than 1,000 bytes (never more than that is buffered). A connection with
//! no query for `--idle-timeout-secs` is closed: the timer runs from the moment the
//! server waits for a line until the line is complete, so that it bounds the time a
//! query line may take. SIGINT or SIGTERM stops accepting and closes every connection
//! once its current reply is written, then prints `summary accepted=A closed=C
//! queries=Q accept_pauses=P` and exits 0.
//!
//! Faults are met as in ident-tokio: an accept that fails for lack of resources
//! pauses accepting (`sleep_until` as a branch of the accept loop's `select!`,
//! `shared::accept`), and at most `--max-connections` connections are served at once
//! (a semaphore permit each; the next peers wait in the listen backlog).
//!
//! # When the pool is worth it
//!
//! A pool costs a hand-over per query: the job goes to a pool thread through a queue,
//! and the answer comes back through a wake-up of the runtime — two context switches
//! at least. With the `/proc` lookup (about 10 ms) that is noise, and the runtime
//! stays free. With the netlink lookup (a few microseconds, the default) the
//! hand-over costs more than the lookup it hands over; ident-tokio does as well
//! there (see the README's figures).
//!
//! # Migration
//!
//! * `CpuPool`, a pool object created by the program and passed (as a cloned handle)
//!   to each connection, becomes the runtime's own blocking pool: `spawn_blocking`
//!   finds it through the runtime context, and `Builder::max_blocking_threads` sizes
//!   it as `pool_size` did (idle threads exit after 10 s; a `CpuPool`'s stay).
//! * `pool.spawn_fn(f)` → a `CpuFuture` chained with `and_then` becomes
//!   `spawn_blocking(f).await`; a panic in `f` arrives as a `JoinError` instead of
//!   being resumed in the task that polls the `CpuFuture`.
//!
//! The rest is ident-tokio's migration:
//!
//! * The hand-written `Requests` stream (a buffer, `next_line`, a read that returns
//!   `WouldBlock`, a `Timeout` reset on each line) becomes
//!   `FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE))`: the codec
//!   does the buffering, the UTF-8 check and the length bound (it fails as soon as
//!   more than `MAX_LINE` bytes come without a newline), and `tokio::time::timeout`
//!   around `lines.next()` is the idle timer.
//! * `requests.fold(writer, |writer, line| write_all(writer, reply))`, which threads
//!   the write half through each step because a future owns what it uses, becomes a
//!   `loop` with `writer.write_all(..).await` on a borrowed half.
//! * `stream.split()` (tokio-io's `BiLock` halves) becomes `into_split()`: owned
//!   halves without a lock, since a `TcpStream`'s I/O works on `&self` underneath.
//! * The `End` error enum, needed because a stream carries one error type, becomes a
//!   `break` with the reason.
//! * `Shared` signal future → `watch` channel; `Rc<RefCell<IdentCounts>>` + a mpsc
//!   channel whose end means "all done" → each task returns its counts to a
//!   `JoinSet`.
//! * "Wait, then retry" after a failed accept: tokio-core's `Timeout` in a
//!   hand-written `Incoming` stream becomes `sleep_until` in the `select!`; the slot
//!   count with the accept task's `Task` handle becomes a `Semaphore`.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, lookup, reason, IdentCounts, MAX_LINE};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::codec::{FramedRead, LinesCodec, LinesCodecError};

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

/// Serves one connection: query lines in, replies out, each lookup on the runtime's
/// blocking pool.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    // Held until the connection is over: then its slot is free.
    _slot: OwnedSemaphorePermit,
    idle_timeout: Duration,
    quiet: bool,
    mut stop: watch::Receiver<bool>,
) -> Served {
    let (reader, mut writer) = stream.into_split();
    let mut lines = FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE));
    let (mut sent, mut queries) = (0u64, 0u64);
    let why = loop {
        let line = tokio::select! {
            next = tokio::time::timeout(idle_timeout, lines.next()) => match next {
                Err(_) => break Cow::Borrowed(reason::IDLE),
                // End-of-file; a partial line left in the buffer gets no answer.
                Ok(None) => break Cow::Borrowed(reason::EOF),
                Ok(Some(Ok(line))) => line,
                Ok(Some(Err(LinesCodecError::MaxLineLengthExceeded))) => {
                    break Cow::Borrowed(reason::TOO_LONG)
                }
                Ok(Some(Err(LinesCodecError::Io(e)))) if e.kind() == io::ErrorKind::InvalidData => {
                    break Cow::Borrowed(reason::INVALID_UTF8)
                }
                Ok(Some(Err(LinesCodecError::Io(e)))) => break Cow::Owned(format!("error: {e}")),
            },
            // `FramedRead::next` is cancel-safe: bytes already read stay buffered.
            _ = stop.wait_for(|stopping| *stopping) => break Cow::Borrowed(reason::SHUTDOWN),
        };
        // The lookup runs on a blocking-pool thread (the line moves there with it);
        // this task awaits its `JoinHandle` without holding the runtime's thread.
        let lookup = tokio::task::spawn_blocking(move || ident::answer(line.as_bytes(), peer.ip()));
        // What follows runs back on the runtime's thread, when the task is woken.
        let reply = match lookup.await {
            Ok(reply) => reply,
            Err(e) => break Cow::Owned(format!("error: lookup failed: {e}")),
        };
        queries += 1;
        if !quiet {
            emit(&ident::reply_event(peer, &reply));
        }
        let wire = reply.to_wire();
        if let Err(e) = writer.write_all(wire.as_bytes()).await {
            break Cow::Owned(format!("error: {e}"));
        }
        sent += wire.len() as u64;
    };
    Served {
        peer,
        sent,
        queries,
        why,
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
    // The threads the lookups run on: the runtime's blocking pool, sized here.
    let runtime = Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(lookup::pool_threads())
        .thread_name("lookup")
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
        let (stop_tx, stop_rx) = watch::channel(false);
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
                        connections.spawn(connection(
                            stream,
                            peer,
                            slot,
                            args.idle_timeout,
                            quiet,
                            stop_rx.clone(),
                        ));
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
        // Each connection ends once its current reply is written; wait for the last.
        let _ = stop_tx.send(true);
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
