//! Target `ident_lines`: the byte stream of one ident connection, cut into reads,
//! through the per-connection line reader of the servers that frame with
//! `shared::ident::next_line` (legacy ident-tokio, ident-pool and ident-service,
//! modern ident-service, the bridge steps; ident-blocking assembles a line of at
//! most `MAX_LINE + 1` bytes the same way before it calls `next_line`).
//!
//! The input: its first byte says how many of the following bytes are read sizes
//! (up to 31; a size of 0 reads one byte; the sizes repeat), the rest is the stream.
//!
//! Properties:
//!
//! * The lines and the end (a partial line left at end-of-file, or a line too long)
//!   are those of a plain reading of the framing rules ([`reference`]): a line ends
//!   with LF, one CR before it is dropped, more than `MAX_LINE` bytes without an LF
//!   end the connection.
//! * They are the same however the stream is cut into reads: as given, read whole,
//!   one byte at a time (streams of up to 512 bytes).
//! * The reader never buffers more than `MAX_LINE + 1` bytes, and `next_line` only
//!   says "incomplete" within `MAX_LINE` bytes.
//! * Every line gets one reply line that parses back; a line that is not UTF-8 is a
//!   malformed query (the servers that read `String`s end the connection there
//!   instead).

use std::net::{IpAddr, Ipv4Addr};

use shared::ident::{answer_with, next_line, parse_query, Line, MAX_LINE};

use crate::ident_reply::assert_wire;
use crate::input::Input;

/// How the stream of a connection ended for the reader.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// End-of-file, with this many bytes of a last line that never ended (no reply).
    Eof { unanswered: usize },
    /// A line longer than `MAX_LINE`: the connection ends.
    TooLong,
}

/// What the reader made of a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Framed {
    pub lines: Vec<Vec<u8>>,
    pub end: End,
}

/// The servers' loop: a buffer of at most `MAX_LINE + 1` bytes, `next_line` on it,
/// and, when a line is incomplete, one read of no more than the room left. Read `i`
/// returns up to `reads[i % reads.len()]` bytes (at least one). Also returns the most
/// bytes the buffer held.
pub fn read_in_chunks(stream: &[u8], reads: &[usize]) -> (Framed, usize) {
    let (mut buf, mut at, mut read, mut most) = (Vec::new(), 0, 0, 0);
    let mut lines = Vec::new();
    loop {
        match next_line(&buf) {
            Line::Complete { line, consumed } => {
                let ended = &buf[..consumed - 1];
                assert_eq!(buf[consumed - 1], b'\n', "a line ends with LF");
                assert_eq!(line, ended.strip_suffix(b"\r").unwrap_or(ended));
                lines.push(line.to_vec());
                buf.drain(..consumed);
                continue;
            }
            Line::TooLong => {
                return (
                    Framed {
                        lines,
                        end: End::TooLong,
                    },
                    most,
                )
            }
            Line::Incomplete => assert!(
                buf.len() <= MAX_LINE,
                "incomplete with {} bytes buffered",
                buf.len()
            ),
        }
        if at == stream.len() {
            let end = End::Eof {
                unanswered: buf.len(),
            };
            return (Framed { lines, end }, most);
        }
        let size = reads
            .get(read % reads.len().max(1))
            .copied()
            .unwrap_or(usize::MAX);
        let n = size
            .max(1)
            .min(MAX_LINE + 1 - buf.len())
            .min(stream.len() - at);
        buf.extend_from_slice(&stream[at..at + n]);
        (at, read, most) = (at + n, read + 1, most.max(buf.len()));
    }
}

/// The framing rules read plainly, on the whole stream.
pub fn reference(stream: &[u8]) -> Framed {
    let mut lines = Vec::new();
    let mut rest = stream;
    loop {
        let lf = rest.iter().position(|&b| b == b'\n');
        match lf {
            Some(i) if i <= MAX_LINE => {
                let line = &rest[..i];
                lines.push(line.strip_suffix(b"\r").unwrap_or(line).to_vec());
                rest = &rest[i + 1..];
            }
            None if rest.len() <= MAX_LINE => {
                let end = End::Eof {
                    unanswered: rest.len(),
                };
                return Framed { lines, end };
            }
            _ => {
                return Framed {
                    lines,
                    end: End::TooLong,
                }
            }
        }
    }
}

pub fn check(data: &[u8]) {
    let mut input = Input::new(data);
    let count = usize::from(input.byte() % 32);
    let reads: Vec<usize> = input.take(count).iter().map(|&b| usize::from(b)).collect();
    let stream = input.rest();

    let expected = reference(stream);
    let mut cuts = vec![reads, vec![usize::MAX]];
    if stream.len() <= 512 {
        cuts.push(vec![1]);
    }
    for reads in &cuts {
        let (framed, most) = read_in_chunks(stream, reads);
        assert_eq!(framed, expected, "reads of {reads:?}");
        assert!(most <= MAX_LINE + 1, "{most} bytes buffered");
    }

    let querier = IpAddr::V4(Ipv4Addr::LOCALHOST);
    for line in &expected.lines {
        let reply = answer_with(line, querier, &[], |uid| uid.to_string());
        assert_wire(&reply);
        if std::str::from_utf8(line).is_err() {
            assert!(parse_query(line).is_err(), "{line:?} is not UTF-8");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::vectors::ident::{long_line, STREAMS};

    #[test]
    fn every_vector_holds() {
        for stream in STREAMS {
            for reads in [&[0u8][..], &[3, 1, 2], &[]] {
                let mut data = vec![reads.len() as u8];
                data.extend_from_slice(reads);
                data.extend_from_slice(stream);
                check(&data);
            }
        }
    }

    #[test]
    fn the_longest_line_and_one_past_it() {
        let ok = reference(&long_line(MAX_LINE));
        assert_eq!(ok.lines.len(), 2);
        assert_eq!(ok.end, End::Eof { unanswered: 0 });
        let long = reference(&long_line(MAX_LINE + 1));
        assert_eq!((long.lines.len(), long.end), (0, End::TooLong));
        for len in [MAX_LINE, MAX_LINE + 1] {
            let mut data = vec![2, 7, 200];
            data.extend_from_slice(&long_line(len));
            check(&data);
        }
    }

    #[test]
    fn a_partial_last_line_is_not_answered() {
        let framed = reference(b"6193, 23\r\n6193");
        assert_eq!(framed.lines, [b"6193, 23".to_vec()]);
        assert_eq!(framed.end, End::Eof { unanswered: 4 });
    }
}
