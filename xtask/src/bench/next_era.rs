//! The next era beside raw epoll: the loads that completion-based I/O (io_uring) and
//! batched UDP (recvmmsg, GSO/GRO) are read against, run on the `next` programs and
//! on raw epoll-edge (modern `echo-epoll-edge`) in the same rounds.
//!
//! Beyond the family's loads (4 sockets × W=32, and W=1 for the RTT), each such entry
//! gets:
//! * echoes/s and CPU per echo with one client socket (W=32): one peer, where
//!   batching has the most to gather per call;
//! * system calls per echo with one socket and W=32 (under strace, first round only;
//!   skipped where strace is not installed);
//! * a bulk case whose peers send 32-segment GSO batches (one `sendmsg` with
//!   `UDP_SEGMENT` per 32 datagrams; 4 sockets × 2 batches in flight) and read with
//!   UDP GRO: CPU per datagram, at the family's payload and, with fewer in flight
//!   ([`gso_large`]), at 1,200 bytes. With ordinary peers loopback never merges
//!   datagrams, so GRO has nothing to gather; with these it has.
//!
//! The targets are data: echo-uring ≤ 0.1 system calls per echo at 32 in flight and
//! CPU per echo ≤ raw epoll-edge's; echo-batch ≤ 0.10× raw's CPU per datagram with
//! GSO-sending peers and ≤ 1.05× with ordinary ones; the programs on a completion
//! runtime within 1.15× of echo-uring.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use harness::results::bench::{NextEraFigures, Ratio, Target, UdpEchoFigures};
use harness::traced;

use super::cells::{family_table, Column};
use super::entry::{find, Job, NEXT};
use super::ratio::{at_most, ratio, value, Figure};
use super::settings::{Settings, MAX_DATAGRAMS};
use harness::load::udp::{self, EchoLoad, EchoOutcome};
use harness::measure::cpu::{ns_per, per_second, Cpu};
use harness::measure::server::Server;

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
/// Echoes of the load counted under strace.
const SYSCALL_ECHOES: u64 = 10_000;

/// The figures ratios are taken of.
type Fig = Figure<UdpEchoFigures>;
const CPU_PER_ECHO: Fig = ("cpu_per_echo_ns", |f| Some(f.cpu_per_echo_ns));
const CPU_1SOCK: Fig = ("cpu_per_echo_1sock_ns", |f| {
    f.next_era.cpu_per_echo_1sock_ns
});
const ECHOES_1SOCK: Fig = ("echoes_per_s_1sock", |f| f.next_era.echoes_per_s_1sock);
const SYSCALLS: Fig = ("syscalls_per_echo", |f| f.next_era.syscalls_per_echo);
const GSO_CPU: Fig = ("gso_cpu_per_datagram_ns", |f| {
    f.next_era.gso_cpu_per_datagram_ns
});
const GSO_CPU_1200: Fig = ("gso_cpu_per_datagram_1200_ns", |f| {
    f.next_era.gso_cpu_per_datagram_1200_ns
});

