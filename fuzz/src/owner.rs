//! The ident answer over a decoded connection table (from `/proc/net/tcp*` or from
//! sock_diag), checked against RFC 1413 §3 written plainly: a reply names a user
//! only for a connection the table holds, whose local port is the query's server
//! port, whose remote end is the querier's address at the query's client port, not
//! a listener, still owned by a descriptor (inode ≠ 0); the first such connection,
//! so one user at most, and the same one every time.

use std::net::{IpAddr, Ipv6Addr};

use shared::ident::{answer_with, find_owner, Connection, ErrorKind, PortPair, Query, Reply};

use crate::ident_reply::assert_wire;

/// `LISTEN` as the kernel numbers TCP states.
const LISTEN: u8 = 0x0A;

/// An address as IPv6 (an IPv4 address as `::ffff:a.b.c.d`): the same host either way.
fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// The connection a query names for a querier, by the rule above.
pub fn reference(table: &[Connection], query: Query, querier: IpAddr) -> Option<&Connection> {
    table.iter().find(|c| {
        c.local.port() == query.server_port
            && c.remote.port() == query.client_port
            && as_v6(c.remote.ip()) == as_v6(querier)
            && c.state != LISTEN
            && c.inode != 0
    })
}

/// Checks the lookup and the whole answer of `query` from `querier` over `table`.
pub fn check(table: &[Connection], query: Query, querier: IpAddr) {
    let expected = reference(table, query, querier);
    let found = find_owner(table, query, querier);
    assert_eq!(
        found,
        expected.map(|c| c.uid),
        "owner of {query:?} for {querier} in {table:?}"
    );
    let line = format!("{}, {}", query.server_port, query.client_port);
    let reply = answer_with(line.as_bytes(), querier, table, |uid| format!("u{uid}"));
    let ports = PortPair::from(query);
    let want = match expected {
        Some(c) => Reply::UserId {
            ports,
            user: format!("u{}", c.uid),
        },
        None => Reply::Error {
            ports,
            kind: ErrorKind::NoUser,
        },
    };
    assert_eq!(reply, want, "answer to {line:?} from {querier}");
    assert_wire(&reply);
}

/// Checks the queries a table suggests: for each connection, the query about it from
/// its remote address (the querier it belongs to), from the local address, and from
/// an address of the other family; and the reversed pair.
pub fn check_table(table: &[Connection]) {
    for c in table.iter().take(16) {
        let (Some(server_port), Some(client_port)) =
            (nonzero(c.local.port()), nonzero(c.remote.port()))
        else {
            continue;
        };
        let query = Query {
            server_port,
            client_port,
        };
        let reversed = Query {
            server_port: client_port,
            client_port: server_port,
        };
        let other_family = match c.remote.ip() {
            IpAddr::V4(v4) => IpAddr::V6(v4.to_ipv6_mapped()),
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        };
        for querier in [c.remote.ip(), c.local.ip(), other_family] {
            check(table, query, querier);
            check(table, reversed, querier);
        }
    }
}

fn nonzero(port: u16) -> Option<u16> {
    (port != 0).then_some(port)
}
