//! RFC 862 echo: constants, counts, the echo-loop rule, and the bounded queue of
//! pending echoes.
//!
//! The UDP servers of both eras keep at most `--queue` echoes waiting to be sent, and
//! at most [`queue_bytes`]`(--queue)` bytes of them. A datagram that arrives while the
//! queue is full is still read (so the kernel buffer keeps moving and reads keep
//! flowing while writes are pending) but is dropped and reported. [`EchoQueue`] is
//! that queue without any I/O: the server receives into [`EchoQueue::recv_buffer`],
//! then tells the queue what arrived; it sends from [`EchoQueue::front`] and tells the
//! queue when the send completed.
//!
//! # What a UDP echo server holds
//!
//! * one receive buffer of [`RECV_BUFFER`] bytes (64 KiB: no datagram is truncated);
//! * per pending echo, its bytes and no more (a 64-byte datagram holds 64 bytes, not a
//!   64 KiB buffer), plus a [`SLOT_BYTES`]-byte record of where it is and where it goes;
//! * all pending bytes live in one ring allocated once, [`queue_bytes`] + 64 KiB long,
//!   that never grows or moves. Its pages are touched only as far as the queue has
//!   ever reached: the ring starts again at its beginning whenever the queue empties.
//!
//! So the memory is bounded by the flags, whatever peers send: `--queue 8` (the
//! default) holds at most 8 × 64 KiB of pending bytes, exactly what eight of the
//! largest datagrams need; a large `--queue` is capped at [`MAX_QUEUE_BYTES`]. Nothing
//! is allocated per datagram: receiving copies the datagram once, from the receive
//! buffer into the ring.
//!
//! # Echo loops
//!
//! An echo service answers anything, so two of them can answer each other forever:
//! one datagram with a forged source (port 19 of one host, sent to port 7 of another)
//! starts a loop that never ends — the oldest abuse of RFC 862. [`SourceRule`] is how
//! every server here refuses the sources that could loop; see [`loop_risk`].

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::cli::Args;
use crate::event::{emit, Counts, Event, QUEUE_FULL};

/// The port RFC 862 assigns to echo (needs privilege; the programs default to 2000).
pub const RFC862_PORT: u16 = 7;
pub use crate::cli::{DEFAULT_PORT, DEFAULT_QUEUE};
/// Largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header).
pub const MAX_IPV4_PAYLOAD: usize = 65_507;
/// Receive buffer size: larger than any UDP payload (IPv6 allows 65,527 without
/// jumbograms), so no datagram is ever truncated. The originals used 1,500 bytes and
/// silently cut longer datagrams; both eras fix that.
pub const RECV_BUFFER: usize = 65_536;
/// The most bytes of pending echoes a server keeps, whatever `--queue` says: 64 of
/// the largest datagrams, or 65,536 of 64 bytes. Twenty times the kernel's default
/// receive buffer (`net.core.rmem_default`, 208 KiB), so the bound never starves a
/// server that keeps up, and a huge `--queue` cannot reserve gigabytes.
pub const MAX_QUEUE_BYTES: usize = 4 << 20;
/// Bytes a pending echo costs besides its payload: where its bytes are in the ring,
/// how many, and where the echo goes.
pub const SLOT_BYTES: usize = std::mem::size_of::<Slot>();

/// The byte bound of a queue of `capacity` echoes: room for `capacity` of the largest
/// datagrams, at most [`MAX_QUEUE_BYTES`].
pub const fn queue_bytes(capacity: usize) -> usize {
    let bytes = capacity.saturating_mul(RECV_BUFFER);
    if bytes < MAX_QUEUE_BYTES {
        bytes
    } else {
        MAX_QUEUE_BYTES
    }
}

/// What a UDP echo server counts; printed as its summary line at exit. Every datagram
/// read is accounted for once: `recv = sent + dropped + refused`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoCounts {
    /// Datagrams read from the socket.
    pub recv: u64,
    /// Echoes sent.
    pub sent: u64,
    /// Datagrams read but not echoed (queue full, or the send failed).
    pub dropped: u64,
    /// Datagrams read and not echoed because their source could loop ([`loop_risk`]).
    pub refused: u64,
}

/// The counts of several servers on one port (one per thread, `shared::cores`), added
/// up for the one summary line.
impl std::iter::Sum for EchoCounts {
    fn sum<I: Iterator<Item = EchoCounts>>(iter: I) -> EchoCounts {
        iter.fold(EchoCounts::default(), |a, b| EchoCounts {
            recv: a.recv + b.recv,
            sent: a.sent + b.sent,
            dropped: a.dropped + b.dropped,
            refused: a.refused + b.refused,
        })
    }
}

