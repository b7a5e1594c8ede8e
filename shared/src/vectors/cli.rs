//! Command lines (the arguments after the program name): good ones for each family,
//! and the bad ones the unit tests of [`crate::cli`] name.
//!
//! The argument fuzz target starts its search from them.

/// Command lines, good and bad, as a shell would pass them.
pub const COMMAND_LINES: &[&[&str]] = &[
    &[],
    &["--help"],
    &["-h"],
    &["--bind", "[::1]:0", "--queue=3", "--quiet"],
    &["--bind=127.0.0.1:2000", "--allow-any-source-port"],
    &["--bind", "127.0.0.1:65000", "--sockets", "600"],
    &["--bind", "127.0.0.1:0", "--sockets", "40"],
    &["--count", "0", "--interval-ms", "0"],
    &["--interval-ms=3000", "--quiet"],
    &["--idle-timeout-secs", "2", "--max-connections", "5"],
    &["--lookup", "proc", "--bind", "[::]:1113"],
    &["--lookup=netlink"],
    &["--tasks", "16", "--work-ms=0"],
    &["--loop", "ready", "--cost-us", "50"],
    &["--frobnicate"],
    &["--bind", "localhost"],
    &["--bind", "1.2.3.4"],
    &["--queue", "0"],
    &["--queue", "99999999999999999999"],
    &["--queue", "-3"],
    &["--queue"],
    &["--quiet=yes"],
    &["stray"],
    &["--lookup", "dns"],
    &["--loop", "spin"],
    &["--queue", "2", "--help"],
];
