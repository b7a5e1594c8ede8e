//! UDP echo server on io_uring, at the raw level: the kernel completes the operations.
//!
//! Readiness (select → epoll → mio → tokio) asks the kernel *when* a socket can be
//! read, then reads it with one system call per datagram. io_uring turns that around:
//! the program hands the kernel operations to carry out, in a submission queue shared
//! with it, and finds their results in a completion queue. This server is to io_uring
//! what `echo-epoll-edge` is to epoll — nothing between the program and the kernel but
//! the `io-uring` crate's typed submission entries:
//!
//! * **one multishot receive** (`RecvMsgMulti`): submitted once, it completes once per
//!   datagram, for as long as it lasts. No `recvfrom` per datagram, no readiness event.
//! * **a provided buffer ring**: the receive names no buffer; the kernel picks one from
//!   a ring of buffers this program registered, writes the datagram (with the sender's
//!   address) into it, and says which one in the completion.
//! * **sends in batches** (`SendMsg`): every pending echo is queued as a submission
//!   entry, and all of them go to the kernel together.
//! * **one `io_uring_enter` per turn** (`submit_and_wait`): it submits what was queued
//!   and waits for at least one completion. Under load one call carries many echoes.
//! * **signals as one more completion**: SIGINT and SIGTERM are blocked and read from a
//!   signalfd by a `Read` on the ring, so shutdown arrives like any other result.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p next-echo-uring
//! nc -u 127.0.0.1 2000
//! ```
//!
//! Every datagram is echoed byte for byte (up to 65,507 bytes), except one whose
//! source port could start an echo loop (below 1024, or the server's own): that one
//! is read and refused (`refused … could loop`; `--allow-any-source-port` turns the
//! rule off for experiments). At most `--queue`
//! echoes wait to be sent, and a datagram that arrives when the queue is full is read
//! and dropped (`dropped … queue full`). SIGINT or SIGTERM stops reading (the receive
//! is cancelled on the ring, and what it completed before the cancel still counts),
//! sends what is queued, prints `summary recv=R sent=S dropped=D refused=F` and exits 0.
//! `cargo xtask diff echo-uring` shows it against `echo-epoll-edge`.
//!
//! # On several threads
//!
//! With `--threads N` it runs N such servers, one per thread, each with its own
//! ring, buffer ring and socket on the port (SO_REUSEPORT, set through socket2 before
//! the bind): thread per core, nothing shared. The kernel hands each client, by its
//! address and port, to one socket, always the same, so each client's echoes still
//! leave in order. One thing cannot be had per ring: a signal is read once, by one
//! reader, so a thread of its own reads the signalfd and writes an eventfd of each
//! ring, which each ring reads as it read the signalfd (`tell_on_signal`).
//! `shared::cores` prints one `listening` line once every ring is ready, and one
//! summary of all their counts.
//!
//! ```text
//! cargo run -p next-echo-uring -- --threads 2
//! nc -u 127.0.0.1 2000
//! ```
//!
//! # Who owns which buffer, when
//!
//! Completion I/O hands buffers to the kernel for the length of an operation, not for
//! the length of a system call. Nothing in Rust's borrow checker sees that, so each
//! buffer's owner is written down here and at the `unsafe` blocks:
//!
//! * **Receive buffers** ([`BufRing`]): the kernel's while they are in the ring. A
//!   completion names one: from then on it is this program's, until it is given back
//!   to the ring — in the same turn, once its datagram is copied into the queue.
//! * **Echo buffers** (the slots of [`EchoQueue`]): the queue's. While a `SendMsg`
//!   points at one, the kernel reads it at a time of its choosing, so the slot stays
//!   in the queue, untouched, until that send's completion has been seen.
//! * **Send headers** ([`SendSlot`]: the `msghdr`, its `iovec` and the address): boxed
//!   per send, kept until its completion, because the kernel may read them after the
//!   `io_uring_enter` that submitted them has returned.
//! * **The signalfd read buffer** and the receive's `msghdr`: fields of the server,
//!   which outlives the ring's operations (the loop ends only when none is in flight).
//!
//! What is in flight is bounded by `--queue`: one send per pending echo at most, one
//! receive, one signal read, one cancel.
//!
//! # Caveats
//!
//! * Needs io_uring (Linux 6.0+ for multishot `recvmsg`); where it is disabled
//!   (`kernel.io_uring_disabled`, a seccomp filter) the server says so at start-up and
//!   exits 1, and the conformance suite reports the row as skipped.
//! * The socket stays blocking on purpose: io_uring honours `O_NONBLOCK` by completing
//!   with `EAGAIN`, whereas on a blocking socket it waits for room itself, which is
//!   what a send to a full socket should do here.

