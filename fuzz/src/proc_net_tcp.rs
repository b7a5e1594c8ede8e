//! Target `proc_net_tcp`: the text of `/proc/net/tcp` or `/proc/net/tcp6`, which the
//! ident lookup trusts when netlink is unavailable (bytes that are not UTF-8 are
//! replaced, as the text is read as a `str`).
//!
//! Properties:
//!
//! * Each row is read on its own: the table is the rows' connections in order.
//! * A row is read as a connection exactly when it is in the kernel's format
//!   ([`reference_row`]: hex fields of hex digits only, address words of 8 hex
//!   digits in host byte order, decimal uid and inode of digits only), and then into
//!   the same fields.
//! * A connection rendered as the kernel prints it ([`render`]) reads back as itself.
//! * The ident answers over the table follow RFC 1413 §3 ([`crate::owner`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use shared::ident::{parse_proc_net_tcp, Connection};

use crate::owner;

pub fn check(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let table = parse_proc_net_tcp(&text);
    let by_row: Vec<Connection> = text.lines().flat_map(parse_proc_net_tcp).collect();
    assert_eq!(table, by_row, "the rows are read one by one");
    let plain: Vec<Connection> = text.lines().filter_map(reference_row).collect();
    assert_eq!(table, plain, "the rows as the kernel's format reads them");
    for c in &table {
        assert_eq!(parse_proc_net_tcp(&render(&[*c])), [*c], "{c:?} rendered");
    }
    owner::check_table(&table);
}

/// The header line of `/proc/net/tcp`.
const HEADER: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode";

/// A table as the kernel prints it (`tcp4_seq_show`, `tcp6_seq_show`): the header,
/// then one row per connection.
pub fn render(table: &[Connection]) -> String {
    let mut out = format!("{HEADER}\n");
    for (i, c) in table.iter().enumerate() {
        out.push_str(&format!(
            "{i:4}: {}:{:04X} {}:{:04X} {:02X} 00000000:00000000 00:00000000 00000000 {:5}        0 {} 1 0000000000000000 20 4 30 10 -1\n",
            address(c.local.ip()),
            c.local.port(),
            address(c.remote.ip()),
            c.remote.port(),
            c.state,
            c.uid,
            c.inode,
        ));
    }
    out
}

/// An address as the kernel prints it: each 32-bit word of the address in memory,
/// read in host byte order, as 8 hex digits.
fn address(ip: IpAddr) -> String {
    let octets = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    octets
        .chunks(4)
        .map(|w| format!("{:08X}", u32::from_ne_bytes([w[0], w[1], w[2], w[3]])))
        .collect()
}

/// One row in the kernel's format, read plainly: `sl local rem st tx:rx tr:when
/// retrnsmt uid timeout inode …`.
pub fn reference_row(row: &str) -> Option<Connection> {
    let f: Vec<&str> = row.split_whitespace().collect();
    if f.len() < 10 {
        return None;
    }
    Some(Connection {
        local: socket_address(f[1])?,
        remote: socket_address(f[2])?,
        state: u8::try_from(hex(f[3])?).ok()?,
        uid: u32::try_from(decimal(f[7])?).ok()?,
        inode: decimal(f[9])?,
    })
}

fn hex(field: &str) -> Option<u64> {
    let digits = field.trim_start_matches('0');
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_hexdigit()) || digits.len() > 16 {
        return None;
    }
    Some(
        digits
            .bytes()
            .fold(0, |n, d| n * 16 + u64::from(hex_digit(d))),
    )
}

fn hex_digit(d: u8) -> u8 {
    match d {
        b'0'..=b'9' => d - b'0',
        _ => d.to_ascii_lowercase() - b'a' + 10,
    }
}

fn decimal(field: &str) -> Option<u64> {
    if field.is_empty() || !field.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    field.parse().ok()
}

fn socket_address(field: &str) -> Option<SocketAddr> {
    let (ip, port) = field.split_once(':')?;
    let port = u16::try_from(hex(port)?).ok()?;
    if !ip.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    // Each word: the bytes of a u32 printed most significant first; in memory the
    // host's order puts them back.
    let mut bytes = Vec::new();
    for word in ip.as_bytes().chunks(8) {
        let word: Vec<u8> = word
            .chunks(2)
            .map(|pair| Some(hex_digit(pair[0]) * 16 + hex_digit(*pair.get(1)?)))
            .collect::<Option<_>>()?;
        let word: [u8; 4] = word.try_into().ok()?;
        bytes.extend(if cfg!(target_endian = "little") {
            [word[3], word[2], word[1], word[0]]
        } else {
            word
        });
    }
    let ip = match bytes.len() {
        4 => IpAddr::V4(Ipv4Addr::from(<[u8; 4]>::try_from(bytes).ok()?)),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(bytes).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::vectors::ident::{PROC_NET_TCP, PROC_NET_TCP6};

    #[test]
    fn every_vector_holds() {
        for table in [PROC_NET_TCP, PROC_NET_TCP6] {
            check(table.as_bytes());
            assert!(!parse_proc_net_tcp(table).is_empty());
        }
    }

    #[test]
    fn the_reference_reads_what_the_kernel_prints() {
        let row = "   1: 0300007F:1831 0100007F:0017 01 00000000:00000000 00:00000000 00000000  1000        0 1002 1";
        let c = reference_row(row).unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(c.local, "127.0.0.3:6193".parse().unwrap());
            assert_eq!(c.remote, "127.0.0.1:23".parse().unwrap());
        }
        assert_eq!((c.state, c.uid, c.inode), (1, 1000, 1002));
        assert_eq!(reference_row(&row.replace("1000", "+100")), None);
        assert_eq!(reference_row(&row.replace(":1831", ":+831")), None);
    }

    #[test]
    fn rendered_tables_read_back() {
        let table = parse_proc_net_tcp(PROC_NET_TCP6);
        assert_eq!(parse_proc_net_tcp(&render(&table)), table);
    }
}
