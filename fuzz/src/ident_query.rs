//! Target `ident_query`: one query line, as a stranger sends it to an ident server
//! (the bytes between line ends: anything, UTF-8 or not).
//!
//! Properties:
//!
//! * `parse_query` agrees with a plain reading of the grammar ([`reference`]):
//!   `port , port` with blanks around each part, each port a decimal number of at
//!   most 19 digits in 1..=65535; the ports of an invalid query are its numbers when
//!   both parts are numbers, else `0, 0`.
//! * A query that parses prints back (`S, C`) to the same query.
//! * Whatever the lookup says (a uid, no connection, a failure), the reply is one
//!   CRLF-ended line that a querier parses back to the same reply, repeating the
//!   query's numbers.

use std::io;
use std::net::{IpAddr, Ipv4Addr};

use shared::ident::{answer_by, parse_query, InvalidQuery, PortPair, Query, Reply};

use crate::ident_reply::assert_wire;

pub fn check(line: &[u8]) {
    let parsed = parse_query(line);
    assert_eq!(parsed, reference(line), "parse_query({line:?})");
    if let Ok(query) = parsed {
        let printed = format!("{}, {}", query.server_port, query.client_port);
        assert_eq!(parse_query(printed.as_bytes()), Ok(query), "{printed:?}");
    }
    let ports = match parsed {
        Ok(query) => PortPair::from(query),
        Err(invalid) => invalid.ports,
    };
    let querier = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let outcomes: [fn() -> io::Result<Option<u32>>; 3] = [
        || Ok(Some(4242)),
        || Ok(None),
        || Err(io::Error::other("no table")),
    ];
    for outcome in outcomes {
        let reply = answer_by(line, querier, |_, _| outcome(), |uid| format!("u{uid}"));
        assert_wire(&reply);
        let (Reply::UserId { ports: p, .. } | Reply::Error { ports: p, .. }) = &reply;
        assert_eq!(*p, ports, "the reply repeats the query's numbers: {reply}");
    }
}

/// The query grammar read plainly: exactly one comma; each side, without its
/// surrounding blanks, 1 to 19 ASCII digits.
pub fn reference(line: &[u8]) -> Result<Query, InvalidQuery> {
    let malformed = InvalidQuery {
        ports: PortPair {
            server: 0,
            client: 0,
        },
    };
    let number = |part: &[u8]| -> Option<u64> {
        let blank = |b: &&u8| **b == b' ' || **b == b'\t';
        let start = part.iter().take_while(blank).count();
        let end = part.len() - part.iter().rev().take_while(blank).count();
        let digits = part.get(start..end)?;
        let ok = (1..=19).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit);
        std::str::from_utf8(digits)
            .ok()?
            .parse()
            .ok()
            .filter(|_| ok)
    };
    let commas: Vec<usize> = (0..line.len()).filter(|&i| line[i] == b',').collect();
    let [comma] = commas[..] else {
        return Err(malformed);
    };
    let (Some(server), Some(client)) = (number(&line[..comma]), number(&line[comma + 1..])) else {
        return Err(malformed);
    };
    let in_range = |n: u64| (1..=65535).contains(&n);
    if in_range(server) && in_range(client) {
        Ok(Query {
            server_port: server as u16,
            client_port: client as u16,
        })
    } else {
        Err(InvalidQuery {
            ports: PortPair { server, client },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vector_holds() {
        for line in shared::vectors::ident::QUERY_LINES {
            check(line);
        }
    }

    #[test]
    fn the_reference_reads_the_grammar() {
        let q = |server_port, client_port| {
            Ok(Query {
                server_port,
                client_port,
            })
        };
        assert_eq!(reference(b" 6193 ,\t23 "), q(6193, 23));
        assert_eq!(reference(b"0000000000000000001,1"), q(1, 1));
        let ports = |server, client| {
            Err(InvalidQuery {
                ports: PortPair { server, client },
            })
        };
        assert_eq!(reference(b"65536, 1"), ports(65536, 1));
        assert_eq!(reference(b"00000000000000000001,1"), ports(0, 0));
        assert_eq!(reference(b"+1, 2"), ports(0, 0));
        assert_eq!(reference(b"1, 2, 3"), ports(0, 0));
    }
}