use std::alloc::{self, Layout};
use std::io;
use std::mem;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU16, Ordering};
use std::thread;

use io_uring::types::{BufRingEntry, Fd, RecvMsgOut};
use io_uring::{cqueue, opcode, squeue, IoUring};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{SockaddrLike, SockaddrStorage};
use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::cores::{self, Ready};
use shared::echo::{self, EchoCounts, EchoQueue, RECV_BUFFER};
use shared::event::{emit, Event, Proto};
use socket2::{Domain, Protocol, Socket, Type};

/// Submission queue entries: room for a whole `--queue` of sends in most turns; a
/// larger queue is submitted over several turns.
const RING_ENTRIES: u32 = 256;
/// Completion queue entries: a burst completes many receives before the next turn.
const CQ_ENTRIES: u32 = 4096;
/// Buffers in the provided buffer ring (a power of two). When all are taken the
/// multishot receive ends with `ENOBUFS` and is submitted again once they are back;
/// the datagrams wait in the socket meanwhile.
const BUFFERS: u16 = 64;
/// The buffer group the ring is registered as, named by the receive.
const BUF_GROUP: u16 = 0;
/// The `io_uring_recvmsg_out` header a multishot `recvmsg` writes first in each
/// buffer: the lengths of the name, control data and payload (four `u32`s).
const RECVMSG_OUT: usize = 16;
/// The address field a multishot `recvmsg` reserves after that header.
const NAME_LEN: usize = mem::size_of::<libc::sockaddr_storage>();
/// One receive buffer: the kernel's `io_uring_recvmsg_out` header, the sender's
/// address, then the payload, up to the largest datagram.
const BUF_SIZE: usize = RECVMSG_OUT + NAME_LEN + RECV_BUFFER;

/// What each operation carries in its `user_data`, to tell the completions apart. A
/// send carries its sequence number (`SEND | seq`).
const RECV: u64 = 1 << 62;
const SIGNAL: u64 = 2 << 62;
const CANCEL: u64 = 3 << 62;
const SEND: u64 = 0;
const KIND: u64 = 3 << 62;

/// The provided buffer ring: `BUFFERS` receive buffers, and the ring of entries through
/// which they are handed to the kernel.
struct BufRing {
    /// The ring of entries, page-aligned as the kernel requires; shared with it.
    entries: *mut BufRingEntry,
    layout: Layout,
    /// The buffers themselves, one after the other.
    memory: Box<[u8]>,
    /// Our copy of the tail: the entries up to it are the kernel's.
    tail: u16,
}

impl BufRing {
    fn new() -> io::Result<BufRing> {
        let layout =
            Layout::from_size_align(usize::from(BUFFERS) * mem::size_of::<BufRingEntry>(), 4096)
                .map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size. Zeroed memory is a valid ring of
        // entries (the tail, which overlays the first entry's last field, is 0).
        let entries = unsafe { alloc::alloc_zeroed(layout) }.cast::<BufRingEntry>();
        if entries.is_null() {
            return Err(io::Error::from(io::ErrorKind::OutOfMemory));
        }
        let mut ring = BufRing {
            entries,
            layout,
            // Zeroed memory is mapped lazily: a buffer costs pages only once used.
            memory: vec![0; usize::from(BUFFERS) * BUF_SIZE].into_boxed_slice(),
            tail: 0,
        };
        for bid in 0..BUFFERS {
            ring.give_back(bid);
        }
        ring.publish();
        Ok(ring)
    }

