//! RFC 862 echo: constants, counts, and the bounded queue of pending echoes.
//!
//! The UDP servers of both eras keep at most `--queue` echoes waiting to be sent. A
//! datagram that arrives while the queue is full is still read (so the kernel buffer
//! keeps moving and reads keep flowing while writes are pending) but is dropped and
//! reported. [`EchoQueue`] is that queue without any I/O: the server receives straight
//! into [`EchoQueue::recv_buffer`], then tells the queue what arrived; it sends from
//! [`EchoQueue::front`] and tells the queue when the send completed. Buffers are
//! allocated on first use and reused, so a busy server does not allocate per datagram.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::event::{emit, Counts, Event, QUEUE_FULL};

/// The port RFC 862 assigns to echo (needs privilege; the programs default to 2000).
pub const RFC862_PORT: u16 = 7;
/// Default port of the UDP programs, as in the originals.
pub const DEFAULT_PORT: u16 = 2000;
/// Default capacity of the outgoing echo queue.
pub const DEFAULT_QUEUE: usize = 8;
/// Largest UDP payload over IPv4: 65,535 − 20 (IP header) − 8 (UDP header).
pub const MAX_IPV4_PAYLOAD: usize = 65_507;
/// Receive buffer size: larger than any UDP payload (IPv6 allows 65,527 without
/// jumbograms), so no datagram is ever truncated. The originals used 1,500 bytes and
/// silently cut longer datagrams; both eras fix that.
pub const RECV_BUFFER: usize = 65_536;

/// What a UDP echo server counts; printed as its summary line at exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoCounts {
    /// Datagrams read from the socket.
    pub recv: u64,
    /// Echoes sent.
    pub sent: u64,
    /// Datagrams read but not echoed (queue full, or the send failed).
    pub dropped: u64,
}

