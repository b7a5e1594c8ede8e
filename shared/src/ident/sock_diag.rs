//! TCP sockets as the kernel describes them over `NETLINK_SOCK_DIAG` (`inet_diag`, the
//! interface `ss` uses), blocking and without a runtime.
//!
//! Two requests, both answered inside the `send` call (so the answer is already queued
//! when `recv` runs, and the socket can stay non-blocking: a `recv` that would block
//! means the kernel did not answer, never "wait"):
//!
//! * [`SockDiag::exact`] names one 4-tuple; the kernel looks it up in its connection
//!   hash table, as it does for an arriving segment (`inet_lookup`), and answers with
//!   that socket: microseconds, whatever the size of the table.
//! * [`SockDiag::with_ports`] is a dump filtered by the two ports (the kernel skips
//!   every socket whose ports differ before it formats anything): one walk of the
//!   table, without the text `/proc/net/tcp` renders, in the kernel only.
//!
//! Reading an answer is apart from the socket: [`decode`] takes the bytes of one
//! datagram and nothing else, so that it can be tested (and fuzzed) on any bytes.
//!
//! The message layout (`inet_diag_req_v2`, `inet_diag_msg`) comes from the
//! `netlink-packet-sock-diag` crate, the socket from `netlink-sys` (without its async
//! features, so this stays usable from both eras).

use std::io;
use std::net::SocketAddr;

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST,
};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP};
use netlink_packet_sock_diag::inet::{
    ExtensionFlags, InetRequest, InetResponse, SocketId, StateFlags,
};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::protocols::NETLINK_SOCK_DIAG;
use netlink_sys::{Socket, SocketAddr as NetlinkAddr};

use super::Connection;

/// The largest datagram a dump sends: the kernel caps its dump buffers at 32 KiB.
const RECV_BUFFER: usize = 32 * 1024;

/// `INET_DIAG_NOCOOKIE`: "any socket", not one particular incarnation of the 4-tuple.
const NO_COOKIE: [u8; 8] = [0xff; 8];

/// An address family of the TCP table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// IPv4 sockets (`/proc/net/tcp`).
    V4,
    /// IPv6 sockets, including dual-stack ones that carry IPv4-mapped addresses
    /// (`/proc/net/tcp6`).
    V6,
}

impl Family {
    fn af(self) -> u8 {
        match self {
            Family::V4 => AF_INET,
            Family::V6 => AF_INET6,
        }
    }

    fn of(addr: &SocketAddr) -> Family {
        match addr {
            SocketAddr::V4(_) => Family::V4,
            SocketAddr::V6(_) => Family::V6,
        }
    }
}

