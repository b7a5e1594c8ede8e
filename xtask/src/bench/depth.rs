//! The depth sweep: echoes per second and server CPU per echo against the datagrams
//! in flight (1 to 256) and the client sockets they are spread over (1, 16, 256), for
//! raw epoll-edge, modern echo-tokio, echo-uring and echo-batch, in the same rounds as
//! the rest of the bench and on the same server as the family's loads. Completion
//! and batching can only win where there is something to gather: this shows from
//! which depth they do, and by how much.

use std::time::Duration;

use anyhow::{bail, Result};
use harness::load::udp::{self, EchoLoad};
use harness::measure::cpu::{ns_per, per_second, Cpu};
use harness::measure::server::Server;
use harness::results::bench::DepthPoint;

use super::entry::Job;
use super::settings::{Settings, MAX_DATAGRAMS};

/// The programs swept, by program and flavor.
const SWEPT: [(&str, &str); 4] = [
    ("echo-epoll-edge", "modern"),
    ("echo-tokio", "modern"),
    ("echo-uring", "next"),
    ("echo-batch", "next"),
];
/// (client sockets, datagrams in flight over all of them): every depth on one
/// socket, and on 16 and 256 sockets the depths that give each at least one.
pub const GRID: [(usize, usize); 9] = [
    (1, 1),
    (1, 4),
    (1, 16),
    (1, 64),
    (1, 256),
    (16, 16),
    (16, 64),
    (16, 256),
    (256, 256),
];

/// The shortest warm-up and measured interval of a load of the sweep.
const MIN_SPAN: (Duration, Duration) = (Duration::from_millis(50), Duration::from_millis(200));

/// Whether `job` runs the sweep (in its default configuration only).
pub fn swept(job: &Job) -> bool {
    let default = job.variant().is_none();
    default && (SWEPT.iter()).any(|(p, f)| *p == job.program() && *f == job.flavor())
}

/// The outgoing queue a swept server needs: room for the deepest load twice over.
pub fn queue() -> usize {
    GRID.iter().map(|(_, d)| d).max().copied().unwrap_or(1) * 2
}

/// Every load of the grid on `server`, briefly: the latency loads' span each, but at
/// least 50 ms of warm-up and 200 ms measured, so that 256 sockets primed one by one
/// are all under way before the measuring starts, even with `--quick`.
pub fn run(server: &Server, s: &Settings) -> Result<Vec<DepthPoint>> {
    let (warmup, measure) = s.latency_span();
    let span = (warmup.max(MIN_SPAN.0), measure.max(MIN_SPAN.1));
    let (addr, pid) = (server.addrs[0], server.pid());
    let mut probe = || Cpu::read(pid);
    let mut points = Vec::with_capacity(GRID.len());
    for (sockets, in_flight) in GRID {
        let load = EchoLoad {
            sockets,
            window: in_flight / sockets,
            payload: s.payload,
            span,
            max_datagrams: MAX_DATAGRAMS,
            gso_segments: None,
        };
        let o = udp::run_echo(addr, &load, &mut probe)?;
        if o.echoes == 0 {
            bail!("depth {in_flight} over {sockets} sockets: no echo came back while measured");
        }
        points.push(DepthPoint {
            sockets,
            in_flight,
            echoes_per_s: per_second(o.echoes, o.interval),
            cpu_per_echo_ns: ns_per(o.server_cpu.1.since(&o.server_cpu.0), o.echoes),
        });
    }
    Ok(points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_load_of_the_grid_spreads_evenly() {
        for (sockets, in_flight) in GRID {
            assert!(in_flight >= sockets && in_flight % sockets == 0);
        }
        assert_eq!(queue(), 512);
    }
}
