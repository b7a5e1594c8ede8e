//! RFC 1413 ident server, migration step 2 done in the wrong order: tokio 1 runs the
//! pipelines, but the idle timer is still tokio-core's `Timeout`, made with the
//! `Handle` of a `Core` that nobody runs — and no idle connection is ever closed.
//! **Deliberately wrong**; the suite shows how it fails.
//!
//! This is `bridge/ident-service-step2` with one change: the idle timer is the
//! `Timeout` of step 1, awaited through the compat layer, and a `Core` is created (and
//! kept) only to make it. Every query is answered, shutdown works, and nothing is
//! reported anywhere; but tokio-core 0.1.18 keeps its timers on a timer wheel that
//! only `Core::run` (or `Core::turn`) turns, so a `Timeout` on a `Core` that tokio 1
//! has replaced never fires. A silent client holds its connection, and its file
//! descriptor, until the server stops.
//!
//! Try it from two terminals (port 113 needs privilege, hence 1113):
//!
//! ```text
//! cargo run -p bridge-ident-service-old-timer -- --bind 127.0.0.1:1113 --idle-timeout-secs 2
//! nc 127.0.0.1 1113        # and wait: the connection is never closed
//! ```
//!
//! # Why this is a pitfall
//!
//! A timer belongs to a runtime: it must move exactly with it. tokio-core's sockets
//! can lag behind the executor for a while (tokio-core 0.1.18 runs its reactor on a
//! thread of its own: `echo-mpsc`'s step 2 does that), which makes it tempting to
//! believe that all of tokio-core can; its timers, its `Handle::spawn` and
//! tokio-signal cannot. Dropping the `Core` instead of keeping it changes the failure
//! from silence to an error at the first poll, "timer is shutdown" (tokio-timer's
//! message for a timer that no longer exists): every connection would end at once.
//! The suite's `idle-timeout` check fails here (documented in its `Cargo.toml`).

// The workspace pins the compat layer under a key of its own (`futures-compat`), since
// `futures` names the modern crate there; in this crate it is `futures`, as in the
// code this one becomes. futures 0.1 is `futures01`.
extern crate futures_compat as futures;

use std::borrow::Cow;
use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures::channel::oneshot;
use futures::compat::{Compat01As03, Future01CompatExt, Stream01CompatExt};
use futures::future::Shared;
use futures::{FutureExt, SinkExt, StreamExt};
use futures01::future::{self as future01, FutureResult};
use futures01::sync::mpsc;
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, Line};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::LocalSet;
use tokio::time::Instant;
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_service::Service;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, Framed};

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

/// Resolves once the server is asked to stop. `Shared`, so that every connection can
/// hold a clone and be woken by the same event.
type Stop = Shared<oneshot::Receiver<()>>;

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
        future01::ok(reply.to_wire())
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

