//! TCP echo server on tokio-core 0.1: `incoming().for_each` and one future per connection.
//!
//! The shape of tokio-core's own echo example: the listener's `incoming()` stream is
//! driven by `for_each`, and every accepted connection becomes a future of its own,
//! `handle.spawn`ed onto the one event loop. Each connection future reads into its
//! buffer and writes it back, returning `NotReady` whenever the socket would block;
//! tokio-core registered the task for the direction that blocked, so the future never
//! names the readiness it waits for.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p legacy-tcp-echo
//! nc 127.0.0.1 8080
//! ```
//!
//! Every byte is written back, in order (RFC 862). A peer that closes its sending
//! side gets the rest of its echo and then end-of-file; a peer that resets concerns
//! only its own connection. Each connection prints `accepted from PEER` and
//! `closed PEER after N bytes: REASON` (N = bytes written back). SIGINT or SIGTERM
//! stops accepting, lets every connection write back what it has read (for up to one
//! second), prints `summary accepted=A closed=C bytes=B` and exits 0.

use std::borrow::Cow;
use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::rc::Rc;

use futures::future::{Either, Shared};
use futures::sync::mpsc;
use futures::{Async, Future, Poll, Stream};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::{self, tcp_reason, TcpCounts, TCP_BUFFER, TCP_SHUTDOWN_GRACE};
use shared::event::{emit, Event, Proto};
use tokio_core::net::{TcpListener, TcpStream};
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Read/write rounds per poll before a connection yields, so that one fast peer
/// cannot keep the event loop (and every other connection) waiting.
const BUDGET: usize = 64;

/// Resolves once SIGINT or SIGTERM arrives. `Shared`, so that the accept loop and
/// every connection can each hold a clone and be woken by the same signal.
type Shutdown = Shared<Box<dyn Future<Item = (), Error = ()>>>;

/// One connection: what was read and not yet written back is `buf[start..end]`.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    read_done: bool,
    echoed: u64,
    shutdown: Shutdown,
    /// Armed when the server is asked to stop: how long the peer has left to take
    /// its echo.
    grace: Option<Timeout>,
    handle: Handle,
}

impl Connection {
    fn new(stream: TcpStream, peer: SocketAddr, shutdown: Shutdown, handle: Handle) -> Self {
        Connection {
            stream,
            peer,
            buf: vec![0; TCP_BUFFER].into_boxed_slice(),
            start: 0,
            end: 0,
            read_done: false,
            echoed: 0,
            shutdown,
            grace: None,
            handle,
        }
    }

    /// Writes back what is pending; `true` once nothing is left.
    fn flush(&mut self) -> io::Result<bool> {
        while self.start < self.end {
            match self.stream.write(&self.buf[self.start..self.end]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.start += n;
                    self.echoed += n as u64;
                }
                // tokio-core registered this task for writability before returning.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        self.start = 0;
        self.end = 0;
        Ok(true)
    }

    /// Whether the server was asked to stop. Polling the shared signal also
    /// registers this task to be woken by it.
    fn stopping(&mut self) -> io::Result<bool> {
        if self.grace.is_none() {
            if let Ok(Async::NotReady) = self.shutdown.poll() {
                return Ok(false);
            }
            self.grace = Some(Timeout::new(TCP_SHUTDOWN_GRACE, &self.handle)?);
        }
        Ok(true)
    }

    /// Echoes until the socket would block; `Ready(reason)` when the connection ends.
    fn echo(&mut self) -> io::Result<Async<&'static str>> {
        for _ in 0..BUDGET {
            let flushed = self.flush()?;
            if self.stopping()? {
                // Read no more; end once what was read has been written back, or
                // when the grace period is over.
                if flushed {
                    return Ok(Async::Ready(tcp_reason::SHUTDOWN));
                }
                if let Some(grace) = self.grace.as_mut() {
                    if grace.poll()?.is_ready() {
                        return Ok(Async::Ready(tcp_reason::ABANDONED));
                    }
                }
                return Ok(Async::NotReady);
            }
            if !flushed {
                return Ok(Async::NotReady);
            }
            if self.read_done {
                // Everything read has been written back; dropping the stream closes
                // our side, and the peer reads end-of-file after its last byte.
                return Ok(Async::Ready(tcp_reason::EOF));
            }
            match self.stream.read(&mut self.buf) {
                Ok(0) => self.read_done = true,
                Ok(n) => self.end = n,
                // tokio-core registered this task for readability before returning.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Async::NotReady),
                Err(e) => return Err(e),
            }
        }
        // Budget spent with work left: ask to be polled again after the others.
        futures::task::current().notify();
        Ok(Async::NotReady)
    }
}

impl Future for Connection {
    /// The peer, the bytes written back to it, and why the connection ended.
    type Item = (SocketAddr, u64, Cow<'static, str>);
    /// A connection's I/O errors are its own: they end it with a reason, never the
    /// server.
    type Error = ();

    fn poll(&mut self) -> Poll<Self::Item, ()> {
        let reason = match self.echo() {
            Ok(Async::NotReady) => return Ok(Async::NotReady),
            Ok(Async::Ready(reason)) => Cow::Borrowed(reason),
            Err(e) => echo::tcp_error_reason(&e),
        };
        Ok(Async::Ready((self.peer, self.echoed, reason)))
    }
}

fn main() {
    let spec = Spec::tcp_echo(env!("CARGO_BIN_NAME"));
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

    let counts = Rc::new(RefCell::new(TcpCounts::default()));
    let quiet = args.quiet;
    let record = move |counts: &mut TcpCounts, (peer, bytes, reason)| {
        counts.closed += 1;
        counts.bytes += bytes;
        if !quiet {
            emit(&echo::closed_event(peer, bytes, reason));
        }
    };
    // Every connection holds a sender; the channel ends when the last one is done.
    let (done_tx, done_rx) = mpsc::unbounded::<()>();
    let server = {
        let (counts, handle, shutdown) = (counts.clone(), handle.clone(), shutdown.clone());
        listener
            .incoming()
            // An accept error (out of file descriptors, say) is reported and the
            // loop goes on: `then` turns it into an item so `for_each` does not stop.
            .then(Ok::<_, ()>)
            .for_each(move |accepted| {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        eprintln!("accept: {e}");
                        return Ok(());
                    }
                };
                counts.borrow_mut().accepted += 1;
                if !quiet {
                    emit(&echo::accepted_event(peer));
                }
                let connection = Connection::new(stream, peer, shutdown.clone(), handle.clone());
                let (counts, done) = (counts.clone(), done_tx.clone());
                handle.spawn(connection.map(move |closed| {
                    record(&mut counts.borrow_mut(), closed);
                    drop(done);
                }));
                Ok(())
            })
    };
    // Accept until a signal arrives; the accept loop (and with it the listener and
    // its sender) is dropped when `select2` returns.
    match core.run(server.select2(shutdown)) {
        Ok(Either::A(_)) | Err(Either::A(_)) => return Err("accept loop ended".to_string()),
        Ok(Either::B(_)) | Err(Either::B(_)) => {}
    }
    // Each connection now writes back what it has read and ends (within the grace
    // period); wait for the last one.
    core.run(done_rx.for_each(|()| Ok(())))
        .map_err(|()| "waiting for connections failed".to_string())?;
    emit(&counts.borrow().summary());
    Ok(())
}
