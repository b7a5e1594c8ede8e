//! RFC 1413 ident server on tokio 1: tokio-util's `Framed` and a tower `Service`.
//!
//! The talk's last version, as it is layered today. A *codec* turns bytes into query
//! lines and replies into bytes (`tokio_util::codec`); a small *pipeline* loop over
//! the `Framed` connection reads a request, waits for the service to be ready, calls
//! it and writes the response, in request order; the *service* is just a function
//! from a request to a future of its response (`tower_service::Service::call`) and
//! knows nothing about sockets.
//!
//! The file reads in the order the server works. [`IdentCodec`] frames the lines,
//! [`IdentService`] answers one, and [`pipeline`] serves a connection with them: the
//! idle timer, the shutdown signal and how the connection went ([`Served`]) are its
//! locals; [`Incoming`] are the listener's connections, each with one of
//! `--max-connections` slots; `serve` accepts connections until a signal comes, then
//! waits for the open ones to end and prints the summary.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p modern-ident-service -- --bind 127.0.0.1:1113
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
//!   stream of connections that pauses: a tokio `Sleep` awaited in its `next`.
//! * At most `--max-connections` (default 1024) connections at once: the next peers
//!   wait in the listen backlog until one closes.
//!
//! # On several threads
//!
//! With `--threads N` the runtime is tokio's multi-thread runtime, with N worker
//! threads that run the tasks and steal them from each other; each connection's
//! pipeline is a task, and any free worker runs it. The service still computes each
//! reply in `call`, inside the pipeline's task, holding its worker while the lookup
//! runs: on one thread that holds up every other client, on N workers only the
//! clients whose tasks wait for that worker (the suite's `other-client-during-lookup`,
//! with `--threads 2`). The accept loop runs in `block_on`, on the thread that started
//! the program (`serve_on_threads`).
//!
//! ```text
//! cargo run -p modern-ident-service -- --bind 127.0.0.1:1113 --threads 2
//! ```
//!
//! # Migration
//!
//! The ladder `bridge/ident-service-step1` … `step3` takes these changes one at a
//! time.
//!
//! * tokio-proto is gone (archived in 2018, with no successor crate): its pipeline
//!   server, which read requests, called the service and wrote responses in order,
//!   is `pipeline` here, an async fn. What the protocol layer hid (the idle timer,
//!   the shutdown signal, the `closed` report) no longer needs a wrapping `Transport`
//!   with a `Drop` report: it is local to the loop, and the loop's result, `Served`,
//!   is the report. The bound on replies owed (`MAX_OWED`) goes too: the loop reads
//!   the next request only once the reply before it is written, so a peer that reads
//!   no reply meets backpressure.
//! * tokio-service's `Service` (`call(&self, req)`) becomes `tower_service::Service`,
//!   its successor: `call(&mut self, req)` plus `poll_ready`, through which a service
//!   can push back before it is handed a request. tokio-service was archived in
//!   favour of tower; tower-service is the trait hyper and tonic build on.
//! * tokio-io's `Decoder`/`Encoder` (deprecated into tokio-codec) become
//!   tokio-util's: `Encoder` is generic over the item type, `bytes` 0.4 → 1; the
//!   bodies do not change.
//! * `BindServer::bind_server(&handle, io, service)`, which spawned a task on the
//!   handle, becomes `JoinSet::spawn(pipeline(Framed::new(io, codec), service, …))`.
//! * The accept loop is ident-tokio's: `impl Stream for Incoming` becomes
//!   `impl Incoming { async fn next(&mut self) }` (a `Sleep` for the pause, a
//!   `Semaphore` for the slots), and `incoming.for_each` a `loop` around
//!   `incoming.next()` in a `select!` with the signals.
//! * `Shared` signal future → `watch` channel; `Rc<RefCell<IdentCounts>>` + a mpsc
//!   channel whose end means "all done" → each task returns its `Served` to the
//!   `JoinSet`.
//! * New: `--threads N` (the legacy program has one `Core`, one thread): only the
//!   runtime changes (`serve_on_threads`); without the `Rc<RefCell<IdentCounts>>`
//!   the tasks are `Send` already, as `JoinSet::spawn` asks even on one thread.