impl EchoCounts {
    /// `summary recv=R sent=S dropped=D refused=F`.
    pub fn summary(&self) -> Event {
        Event::Summary(Counts(vec![
            (Cow::Borrowed("recv"), self.recv),
            (Cow::Borrowed("sent"), self.sent),
            (Cow::Borrowed("dropped"), self.dropped),
            (Cow::Borrowed("refused"), self.refused),
        ]))
    }
}

/// `recv N bytes from PEER`.
pub fn recv_event(len: usize, from: SocketAddr) -> Event {
    Event::Recv {
        len,
        from,
        at: None,
    }
}

/// `sent N bytes to PEER`.
pub fn sent_event(len: usize, to: SocketAddr) -> Event {
    Event::Sent { len, to }
}

/// `dropped N bytes from PEER: queue full`.
pub fn queue_full_event(len: usize, from: SocketAddr) -> Event {
    Event::Dropped {
        len,
        from,
        reason: Cow::Borrowed(QUEUE_FULL),
    }
}

/// `dropped N bytes from PEER: send failed: ERROR`, for a send that failed with an error
/// other than "would block" (the echo is given up, the server goes on).
pub fn send_failed_event(len: usize, from: SocketAddr, err: &std::io::Error) -> Event {
    Event::Dropped {
        len,
        from,
        reason: Cow::Owned(format!("send failed: {err}")),
    }
}

/// `refused N bytes from PEER: source port 19 (chargen) could loop`.
pub fn refused_event(len: usize, from: SocketAddr, risk: LoopRisk) -> Event {
    Event::Refused {
        len,
        from,
        reason: Cow::Owned(risk.to_string()),
    }
}

/// UDP services below 1024 that answer whatever datagram reaches them, and so would
/// answer an echo: the ones the refusal line names.
const ANSWERING_SERVICES: &[(u16, &str)] = &[
    (7, "echo"),
    (13, "daytime"),
    (17, "qotd"),
    (19, "chargen"),
    (37, "time"),
    (53, "domain"),
    (69, "tftp"),
    (111, "sunrpc"),
    (123, "ntp"),
    (137, "netbios-ns"),
    (161, "snmp"),
];

/// Why a datagram's source could start an echo loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoopRisk {
    /// A port below 1024 (port 0 included), with the name of the answering service
    /// that lives there, if it is one of [`ANSWERING_SERVICES`].
    Privileged {
        port: u16,
        service: Option<&'static str>,
    },
    /// The port this server listens on: a twin of this very service elsewhere.
    OwnPort { port: u16 },
}

impl fmt::Display for LoopRisk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoopRisk::Privileged {
                port,
                service: Some(name),
            } => write!(f, "source port {port} ({name}) could loop"),
            LoopRisk::Privileged {
                port,
                service: None,
            } => write!(f, "source port {port} (below 1024) could loop"),
            LoopRisk::OwnPort { port } => {
                write!(f, "source port {port} (this service's own) could loop")
            }
        }
    }
}

/// The echo-loop rule: whether a datagram from source port `port` must not be echoed,
/// for a server listening on port `own` (`None`: unknown).
///
/// * **Every port below 1024, port 0 included** (as OpenBSD inetd's `dg_badinput`
///   refuses for its internal services). The well-known ports are where the services
///   that answer any datagram live — echo 7, daytime 13, chargen 19, time 37, and as
///   well DNS 53, NTP 123, SNMP 161, which answer garbage with an error — so naming
///   only 7, 13, 19 and 37 (FreeBSD inetd's `check_loop` looks at the ports of its own
///   internal services) would leave the echo-DNS loop open. Nothing legitimate is
///   lost: a client sends from an ephemeral port (32768–60999 on Linux), and a port
///   below 1024 needs privilege to bind. Port 0 cannot be answered at all (a send to
///   it fails); a datagram can only claim it by forgery.
/// * **This server's own port** (FreeBSD's idea, for the service at hand): two
///   echo servers on the same port — two of these programs on their default 2000, on
///   two hosts — would loop as surely as echo and chargen.
///
/// Ports from 1024 up are not refused otherwise: they are where clients live.
pub fn loop_risk(port: u16, own: Option<u16>) -> Option<LoopRisk> {
    if port < 1024 {
        let service = ANSWERING_SERVICES
            .iter()
            .find(|(p, _)| *p == port)
            .map(|(_, name)| *name);
        return Some(LoopRisk::Privileged { port, service });
    }
    (own == Some(port)).then_some(LoopRisk::OwnPort { port })
}

