//! RFC 1413 ident server on tokio-proto 0.1 (a pipeline protocol) and tokio-service
//! 0.1 (a `Service`).
//!
//! The talk's last version: the tokio stack in three layers. A *codec* turns bytes
//! into query lines and replies into bytes; tokio-proto's *pipeline* server protocol
//! drives that transport, reading requests, calling the service and writing the
//! responses in request order; the *service* is just a function from a request to a
//! future of its response (`tokio_service::Service::call`) and knows nothing about
//! sockets. Here the accept loop is our own (tokio-proto's `TcpServer` binds its own
//! listener and cannot say which port it got), and each accepted connection is handed
//! to the protocol with `BindServer::bind_server`, which spawns its task.
//!
//! The file reads in the order the server works. [`IdentCodec`] frames the lines,
//! [`IdentService`] answers one, and the [`Transport`] that [`IdentProto`] makes for
//! a connection adds what the protocol layer does not know about: the idle timer,
//! the shutdown signal, and the `closed` report ([`Report`]); [`Incoming`] are the
//! listener's connections, each with one of `--max-connections` slots; `run` accepts
//! connections until a signal comes, then waits for the open ones to end and prints
//! the summary.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p legacy-ident-service -- --bind 127.0.0.1:1113
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
//! SIGINT or SIGTERM stops accepting and ends every connection's request stream, so
//! that the pipeline writes the replies it owes and closes; then the server prints
//! `summary accepted=A closed=C queries=Q accept_pauses=P` and exits 0.
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

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use futures::future::{self, Either, FutureResult, Shared};
use futures::sync::mpsc;
use futures::task::{self, Task};
use futures::{Async, AsyncSink, Future, Poll, Sink, StartSend, Stream};
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
use tokio_proto::pipeline::ServerProto;
use tokio_proto::BindServer;
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
    counts: Rc<RefCell<IdentCounts>>,
}

impl Service for IdentService {
    type Request = Vec<u8>;
    type Response = String;
    type Error = io::Error;
    type Future = FutureResult<String, io::Error>;

    fn call(&self, line: Vec<u8>) -> Self::Future {
        let reply = ident::answer(&line, self.peer.ip());
        self.counts.borrow_mut().queries += 1;
        if !self.quiet {
            emit(&ident::reply_event(self.peer, &reply));
        }
        future::ok(reply.to_wire())
    }
}

/// What a connection knows about itself, reported when its transport is dropped.
struct Report {
    peer: SocketAddr,
    sent: Cell<u64>,
    why: RefCell<Cow<'static, str>>,
    quiet: bool,
    counts: Rc<RefCell<IdentCounts>>,
    /// Dropped with the report: the connection's slot is free.
    _slot: Slot,
    /// Dropped with the report: the channel ends when the last connection has.
    _done: mpsc::UnboundedSender<()>,
}

impl Drop for Report {
    fn drop(&mut self) {
        self.counts.borrow_mut().closed += 1;
        if !self.quiet {
            let why = std::mem::replace(&mut *self.why.borrow_mut(), Cow::Borrowed(""));
            emit(&ident::closed_event(self.peer, self.sent.get(), why));
        }
    }
}

/// Replies a connection may owe (requests read, replies not yet handed to the codec)
/// before the transport reads no more requests. tokio-proto's pipeline reads requests
/// as long as the transport yields them and queues their responses without a bound:
/// a peer that sends queries and never reads its replies grew the server by about 70
/// bytes a query (285 MB for 20 MB of queries), and made each turn of the pipeline
/// walk the whole queue.
const MAX_OWED: usize = 32;

/// The framed connection, plus what the protocol layer does not know about: the idle
/// timer, the shutdown signal, the bound on replies owed, and the `closed` report when
/// the pipeline lets go.
#[allow(deprecated)]
struct Transport {
    framed: Framed<TcpStream, IdentCodec>,
    idle: Timeout,
    idle_timeout: Duration,
    shutdown: Shutdown,
    /// Requests yielded whose replies have not been handed to `framed` yet.
    owed: usize,
    /// Set when `poll` refused to read because `MAX_OWED` replies were owed: the next
    /// reply taken wakes the pipeline to read again.
    held_back: bool,
    report: Report,
}