    /// Puts buffer `bid` back at the ring's tail (seen by the kernel at [`publish`]).
    fn give_back(&mut self, bid: u16) {
        let slot = usize::from(self.tail & (BUFFERS - 1));
        // SAFETY: `slot` < BUFFERS, inside the allocation; the kernel reads only the
        // entries between its head and the published tail, and this one is past it.
        let entry = unsafe { &mut *self.entries.add(slot) };
        entry.set_addr(self.buffer(bid).as_ptr() as u64);
        entry.set_len(BUF_SIZE as u32);
        entry.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes the buffers given back visible to the kernel: a release store of the tail.
    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the ring we allocated,
        // and it is only ever accessed atomically (by us and by the kernel).
        let tail = unsafe { &*BufRingEntry::tail(self.entries).cast::<AtomicU16>() };
        tail.store(self.tail, Ordering::Release);
    }

    fn buffer(&self, bid: u16) -> &[u8] {
        let at = usize::from(bid) * BUF_SIZE;
        &self.memory[at..at + BUF_SIZE]
    }
}

impl Drop for BufRing {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout; the ring was unregistered (or
        // the io_uring instance closed) before, so the kernel no longer reads it.
        unsafe { alloc::dealloc(self.entries.cast(), self.layout) }
    }
}

/// What the kernel reads for one send: the message header, its one `iovec`, and the
/// destination address. Boxed, so that it stays put until the send completes.
struct SendSlot {
    msg: libc::msghdr,
    iov: libc::iovec,
    addr: SockaddrStorage,
}

struct Server {
    ring: IoUring,
    socket: UdpSocket,
    queue: EchoQueue,
    quiet: bool,
    /// What says stop: the signalfd itself, on one thread; on several, an eventfd of
    /// this thread's, which the thread that reads the signals writes (`tell_on_signal`).
    signals: OwnedFd,
    stopping: bool,
    bufs: BufRing,
    /// The header the multishot receive was submitted with: only its name and
    /// control lengths matter, and `RecvMsgOut::parse` needs them again.
    recv_msg: Box<libc::msghdr>,
    /// Where the signalfd read puts a `signalfd_siginfo` (128 bytes; an eventfd read,
    /// its first 8).
    siginfo: Box<[u8; 128]>,
    /// The multishot receive is in flight (it ends when a completion lacks `MORE`).
    receiving: bool,
    /// The signalfd read is in flight.
    watching_signals: bool,
    /// The cancel of the receive is in flight.
    cancelling: bool,
    /// Sends in flight or completed but not yet removed from the queue, oldest first:
    /// entry `i` is the send of the queue's `i`-th pending echo, with its result once
    /// completed. A later send may complete before an earlier one (a send that found
    /// the socket full waits inside the kernel); echoes leave the queue in order.
    sends: std::collections::VecDeque<(Box<SendSlot>, Option<i32>)>,
    /// Echoes removed from the queue so far: the sequence number of the oldest send.
    removed: u64,
}

impl Server {
    /// Queues the multishot receive. It stays in flight across many datagrams.
    fn arm_receive(&mut self) -> io::Result<()> {
        let entry =
            opcode::RecvMsgMulti::new(Fd(self.socket.as_raw_fd()), &*self.recv_msg, BUF_GROUP)
                .build()
                .user_data(RECV);
        // SAFETY: `recv_msg` is boxed in the server, which outlives every operation;
        // the buffers are the ring's, handed over through the registered group.
        self.push(&entry)?;
        self.receiving = true;
        Ok(())
    }

    /// Queues a read of the signalfd: it completes when SIGINT or SIGTERM arrives.
    fn watch_signals(&mut self) -> io::Result<()> {
        let entry = opcode::Read::new(
            Fd(self.signals.as_raw_fd()),
            self.siginfo.as_mut_ptr(),
            self.siginfo.len() as u32,
        )
        .build()
        .user_data(SIGNAL);
        // SAFETY: `siginfo` is boxed in the server; the kernel writes it until the
        // read completes, and nothing else touches it.
        self.push(&entry)?;
        self.watching_signals = true;
        Ok(())
    }

