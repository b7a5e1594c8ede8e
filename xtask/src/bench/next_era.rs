//! The next era beside raw epoll: the loads that completion-based I/O (io_uring) and
//! batched UDP (recvmmsg, GSO/GRO) are read against, run on the `next` programs and
//! on raw epoll-edge (modern `echo-epoll-edge`) in the same rounds.
//!
//! Beyond the family's loads (4 sockets × W=32, and W=1 for the RTT), each such entry
//! gets:
//! * echoes/s and CPU per echo with one client socket (W=32): one peer, where
//!   batching has the most to gather per call;
//! * system calls per echo with one socket and W=32 (strace attached for one counted
//!   load, first round only; skipped where strace is not installed);
//! * a bulk case whose peers send 32-segment GSO batches (one `sendmsg` with
//!   `UDP_SEGMENT` per 32 datagrams; 4 sockets × 2 batches in flight): CPU per
//!   datagram. With ordinary peers loopback never merges datagrams, so GRO has
//!   nothing to gather; with these it has.
//!
//! The targets are issue 15's, as data: echo-uring ≤ 0.1 system calls per echo at 32
//! in flight and CPU per echo ≤ raw epoll-edge's; echo-batch ≤ 0.2× raw's CPU per
//! datagram with GSO-sending peers and ≤ 1.05× with ordinary ones; the programs on a
//! completion runtime within 1.15× of echo-uring.

use anyhow::Result;
use harness::Flavor;
use serde::Serialize;

use super::cpu::Cpu;
use super::entry::{find, Entry, Label};
use super::loadgen::{self, EchoLoad, EchoOutcome};
use super::report::{cell, row_head, table, Figure, Ratio, Target};
use super::server::Server;
use super::syscalls::{self, Counting};
use super::udp_echo::{UdpEchoFigures, CPU_PER_ECHO, RAW_PROGRAM};
use super::{ns_per, per_second, Settings};

/// The raw io_uring echo, which the runtime programs are held against.
pub const URING_PROGRAM: &str = "echo-uring";
/// The batching echo, held to the GSO targets.
pub const BATCH_PROGRAM: &str = "echo-batch";
/// The echo programs on a completion runtime.
pub const RUNTIME_PROGRAMS: [&str; 1] = ["echo-compio"];
/// Segments per GSO batch the bulk peers send.
pub const GSO_SEGMENTS: usize = 32;
/// GSO batches in flight per bulk socket.
const GSO_BATCHES: usize = 2;

/// The figures of the next-era loads (none on an entry that does not run them).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct NextEraFigures {
    /// One client socket, W=32: echoes/s and server CPU per echo.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub echoes_per_s_1sock: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_per_echo_1sock_ns: Option<f64>,
    /// Server system calls per echo, one socket, W=32 (under strace).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub syscalls_per_echo: Option<f64>,
    /// Peers sending 32-segment GSO batches: datagrams echoed per second and server
    /// CPU per datagram.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gso_datagrams_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gso_cpu_per_datagram_ns: Option<f64>,
}

pub const CPU_1SOCK: Figure<UdpEchoFigures> = Figure {
    name: "cpu_per_echo_1sock_ns",
    get: |f| f.next_era.cpu_per_echo_1sock_ns,
};
pub const ECHOES_1SOCK: Figure<UdpEchoFigures> = Figure {
    name: "echoes_per_s_1sock",
    get: |f| f.next_era.echoes_per_s_1sock,
};
pub const SYSCALLS: Figure<UdpEchoFigures> = Figure {
    name: "syscalls_per_echo",
    get: |f| f.next_era.syscalls_per_echo,
};
pub const GSO_CPU: Figure<UdpEchoFigures> = Figure {
    name: "gso_cpu_per_datagram_ns",
    get: |f| f.next_era.gso_cpu_per_datagram_ns,
};

