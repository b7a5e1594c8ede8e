//! The seed inputs of each target, built from `shared`'s test vectors
//! (`shared::vectors`): where the fuzzer's search starts. `cargo run -p fuzz
//! --example write_seeds` writes them into `corpus/TARGET/seed-NAME`, and the replay
//! test runs them from here as well, so a seed is checked even once the corpus has
//! been minimised without it.

use std::net::IpAddr;

use shared::ident::{answer_with, parse_proc_net_tcp, user_name, Connection, MAX_LINE};
use shared::vectors::{cli, events, ident};

use crate::sock_diag::message;

type Seeds = Vec<(String, Vec<u8>)>;

fn named<T: AsRef<[u8]>>(prefix: &str, items: impl IntoIterator<Item = T>) -> Seeds {
    items
        .into_iter()
        .enumerate()
        .map(|(i, bytes)| (format!("{prefix}-{i:02}"), bytes.as_ref().to_vec()))
        .collect()
}

pub fn ident_query() -> Seeds {
    named("query", ident::QUERY_LINES)
}

/// Each stream read whole, and cut into reads of 3, 1 and 2 bytes; the longest line
/// and one byte more.
pub fn ident_lines() -> Seeds {
    let mut inputs: Vec<Vec<u8>> = Vec::new();
    for stream in ident::STREAMS {
        for reads in [&[][..], &[3, 1, 2]] {
            let mut input = vec![reads.len() as u8];
            input.extend_from_slice(reads);
            input.extend_from_slice(stream);
            inputs.push(input);
        }
    }
    for len in [MAX_LINE, MAX_LINE + 1] {
        let mut input = vec![1, 200];
        input.extend(ident::long_line(len));
        inputs.push(input);
    }
    named("stream", inputs)
}

fn table() -> Vec<Connection> {
    let mut table = parse_proc_net_tcp(ident::PROC_NET_TCP);
    table.extend(parse_proc_net_tcp(ident::PROC_NET_TCP6));
    table
}

/// The replies to the query vectors over the `/proc` vectors, named from the passwd
/// vector; and the passwd text itself.
pub fn ident_reply() -> Seeds {
    let table = table();
    let name = |uid| user_name(ident::PASSWD, uid).map_or_else(|| uid.to_string(), String::from);
    let queriers: [IpAddr; 2] = ["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()];
    let mut replies: Vec<String> = Vec::new();
    for line in
        ident::QUERY_LINES
            .iter()
            .copied()
            .chain([&b"6193, 23"[..], b"23, 6193", b"6195, 26"])
    {
        for querier in queriers {
            let reply = answer_with(line, querier, &table, name).to_string();
            if !replies.contains(&reply) {
                replies.push(reply);
            }
        }
    }
    let mut seeds = named("reply", replies);
    seeds.push(("passwd".into(), ident::PASSWD.as_bytes().to_vec()));
    seeds
}

pub fn proc_net_tcp() -> Seeds {
    vec![
        ("tcp".into(), ident::PROC_NET_TCP.as_bytes().to_vec()),
        ("tcp6".into(), ident::PROC_NET_TCP6.as_bytes().to_vec()),
    ]
}

/// The connections of the `/proc` vectors as the kernel answers them: a dump (its
/// sockets and DONE), the answer about one socket, "no such socket", and a dump of
/// two datagrams' worth cut before its end.
pub fn sock_diag() -> Seeds {
    let table = table();
    let dump: Vec<u8> = table
        .iter()
        .flat_map(|c| message::socket(7, c))
        .chain(message::done(7))
        .collect();
    let first_half: Vec<u8> = table[..3]
        .iter()
        .flat_map(|c| message::socket(7, c))
        .collect();
    vec![
        ("dump".into(), message::input(true, 7, &dump)),
        ("dump-part".into(), message::input(true, 7, &first_half)),
        (
            "one".into(),
            message::input(false, 3, &message::socket(3, &table[1])),
        ),
        (
            "none".into(),
            message::input(false, 3, &message::error(3, 2)),
        ),
        ("other-seq".into(), message::input(true, 8, &dump)),
    ]
}

pub fn event_line() -> Seeds {
    let mut seeds = named("line", events::LINES);
    seeds.extend(named("not-line", events::NOT_LINES));
    seeds
}

pub fn cli_args() -> Seeds {
    named(
        "args",
        cli::COMMAND_LINES.iter().map(|line| line.join("\0")),
    )
}
