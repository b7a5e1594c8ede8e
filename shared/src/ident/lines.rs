//! The query lines of one connection, from the bytes read so far: the buffer a
//! hand-written reader fills, without I/O (protocol sans I/O, as mini-redis's
//! `frame.rs`).
//!
//! A reader of either era does the same three things: it reads into [`LineBuffer::room`],
//! says how many bytes came with [`LineBuffer::filled`], and takes whole lines with
//! [`LineBuffer::next_line`], which says "incomplete" (`Ok(None)`: read more) until a
//! line end is there. How the reader waits for bytes is the lesson of its era; the
//! buffering, the bound and the UTF-8 check are the same in both, and are tested here
//! on byte vectors.
//!
//! The buffer never holds more than [`MAX_LINE`]` + 1` bytes: room for the longest
//! line a server accepts and one byte more, which is how a longer line is recognised
//! without buffering it ([`LineError::TooLong`]).

use super::{next_line, Line, MAX_LINE};

/// Why no more lines can be taken from a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineError {
    /// No line end within [`MAX_LINE`] bytes.
    TooLong,
    /// A whole line came, and it is not UTF-8.
    InvalidUtf8,
}

/// Bytes read from a peer and not yet taken as lines.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Box<[u8]>,
    /// How many bytes of `buf` hold data.
    len: usize,
}

impl Default for LineBuffer {
    fn default() -> Self {
        LineBuffer::new()
    }
}

impl LineBuffer {
    pub fn new() -> LineBuffer {
        LineBuffer {
            buf: vec![0; MAX_LINE + 1].into_boxed_slice(),
            len: 0,
        }
    }

    /// Where the next read goes: no more than could still complete a line. Never
    /// empty after [`next_line`](Self::next_line) said "incomplete".
    pub fn room(&mut self) -> &mut [u8] {
        &mut self.buf[self.len..]
    }

    /// `n` bytes were read into [`room`](Self::room).
    pub fn filled(&mut self, n: usize) {
        self.len = (self.len + n).min(self.buf.len());
    }

    /// Whether part of a line is waiting for its end.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Takes the next whole line, without its line end (LF, or CRLF), as text:
    /// `Ok(None)` while no line end has come yet and the line is still within
    /// [`MAX_LINE`] bytes.
    pub fn next_line(&mut self) -> Result<Option<String>, LineError> {
        let (line, consumed) = match next_line(&self.buf[..self.len]) {
            Line::Complete { line, consumed } => (line, consumed),
            Line::Incomplete => return Ok(None),
            Line::TooLong => return Err(LineError::TooLong),
        };
        let line = std::str::from_utf8(line)
            .map_err(|_| LineError::InvalidUtf8)?
            .to_string();
        self.buf.copy_within(consumed..self.len, 0);
        self.len -= consumed;
        Ok(Some(line))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `chunks` as reads, taking every line after each; the lines, then how
    /// it ended (`None`: still incomplete).
    fn feed(chunks: &[&[u8]]) -> (Vec<String>, Option<LineError>) {
        let mut lines = LineBuffer::new();
        let mut out = Vec::new();
        for chunk in chunks {
            let mut rest = *chunk;
            while !rest.is_empty() {
                let room = lines.room();
                assert!(!room.is_empty(), "no room while a line is incomplete");
                let n = room.len().min(rest.len());
                room[..n].copy_from_slice(&rest[..n]);
                lines.filled(n);
                rest = &rest[n..];
                loop {
                    match lines.next_line() {
                        Ok(Some(line)) => out.push(line),
                        Ok(None) => break,
                        Err(e) => return (out, Some(e)),
                    }
                }
            }
        }
        (out, None)
    }

    #[test]
    fn lines_across_reads() {
        let (lines, end) = feed(&[b"6193, 2", b"3\r\n1, 2\n3, 4\r", b"\n5"]);
        assert_eq!(lines, ["6193, 23", "1, 2", "3, 4"]);
        assert_eq!(end, None);
    }

    #[test]
    fn a_partial_line_is_kept_until_its_end() {
        let mut lines = LineBuffer::new();
        lines.room()[..6].copy_from_slice(b"6193, ");
        lines.filled(6);
        assert_eq!(lines.next_line(), Ok(None));
        assert!(!lines.is_empty());
        lines.room()[..4].copy_from_slice(b"23\r\n");
        lines.filled(4);
        assert_eq!(lines.next_line(), Ok(Some("6193, 23".to_string())));
        assert_eq!(lines.next_line(), Ok(None));
        assert!(lines.is_empty());
    }

    #[test]
    fn the_bound_is_max_line_bytes_before_the_line_end() {
        let mut exactly = vec![b'x'; MAX_LINE];
        exactly.push(b'\n');
        let (lines, end) = feed(&[&exactly]);
        assert_eq!((lines.len(), end), (1, None));
        let long = vec![b'x'; MAX_LINE + 1];
        assert_eq!(feed(&[&long]).1, Some(LineError::TooLong));
        // Never more than MAX_LINE + 1 bytes are held: the room runs out first.
        let mut lines = LineBuffer::new();
        assert_eq!(lines.room().len(), MAX_LINE + 1);
        lines.filled(MAX_LINE + 1);
        assert!(lines.room().is_empty());
        assert_eq!(lines.next_line(), Err(LineError::TooLong));
    }

    #[test]
    fn a_line_that_is_not_text() {
        assert_eq!(
            feed(&[b"1, 2\n\xff\xfe\n3, 4\n"]),
            (vec!["1, 2".to_string()], Some(LineError::InvalidUtf8))
        );
        // Half of a UTF-8 character is just an incomplete line.
        assert_eq!(feed(&[b"\xc3"]), (vec![], None));
        assert_eq!(feed(&[b"\xc3", b"\xa9\n"]), (vec!["é".to_string()], None));
    }

    /// Whatever the bytes and however they are cut into reads, the lines are those
    /// of the whole input, and the room never runs out before an error.
    #[test]
    fn any_cut_gives_the_same_lines() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"0123456789 ,\r\n\xff";
        for _ in 0..2_000 {
            let input: Vec<u8> = (0..(next() % 120))
                .map(|_| alphabet[next() as usize % alphabet.len()])
                .collect();
            let whole = feed(&[&input]);
            let mut chunks = Vec::new();
            let mut rest = &input[..];
            while !rest.is_empty() {
                let n = 1 + next() as usize % rest.len();
                chunks.push(&rest[..n]);
                rest = &rest[n..];
            }
            assert_eq!(feed(&chunks), whole, "{input:?}");
        }
    }
}
