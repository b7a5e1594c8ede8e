//! RFC 1413 ident server, migration step 1 of 3: tokio-proto's pipeline replaced by an
//! async fn over tokio-io's `Framed`, still run by tokio-core's `Core` through the
//! compat layer; the service is still a tokio-service `Service`.
//!
//! The talk's last version: the tokio stack in three layers. A *codec* turns bytes
//! into query lines and replies into bytes (unchanged); a *pipeline* of our own now
//! drives that transport, reading requests, calling the service and writing the
//! responses in request order; the *service* is just a function from a request to a
//! future of its response (`tokio_service::Service::call`) and knows nothing about
//! sockets (unchanged too). What changed is the middle layer: tokio-proto's pipeline
//! server, bound to each connection with `BindServer::bind_server`, is now `pipeline`,
//! an async fn over tokio-io's `Framed`, spawned on the `Core` like tokio-proto's task.
//!
//! The file reads in the order the server works. [`IdentCodec`] frames the lines,
//! [`IdentService`] answers one, and [`pipeline`] serves a connection with them,
//! with what the protocol layer did not know about as its locals: the idle timer,
//! the shutdown signal, and how the connection went ([`Served`]); [`Incoming`] are the
//! listener's connections, each with one of `--max-connections` slots; `run` accepts
//! connections until a signal comes, then waits for the open ones to end and prints
//! the summary.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p bridge-ident-service-step1 -- --bind 127.0.0.1:1113
//! nc 127.0.0.1 1113
//! ```
//!
//! and type a query such as `1113, 40000` (a port pair of one of your connections to
//! it: `ss -tn` shows them). Every query line gets one reply, `S, C : USERID : UNIX :
//! USER` or `S, C : ERROR : NO-USER | INVALID-PORT | UNKNOWN-ERROR`, and only
//! connections between the querier's address and this host are ever reported
//! (RFC 1413 §3). The codec works on bytes: a line that is not UTF-8 is a malformed
//! query (INVALID-PORT); a line longer than 1,000 bytes ends the connection (the codec
//! fails as soon as that many bytes come without a newline). A connection with no
//! query for `--idle-timeout-secs` is closed: the timer is reset when a line is
//! complete, not when a byte comes, so that it bounds the time a query line may take.
//! SIGINT or SIGTERM stops accepting and ends every connection's request stream once
//! the reply in progress is written; then the server prints `summary accepted=A
//! closed=C queries=Q accept_pauses=P` and exits 0.
//!
//! # Faults
//!
//! * Out of descriptors: an accept that fails for lack of resources (`EMFILE`, …)
//!   pauses accepting for 10 ms, doubling up to 1 s, while the open connections are
//!   served; one stderr line when that starts, one when accepting works again, and
//!   `accept_pauses` counts the episodes (`shared::accept`). [`Incoming`] is the
//!   stream of connections that pauses: a tokio-core `Timeout` armed in its `poll`.
//!   `incoming().then(Ok).for_each(…)` could not do this: the listener stays
//!   readable, so `for_each` polled it again at once, inside the same `poll`, for as
//!   long as accepts failed — the event loop never turned again, the connections
//!   holding the descriptors were never served, and SIGTERM was never seen.
//!   (tokio-proto's own `TcpServer` let the error end its `incoming().for_each` and
//!   `unwrap`ped it: the first `EMFILE` killed the server.)
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog until one closes.
//! * A peer that sends queries and reads no reply meets backpressure with no bound of
//!   its own: the pipeline reads the next request only once the reply before it is
//!   written (tokio-proto queued the replies, which the legacy program bounds with
//!   `MAX_OWED`).
//!
//! # What this step does, and why it is safe
//!
//! tokio-proto goes first, while the runtime stays: its pipeline server becomes an
//! async fn over tokio-io's `Framed`, spawned on the `Core` as before, calling the
//! unchanged tokio-service `Service` and awaiting its futures 0.1 future through
//! `.compat()`. It has to come first because tokio-proto cannot follow the runtime (it
//! spawns onto a tokio-core `Core`, and it was archived in 2018 with no successor), and
//! it is safe because the runtime, the codec, the timer, the service and the accept
//! loop it runs with are all still the old ones.
//!
//! `bind_server` takes a tokio-core `Handle` and spawns onto that `Core`, and
//! tokio-proto's transports must be futures 0.1 `Stream + Sink`s. So its pipeline is
//! written out, as the modern program has it, while the `Core` still runs it: a loop
//! that awaits the next line of tokio-io's `Framed` (through `Compat01As03Sink`, which
//! makes a 0.1 `Stream + Sink` a 0.3 one), calls the service and awaits its futures 0.1
//! future (`.compat()`), and sends the reply. What the protocol layer hid no longer
//! needs a wrapping transport: the idle timer (tokio-core's `Timeout`, one per
//! connection reset when a request is complete, awaited through the compat layer), the
//! shutdown signal (the same `Shared` future) and the `closed` report (the loop's own
//! result, `Served`, instead of a `Drop` impl) are local to the loop. The queries are
//! counted there too, so the service loses its `counts`.
//!
//! Nothing observable changes: the replies, their order, the idle timeout and the
//! shutdown are the same, and the suite's checks pass as they do for the legacy
//! program. The accept loop (`Incoming`, `for_each`) is untouched: it is step 2.
//!
//! # In the wrong order
//!
//! Switching the runtime while tokio-proto still serves the connections cannot work:
//! `bind_server` spawns each connection's task onto the `Core`, and a `Core` that tokio
//! 1 has replaced is never run, so connections would be accepted and never answered.
//! The protocol layer has to become runtime-neutral async code first — this step.