/// The loads of one socket and of GSO peers, on `server` (already started with the
/// family's queue); system calls too in the first round (`first`), where strace is.
pub fn run(server: &Server, s: &Settings, first: bool) -> Result<NextEraFigures> {
    let (addr, pid) = (server.addrs[0], server.pid());
    let mut probe = || Cpu::read(pid);
    let one = loadgen::run_echo(addr, &one_socket(s), &mut probe)?;
    let gso = match loadgen::gso_available() {
        Ok(()) => Some(loadgen::run_echo(addr, &gso_bulk(s), &mut probe)?),
        Err(_) => None,
    };
    let syscalls = match (first, syscalls::strace()) {
        (true, Ok(strace)) => Some(syscalls_per_echo(&strace, server, s)?),
        _ => None,
    };
    Ok(NextEraFigures {
        echoes_per_s_1sock: Some(per_second(one.echoes, one.interval)),
        cpu_per_echo_1sock_ns: Some(cpu_per(&one)),
        syscalls_per_echo: syscalls,
        gso_datagrams_per_s: gso.as_ref().map(|g| per_second(g.echoes, g.interval)),
        gso_cpu_per_datagram_ns: gso.as_ref().map(cpu_per),
    })
}

fn cpu_per(o: &EchoOutcome) -> f64 {
    ns_per(o.server_cpu.1.since(&o.server_cpu.0), o.echoes)
}

/// One client socket, W datagrams in flight.
pub fn one_socket(s: &Settings) -> EchoLoad {
    EchoLoad {
        sockets: 1,
        window: s.window,
        payload: s.payload,
        warmup: s.latency_warmup,
        measure: s.latency_measure,
        loss_timeout: s.loss_timeout,
        max_datagrams: s.max_datagrams,
        gso_segments: None,
    }
}

/// Peers that send GSO batches: C sockets, each with two 32-segment batches in flight.
pub fn gso_bulk(s: &Settings) -> EchoLoad {
    EchoLoad {
        sockets: s.udp_sockets,
        window: GSO_SEGMENTS * GSO_BATCHES,
        gso_segments: Some(GSO_SEGMENTS),
        ..one_socket(s)
    }
}

/// Calls per echo over one counted load of one socket, W=32, under `strace -c`.
fn syscalls_per_echo(strace: &std::path::Path, server: &Server, s: &Settings) -> Result<f64> {
    let out = std::env::temp_dir().join(format!("bench-strace-{}.txt", server.pid()));
    let counting = Counting::attach(strace, server.pid(), out)?;
    let mut no_probe = || Cpu::read(server.pid());
    let load = EchoLoad {
        warmup: std::time::Duration::ZERO,
        ..one_socket(s)
    };
    let outcome = loadgen::run_echo(server.addrs[0], &load, &mut no_probe)?;
    let calls = counting.finish()?;
    let total: u64 = calls.iter().map(|(_, n)| n).sum();
    Ok(total as f64 / outcome.received.max(1) as f64)
}

/// Whether `e` is raw epoll-edge, or a next program.
fn beside_raw(e: &Entry<UdpEchoFigures>) -> bool {
    e.subject.next_era_loads
}

/// The section of the table: raw epoll-edge and every next program with the
/// next-era loads (empty if there is none).
pub fn section(entries: &[&Entry<UdpEchoFigures>], s: &Settings) -> String {
    let shown: Vec<&&Entry<UdpEchoFigures>> = entries.iter().filter(|e| beside_raw(e)).collect();
    if !shown.iter().any(|e| e.subject.label != Label::MODERN) {
        return String::new();
    }
    let heading = format!(
        "\nUDP echo, next era beside raw epoll: {} sockets × W={} and 1 socket × W={}; system calls at 1 × W={}; GSO peers: {} sockets × {} batches of {} segments\n",
        s.udp_sockets, s.window, s.window, s.window, s.udp_sockets, GSO_BATCHES, GSO_SEGMENTS
    );
    let header = [
        "program",
        "flavor",
        "CPU/echo µs",
        "echoes/s ×4",
        "CPU/echo ×1 µs",
        "echoes/s ×1",
        "syscalls/echo",
        "RTT p50 µs",
        "RTT p99 µs",
        "GSO CPU/dgram µs",
        "GSO dgrams/s",
    ];
    let rows = shown.iter().map(|e| row(e)).collect();
    let mut out = heading + &table(&header, rows);
    if let Err(why) = syscalls::strace() {
        out += &format!("system calls per echo: not counted: {why}\n");
    }
    if let Err(why) = loadgen::gso_available() {
        out += &format!("GSO peers: not run: {why}\n");
    }
    out
}

