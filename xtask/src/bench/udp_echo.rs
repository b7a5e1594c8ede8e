//! UDP echo under load: echoes/s with W = 32 datagrams in flight on each of 4 client
//! sockets, server CPU per echo over that interval, RTT p50/p99 with W = 1 on one
//! socket, peak RSS, losses; and the share of a flood far past `--queue` that is
//! echoed, with the order of reads and writes that explains it (`flood`). Two
//! baselines run in the same rounds: a blocking `std::net::UdpSocket` echo, and the
//! raw edge-triggered epoll echo every "vs raw" ratio is taken against. The `next`
//! programs and raw epoll-edge also run the next-era loads (`next_era`).

use anyhow::{bail, Result};
use harness::results::bench::{Ratio, Rounds, Target, UdpEchoFigures};
use harness::{Catalogue, Flavor, Program};

use super::cells::{family_table, Column};
use super::entry::{find, Job, BASELINE, MODERN, NEXT};
use super::ratio::{at_most, below, ladder, modern_vs_legacy, ratio, Figure};
use super::settings::{Settings, MAX_DATAGRAMS};
use super::{depth, flood, next_era};
use harness::load::udp::{self, EchoLoad, EchoOutcome};
use harness::measure::affinity::Placement;
use harness::measure::cpu::{ns_per, per_second, Cpu};
use harness::measure::server::{counts, Server};

/// The raw epoll echo every "vs raw" ratio is taken against: the modern
/// edge-triggered epoll program, which drains each readiness edge with plain
/// `recvfrom`/`sendto` and nothing else.
pub const RAW_PROGRAM: &str = "echo-epoll-edge";
/// The blocking baseline: its name in the tables, its package and binary.
const BLOCKING: (&str, &str, &str) = ("baseline-blocking", "baselines", "bench-baseline-blocking");
/// The programs on tokio held to the "1.7× cheaper than legacy" and "within 1.15× of
/// raw epoll" claims.
const TOKIO_PROGRAMS: [&str; 2] = ["echo-tokio", "echo-mpsc"];

/// The figures ratios are taken of.
type Fig = Figure<UdpEchoFigures>;
const CPU_PER_ECHO: Fig = ("cpu_per_echo_ns", |f| Some(f.cpu_per_echo_ns));
const ECHOES_PER_S: Fig = ("echoes_per_s", |f| Some(f.echoes_per_s));
const RTT_P50: Fig = ("rtt_p50_us", |f| Some(f.rtt_p50_us));

/// One round of `job`: the throughput and latency loads (and the next-era loads where
/// it runs them) on one server, then the flood on two more.
pub fn run(job: &Job, s: &Settings, on: &Placement, round: usize) -> Result<UdpEchoFigures> {
    let (exe, server) = (&job.subject.exe, start(job, s, on)?);
    let variant: Vec<&str> = job.subject.variant.iter().map(String::as_str).collect();
    let (addr, pid) = (server.addrs[0], server.pid());
    let mut probe = || Cpu::read(pid);
    let t = udp::run_echo(addr, &throughput_load(s), &mut probe)?;
    let l = udp::run_echo(addr, &latency_load(s), &mut probe)?;
    let next_era = match job.subject.next_era_loads {
        true => next_era::run(&server, exe, s, round == 0)?,
        false => Default::default(),
    };
    let depth = match depth::swept(job) {
        true => depth::run(&server, s)?,
        false => Vec::new(),
    };
    let rss = server.peak_rss_kib()?;
    let server = counts(&server.stop()?);
    if t.echoes == 0 || l.echoes == 0 {
        bail!("no echo came back during a measured interval");
    }
    let cpu = t.server_cpu.1.since(&t.server_cpu.0);
    let interval = t.interval.as_secs_f64();
    let us = |ns: Option<u64>| ns.unwrap_or_default() as f64 / 1e3;
    Ok(UdpEchoFigures {
        echoes_per_s: per_second(t.echoes, t.interval),
        cpu_per_echo_ns: ns_per(cpu, t.echoes),
        server_cpu_util: cpu.as_secs_f64() / interval,
        client_cpu_util: t.client_cpu.as_secs_f64() / interval,
        stat_ticks: ticks(&t) as f64,
        rtt_w32_p50_us: t.rtt_percentile(50).map(|p| p as f64 / 1e3),
        rtt_p50_us: us(l.rtt_percentile(50)),
        rtt_p99_us: us(l.rtt_percentile(99)),
        cpu_per_echo_w1_ns: ns_per(l.server_cpu.1.since(&l.server_cpu.0), l.echoes),
        peak_rss_kib: rss as f64,
        losses: (t.losses + l.losses) as f64,
        late: (t.late + l.late) as f64,
        client_sent: (t.sent + l.sent) as f64,
        client_received: (t.received + l.received) as f64,
        server,
        flood: flood::run(exe, &variant, s, on)?,
        next_era,
        depth,
    })
}