/// The pipeline server of one connection, as tokio-proto's was: read a request, call
/// the service, write its response; in order, until the request stream ends.
async fn pipeline<S>(
    mut framed: Framed<TcpStream, IdentCodec>,
    service: S,
    peer: SocketAddr,
    // Held until the connection is over: then its slot is free.
    _slot: OwnedSemaphorePermit,
    idle_timeout: Duration,
    handle: Handle,
    stop: Stop,
) -> Served
where
    S: Service<Request = Vec<u8>, Response = String, Error = io::Error>,
{
    let (mut sent, mut queries) = (0u64, 0u64);
    // tokio-core's timer, one per connection reset when a request is complete, awaited
    // through the compat layer — as in step 1. It is registered with the `Core`'s
    // timer wheel, which nothing turns now.
    let mut idle: Compat01As03<Timeout> = match Timeout::new(idle_timeout, &handle) {
        Ok(idle) => idle.compat(),
        Err(e) => {
            return Served {
                peer,
                sent,
                queries,
                why: Cow::Owned(format!("error: {e}")),
            }
        }
    };
    let why = loop {
        let request = tokio::select! {
            // The signal first, as the old transport polled it first.
            biased;
            _ = stop.clone() => break Cow::Borrowed(reason::SHUTDOWN),
            next = framed.next() => match next {
                // End-of-file; a partial line left in the buffer gets no answer.
                None => break Cow::Borrowed(reason::EOF),
                Some(Ok(request)) => request,
                Some(Err(e)) if e.kind() == io::ErrorKind::InvalidData => {
                    break Cow::Borrowed(reason::TOO_LONG)
                }
                Some(Err(e)) => break Cow::Owned(format!("error: {e}")),
            },
            idle = &mut idle => match idle {
                Ok(()) => break Cow::Borrowed(reason::IDLE),
                Err(e) => break Cow::Owned(format!("error: {e}")),
            },
        };
        idle.get_mut()
            .reset(std::time::Instant::now() + idle_timeout);
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
    Served {
        peer,
        sent,
        queries,
        why,
    }
}

/// Takes a connection slot, then the next connection: with every slot taken, the
/// peers wait in the listen backlog until a connection ends and its permit is dropped.
/// (The step before counted slots itself and kept the accept task's 0.1 `Task`; a
/// `Semaphore` is that, with an async `acquire`.)
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
    // Made only for the `Handle` the idle timers are made with, and kept; never run.
    let core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    // The pipelines hold `Rc`s: they are spawned on this `LocalSet`, whose tasks stay
    // on the thread that runs it.
    let result = LocalSet::new().block_on(&runtime, serve(args, core.handle()));
    drop(core);
    result
}

/// Everything that ran on the event loop, now on the runtime.
async fn serve(args: &Args, handle: Handle) -> Result<(), String> {
    let listener = TcpListener::bind(args.bind)
        .await
        .map_err(|e| bind_error(args.bind, &e))?;
    let local = listener.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let mut shutdown = Shutdown::new().map_err(|e| format!("cannot watch signals: {e}"))?;
    let (stop_tx, stop) = oneshot::channel();
    let stop = stop.shared();
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
    // One permit per connection: `--max-connections` at once.
    let slots = Arc::new(Semaphore::new(args.max_connections));
    let mut policy = AcceptPolicy::new();
    // Set after an accept failed for lack of resources: accept nothing until then.
    let mut paused: Option<Instant> = None;
    // Accept until a signal arrives.
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.recv() => break,
            accepted = accept(&listener, &slots), if paused.is_none() => accepted,
            // The pause is one more branch: a signal still stops the server meanwhile,
            // and the connections (tasks of their own) are served.
            () = tokio::time::sleep_until(paused.unwrap_or_else(Instant::now)), if paused.is_some() => {
                paused = None;
                continue;
            }
        };
        let (stream, peer, slot) = match accepted {
            Ok(accepted) => {
                policy.accepted();
                accepted
            }
            // Out of descriptors, say: wait, then retry; a failed connection: the next
            // one, at once. `shared::accept` decides and reports.
            Err(e) => {
                if let Next::Pause(pause) = policy.failed(&e) {
                    counts.borrow_mut().accept_pauses = policy.pauses();
                    paused = Some(Instant::now() + pause);
                }
                continue;
            }
        };
        counts.borrow_mut().accepted += 1;
        if !quiet {
            emit(&ident::accepted_event(peer));
        }
        let service = IdentService { peer, quiet };
        let connection = pipeline(
            Framed::new(stream, IdentCodec),
            service,
            peer,
            slot,
            args.idle_timeout,
            handle.clone(),
            stop.clone(),
        );
        let (counts, done) = (counts.clone(), done_tx.clone());
        // The pipeline task, on this thread's `LocalSet`.
        tokio::task::spawn_local(async move {
            // Awaited before `counts` is borrowed: a `RefCell` borrow held across an
            // `.await` stays held while other tasks run.
            let served = connection.await;
            record(&mut counts.borrow_mut(), served);
            drop(done);
        });
    }
    drop(listener);
    drop(done_tx);
    // Each connection's request stream ends once its reply in progress is written;
    // wait for the last one.
    let _ = stop_tx.send(());
    let mut done = done_rx.compat();
    while done.next().await.is_some() {}
    emit(&counts.borrow().summary());
    Ok(())
}