/// Which sources a server refuses to echo: [`loop_risk`], unless turned off with
/// `--allow-any-source-port` (for local experiments, such as two servers set to loop
/// on purpose).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceRule {
    own_port: Option<u16>,
    allow_any: bool,
}

impl SourceRule {
    /// The rule with no own port known.
    pub const DEFAULT: SourceRule = SourceRule {
        own_port: None,
        allow_any: false,
    };

    /// The rule of a server listening on `local`, as its command line asks.
    pub fn for_server(args: &Args, local: SocketAddr) -> SourceRule {
        SourceRule {
            own_port: Some(local.port()),
            allow_any: args.allow_any_source_port,
        }
    }

    /// Why a datagram from `peer` must not be echoed, if it must not.
    pub fn check(&self, peer: SocketAddr) -> Option<LoopRisk> {
        if self.allow_any {
            return None;
        }
        loop_risk(peer.port(), self.own_port)
    }

    /// [`check`](Self::check), and the `refused …` line (unless `quiet`) when the
    /// datagram is refused: for servers that keep their own queue (echo-mpsc).
    pub fn refuses(&self, len: usize, peer: SocketAddr, quiet: bool) -> bool {
        let Some(risk) = self.check(peer) else {
            return false;
        };
        if !quiet {
            emit(&refused_event(len, peer, risk));
        }
        true
    }
}

/// Whether a received datagram was queued for its echo, dropped, or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Queued,
    Dropped,
    Refused(LoopRisk),
}

/// One pending echo: where its bytes are in the ring, and where it goes.
struct Slot {
    offset: usize,
    len: usize,
    peer: SocketAddr,
}

/// The bytes of the pending echoes, each contiguous (it is one `send`), in FIFO order,
/// in one allocation that never moves: servers that hand sends to the kernel (io_uring)
/// keep pointing into it until the send completes.
///
/// Two regions, as in a bip buffer: `a` holds the oldest echoes at
/// `a_start..a_end`; once the end of the ring has no room, the newest go in `b` at
/// `0..b_end`, below `a_start`. When `a` empties, `b` becomes `a`; when everything is
/// sent, the ring starts again at 0. With the ring [`RECV_BUFFER`] bytes longer than
/// the byte bound, a datagram that fits the bound always finds contiguous room (the
/// free space is then at least twice its length, or the end gap left by a wrap is
/// shorter than one datagram), so the bound is exact and fragmentation never drops one.
struct Ring {
    buf: Box<[u8]>,
    a_start: usize,
    a_end: usize,
    /// Slots in region `a` (the rest of the queue is in `b`).
    a_count: usize,
    b_end: Option<usize>,
}

impl Ring {
    fn new(len: usize) -> Ring {
        Ring {
            // Zeroed memory of this size comes from fresh pages (mmap), which stay
            // untouched, and cost no RSS, until a datagram is copied there.
            buf: vec![0; len].into_boxed_slice(),
            a_start: 0,
            a_end: 0,
            a_count: 0,
            b_end: None,
        }
    }

    /// Where `len` more bytes can go at the back of the queue, if anywhere; takes them.
    fn take(&mut self, len: usize) -> Option<usize> {
        match self.b_end {
            Some(b_end) if b_end + len <= self.a_start => {
                self.b_end = Some(b_end + len);
                Some(b_end)
            }
            Some(_) => None,
            None if self.a_end + len <= self.buf.len() => {
                let at = self.a_end;
                self.a_end += len;
                self.a_count += 1;
                Some(at)
            }
            None if len <= self.a_start => {
                self.b_end = Some(len);
                Some(0)
            }
            None => None,
        }
    }

    /// Gives back the oldest slot's bytes; `left` slots remain in the queue.
    fn give_back(&mut self, slot: &Slot, left: usize) {
        debug_assert!(self.a_count > 0 && slot.offset == self.a_start);
        self.a_count -= 1;
        self.a_start = slot.offset + slot.len;
        if self.a_count == 0 {
            (self.a_start, self.a_end, self.a_count) = match self.b_end.take() {
                Some(b_end) => (0, b_end, left),
                None => (0, 0, 0),
            };
        }
    }

    fn bytes(&self, slot: &Slot) -> &[u8] {
        &self.buf[slot.offset..slot.offset + slot.len]
    }
}

