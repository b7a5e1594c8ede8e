//! RFC 1413 ident server on tokio 1: tokio-util's `FramedRead` and `LinesCodec`
//! with a line limit.
//!
//! The talk's fix for its wrongly-async server, written the tokio 1 way: the
//! connection is split into halves; the read half is wrapped in a `FramedRead` with
//! a `LinesCodec`, which buffers bytes until a whole line is there (so a query split
//! across TCP segments is just a line that takes two reads) and yields it as a
//! `String`; each line's reply is written with `write_all(..).await` on the write
//! half. Nothing blocks: the task is parked on the socket's readiness in between.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p modern-ident-tokio -- --bind 127.0.0.1:1113
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
//! # Faults
//!
//! * Out of descriptors: an accept that fails for lack of resources (`EMFILE`, …)
//!   pauses accepting — a `tokio::time::sleep` of 10 ms, doubling up to 1 s, in the
//!   same `select!` as the signal and the reaping of connections — while the open
//!   connections are served; one stderr line when that starts, one when accepting
//!   works again, and `accept_pauses` counts the episodes (`shared::accept`).
//! * At most `--max-connections` (default 1024) connections at once: each holds a
//!   semaphore permit, taken before the accept, so that the next peers wait in the
//!   listen backlog until one closes.
//!
//! # Migration
//!
//! * The hand-written `impl Stream for Requests` (a buffer, `next_line`, a read that
//!   returns `WouldBlock`, a `Timeout` reset on each line) becomes
//!   `impl Requests { async fn next(&mut self) }` over
//!   `FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE))`: the codec
//!   does the buffering, the UTF-8 check and the length bound (it fails as soon as
//!   more than `MAX_LINE` bytes come without a newline), and `tokio::time::timeout`
//!   around each wait for a line is the idle timer. `End` stays: it is still the one
//!   error type of "the next request".
//! * `Connection::run` returned a future built from combinators; it is now an
//!   `async fn`. `requests.fold(writer, |writer, line| write_all(writer, reply))`,
//!   which threads the write half through each step because a future owns what it
//!   uses, becomes a `while let` loop with `writer.write_all(..).await` on a borrowed
//!   half, and the counts that the steps shared through `Rc<Cell<…>>` become locals.
//! * `stream.split()` (tokio-io's `BiLock` halves) becomes `into_split()`: owned
//!   halves without a lock, since a `TcpStream`'s I/O works on `&self` underneath.
//! * `Shared` signal future → `watch` channel; `Rc<RefCell<IdentCounts>>` + a mpsc
//!   channel whose end means "all done" → each task returns its `Served` to a
//!   `JoinSet`. A timer needs no `Handle` any more, so `Connection` loses that field.
//! * The `BUDGET` of lines a legacy connection answers before it yields goes: each
//!   `write_all` spends tokio's cooperative budget, so a peer with many queries
//!   waiting yields to the others after a while without being told to.
//! * "Wait, then retry" after a failed accept: tokio-core's `Timeout`, polled by a
//!   hand-written `Incoming` stream, becomes `sleep_until` as one more branch of the
//!   accept loop's `select!` (the accept branch is disabled meanwhile). The slot count
//!   with the accept task's `Task` handle becomes a `Semaphore` and its permits.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, MAX_LINE};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;
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

/// Becomes `true` once SIGINT or SIGTERM arrives. A `watch` channel, so that every
/// connection can hold a receiver and be woken by the same signal.
type Stop = watch::Receiver<bool>;

/// Why a connection's requests ended early (end-of-file is their end).
#[derive(Debug)]
enum End {
    Idle,
    TooLong,
    InvalidUtf8,
    Shutdown,
    Io(io::Error),
}

impl From<io::Error> for End {
    fn from(e: io::Error) -> End {
        End::Io(e)
    }
}

