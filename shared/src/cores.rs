//! Serving on several threads with one event loop per thread: what `--threads N` means
//! for the servers whose event loop cannot be shared between threads — tokio-core's
//! `Core` (its `Handle` is not `Send`), a compio runtime, an io_uring ring.
//!
//! Each thread runs a whole server of its own: its event loop, its socket, its signal
//! handling. Nothing is shared but the port: the N sockets are bound with
//! `SO_REUSEPORT`, and the kernel spreads the clients over them, hashing each TCP
//! connection, or each UDP client's address and port, to one socket. A client
//! therefore always meets the same thread, and what it sends is echoed in order; a
//! thread whose clients are busy does not borrow an idle thread's (the kernel's hash
//! does not look at load). Two caveats of `SO_REUSEPORT` itself: a socket of another
//! process of the same user that sets it may join the group on the same port and take
//! a share of the clients; and a datagram that arrives while the group changes may go
//! to a socket that then closes.
//!
//! What is the same in every such program lives here, without a runtime of either
//! era: binding the sockets on one port ([`bind_each`], which sets `SO_REUSEPORT`
//! only when there are several, and chooses a port 0 that nobody holds), one thread
//! per socket, the `listening` line once every thread is ready to serve
//! ([`serve_on_threads`]), and each thread's counts handed back to be added up for
//! the one summary line. How a thread serves its socket is the program's lesson.

use std::io;
use std::net::SocketAddr;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread;

use crate::event::{emit, Event};

/// Binds `threads` sockets on `addr` with `bind(addr, reuse_port)`, which sets
/// `SO_REUSEPORT` before the bind when asked: only when there are several, so that a
/// second server started on the same port by mistake still fails ("address in use")
/// instead of taking part of the clients. `local` reads a socket's address.
///
/// Port 0 for several sockets is chosen first, by a socket bound without
/// `SO_REUSEPORT` and closed at once: the kernel gives such a socket only a port that
/// nobody holds, whereas it may give a UDP socket that sets the option a port that
/// another group of the same user holds, which it would join. The sockets then bind
/// that port (again, should another socket take it in between).
pub fn bind_each<S>(
    addr: SocketAddr,
    threads: usize,
    mut bind: impl FnMut(SocketAddr, bool) -> io::Result<S>,
    local: impl Fn(&S) -> io::Result<SocketAddr>,
) -> io::Result<Vec<S>> {
    if threads <= 1 {
        return Ok(vec![bind(addr, false)?]);
    }
    let mut attempts = 0;
    loop {
        let port = match addr.port() {
            0 => local(&bind(addr, false)?)?,
            _ => addr,
        };
        let sockets: io::Result<Vec<S>> = (0..threads).map(|_| bind(port, true)).collect();
        match sockets {
            Err(e) if addr.port() == 0 && e.kind() == io::ErrorKind::AddrInUse && attempts < 3 => {
                attempts += 1
            }
            sockets => return sockets,
        }
    }
}

/// What each thread's server is given, to announce its socket where a server of one
/// thread prints its `listening` line: once its socket is registered with its event
/// loop and SIGINT and SIGTERM are watched, so that a client may come and a signal
/// stops it. The line is printed once, when every thread has announced.
pub struct Ready {
    /// Where to announce it; `None` for a server of its own ([`Ready::alone`]).
    tx: Option<Sender<Event>>,
}

impl Ready {
    /// For a server that [`serve_on_threads`] does not run, the only one on its
    /// port: its `listening` line is printed at once.
    pub fn alone() -> Ready {
        Ready { tx: None }
    }

    /// This thread's `listening` event; printed once all threads are ready.
    pub fn listening(self, event: Event) {
        match self.tx {
            Some(tx) => {
                let _ = tx.send(event);
            }
            None => emit(&event),
        }
    }
}

