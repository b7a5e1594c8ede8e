//! Target `sock_diag`: one datagram of the kernel's answer to a `NETLINK_SOCK_DIAG`
//! request, which the ident lookup trusts to name the owner of a connection.
//!
//! The input: a first byte whose low bit says whether the request was a dump (or
//! the request for one 4-tuple), four bytes of the request's sequence number
//! (little-endian), then the datagram: any netlink messages, truncated, with bad
//! lengths, unknown types, attributes of any shape.
//!
//! Properties:
//!
//! * `decode` returns, or fails with an error; it never panics.
//! * What it decodes is what a plain reading of the layout finds ([`reference`]):
//!   the messages are walked by the length each header gives, each read within that
//!   length only; the sockets are those of the `SOCK_DIAG_BY_FAMILY` messages of this
//!   request (IPv4 or IPv6), in order, field by field, up to the message that ends
//!   the answer (`NLMSG_DONE`, an error, or the one answer to a 4-tuple request).
//!   `ENOENT` is "no such socket".
//! * The answer to a 4-tuple request names one socket at most.
//! * Bytes after the message that ends the answer change nothing.
//! * The ident answers over the sockets decoded follow RFC 1413 §3
//!   ([`crate::owner`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use shared::ident::sock_diag::{decode, Decoded};
use shared::ident::Connection;

use crate::input::Input;
use crate::owner;

/// Netlink message types and families (`linux/netlink.h`, `linux/sock_diag.h`).
pub const NLMSG_ERROR: u16 = 2;
pub const NLMSG_DONE: u16 = 3;
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
pub const AF_INET: u8 = 2;
pub const AF_INET6: u8 = 10;
/// `ENOENT`.
const NO_ENTRY: i32 = 2;
/// The netlink header: length, type, flags, sequence number, port id.
const HEADER: usize = 16;
/// `struct inet_diag_msg`.
const INET_DIAG_MSG: usize = 72;

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let dump = input.byte() & 1 == 1;
    let seq = input.u32();
    let datagram = input.rest();

    let Ok(decoded) = decode(datagram, seq, dump) else {
        return;
    };
    let expected = reference(datagram, seq, dump);
    assert_eq!(Some(&decoded), expected.as_ref(), "seq {seq}, dump {dump}");
    let sockets = match &decoded {
        Decoded::More(s) | Decoded::Done(s) => s.as_slice(),
        Decoded::NoSuchSocket => &[],
    };
    if !dump {
        assert!(
            sockets.len() <= 1,
            "{} sockets for one 4-tuple",
            sockets.len()
        );
    }
    if matches!(decoded, Decoded::Done(_) | Decoded::NoSuchSocket) {
        let mut longer = datagram.to_vec();
        longer.extend_from_slice(&[0xff; 24]);
        assert_eq!(
            decode(&longer, seq, dump).ok(),
            Some(decoded.clone()),
            "bytes after the end of the answer were read"
        );
    }
    owner::check_table(sockets);
}

/// The answer read plainly. `None` where the walk meets a message it cannot place
/// (a length below the header or past the datagram, or a message of this request
/// that ends the answer and is not whole): `decode` must fail there.
pub fn reference(datagram: &[u8], seq: u32, dump: bool) -> Option<Decoded> {
    let mut found = Vec::new();
    let mut at = 0;
    while at < datagram.len() {
        let header = datagram.get(at..at + HEADER)?;
        let len = u32::from_ne_bytes(header[0..4].try_into().ok()?) as usize;
        if len < HEADER || len > datagram.len() - at {
            return None;
        }
        let message = &datagram[at..at + len];
        at += len.next_multiple_of(4);
        let kind = u16::from_ne_bytes([header[4], header[5]]);
        let message_seq = u32::from_ne_bytes(header[8..12].try_into().ok()?);
        if message_seq != seq {
            continue;
        }
        let payload = &message[HEADER..];
        match kind {
            NLMSG_DONE => return Some(Decoded::Done(found)),
            NLMSG_ERROR => {
                let code = i32::from_ne_bytes(payload.get(0..4)?.try_into().ok()?);
                return match code {
                    0 => Some(Decoded::Done(found)),
                    c if c == -NO_ENTRY => Some(Decoded::NoSuchSocket),
                    _ => None,
                };
            }
            SOCK_DIAG_BY_FAMILY => {
                if let Some(socket) = socket(payload) {
                    found.push(socket);
                    if !dump {
                        return Some(Decoded::Done(found));
                    }
                }
            }
            _ => {}
        }
    }
    Some(Decoded::More(found))
}

/// The socket an `inet_diag_msg` describes (IPv4 or IPv6), read from its bytes.
pub fn socket(msg: &[u8]) -> Option<Connection> {
    let msg = msg.get(..INET_DIAG_MSG)?;
    let port = |at: usize| u16::from_be_bytes([msg[at], msg[at + 1]]);
    let word = |at: usize| u32::from_ne_bytes([msg[at], msg[at + 1], msg[at + 2], msg[at + 3]]);
    let address = |at: usize| -> Option<IpAddr> {
        match msg[0] {
            AF_INET => Some(IpAddr::V4(Ipv4Addr::new(
                msg[at],
                msg[at + 1],
                msg[at + 2],
                msg[at + 3],
            ))),
            AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(&msg[at..at + 16]).ok()?,
            ))),
            _ => None,
        }
    };
    Some(Connection {
        local: SocketAddr::new(address(8)?, port(4)),
        remote: SocketAddr::new(address(24)?, port(6)),
        state: msg[1],
        uid: word(64),
        inode: word(68).into(),
    })
}