use std::borrow::Cow;
use std::future::{poll_fn, Ready};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, Line};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower_service::Service;

/// Becomes `true` once SIGINT or SIGTERM arrives. A `watch` channel, so that every
/// connection can hold a receiver and be woken by the same signal.
type Shutdown = watch::Receiver<bool>;

/// Query lines in (without their line end), reply lines out.
struct IdentCodec;

impl Decoder for IdentCodec {
    type Item = Vec<u8>;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Vec<u8>>> {
        match ident::next_line(buf) {
            Line::Complete { line, consumed } => {
                let line = line.to_vec();
                // bytes 1 marks `split_to` `#[must_use]`; the line is copied out above.
                let _ = buf.split_to(consumed);
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

// tokio-util's `Encoder` is generic over the item it encodes (tokio-io's had an
// associated `Item`), so that one codec can encode several types.
impl Encoder<String> for IdentCodec {
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

impl Service<Vec<u8>> for IdentService {
    type Response = String;
    type Error = io::Error;
    type Future = Ready<io::Result<String>>;

    /// Always ready: answering needs no resource that could run out.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, line: Vec<u8>) -> Self::Future {
        let reply = ident::answer(&line, self.peer.ip());
        if !self.quiet {
            emit(&ident::reply_event(self.peer, &reply));
        }
        std::future::ready(Ok(reply.to_wire()))
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

/// The pipeline server of one connection: read a request, call the service, write
/// its response; in order, until the request stream ends.
// port of: Transport::poll
async fn pipeline<S>(
    mut framed: Framed<TcpStream, IdentCodec>,
    mut service: S,
    peer: SocketAddr,
    slot: Slot,
    idle_timeout: Duration,
    mut shutdown: Shutdown,
) -> Served
where
    S: Service<Vec<u8>, Response = String, Error = io::Error>,
{
    // The idle timer, reset when a request is complete.
    let mut idle = Box::pin(tokio::time::sleep(idle_timeout));
    let (mut sent, mut queries) = (0u64, 0u64);
    let why = loop {
        let request = tokio::select! {
            // The signal first: a connection that is told to stop answers no more.
            biased;
            _ = shutdown.wait_for(|stopping| *stopping) => break Cow::Borrowed(reason::SHUTDOWN),
            // `Framed::next` is cancel-safe: bytes already read stay buffered.
            next = framed.next() => match next {
                // End-of-file; a partial line left in the buffer gets no answer.
                None => break Cow::Borrowed(reason::EOF),
                Some(Ok(request)) => request,
                Some(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                    break Cow::Borrowed(reason::TOO_LONG)
                }
                Some(Err(e)) => break Cow::Owned(format!("error: {e}")),
            },
            () = &mut idle => break Cow::Borrowed(reason::IDLE),
        };
        idle.as_mut().reset(Instant::now() + idle_timeout);
        if let Err(e) = poll_fn(|cx| service.poll_ready(cx)).await {
            break Cow::Owned(format!("error: {e}"));
        }
        let response = match service.call(request).await {
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
/// them from each other; a connection's pipeline is a task, already `Send`
/// (`JoinSet::spawn` asks it even on one thread), and any worker may run it. The
/// accept loop runs in `block_on`, on this thread.
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
        let service = IdentService { peer, quiet };
        // The pipeline task, as `bind_server` spawned it: read, call, write, in order.
        connections.spawn(pipeline(
            Framed::new(stream, IdentCodec),
            service,
            peer,
            slot,
            args.idle_timeout,
            shutdown.clone(),
        ));
    }
    counts.accept_pauses = incoming.policy.pauses();
    // Accept no more; tell every connection to stop.
    drop(incoming);
    let _ = stop.send(true);
    // Each connection's request stream ends once its reply in progress is written;
    // wait for the last one.
    while let Some(done) = connections.join_next().await {
        let served = done.map_err(|e| format!("connection task failed: {e}"))?;
        record(&mut counts, served);
    }
    emit(&counts.summary());
    Ok(())
}
