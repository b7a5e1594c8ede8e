//! What both eras share: everything that is not the async lesson.
//!
//! A legacy program and its modern twin call this crate in the same way, so that
//! `diff legacy/X/src/main.rs modern/X/src/main.rs` shows only the migration of the
//! async machinery. Nothing here depends on a runtime, and the only sockets it uses
//! are the ident lookup's (blocking, on the kernel's netlink interface): it is usable
//! from tokio-core 0.1 and tokio 1 alike.
//!
//! * [`cli`]: the command line every program accepts (`--bind`, `--queue`, `--quiet`,
//!   `--help`, …), with one error policy: a clear line on stderr and exit status 2.
//! * [`event`]: the stdout event grammar, printer and parser in one place.
//! * [`echo`]: RFC 862 constants and the bounded echo queue the UDP servers share;
//!   the counts and close reasons of the TCP echo servers.
//! * [`ident`]: RFC 1413 ident: framing, queries and replies without I/O, and the
//!   owner of a connection, from `NETLINK_SOCK_DIAG` or `/proc/net/tcp*`, named
//!   from `/etc/passwd`.
//! * [`cores`]: `--threads N` for the servers of one event loop per thread: the
//!   sockets that share a port (`SO_REUSEPORT`), a thread each, one `listening` line
//!   once all are ready, and their counts added up.
//! * [`accept`]: what a TCP server does when `accept` fails (pause for lack of
//!   resources, skip a failed connection), as a state machine without I/O.
//! * [`fds`]: a process's open descriptors as `/proc/PID/fd` names them (epoll
//!   instance, pipe, eventfd…), for the mio demos and the suite.
//! * [`vectors`]: payload test vectors for the conformance suite.
//! * [`readiness`]: the figures of the readiness pairs (`udp-waiters`,
//!   `coop-budget`): wake-ups, datagrams per poll, a ticker's lateness.

pub mod accept;
pub mod cli;
pub mod cores;
pub mod echo;
pub mod event;
pub mod fds;
pub mod ident;
pub mod readiness;
pub mod vectors;