/// Building answers as the kernel sends them, for seeds and tests.
pub mod message {
    use super::*;

    /// A netlink message: header (length, `kind`, no flags, `seq`, port id 0) and
    /// payload, padded to 4 bytes.
    pub fn netlink(kind: u16, flags: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let len = (HEADER + payload.len()) as u32;
        let mut out = Vec::new();
        out.extend_from_slice(&len.to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&flags.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(payload);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    /// A netlink attribute (`struct nlattr`), padded to 4 bytes.
    pub fn attribute(kind: u16, value: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + value.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(value);
        out.resize(out.len().next_multiple_of(4), 0);
        out
    }

    /// The `inet_diag_msg` of `c`, followed by `attributes`.
    pub fn inet_diag_msg(c: &Connection, attributes: &[Vec<u8>]) -> Vec<u8> {
        let family = if c.local.is_ipv4() { AF_INET } else { AF_INET6 };
        let mut out = vec![family, c.state, 0, 0];
        out.extend_from_slice(&c.local.port().to_be_bytes());
        out.extend_from_slice(&c.remote.port().to_be_bytes());
        for ip in [c.local.ip(), c.remote.ip()] {
            let mut bytes = [0u8; 16];
            match ip {
                IpAddr::V4(v4) => bytes[..4].copy_from_slice(&v4.octets()),
                IpAddr::V6(v6) => bytes.copy_from_slice(&v6.octets()),
            }
            out.extend_from_slice(&bytes);
        }
        out.extend_from_slice(&0u32.to_ne_bytes()); // interface
        out.extend_from_slice(&[0xff; 8]); // cookie
        for word in [0, 0, 0, c.uid, c.inode as u32] {
            out.extend_from_slice(&word.to_ne_bytes()); // expires, queues, uid, inode
        }
        for a in attributes {
            out.extend_from_slice(a);
        }
        out
    }

    /// What Linux 6 adds to every socket without being asked: `INET_DIAG_SHUTDOWN`
    /// (8), `INET_DIAG_CGROUP_ID` (21), `INET_DIAG_SOCKOPT` (22).
    pub fn usual_attributes() -> Vec<Vec<u8>> {
        vec![
            attribute(8, &[0]),
            attribute(21, &1234u64.to_ne_bytes()),
            attribute(22, &0u16.to_ne_bytes()),
        ]
    }

    /// The answer to a request about one socket.
    pub fn socket(seq: u32, c: &Connection) -> Vec<u8> {
        netlink(
            SOCK_DIAG_BY_FAMILY,
            0,
            seq,
            &inet_diag_msg(c, &usual_attributes()),
        )
    }

    /// The end of a dump.
    pub fn done(seq: u32) -> Vec<u8> {
        netlink(NLMSG_DONE, 2, seq, &0i32.to_ne_bytes())
    }

    /// An error answer with `errno` (the kernel sends it negated), followed by the
    /// header of the request it answers.
    pub fn error(seq: u32, errno: i32) -> Vec<u8> {
        let mut payload = (-errno).to_ne_bytes().to_vec();
        payload.extend_from_slice(&netlink(SOCK_DIAG_BY_FAMILY, 1, seq, &[])[..HEADER]);
        netlink(NLMSG_ERROR, 0, seq, &payload)
    }

    /// A fuzz input: the request's kind and sequence number, then the datagram.
    pub fn input(dump: bool, seq: u32, datagram: &[u8]) -> Vec<u8> {
        let mut out = vec![u8::from(dump)];
        out.extend_from_slice(&seq.to_le_bytes());
        out.extend_from_slice(datagram);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::ident::parse_proc_net_tcp;
    use shared::vectors::ident::{PROC_NET_TCP, PROC_NET_TCP6};

    fn table() -> Vec<Connection> {
        let mut t = parse_proc_net_tcp(PROC_NET_TCP);
        t.extend(parse_proc_net_tcp(PROC_NET_TCP6));
        t
    }

    #[test]
    fn a_dump_reads_back_as_its_sockets() {
        let t = table();
        let mut datagram: Vec<u8> = t.iter().flat_map(|c| message::socket(7, c)).collect();
        assert_eq!(
            decode(&datagram, 7, true).unwrap(),
            Decoded::More(t.clone())
        );
        datagram.extend(message::done(7));
        assert_eq!(
            decode(&datagram, 7, true).unwrap(),
            Decoded::Done(t.clone())
        );
        // Another request's messages are skipped.
        assert_eq!(decode(&datagram, 8, true).unwrap(), Decoded::More(vec![]));
        check(&message::input(true, 7, &datagram));
    }

    #[test]
    fn one_socket_or_no_such_socket() {
        let t = table();
        let answer = message::socket(3, &t[1]);
        assert_eq!(
            decode(&answer, 3, false).unwrap(),
            Decoded::Done(vec![t[1]])
        );
        let none = message::error(3, NO_ENTRY);
        assert_eq!(decode(&none, 3, false).unwrap(), Decoded::NoSuchSocket);
        for datagram in [answer, none] {
            check(&message::input(false, 3, &datagram));
        }
    }

    #[test]
    fn the_reference_reads_the_builders() {
        for c in table() {
            let answer = message::socket(1, &c);
            assert_eq!(reference(&answer, 1, false), Some(Decoded::Done(vec![c])));
        }
    }
}
