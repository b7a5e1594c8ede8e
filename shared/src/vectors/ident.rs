//! Ident test vectors: query lines, byte streams of a connection, the text of
//! `/proc/net/tcp` and `/proc/net/tcp6`, and `/etc/passwd`.
//!
//! The unit tests of [`crate::ident`] read them, and the fuzz targets start their
//! search from them (the seed corpora are written from these constants).

/// Query lines as a querier sends them (without the line end), well formed first,
/// then the malformed ones: blanks around each part, the bounds of a port, signs,
/// too many digits, a third part, bytes that are not UTF-8, a stray CR.
pub const QUERY_LINES: &[&[u8]] = &[
    b"6193, 23",
    b"6193,23",
    b" \t6193 \t,\t 23 \t",
    b"65535, 1",
    b"0, 23",
    b"65536, 23",
    b"23, 0",
    b"abc, def",
    b"6193 23",
    b"6193",
    b"",
    b",",
    b"1, 2, 3",
    b"-1, 2",
    b"+1, 2",
    b"1 2, 3",
    b"99999999999999999999, 1",
    b"0000000000000000001, 1",
    b"\xff\xfe, 1",
    b"6193, 23\r",
];

/// Byte streams of one connection, as a server reads them: several queries, CRLF and
/// bare LF, a partial last line, empty lines, a query split by a line end, a line
/// that is not UTF-8. Lines of the longest length accepted and past it come from
/// [`long_line`].
pub const STREAMS: &[&[u8]] = &[
    b"6193, 23\r\n",
    b"6193, 23\r\n23,6193\n",
    b"6193, 23\r\n65536, 1\r\nabc\r\n6193",
    b"\r\n\n\r\r\n",
    b"6193,\r\n 23\r\n",
    b"\xff\xfe, 1\r\n6193, 23\r\n",
];

/// A line of `len` bytes before its LF: `MAX_LINE` is the longest accepted.
pub fn long_line(len: usize) -> Vec<u8> {
    let mut line = vec![b' '; len];
    line.extend_from_slice(b"\n6193, 23\r\n");
    line
}

/// `/proc/net/tcp` as a little-endian x86-64 kernel prints it (127.0.0.1 is
/// `0100007F`): a listener, three connections, one in TIME_WAIT (inode 0) and a row
/// that does not parse.
pub const PROC_NET_TCP: &str = "\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0459 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0300007F:1831 0100007F:0017 01 00000000:00000000 00:00000000 00000000  1000        0 1002 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:0017 0300007F:1831 01 00000000:00000000 00:00000000 00000000  1001        0 1003 1 0000000000000000 20 4 30 10 -1
   3: 0300007F:1832 0200007F:0018 01 00000000:00000000 00:00000000 00000000  1002        0 1004 1 0000000000000000 20 4 30 10 -1
   4: 0300007F:1833 0100007F:0019 06 00000000:00000000 03:00000F9E 00000000     0        0 0 3 0000000000000000
   5: garbage
";

/// `/proc/net/tcp6`: `[::1]:6195 ↔ [::1]:26`, and
/// `[::ffff:127.0.0.1]:6196 ↔ [::ffff:127.0.0.1]:27` (a dual-stack socket).
pub const PROC_NET_TCP6: &str = "\
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1833 00000000000000000000000001000000:001A 01 00000000:00000000 00:00000000 00000000  1000        0 2001 1 0000000000000000 20 4 30 10 -1
   1: 0000000000000000FFFF00000100007F:1834 0000000000000000FFFF00000100007F:001B 01 00000000:00000000 00:00000000 00000000  1003        0 2002 1 0000000000000000 20 4 30 10 -1
";

/// `/etc/passwd`: names, a comment, an entry without a name, a broken line.
pub const PASSWD: &str = "\
root:x:0:0:root:/root:/bin/bash
# a comment
alice:x:1000:1000:Alice:/home/alice:/bin/sh
:x:1005:1005::/:/bin/false
broken
";
