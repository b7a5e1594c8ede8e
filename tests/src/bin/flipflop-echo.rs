//! A deliberately wrong UDP echo server, for testing the suite itself: it flip-flops
//! (blocking `recv_from`, then blocking `send_to`), so while a send waits it reads
//! nothing, and it has no queue to drop from. The suite's "reads keep flowing while
//! writes are pending" check (`reads-while-writes-pending`) must fail against it: the
//! suite runs that check against this binary as its own row,
//! `suite-catches-flipflop-echo` (see `src/selftest.rs`), which passes only if the
//! check fails it for the right reason.

use std::net::UdpSocket;

use shared::cli::{bind_error, exit_startup_error, Spec};
use shared::echo::{self, RECV_BUFFER};
use shared::event::{emit, Event, Proto};

fn main() {
    let spec = Spec::udp_echo("flipflop-echo");
    let args = spec.from_env();
    let socket = UdpSocket::bind(args.bind)
        .unwrap_or_else(|e| exit_startup_error(spec.name, bind_error(args.bind, &e)));
    let local = socket
        .local_addr()
        .unwrap_or_else(|e| exit_startup_error(spec.name, e));
    emit(&Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf) else {
            continue;
        };
        emit(&echo::recv_event(len, peer));
        if socket.send_to(&buf[..len], peer).is_ok() {
            emit(&echo::sent_event(len, peer));
        }
    }
}
