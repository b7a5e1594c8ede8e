//! UDP echo server on edge-triggered epoll, with batching: `recvmmsg` and GSO/GRO
//! through quinn-udp.
//!
//! Readiness costs at least one system call per datagram each way: `recvfrom`, then
//! `sendto`. Batching keeps readiness and cuts the calls. This server is
//! `echo-epoll-edge` (same epoll loop, same edges, same budget, same signalfd) with two
//! changes, both made through quinn-udp, the socket layer of the quinn QUIC stack,
//! rather than hand-built `msghdr`s and control messages:
//!
//! * **Receive**: `UdpSocketState::recv` is one `recvmmsg` that fills up to
//!   [`BATCH`] buffers, each described by a `RecvMeta` (sender, length, `stride`).
//!   With UDP GRO, which quinn-udp turns on, one buffer may hold several datagrams of
//!   one sender, `stride` bytes apart: a peer that sends with GSO is read 64 datagrams
//!   at a time.
//! * **Send**: consecutive pending echoes to the same peer and of the same size go out
//!   as one `Transmit` with a `segment_size`, from the queue where they lie end to end:
//!   one `sendmsg` with UDP GSO, which the kernel hands whole to a peer that reads with
//!   GRO and cuts back into datagrams for one that does not (on loopback, in this
//!   server's own system call). An echo that cannot join a batch is sent alone.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p next-echo-batch
//! nc -u 127.0.0.1 2000
//! ```
//!
//! Every datagram is echoed byte for byte (up to 65,507 bytes), except one whose
//! source port could start an echo loop (below 1024, or the server's own): that one
//! is read and refused (`refused … could loop`; `--allow-any-source-port` turns the
//! rule off for experiments). At most `--queue`
//! echoes wait to be sent, and a datagram that arrives when the queue is full is read
//! and dropped (`dropped … queue full`). SIGINT or SIGTERM stops reading, sends what
//! is queued, prints `summary recv=R sent=S dropped=D refused=F` and exits 0.
//! `cargo xtask diff echo-batch` shows it against `echo-epoll-edge`.
//!
//! # What one batch may hold
//!
//! * One `recvmmsg` fills at most [`BATCH`] (quinn-udp's `BATCH_SIZE`, 32) buffers of
//!   64 KiB; with GRO a buffer holds at most 64 datagrams of one sender (the kernel's
//!   `UDP_GRO_CNT_MAX`) and 64 KiB. One call thus reads at most 2,048 datagrams, 2 MiB.
//!   Every datagram read goes through the queue one by one, admitted or dropped and
//!   reported, exactly as if it had been read alone; the read budget counts datagrams.
//! * One GSO send carries at most [`MAX_SEGMENTS`] datagrams (and no more than the
//!   socket's `max_gso_segments`), all to one peer, all of one size, at most
//!   65,507 bytes together.
//!
//! # When a batch fails part-way
//!
//! * `recvmmsg` that fails after the first datagram returns the datagrams it got; the
//!   kernel keeps the error for the next call. Nothing read is lost.
//! * A GSO send is one `sendmsg`: the kernel takes the whole batch or none of it.
//!   `EAGAIN`: every echo of the batch stays queued, and the socket is watched for
//!   `EPOLLOUT`. A path that refuses segmentation (`EIO`, `EINVAL`): quinn-udp turns
//!   GSO off for the socket and the same echoes go out again one by one. Any other
//!   error: each echo of the batch is reported on its own line, `dropped N bytes from
//!   PEER: send failed: …`, as the other servers report a failed send.
//!
//! # Caveats
//!
//! * Batching pays only when datagrams come in bunches: with one datagram per wake-up
//!   a `recvmmsg` costs what a `recvfrom` does, and a loopback peer that sends one
//!   datagram per `sendto` is never merged by GRO.
//! * quinn-udp forbids fragmentation (it is made for QUIC, which sizes its packets to
//!   the path); this server allows it again, as the other echo servers do, so that a
//!   large datagram still crosses a path of a smaller MTU.

use std::io::{self, IoSliceMut};
use std::net::UdpSocket;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, EchoCounts, EchoQueue, MAX_IPV4_PAYLOAD, RECV_BUFFER};
use shared::event::{emit, Event, Proto};

/// Datagrams read per wake-up before the loop goes back to `epoll_wait`, so that one
/// busy socket cannot keep the signalfd waiting forever.
const BUDGET: usize = 256;

