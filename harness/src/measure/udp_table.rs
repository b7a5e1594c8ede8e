//! A server's UDP sockets as the kernel lists them (`/proc/PID/net/udp`, `udp6`): the
//! bytes waiting in a socket's send queue, and the datagrams it dropped at a full
//! receive buffer. Read from the server's own network namespace (its `/proc/PID`), so
//! that a server in a test namespace is seen as it sees itself.

use std::net::SocketAddr;

use anyhow::{Context, Result};

/// One socket's row: what the checks and the soak read of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UdpRow {
    pub port: u16,
    /// Bytes in the kernel send queue (column `tx_queue`).
    pub tx_queue: u64,
    /// Datagrams dropped (the last column, `drops`).
    pub drops: u64,
}

/// Parses the table's rows (the first line is its header); rows it cannot read are
/// skipped.
pub fn parse(table: &str) -> Vec<UdpRow> {
    let row = |line: &str| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = u16::from_str_radix(fields.get(1)?.rsplit(':').next()?, 16).ok()?;
        let tx = fields.get(4)?.split(':').next()?;
        Some(UdpRow {
            port,
            tx_queue: u64::from_str_radix(tx, 16).ok()?,
            drops: fields.last()?.parse().ok()?,
        })
    };
    table.lines().skip(1).filter_map(row).collect()
}

/// The rows of `pid`'s sockets on `addr`'s port (one, or one per thread of a server
/// that binds the port on each: `--threads`), in `addr`'s address family.
pub fn rows(pid: i32, addr: SocketAddr) -> Result<Vec<UdpRow>> {
    let six = if addr.is_ipv4() { "" } else { "6" };
    let path = format!("/proc/{pid}/net/udp{six}");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let mut rows = parse(&text);
    rows.retain(|r| r.port == addr.port());
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  103: 0100007F:9C41 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 27301 2 0000000000000000 0
  104: 0100007F:9C42 00000000:0000 07 00010400:00000000 00:00000000 00000000     0        0 27302 2 0000000000000000 17
";

    #[test]
    fn reads_the_send_queue_and_the_drops_of_each_socket() {
        let rows = parse(TABLE);
        let second = UdpRow {
            port: 0x9C42,
            tx_queue: 0x10400,
            drops: 17,
        };
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1], second);
        assert_eq!(
            (rows[0].port, rows[0].tx_queue, rows[0].drops),
            (0x9C41, 0, 0)
        );
    }

    #[test]
    fn no_socket_of_ours_on_port_9() {
        let rows = rows(std::process::id() as i32, "127.0.0.1:9".parse().unwrap()).unwrap();
        assert!(rows.is_empty(), "{rows:?}");
    }
}
