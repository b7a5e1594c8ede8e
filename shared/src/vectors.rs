//! Test vectors: payloads for the echo programs, and the inputs of the parsers
//! (ident queries and streams, `/proc/net/tcp*` tables, `/etc/passwd`, event lines,
//! command lines) that the unit tests and the fuzz targets' seed corpora share.
//!
//! Sizes chosen for what they exercise: the empty datagram, one byte, the largest
//! payload that fits a 1,500-byte Ethernet frame over IPv4 (1,472), the old fixed
//! buffer of the originals (1,500, which they truncated), a jumbo frame (9,000) and the
//! IPv4 maximum (65,507). Bytes follow a pattern that differs from position to
//! position so a shifted, truncated or reordered echo is caught; one vector carries all
//! 256 byte values.

pub mod cli;
pub mod events;
pub mod ident;

use crate::echo::MAX_IPV4_PAYLOAD;

/// One payload and a name for reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Vector {
    pub name: &'static str,
    pub bytes: Vec<u8>,
}

/// The sizes the suite sends, in order.
pub const SIZES: [usize; 6] = [0, 1, 1472, 1500, 9000, MAX_IPV4_PAYLOAD];

/// A position-dependent pattern: byte i is `(i * 7 + i / 256 + 3) mod 256`.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 256 + 3) as u8).collect()
}

/// All 256 byte values, in an order that is not sorted.
pub fn all_byte_values() -> Vec<u8> {
    // 167 is odd, so i * 167 mod 256 visits every value once.
    (0..256u32).map(|i| (i * 167 % 256) as u8).collect()
}

/// Every payload vector.
pub fn payloads() -> Vec<Vector> {
    let names = [
        "0 bytes",
        "1 byte",
        "1472 bytes",
        "1500 bytes",
        "9000 bytes",
        "65507 bytes",
    ];
    let mut out: Vec<Vector> = names
        .iter()
        .zip(SIZES)
        .map(|(name, len)| Vector {
            name,
            bytes: pattern(len),
        })
        .collect();
    out.push(Vector {
        name: "all 256 byte values",
        bytes: all_byte_values(),
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn sizes_and_contents() {
        let v = payloads();
        let lens: Vec<usize> = v.iter().map(|v| v.bytes.len()).collect();
        assert_eq!(lens, [0, 1, 1472, 1500, 9000, 65_507, 256]);
        let all: HashSet<u8> = v[6].bytes.iter().copied().collect();
        assert_eq!(all.len(), 256);
        // A shift by one is visible anywhere in the pattern.
        let p = pattern(70_000);
        assert!(p.windows(2).all(|w| w[0] != w[1]));
    }
}