/// Buffers one `recvmmsg` fills at most: quinn-udp's batch.
const BATCH: usize = quinn_udp::BATCH_SIZE;

/// Datagrams one GSO send carries at most (the kernel's `UDP_MAX_SEGMENTS`).
const MAX_SEGMENTS: usize = 64;

/// What each registration carries in its `data` field, to tell the events apart.
const SOCKET: u64 = 0;
const SIGNALS: u64 = 1;

/// What one call to `epoll_wait` reported.
#[derive(Default)]
struct Ready {
    signal: bool,
    readable: bool,
    writable: bool,
}

struct Server {
    socket: UdpSocket,
    /// quinn-udp's view of the socket: what it turned on (GRO), what the path allows
    /// (GSO segments).
    state: UdpSocketState,
    /// The buffers a `recvmmsg` fills, and what it says of each.
    batch: Vec<Box<[u8]>>,
    meta: Vec<RecvMeta>,
    /// Where the echoes of one GSO send are gathered when the queue's ring wrapped
    /// among them (otherwise they are sent from the ring, where they lie end to end).
    gso: Vec<u8>,
    queue: EchoQueue,
    quiet: bool,
    signals: SignalFd,
    stopping: bool,
    epoll: Epoll,
    /// What the socket is registered for, to call `epoll_ctl` only on a change.
    registered: EpollFlags,
    /// The socket was reported readable and `recv_from` has not said EAGAIN since.
    readable: bool,
    /// `send_to` has not said EAGAIN since the socket was last reported writable.
    writable: bool,
}

impl Server {
    /// Sends queued echoes until the queue is empty or the socket would block;
    /// `false` when it would block. Consecutive echoes to one peer, of one size, go
    /// out together as one GSO send.
    fn flush(&mut self) -> bool {
        while let Some((first, peer)) = self.queue.front() {
            let size = first.len();
            let most = self.state.max_gso_segments().min(MAX_SEGMENTS);
            // How many echoes at the head of the queue can share this send.
            let count = self
                .queue
                .pending()
                .take(most)
                .take_while(|(bytes, to)| *to == peer && bytes.len() == size && size > 0)
                .take(MAX_IPV4_PAYLOAD / size.max(1))
                .count()
                .max(1);
            let (contents, segment_size) = match self.queue.pending_run(count) {
                // Alone, or laid end to end in the queue: sent from where they are.
                Some(run) if count == 1 => (run, None),
                Some(run) => (run, Some(size)),
                // The queue's ring wrapped among them: gathered here first.
                None => {
                    self.gso.clear();
                    for (bytes, _) in self.queue.pending().take(count) {
                        self.gso.extend_from_slice(bytes);
                    }
                    (&self.gso[..], Some(size))
                }
            };
            let transmit = transmit(peer, contents, segment_size);
            let result = self
                .state
                .try_send(UdpSockRef::from(&self.socket), &transmit);
            match result {
                Ok(()) => {
                    for _ in 0..count {
                        let (len, to) = self.queue.pop_sent().expect("front exists");
                        if !self.quiet {
                            emit(&echo::sent_event(len, to));
                        }
                    }
                }
                // The whole batch stays queued; the socket gets registered for
                // EPOLLOUT, whose edge comes when the send buffer has room again.
                Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                // The path refused segmentation and quinn-udp turned GSO off: the same
                // echoes go out again, one by one.
                Err(_) if count > 1 && self.state.max_gso_segments() == 1 => {}
                Err(e) => {
                    // The kernel took none of the batch: each echo is reported.
                    for _ in 0..count {
                        let (len, from) = self.queue.pop_failed().expect("front exists");
                        emit(&echo::send_failed_event(len, from, &e));
                    }
                }
            }
        }
        true
    }