/// A bounded FIFO of echoes waiting to be sent, with the server's counts.
pub struct EchoQueue {
    capacity: usize,
    byte_limit: usize,
    pending: VecDeque<Slot>,
    /// Bytes of the pending echoes.
    pending_bytes: usize,
    ring: Ring,
    /// Where every datagram is received, queued or not; a queued one is then copied
    /// into the ring.
    recv: Box<[u8]>,
    sources: SourceRule,
    counts: EchoCounts,
}

impl EchoQueue {
    /// A queue for at most `capacity` pending echoes (at least one) and
    /// [`queue_bytes`]`(capacity)` bytes, refusing what [`SourceRule::DEFAULT`] refuses.
    pub fn new(capacity: usize) -> EchoQueue {
        let capacity = capacity.max(1);
        let byte_limit = queue_bytes(capacity);
        EchoQueue {
            capacity,
            byte_limit,
            pending: VecDeque::with_capacity(capacity.min(1024)),
            pending_bytes: 0,
            ring: Ring::new(byte_limit + RECV_BUFFER),
            recv: vec![0; RECV_BUFFER].into_boxed_slice(),
            sources: SourceRule::DEFAULT,
            counts: EchoCounts::default(),
        }
    }

    /// The queue of a server listening on `local`: `--queue` echoes, and the source
    /// rule its command line asks for (`--allow-any-source-port`).
    pub fn for_server(args: &Args, local: SocketAddr) -> EchoQueue {
        let mut queue = EchoQueue::new(args.queue);
        queue.sources = SourceRule::for_server(args, local);
        queue
    }

    /// The buffer to receive the next datagram into ([`RECV_BUFFER`] bytes).
    pub fn recv_buffer(&mut self) -> &mut [u8] {
        &mut self.recv
    }

    /// Records that `len` bytes from `peer` were received into
    /// [`recv_buffer`](Self::recv_buffer): refuses them if their source could loop,
    /// else queues the echo if there is room.
    pub fn push_received(&mut self, len: usize, peer: SocketAddr) -> Admission {
        let len = len.min(RECV_BUFFER);
        match self.admit(len, peer) {
            Ok(at) => {
                self.ring.buf[at..at + len].copy_from_slice(&self.recv[..len]);
                Admission::Queued
            }
            Err(refused_or_dropped) => refused_or_dropped,
        }
    }

    /// [`push_received`](Self::push_received) for bytes received elsewhere (a batch
    /// read at once): queued from where they are, without a stop in
    /// [`recv_buffer`](Self::recv_buffer).
    pub fn push_bytes(&mut self, bytes: &[u8], peer: SocketAddr) -> Admission {
        let bytes = &bytes[..bytes.len().min(RECV_BUFFER)];
        match self.admit(bytes.len(), peer) {
            Ok(at) => {
                self.ring.buf[at..at + bytes.len()].copy_from_slice(bytes);
                Admission::Queued
            }
            Err(refused_or_dropped) => refused_or_dropped,
        }
    }

    /// Counts a datagram of `len` bytes from `peer` and queues its echo if its source
    /// cannot loop and there is room: where in the ring its bytes go, or why it gets
    /// no echo.
    fn admit(&mut self, len: usize, peer: SocketAddr) -> Result<usize, Admission> {
        self.counts.recv += 1;
        if let Some(risk) = self.sources.check(peer) {
            self.counts.refused += 1;
            return Err(Admission::Refused(risk));
        }
        let fits =
            self.pending.len() < self.capacity && self.pending_bytes + len <= self.byte_limit;
        let Some(offset) = fits.then(|| self.ring.take(len)).flatten() else {
            self.counts.dropped += 1;
            return Err(Admission::Dropped);
        };
        self.pending.push_back(Slot { offset, len, peer });
        self.pending_bytes += len;
        Ok(offset)
    }

    /// [`push_received`](Self::push_received), then the event lines every UDP echo
    /// server prints for it (unless `quiet`): `recv N bytes from PEER`, and
    /// `dropped N bytes from PEER: queue full` if the queue had no room, or
    /// `refused N bytes from PEER: …` if the source could loop.
    pub fn received(&mut self, len: usize, peer: SocketAddr, quiet: bool) -> Admission {
        let admission = self.push_received(len, peer);
        report(len, peer, admission, quiet)
    }

    /// [`received`](Self::received) for bytes received elsewhere
    /// ([`push_bytes`](Self::push_bytes)).
    pub fn received_bytes(&mut self, bytes: &[u8], peer: SocketAddr, quiet: bool) -> Admission {
        let admission = self.push_bytes(bytes, peer);
        report(bytes.len(), peer, admission, quiet)
    }

