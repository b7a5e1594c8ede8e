//! Reading the fuzzer's bytes as several values: a few leading bytes choose how a
//! target runs (where reads are cut, a sequence number, which request), the rest is
//! the input proper. Missing bytes read as zeros, so that every input is usable.

/// A cursor over the fuzzer's bytes.
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    pub fn new(bytes: &'a [u8]) -> Input<'a> {
        Input { bytes }
    }

    /// The next byte (0 once the input is used up).
    pub fn byte(&mut self) -> u8 {
        match self.bytes.split_first() {
            Some((b, rest)) => {
                self.bytes = rest;
                *b
            }
            None => 0,
        }
    }

    /// The next four bytes as a little-endian number.
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()])
    }

    /// The next `n` bytes, or fewer where the input ends.
    pub fn take(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        taken
    }

    /// What is left.
    pub fn rest(self) -> &'a [u8] {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_then_the_rest() {
        let mut input = Input::new(&[1, 2, 0, 0, 0, 9, 8, 7]);
        assert_eq!(input.byte(), 1);
        assert_eq!(input.u32(), 2);
        assert_eq!(input.take(2), [9, 8]);
        assert_eq!(input.rest(), [7]);
        let mut empty = Input::new(&[]);
        assert_eq!((empty.byte(), empty.u32(), empty.take(3)), (0, 0, &[][..]));
    }
}
