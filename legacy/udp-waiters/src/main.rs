//! Several tasks receiving on one UDP socket, on tokio-core 0.1: one waiting task per
//! direction, and every other task sleeps.
//!
//! `--tasks N` (default 4) `Waiter` futures are spawned with `Handle::spawn`, each a
//! task of its own, and all of them read the same socket (`Rc<UdpSocket>`:
//! tokio-core's I/O takes `&self`). A datagram keeps the task that read it busy for
//! `--work-ms` (default 1000; a timer stands for a lookup or a call to another
//! service), and a busy task does not read. Four tasks and four datagrams sent at
//! once: four tasks should each take one, at once.
//!
//! They do not, and each task prints `task #i woken` every time it is polled, which
//! shows why. tokio-core 0.1.18 registers a socket with the reactor of tokio-reactor
//! 0.1, whose per-socket record (`ScheduledIo`) has exactly two task slots, one for
//! read readiness and one for write readiness (`AtomicTask`s). A `recv_from` that
//! returns `WouldBlock` stores the current task in the read slot, *replacing* the
//! task stored there; when the socket becomes readable, the reactor takes the task
//! out of the slot and notifies it, and no other. `Registration`'s documentation says
//! it plainly: at most one task may wait for read readiness and one for write
//! readiness, or the result is "lost notifications and tasks hanging". So:
//!
//! * at start-up each task is polled once, finds nothing, and takes the read slot
//!   from the task before it. Only the last one (`task #N-1`) stays registered; the
//!   others are never woken again, however many datagrams wait;
//! * the registered task reads the first datagram and goes to work. The reactor took
//!   it out of the slot when it notified it, and nobody else is in it: the next
//!   datagrams wake no one. They wait in the socket's buffer until the one working
//!   task comes back, and are served one per `--work-ms`, all by the same task, while
//!   the other tasks sleep. A datagram is served late, or only when the one task that
//!   happens to run looks at the socket again.
//!
//! (A reader task and a writer task on one socket were fine: one per direction. The
//! failure is a second task waiting in the *same* direction; several tasks sending on
//! one socket under backpressure take the write slot from one another the same way.)
//! Compare `modern-udp-waiters`, where every task waits in the socket's list of
//! waiters.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p legacy-udp-waiters
//! for i in 1 2 3 4; do echo $i | nc -u -w0 127.0.0.1 2000; done
//! ```
//!
//! Each datagram read prints `task #i recv N bytes from PEER`; nothing is sent back.
//! `--work-ms 0` makes each task read on at once (then the one registered task reads
//! everything). SIGINT or SIGTERM prints `summary recv=R woken=W` (datagrams read;
//! polls of all tasks, the first included) and exits 0. `--quiet` leaves out the
//! `woken` and `recv` lines.

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use futures::{Async, Future, Poll, Stream};
use shared::cli::{bind_error, exit_startup_error, Args, Spec};
use shared::echo::RECV_BUFFER;
use shared::event::{emit, Event, Proto};
use shared::readiness::waiters_summary;
use tokio_core::net::UdpSocket;
use tokio_core::reactor::{Core, Handle, Timeout};
use tokio_signal::unix::{Signal, SIGINT, SIGTERM};

/// Datagrams read per poll before a task yields, so that with `--work-ms 0` a flood
/// cannot keep the other tasks (and the shutdown signal) waiting forever.
const BUDGET: usize = 256;

type Shutdown = Box<dyn Stream<Item = i32, Error = io::Error>>;

/// One of the tasks receiving on the shared socket. It never completes: it ends only
/// with an error of its socket.
struct Waiter {
    task: usize,
    socket: Rc<UdpSocket>,
    buf: Vec<u8>,
    work: Duration,
    /// The work on the last datagram read: while it runs, this task does not read.
    busy: Option<Timeout>,
    handle: Handle,
    quiet: bool,
    received: Rc<Cell<u64>>,
    woken: Rc<Cell<u64>>,
}

impl Waiter {
    fn received(&mut self, len: usize, from: SocketAddr) -> io::Result<()> {
        self.received.set(self.received.get() + 1);
        if !self.quiet {
            emit(&Event::TaskRecv {
                task: self.task,
                len,
                from,
            });
        }
        if !self.work.is_zero() {
            self.busy = Some(Timeout::new(self.work, &self.handle)?);
        }
        Ok(())
    }

    fn failed(&self, e: io::Error) -> io::Error {
        io::Error::new(e.kind(), format!("task #{}: recv_from: {e}", self.task))
    }
}

impl Future for Waiter {
    type Item = ();
    type Error = io::Error;

    fn poll(&mut self) -> Poll<(), io::Error> {
        // The lesson: one line per poll of this task, that is, per wake-up.
        self.woken.set(self.woken.get() + 1);
        if !self.quiet {
            emit(&Event::TaskWoken { task: self.task });
        }
        for _ in 0..BUDGET {
            if let Some(busy) = self.busy.as_mut() {
                // The timer registered this task with the timer wheel if not yet due.
                if busy.poll()?.is_not_ready() {
                    return Ok(Async::NotReady);
                }
                self.busy = None;
            }
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, from)) => self.received(len, from)?,
                // tokio-core stored this task in the socket's one read slot before
                // returning, and so took the slot from whichever task held it: that
                // task will not be woken by this socket again.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Async::NotReady),
                Err(ref e) if e.kind() == io::ErrorKind::Interrupted => {}
                // An unconnected UDP socket gets no ICMP reports: an error here is the
                // socket's own, not one peer's.
                Err(e) => return Err(self.failed(e)),
            }
        }
        // Budget spent with datagrams left: ask to be polled again after the event
        // loop has had its turn.
        futures::task::current().notify();
        Ok(Async::NotReady)
    }
}

const NAME: &str = env!("CARGO_BIN_NAME");

fn main() {
    let spec = Spec::udp_waiters(NAME);
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &Args) -> Result<(), String> {
    let mut core = Core::new().map_err(|e| format!("cannot create event loop: {e}"))?;
    let handle = core.handle();
    let socket = UdpSocket::bind(&args.bind, &handle).map_err(|e| bind_error(args.bind, &e))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    // Catch SIGINT and SIGTERM before announcing the socket, so that a signal sent
    // as soon as `listening` is read already finds its handler.
    let sigint = Signal::new(SIGINT, &handle).flatten_stream();
    let sigterm = Signal::new(SIGTERM, &handle).flatten_stream();
    let shutdown: Shutdown = Box::new(sigint.select(sigterm));
    emit(&Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    let socket = Rc::new(socket);
    let received = Rc::new(Cell::new(0));
    let woken = Rc::new(Cell::new(0));
    for task in 0..args.tasks {
        let waiter = Waiter {
            task,
            socket: socket.clone(),
            buf: vec![0; RECV_BUFFER],
            work: args.work,
            busy: None,
            handle: handle.clone(),
            quiet: args.quiet,
            received: received.clone(),
            woken: woken.clone(),
        };
        // One task per waiter, all on the same socket. `Handle::spawn` wants
        // `Error = ()`: a failure is reported here, by the task itself, or it would
        // be lost.
        handle.spawn(waiter.map_err(|e| eprintln!("{NAME}: {e}; no longer receiving")));
    }
    // The main future only waits for a signal; the spawned tasks run beside it.
    core.run(shutdown.into_future().map(|_| ()))
        .map_err(|(e, _)| e.to_string())?;
    emit(&waiters_summary(received.get(), woken.get()));
    Ok(())
}