// The workspace pins the compat layer under a key of its own (`futures-compat`), since
// `futures` names the modern crate there; in this crate it is `futures`, as in the
// code this one becomes. futures 0.1 is `futures01`.
extern crate futures_compat as futures;

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::compat::{Compat01As03, Compat01As03Sink, Future01CompatExt, Sink01CompatExt};
use futures::{FutureExt, SinkExt, StreamExt, TryFutureExt};
use futures01::future::{self, Either, FutureResult, Shared};
use futures01::sync::mpsc;
use futures01::task::{self, Task};
use futures01::{Async, Future, Poll, Stream};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, Line};
use tokio_core::net::{TcpListener, TcpStream};
use tokio_core::reactor::{Core, Handle, Timeout};
// The codec API tokio-proto 0.1 was written against; tokio-io 0.1.7 later moved it
// to the tokio-codec crate and deprecated it here.
#[allow(deprecated)]
use tokio_io::codec::{Decoder, Encoder, Framed};
#[allow(deprecated)]
use tokio_io::AsyncRead;
use tokio_service::Service;
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Resolves once SIGINT or SIGTERM arrives. `Shared`, so that the accept loop and
/// every connection can each hold a clone and be woken by the same signal.
type Shutdown = Shared<Box<dyn Future<Item = (), Error = ()>>>;

/// Query lines in (without their line end), reply lines out.
struct IdentCodec;

impl Decoder for IdentCodec {
    type Item = Vec<u8>;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Vec<u8>>> {
        match ident::next_line(buf) {
            Line::Complete { line, consumed } => {
                let line = line.to_vec();
                buf.split_to(consumed);
                Ok(Some(line))
            }
            Line::Incomplete => Ok(None),
            Line::TooLong => Err(io::Error::new(io::ErrorKind::InvalidData, reason::TOO_LONG)),
        }
    }

    /// End-of-file in the middle of a line: nothing to answer (the default would
    /// call the leftover bytes an error).
    fn decode_eof(&mut self, buf: &mut BytesMut) -> io::Result<Option<Vec<u8>>> {
        self.decode(buf)
    }
}

impl Encoder for IdentCodec {
    type Item = String;
    type Error = io::Error;

    fn encode(&mut self, reply: String, buf: &mut BytesMut) -> io::Result<()> {
        buf.extend_from_slice(reply.as_bytes());
        Ok(())
    }
}

/// The service: a query line of the peer at `peer` → the future of its reply line.
struct IdentService {
    peer: SocketAddr,
    quiet: bool,
}

impl Service for IdentService {
    type Request = Vec<u8>;
    type Response = String;
    type Error = io::Error;
    type Future = FutureResult<String, io::Error>;