/// Starts `job`'s server. Its outgoing queue holds every datagram the load keeps in
/// flight, the depth sweep's deepest load included where it runs (the blocking
/// baseline has no queue): what is measured is the machinery, not the drop policy.
pub fn start(job: &Job, s: &Settings, on: &Placement) -> Result<Server> {
    let mut queue = s.udp_sockets * s.window * 2;
    if depth::swept(job) {
        queue = queue.max(depth::queue());
    }
    let queue = queue.to_string();
    let mut extra: Vec<&str> = job.subject.variant.iter().map(String::as_str).collect();
    if job.flavor() != BASELINE {
        extra.extend(["--queue", &queue]);
    }
    Server::start(&job.subject.exe, &extra, 1, on)
}

/// Throughput: C sockets, W datagrams in flight on each.
pub fn throughput_load(s: &Settings) -> EchoLoad {
    EchoLoad {
        sockets: s.udp_sockets,
        window: s.window,
        payload: s.payload,
        span: s.span(),
        max_datagrams: MAX_DATAGRAMS,
        gso_segments: None,
    }
}

/// Latency: one socket, one datagram in flight.
fn latency_load(s: &Settings) -> EchoLoad {
    EchoLoad {
        sockets: 1,
        window: 1,
        span: s.latency_span(),
        ..throughput_load(s)
    }
}

/// The server's utime+stime ticks over the measured interval (a cross-check of its CPU
/// clock, at 10 ms resolution).
fn ticks(o: &EchoOutcome) -> u64 {
    let (c0, c1) = &o.server_cpu;
    (c1.utime_ticks + c1.stime_ticks).saturating_sub(c0.utime_ticks + c0.stime_ticks)
}

/// The baselines that run with the UDP echo programs, in the same rounds: the blocking
/// echo, and raw epoll-edge unless it is measured anyway (or, where the workspace has
/// none, an entry that says so). Marks the entries that run the next-era loads: every
/// next program, and raw epoll-edge if there is one to read against it.
pub fn baselines(catalogue: &Catalogue, jobs: &mut Vec<Job>) {
    let (name, package, binary) = BLOCKING;
    let udp = || Rounds::UdpEcho(Vec::new());
    let mut blocking = Job::new(name, BASELINE, None, udp());
    (blocking.subject.package, blocking.subject.binary) = (package.into(), binary.into());
    let mut add = vec![blocking];
    let is_raw = |p: &&Program| p.name == RAW_PROGRAM && p.flavor == Flavor::Modern;
    if !jobs.iter().any(|j| j.is(RAW_PROGRAM, MODERN)) {
        add.push(match catalogue.programs().iter().find(is_raw) {
            Some(raw) => Job::of(raw, None, udp()),
            None => Job::new(RAW_PROGRAM, MODERN, None, udp())
                .skipped("not in the workspace: no ratio against raw epoll".into()),
        });
    }
    jobs.splice(0..0, add);
    let any_next = jobs
        .iter()
        .any(|j| j.flavor() == NEXT && j.entry.skipped.is_none());
    for j in jobs
        .iter_mut()
        .filter(|j| matches!(j.entry.rounds, Rounds::UdpEcho(_)))
    {
        let raw = j.is(RAW_PROGRAM, MODERN);
        j.subject.next_era_loads = j.flavor() == NEXT || (raw && any_next);
    }
}

/// The family's tables: throughput, latency, the flood, and the next era.
pub fn section(jobs: &[&Job], s: &Settings) -> String {
    let (n, w, p) = (s.udp_sockets, s.window, s.payload);
    let throughput: [Column<UdpEchoFigures>; 5] = [
        ("echoes/s", &|c| c.num(|f| f.echoes_per_s, 1.0)),
        ("CPU/echo µs", &|c| c.num(|f| f.cpu_per_echo_ns, 1e-3)),
        ("server CPU", &|c| c.pct(|f| f.server_cpu_util)),
        ("peak RSS MiB", &|c| c.num(|f| f.peak_rss_kib, 1.0 / 1024.0)),
        ("losses", &|c| c.total(|f| f.losses)),
    ];
    let loaded = format!("RTT p50 µs, W={w}");
    let latency: [Column<UdpEchoFigures>; 4] = [
        ("RTT p50 µs", &|c| c.num(|f| f.rtt_p50_us, 1.0)),
        ("RTT p99 µs", &|c| c.num(|f| f.rtt_p99_us, 1.0)),
        ("CPU/echo µs", &|c| c.num(|f| f.cpu_per_echo_w1_ns, 1e-3)),
        (&loaded, &|c| c.num(|f| f.rtt_w32_p50_us, 1.0)),
    ];
    let title =
        format!("UDP echo, throughput: {n} sockets × W={w} datagrams of {p} bytes in flight");
    let latency_title =
        format!("UDP echo, latency: 1 socket × W=1 (and the RTT under the W={w} load)");
    family_table(&title, jobs, &throughput)
        + &family_table(&latency_title, jobs, &latency)
        + &flood::section(jobs, s)
        + &next_era::section(jobs, s)
}