    /// Pushes one entry on the submission queue, submitting what is there first if it
    /// is full (rare: only a `--queue` larger than the ring fills it).
    fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: every caller keeps what the entry points to alive until its
        // completion has been seen.
        if unsafe { self.ring.submission().push(entry) }.is_err() {
            self.ring.submit()?;
            // SAFETY: as above.
            unsafe { self.ring.submission().push(entry) }
                .map_err(|_| io::Error::other("submission queue full"))?;
        }
        Ok(())
    }

    /// Queues a send for every pending echo that has none yet, as long as the
    /// submission queue has room: they reach the kernel together, in the next
    /// `io_uring_enter`.
    fn queue_sends(&mut self) {
        let already = self.sends.len();
        let mut new = Vec::new();
        for (bytes, peer) in self.queue.pending().skip(already) {
            let addr = SockaddrStorage::from(peer);
            let mut slot = Box::new(SendSlot {
                // SAFETY: an all-zero msghdr is a valid empty header.
                msg: unsafe { mem::zeroed() },
                iov: libc::iovec {
                    iov_base: bytes.as_ptr() as *mut libc::c_void,
                    iov_len: bytes.len(),
                },
                addr,
            });
            slot.msg.msg_name = slot.addr.as_ptr() as *mut libc::c_void;
            slot.msg.msg_namelen = slot.addr.len();
            slot.msg.msg_iov = &mut slot.iov;
            slot.msg.msg_iovlen = 1;
            new.push(slot);
        }
        for slot in new {
            if self.ring.submission().is_full() {
                // The rest waits for the next turn (the ring is smaller than the queue).
                return;
            }
            let seq = self.removed + self.sends.len() as u64;
            let entry = opcode::SendMsg::new(Fd(self.socket.as_raw_fd()), &slot.msg)
                .build()
                .user_data(SEND | seq);
            // SAFETY: the header is boxed and kept in `sends` until the completion;
            // the bytes it points to are a slot of the queue, which is not removed
            // before the completion either (see `completed_send`).
            if unsafe { self.ring.submission().push(&entry) }.is_err() {
                return;
            }
            self.sends.push_back((slot, None));
        }
    }

    /// A send completed: record its result, then remove from the queue, in order,
    /// every echo whose send has completed.
    fn completed_send(&mut self, seq: u64, result: i32) {
        let Some(index) = seq.checked_sub(self.removed) else {
            return;
        };
        if let Some((_, done)) = self.sends.get_mut(index as usize) {
            *done = Some(result);
        }
        while let Some((_, Some(result))) = self.sends.front() {
            let result = *result;
            // The kernel is done with this echo's bytes and header: now they may go.
            self.sends.pop_front();
            self.removed += 1;
            if result >= 0 {
                let (len, to) = self.queue.pop_sent().expect("a send per pending echo");
                if !self.quiet {
                    emit(&echo::sent_event(len, to));
                }
            } else {
                let err = io::Error::from_raw_os_error(-result);
                let (len, from) = self.queue.pop_failed().expect("a send per pending echo");
                emit(&echo::send_failed_event(len, from, &err));
            }
        }
    }

    /// A completion of the multishot receive: one datagram in a ring buffer, or the
    /// end of the receive (no `MORE` flag), or both.
    fn completed_receive(&mut self, result: i32, flags: u32) {
        if let Some(bid) = cqueue::buffer_select(flags) {
            // The kernel handed buffer `bid` over: it is ours until given back.
            if result >= 0 {
                let len = (result as usize).min(BUF_SIZE);
                match RecvMsgOut::parse(&self.bufs.buffer(bid)[..len], &self.recv_msg) {
                    Ok(out) => match peer_of(out.name_data()) {
                        Some(peer) => {
                            let payload = out.payload_data();
                            let n = payload.len();
                            // Copied into the queue, so that the ring buffer can go
                            // back at once and the ring never runs dry under a flood.
                            self.queue.recv_buffer()[..n].copy_from_slice(payload);
                            self.queue.received(n, peer, self.quiet);
                        }
                        None => eprintln!("recvmsg: a datagram from an unknown address family"),
                    },
                    Err(()) => eprintln!("recvmsg: a completion shorter than its header"),
                }
            }
            self.bufs.give_back(bid);
        }
        if result < 0 && result != -libc::ECANCELED && result != -libc::ENOBUFS {
            // A per-datagram error (an ICMP report, say) concerns one peer only.
            eprintln!("recvmsg: {}", io::Error::from_raw_os_error(-result));
        }
        if !cqueue::more(flags) {
            // Ended: cancelled, out of ring buffers (ENOBUFS), or an error. Submitted
            // again below unless the server is stopping.
            self.receiving = false;
        }
    }

    /// The signalfd read completed: SIGINT or SIGTERM. Stop reading: cancel the
    /// receive. The cancel races with datagrams in flight; any that complete first
    /// are counted and echoed like the others.
    fn completed_signal(&mut self, result: i32) -> io::Result<()> {
        self.watching_signals = false;
        if result == -libc::EINTR || result == -libc::EAGAIN {
            return self.watch_signals();
        }
        if result < 0 {
            return Err(io::Error::from_raw_os_error(-result));
        }
        self.stopping = true;
        if self.receiving {
            let entry = opcode::AsyncCancel::new(RECV).build().user_data(CANCEL);
            self.push(&entry)?;
            self.cancelling = true;
        }
        Ok(())
    }

    /// Whether any operation is still in flight (its memory must stay put).
    fn in_flight(&self) -> bool {
        self.receiving || self.watching_signals || self.cancelling || !self.sends.is_empty()
    }

    fn run(mut self) -> io::Result<EchoCounts> {
        self.watch_signals()?;
        self.arm_receive()?;
        loop {
            if self.stopping && self.queue.is_empty() && !self.in_flight() {
                return Ok(self.queue.counts());
            }
            self.queue_sends();
            // One system call per turn: submit what was queued, wait for a completion.
            match self.ring.submit_and_wait(1) {
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => {}
                // The completion queue is full: reap it first.
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {}
                Err(e) => return Err(e),
            }
            let completions: Vec<(u64, i32, u32)> = self
                .ring
                .completion()
                .map(|c| (c.user_data(), c.result(), c.flags()))
                .collect();
            for (user_data, result, flags) in completions {
                match user_data & KIND {
                    RECV => self.completed_receive(result, flags),
                    SIGNAL => self.completed_signal(result)?,
                    CANCEL => self.cancelling = false,
                    _ => self.completed_send(user_data & !KIND, result),
                }
            }
            self.bufs.publish();
            if !self.receiving && !self.stopping {
                self.arm_receive()?;
            }
        }
    }
}

