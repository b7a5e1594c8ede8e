//! Event lines: one of every kind the grammar has, IPv4 and IPv6, and lines that are
//! not in it.
//!
//! The unit tests of [`crate::event`] read them, and the event fuzz target starts its
//! search from them.

/// Lines in the grammar; each prints back exactly as written.
pub const LINES: &[&str] = &[
    "listening udp 127.0.0.1:2000",
    "listening tcp [::1]:113",
    "recv 5 bytes from 127.0.0.1:40000",
    "sent 5 bytes to 127.0.0.1:40000",
    "dropped 5 bytes from 127.0.0.1:40000: queue full",
    "dropped 0 bytes from [::1]:9: send failed: Message too long (os error 90)",
    "refused 5 bytes from 127.0.0.1:19: source port 19 (chargen) could loop",
    "refused 0 bytes from [::1]:0: source port 0 (below 1024) could loop",
    "recv 5 bytes from 127.0.0.1:40000 at 127.0.0.1:2004",
    "poll future #4",
    "poll 3 after 3002 ms",
    "done 10 polls in 10004 ms",
    "tick 2",
    "step registration readiness set while the poller is not waiting",
    "accepted from 127.0.0.1:40000",
    "closed [::1]:40000 after 1024 bytes: eof",
    "closed 127.0.0.1:1 after 0 bytes: line too long: 1001 bytes",
    "reply to 127.0.0.1:40000: 6193, 23 : USERID : UNIX : alice",
    "reply to [::1]:1: 0, 0 : ERROR : INVALID-PORT",
    "task #0 woken",
    "task #13 recv 1472 bytes from [::1]:40000",
    "read 0 datagrams in one poll",
    "read 128 datagrams in one poll",
    "tick 1 late 0 us",
    "tick 7 late 1234 us",
    "summary recv=10 sent=10 dropped=0",
    "summary recv=100 polls=3 most_per_poll=98 ticks=40 worst_late_us=53012",
    "summary recv=10 sent=9 dropped=0 refused=1",
    "summary",
];

/// Lines outside the grammar: each is an error.
pub const NOT_LINES: &[&str] = &[
    "",
    "hello",
    "recv five bytes from 127.0.0.1:1",
    "recv 5 bytes from nowhere",
    "listening sctp 127.0.0.1:1",
    "poll future 4",
    "summary recv=x",
    "dropped 5 bytes from 127.0.0.1:1 queue full",
    "refused 5 bytes from 127.0.0.1:19",
    "refused 5 bytes from 127.0.0.1:19 could loop",
    "sent 5 bytes to 127.0.0.1:1 extra",
    "poll 3 after x ms",
    "tick",
    "step",
    "closed 127.0.0.1:1 after 5 bytes",
    "reply to 127.0.0.1:1 text",
    "task 2 woken",
    "task #x woken",
    "task #2 recv 5 bytes from 127.0.0.1:1 at 127.0.0.1:2",
    "read many datagrams in one poll",
    "read 5 datagrams",
    "tick 3 late 2 ms",
    "tick 3 late -1 us",
];
