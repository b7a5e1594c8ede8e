//! RFC 1413 ident: framing, query parsing, reply formatting, and the lookup of a
//! connection's owner, with no socket I/O (protocol sans I/O).
//!
//! A querier sends `port-on-server , port-on-client` (spaces and tabs allowed around
//! each part, ended by CRLF or LF). The server names the TCP connection on this host
//! whose local port is port-on-server and whose remote end is the *querier's* address
//! at port-on-client, and answers with its owner:
//!
//! ```text
//! 6193, 23 : USERID : UNIX : alice
//! 6193, 23 : ERROR : NO-USER
//! 0, 0 : ERROR : INVALID-PORT
//! ```
//!
//! Only connections between the querier's address and this host are ever reported
//! (RFC 1413 §3): a querier cannot learn who owns a connection to someone else.
//!
//! Every server of both eras uses the same pieces: [`next_line`] splits a byte buffer
//! into lines (with an explicit "incomplete" outcome and a bound on the line length),
//! [`LineBuffer`] holds the bytes a hand-written reader has read until they are whole
//! lines ([`lines`]), [`answer`] turns one line and the querier's address into a
//! [`Reply`], which a querier reads back with `str::parse` ([`reply`]).
//!
//! The owner of a connection is found by one of two lookups, chosen once per process
//! ([`lookup`], `--lookup auto|netlink|proc`): a `NETLINK_SOCK_DIAG` request for the
//! connection's 4-tuple, which the kernel answers from its hash table in
//! microseconds ([`sock_diag`]), or, where netlink is unavailable, the text of
//! `/proc/net/tcp` and `/proc/net/tcp6` ([`parse_proc_net_tcp`], milliseconds a
//! query). Both end in the same rule, [`find_owner`]. The name comes from the text of
//! `/etc/passwd` ([`user_name`]). The parsers and [`answer_with`] do no I/O: the
//! protocol can be tested on byte vectors alone.

pub mod lines;
pub mod lookup;
pub mod reply;
pub mod sock_diag;

pub use lines::{LineBuffer, LineError};

use std::borrow::Cow;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::event::{Counts, Event};

/// The port RFC 1413 assigns to ident (needs privilege; try 1113 without it).
pub const IDENT_PORT: u16 = 113;

/// The longest line a server accepts: bytes before the `\n`, a `\r` included. A
/// longer line ends the connection, without buffering more than this.
pub const MAX_LINE: usize = 1000;

/// The operating system field of a USERID reply.
pub const OPSYS: &str = "UNIX";

/// One step of splitting a receive buffer into lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Line<'a> {
    /// A whole line: its bytes without the line end, and how many bytes of the
    /// buffer it used (line end included).
    Complete { line: &'a [u8], consumed: usize },
    /// No line end yet, and the buffer is still within [`MAX_LINE`]: read more.
    Incomplete,
    /// No line end within [`MAX_LINE`] bytes: the connection should end.
    TooLong,
}

/// Finds the first line of `buf`. A line ends with LF; a CR before it is dropped.
pub fn next_line(buf: &[u8]) -> Line<'_> {
    let window = &buf[..buf.len().min(MAX_LINE + 1)];
    match window.iter().position(|&b| b == b'\n') {
        Some(i) => {
            let line = &buf[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            Line::Complete {
                line,
                consumed: i + 1,
            }
        }
        None if buf.len() > MAX_LINE => Line::TooLong,
        None => Line::Incomplete,
    }
}

/// A well-formed query: both ports in 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    pub server_port: u16,
    pub client_port: u16,
}

/// The port pair a reply repeats: the query's numbers when both parts are decimal
/// numbers (even out of range, such as `65536`), `0, 0` when they are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortPair {
    pub server: u64,
    pub client: u64,
}

impl From<Query> for PortPair {
    fn from(q: Query) -> PortPair {
        PortPair {
            server: q.server_port.into(),
            client: q.client_port.into(),
        }
    }
}

/// The error tokens of RFC 1413 this server uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The query is malformed, or a port is 0 or above 65535.
    InvalidPort,
    /// No connection of the querier matches the pair.
    NoUser,
    /// The lookup itself failed (the connection tables could not be read).
    UnknownError,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidPort => "INVALID-PORT",
            ErrorKind::NoUser => "NO-USER",
            ErrorKind::UnknownError => "UNKNOWN-ERROR",
        }
    }
}