/// The sender's address, from the `sockaddr` a `recvmsg` wrote.
fn peer_of(name: &[u8]) -> Option<SocketAddr> {
    let family = i32::from(u16::from_ne_bytes([*name.first()?, *name.get(1)?]));
    let port = u16::from_be_bytes([*name.get(2)?, *name.get(3)?]);
    match family {
        libc::AF_INET => {
            let ip: [u8; 4] = name.get(4..8)?.try_into().ok()?;
            Some(SocketAddr::from((ip, port)))
        }
        libc::AF_INET6 => {
            let ip: [u8; 16] = name.get(8..24)?.try_into().ok()?;
            let scope = u32::from_ne_bytes(name.get(24..28)?.try_into().ok()?);
            let flow = u32::from_be_bytes(name.get(4..8)?.try_into().ok()?);
            Some(SocketAddr::V6(std::net::SocketAddrV6::new(
                ip.into(),
                port,
                flow,
                scope,
            )))
        }
        _ => None,
    }
}

/// An io_uring instance; with the flags that suit one thread submitting and reaping
/// (completions are run when it enters the kernel, not by interrupts), or plain
/// where the kernel predates them.
fn new_ring() -> io::Result<IoUring> {
    IoUring::builder()
        .setup_cqsize(CQ_ENTRIES)
        .setup_single_issuer()
        .setup_defer_taskrun()
        .build(RING_ENTRIES)
        .or_else(|_| {
            IoUring::builder()
                .setup_cqsize(CQ_ENTRIES)
                .build(RING_ENTRIES)
        })
}

/// Blocks SIGINT and SIGTERM and returns a signalfd that reads them. Blocking, not
/// `SFD_NONBLOCK`: a read on the ring then waits for a signal instead of completing
/// at once with `EAGAIN`.
fn shutdown_signals() -> nix::Result<SignalFd> {
    let mut mask = SigSet::empty();
    mask.add(Signal::SIGINT);
    mask.add(Signal::SIGTERM);
    // Blocked before any other thread starts: every thread started after inherits
    // the mask, so the process's mask is this one.
    mask.thread_block()?;
    SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC)
}

