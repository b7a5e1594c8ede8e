//! The loads the suite, `trace` and the bench drive programs with, written once.

pub mod flood;
pub mod tcp;
pub mod udp;

use std::io::{self, ErrorKind};
use std::net::{SocketAddr, UdpSocket};

/// The `p`-th percentile (0–100) of `sorted` (nearest rank), `None` if it is empty.
pub fn percentile(sorted: &[u64], p: usize) -> Option<u64> {
    let n = sorted.len();
    (n > 0).then(|| sorted[(n * p / 100).min(n - 1)])
}

/// `recv_from` on a socket with a read timeout, retried when a signal interrupts it:
/// a receive timeout set with `SO_RCVTIMEO` makes the kernel return `EINTR` on any
/// signal with a handler, even one installed with `SA_RESTART` (signal(7)), and the
/// test process gets such signals (a child stopping, the runner's own) at any moment.
pub fn recv_from(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
    loop {
        match sock.recv_from(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// [`recv_from`] for a connected socket.
pub fn recv(sock: &UdpSocket, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match sock.recv(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}
