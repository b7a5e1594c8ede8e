//! A blocking UDP echo on `std::net::UdpSocket`: the baseline of `cargo xtask bench`.
//!
//! Not one of the study programs (it has no legacy/modern twin and no outgoing
//! queue): it is the floor every async server is measured against, one `recv_from`
//! and one `send_to` per datagram, with the thread sleeping in the kernel in between.
//! Nothing multiplexes, nothing is registered, nothing is woken but the thread itself.
//!
//! Try it from two terminals:
//!
//! ```text
//! cargo run -p baselines --bin bench-baseline-blocking
//! nc -u 127.0.0.1 2000
//! ```
//!
//! It prints `listening udp ADDR`, then one `recv`/`sent` pair per datagram unless
//! `--quiet`. SIGINT or SIGTERM stops it after the datagram in hand: `summary recv=R
//! sent=S dropped=D` (D counts failed sends), exit 0.

use std::io;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{SigSet, Signal};
use shared::cli::{bind_error, exit_startup_error, Args, Opt, Spec};
use shared::echo::{self, EchoCounts, RECV_BUFFER};
use shared::event::{emit, Event, Proto};

/// How often a blocked `recv_from` gives up to look at the stop flag: only an idle
/// server pays for it, once per period.
const STOP_CHECK: Duration = Duration::from_millis(100);

fn main() {
    let spec = Spec {
        name: env!("CARGO_BIN_NAME"),
        about: "blocking UDP echo on std::net::UdpSocket (the benchmark baseline)",
        options: &[Opt::Bind, Opt::Quiet],
        defaults: Args::DEFAULT,
        min_interval_ms: 1,
    };
    let args = spec.from_env();
    if let Err(e) = run(&args) {
        exit_startup_error(spec.name, e);
    }
}

/// SIGINT and SIGTERM are blocked in every thread and taken by one thread with
/// `sigwait`, which raises the flag the echo loop looks at.
fn watch_signals() -> Result<Arc<AtomicBool>, String> {
    let mut set = SigSet::empty();
    set.add(Signal::SIGINT);
    set.add(Signal::SIGTERM);
    // Blocked before any other thread exists, so that every thread inherits the mask.
    set.thread_block()
        .map_err(|e| format!("cannot block signals: {e}"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            if set.wait().is_ok() {
                flag.store(true, Ordering::Relaxed);
            }
        })
        .map_err(|e| format!("cannot start the signal thread: {e}"))?;
    Ok(stop)
}

fn run(args: &Args) -> Result<(), String> {
    let stop = watch_signals()?;
    let socket = UdpSocket::bind(args.bind).map_err(|e| bind_error(args.bind, &e))?;
    socket
        .set_read_timeout(Some(STOP_CHECK))
        .map_err(|e| e.to_string())?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    emit(&Event::Listening {
        proto: Proto::Udp,
        addr: local,
    });

    let mut counts = EchoCounts::default();
    let mut buf = vec![0u8; RECV_BUFFER];
    while !stop.load(Ordering::Relaxed) {
        let (len, peer) = match socket.recv_from(&mut buf) {
            Ok(got) => got,
            // The read timeout: go and look at the stop flag.
            Err(ref e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            // A per-datagram error (an ICMP report, say) concerns one peer only.
            Err(e) => {
                eprintln!("recv_from: {e}");
                continue;
            }
        };
        counts.recv += 1;
        if !args.quiet {
            emit(&echo::recv_event(len, peer));
        }
        match socket.send_to(&buf[..len], peer) {
            Ok(_) => {
                counts.sent += 1;
                if !args.quiet {
                    emit(&echo::sent_event(len, peer));
                }
            }
            Err(e) => {
                counts.dropped += 1;
                emit(&echo::send_failed_event(len, peer, &e));
            }
        }
    }
    emit(&counts.summary());
    Ok(())
}
