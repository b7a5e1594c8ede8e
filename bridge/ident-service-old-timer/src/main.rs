//! RFC 1413 ident server, migration step 3 done in the wrong order: tokio 1 runs the
//! pipelines, but the idle timer is still tokio-core's `Timeout`, made with the
//! `Handle` of a `Core` that nobody runs — and no idle connection is ever closed.
//! **Deliberately wrong**; the suite shows how it fails.
//!
//! This is `bridge/ident-service-step3` with one change: the idle timer is the
//! `Timeout` of steps 1 and 2, awaited through the compat layer, and a `Core` is
//! created (and kept) only to make it. Every query is answered, shutdown works, and
//! nothing is reported anywhere; but tokio-core 0.1.18 keeps its timers on a timer
//! wheel that only `Core::run` (or `Core::turn`) turns, so a `Timeout` on a `Core`
//! that tokio 1 has replaced never fires. A silent client holds its connection, and
//! its file descriptor, until the server stops.
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
use std::cell::{Cell, RefCell};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures::compat::{Compat01As03, Future01CompatExt, Stream01CompatExt};
use futures::{SinkExt, StreamExt};
use futures01::future::{self, FutureResult};
use futures01::sync::mpsc;
use futures01::task::{self, Task};
use futures01::Async;
use shared::accept::{AcceptPolicy, Next};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::event::{emit, Event, Proto};
use shared::ident::{self, reason, IdentCounts, Line};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Builder;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tokio::task::LocalSet;
use tokio::time::Sleep;
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_service::Service;
use tokio_util::bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder, Framed};

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

/// The pipeline server of one connection: read a request, call the service, write
/// its response; in order, until the request stream ends.
// port of: Transport::poll
async fn pipeline<S>(
    mut framed: Framed<TcpStream, IdentCodec>,
    service: S,
    peer: SocketAddr,
    slot: Slot,
    idle_timeout: Duration,
    handle: Handle,
    mut shutdown: Shutdown,
) -> Served
where
    S: Service<Request = Vec<u8>, Response = String, Error = io::Error>,
{
    // tokio-core's timer, one per connection reset when a request is complete, awaited
    // through the compat layer — as in steps 1 and 2. It is registered with the
    // `Core`'s timer wheel, which nothing turns now.
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
/// and carries on spins: the listener stays readable.
struct Incoming {
    listener: TcpListener,
    slots: Rc<Slots>,
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
            // A futures 0.1 poll, awaited through the compat layer: `Slots::take`
            // registers the current 0.1 task, which `Compat01As03` made from this
            // async fn's waker.
            let slots = &self.slots;
            let slot = futures01::future::poll_fn(|| {
                Ok::<_, io::Error>(match Slots::take(slots) {
                    Some(slot) => Async::Ready(slot),
                    None => Async::NotReady,
                })
            });
            let slot = slot.compat().await?;
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
    let spec = Spec::ident(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    // One thread, as tokio-core's `Core` ran everything on one.
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
// port of: run
async fn serve(args: &Args, handle: Handle) -> Result<(), String> {
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
    };
    // Accept until a signal arrives: each connection is a task of its own, which
    // counts itself when it is done.
    loop {
        let (stream, peer, slot) = tokio::select! {
            biased;
            _ = sigint.recv() => break,
            _ = sigterm.recv() => break,
            accepted = incoming.next() => accepted.map_err(|e| format!("accept loop failed: {e}"))?,
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
            shutdown.clone(),
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
    counts.borrow_mut().accept_pauses = incoming.policy.pauses();
    // Accept no more; the channel ends once the last connection drops its sender.
    drop(incoming);
    drop(done_tx);
    // Tell every connection to stop; each connection's request stream ends once its
    // reply in progress is written. Wait for the last one.
    let _ = stop.send(true);
    let mut done = done_rx.compat();
    while done.next().await.is_some() {}
    emit(&counts.borrow().summary());
    Ok(())
}