fn row(e: &Entry<UdpEchoFigures>) -> Vec<String> {
    let mut row = row_head(&e.subject);
    row.extend([
        cell(e, |f| f.cpu_per_echo_ns, 1e-3),
        cell(e, |f| f.echoes_per_s, 1.0),
        cell(e, |f| f.next_era.cpu_per_echo_1sock_ns, 1e-3),
        cell(e, |f| f.next_era.echoes_per_s_1sock, 1.0),
        cell(e, |f| f.next_era.syscalls_per_echo, 1.0),
        cell(e, |f| f.rtt_p50_us, 1.0),
        cell(e, |f| f.rtt_p99_us, 1.0),
        cell(e, |f| f.next_era.gso_cpu_per_datagram_ns, 1e-3),
        cell(e, |f| f.next_era.gso_datagrams_per_s, 1.0),
    ]);
    row
}

/// What a next program's CPU per echo is held to against raw epoll-edge (ordinary
/// peers), if anything.
pub fn cpu_vs_raw_target(program: &str) -> Option<Target> {
    match program {
        URING_PROGRAM => Some(Target::at_most(
            1.0,
            "echo-uring: CPU per echo at most raw epoll-edge's (aim ≤ 0.85)",
        )),
        BATCH_PROGRAM => Some(Target::at_most(
            1.05,
            "echo-batch with ordinary peers no worse than raw epoll-edge",
        )),
        _ => None,
    }
}