/// A reply line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `S, C : USERID : UNIX : USER`.
    UserId { ports: PortPair, user: String },
    /// `S, C : ERROR : KIND`.
    Error { ports: PortPair, kind: ErrorKind },
}

impl fmt::Display for Reply {
    /// The reply without its line end (as shown on a `reply to` event line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::UserId { ports, user } => write!(
                f,
                "{}, {} : USERID : {OPSYS} : {user}",
                ports.server, ports.client
            ),
            Reply::Error { ports, kind } => write!(
                f,
                "{}, {} : ERROR : {}",
                ports.server,
                ports.client,
                kind.as_str()
            ),
        }
    }
}

impl Reply {
    /// The reply as sent: the line and CRLF.
    pub fn to_wire(&self) -> String {
        format!("{self}\r\n")
    }
}

/// A query that is not well formed; the reply is INVALID-PORT with `ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidQuery {
    pub ports: PortPair,
}

impl InvalidQuery {
    pub fn reply(self) -> Reply {
        Reply::Error {
            ports: self.ports,
            kind: ErrorKind::InvalidPort,
        }
    }
}

fn trim(part: &[u8]) -> &[u8] {
    let blank = |b: &u8| *b == b' ' || *b == b'\t';
    let start = part.iter().position(|b| !blank(b)).unwrap_or(part.len());
    let end = part
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &part[start..end]
}

/// A decimal number of at most 19 digits (so that it fits in a u64).
fn decimal(part: &[u8]) -> Option<u64> {
    if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(part.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0')))
}

/// Parses one line (without its line end) as `port-on-server , port-on-client`.
/// Works on bytes: a line that is not UTF-8 is simply malformed.
pub fn parse_query(line: &[u8]) -> Result<Query, InvalidQuery> {
    let malformed = InvalidQuery {
        ports: PortPair {
            server: 0,
            client: 0,
        },
    };
    let mut parts = line.split(|&b| b == b',');
    let (Some(server), Some(client), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(malformed);
    };
    let (Some(server), Some(client)) = (decimal(trim(server)), decimal(trim(client))) else {
        return Err(malformed);
    };
    let port = |n: u64| u16::try_from(n).ok().filter(|p| *p != 0);
    match (port(server), port(client)) {
        (Some(server_port), Some(client_port)) => Ok(Query {
            server_port,
            client_port,
        }),
        _ => Err(InvalidQuery {
            ports: PortPair { server, client },
        }),
    }
}

/// TCP states as `/proc/net/tcp` numbers them (`include/net/tcp_states.h`).
const TCP_LISTEN: u8 = 0x0A;

/// One row of `/proc/net/tcp` or `/proc/net/tcp6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    pub local: SocketAddr,
    pub remote: SocketAddr,
    /// Kernel TCP state (1 = ESTABLISHED, 10 = LISTEN, 6 = TIME_WAIT, …).
    pub state: u8,
    pub uid: u32,
    /// Inode of the socket; 0 once no file descriptor owns it (TIME_WAIT, orphans).
    pub inode: u64,
}

/// `/proc/net/tcp*` prints each 32-bit word of an address as the hex of the word
/// read in host byte order: the bytes in memory are the address in network order.
fn word(hex: &str) -> Option<[u8; 4]> {
    Some(
        u32::from_str_radix(digits(hex, 16)?, 16)
            .ok()?
            .to_ne_bytes(),
    )
}

/// `field` if it is nothing but digits of `radix`. `from_str_radix` and `parse`
/// also take a leading `+`, which the kernel never prints: a row carrying one is
/// not a row of the table.
fn digits(field: &str, radix: u32) -> Option<&str> {
    (!field.is_empty() && field.chars().all(|c| c.is_digit(radix))).then_some(field)
}