    /// The oldest pending echo: its bytes and where it goes.
    pub fn front(&self) -> Option<(&[u8], SocketAddr)> {
        self.pending.front().map(|s| (self.ring.bytes(s), s.peer))
    }

    /// Every pending echo, oldest first: its bytes and where it goes. For servers that
    /// hand several sends to the kernel at once (an io_uring submission batch, a GSO
    /// send): the bytes stay where they are until [`pop_sent`](Self::pop_sent) or
    /// [`pop_failed`](Self::pop_failed) removes their echo.
    pub fn pending(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.pending.iter().map(|s| (self.ring.bytes(s), s.peer))
    }

    /// The bytes of the `count` oldest pending echoes as one slice, if they lie end to
    /// end in the ring (they do unless the ring wrapped among them): a GSO send of
    /// them straight from the queue.
    pub fn pending_run(&self, count: usize) -> Option<&[u8]> {
        let mut slots = self.pending.iter().take(count);
        let first = slots.next()?;
        let mut end = first.offset + first.len;
        for slot in slots {
            if slot.offset != end {
                return None;
            }
            end += slot.len;
        }
        (count <= self.pending.len()).then(|| &self.ring.buf[first.offset..end])
    }

    /// Removes the oldest pending echo after it was sent; returns its length and peer.
    pub fn pop_sent(&mut self) -> Option<(usize, SocketAddr)> {
        let done = self.pop()?;
        self.counts.sent += 1;
        Some(done)
    }

    /// Removes the oldest pending echo after its send failed for good.
    pub fn pop_failed(&mut self) -> Option<(usize, SocketAddr)> {
        let done = self.pop()?;
        self.counts.dropped += 1;
        Some(done)
    }

    fn pop(&mut self) -> Option<(usize, SocketAddr)> {
        let slot = self.pending.pop_front()?;
        self.ring.give_back(&slot, self.pending.len());
        self.pending_bytes -= slot.len;
        Some((slot.len, slot.peer))
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// No room for another echo of any length: `--queue` echoes are pending. (A long
    /// datagram may also be dropped earlier, when its bytes would pass the byte bound.)
    pub fn is_full(&self) -> bool {
        self.pending.len() >= self.capacity
    }

    /// Bytes of the pending echoes, and the most there may be.
    pub fn pending_bytes(&self) -> usize {
        self.pending_bytes
    }

    pub fn byte_limit(&self) -> usize {
        self.byte_limit
    }

    pub fn counts(&self) -> EchoCounts {
        self.counts
    }
}

/// The event lines of a received datagram (unless `quiet`); returns `admission`.
fn report(len: usize, peer: SocketAddr, admission: Admission, quiet: bool) -> Admission {
    if !quiet {
        emit(&recv_event(len, peer));
        match admission {
            Admission::Queued => {}
            Admission::Dropped => emit(&queue_full_event(len, peer)),
            Admission::Refused(risk) => emit(&refused_event(len, peer, risk)),
        }
    }
    admission
}

/// The byte bound of a queue whose echoes travel through a channel (echo-mpsc): the
/// reader takes the bytes of each echo it queues, the writer gives them back once the
/// echo is sent or given up. Shared by both, so it is atomic, which costs one
/// uncontended atomic add per echo on each side.
#[derive(Debug, Clone)]
pub struct QueueBytes {
    held: Arc<AtomicUsize>,
    limit: usize,
}

impl QueueBytes {
    /// The bound of a queue of `capacity` echoes: [`queue_bytes`]`(capacity)`.
    pub fn new(capacity: usize) -> QueueBytes {
        QueueBytes {
            held: Arc::new(AtomicUsize::new(0)),
            limit: queue_bytes(capacity.max(1)),
        }
    }

    /// Takes `len` bytes if they fit under the bound; `false` (and nothing taken) if not.
    pub fn take(&self, len: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + len <= self.limit).then_some(held + len)
            })
            .is_ok()
    }

    /// Gives back `len` bytes taken before.
    pub fn give_back(&self, len: usize) {
        self.held.fetch_sub(len, Ordering::AcqRel);
    }

    /// Bytes taken and not yet given back.
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// Size of a TCP echo connection's buffer: what is read and not yet written back.
pub const TCP_BUFFER: usize = 16 * 1024;

/// How long a TCP echo server, once asked to stop, waits for its connections to
/// write back what they read before it closes them regardless.
pub const TCP_SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_millis(1000);