/// A `NETLINK_SOCK_DIAG` socket. One request at a time: each carries a new sequence
/// number, and an answer with another number (left over from a request that failed
/// half-way) is skipped.
pub struct SockDiag {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl SockDiag {
    /// Opens the socket and checks that the kernel answers TCP requests: an empty
    /// dump (no state asked for, so the kernel walks nothing) must end with
    /// `NLMSG_DONE`. Without the `inet_diag` module the kernel says `ENOENT`, which
    /// for a real request would only mean "no such socket".
    pub fn open() -> io::Result<SockDiag> {
        let socket = Socket::new(NETLINK_SOCK_DIAG)?;
        socket.set_non_blocking(true)?;
        let mut diag = SockDiag {
            socket,
            seq: 0,
            buf: Vec::with_capacity(RECV_BUFFER),
        };
        let mut id = SocketId::new_v4();
        id.cookie = NO_COOKIE;
        match diag.request(Family::V4, id, StateFlags::empty(), true)? {
            Answer::Done(_) => Ok(diag),
            Answer::NoSuchSocket => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the kernel has no inet_diag for TCP",
            )),
        }
    }

    /// The socket whose local end is `local` and remote end `remote`, if there is one
    /// (a hash lookup in the kernel). The kernel falls back to a listener on
    /// `local`'s port, as for an arriving SYN, so the answer may be a LISTEN socket;
    /// a TIME_WAIT or request socket comes back with inode 0.
    pub fn exact(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
    ) -> io::Result<Option<Connection>> {
        if Family::of(&local) != Family::of(&remote) {
            return Ok(None);
        }
        let id = SocketId {
            source_port: local.port(),
            destination_port: remote.port(),
            source_address: local.ip(),
            destination_address: remote.ip(),
            interface_id: 0,
            cookie: NO_COOKIE,
        };
        match self.request(Family::of(&local), id, StateFlags::all(), false)? {
            Answer::Done(mut found) => Ok(found.pop()),
            Answer::NoSuchSocket => Ok(None),
        }
    }

    /// Every non-listening TCP socket of `family` with local port `local_port` and
    /// remote port `remote_port`, whatever its addresses. The kernel walks its whole
    /// table for this (about 0.2 ms of CPU where it has 262,144 buckets), but formats
    /// only the sockets whose ports match.
    pub fn with_ports(
        &mut self,
        family: Family,
        local_port: u16,
        remote_port: u16,
    ) -> io::Result<Vec<Connection>> {
        let mut id = match family {
            Family::V4 => SocketId::new_v4(),
            Family::V6 => SocketId::new_v6(),
        };
        id.source_port = local_port;
        id.destination_port = remote_port;
        id.cookie = NO_COOKIE;
        // Listeners are never an answer (see `find_owner`); leaving them out of the
        // mask spares the kernel the walk of its listening table.
        let states = StateFlags::all() - StateFlags::LISTEN;
        match self.request(family, id, states, true)? {
            Answer::Done(found) => Ok(found),
            // No inet_diag for this family (a kernel without IPv6): no sockets.
            Answer::NoSuchSocket => Ok(Vec::new()),
        }
    }

    fn request(
        &mut self,
        family: Family,
        socket_id: SocketId,
        states: StateFlags,
        dump: bool,
    ) -> io::Result<Answer> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | if dump { NLM_F_DUMP } else { 0 };
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(
            header,
            SockDiagMessage::InetRequest(InetRequest {
                family: family.af(),
                protocol: IPPROTO_TCP,
                extensions: ExtensionFlags::empty(),
                states,
                socket_id,
            })
            .into(),
        );
        packet.finalize();
        let mut out = [0u8; 128];
        let out = out
            .get_mut(..packet.buffer_len())
            .ok_or_else(|| invalid("request larger than expected"))?;
        packet.serialize(out);
        retry_interrupted(|| self.socket.send_to(out, &NetlinkAddr::new(0, 0), 0))?;

        let mut found = Vec::new();
        loop {
            self.buf.clear();
            let len = retry_interrupted(|| self.socket.recv(&mut self.buf, 0)).map_err(|e| {
                if e.kind() == io::ErrorKind::WouldBlock {
                    invalid("the kernel did not answer a sock_diag request")
                } else {
                    e
                }
            })?;
            let datagram = self.buf.get(..len).unwrap_or(&self.buf);
            match decode(datagram, self.seq, dump)? {
                Decoded::More(more) => found.extend(more),
                Decoded::Done(last) => {
                    found.extend(last);
                    return Ok(Answer::Done(found));
                }
                Decoded::NoSuchSocket => return Ok(Answer::NoSuchSocket),
            }
        }
    }
}

/// What one datagram of the kernel's answer to a request says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The sockets this datagram describes; the answer goes on in the next one.
    More(Vec<Connection>),
    /// The sockets that end the answer (none, for the end of a dump).
    Done(Vec<Connection>),
    /// `ENOENT`: no socket has that 4-tuple (or no handler for the family).
    NoSuchSocket,
}