/// The loads of one socket and of GSO peers, on `server` (already started with the
/// family's queue); system calls too in the first round (`first`), where strace is.
pub fn run(server: &Server, exe: &Path, s: &Settings, first: bool) -> Result<NextEraFigures> {
    let (addr, pid) = (server.addrs[0], server.pid());
    let mut probe = || Cpu::read(pid);
    let one = udp::run_echo(addr, &one_socket(s), &mut probe)?;
    let (gso, gso_large) = match udp::gso_available() {
        Ok(()) => {
            let small = udp::run_echo(addr, &gso_bulk(s), &mut probe)?;
            (
                Some(small),
                Some(udp::run_echo(addr, &gso_large(s), &mut probe)?),
            )
        }
        Err(_) => (None, None),
    };
    let syscalls = match (first, traced::find_strace()) {
        (true, Ok(strace)) => Some(syscalls_per_echo(&strace, exe, s)?),
        _ => None,
    };
    Ok(NextEraFigures {
        echoes_per_s_1sock: Some(per_second(one.echoes, one.interval)),
        cpu_per_echo_1sock_ns: Some(cpu_per(&one)),
        syscalls_per_echo: syscalls,
        gso_datagrams_per_s: gso.as_ref().map(|g| per_second(g.echoes, g.interval)),
        gso_cpu_per_datagram_ns: gso.as_ref().map(cpu_per),
        gso_cpu_per_datagram_1200_ns: gso_large.as_ref().map(cpu_per),
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
        span: s.latency_span(),
        max_datagrams: MAX_DATAGRAMS,
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

/// The GSO peers with datagrams of 1,200 bytes (a QUIC packet's size): 2 sockets × 2
/// batches of 16. Their 64 datagrams in flight fit a default receive buffer even cut
/// apart (about 2 KiB of buffer each); 256 of this size would overflow it for a server
/// that does not read with GRO, which would then lose whole batches and wait out the
/// load's loss timeout.
pub fn gso_large(s: &Settings) -> EchoLoad {
    let segments = GSO_SEGMENTS / 2;
    EchoLoad {
        sockets: 2,
        window: segments * GSO_BATCHES,
        payload: 1_200,
        gso_segments: Some(segments),
        ..gso_bulk(s)
    }
}

/// System calls per echo, with one socket and W in flight, on a server of its own
/// under strace: the step the suite and `trace` share (`harness::traced::udp_echo`),
/// counting only the calls made while the echoes ran. ptrace stops the server at
/// every call, so this times nothing; the count is the figure.
fn syscalls_per_echo(strace: &Path, exe: &Path, s: &Settings) -> Result<f64> {
    let raw = std::env::temp_dir().join(format!("bench-strace-{}.txt", std::process::id()));
    let (window, payload, pause) = (s.window, s.payload, Duration::ZERO);
    let load = traced::EchoLoad {
        count: SYSCALL_ECHOES,
        window,
        payload,
        pause,
    };
    let measured = traced::udp_echo(strace, exe, &raw, &load);
    let _ = std::fs::remove_file(&raw);
    let m = measured?;
    Ok(m.workload.total as f64 / m.units.max(1) as f64)
}

/// Raw epoll-edge and every next program on the loads only they run (empty if no
/// entry ran them).
pub fn section(jobs: &[&Job], s: &Settings) -> String {
    let shown: Vec<&Job> = jobs
        .iter()
        .copied()
        .filter(|j| j.subject.next_era_loads)
        .collect();
    if !shown.iter().any(|j| j.flavor() == NEXT) {
        return String::new();
    }
    let columns: [Column<UdpEchoFigures>; 6] = [
        ("CPU/echo µs", &|c| {
            c.num(|f| f.next_era.cpu_per_echo_1sock_ns, 1e-3)
        }),
        ("echoes/s", &|c| {
            c.num(|f| f.next_era.echoes_per_s_1sock, 1.0)
        }),
        ("calls/echo", &|c| {
            c.num(|f| f.next_era.syscalls_per_echo, 1.0)
        }),
        ("GSO CPU/dgram µs", &|c| {
            c.num(|f| f.next_era.gso_cpu_per_datagram_ns, 1e-3)
        }),
        ("GSO dgrams/s", &|c| {
            c.num(|f| f.next_era.gso_datagrams_per_s, 1.0)
        }),
        ("GSO 1,200 B µs", &|c| {
            c.num(|f| f.next_era.gso_cpu_per_datagram_1200_ns, 1e-3)
        }),
    ];
    let (w, n) = (s.window, s.udp_sockets);
    let title = format!(
        "UDP echo, next era beside raw epoll: 1 socket × W={w} (system calls under strace, \
         first round); peers that send with GSO and read with GRO: {n} sockets × {GSO_BATCHES} \
         batches of {GSO_SEGMENTS}; of 1,200 bytes, 2 sockets × {GSO_BATCHES} batches of 16"
    );
    let mut out = family_table(&title, &shown, &columns);
    if let Err(why) = traced::find_strace() {
        out += &format!("system calls per echo: not counted: {why}\n");
    }
    if let Err(why) = udp::gso_available() {
        out += &format!("GSO peers: not run: {why}\n");
    }
    out
}

/// What a next program's CPU per echo is held to against raw epoll-edge (ordinary
/// peers), if anything.
pub fn cpu_vs_raw_target(program: &str) -> Option<Target> {
    match program {
        URING_PROGRAM => Some(at_most(
            1.0,
            "echo-uring: CPU per echo at most raw epoll-edge's (aim ≤ 0.85)",
        )),
        BATCH_PROGRAM => Some(at_most(
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
pub fn ratios(jobs: &[&Job], raw: &Job) -> Vec<Ratio> {
    let mut out = Vec::new();
    for j in jobs.iter().filter(|j| j.flavor() == NEXT) {
        let subject = format!("{} / raw epoll-edge", j.title());
        let gso_target = (j.program() == BATCH_PROGRAM).then(|| {
            let says =
                "echo-batch with GSO-sending peers at most 0.10× raw epoll-edge's CPU per datagram";
            at_most(0.10, says)
        });
        out.push(ratio(subject.clone(), GSO_CPU, (j, raw), gso_target));
        for figure in [GSO_CPU_1200, CPU_1SOCK, ECHOES_1SOCK, SYSCALLS] {
            out.push(ratio(subject.clone(), figure, (j, raw), None));
        }
    }
    let Some(uring) = find(jobs, URING_PROGRAM, NEXT, None) else {
        return out;
    };
    if !uring.values(SYSCALLS.1).is_empty() {
        let says = "echo-uring: at most 0.1 system calls per echo at 32 in flight";
        out.push(value(SYSCALLS, uring, at_most(0.1, says)));
    }
    for j in RUNTIME_PROGRAMS
        .iter()
        .filter_map(|p| find(jobs, p, NEXT, None))
    {
        let says = "the runtime echo programs within 1.15× of echo-uring per echo";
        let subject = format!("{} / {URING_PROGRAM}", j.title());
        out.push(ratio(
            subject,
            CPU_PER_ECHO,
            (j, uring),
            Some(at_most(1.15, says)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::entry::{tests::job, MODERN};

    /// Figures with CPU per echo `cpu` ns, GSO CPU per datagram `gso` ns and
    /// `syscalls` per echo.
    fn figures(cpu: f64, gso: f64, syscalls: Option<f64>) -> UdpEchoFigures {
        let next_era = NextEraFigures {
            echoes_per_s_1sock: Some(1e5),
            cpu_per_echo_1sock_ns: Some(cpu),
            syscalls_per_echo: syscalls,
            gso_datagrams_per_s: Some(1e5),
            gso_cpu_per_datagram_ns: Some(gso),
            gso_cpu_per_datagram_1200_ns: Some(gso * 2.0),
        };
        UdpEchoFigures {
            cpu_per_echo_ns: cpu,
            next_era,
            ..Default::default()
        }
    }

    #[test]
    fn next_programs_against_raw_and_echo_uring_with_their_targets() {
        let mut raw = job(
            "echo-epoll-edge",
            MODERN,
            [figures(4000.0, 4000.0, Some(2.0))],
        );
        let mut uring = job(URING_PROGRAM, NEXT, [figures(3000.0, 3000.0, Some(0.05))]);
        let batch = job(BATCH_PROGRAM, NEXT, [figures(3000.0, 400.0, Some(0.1))]);
        let compio = job("echo-compio", NEXT, [figures(6000.0, 6000.0, None)]);
        let ratios = ratios(&[&raw, &uring, &batch, &compio], &raw);
        let find = |subject, figure| crate::bench::ratio::tests::find(&ratios, subject, figure);
        let gso = find(
            "echo-batch next / raw epoll-edge",
            "gso_cpu_per_datagram_ns",
        );
        assert_eq!((gso.met(), gso.rounds.clone()), (Some(true), vec![0.1]));
        assert_eq!(gso.to.as_deref(), Some("echo-epoll-edge modern"));
        let calls = find("echo-uring next", "syscalls_per_echo");
        assert_eq!((calls.met(), calls.to.clone()), (Some(true), None));
        let runtime = find("echo-compio next / echo-uring", "cpu_per_echo_ns");
        assert_eq!(
            (runtime.met(), runtime.rounds.clone()),
            (Some(false), vec![2.0])
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
        // The section shows the entries that ran the loads, and only them.
        let (s, other) = (
            Settings::quick(),
            job("echo-tokio", MODERN, [figures(1.0, 1.0, None)]),
        );
        assert_eq!(
            section(&[&raw, &uring, &other], &s),
            "",
            "no entry ran the loads"
        );
        (raw.subject.next_era_loads, uring.subject.next_era_loads) = (true, true);
        let text = section(&[&raw, &uring, &other], &s);
        let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("echo-")).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert!(
            rows[1].starts_with("echo-uring") && rows[1].contains("0.05"),
            "{text}"
        );
    }
}