impl Transport {
    /// Ends the request stream, for `why`: the pipeline then writes the replies it
    /// owes and drops the transport.
    fn end(&mut self, why: impl Into<Cow<'static, str>>) -> Poll<Option<Vec<u8>>, io::Error> {
        *self.report.why.borrow_mut() = why.into();
        Ok(Async::Ready(None))
    }
}

impl Stream for Transport {
    type Item = Vec<u8>;
    type Error = io::Error;

    fn poll(&mut self) -> Poll<Option<Vec<u8>>, io::Error> {
        // Polling the shared signal also registers this task to be woken by it.
        if let Ok(Async::Ready(_)) | Err(_) = self.shutdown.poll() {
            return self.end(reason::SHUTDOWN);
        }
        // Backpressure: with `MAX_OWED` replies owed, read nothing more from the peer
        // until it takes some (the kernel buffers fill, and its writes stall).
        if self.owed >= MAX_OWED {
            self.held_back = true;
            return Ok(Async::NotReady);
        }
        match self.framed.poll() {
            Ok(Async::Ready(Some(line))) => {
                self.idle.reset(Instant::now() + self.idle_timeout);
                self.owed += 1;
                Ok(Async::Ready(Some(line)))
            }
            Ok(Async::Ready(None)) => self.end(reason::EOF),
            Ok(Async::NotReady) => {
                if self.idle.poll()?.is_ready() {
                    return self.end(reason::IDLE);
                }
                Ok(Async::NotReady)
            }
            Err(ref e) if e.kind() == io::ErrorKind::InvalidData => self.end(reason::TOO_LONG),
            Err(e) => self.end(format!("error: {e}")),
        }
    }
}

impl Sink for Transport {
    type SinkItem = String;
    type SinkError = io::Error;

    fn start_send(&mut self, reply: String) -> StartSend<String, io::Error> {
        let len = reply.len() as u64;
        let started = self.framed.start_send(reply)?;
        if let AsyncSink::Ready = started {
            self.report.sent.set(self.report.sent.get() + len);
            self.owed = self.owed.saturating_sub(1);
            if std::mem::take(&mut self.held_back) {
                // `poll` returned `NotReady` without registering for the socket: ask
                // for another turn, in which the pipeline reads again.
                task::current().notify();
            }
        }
        Ok(started)
    }

    fn poll_complete(&mut self) -> Poll<(), io::Error> {
        self.framed.poll_complete()
    }
}

/// The pipeline protocol of one connection: how to make its transport.
struct IdentProto {
    handle: Handle,
    idle_timeout: Duration,
    shutdown: Shutdown,
    report: RefCell<Option<Report>>,
}

impl ServerProto<TcpStream> for IdentProto {
    type Request = Vec<u8>;
    type Response = String;
    type Transport = Transport;
    type BindTransport = io::Result<Transport>;

    #[allow(deprecated)]
    fn bind_transport(&self, io: TcpStream) -> io::Result<Transport> {
        let report = self
            .report
            .borrow_mut()
            .take()
            .ok_or_else(|| io::Error::other("transport bound twice"))?;
        Ok(Transport {
            framed: io.framed(IdentCodec),
            idle: Timeout::new(self.idle_timeout, &self.handle)?,
            idle_timeout: self.idle_timeout,
            shutdown: self.shutdown.clone(),
            owed: 0,
            held_back: false,
            report,
        })
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
    // Accept until a signal arrives: each connection is a task of its own, whose
    // `Report` counts it when the pipeline drops its transport.
    let server = incoming.by_ref().for_each(|(stream, peer, slot)| {
        counts.borrow_mut().accepted += 1;
        if !quiet {
            emit(&ident::accepted_event(peer));
        }
        let report = Report {
            peer,
            sent: Cell::new(0),
            why: RefCell::new(Cow::Borrowed(reason::EOF)),
            quiet,
            counts: counts.clone(),
            _slot: slot,
            _done: done_tx.clone(),
        };
        let proto = IdentProto {
            handle: handle.clone(),
            idle_timeout: args.idle_timeout,
            shutdown: shutdown.clone(),
            report: RefCell::new(Some(report)),
        };
        let service = IdentService {
            peer,
            quiet,
            counts: counts.clone(),
        };
        // Spawns the pipeline task: read, call, write, in order. If the transport
        // cannot be made, the report is dropped with the proto and the connection
        // still gets its `closed` line.
        proto.bind_server(&handle, stream, service);
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