/// One eventfd per ring (`--threads` above 1), and a thread that reads the signals
/// and writes each of them once SIGINT or SIGTERM comes. A signal is read once, by
/// one reader: a signalfd read on every ring would stop one ring, and the others
/// would never know. Returns each ring's end.
fn tell_on_signal(signals: SignalFd, threads: usize) -> io::Result<Vec<OwnedFd>> {
    let tell: Vec<EventFd> = (0..threads)
        .map(|_| EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC))
        .collect::<nix::Result<_>>()?;
    let rings = tell
        .iter()
        .map(|e| e.as_fd().try_clone_to_owned())
        .collect::<io::Result<_>>()?;
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            // A read that fails (it cannot, on a signalfd of this process) would leave
            // the rings to run until the process is killed: tell them then too.
            while let Ok(None) = signals.read_signal() {}
            for t in &tell {
                let _ = t.write(1);
            }
        })?;
    Ok(rings)
}

fn main() {
    let spec = Spec::udp_echo(env!("CARGO_BIN_NAME")).with_threads();
    let args = spec.from_env();
    if let Err(e) = serve_on_threads(&args) {
        exit_startup_error(spec.name, e);
    }
}

/// The server of one thread: its own ring, buffers and socket, and what tells it to
/// stop.
fn run(
    args: &shared::cli::Args,
    socket: UdpSocket,
    signals: OwnedFd,
    ready: Ready,
) -> Result<EchoCounts, String> {
    let ring = new_ring().map_err(|e| format!("io_uring is not available here: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let bufs = BufRing::new().map_err(|e| format!("cannot allocate buffers: {e}"))?;
    // SAFETY: the ring of entries lives in `bufs`, which the server keeps until after
    // the io_uring instance is closed (fields drop in declaration order: `ring` first).
    unsafe {
        ring.submitter()
            .register_buf_ring_with_flags(bufs.entries as u64, BUFFERS, BUF_GROUP, 0)
    }
    .map_err(|e| format!("cannot register a provided buffer ring (Linux 5.19+): {e}"))?;
    // SAFETY: an all-zero msghdr is a valid empty header.
    let mut recv_msg: Box<libc::msghdr> = Box::new(unsafe { mem::zeroed() });
    recv_msg.msg_namelen = NAME_LEN as libc::socklen_t;
    // Printed once every thread's ring is ready (`shared::cores`).
    ready.listening(Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    let server = Server {
        ring,
        socket,
        queue: EchoQueue::for_server(args, local),
        quiet: args.quiet,
        signals,
        stopping: false,
        bufs,
        recv_msg,
        siginfo: Box::new([0; 128]),
        receiving: false,
        watching_signals: false,
        cancelling: false,
        sends: std::collections::VecDeque::new(),
        removed: 0,
    };
    server.run().map_err(|e| format!("io_uring: {e}"))
}

/// `--threads N` (1 by default): N servers, one per thread, each with its own ring
/// and socket on the port, nothing shared: thread per core.
fn serve_on_threads(args: &shared::cli::Args) -> Result<(), String> {
    // Block the signals before anything else, so that a signal sent as soon as
    // `listening` is read is already waiting on the signalfd.
    let signals = shutdown_signals().map_err(|e| format!("cannot watch signals: {e}"))?;
    let sockets = cores::bind_each(args.bind, args.threads, bind, UdpSocket::local_addr)
        .map_err(|e| bind_error(args.bind, &e))?;
    // One ring reads the signalfd itself; several are told through eventfds.
    let stops = match args.threads {
        1 => vec![OwnedFd::from(signals)],
        n => tell_on_signal(signals, n).map_err(|e| format!("cannot watch signals: {e}"))?,
    };
    let args = args.clone();
    let servers: Vec<(UdpSocket, OwnedFd)> = sockets.into_iter().zip(stops).collect();
    let counts = cores::serve_on_threads(servers, move |(socket, signals), ready| {
        run(&args, socket, signals, ready)
    })?;
    let counts: EchoCounts = counts.into_iter().sum();
    emit(&counts.summary());
    Ok(())
}

/// A socket on `addr`, made with socket2: SO_REUSEPORT (for several threads:
/// `shared::cores` says when) must be set before the bind. Blocking, as before (see
/// the caveats above).
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    socket.set_reuse_port(reuse_port)?;
    socket.bind(&addr.into())?;
    Ok(socket.into())
}