    /// Reads one batch (one `recvmmsg`) into the queue, datagram by datagram, each
    /// copied once, from the batch buffer to the queue; the number of datagrams read,
    /// or `None` when the socket would block.
    fn read_batch(&mut self) -> Option<usize> {
        let mut slices: Vec<IoSliceMut<'_>> =
            self.batch.iter_mut().map(|b| IoSliceMut::new(b)).collect();
        let filled = self
            .state
            .recv(UdpSockRef::from(&self.socket), &mut slices, &mut self.meta);
        drop(slices);
        let filled = match filled {
            Ok(n) => n,
            Err(ref e) if e.kind() == io::ErrorKind::WouldBlock => return None,
            Err(e) => {
                // A per-datagram error (an ICMP report, say) concerns one peer only.
                eprintln!("recvmmsg: {e}");
                return Some(1);
            }
        };
        let mut datagrams = 0;
        for (buf, meta) in self.batch.iter().zip(&self.meta).take(filled) {
            let bytes = &buf[..meta.len.min(buf.len())];
            // With GRO, datagrams of one sender lie `stride` bytes apart (the last may
            // be shorter); an empty datagram is one of length 0.
            let stride = if meta.stride == 0 {
                bytes.len().max(1)
            } else {
                meta.stride
            };
            let mut rest = bytes;
            loop {
                let (one, after) = rest.split_at(stride.min(rest.len()));
                // Queued from the batch buffer itself: no stop in a receive buffer.
                self.queue.received_bytes(one, meta.addr, self.quiet);
                datagrams += 1;
                rest = after;
                if rest.is_empty() {
                    break;
                }
            }
        }
        Some(datagrams)
    }

    /// Sends and reads for as long as the socket is known ready, reading at most
    /// [`BUDGET`] datagrams (a batch may overshoot it by what one `recvmmsg` holds). Each direction stops only at EAGAIN, which is what
    /// re-arms its edge; a flag left set means readiness not yet used up.
    fn pump(&mut self) {
        let mut budget = BUDGET;
        loop {
            if self.writable {
                self.writable = self.flush();
            }
            if self.stopping || !self.readable || budget == 0 {
                return;
            }
            match self.read_batch() {
                Some(n) => budget = budget.saturating_sub(n),
                None => self.readable = false,
            }
        }
    }

    /// Reads every pending signal; SIGINT or SIGTERM asks the server to stop. The
    /// signalfd is edge-triggered too: it must be read until EAGAIN.
    fn on_signal(&mut self) -> Result<(), String> {
        loop {
            match self.signals.read_signal() {
                Ok(Some(_)) => self.stopping = true,
                Ok(None) => return Ok(()),
                Err(e) => return Err(format!("signalfd: {e}")),
            }
        }
    }

    /// What the socket should be waited for: readability until shutdown begins,
    /// writability only while echoes are queued.
    fn interest(&self) -> EpollFlags {
        match (self.stopping, self.queue.is_empty()) {
            (false, true) => EpollFlags::EPOLLIN,
            (false, false) => EpollFlags::EPOLLIN | EpollFlags::EPOLLOUT,
            (true, _) => EpollFlags::EPOLLOUT,
        }
    }

    /// Changes the socket's registration when the interest changed. Edge-triggered,
    /// an idle interest does not spin, but EPOLLOUT would still end a wait each time
    /// sent datagrams free buffer space: once per echo on loopback. Re-registering
    /// also re-arms: `EPOLL_CTL_MOD` reports the socket at once if already ready.
    fn update_interest(&mut self) -> Result<(), String> {
        let wanted = self.interest();
        if wanted != self.registered {
            let mut event = EpollEvent::new(wanted | EpollFlags::EPOLLET, SOCKET);
            self.epoll
                .modify(&self.socket, &mut event)
                .map_err(|e| format!("epoll_ctl: {e}"))?;
            self.registered = wanted;
        }
        Ok(())
    }

    /// Waits in `epoll_wait` for a new edge on the signalfd or the socket, at most
    /// `timeout`.
    fn wait(&self, timeout: EpollTimeout) -> Result<Ready, String> {
        // One slot per registered descriptor: a wait reports each at most once.
        let mut events = [EpollEvent::empty(); 2];
        let n = match self.epoll.wait(&mut events, timeout) {
            Ok(n) => n,
            // A signal that is not blocked interrupted the wait: nothing is ready.
            Err(Errno::EINTR) => return Ok(Ready::default()),
            Err(e) => return Err(format!("epoll_wait: {e}")),
        };
        let mut ready = Ready::default();
        for event in &events[..n] {
            match event.data() {
                SIGNALS => ready.signal = true,
                SOCKET => {
                    // EPOLLERR comes whatever the interest; `recv_from` returns the
                    // pending error and clears it.
                    let flags = event.events();
                    ready.readable = flags.intersects(EpollFlags::EPOLLIN | EpollFlags::EPOLLERR);
                    ready.writable = flags.contains(EpollFlags::EPOLLOUT);
                }
                _ => {}
            }
        }
        Ok(ready)
    }