fn proc_addr(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::from_str_radix(digits(port, 16)?, 16).ok()?;
    let ip = match ip.len() {
        8 => IpAddr::V4(Ipv4Addr::from(word(ip)?)),
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_mut(4).enumerate() {
                chunk.copy_from_slice(&word(ip.get(i * 8..i * 8 + 8)?)?);
            }
            IpAddr::V6(Ipv6Addr::from(bytes))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// Parses the text of `/proc/net/tcp` or `/proc/net/tcp6` (the header line and any
/// row that does not parse are skipped). Addresses are read in this host's byte
/// order, as the kernel prints them.
pub fn parse_proc_net_tcp(table: &str) -> Vec<Connection> {
    table
        .lines()
        .filter_map(|row| {
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode …
            let f: Vec<&str> = row.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            Some(Connection {
                local: proc_addr(f[1])?,
                remote: proc_addr(f[2])?,
                state: u8::from_str_radix(digits(f[3], 16)?, 16).ok()?,
                uid: digits(f[7], 10)?.parse().ok()?,
                inode: digits(f[9], 10)?.parse().ok()?,
            })
        })
        .collect()
}

/// An IPv4 address seen through an IPv6 socket (`::ffff:a.b.c.d`) is that IPv4
/// address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

/// The uid owning the connection `query` names for a querier at `querier`: local
/// port = port-on-server (on any local address), remote = querier's address at
/// port-on-client, still owned by a file descriptor, not a listening socket.
/// Connections with any other remote address are never considered (RFC 1413 §3).
/// Both lookups end here, whatever their source (`/proc` rows or sock_diag answers):
/// TIME_WAIT, request (SYN_RECV) and orphaned sockets have inode 0 in both, and are
/// NO-USER; every other state is reported while a descriptor owns the socket.
pub fn find_owner(connections: &[Connection], query: Query, querier: IpAddr) -> Option<u32> {
    let querier = canonical(querier);
    connections
        .iter()
        .find(|c| {
            c.local.port() == query.server_port
                && c.remote.port() == query.client_port
                && canonical(c.remote.ip()) == querier
                && c.state != TCP_LISTEN
                && c.inode != 0
        })
        .map(|c| c.uid)
}

/// The name of `uid` in the text of `/etc/passwd`, if it has one that a reply can
/// carry: a name with a NUL, a CR or a leading blank (or an empty one) is no name,
/// and the reply gives the uid instead. Sent as it is, a NUL or CR is outside the
/// RFC's user id and a querier could read the line as another user (or as two
/// lines); a leading blank is read as part of the separator.
pub fn user_name(passwd: &str, uid: u32) -> Option<&str> {
    passwd.lines().find_map(|entry| {
        let mut f = entry.split(':');
        let (name, _, id) = (f.next()?, f.next()?, f.next()?);
        (id.parse() == Ok(uid) && reply::is_user_id(name)).then_some(name)
    })
}

/// Reads `/proc/net/tcp` and `/proc/net/tcp6` (a host without IPv6 has no tcp6).
pub fn read_connections() -> io::Result<Vec<Connection>> {
    let mut all = parse_proc_net_tcp(&std::fs::read_to_string("/proc/net/tcp")?);
    match std::fs::read_to_string("/proc/net/tcp6") {
        Ok(text) => all.extend(parse_proc_net_tcp(&text)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(all)
}

/// The user name of `uid` from `/etc/passwd`, or the number when it has none.
pub fn lookup_user(uid: u32) -> String {
    std::fs::read_to_string("/etc/passwd")
        .ok()
        .and_then(|p| user_name(&p, uid).map(str::to_string))
        .unwrap_or_else(|| uid.to_string())
}

/// Answers a query given a way to find the owner of a connection (`Ok(None)`: no
/// such connection; `Err`: the lookup failed) and a way to name a uid.
pub fn answer_by(
    line: &[u8],
    querier: IpAddr,
    owner: impl FnOnce(Query, IpAddr) -> io::Result<Option<u32>>,
    user: impl FnOnce(u32) -> String,
) -> Reply {
    let query = match parse_query(line) {
        Ok(q) => q,
        Err(invalid) => return invalid.reply(),
    };
    let kind = match owner(query, querier) {
        Ok(Some(uid)) => {
            return Reply::UserId {
                ports: query.into(),
                user: user(uid),
            }
        }
        Ok(None) => ErrorKind::NoUser,
        Err(_) => ErrorKind::UnknownError,
    };
    Reply::Error {
        ports: query.into(),
        kind,
    }
}

/// Answers a query given the connection table and the passwd text: the whole
/// protocol, without I/O.
pub fn answer_with(
    line: &[u8],
    querier: IpAddr,
    connections: &[Connection],
    user: impl FnOnce(u32) -> String,
) -> Reply {
    answer_by(
        line,
        querier,
        |query, querier| Ok(find_owner(connections, query, querier)),
        user,
    )
}

/// Answers one query line from a querier at `querier`, with this process's lookup
/// ([`lookup::owner`]) and `/etc/passwd`. With netlink this takes microseconds; with
/// `/proc` about 10 ms of CPU, during which the calling thread does nothing else —
/// an event loop that calls it serves no other connection meanwhile (ident-pool
/// moves the call to a thread pool).
pub fn answer(line: &[u8], querier: IpAddr) -> Reply {
    answer_by(line, querier, lookup::owner, lookup_user)
}

/// Why an ident connection ended, as printed on its `closed` line.
pub mod reason {
    pub const EOF: &str = "eof";
    pub const IDLE: &str = "idle timeout";
    pub const TOO_LONG: &str = "line too long";
    pub const INVALID_UTF8: &str = "invalid utf-8";
    pub const SHUTDOWN: &str = "shutdown";
}

/// `accepted from PEER`.
pub fn accepted_event(peer: SocketAddr) -> Event {
    Event::Accepted { peer }
}

/// `reply to PEER: TEXT`.
pub fn reply_event(peer: SocketAddr, reply: &Reply) -> Event {
    Event::Reply {
        peer,
        text: reply.to_string(),
    }
}

/// `closed PEER after N bytes: REASON`, N being the reply bytes sent.
pub fn closed_event(peer: SocketAddr, bytes: u64, reason: impl Into<Cow<'static, str>>) -> Event {
    Event::Closed {
        peer,
        bytes,
        reason: reason.into(),
    }
}

/// What an ident server counts; printed as its summary line at exit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IdentCounts {
    pub accepted: u64,
    pub closed: u64,
    pub queries: u64,
    /// Times accepting paused for lack of resources: one per episode
    /// ([`crate::accept::AcceptPolicy`]).
    pub accept_pauses: u64,
}

impl IdentCounts {
    /// `summary accepted=A closed=C queries=Q accept_pauses=P`.
    pub fn summary(&self) -> Event {
        Event::Summary(Counts(vec![
            (Cow::Borrowed("accepted"), self.accepted),
            (Cow::Borrowed("closed"), self.closed),
            (Cow::Borrowed("queries"), self.queries),
            (Cow::Borrowed("accept_pauses"), self.accept_pauses),
        ]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: u16, c: u16) -> Query {
        Query {
            server_port: s,
            client_port: c,
        }
    }

    #[test]
    fn lines_complete_incomplete_and_too_long() {
        assert_eq!(
            next_line(b"6193, 23\r\nrest"),
            Line::Complete {
                line: b"6193, 23",
                consumed: 10
            }
        );
        assert_eq!(
            next_line(b"6193, 23\n"),
            Line::Complete {
                line: b"6193, 23",
                consumed: 9
            }
        );
        assert_eq!(next_line(b""), Line::Incomplete);
        assert_eq!(next_line(b"6193, "), Line::Incomplete);
        assert_eq!(next_line(b"6193, 23\r"), Line::Incomplete);
        // Exactly MAX_LINE bytes before the LF is accepted, one more is not.
        let mut ok = vec![b'x'; MAX_LINE];
        ok.push(b'\n');
        assert!(
            matches!(next_line(&ok), Line::Complete { consumed, .. } if consumed == MAX_LINE + 1)
        );
        let mut long = vec![b'x'; MAX_LINE + 1];
        assert_eq!(next_line(&long), Line::TooLong);
        long.push(b'\n');
        assert_eq!(next_line(&long), Line::TooLong);
        assert_eq!(next_line(&vec![b'x'; MAX_LINE]), Line::Incomplete);
    }

    #[test]
    fn queries_with_blanks_around_each_part() {
        assert_eq!(parse_query(b"6193, 23"), Ok(q(6193, 23)));
        assert_eq!(parse_query(b"6193,23"), Ok(q(6193, 23)));
        assert_eq!(parse_query(b" \t6193 \t,\t 23 \t"), Ok(q(6193, 23)));
        assert_eq!(parse_query(b"65535, 1"), Ok(q(65535, 1)));
    }

    #[test]
    fn invalid_ports() {
        let invalid = |s, c| {
            Err(InvalidQuery {
                ports: PortPair {
                    server: s,
                    client: c,
                },
            })
        };
        assert_eq!(parse_query(b"0, 23"), invalid(0, 23));
        assert_eq!(parse_query(b"65536, 23"), invalid(65536, 23));
        assert_eq!(parse_query(b"23, 0"), invalid(23, 0));
        for bad in [
            &b"abc, def"[..],
            b"6193 23",
            b"6193",
            b"",
            b",",
            b"1, 2, 3",
            b"-1, 2",
            b"+1, 2",
            b"1 2, 3",
            b"99999999999999999999, 1",
            b"\xff\xfe, 1",
            b"6193, 23\r",
        ] {
            assert_eq!(parse_query(bad), invalid(0, 0), "{bad:?}");
        }
    }

    #[test]
    fn reply_formats() {
        let ports = PortPair {
            server: 6193,
            client: 23,
        };
        let user = Reply::UserId {
            ports,
            user: "alice".into(),
        };
        assert_eq!(user.to_wire(), "6193, 23 : USERID : UNIX : alice\r\n");
        for (kind, text) in [
            (ErrorKind::NoUser, "6193, 23 : ERROR : NO-USER"),
            (ErrorKind::InvalidPort, "6193, 23 : ERROR : INVALID-PORT"),
            (ErrorKind::UnknownError, "6193, 23 : ERROR : UNKNOWN-ERROR"),
        ] {
            assert_eq!(Reply::Error { ports, kind }.to_string(), text);
        }
        assert_eq!(
            parse_query(b"x").unwrap_err().reply().to_string(),
            "0, 0 : ERROR : INVALID-PORT"
        );
    }

    // Rows as a little-endian x86-64 kernel prints them.
    use crate::vectors::ident::{PASSWD, PROC_NET_TCP as TCP, PROC_NET_TCP6 as TCP6};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn proc_tables_parse() {
        let t = parse_proc_net_tcp(TCP);
        assert_eq!(t.len(), 5);
        assert_eq!(t[0].local, "127.0.0.1:1113".parse().unwrap());
        assert_eq!(t[0].state, TCP_LISTEN);
        assert_eq!(t[1].local, "127.0.0.3:6193".parse().unwrap());
        assert_eq!(t[1].remote, "127.0.0.1:23".parse().unwrap());
        assert_eq!((t[1].uid, t[1].inode, t[1].state), (1000, 1002, 1));
        let t6 = parse_proc_net_tcp(TCP6);
        assert_eq!(t6.len(), 2);
        assert_eq!(t6[0].local, "[::1]:6195".parse().unwrap());
        assert_eq!(t6[0].remote, "[::1]:26".parse().unwrap());
        assert_eq!(t6[1].remote, "[::ffff:127.0.0.1]:27".parse().unwrap());
    }

    /// Found by fuzzing (`fuzz/regressions/proc_net_tcp/`): a `+` before a hex or
    /// decimal field was read as if the kernel had printed the number.
    #[test]
    fn rows_the_kernel_never_prints_are_skipped() {
        let row = "   1: 0300007F:1831 0100007F:0017 01 00000000:00000000 00:00000000 00000000  1000        0 1002 1";
        assert_eq!(parse_proc_net_tcp(row).len(), 1);
        for (from, to) in [
            (":1831", ":+831"),
            ("0300007F", "+300007F"),
            (" 01 ", " +1 "),
            (" 1000 ", " +1000 "),
            (" 1002 ", " +1002 "),
            (" 1002 ", " -1002 "),
        ] {
            let bad = row.replacen(from, to, 1);
            assert_eq!(parse_proc_net_tcp(&bad), [], "{bad}");
        }
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn only_the_queriers_connections_are_reported() {
        let mut t = parse_proc_net_tcp(TCP);
        t.extend(parse_proc_net_tcp(TCP6));
        let me = ip("127.0.0.1");
        assert_eq!(find_owner(&t, q(6193, 23), me), Some(1000));
        // The reversed pair names the other end, whose remote is 127.0.0.3.
        assert_eq!(find_owner(&t, q(23, 6193), me), None);
        assert_eq!(find_owner(&t, q(23, 6193), ip("127.0.0.3")), Some(1001));
        // A connection between 127.0.0.3 and 127.0.0.2 is not 127.0.0.1's business.
        assert_eq!(find_owner(&t, q(6194, 24), me), None);
        assert_eq!(find_owner(&t, q(6194, 24), ip("127.0.0.2")), Some(1002));
        // TIME_WAIT (inode 0) is no longer owned; LISTEN is not a connection.
        assert_eq!(find_owner(&t, q(6195, 25), me), None);
        assert_eq!(find_owner(&t, q(1113, 0), ip("0.0.0.0")), None);
        // IPv6, and an IPv4 querier seen through an IPv6 socket.
        assert_eq!(find_owner(&t, q(6195, 26), ip("::1")), Some(1000));
        assert_eq!(find_owner(&t, q(6195, 26), me), None);
        assert_eq!(find_owner(&t, q(6196, 27), me), Some(1003));
        assert_eq!(
            find_owner(&t, q(6196, 27), ip("::ffff:127.0.0.1")),
            Some(1003)
        );
    }

    #[test]
    fn user_names_from_passwd() {
        assert_eq!(user_name(PASSWD, 0), Some("root"));
        assert_eq!(user_name(PASSWD, 1000), Some("alice"));
        assert_eq!(user_name(PASSWD, 1005), None);
        assert_eq!(user_name(PASSWD, 4242), None);
    }

    /// Found by fuzzing (`fuzz/regressions/ident_reply/`): the name of an entry went
    /// out as it was, a NUL in it included.
    #[test]
    fn names_a_reply_cannot_carry_are_no_names() {
        for passwd in ["\0::0", "al\rice:x:0:", " alice:x:0:", "\talice:x:0"] {
            assert_eq!(user_name(passwd, 0), None, "{passwd:?}");
        }
        assert_eq!(user_name(" bad:x:7:\ngood:x:7:", 7), Some("good"));
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn answers_end_to_end() {
        let t = parse_proc_net_tcp(TCP);
        let name = |uid| {
            user_name(PASSWD, uid)
                .map(str::to_string)
                .unwrap_or_else(|| uid.to_string())
        };
        let me = ip("127.0.0.1");
        let a = |line: &[u8]| answer_with(line, me, &t, name).to_string();
        assert_eq!(a(b"6193 , 23"), "6193, 23 : USERID : UNIX : alice");
        assert_eq!(a(b"23,6193"), "23, 6193 : ERROR : NO-USER");
        assert_eq!(a(b"65536, 23"), "65536, 23 : ERROR : INVALID-PORT");
        assert_eq!(a(b"abc, def"), "0, 0 : ERROR : INVALID-PORT");
        // A uid without a name is reported as the number.
        let answer = answer_with(b"23, 6193", ip("127.0.0.3"), &t, |uid| {
            match user_name(PASSWD, uid) {
                Some(n) => n.to_string(),
                None => uid.to_string(),
            }
        });
        assert_eq!(answer.to_string(), "23, 6193 : USERID : UNIX : 1001");
    }

    #[test]
    fn lookup_outcomes_become_replies() {
        let me = ip("127.0.0.1");
        let reply = |line: &[u8], found: io::Result<Option<u32>>| {
            answer_by(line, me, |_, _| found, |uid| format!("u{uid}")).to_string()
        };
        assert_eq!(
            reply(b"6193, 23", Ok(Some(7))),
            "6193, 23 : USERID : UNIX : u7"
        );
        assert_eq!(reply(b"6193, 23", Ok(None)), "6193, 23 : ERROR : NO-USER");
        assert_eq!(
            reply(b"6193, 23", Err(io::Error::other("no table"))),
            "6193, 23 : ERROR : UNKNOWN-ERROR"
        );
        // A malformed query never reaches the lookup.
        let invalid = answer_by(
            b"6193, 0",
            me,
            |_, _| unreachable!("looked up an invalid query"),
            |uid| uid.to_string(),
        );
        assert_eq!(invalid.to_string(), "6193, 0 : ERROR : INVALID-PORT");
    }

    /// Peers send anything: arbitrary bytes never make the parser panic, and every
    /// line they form gets a reply that is one line of the RFC's grammar.
    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"0123456789 ,\t\r\n:abc\xff\x00-+";
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    let r = next();
                    if r % 4 == 0 {
                        (r >> 8) as u8
                    } else {
                        alphabet[(r >> 8) as usize % alphabet.len()]
                    }
                })
                .collect();
            let mut rest = &buf[..];
            while let Line::Complete { line, consumed } = next_line(rest) {
                let reply = answer_with(line, ip("127.0.0.1"), &[], |uid| uid.to_string());
                let wire = reply.to_wire();
                assert!(
                    wire.ends_with("\r\n") && !wire[..wire.len() - 2].contains('\n'),
                    "{wire:?}"
                );
                rest = &rest[consumed..];
            }
        }
    }

    #[test]
    fn summary_line() {
        let c = IdentCounts {
            accepted: 3,
            closed: 3,
            queries: 7,
            accept_pauses: 1,
        };
        assert_eq!(
            c.summary().to_string(),
            "summary accepted=3 closed=3 queries=7 accept_pauses=1"
        );
    }
}