impl End {
    /// What the connection's `closed` line says.
    fn reason(self) -> Cow<'static, str> {
        match self {
            End::Idle => Cow::Borrowed(reason::IDLE),
            End::TooLong => Cow::Borrowed(reason::TOO_LONG),
            End::InvalidUtf8 => Cow::Borrowed(reason::INVALID_UTF8),
            End::Shutdown => Cow::Borrowed(reason::SHUTDOWN),
            End::Io(e) => Cow::Owned(format!("error: {e}")),
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

/// The query lines of one connection.
struct Requests {
    /// Buffers bytes until a whole line is there: never more than `MAX_LINE` of them.
    lines: FramedRead<OwnedReadHalf, LinesCodec>,
    idle_timeout: Duration,
    shutdown: Stop,
}

impl Requests {
    /// The next query line; `None` at end-of-file.
    async fn next(&mut self) -> Result<Option<String>, End> {
        tokio::select! {
            // The idle timer is a `timeout` around each wait for a line, where
            // tokio-core kept one `Timeout` to reset.
            next = tokio::time::timeout(self.idle_timeout, self.lines.next()) => match next {
                Err(_) => Err(End::Idle),
                // End-of-file; a partial line left in the buffer gets no answer.
                Ok(None) => Ok(None),
                Ok(Some(Ok(line))) => Ok(Some(line)),
                Ok(Some(Err(LinesCodecError::MaxLineLengthExceeded))) => Err(End::TooLong),
                Ok(Some(Err(LinesCodecError::Io(e)))) if e.kind() == io::ErrorKind::InvalidData => {
                    Err(End::InvalidUtf8)
                }
                Ok(Some(Err(LinesCodecError::Io(e)))) => Err(End::Io(e)),
            },
            // `FramedRead::next` is cancel-safe: bytes already read stay buffered.
            _ = self.shutdown.wait_for(|stopping| *stopping) => Err(End::Shutdown),
        }
    }
}

/// One accepted connection, and what serving it needs.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    slot: OwnedSemaphorePermit,
    idle_timeout: Duration,
    quiet: bool,
    shutdown: Stop,
}

impl Connection {
    /// Serves the connection: query lines in, replies out.
    async fn run(self) -> Served {
        let Connection {
            stream,
            peer,
            // Held until the connection is over: then its slot is free.
            slot: _slot,
            idle_timeout,
            quiet,
            shutdown,
        } = self;
        let (reader, mut writer) = stream.into_split();
        let mut requests = Requests {
            lines: FramedRead::new(reader, LinesCodec::new_with_max_length(MAX_LINE)),
            idle_timeout,
            shutdown,
        };
        // Plain locals: nothing has to outlive one step of a fold any more.
        let (mut sent, mut queries) = (0u64, 0u64);
        let served = async {
            // The fold is a loop now; `?` ends it with the `End` that stopped it.
            while let Some(line) = requests.next().await? {
                let reply = ident::answer(line.as_bytes(), peer.ip());
                queries += 1;
                if !quiet {
                    emit(&ident::reply_event(peer, &reply));
                }
                let wire = reply.to_wire();
                // `write_all` borrows the write half: nothing to hand back.
                writer.write_all(wire.as_bytes()).await?;
                sent += wire.len() as u64;
            }
            Ok::<(), End>(())
        };
        let why = match served.await {
            Ok(_) => Cow::Borrowed(reason::EOF),
            Err(end) => end.reason(),
        };
        Served {
            peer,
            sent,
            queries,
            why,
        }
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
    runtime.block_on(serve(args))
}

/// Everything that ran on the event loop, now on the runtime.
async fn serve(args: &Args) -> Result<(), String> {
    let listener = TcpListener::bind(args.bind)
        .await
        .map_err(|e| bind_error(args.bind, &e))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let mut shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
    let (stop_tx, stop) = watch::channel(false);
    emit(&Event::Listening {
        proto: Proto::Tcp,
        addr: local,
    });

    let mut counts = IdentCounts::default();
    let quiet = args.quiet;
    let record = move |counts: &mut IdentCounts, served: Served| {
        counts.closed += 1;
        counts.queries += served.queries;
        if !quiet {
            emit(&ident::closed_event(served.peer, served.sent, served.why));
        }
    };
    // Every connection is a task of the set; the set runs empty when the last is done.
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
                    let connection = Connection {
                        stream,
                        peer,
                        slot,
                        idle_timeout: args.idle_timeout,
                        quiet,
                        shutdown: stop.clone(),
                    };
                    connections.spawn(connection.run());
                }
                // Out of descriptors, say: wait, then retry; a failed connection: the
                // next one, at once. `shared::accept` decides and reports.
                Err(e) => {
                    if let Next::Pause(pause) = policy.failed(&e) {
                        counts.accept_pauses = policy.pauses();
                        paused = Some(Instant::now() + pause);
                    }
                }
            },
            // The pause is one more branch: connections are still reaped and a signal
            // still stops the server meanwhile.
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
}