/// Decodes one datagram of the answer to request `seq` (a dump, or the request for
/// one 4-tuple), without I/O: what the kernel sent is read from `datagram` alone, one
/// netlink message after the other (each within the length its header gives, 4-byte
/// aligned), and messages of other requests are skipped.
pub fn decode(datagram: &[u8], seq: u32, dump: bool) -> io::Result<Decoded> {
    let mut found = Vec::new();
    let mut rest = datagram;
    while !rest.is_empty() {
        let message = NetlinkMessage::<SockDiagMessage>::deserialize(rest)
            .map_err(|e| invalid(&format!("sock_diag answer: {e}")))?;
        let size = message.header.length as usize;
        if size == 0 || size > rest.len() {
            return Err(invalid("sock_diag answer with a bad length"));
        }
        // Netlink messages are 4-byte aligned within a datagram.
        rest = rest.get(size.next_multiple_of(4)..).unwrap_or_default();
        if message.header.sequence_number != seq {
            continue;
        }
        match message.payload {
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                found.push(connection(&r));
                // An exact request is answered with one message, no DONE.
                if !dump {
                    return Ok(Decoded::Done(found));
                }
            }
            NetlinkPayload::Done(_) => return Ok(Decoded::Done(found)),
            NetlinkPayload::Error(e) => {
                return match e.code.map(|code| errno(code.get())) {
                    // Code 0 acknowledges the request: nothing more comes.
                    None => Ok(Decoded::Done(found)),
                    Some(Some(e)) if e.kind() == io::ErrorKind::NotFound => {
                        Ok(Decoded::NoSuchSocket)
                    }
                    Some(Some(e)) => Err(e),
                    Some(None) => Err(invalid(
                        "sock_diag error answer with a code that is no errno",
                    )),
                };
            }
            _ => {}
        }
    }
    Ok(Decoded::More(found))
}

/// What the kernel said to one request.
enum Answer {
    /// The sockets it described (none, for an empty dump).
    Done(Vec<Connection>),
    /// `ENOENT`: no socket has that 4-tuple (or no handler for the family).
    NoSuchSocket,
}

fn connection(r: &InetResponse) -> Connection {
    let h = &r.header;
    Connection {
        local: SocketAddr::new(h.socket_id.source_address, h.socket_id.source_port),
        remote: SocketAddr::new(
            h.socket_id.destination_address,
            h.socket_id.destination_port,
        ),
        state: h.state,
        uid: h.uid,
        inode: h.inode.into(),
    }
}

/// The error of an `NLMSG_ERROR` code: the kernel sends `-errno`, errno being in
/// 1..4096. Anything else is no error the kernel sends, and is not read as one:
/// `ErrorMessage::to_io` takes the absolute value, so that `+ENOENT` read as "no such
/// socket", and `i32::MIN` overflowed (a panic where overflow is checked).
fn errno(code: i32) -> Option<io::Error> {
    let errno = code.checked_neg().filter(|e| (1..4096).contains(e))?;
    Some(io::Error::from_raw_os_error(errno))
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// A signal may interrupt a system call on a thread that has a handler without
/// `SA_RESTART`; the request is simply made again.
fn retry_interrupted<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An `NLMSG_ERROR` message of request `seq` with `code` (and no copy of the
    /// request, which the decoder does not read).
    fn error_message(seq: u32, code: i32) -> Vec<u8> {
        let mut m = Vec::new();
        m.extend_from_slice(&20u32.to_ne_bytes());
        m.extend_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        m.extend_from_slice(&0u16.to_ne_bytes());
        m.extend_from_slice(&seq.to_ne_bytes());
        m.extend_from_slice(&0u32.to_ne_bytes());
        m.extend_from_slice(&code.to_ne_bytes());
        m
    }

    #[test]
    fn error_codes() {
        let decoded = |code| decode(&error_message(1, code), 1, false);
        assert_eq!(decoded(-2).unwrap(), Decoded::NoSuchSocket);
        assert_eq!(decoded(-13).unwrap_err().raw_os_error(), Some(13));
        assert_eq!(decoded(0).unwrap(), Decoded::Done(vec![]));
        // Not what the kernel sends: +ENOENT was read as "no such socket", and
        // i32::MIN overflowed taking its absolute value.
        for code in [2, i32::MIN, -4096] {
            assert!(decoded(code).is_err(), "code {code}");
        }
        // Another request's error is skipped.
        assert_eq!(
            decode(&error_message(2, -2), 1, false).unwrap(),
            Decoded::More(vec![])
        );
    }

    #[test]
    fn lengths_past_the_datagram() {
        let mut m = error_message(1, -2);
        assert!(decode(&m[..19], 1, false).is_err(), "cut short");
        m[0] = 21;
        assert!(decode(&m, 1, false).is_err(), "longer than the datagram");
        m[0] = 15;
        assert!(decode(&m, 1, false).is_err(), "shorter than a header");
        assert_eq!(decode(&[], 1, true).unwrap(), Decoded::More(vec![]));
    }
}