/// Runs `serve(socket, ready)` for each of `sockets` on a thread of its own
/// (`event-loop-0`, …); prints the `listening` line once every thread has announced
/// its socket ([`Ready::listening`]: they share one address); returns what each
/// returned, in the order of the sockets, once all have returned (after a shutdown
/// signal, which every thread watches).
///
/// The first error, before or after the announcement, is returned at once: the caller
/// reports it and exits, which ends the other threads. A thread that fails before it
/// is ready is a start-up error, like a failed bind.
pub fn serve_on_threads<S, T, F>(sockets: Vec<S>, serve: F) -> Result<Vec<T>, String>
where
    S: Send + 'static,
    T: Send + 'static,
    F: Fn(S, Ready) -> Result<T, String> + Send + Sync + 'static,
{
    let count = sockets.len();
    let serve = Arc::new(serve);
    let (ready_tx, ready_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<(usize, Result<T, String>)>();
    let mut threads = Vec::with_capacity(count);
    for (index, socket) in sockets.into_iter().enumerate() {
        let (serve, done) = (serve.clone(), done_tx.clone());
        let ready = Ready {
            tx: Some(ready_tx.clone()),
        };
        let thread = thread::Builder::new()
            .name(format!("event-loop-{index}"))
            .spawn(move || {
                let _ = done.send((index, serve(socket, ready)));
            })
            .map_err(|e| format!("cannot start a thread: {e}"))?;
        threads.push(thread);
    }
    drop((ready_tx, done_tx));
    // A thread that ends says so on `done`; one that says nothing has panicked (its
    // message is on stderr already).
    let panicked = |threads: Vec<thread::JoinHandle<()>>| {
        let which = threads.into_iter().position(|t| t.join().is_err());
        format!("event loop thread {} panicked", which.unwrap_or(0))
    };
    // Each thread either says it is ready or drops its `Ready` when it ends: the
    // channel ends once every thread has done one or the other.
    let announced: Vec<Event> = ready_rx.iter().take(count).collect();
    if let (true, Some(listening)) = (announced.len() == count, announced.first()) {
        emit(listening);
    }
    // A thread that ended before it was ready did so with an error, which comes first.
    let mut results: Vec<Option<T>> = (0..count).map(|_| None).collect();
    for (index, result) in done_rx.iter() {
        results[index] = Some(result?);
    }
    let results: Option<Vec<T>> = results.into_iter().collect();
    results.ok_or_else(|| panicked(threads))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A UDP socket on `addr`, with `SO_REUSEPORT` if asked.
    fn udp(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, None)?;
        socket.set_reuse_port(reuse_port)?;
        socket.bind(&addr.into())?;
        Ok(socket.into())
    }

    #[test]
    fn several_sockets_share_a_port_nobody_else_holds() {
        let asked: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut seen = Vec::new();
        let sockets = bind_each(
            asked,
            3,
            |addr, reuse| {
                seen.push((addr.port() == 0, reuse));
                udp(addr, reuse)
            },
            UdpSocket::local_addr,
        )
        .unwrap();
        let port = sockets[0].local_addr().unwrap();
        assert!(sockets.iter().all(|s| s.local_addr().unwrap() == port));
        assert_eq!(
            seen,
            [(true, false), (false, true), (false, true), (false, true)],
            "a port chosen without SO_REUSEPORT, then three sockets sharing it"
        );
        // One socket: no SO_REUSEPORT, so that a second server on the port fails.
        let one = bind_each(asked, 1, udp, UdpSocket::local_addr).unwrap();
        let taken = one[0].local_addr().unwrap();
        assert!(bind_each(taken, 1, udp, UdpSocket::local_addr).is_err());
        assert!(bind_each(taken, 2, udp, UdpSocket::local_addr).is_err());
    }

    fn listening() -> Event {
        Event::Listening {
            proto: crate::event::Proto::Udp,
            addr: "127.0.0.1:2000".parse().unwrap(),
        }
    }

    #[test]
    fn every_thread_serves_once_all_are_ready_and_the_order_is_kept() {
        let readies = Arc::new(AtomicUsize::new(0));
        let r = readies.clone();
        let results = serve_on_threads(vec![10u64, 20, 30], move |n, ready| {
            r.fetch_add(1, Ordering::SeqCst);
            ready.listening(listening());
            Ok(n + 1)
        });
        assert_eq!(results, Ok(vec![11, 21, 31]));
        assert_eq!(readies.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn a_thread_that_fails_before_it_is_ready_is_a_start_up_error() {
        let results = serve_on_threads(vec![0, 1], |n: u32, ready| match n {
            0 => {
                ready.listening(listening());
                // Serves until a signal, as a real server would.
                thread::park();
                Ok(n)
            }
            _ => Err(format!("cannot create event loop {n}")),
        });
        assert_eq!(results, Err("cannot create event loop 1".to_string()));
    }

    #[test]
    fn an_error_after_the_announcement_is_returned_too() {
        let results = serve_on_threads(vec![0u32, 1], |n, ready| {
            ready.listening(listening());
            match n {
                0 => Ok(n),
                _ => Err("event loop failed".to_string()),
            }
        });
        assert_eq!(results, Err("event loop failed".to_string()));
    }
}
