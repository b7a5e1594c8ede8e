//! Property tests where a generator says more than random bytes: every valid query
//! (any ports, any blanks, leading zeros) round-trips; a stream of query lines cut
//! at any points into reads gives the lines it gives read whole; any `/proc` table,
//! rendered as the kernel prints it, reads back as itself; any event prints to a
//! line that reads back as itself. proptest shrinks a failure to a small case.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;
use shared::event::{Counts, Event, Proto};
use shared::ident::{parse_proc_net_tcp, parse_query, Connection, Query, MAX_LINE};

use fuzz::ident_lines::{read_in_chunks, reference};
use fuzz::proc_net_tcp::render;

/// Blanks as RFC 1413 allows them around each part of a query.
fn blanks() -> impl Strategy<Value = String> {
    "[ \t]{0,3}"
}

proptest! {
    #[test]
    fn any_valid_query_round_trips(
        server in 1u16..,
        client in 1u16..,
        zeros in (0usize..4, 0usize..4),
        around in (blanks(), blanks(), blanks(), blanks()),
    ) {
        let line = format!(
            "{}{}{server}{},{}{}{client}{}",
            around.0, "0".repeat(zeros.0), around.1, around.2, "0".repeat(zeros.1), around.3
        );
        let query = Query { server_port: server, client_port: client };
        prop_assert_eq!(parse_query(line.as_bytes()), Ok(query), "{:?}", line);
        let printed = format!("{server}, {client}");
        prop_assert_eq!(parse_query(printed.as_bytes()), Ok(query));
    }
}

/// One line of a stream: a query, junk, an empty line, or a long run of bytes;
/// ended by CRLF, LF, or (for the last) nothing.
fn stream_line() -> impl Strategy<Value = Vec<u8>> {
    let body = prop_oneof![
        (1u16.., 1u16..).prop_map(|(s, c)| format!("{s}, {c}").into_bytes()),
        proptest::collection::vec(any::<u8>(), 0..20),
        Just(Vec::new()),
        (MAX_LINE - 2..MAX_LINE + 3).prop_map(|n| vec![b'x'; n]),
    ];
    let end = prop_oneof![
        Just(&b"\r\n"[..]),
        Just(&b"\n"[..]),
        Just(&b"\r"[..]),
        Just(&b""[..])
    ];
    (body, end).prop_map(|(mut body, end)| {
        body.extend_from_slice(end);
        body
    })
}

proptest! {
    #[test]
    fn a_stream_cut_anywhere_reads_as_whole(
        lines in proptest::collection::vec(stream_line(), 0..8),
        reads in proptest::collection::vec(1usize..1500, 1..12),
    ) {
        let stream = lines.concat();
        let (whole, _) = read_in_chunks(&stream, &[usize::MAX]);
        let (cut, most) = read_in_chunks(&stream, &reads);
        prop_assert_eq!(&cut, &whole, "reads of {:?}", reads);
        prop_assert_eq!(&whole, &reference(&stream));
        prop_assert!(most <= MAX_LINE + 1);
    }
}

fn connection(v6: bool) -> impl Strategy<Value = Connection> {
    let ip = move || -> BoxedStrategy<IpAddr> {
        if v6 {
            any::<[u8; 16]>()
                .prop_map(|b| IpAddr::V6(Ipv6Addr::from(b)))
                .boxed()
        } else {
            any::<[u8; 4]>()
                .prop_map(|b| IpAddr::V4(Ipv4Addr::from(b)))
                .boxed()
        }
    };
    (
        ip(),
        any::<u16>(),
        ip(),
        any::<u16>(),
        1u8..=12,
        any::<u32>(),
        any::<u32>(),
    )
        .prop_map(|(l, lp, r, rp, state, uid, inode)| Connection {
            local: SocketAddr::new(l, lp),
            remote: SocketAddr::new(r, rp),
            state,
            uid,
            inode: inode.into(),
        })
}

fn table() -> impl Strategy<Value = Vec<Connection>> {
    any::<bool>().prop_flat_map(|v6| proptest::collection::vec(connection(v6), 0..20))
}

proptest! {
    #[test]
    fn any_proc_table_reads_back(table in table()) {
        prop_assert_eq!(parse_proc_net_tcp(&render(&table)), table);
    }
}

fn address() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, port)| SocketAddr::from((ip, port))),
        // A link-local peer carries the interface it came in on.
        (any::<u16>(), any::<u16>(), 1u32..).prop_map(|(host, port, scope)| {
            let ip = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, host);
            SocketAddr::V6(std::net::SocketAddrV6::new(ip, port, 0, scope))
        }),
    ]
}

/// Free text as the programs print it after `: ` (a reason, a reply): one line.
fn text() -> impl Strategy<Value = String> {
    "[^\r\n]{0,40}"
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (any::<bool>(), address()).prop_map(|(udp, addr)| Event::Listening {
            proto: if udp { Proto::Udp } else { Proto::Tcp },
            addr
        }),
        (any::<usize>(), address(), proptest::option::of(address()))
            .prop_map(|(len, from, at)| Event::Recv { len, from, at }),
        (any::<usize>(), address()).prop_map(|(len, to)| Event::Sent { len, to }),
        (any::<usize>(), address(), text()).prop_map(|(len, from, r)| Event::Dropped {
            len,
            from,
            reason: r.into()
        }),
        (any::<usize>(), address(), text()).prop_map(|(len, from, r)| Event::Refused {
            len,
            from,
            reason: r.into()
        }),
        any::<usize>().prop_map(|index| Event::PollFuture { index }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(count, elapsed_ms)| Event::Poll { count, elapsed_ms }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(polls, elapsed_ms)| Event::Done { polls, elapsed_ms }),
        any::<u64>().prop_map(|count| Event::Tick { count }),
        text().prop_map(|t| Event::Step(t.into())),
        address().prop_map(|peer| Event::Accepted { peer }),
        (address(), any::<u64>(), text()).prop_map(|(peer, bytes, r)| Event::Closed {
            peer,
            bytes,
            reason: r.into()
        }),
        (address(), text()).prop_map(|(peer, text)| Event::Reply { peer, text }),
        any::<usize>().prop_map(|task| Event::TaskWoken { task }),
        (any::<usize>(), any::<usize>(), address()).prop_map(|(task, len, from)| Event::TaskRecv {
            task,
            len,
            from
        }),
        any::<u64>().prop_map(|datagrams| Event::ReadInPoll { datagrams }),
        (any::<u64>(), any::<u64>())
            .prop_map(|(count, late_us)| Event::TickLate { count, late_us }),
        proptest::collection::vec(("[a-z_]{1,12}", any::<u64>()), 0..6).prop_map(|pairs| {
            Event::Summary(Counts(
                pairs.into_iter().map(|(k, v)| (k.into(), v)).collect(),
            ))
        }),
    ]
}

proptest! {
    #[test]
    fn any_event_reads_back(event in event()) {
        let line = event.to_string();
        prop_assert!(!line.contains('\n'));
        prop_assert_eq!(line.parse::<Event>(), Ok(event), "{:?}", line);
    }
}