    fn call(&self, line: Vec<u8>) -> Self::Future {
        let reply = ident::answer(&line, self.peer.ip());
        if !self.quiet {
            emit(&ident::reply_event(self.peer, &reply));
        }
        future::ok(reply.to_wire())
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

/// tokio-io's framed connection (a futures 0.1 `Stream` of query lines and `Sink` of
/// replies), as a futures 0.3 `Stream + Sink`.
#[allow(deprecated)]
type Transport = Compat01As03Sink<Framed<TcpStream, IdentCodec>, String>;

/// The pipeline server of one connection, as tokio-proto's was: read a request, call
/// the service, write its response; in order, until the request stream ends.
// port of: Transport::poll
async fn pipeline<S>(
    mut framed: Transport,
    service: S,
    peer: SocketAddr,
    slot: Slot,
    idle_timeout: Duration,
    handle: Handle,
    shutdown: Shutdown,
) -> Served
where
    S: Service<Request = Vec<u8>, Response = String, Error = io::Error>,
{
    // The idle timer, reset when a request is complete: tokio-core's, one per
    // connection as the old transport had it, awaited through the compat layer. (A new
    // `Timeout` per request, dropped unfired, made this server grow with every
    // query while a peer sent queries and read no reply, past the bound: the suite's
    // `unread-replies`.)
    let mut idle: Compat01As03<Timeout> = match Timeout::new(idle_timeout, &handle) {
        Ok(idle) => idle.compat(),
        Err(e) => {
            return Served {
                peer,
                sent: 0,
                queries: 0,
                why: Cow::Owned(format!("error: {e}")),
            }
        }
    };
    let (mut sent, mut queries) = (0u64, 0u64);
    let why = loop {
        let request = futures::select_biased! {
            // The signal first, as the old transport polled it first.
            _ = shutdown.clone().compat().fuse() => break Cow::Borrowed(reason::SHUTDOWN),
            // `Framed`'s next line is cancel-safe: bytes already read stay buffered.
            next = framed.next().fuse() => match next {
                // End-of-file; a partial line left in the buffer gets no answer.
                None => break Cow::Borrowed(reason::EOF),
                Some(Ok(request)) => request,
                Some(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                    break Cow::Borrowed(reason::TOO_LONG)
                }
                Some(Err(e)) => break Cow::Owned(format!("error: {e}")),
            },
            idle = (&mut idle).fuse() => match idle {
                Ok(()) => break Cow::Borrowed(reason::IDLE),
                Err(e) => break Cow::Owned(format!("error: {e}")),
            },
        };
        idle.get_mut().reset(Instant::now() + idle_timeout);
        // The service's futures 0.1 future, awaited through the compat layer.
        let response = match service.call(request).compat().await {
            Ok(response) => response,
            Err(e) => break Cow::Owned(format!("error: {e}")),
        };
        queries += 1;
        let len = response.len() as u64;
        if let Err(e) = framed.send(response).await {
            break Cow::Owned(format!("error: {e}"));
        }
        sent += len;
    };
    // The connection is over: its slot is free.
    drop(slot);
    Served {
        peer,
        sent,
        queries,
        why,
    }
}

/// How many connections are open, out of `--max-connections`, and the accept task to
/// wake when one closes while all are taken. futures 0.1 has no semaphore: a future
/// that cannot go on keeps the `Task` of whoever must wake it.
struct Slots {
    open: Cell<usize>,
    max: usize,
    waiting: RefCell<Option<Task>>,
}

impl Slots {
    /// Takes a slot; `None` if all are taken, and then the current task is notified
    /// when one is given back.
    fn take(slots: &Rc<Slots>) -> Option<Slot> {
        if slots.open.get() >= slots.max {
            *slots.waiting.borrow_mut() = Some(task::current());
            return None;
        }
        slots.open.set(slots.open.get() + 1);
        Some(Slot(slots.clone()))
    }
}

/// One connection's slot, given back when the connection (which holds it) is dropped.
struct Slot(Rc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get() - 1);
        if let Some(accepting) = self.0.waiting.borrow_mut().take() {
            accepting.notify();
        }
    }
}

/// The listener's connections, each with its slot: none while `--max-connections`
/// are open (the next peers wait in the listen backlog), and none for a growing pause
/// after an accept error about resources. An accept loop that only reports the error
/// and carries on spins: the listener stays readable (`TcpListener::incoming()` hands
/// every error to its caller).
struct Incoming {
    listener: TcpListener,
    slots: Rc<Slots>,
    policy: AcceptPolicy,
    /// Armed after an accept failed for lack of resources: nothing is accepted until
    /// it fires.
    pause: Option<Timeout>,
    handle: Handle,
}

impl Stream for Incoming {
    type Item = (TcpStream, SocketAddr, Slot);
    type Error = io::Error;

