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
            let mut rest = self.buf.get(..len).unwrap_or(&self.buf);
            while !rest.is_empty() {
                let message = NetlinkMessage::<SockDiagMessage>::deserialize(rest)
                    .map_err(|e| invalid(&format!("sock_diag answer: {e}")))?;
                let size = message.header.length as usize;
                if size == 0 || size > rest.len() {
                    return Err(invalid("sock_diag answer with a bad length"));
                }
                // Netlink messages are 4-byte aligned within a datagram.
                rest = rest.get(size.next_multiple_of(4)..).unwrap_or_default();
                if message.header.sequence_number != self.seq {
                    continue;
                }
                match message.payload {
                    NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r)) => {
                        found.push(connection(&r));
                        // An exact request is answered with one message, no DONE.
                        if !dump {
                            return Ok(Answer::Done(found));
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(Answer::Done(found)),
                    NetlinkPayload::Error(e) => {
                        let e = e.to_io();
                        return match e.kind() {
                            io::ErrorKind::NotFound => Ok(Answer::NoSuchSocket),
                            _ => Err(e),
                        };
                    }
                    _ => {}
                }
            }
        }
    }
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