    fn run(mut self) -> Result<EchoCounts, String> {
        loop {
            self.pump();
            if self.stopping && self.queue.is_empty() {
                return Ok(self.queue.counts());
            }
            self.update_interest()?;
            // Datagrams left by the budget will bring no new edge: look at the
            // signalfd without blocking, then go on reading.
            let timeout = if self.readable && !self.stopping {
                EpollTimeout::ZERO
            } else {
                EpollTimeout::NONE
            };
            let ready = self.wait(timeout)?;
            if ready.signal {
                self.on_signal()?;
            }
            // Remember the edges: the flags are cleared only by EAGAIN.
            self.readable |= ready.readable;
            self.writable |= ready.writable;
        }
    }
}

/// A `Transmit` of `contents` to `peer`: one datagram, or `contents.len() / size`
/// datagrams of `size` bytes when `segment_size` is given (UDP GSO).
fn transmit(
    peer: std::net::SocketAddr,
    contents: &[u8],
    segment_size: Option<usize>,
) -> Transmit<'_> {
    Transmit {
        destination: peer,
        ecn: None,
        contents,
        segment_size,
        src_ip: None,
    }
}

/// Undoes quinn-udp's "never fragment" (`IP_PMTUDISC_PROBE`, `IPV6_DONTFRAG`): an
/// echo larger than the path's MTU is fragmented, as the other echo servers' are.
fn allow_fragmentation(socket: &UdpSocket) -> io::Result<()> {
    let set = |level: libc::c_int, name: libc::c_int, value: libc::c_int| -> io::Result<()> {
        // SAFETY: setsockopt with a pointer to an int and its size, on our socket.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                level,
                name,
                (&value as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    };
    set(
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_WANT,
    )?;
    if socket.local_addr()?.is_ipv6() {
        set(
            libc::IPPROTO_IPV6,
            libc::IPV6_MTU_DISCOVER,
            libc::IPV6_PMTUDISC_WANT,
        )?;
        set(libc::IPPROTO_IPV6, libc::IPV6_DONTFRAG, 0)?;
    }
    Ok(())
}

/// Blocks SIGINT and SIGTERM and returns a signalfd that reads them. Blocked, they
/// no longer kill the process: they wait, pending, until read from the descriptor.
fn shutdown_signals() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    // The program is single-threaded, so the thread's mask is the process's.
    mask.thread_block()?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_NONBLOCK | SfdFlags::SFD_CLOEXEC)
}

fn main() {
    let spec = Spec::udp_echo(env!("CARGO_BIN_NAME"));
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

fn run(args: &shared::cli::Args) -> Result<(), String> {
    // Block the signals before anything else, so that a signal sent as soon as
    // `listening` is read is already waiting on the signalfd.
    let signals = shutdown_signals().map_err(|e| format!("cannot watch signals: {e}"))?;
    let socket = UdpSocket::bind(args.bind).map_err(|e| bind_error(args.bind, &e))?;
    // quinn-udp sets the socket non-blocking and turns on what it batches with (GRO,
    // and the control messages it reads).
    let state = UdpSocketState::new(UdpSockRef::from(&socket))
        .map_err(|e| format!("cannot set up batched I/O: {e}"))?;
    allow_fragmentation(&socket).map_err(|e| format!("setsockopt: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)
        .map_err(|e| format!("cannot create epoll instance: {e}"))?;
    // Registering reports what is already pending, as a first edge.
    let add = |fd: BorrowedFd<'_>, data: u64| {
        let event = EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLET, data);
        epoll.add(fd, event).map_err(|e| format!("epoll_ctl: {e}"))
    };
    add(signals.as_fd(), SIGNALS)?;
    add(socket.as_fd(), SOCKET)?;
    emit(&Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    let server = Server {
        socket,
        state,
        batch: (0..BATCH)
            .map(|_| vec![0; RECV_BUFFER].into_boxed_slice())
            .collect(),
        meta: vec![RecvMeta::default(); BATCH],
        gso: Vec::with_capacity(RECV_BUFFER),
        queue: EchoQueue::for_server(args, local),
        quiet: args.quiet,
        signals,
        stopping: false,
        epoll,
        registered: EpollFlags::EPOLLIN,
        readable: false,
        // A new socket can send: assume so until `send_to` says EAGAIN.
        writable: true,
    };
    let counts = server.run()?;
    emit(&counts.summary());
    Ok(())
}
