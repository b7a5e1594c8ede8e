//! RFC 1413 ident server on tokio 1, deliberately WRONG: a blocking std read inside
//! a task.
//!
//! Kept, and labelled, because it is the mistake the talk warns about ("do not block
//! the current thread!") as it is still made today. This is ident-tokio with its
//! request stream and its writes done on a std socket: each connection is a task, but
//! the task turns its socket into a std `TcpStream`, makes it blocking, and reads it
//! with std's `read`. Two things go wrong:
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
//! The file reads in the order the server works. [`Requests`] are the query lines of
//! one connection; [`Incoming`] are the listener's connections, each with one of
//! `--max-connections` slots; a [`Connection`] answers its requests, one reply per
//! line, and reports how it went ([`Served`]); `serve` accepts connections until a
//! signal comes, then waits for the open ones to end and prints the summary.
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
//! Otherwise it behaves like ident-tokio, as long as no read is blocking the thread.
//! Connect,
//! and type a query such as `1113, 40000` (a port pair of one of your connections to
//! it: `ss -tn` shows them). Every query line gets one reply, `S, C : USERID : UNIX :
//! USER` or `S, C : ERROR : NO-USER | INVALID-PORT | UNKNOWN-ERROR`, and only
//! connections between the querier's address and this host are ever reported
//! (RFC 1413 §3). A line that is not UTF-8 is a malformed query (INVALID-PORT); more
//! than 1,000 bytes in one read without a line end end the connection. A connection
//! with nothing read for `--idle-timeout-secs` is closed (a socket read timeout here,
//! restarted by every byte). SIGINT or SIGTERM stops accepting, and the server exits
//! with `summary accepted=A closed=C queries=Q accept_pauses=P` once the open
//! connections have ended by themselves: a blocked task cannot be told to stop.
//!
//! # Faults
//!
//! Its accept loop is not where it is wrong; it is ident-tokio's (its blocking reads
//! make both points moot while one peer holds the thread):
//!
//! * Out of descriptors: an accept that fails for lack of resources (`EMFILE`, …)
//!   pauses accepting for 10 ms, doubling up to 1 s, while the open connections are
//!   served; one stderr line when that starts, one when accepting works again, and
//!   `accept_pauses` counts the episodes (`shared::accept`). [`Incoming`] is the
//!   stream of connections that pauses: a tokio `Sleep` awaited in its `next`.
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog until one closes.
//!
//! # On several threads
//!
//! With `--threads N` the runtime is tokio's multi-thread runtime, with N worker
//! threads that run the tasks and steal them from each other; each connection is a
//! task, and any free worker runs it.
//! A task blocked in a std read then holds one worker of N, and the others serve on:
//! one silent peer no longer stops the server, N of them do, and a second worker shows
//! faults that one thread hid (a query split across two reads is answered twice).
//! More workers hide the fault; they do not mend it. The suite's row with
//! `--threads 2` documents which checks still fail, and why.
//! The accept loop runs in `block_on`, on the thread that started the program
//! (`serve_on_threads`).
//!
//! ```text
//! cargo run -p modern-ident-incorrect -- --bind 127.0.0.1:1113 --threads 2
//! ```
//!
//! # Migration
//!
//! The legacy program's mistake (std `read_line` on a non-blocking socket inside
//! `poll`) fails fast: `WouldBlock` comes back and the connection is dropped. tokio 1
//! makes the opposite mistake easy: `into_std()` hands back the socket, and one
//! `set_nonblocking(false)` later every std call blocks the runtime's thread. So the
//! two eras are wrong in two ways, on ident-tokio's skeleton (whose own migration is
//! in its `Migration` section): `Requests::poll`, which read a line with `read_line`,
//! becomes a `Requests::next` that blocks in `read` and never awaits, and the reply's
//! std `write_all` blocks instead of failing. The fixes are the same in both eras:
//! keep the bytes of a partial line across reads (ident-tokio, ident-service), and
//! wait with `.await`, never with a blocking call (or move blocking work to
//! `spawn_blocking`, as ident-pool does).
//!
//! This pair keeps 40 % of the legacy file's lines (non-blank, whitespace stripped,
//! unchanged and in order), below the 50 % most pairs keep, and has no ladder: its
//! two files make two different mistakes, so `Requests` and the reply's write differ
//! whole, and the rest carries ident-tokio's migration (whose ladder,
//! `bridge/ident-tokio-step1` to `step3`, takes it one step at a time). Read as a
//! variation of ident-tokio (`variation-of` in its `Cargo.toml`; `cargo xtask diff
//! --stat` shows each era against ident-tokio's), each era is one step from it.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, Line, MAX_LINE};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Sleep;

