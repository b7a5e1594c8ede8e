//! The properties the fuzz targets check, one module per parser: what strangers send
//! a server (an ident query stream, a command line), what the kernel answers the
//! ident lookup (`/proc/net/tcp*`, `NETLINK_SOCK_DIAG`), and what the programs print
//! for the suite (event lines) and an ident querier reads (reply lines).
//!
//! Each module's `check` takes the fuzzer's bytes and panics when a property fails:
//! that is what libFuzzer reports as a crash. The same functions run everywhere:
//!
//! * `cargo +nightly fuzz run TARGET` (fuzz_targets/, libFuzzer, nightly);
//! * `cargo test -p fuzz` on stable: tests/replay.rs runs every file of
//!   `corpus/TARGET/` and `regressions/TARGET/` through its target's `check`, so
//!   that a finding stays fixed;
//! * `cargo run -p fuzz --bin TARGET -- FILE…` on stable replays chosen files.
//!
//! The properties are more than "no panic": a query that parses prints back to the
//! same query; a reply names a user only for a connection the table holds, that
//! fits the rule of RFC 1413 §3; a decoder reads each message within the length it
//! was given and agrees with a plain reading of the layout; a stream cut anywhere
//! into reads gives the lines it gives read whole.

pub mod cli_args;
pub mod event_line;
pub mod ident_lines;
pub mod ident_query;
pub mod ident_reply;
pub mod input;
pub mod owner;
pub mod proc_net_tcp;
pub mod runs;
pub mod seeds;
pub mod sock_diag;

use std::path::Path;

/// One fuzz target: its name (a file of `fuzz_targets/` and a directory of
/// `corpus/` and `regressions/`), its property, and its seeds.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub check: fn(&[u8]),
    /// The seed inputs, built from `shared`'s test vectors: (file name, bytes).
    pub seeds: fn() -> Vec<(String, Vec<u8>)>,
}

/// Every target, in the order the book lists them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "ident_query",
        check: ident_query::check,
        seeds: seeds::ident_query,
    },
    Target {
        name: "ident_lines",
        check: ident_lines::check,
        seeds: seeds::ident_lines,
    },
    Target {
        name: "ident_reply",
        check: ident_reply::check,
        seeds: seeds::ident_reply,
    },
    Target {
        name: "proc_net_tcp",
        check: proc_net_tcp::check,
        seeds: seeds::proc_net_tcp,
    },
    Target {
        name: "sock_diag",
        check: sock_diag::check,
        seeds: seeds::sock_diag,
    },
    Target {
        name: "event_line",
        check: event_line::check,
        seeds: seeds::event_line,
    },
    Target {
        name: "cli_args",
        check: cli_args::check,
        seeds: seeds::cli_args,
    },
];

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The directory of this crate (where `corpus/`, `regressions/` and `runs/` are).
pub fn fuzz_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The `main` of a target built without libFuzzer: runs each file named on the
/// command line through `check` (a failing property panics, naming the file).
pub fn replay_main(check: fn(&[u8])) {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        eprintln!(
            "usage: TARGET FILE… (replays inputs; fuzzing needs `cargo +nightly fuzz run TARGET`)"
        );
        std::process::exit(2);
    }
    for file in files {
        let bytes = std::fs::read(&file).unwrap_or_else(|e| {
            eprintln!("{file}: {e}");
            std::process::exit(1)
        });
        eprintln!("{file}");
        check(&bytes);
    }
}