impl EchoCounts {
    /// `summary recv=R sent=S dropped=D`.
    pub fn summary(&self) -> Event {
        Event::Summary(Counts(vec![
            (Cow::Borrowed("recv"), self.recv),
            (Cow::Borrowed("sent"), self.sent),
            (Cow::Borrowed("dropped"), self.dropped),
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

/// Whether a received datagram was queued for its echo or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Queued,
    Dropped,
}

struct Slot {
    buf: Box<[u8]>,
    len: usize,
    peer: SocketAddr,
}

/// A bounded FIFO of echoes waiting to be sent, with the server's counts.
pub struct EchoQueue {
    capacity: usize,
    pending: VecDeque<Slot>,
    /// Buffers of sent echoes, kept for reuse.
    free: Vec<Box<[u8]>>,
    /// Where the next datagram is received: taken from `free` (or allocated) while
    /// the queue has room; when it is full, the datagram lands here and is dropped.
    next: Box<[u8]>,
    counts: EchoCounts,
}

impl EchoQueue {
    /// A queue for at most `capacity` pending echoes (at least one).
    pub fn new(capacity: usize) -> EchoQueue {
        EchoQueue {
            capacity: capacity.max(1),
            pending: VecDeque::with_capacity(capacity.clamp(1, 1024)),
            free: Vec::new(),
            next: new_buffer(),
            counts: EchoCounts::default(),
        }
    }

    /// The buffer to receive the next datagram into ([`RECV_BUFFER`] bytes).
    pub fn recv_buffer(&mut self) -> &mut [u8] {
        &mut self.next
    }

    /// Records that `len` bytes from `peer` were received into
    /// [`recv_buffer`](Self::recv_buffer): queues the echo if there is room.
    pub fn push_received(&mut self, len: usize, peer: SocketAddr) -> Admission {
        self.counts.recv += 1;
        if self.is_full() {
            self.counts.dropped += 1;
            return Admission::Dropped;
        }
        let buf = std::mem::replace(&mut self.next, self.free.pop().unwrap_or_else(new_buffer));
        self.pending.push_back(Slot {
            buf,
            len: len.min(RECV_BUFFER),
            peer,
        });
        Admission::Queued
    }

    /// [`push_received`](Self::push_received), then the event lines every UDP echo
    /// server prints for it (unless `quiet`): `recv N bytes from PEER`, and
    /// `dropped N bytes from PEER: queue full` if the queue had no room.
    pub fn received(&mut self, len: usize, peer: SocketAddr, quiet: bool) -> Admission {
        let admission = self.push_received(len, peer);
        if !quiet {
            emit(&recv_event(len, peer));
            if admission == Admission::Dropped {
                emit(&queue_full_event(len, peer));
            }
        }
        admission
    }

    /// The oldest pending echo: its bytes and where it goes.
    pub fn front(&self) -> Option<(&[u8], SocketAddr)> {
        self.pending.front().map(|s| (&s.buf[..s.len], s.peer))
    }

    /// Every pending echo, oldest first: its bytes and where it goes. For servers that
    /// hand several sends to the kernel at once (an io_uring submission batch, a GSO
    /// send): the bytes stay where they are until [`pop_sent`](Self::pop_sent) or
    /// [`pop_failed`](Self::pop_failed) removes their echo.
    pub fn pending(&self) -> impl Iterator<Item = (&[u8], SocketAddr)> {
        self.pending.iter().map(|s| (&s.buf[..s.len], s.peer))
    }

    /// Removes the oldest pending echo after it was sent; returns its length and peer.
    pub fn pop_sent(&mut self) -> Option<(usize, SocketAddr)> {
        let slot = self.pending.pop_front()?;
        self.counts.sent += 1;
        let done = (slot.len, slot.peer);
        self.free.push(slot.buf);
        Some(done)
    }

    /// Removes the oldest pending echo after its send failed for good.
    pub fn pop_failed(&mut self) -> Option<(usize, SocketAddr)> {
        let slot = self.pending.pop_front()?;
        self.counts.dropped += 1;
        let done = (slot.len, slot.peer);
        self.free.push(slot.buf);
        Some(done)
    }

    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.pending.len() >= self.capacity
    }

    pub fn counts(&self) -> EchoCounts {
        self.counts
    }
}

fn new_buffer() -> Box<[u8]> {
    vec![0; RECV_BUFFER].into_boxed_slice()
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

    fn receive(q: &mut EchoQueue, bytes: &[u8], from: SocketAddr) -> Admission {
        q.recv_buffer()[..bytes.len()].copy_from_slice(bytes);
        q.push_received(bytes.len(), from)
    }

    #[test]
    fn fifo_with_bounded_capacity_and_counts_that_add_up() {
        let mut q = EchoQueue::new(2);
        assert_eq!(receive(&mut q, b"one", peer(1)), Admission::Queued);
        assert_eq!(receive(&mut q, b"two", peer(2)), Admission::Queued);
        assert!(q.is_full());
        assert_eq!(receive(&mut q, b"three", peer(3)), Admission::Dropped);
        assert_eq!(q.front(), Some((&b"one"[..], peer(1))));
        assert_eq!(q.pop_sent(), Some((3, peer(1))));
        assert_eq!(receive(&mut q, b"four", peer(4)), Admission::Queued);
        assert_eq!(q.front(), Some((&b"two"[..], peer(2))));
        assert_eq!(q.pop_failed(), Some((3, peer(2))));
        assert_eq!(q.front(), Some((&b"four"[..], peer(4))));
        let all: Vec<(&[u8], SocketAddr)> = q.pending().collect();
        assert_eq!(all, [(&b"four"[..], peer(4))]);
        assert_eq!(q.pop_sent(), Some((4, peer(4))));
        assert!(q.is_empty());
        assert_eq!(q.pop_sent(), None);
        let c = q.counts();
        assert_eq!((c.recv, c.sent, c.dropped), (4, 2, 2));
        assert_eq!(c.recv, c.sent + c.dropped);
        assert_eq!(c.summary().to_string(), "summary recv=4 sent=2 dropped=2");
    }

    #[test]
    fn a_dropped_datagram_does_not_overwrite_a_pending_one() {
        let mut q = EchoQueue::new(1);
        receive(&mut q, b"kept", peer(1));
        receive(&mut q, b"XXXXXXXX", peer(2));
        assert_eq!(q.front(), Some((&b"kept"[..], peer(1))));
    }

    #[test]
    fn buffers_are_reused_not_reallocated() {
        let mut q = EchoQueue::new(4);
        for round in 0..100u16 {
            receive(&mut q, &round.to_be_bytes(), peer(round));
            let (bytes, to) = q.front().unwrap();
            assert_eq!((bytes, to), (&round.to_be_bytes()[..], peer(round)));
            q.pop_sent();
        }
        // One buffer in `next`, one in `free`: the two that alternate.
        assert_eq!(q.free.len(), 1);
    }

    #[test]
    fn the_largest_datagram_fits() {
        let mut q = EchoQueue::new(1);
        let big = vec![0xa5; MAX_IPV4_PAYLOAD];
        receive(&mut q, &big, peer(9));
        assert_eq!(q.front().unwrap().0.len(), MAX_IPV4_PAYLOAD);
        assert!(q.recv_buffer().len() >= 65_527);
    }
}