/// Why a TCP connection ended, as printed on its `closed` line.
pub mod tcp_reason {
    /// The peer closed its side and got every byte back.
    pub const EOF: &str = "eof";
    /// The peer reset the connection.
    pub const RESET: &str = "reset";
    /// The server was asked to stop; what was read had been written back.
    pub const SHUTDOWN: &str = "shutdown";
    /// The server was asked to stop and the peer did not take its echo in time.
    pub const ABANDONED: &str = "shutdown, echo abandoned";
    /// No byte moved either way for `--idle-timeout-secs`: the peer sent nothing, or
    /// did not take its echo.
    pub const IDLE: &str = "idle timeout";
}

/// The `closed` reason for an I/O error on a connection.
pub fn tcp_error_reason(err: &std::io::Error) -> Cow<'static, str> {
    match err.kind() {
        std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe => {
            Cow::Borrowed(tcp_reason::RESET)
        }
        _ => Cow::Owned(format!("error: {err}")),
    }
}

/// What a TCP echo server counts; printed as its summary line at exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TcpCounts {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections closed (all of them, once the server exits).
    pub closed: u64,
    /// Bytes echoed, over all connections.
    pub bytes: u64,
    /// Times accepting paused for lack of resources (out of descriptors, say): one
    /// per episode, however many attempts it took ([`crate::accept::AcceptPolicy`]).
    pub accept_pauses: u64,
}

/// The counts of several servers on one port (one per thread, `shared::cores`), added
/// up for the one summary line.
impl std::iter::Sum for TcpCounts {
    fn sum<I: Iterator<Item = TcpCounts>>(iter: I) -> TcpCounts {
        iter.fold(TcpCounts::default(), |a, b| TcpCounts {
            accepted: a.accepted + b.accepted,
            closed: a.closed + b.closed,
            bytes: a.bytes + b.bytes,
            accept_pauses: a.accept_pauses + b.accept_pauses,
        })
    }
}

impl TcpCounts {
    /// `summary accepted=A closed=C bytes=B accept_pauses=P`.
    pub fn summary(&self) -> Event {
        Event::Summary(Counts(vec![
            (Cow::Borrowed("accepted"), self.accepted),
            (Cow::Borrowed("closed"), self.closed),
            (Cow::Borrowed("bytes"), self.bytes),
            (Cow::Borrowed("accept_pauses"), self.accept_pauses),
        ]))
    }
}

/// `accepted from PEER`.
pub fn accepted_event(peer: SocketAddr) -> Event {
    Event::Accepted { peer }
}

