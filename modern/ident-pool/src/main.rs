//! RFC 1413 ident server on tokio 1, the owner lookup on tokio's blocking pool
//! (`tokio::task::spawn_blocking`).
//!
//! The talk's advice for blocking work: "Do not block a future. Never wait in a
//! future! … Then: use a thread pool". This is ident-tokio with one change: the
//! lookup of a connection's owner, which may take milliseconds of CPU (reading
//! `/proc/net/tcp*`, `--lookup proc`), runs on a thread of the runtime's blocking
//! pool. `spawn_blocking(..)` returns a `JoinHandle` of the reply; the connection's
//! task awaits it, and meanwhile the runtime serves every other connection. In
//! ident-tokio the same lookup runs inside the task, on the runtime's only thread: a
//! second client waits for it.
//!
//! The file reads in the order the server works. [`Requests`] are the query lines of
//! one connection; [`Incoming`] are the listener's connections, each with one of
//! `--max-connections` slots; a [`Connection`] answers its requests, one reply per
//! line, and reports how it went ([`Served`]); `serve` accepts connections until a
//! signal comes, then waits for the open ones to end and prints the summary.
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
//! no query for `--idle-timeout-secs` is closed: the timer is reset when a line is
//! complete, not when a byte comes, so that it bounds the time a query line may take.
//! SIGINT or SIGTERM stops accepting and closes every connection once its current
//! reply is written, then prints `summary accepted=A closed=C queries=Q
//! accept_pauses=P` and exits 0.
//!
//! # Faults
//!
//! * Out of descriptors: an accept that fails for lack of resources (`EMFILE`, …)
//!   pauses accepting for 10 ms, doubling up to 1 s, while the open connections are
//!   served; one stderr line when that starts, one when accepting works again, and
//!   `accept_pauses` counts the episodes (`shared::accept`). [`Incoming`] is the
//!   stream of connections that pauses: a tokio `Sleep` awaited in its `next`.
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog until one closes.
//!
//! # When the pool is worth it
//!
//! A pool costs a hand-over per query: the job goes to a pool thread through a queue,
//! and the answer comes back through a wake-up of the runtime — two context
//! switches at least. With the `/proc` lookup (about 10 ms) that is noise, and the
//! runtime stays free. With the netlink lookup (a few microseconds, the default)
//! the hand-over costs more than the lookup it hands over; ident-tokio does as well
//! there (the book's ident figures, from `cargo xtask bench ident-tokio ident-pool`).
//!
//! # On several threads
//!
//! With `--threads N` the runtime is tokio's multi-thread runtime, with N worker
//! threads that run the tasks and steal them from each other; each connection is a
//! task, and any free worker runs it.
//! The lookups run on the blocking pool, apart from the workers, which serve the
//! other clients meanwhile.
//! The accept loop runs in `block_on`, on the thread that started the program
//! (`serve_on_threads`).
//!
//! ```text
//! cargo run -p modern-ident-pool -- --bind 127.0.0.1:1113 --threads 2
//! ```
//!
//! # Migration
//!
//! * `CpuPool`, a pool object created by the program and passed (as a cloned handle)
//!   to each connection, becomes the runtime's own blocking pool: `spawn_blocking`
//!   finds it through the runtime context, and `Builder::max_blocking_threads` sizes
//!   it as `pool_size` did (idle threads exit after 10 s; a `CpuPool`'s stay). So
//!   `Connection` loses its `pool` field.
//! * `pool.spawn_fn(f)` → a `CpuFuture` chained with `and_then` becomes
//!   `spawn_blocking(f).await`; a panic in `f` arrives as a `JoinError` (the
//!   connection ends with `error: lookup failed: …`) instead of being resumed in the
//!   task that polls the `CpuFuture`.
//!
//!
//! The rest is ident-tokio's migration: see its `Migration` section, and its ladder,
//! `bridge/ident-tokio-step1` to `step3`, which takes it one step at a time. That is
//! why this pair keeps 47 % of the legacy file's lines (non-blank, whitespace
//! stripped, unchanged and in order), below the 50 % most pairs keep, without a
//! ladder of its own: its two files are ident-tokio's two files with the lookup moved
//! to a pool, and the diff between them carries ident-tokio's whole migration
//! (whose own pair keeps 46 %) besides this one change. Read as a variation of
//! ident-tokio (`variation-of` in its `Cargo.toml`; `cargo xtask diff --stat` shows
//! each era against ident-tokio's), it is one small step from it in each era.

use std::borrow::Cow;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, lookup, reason, IdentCounts, MAX_LINE};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, FramedRead, LinesCodec, LinesCodecError};