    fn poll(&mut self) -> Poll<Option<Self::Item>, io::Error> {
        loop {
            if let Some(pause) = self.pause.as_mut() {
                // Polling the `Timeout` registers this task to be woken when the
                // pause is over; until then, the event loop serves the connections
                // and would see a signal.
                if pause.poll()?.is_not_ready() {
                    return Ok(Async::NotReady);
                }
                self.pause = None;
            }
            let Some(slot) = Slots::take(&self.slots) else {
                return Ok(Async::NotReady);
            };
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    self.policy.accepted();
                    return Ok(Async::Ready(Some((stream, peer, slot))));
                }
                // tokio-core registered this task for the listener's readiness.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Async::NotReady),
                // Out of descriptors, say: wait, then retry; a failed connection: the
                // next one, at once. `shared::accept` decides and reports.
                Err(e) => match self.policy.failed(&e) {
                    Next::Retry => {}
                    Next::Pause(pause) => self.pause = Some(Timeout::new(pause, &self.handle)?),
                },
            }
        }
    }
}

fn main() {
    let spec = Spec::ident(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let handle = core.handle();
    let listener = TcpListener::bind(&args.bind, &handle).map_err(|e| bind_error(args.bind, &e))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let sigint = Signal::new(SIGINT, &handle).flatten_stream();
    let sigterm = Signal::new(SIGTERM, &handle).flatten_stream();
    let signals: Box<dyn Future<Item = (), Error = ()>> = Box::new(
        sigint
            .select(sigterm)
            .into_future()
            .map(|_| ())
            .map_err(|_| ()),
    );
    let shutdown = signals.shared();
    emit(&Event::Listening {
        proto: Proto::Tcp,
        addr: local,
    });

    let counts = Rc::new(RefCell::new(IdentCounts::default()));
    let quiet = args.quiet;
    let record = move |counts: &mut IdentCounts, served: Served| {
        counts.closed += 1;
        counts.queries += served.queries;
        if !quiet {
            emit(&ident::closed_event(served.peer, served.sent, served.why));
        }
    };
    // Every connection holds a sender; the channel ends when the last one is done.
    let (done_tx, done_rx) = mpsc::unbounded::<()>();
    let mut incoming = Incoming {
        listener,
        slots: Rc::new(Slots {
            open: Cell::new(0),
            max: args.max_connections,
            waiting: RefCell::new(None),
        }),
        policy: AcceptPolicy::new(),
        pause: None,
        handle: handle.clone(),
    };
    // Accept until a signal arrives: each connection is a task of its own, which
    // counts itself when it is done.
    let server = incoming.by_ref().for_each(|(stream, peer, slot)| {
        counts.borrow_mut().accepted += 1;
        if !quiet {
            emit(&ident::accepted_event(peer));
        }
        let service = IdentService { peer, quiet };
        #[allow(deprecated)]
        let framed = stream.framed(IdentCodec).sink_compat();
        let connection = pipeline(
            framed,
            service,
            peer,
            slot,
            args.idle_timeout,
            handle.clone(),
            shutdown.clone(),
        );
        let (counts, done) = (counts.clone(), done_tx.clone());
        // The pipeline task, spawned on the event loop as `bind_server` did: the async
        // block made a futures 0.1 future with `.compat()` (boxed and pinned, so
        // `Unpin`), as `Handle::spawn` wants.
        let task = async move {
            // Awaited before `counts` is borrowed: a `RefCell` borrow held across an
            // `.await` stays held while other tasks run (in a hand-written `poll` it
            // ended with the call), and the next `borrow_mut` of any task panics.
            let served = connection.await;
            record(&mut counts.borrow_mut(), served);
            drop(done);
            Ok::<(), ()>(())
        };
        handle.spawn(Box::pin(task).compat());
        Ok(())
    });
    // The accept loop is dropped when `select2` returns, pause or not.
    match core.run(server.select2(shutdown.clone())) {
        Ok(Either::A(_)) => return Err("accept loop ended".to_string()),
        Err(Either::A((e, _))) => return Err(format!("accept loop failed: {e}")),
        Ok(Either::B(_)) | Err(Either::B(_)) => {}
    }
    counts.borrow_mut().accept_pauses = incoming.policy.pauses();
    // Accept no more; the channel ends once the last connection drops its sender.
    drop(incoming);
    drop(done_tx);
    // Each connection's request stream ends at its next poll; wait for the last one.
    core.run(done_rx.for_each(|()| Ok(())))
        .map_err(|()| "waiting for connections failed".to_string())?;
    emit(&counts.borrow().summary());
    Ok(())
}
