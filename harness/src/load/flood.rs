//! A paced flood of UDP datagrams: the load of the suite's flood checks (a reader
//! starved by a flood, a server stopped in the middle of one, reads while writes are
//! pending) and of the bench's readiness figures.
//!
//! Datagram `i` is due at `i / rate` after the start. The sender sends what is due in
//! one burst of at most `burst` datagrams, then sleeps at least a millisecond: a
//! sender descheduled for a while catches up at once (as a real flood would), yet the
//! machine keeps a CPU for the server and for whatever runs beside it. On loopback a
//! send to a full receive buffer is dropped, not refused; a send the kernel cannot
//! take at once (our own buffer full, `ENOBUFS`) counts as sent and lost, as a
//! datagram dropped on a real network would. A refused send means the server's port
//! is closed: an error.

use std::io::ErrorKind;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

/// How a flood is paced and bounded.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    /// Datagrams per second.
    pub rate: f64,
    /// At most this many datagrams, and for at most this long.
    pub count: u64,
    pub time: Duration,
    /// The most sent in one burst when late.
    pub burst: u64,
}

/// Floods `to` from `sock` (connect it to `to` to learn of a closed port) at `pace`; datagram `i`'s bytes are `payload(i)`. `sent`,
/// if given, is kept at the number of datagrams sent so far (for a checker that
/// watches the flood from another thread). Returns how many were sent.
pub fn paced(
    sock: &UdpSocket,
    to: SocketAddr,
    pace: Pace,
    mut payload: impl FnMut(u64) -> Vec<u8>,
    sent: Option<&AtomicU64>,
) -> Result<u64> {
    // A connected socket hears of a closed port (ICMP); an unconnected one cannot.
    let connected = sock.peer_addr().is_ok_and(|p| p == to);
    let start = Instant::now();
    let mut n = 0u64;
    while n < pace.count && start.elapsed() < pace.time {
        let due = ((start.elapsed().as_secs_f64() * pace.rate) as u64 + 1).min(pace.count);
        for _ in 0..due.saturating_sub(n).min(pace.burst) {
            let bytes = payload(n);
            let result = match connected {
                true => sock.send(&bytes),
                false => sock.send_to(&bytes, to),
            };
            match result {
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    bail!("the server's port refused the flood: {e}")
                }
                // Sent, or lost as on a real network (WouldBlock, ENOBUFS).
                _ => n += 1,
            }
            if let Some(s) = sent {
                s.store(n, Ordering::Relaxed);
            }
        }
        let next = Duration::from_secs_f64(n as f64 / pace.rate);
        let wait = next.saturating_sub(start.elapsed());
        thread::sleep(wait.max(Duration::from_millis(1)));
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_keeps_its_pace_and_its_bounds() {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let to = server.local_addr().unwrap();
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let pace = Pace {
            rate: 2_000.0,
            count: 100,
            time: Duration::from_secs(5),
            burst: 50,
        };
        let counter = AtomicU64::new(0);
        let started = Instant::now();
        let n = paced(
            &sock,
            to,
            pace,
            |i| i.to_be_bytes().to_vec(),
            Some(&counter),
        )
        .unwrap();
        let took = started.elapsed();
        assert_eq!((n, counter.load(Ordering::Relaxed)), (100, 100));
        // 100 datagrams at 2,000/s take 50 ms; generous for a loaded machine.
        assert!(
            took >= Duration::from_millis(45),
            "{took:?}: faster than its pace"
        );
        let mut buf = [0u8; 8];
        server.recv(&mut buf).unwrap();
        assert_eq!(u64::from_be_bytes(buf), 0, "datagram 0 first");
        let short = Pace {
            time: Duration::from_millis(20),
            count: u64::MAX,
            ..pace
        };
        let n = paced(&sock, to, short, |_| vec![0], None).unwrap();
        assert!(n < 200, "bounded by its time: {n}");
    }
}