/// Why a connection's requests ended early (end-of-file is their end).
#[derive(Debug)]
enum End {
    Idle,
    TooLong,
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
            // No `InvalidUtf8` (the bytes are answered as they come) and no `Shutdown`
            // (a task blocked in `read` cannot be told to stop).
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

/// The query lines of one connection, read from a blocking std socket.
struct Requests<'a> {
    reader: &'a std::net::TcpStream,
    /// What the last read returned.
    buf: Box<[u8]>,
    /// The lines (or the end) that the last read returned and that are not yet taken.
    lines: VecDeque<Result<String, End>>,
}

impl Requests<'_> {
    /// The next query line; `None` at end-of-file. Nothing in it awaits: it blocks.
    // port of: Requests::poll
    async fn next(&mut self) -> Result<Option<String>, End> {
        loop {
            if let Some(line) = self.lines.pop_front() {
                return line.map(Some);
            }
            // WRONG: a blocking read on the runtime's only thread.
            let n = match self.reader.read(&mut self.buf) {
                // End-of-file.
                Ok(0) => return Ok(None),
                Ok(n) => n,
                // A signal interrupted the read (a read with a timeout is not restarted
                // by the kernel): as any blocking loop does, read again.
                Err(ref e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The read timeout: nothing arrived for --idle-timeout-secs.
                Err(ref e)
                    if e.kind() == io::ErrorKind::WouldBlock
                        || e.kind() == io::ErrorKind::TimedOut =>
                {
                    return Err(End::Idle)
                }
                Err(e) => return Err(e.into()),
            };
            // WRONG: what one read returned is taken as whole lines; a partial line at
            // the end is answered as if it were complete.
            let mut rest = &self.buf[..n];
            while !rest.is_empty() {
                let (line, used) = match ident::next_line(rest) {
                    Line::Complete { line, consumed } => (line, consumed),
                    Line::Incomplete => (rest.strip_suffix(b"\r").unwrap_or(rest), rest.len()),
                    Line::TooLong => {
                        self.lines.push_back(Err(End::TooLong));
                        break;
                    }
                };
                // Bytes that are not UTF-8 are no digits either: the query is malformed.
                self.lines
                    .push_back(Ok(String::from_utf8_lossy(line).into_owned()));
                rest = &rest[used..];
            }
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
}

impl Connection {
    /// Serves the connection: query lines in, replies out.
    async fn run(self) -> Served {
        let Connection {
            stream,
            peer,
            slot,
            idle_timeout,
            quiet,
        } = self;
        // WRONG: `into_std` hands the socket back non-blocking, as tokio documents;
        // this makes every std call on it block the thread.
        let blocking = stream.into_std().and_then(|stream| {
            stream.set_nonblocking(false)?;
            stream.set_read_timeout(Some(idle_timeout))?;
            stream.set_write_timeout(Some(idle_timeout))?;
            Ok(stream)
        });
        let stream = match blocking {
            Ok(stream) => stream,
            Err(e) => {
                return Served {
                    peer,
                    sent: 0,
                    queries: 0,
                    why: End::Io(e).reason(),
                }
            }
        };
        // One std socket, read and written through shared references.
        let (reader, mut writer) = (&stream, &stream);
        let mut requests = Requests {
            reader,
            buf: vec![0; MAX_LINE + 1].into_boxed_slice(),
            lines: VecDeque::new(),
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
                let len = wire.len() as u64;
                // WRONG: a blocking write, which a peer that reads nothing holds until
                // the write timeout.
                writer.write_all(wire.as_bytes())?;
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
    // One thread, as tokio-core's `Core` ran everything on one.
    let runtime = Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot create runtime: {e}"))?;
    runtime.block_on(serve(args))
}

/// `--threads N`: one runtime, its N worker threads running the tasks and stealing
/// them from each other; a connection is a task, already `Send` (`JoinSet::spawn` asks it even on
/// one thread), and any worker may run it. The accept loop runs in `block_on`, on
/// this thread.
fn serve_on_threads(args: &Args) -> Result<(), String> {
    let runtime = Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
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
        };
        connections.spawn(connection.run());
    }
    counts.accept_pauses = incoming.policy.pauses();
    // Accept no more. The tasks cannot be told to stop: a std read is not an `.await`
    // that a `select!` could drop. Each ends when its peer closes or goes idle.
    drop(incoming);
    while let Some(done) = connections.join_next().await {
        let served = done.map_err(|e| format!("connection task failed: {e}"))?;
        record(&mut counts, served);
    }
    emit(&counts.summary());
    Ok(())
}