/// What modern is held to against legacy, per echo: claims about named programs.
fn cpu_target(program: &str) -> Target {
    match program {
        p if TOKIO_PROGRAMS.contains(&p) => at_most(
            1.0 / 1.7,
            "modern at least 1.7× cheaper per echo than legacy",
        ),
        "echo-mio-level" => below(1.0, "modern beats legacy (which re-registers per datagram)"),
        _ => at_most(1.05, "modern no worse than legacy"),
    }
}

pub fn ratios(jobs: &[&Job]) -> Vec<Ratio> {
    let target =
        |j: &Job, figure: &str| (figure == CPU_PER_ECHO.0).then(|| cpu_target(j.program()));
    let mut out = modern_vs_legacy(jobs, &[CPU_PER_ECHO, ECHOES_PER_S, RTT_P50], target);
    let Some(raw) = find(jobs, RAW_PROGRAM, MODERN, None) else {
        return out;
    };
    // Every entry (the baselines too) against raw epoll-edge.
    for j in jobs.iter().filter(|j| !std::ptr::eq(**j, raw)) {
        let (modern, next) = (j.flavor() == MODERN, j.flavor() == NEXT);
        let cpu_target = match (modern && TOKIO_PROGRAMS.contains(&j.program()), next) {
            (true, _) => Some(at_most(
                1.15,
                "modern tokio programs within 1.15× of raw epoll per echo",
            )),
            (false, true) => next_era::cpu_vs_raw_target(j.program()),
            (false, false) => None,
        };
        let rtt_target =
            modern.then(|| at_most(1.15, "modern RTT p50 at W=1 within 1.15× of raw epoll"));
        let subject = format!("{} / raw epoll-edge", j.title());
        out.push(ratio(subject.clone(), CPU_PER_ECHO, (j, raw), cpu_target));
        out.push(ratio(subject, RTT_P50, (j, raw), rtt_target));
    }
    out.extend(ladder(jobs, &[CPU_PER_ECHO, RTT_P50]));
    out.extend(next_era::ratios(jobs, raw));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::entry::{tests::job, LEGACY};
    use crate::bench::ratio::tests::line;

    fn figures(scale: f64) -> UdpEchoFigures {
        let (echoes_per_s, cpu_per_echo_ns, rtt_p50_us) = (scale, 2.0 * scale, 7.0 * scale);
        let (server_cpu_util, losses) = (3.0, 11.0);
        UdpEchoFigures {
            echoes_per_s,
            cpu_per_echo_ns,
            rtt_p50_us,
            server_cpu_util,
            losses,
            ..Default::default()
        }
    }

    #[test]
    fn ratios_against_legacy_and_raw_with_their_targets() {
        let legacy = job("echo-tokio", LEGACY, [figures(2.0), figures(4.0)]);
        let modern = job("echo-tokio", MODERN, [figures(1.0), figures(1.0)]);
        let raw = job(RAW_PROGRAM, MODERN, [figures(1.0), figures(0.5)]);
        let ratios = ratios(&[&legacy, &modern, &raw]);
        let want = [
            "echo-tokio modern / legacy: cpu_per_echo_ns [0.5, 0.25] ≤ 0.59 met",
            "echo-tokio modern / legacy: echoes_per_s [0.5, 0.25]",
            "echo-tokio modern / legacy: rtt_p50_us [0.5, 0.25]",
            "echo-tokio legacy / raw epoll-edge: cpu_per_echo_ns [2.0, 8.0]",
            "echo-tokio legacy / raw epoll-edge: rtt_p50_us [2.0, 8.0]",
            "echo-tokio modern / raw epoll-edge: cpu_per_echo_ns [1.0, 2.0] ≤ 1.15 missed",
            "echo-tokio modern / raw epoll-edge: rtt_p50_us [1.0, 2.0] ≤ 1.15 missed",
        ];
        assert_eq!(ratios.iter().map(line).collect::<Vec<_>>(), want);
        assert_eq!(ratios[0].target, Some(cpu_target("echo-tokio")));
        assert_eq!(
            cpu_target("echo-select").says,
            "modern no worse than legacy"
        );
    }

    #[test]
    fn the_section_shows_one_row_per_entry_within_100_columns() {
        let tokio = job("echo-tokio", MODERN, [figures(1000.0), figures(3000.0)]);
        let mut failed = job::<UdpEchoFigures>("baseline-blocking", BASELINE, []);
        failed.entry.errors.push("round 1: no echo".into());
        let text = section(&[&tokio, &failed], &Settings::quick());
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].starts_with("UDP echo, throughput: 4 sockets × W=32"),
            "{text}"
        );
        let cells = |l: &str| {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect::<Vec<_>>()
        };
        let want = [
            "echo-tokio",
            "modern",
            "2,000 ±50%",
            "4.00 ±50%",
            "300%",
            "0.00",
            "22",
        ];
        assert_eq!(cells(lines[3]), want);
        assert_eq!(
            cells(lines[4])[..3],
            ["baseline-blocking", "baseline", "error"]
        );
    }
}