/// Becomes `true` once SIGINT or SIGTERM arrives. A `watch` channel, so that every
/// connection can hold a receiver and be woken by the same signal.
type Shutdown = watch::Receiver<bool>;

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

/// tokio-util's `LinesCodec`, but a line that end-of-file cuts short is no query:
/// `LinesCodec::decode_eof` hands the leftover bytes out as a last line, and the
/// server would answer half a query. The legacy server's `Requests::poll` never did.
struct QueryLines(LinesCodec);

impl Decoder for QueryLines {
    type Item = String;
    type Error = LinesCodecError;

    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<String>, LinesCodecError> {
        self.0.decode(buf)
    }

    /// Only whole lines, at end-of-file as before it.
    fn decode_eof(&mut self, buf: &mut BytesMut) -> Result<Option<String>, LinesCodecError> {
        self.0.decode(buf)
    }
}

/// The query lines of one connection.
struct Requests {
    /// Buffers bytes until a whole line is there: never more than `MAX_LINE` of them.
    lines: FramedRead<OwnedReadHalf, QueryLines>,
    /// Reset when a line is complete; awaited while the task waits for the socket.
    idle: Pin<Box<Sleep>>,
    idle_timeout: Duration,
    shutdown: Shutdown,
}

impl Requests {
    /// The next query line; `None` at end-of-file.
    // port of: Requests::poll
    async fn next(&mut self) -> Result<Option<String>, End> {
        // No `BUDGET` of lines per turn: the reply's `write_all` spends tokio's
        // cooperative budget, and a connection with many lines waiting yields by itself.
        tokio::select! {
            // The codec's `next` is cancel-safe: bytes already read stay buffered.
            next = self.lines.next() => match next {
                Some(Ok(line)) => {
                    self.idle.as_mut().reset(Instant::now() + self.idle_timeout);
                    Ok(Some(line))
                }
                Some(Err(LinesCodecError::MaxLineLengthExceeded)) => Err(End::TooLong),
                Some(Err(LinesCodecError::Io(e))) if e.kind() == io::ErrorKind::InvalidData => {
                    Err(End::InvalidUtf8)
                }
                // End-of-file; a partial line left in the buffer gets no answer
                // (`QueryLines`).
                None => Ok(None),
                Some(Err(LinesCodecError::Io(e))) => Err(e.into()),
            },
            // The signal and the timer, awaited beside the read, where `poll` polled
            // them: awaiting is what registers this task to be woken by them.
            _ = self.shutdown.wait_for(|stopping| *stopping) => Err(End::Shutdown),
            () = &mut self.idle => Err(End::Idle),
        }
    }
}

/// How many connections are open, out of `--max-connections`, and the accept task to
/// wake when one closes while all are taken: tokio's `Semaphore`, whose permits are
/// the slots (futures 0.1 had no semaphore).
type Slots = Semaphore;

/// One connection's slot, given back when the connection (which holds it) is dropped.
type Slot = OwnedSemaphorePermit;

/// The listener's connections, each with its slot: none while `--max-connections`
/// are open (the next peers wait in the listen backlog), and none for a growing pause
/// after an accept error about resources. An accept loop that only reports the error
/// and carries on spins: the listener stays readable.
struct Incoming {
    listener: TcpListener,
    slots: Arc<Slots>,
    policy: AcceptPolicy,
    /// Armed after an accept failed for lack of resources: nothing is accepted until
    /// it is over.
    pause: Option<Pin<Box<Sleep>>>,
}

impl Incoming {
    /// The next connection and its slot. Cancel-safe, for the `select!` it runs in: a
    /// pause stays armed until it is over, and a dropped `accept` accepted nothing.
    // port of: Incoming::poll
    async fn next(&mut self) -> io::Result<(TcpStream, SocketAddr, Slot)> {
        loop {
            if let Some(pause) = self.pause.as_mut() {
                // Awaiting the `Sleep` parks this task until the pause is over; until
                // then, the runtime serves the connections and would see a signal.
                pause.await;
                self.pause = None;
            }
            // Waits for a slot: a permit is given back when a connection ends.
            let slot = self.slots.clone().acquire_owned().await;
            let slot = slot.map_err(io::Error::other)?;
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    self.policy.accepted();
                    return Ok((stream, peer, slot));
                }
                // Out of descriptors, say: wait, then retry; a failed connection: the
                // next one, at once. `shared::accept` decides and reports.
                Err(e) => match self.policy.failed(&e) {
                    Next::Retry => {}
                    Next::Pause(pause) => self.pause = Some(Box::pin(tokio::time::sleep(pause))),
                },
            }
        }
    }
}

