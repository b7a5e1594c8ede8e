//! RFC 1413 ident server on tokio 1: tokio-util's `Framed` and a tower `Service`.
//!
//! The talk's last version, as it is layered today. A *codec* turns bytes into query
//! lines and replies into bytes (`tokio_util::codec`); a small *pipeline* loop over
//! the `Framed` connection reads a request, waits for the service to be ready, calls
//! it and writes the response, in request order; the *service* is just a function
//! from a request to a future of its response (`tower_service::Service::call`) and
//! knows nothing about sockets.
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
//! query (INVALID-PORT); a line longer than 1,000 bytes ends the connection (the
//! codec fails as soon as that many bytes come without a newline). A connection with
//! no query for `--idle-timeout-secs` is closed: the timer runs from the moment the
//! server waits for a line until the line is complete, so that it bounds the time a
//! query line may take. SIGINT or SIGTERM stops accepting and ends every connection's
//! request stream once the reply in progress is written; then the server prints
//! `summary accepted=A closed=C queries=Q accept_pauses=P` and exits 0.
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
//! * tokio-service's `Service` (`call(&self, req)`) becomes `tower_service::Service`,
//!   its successor: `call(&mut self, req)` plus `poll_ready`, through which a service
//!   can push back before it is handed a request. tokio-service was archived in
//!   favour of tower; tower-service is the trait hyper and tonic build on.
//! * tokio-proto is gone (archived in 2018, with no successor crate): its pipeline
//!   server, which read requests, called the service and wrote responses in order,
//!   is the loop in `pipeline` here. What the protocol layer hid (the idle timer,
//!   the shutdown signal, the `closed` report) no longer needs a wrapping transport
//!   with a `Drop` report: it is local to the loop.
//! * tokio-io's `Decoder`/`Encoder` (deprecated into tokio-codec) become
//!   tokio-util's: `Encoder` is generic over the item type, `bytes` 0.4 → 1.
//! * `BindServer::bind_server(&handle, io, service)`, which spawned a task on the
//!   handle, becomes `JoinSet::spawn(pipeline(Framed::new(io, codec), service, …))`.
//! * `Shared` signal future → `watch` channel; `Rc<RefCell<IdentCounts>>` + a mpsc
//!   channel whose end means "all done" → each task returns its counts to the
//!   `JoinSet`.
//! * "Wait, then retry" after a failed accept: tokio-core's `Timeout`, polled by a
//!   hand-written `Incoming` stream, becomes `sleep_until` as one more branch of the
//!   accept loop's `select!` (the accept branch is disabled meanwhile). The slot count
//!   with the accept task's `Task` handle becomes a `Semaphore` and its permits; the
//!   permit is held by the pipeline, as the `Report` held the slot.

use std::borrow::Cow;
use std::future::{poll_fn, Ready};
use std::io;
use std::net::SocketAddr;
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
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, Framed};
use tower_service::Service;

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

/// Query lines in (without their line end), reply lines out.
struct IdentCodec;

impl Decoder for IdentCodec {
    type Item = Vec<u8>;
    type Error = io::Error;

    fn decode(&mut self, buf: &mut BytesMut) -> io::Result<Option<Vec<u8>>> {
        match ident::next_line(buf) {
            Line::Complete { line, consumed } => {
                let line = line.to_vec();
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
async fn pipeline<S>(
    mut framed: Framed<TcpStream, IdentCodec>,
    mut service: S,
    peer: SocketAddr,
    // Held until the connection is over: then its slot is free.
    _slot: OwnedSemaphorePermit,
    idle_timeout: Duration,
    mut stop: watch::Receiver<bool>,
) -> Served
where
    S: Service<Vec<u8>, Response = String, Error = io::Error>,
{
    let (mut sent, mut queries) = (0u64, 0u64);
    let why = loop {
        let request = tokio::select! {
            next = tokio::time::timeout(idle_timeout, framed.next()) => match next {
                Err(_) => break Cow::Borrowed(reason::IDLE),
                // End-of-file; a partial line left in the buffer gets no answer.
                Ok(None) => break Cow::Borrowed(reason::EOF),
                Ok(Some(Ok(request))) => request,
                Ok(Some(Err(e))) if e.kind() == io::ErrorKind::InvalidData => {
                    break Cow::Borrowed(reason::TOO_LONG)
                }
                Ok(Some(Err(e))) => break Cow::Owned(format!("error: {e}")),
            },
            // `Framed::next` is cancel-safe: bytes already read stay buffered.
            _ = stop.wait_for(|stopping| *stopping) => break Cow::Borrowed(reason::SHUTDOWN),
        };
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
                        let service = IdentService { peer, quiet };
                        connections.spawn(pipeline(
                            Framed::new(stream, IdentCodec),
                            service,
                            peer,
                            slot,
                            args.idle_timeout,
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
        // Each connection ends once its reply in progress is written; wait for the
        // last one.
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