/// The next-era ratios: each next program against raw epoll-edge on the loads only
/// they run (one socket, GSO peers, system calls), the runtime programs against
/// echo-uring, and echo-uring's system calls per echo held to their target. (CPU per
/// echo and RTT against raw, with the family's loads, are among the family's ratios.)
pub fn ratios(entries: &[&Entry<UdpEchoFigures>]) -> Vec<Ratio> {
    let Some(raw) = find(entries, RAW_PROGRAM, Label::MODERN, None) else {
        return Vec::new();
    };
    let next = Label::Flavor(Flavor::Next, None);
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.subject.label == next) {
        let subject = format!("{} / raw epoll-edge", e.subject.title());
        let gso_target = (e.subject.program == BATCH_PROGRAM).then(|| {
            Target::at_most(
                0.2,
                "echo-batch with GSO-sending peers at most 0.2× raw epoll-edge's CPU per datagram",
            )
        });
        out.push(Ratio::of(subject.clone(), GSO_CPU, (e, raw), gso_target));
        out.push(Ratio::of(subject.clone(), CPU_1SOCK, (e, raw), None));
        out.push(Ratio::of(subject.clone(), ECHOES_1SOCK, (e, raw), None));
        out.push(Ratio::of(subject, SYSCALLS, (e, raw), None));
    }
    if let Some(uring) = find(entries, URING_PROGRAM, next, None) {
        if !uring.values(|f| f.next_era.syscalls_per_echo).is_empty() {
            out.push(Ratio::value(
                SYSCALLS,
                uring,
                Target::at_most(
                    0.1,
                    "echo-uring: at most 0.1 system calls per echo at 32 in flight",
                ),
            ));
        }
        for program in RUNTIME_PROGRAMS {
            if let Some(e) = find(entries, program, next, None) {
                out.push(Ratio::of(
                    format!("{} / {URING_PROGRAM}", e.subject.title()),
                    CPU_PER_ECHO,
                    (e, uring),
                    Some(Target::at_most(
                        1.15,
                        "the runtime echo programs within 1.15× of echo-uring per echo",
                    )),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::entry::tests::entry;

    const NEXT: Label = Label::Flavor(Flavor::Next, None);

    /// Figures with CPU per echo `cpu` ns, GSO CPU per datagram `gso` ns and
    /// `syscalls` per echo.
    fn figures(cpu: f64, gso: f64, syscalls: Option<f64>) -> UdpEchoFigures {
        UdpEchoFigures {
            cpu_per_echo_ns: cpu,
            next_era: NextEraFigures {
                echoes_per_s_1sock: Some(1e5),
                cpu_per_echo_1sock_ns: Some(cpu),
                syscalls_per_echo: syscalls,
                gso_datagrams_per_s: Some(1e5),
                gso_cpu_per_datagram_ns: Some(gso),
            },
            ..UdpEchoFigures::default()
        }
    }

    #[test]
    fn next_programs_against_raw_and_echo_uring_with_issue_15_targets() {
        let raw = entry(
            RAW_PROGRAM,
            Label::MODERN,
            [figures(4000.0, 4000.0, Some(2.0))],
        );
        let uring = entry(URING_PROGRAM, NEXT, [figures(3000.0, 3000.0, Some(0.05))]);
        let batch = entry(BATCH_PROGRAM, NEXT, [figures(3000.0, 400.0, Some(0.1))]);
        let compio = entry("echo-compio", NEXT, [figures(6000.0, 6000.0, None)]);
        let ratios = ratios(&[&raw, &uring, &batch, &compio]);
        let find = |subject: &str, figure: &str| {
            (ratios.iter())
                .find(|r| r.subject == subject && r.figure == figure)
                .unwrap_or_else(|| panic!("no {subject} {figure} in {ratios:#?}"))
        };
        let gso = find(
            "echo-batch next / raw epoll-edge",
            "gso_cpu_per_datagram_ns",
        );
        assert_eq!((gso.rounds.clone(), gso.met()), (vec![0.1], Some(true)));
        let calls = find("echo-uring next", "syscalls_per_echo");
        assert!(calls.is_value);
        assert_eq!(calls.met(), Some(true));
        let runtime = find("echo-compio next / echo-uring", "cpu_per_echo_ns");
        assert_eq!(
            (runtime.rounds.clone(), runtime.met()),
            (vec![2.0], Some(false))
        );
        // A figure a program did not measure gives a ratio without rounds, not a zero.
        let none = find("echo-compio next / raw epoll-edge", "syscalls_per_echo");
        assert!(none.rounds.is_empty() && none.met().is_none());
        assert!(find(
            "echo-uring next / raw epoll-edge",
            "gso_cpu_per_datagram_ns"
        )
        .target
        .is_none());
        assert_eq!(cpu_vs_raw_target(URING_PROGRAM).unwrap().bound, 1.0);
        assert!(cpu_vs_raw_target("echo-compio").is_none());
    }

    #[test]
    fn the_section_shows_raw_and_the_next_programs_only() {
        let s = Settings::for_tests();
        let mut raw = entry(
            RAW_PROGRAM,
            Label::MODERN,
            [figures(4000.0, 4000.0, Some(2.0))],
        );
        let mut uring = entry(URING_PROGRAM, NEXT, [figures(3000.0, 3000.0, Some(0.05))]);
        let other = entry("echo-tokio", Label::MODERN, [figures(5000.0, 1.0, None)]);
        assert_eq!(
            section(&[&raw, &uring, &other], &s),
            "",
            "no entry ran the loads"
        );
        raw.subject.next_era_loads = true;
        uring.subject.next_era_loads = true;
        let text = section(&[&raw, &uring, &other], &s);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("echo-")).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(
            rows[1].starts_with("echo-uring") && rows[1].contains("0.05"),
            "{text}"
        );
    }
}