/// One accepted connection, and what serving it needs.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    idle_timeout: Duration,
    quiet: bool,
    shutdown: Shutdown,
}

impl Connection {
    /// Serves the connection: query lines in, replies out, each lookup on the
    /// runtime's blocking pool.
    async fn run(self) -> Served {
        let Connection {
            stream,
            peer,
            slot,
            idle_timeout,
            quiet,
            shutdown,
        } = self;
        // Owned halves: the write half is borrowed by the loop, not handed around.
        let (reader, mut writer) = stream.into_split();
        let mut requests = Requests {
            lines: FramedRead::new(
                reader,
                QueryLines(LinesCodec::new_with_max_length(MAX_LINE)),
            ),
            idle: Box::pin(tokio::time::sleep(idle_timeout)),
            idle_timeout,
            shutdown,
        };
        // Plain locals: nothing has to outlive one step of a fold any more.
        let (mut sent, mut queries) = (0u64, 0u64);
        let served = async {
            // The fold is a loop now; `?` ends it with the `End` that stopped it.
            while let Some(line) = requests.next().await? {
                // The lookup runs on a pool thread (the line moves there with it); this
                // task waits for it without holding the event loop.
                let lookup =
                    tokio::task::spawn_blocking(move || ident::answer(line.as_bytes(), peer.ip()));
                // What follows runs back on the event loop's thread, when the task is
                // woken by the pool: the counts and the event lines stay on one thread.
                let reply = lookup
                    .await
                    .map_err(|e| io::Error::other(format!("lookup failed: {e}")))?;
                queries += 1;
                if !quiet {
                    emit(&ident::reply_event(peer, &reply));
                }
                let wire = reply.to_wire();
                let len = wire.len() as u64;
                // `write_all` borrows the write half: nothing to hand back.
                writer.write_all(wire.as_bytes()).await?;
                sent += len;
            }
            Ok::<(), End>(())
        };
        let ended = served.await;
        // The connection is over: its slot is free.
        drop(slot);
        let why = match ended {
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

fn main() {
    let spec = Spec::ident(env!("CARGO_BIN_NAME")).with_threads();
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    // `--threads N`: the multi-thread runtime (see `serve_on_threads`).
    if args.threads > 1 {
        return serve_on_threads(args);
    }
    // One thread, as tokio-core's `Core` ran everything on one; the threads the
    // lookups run on are the runtime's blocking pool, sized here.
    let runtime = Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(lookup::pool_threads())
        .thread_name("lookup")
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(serve(args))
}

/// `--threads N`: one runtime, its N worker threads running the tasks and stealing
/// them from each other; a connection is a task, already `Send` (`JoinSet::spawn`
/// asks it even on one thread), and any worker may run it. The accept loop runs in
/// `block_on`, on this thread. The lookups still run on the blocking pool (its
/// threads unnamed here: a name would name the workers too).
fn serve_on_threads(args: &Args) -> Result<(), String> {
    let runtime = Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .max_blocking_threads(lookup::pool_threads())
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(serve(args))
}

/// Everything that ran on the event loop, now on the runtime.
// port of: run
async fn serve(args: &Args) -> Result<(), String> {
    let listener = TcpListener::bind(args.bind)
        .await
        .map_err(|e| bind_error(args.bind, &e))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    // The signals are awaited in the accept loop, which tells the connections.
    let (stop, shutdown) = watch::channel(false);
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
    let mut incoming = Incoming {
        listener,
        slots: Arc::new(Slots::new(args.max_connections)),
        policy: AcceptPolicy::new(),
        pause: None,
    };
    // Accept until a signal arrives: each connection is a task of its own, whose
    // `Served` the loop counts when it is done.
    loop {
        let (stream, peer, slot) = tokio::select! {
            accepted = incoming.next() => accepted.map_err(|e| format!("accept loop failed: {e}"))?,
            Some(done) = connections.join_next() => {
                let served = done.map_err(|e| format!("connection task failed: {e}"))?;
                record(&mut counts, served);
                continue;
            }
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
        };
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
            shutdown: shutdown.clone(),
        };
        connections.spawn(connection.run());
    }
    counts.accept_pauses = incoming.policy.pauses();
    // Accept no more; tell every connection to stop.
    drop(incoming);
    let _ = stop.send(true);
    // Each connection ends once its current reply is written; wait for the last one.
    while let Some(done) = connections.join_next().await {
        let served = done.map_err(|e| format!("connection task failed: {e}"))?;
        record(&mut counts, served);
    }
    emit(&counts.summary());
    Ok(())
}