/// `closed PEER after N bytes: REASON`, N being the bytes written back to the peer.
pub fn closed_event(peer: SocketAddr, bytes: u64, reason: impl Into<Cow<'static, str>>) -> Event {
    Event::Closed {
        peer,
        bytes,
        reason: reason.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    /// A client's port: above 1024, and different for each `n`.
    fn client(n: u16) -> SocketAddr {
        peer(40_000 + n)
    }

    fn receive(q: &mut EchoQueue, bytes: &[u8], from: SocketAddr) -> Admission {
        q.recv_buffer()[..bytes.len()].copy_from_slice(bytes);
        q.push_received(bytes.len(), from)
    }

    #[test]
    fn fifo_with_bounded_capacity_and_counts_that_add_up() {
        let mut q = EchoQueue::new(2);
        assert_eq!(receive(&mut q, b"one", client(1)), Admission::Queued);
        assert_eq!(receive(&mut q, b"two", client(2)), Admission::Queued);
        assert!(q.is_full());
        assert_eq!(receive(&mut q, b"three", client(3)), Admission::Dropped);
        assert_eq!(q.front(), Some((&b"one"[..], client(1))));
        assert_eq!(q.pop_sent(), Some((3, client(1))));
        assert_eq!(receive(&mut q, b"four", client(4)), Admission::Queued);
        assert_eq!(q.front(), Some((&b"two"[..], client(2))));
        assert_eq!(q.pop_failed(), Some((3, client(2))));
        assert_eq!(q.front(), Some((&b"four"[..], client(4))));
        let all: Vec<(&[u8], SocketAddr)> = q.pending().collect();
        assert_eq!(all, [(&b"four"[..], client(4))]);
        assert_eq!(q.pop_sent(), Some((4, client(4))));
        assert!(q.is_empty());
        assert_eq!(q.pop_sent(), None);
        let refused = receive(&mut q, b"loop", peer(19));
        assert!(matches!(refused, Admission::Refused(_)), "{refused:?}");
        assert!(q.is_empty(), "a refused datagram is not queued");
        let c = q.counts();
        assert_eq!((c.recv, c.sent, c.dropped, c.refused), (5, 2, 2, 1));
        assert_eq!(c.recv, c.sent + c.dropped + c.refused);
        assert_eq!(
            c.summary().to_string(),
            "summary recv=5 sent=2 dropped=2 refused=1"
        );
    }

    #[test]
    fn echoes_queued_from_a_batch_run_end_to_end_until_the_ring_wraps() {
        let mut q = EchoQueue::new(4);
        assert_eq!(q.push_bytes(b"ab", client(1)), Admission::Queued);
        assert_eq!(q.push_bytes(b"cd", client(1)), Admission::Queued);
        assert_eq!(q.pending_run(2), Some(&b"abcd"[..]));
        assert_eq!((q.pending_run(3), q.pending_run(0)), (None, None));
        // The largest echoes: after four of them, once the first three echoes are
        // sent, the ring has no room at its end for a fifth, which goes at 0.
        let big = vec![7u8; RECV_BUFFER];
        q.push_bytes(&big, client(2));
        q.push_bytes(&big, client(2));
        for _ in 0..3 {
            q.pop_sent();
        }
        for _ in 0..3 {
            assert_eq!(q.push_bytes(&big, client(2)), Admission::Queued);
        }
        assert_eq!(q.pending_run(3).map(<[u8]>::len), Some(3 * RECV_BUFFER));
        assert_eq!(q.pending_run(4), None, "the ring wrapped between them");
        let refused = q.push_bytes(&[], peer(19));
        assert!(matches!(refused, Admission::Refused(_)), "{refused:?}");
        assert_eq!(q.counts().recv, 8);
    }

    #[test]
    fn a_dropped_datagram_does_not_overwrite_a_pending_one() {
        let mut q = EchoQueue::new(1);
        receive(&mut q, b"kept", client(1));
        receive(&mut q, b"XXXXXXXX", client(2));
        assert_eq!(q.front(), Some((&b"kept"[..], client(1))));
    }

    #[test]
    fn the_largest_datagrams_fit_as_many_as_the_queue_holds() {
        let mut q = EchoQueue::new(DEFAULT_QUEUE);
        let big = vec![0xa5; MAX_IPV4_PAYLOAD];
        for i in 0..DEFAULT_QUEUE as u16 {
            assert_eq!(receive(&mut q, &big, client(i)), Admission::Queued);
        }
        assert!(q.pending().all(|(b, _)| b == &big[..]));
        assert_eq!(receive(&mut q, b"x", client(99)), Admission::Dropped);
        assert!(q.recv_buffer().len() >= 65_527, "an IPv6 payload fits too");
    }

    #[test]
    fn a_large_queue_is_bounded_in_bytes_not_only_in_echoes() {
        let mut q = EchoQueue::new(1000);
        assert_eq!(q.byte_limit(), MAX_QUEUE_BYTES);
        let big = vec![7; 60_000];
        let mut queued = 0;
        while receive(&mut q, &big, client(1)) == Admission::Queued {
            queued += 1;
        }
        assert_eq!(queued, MAX_QUEUE_BYTES / 60_000);
        assert!(q.pending_bytes() <= MAX_QUEUE_BYTES);
        // Short datagrams still fit in what is left.
        assert_eq!(receive(&mut q, &[1; 100], client(2)), Admission::Queued);
    }

    /// A small deterministic generator, so the property below needs no crate.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    #[test]
    fn the_byte_bound_is_exact_and_pending_echoes_never_overlap() {
        for capacity in [1, 2, 3, 8, 100] {
            let mut q = EchoQueue::new(capacity);
            let mut rng = Lcg(capacity as u64);
            let mut model: VecDeque<Vec<u8>> = VecDeque::new();
            for step in 0..5_000u32 {
                if rng.below(2) == 0 && !model.is_empty() {
                    let want = model.pop_front().unwrap();
                    assert_eq!(q.front().unwrap().0, &want[..]);
                    q.pop_sent();
                    continue;
                }
                // Mostly short datagrams, some of the largest, some empty.
                let len = match rng.below(10) {
                    0 => 0,
                    1 | 2 => MAX_IPV4_PAYLOAD - rng.below(2000) as usize,
                    _ => rng.below(3000) as usize,
                };
                let bytes = vec![(step % 251) as u8; len];
                let fits = model.len() < capacity && q.pending_bytes() + len <= q.byte_limit();
                let got = receive(&mut q, &bytes, client(1));
                assert_eq!(got == Admission::Queued, fits, "step {step}: len {len}");
                if fits {
                    model.push_back(bytes);
                }
                let mut spans: Vec<(usize, usize)> = (q.pending.iter())
                    .filter(|s| s.len > 0)
                    .map(|s| (s.offset, s.offset + s.len))
                    .collect();
                spans.sort();
                assert!(spans.windows(2).all(|w| w[0].1 <= w[1].0), "overlap");
            }
            let pending: Vec<&[u8]> = q.pending().map(|(b, _)| b).collect();
            let model: Vec<&[u8]> = model.iter().map(Vec::as_slice).collect();
            assert_eq!(pending, model);
        }
    }

    #[test]
    fn the_ring_starts_again_when_the_queue_empties_and_never_moves() {
        let mut q = EchoQueue::new(4);
        let base = q.ring.buf.as_ptr();
        for round in 0..100u16 {
            receive(&mut q, &round.to_be_bytes(), client(round));
            let (bytes, to) = q.front().unwrap();
            assert_eq!((bytes, to), (&round.to_be_bytes()[..], client(round)));
            // Always at the ring's start: only its first page is ever touched.
            assert_eq!(bytes.as_ptr(), base);
            q.pop_sent();
        }
        assert_eq!(q.ring.buf.as_ptr(), base);
        assert_eq!(q.ring.buf.len(), 4 * RECV_BUFFER + RECV_BUFFER);
    }

    #[test]
    fn a_pending_echo_costs_its_bytes_and_a_small_record() {
        const { assert!(SLOT_BYTES <= 48) };
        assert_eq!(queue_bytes(8), 8 * RECV_BUFFER);
        assert_eq!(queue_bytes(65_536), MAX_QUEUE_BYTES);
        assert_eq!(queue_bytes(usize::MAX), MAX_QUEUE_BYTES);
    }

    #[test]
    fn the_loop_rule_refuses_the_ports_below_1024_and_the_servers_own() {
        let named = |port| loop_risk(port, Some(2000)).map(|r| r.to_string());
        assert_eq!(
            named(19).as_deref(),
            Some("source port 19 (chargen) could loop")
        );
        for (port, name) in [(7, "echo"), (13, "daytime"), (37, "time"), (53, "domain")] {
            assert_eq!(
                loop_risk(port, None),
                Some(LoopRisk::Privileged {
                    port,
                    service: Some(name)
                })
            );
        }
        assert_eq!(
            named(0).as_deref(),
            Some("source port 0 (below 1024) could loop")
        );
        assert!(loop_risk(1023, None).is_some());
        assert_eq!(loop_risk(1024, None), None);
        assert_eq!(loop_risk(40_000, Some(2000)), None);
        assert_eq!(
            named(2000).as_deref(),
            Some("source port 2000 (this service's own) could loop")
        );
        assert_eq!(loop_risk(2000, None), None);
    }

    #[test]
    fn the_rule_follows_the_command_line() {
        let spec = crate::cli::Spec::udp_echo("t");
        let parse = |args: &[&str]| match spec.parse(args.iter().copied()).unwrap() {
            crate::cli::Parsed::Run(a) => a,
            crate::cli::Parsed::Help => unreachable!(),
        };
        let local = peer(2000);
        let strict = SourceRule::for_server(&parse(&[]), local);
        assert!(strict.check(peer(7)).is_some());
        assert!(strict.check(peer(2000)).is_some());
        assert!(strict.check(client(1)).is_none());
        let any = SourceRule::for_server(&parse(&["--allow-any-source-port"]), local);
        assert!(any.check(peer(7)).is_none());
        assert!(any.check(peer(2000)).is_none());
        let mut q = EchoQueue::for_server(&parse(&["--allow-any-source-port"]), local);
        assert_eq!(receive(&mut q, b"x", peer(19)), Admission::Queued);
        let ipv6 = SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 19));
        assert!(strict.check(ipv6).is_some());
    }

    #[test]
    fn queue_bytes_are_taken_and_given_back() {
        let bytes = QueueBytes::new(2);
        assert!(bytes.take(RECV_BUFFER));
        assert!(bytes.take(RECV_BUFFER));
        assert!(!bytes.take(1));
        bytes.give_back(RECV_BUFFER);
        assert!(bytes.take(10));
        assert_eq!(bytes.held(), RECV_BUFFER + 10);
    }
}
