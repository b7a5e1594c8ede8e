//! UDP echo under load: echoes/s with W = 32 datagrams in flight on each of 4 client
//! sockets, server CPU per echo over that interval, RTT p50/p99 with W = 1 on one
//! socket, peak RSS, losses; and the share of a flood far past `--queue` that is
//! echoed, with the order of reads and writes that explains it (`flood`). Two
//! baselines run in the same rounds: a blocking `std::net::UdpSocket` echo, and the
//! raw edge-triggered epoll echo every "vs raw" ratio is taken against. The `next`
//! programs and raw epoll-edge also run the next-era loads (`next_era`).

use anyhow::{bail, Result};
use harness::{Catalogue, Family, Flavor};
use serde::Serialize;

use super::affinity::Placement;
use super::cpu::Cpu;
use super::entry::{find, of_family, programs, AnyEntry, Entry, Figures, Label, Subject};
use super::flood::{self, FloodFigures};
use super::loadgen::{self, EchoLoad, EchoOutcome};
use super::next_era::{self, NextEraFigures};
use super::report::{
    cell, cell_count, cell_pct, cell_pct_range, fmt_num, ladder, row_head, table, total, Figure,
    Ratio, Target,
};
use super::server::Server;
use super::{ns_per, per_second, ServerCounts, Settings, Skipped};

/// The raw epoll echo every "vs raw" ratio is taken against: the modern
/// edge-triggered epoll program (nix 0.30), which drains each readiness edge with
/// plain `recvfrom`/`sendto` and nothing else.
pub const RAW_PROGRAM: &str = "echo-epoll-edge";
/// The blocking baseline's package and binary.
const BLOCKING_PACKAGE: &str = "baselines";
const BLOCKING_BIN: &str = "bench-baseline-blocking";
/// Its name in the tables.
pub const BLOCKING_NAME: &str = "baseline-blocking";

/// The programs on tokio that are held to the "1.7× cheaper than legacy" and "within
/// 1.15× of raw epoll" claims.
const TOKIO_PROGRAMS: [&str; 2] = ["echo-tokio", "echo-mpsc"];

/// The figures of one run of a UDP echo program.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UdpEchoFigures {
    /// Echoes received per second with W datagrams in flight on each client socket.
    pub echoes_per_s: f64,
    /// Server CPU over that interval per echo.
    pub cpu_per_echo_ns: f64,
    /// Server CPU over that interval / its length (1 = one core busy).
    pub server_cpu_util: f64,
    /// The load generator's CPU over that interval / its length.
    pub client_cpu_util: f64,
    /// The server's utime+stime clock ticks over that interval (a cross-check of the
    /// CPU clock, at 10 ms resolution).
    pub stat_ticks: f64,
    /// RTT p50 under the W=32 load, µs (none if no echo carried a sample).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rtt_w32_p50_us: Option<f64>,
    /// RTT percentiles with W = 1 on one socket, µs.
    pub rtt_p50_us: f64,
    pub rtt_p99_us: f64,
    /// Server CPU per echo with W = 1.
    pub cpu_per_echo_w1_ns: f64,
    pub peak_rss_kib: f64,
    /// Over both loads: datagrams given up after the loss timeout, echoes that came
    /// after that, datagrams sent and echoes received.
    pub losses: f64,
    pub late: f64,
    pub client_sent: f64,
    pub client_received: f64,
    #[serde(flatten)]
    pub server: ServerCounts,
    /// A flood at the default queue (`flood_*`).
    #[serde(flatten)]
    pub flood: FloodFigures,
    /// The next-era loads, on the entries that run them.
    #[serde(flatten)]
    pub next_era: NextEraFigures,
}

pub const CPU_PER_ECHO: Figure<UdpEchoFigures> = Figure {
    name: "cpu_per_echo_ns",
    get: |f| Some(f.cpu_per_echo_ns),
};
pub const ECHOES_PER_S: Figure<UdpEchoFigures> = Figure {
    name: "echoes_per_s",
    get: |f| Some(f.echoes_per_s),
};
pub const RTT_P50: Figure<UdpEchoFigures> = Figure {
    name: "rtt_p50_us",
    get: |f| Some(f.rtt_p50_us),
};

impl Figures for UdpEchoFigures {
    const FAMILY: Family = Family::UdpEcho;

    fn run(entry: &Entry<Self>, s: &Settings, placement: &Placement) -> Result<Self> {
        // The outgoing queue holds every datagram the load keeps in flight (the
        // blocking baseline has no queue): what is measured is the machinery, not the
        // drop policy.
        let queue = (s.udp_sockets * s.window * 2).to_string();
        let variant = entry.subject.variant_args();
        let mut extra = variant.clone();
        if entry.subject.label != Label::Baseline {
            extra.extend(["--queue", &queue]);
        }
        let exe = &entry.subject.exe;
        let server = Server::start(exe, &extra, 1, placement)?;
        let (addr, pid) = (server.addrs[0], server.pid());
        let mut probe = || Cpu::read(pid);
        let throughput = loadgen::run_echo(addr, &throughput_load(s), &mut probe)?;
        let latency = loadgen::run_echo(addr, &latency_load(s), &mut probe)?;
        let next_era = match entry.subject.next_era_loads {
            true => next_era::run(&server, s, entry.rounds.is_empty())?,
            false => NextEraFigures::default(),
        };
        let rss = server.peak_rss_kib()?;
        let counts = server.stop()?;
        if throughput.echoes == 0 || latency.echoes == 0 {
            bail!("no echo came back during a measured interval");
        }
        let flood = flood::run(exe, &variant, s, placement)?;
        let server = ServerCounts::of(&counts);
        Ok(UdpEchoFigures {
            flood,
            next_era,
            ..UdpEchoFigures::of(&throughput, &latency, rss, server)
        })
    }

    fn section(entries: &[&Entry<Self>], s: &Settings) -> String {
        let heading = format!(
            "\nUDP echo: throughput with {} sockets × W={} in flight, RTT with W=1 ({}-byte datagrams)\n",
            s.udp_sockets, s.window, s.payload
        );
        let header = [
            "program",
            "flavor",
            "echoes/s",
            "CPU/echo µs",
            "server CPU",
            "RTT p50 µs",
            "RTT p99 µs",
            "peak RSS MiB",
            "losses",
        ];
        let main = heading + &table(&header, entries.iter().map(|e| row(e)).collect());
        main + &flood_section(entries, s) + &next_era::section(entries, s)
    }

    fn ratios(entries: &[&Entry<Self>]) -> Vec<Ratio> {
        let mut out = modern_vs_legacy(entries);
        out.extend(vs_raw(entries));
        out.extend(ladder(entries, &[CPU_PER_ECHO, RTT_P50]));
        out.extend(next_era::ratios(entries));
        out
    }

    fn wrap(entry: Entry<Self>) -> AnyEntry {
        AnyEntry::UdpEcho(entry)
    }

    fn unwrap(entry: &AnyEntry) -> Option<&Entry<Self>> {
        match entry {
            AnyEntry::UdpEcho(e) => Some(e),
            _ => None,
        }
    }
}

/// Throughput: C sockets, W datagrams in flight on each.
fn throughput_load(s: &Settings) -> EchoLoad {
    EchoLoad {
        sockets: s.udp_sockets,
        window: s.window,
        payload: s.payload,
        warmup: s.warmup,
        measure: s.measure,
        loss_timeout: s.loss_timeout,
        max_datagrams: s.max_datagrams,
        gso_segments: None,
    }
}

/// Latency: one socket, one datagram in flight.
fn latency_load(s: &Settings) -> EchoLoad {
    EchoLoad {
        sockets: 1,
        window: 1,
        warmup: s.latency_warmup,
        measure: s.latency_measure,
        ..throughput_load(s)
    }
}

impl UdpEchoFigures {
    fn of(t: &EchoOutcome, l: &EchoOutcome, rss_kib: u64, server: ServerCounts) -> Self {
        let cpu = t.server_cpu.1.since(&t.server_cpu.0);
        let interval = t.interval.as_secs_f64();
        let us = |ns: Option<u64>| ns.unwrap_or_default() as f64 / 1e3;
        UdpEchoFigures {
            echoes_per_s: per_second(t.echoes, t.interval),
            cpu_per_echo_ns: ns_per(cpu, t.echoes),
            server_cpu_util: cpu.as_secs_f64() / interval,
            client_cpu_util: t.client_cpu.as_secs_f64() / interval,
            stat_ticks: ticks(t) as f64,
            rtt_w32_p50_us: t.rtt_percentile(50).map(|p| p as f64 / 1e3),
            rtt_p50_us: us(l.rtt_percentile(50)),
            rtt_p99_us: us(l.rtt_percentile(99)),
            cpu_per_echo_w1_ns: ns_per(l.server_cpu.1.since(&l.server_cpu.0), l.echoes),
            peak_rss_kib: rss_kib as f64,
            losses: (t.losses + l.losses) as f64,
            late: (t.late + l.late) as f64,
            client_sent: (t.sent + l.sent) as f64,
            client_received: (t.received + l.received) as f64,
            server,
            flood: FloodFigures::default(),
            next_era: NextEraFigures::default(),
        }
    }
}

/// The server's utime+stime ticks over the measured interval.
fn ticks(o: &EchoOutcome) -> u64 {
    let (c0, c1) = &o.server_cpu;
    (c1.utime_ticks + c1.stime_ticks).saturating_sub(c0.utime_ticks + c0.stime_ticks)
}

/// The baselines that run with the UDP echo programs, in the same rounds: the
/// blocking echo, and raw epoll-edge unless it is measured anyway; and what is
/// missing for them.
pub fn baselines(
    catalogue: &Catalogue,
    entries: &[AnyEntry],
) -> (Vec<Entry<UdpEchoFigures>>, Vec<Skipped>) {
    let blocking = Subject {
        program: BLOCKING_NAME.into(),
        label: Label::Baseline,
        catalogue: None,
        package: BLOCKING_PACKAGE.into(),
        binary: BLOCKING_BIN.into(),
        sockets: None,
        variant: None,
        next_era_loads: false,
        exe: Default::default(),
    };
    let mut baselines = vec![Entry::new(blocking)];
    let measured = of_family::<UdpEchoFigures>(entries);
    if find(&measured, RAW_PROGRAM, Label::MODERN, None).is_some() {
        return (baselines, Vec::new());
    }
    let is_raw = |p: &&harness::Program| p.name == RAW_PROGRAM && p.flavor == Flavor::Modern;
    match catalogue.programs().iter().find(is_raw) {
        Some(raw) => {
            baselines.push(Entry::new(Subject::of(raw, None)));
            (baselines, Vec::new())
        }
        None => {
            let missing = Skipped {
                program: format!("{RAW_PROGRAM} modern (raw epoll baseline)"),
                reason: "not in the workspace: no ratio against raw epoll".into(),
            };
            (baselines, vec![missing])
        }
    }
}

/// Marks the entries that run the next-era loads: every next program, and raw
/// epoll-edge if there is a next program to read against it.
pub fn mark_next_era(entries: &mut [AnyEntry]) {
    let next = |e: &Entry<UdpEchoFigures>| e.subject.label == Label::Flavor(Flavor::Next, None);
    let any_next = entries
        .iter()
        .any(|e| matches!(e, AnyEntry::UdpEcho(e) if next(e)));
    for e in entries.iter_mut() {
        if let AnyEntry::UdpEcho(e) = e {
            let raw = e.is(RAW_PROGRAM, Label::MODERN);
            e.subject.next_era_loads = next(e) || (raw && any_next);
        }
    }
}

/// The flood section: how much of a flood each entry echoes, and why.
fn flood_section(entries: &[&Entry<UdpEchoFigures>], s: &Settings) -> String {
    let heading = format!(
        "\nUDP echo: a flood of {} datagrams sent as fast as the kernel takes them, at the default --queue {} (kernel drops: the server socket's buffer was full; queue drops: the server read them and its queue was full; turns from the event lines of a second flood)\n",
        fmt_num(s.flood_datagrams as f64),
        shared::echo::DEFAULT_QUEUE
    );
    let header = [
        "program",
        "flavor",
        "echoed",
        "kernel drops",
        "read",
        "queue drops",
        "echoed of read",
        "reads/turn",
        "echoes/turn",
    ];
    let row = |e: &&Entry<UdpEchoFigures>| {
        let mut row = row_head(&e.subject);
        row.extend([
            cell_pct_range(e, |f| f.flood.flood_share),
            cell_count(e, |f| f.flood.flood_kernel_dropped),
            cell_count(e, |f| f.flood.flood_server_recv),
            cell_count(e, |f| f.flood.flood_queue_dropped),
            cell_pct_range(e, |f| f.flood.flood_read_share),
            cell(e, |f| f.flood.flood_reads_per_turn, 1.0),
            cell(e, |f| f.flood.flood_echoes_per_turn, 1.0),
        ]);
        row
    };
    heading + &table(&header, entries.iter().map(row).collect())
}

fn row(e: &Entry<UdpEchoFigures>) -> Vec<String> {
    let mut row = row_head(&e.subject);
    row.extend([
        cell(e, |f| f.echoes_per_s, 1.0),
        cell(e, |f| f.cpu_per_echo_ns, 1e-3),
        cell_pct(e, |f| f.server_cpu_util),
        cell(e, |f| f.rtt_p50_us, 1.0),
        cell(e, |f| f.rtt_p99_us, 1.0),
        cell(e, |f| f.peak_rss_kib, 1.0 / 1024.0),
        total(e, |f| f.losses),
    ]);
    row
}

/// What modern is held to against legacy, per echo: claims about named programs.
fn cpu_target(program: &str) -> Target {
    match program {
        p if TOKIO_PROGRAMS.contains(&p) => Target::at_most(
            1.0 / 1.7,
            "modern at least 1.7× cheaper per echo than legacy",
        ),
        "echo-mio-level" => {
            Target::below(1.0, "modern beats legacy (which re-registers per datagram)")
        }
        _ => Target::at_most(1.05, "modern no worse than legacy"),
    }
}

/// Modern / legacy of each program measured in both flavors.
fn modern_vs_legacy(entries: &[&Entry<UdpEchoFigures>]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for program in programs(entries) {
        let (Some(l), Some(m)) = (
            find(entries, program, Label::LEGACY, None),
            find(entries, program, Label::MODERN, None),
        ) else {
            continue;
        };
        let subject = format!("{program} modern / legacy");
        let target = Some(cpu_target(program));
        out.push(Ratio::of(subject.clone(), CPU_PER_ECHO, (m, l), target));
        out.push(Ratio::of(subject.clone(), ECHOES_PER_S, (m, l), None));
        out.push(Ratio::of(subject, RTT_P50, (m, l), None));
    }
    out
}

/// Every entry (baselines included) against raw epoll-edge.
fn vs_raw(entries: &[&Entry<UdpEchoFigures>]) -> Vec<Ratio> {
    let Some(raw) = find(entries, RAW_PROGRAM, Label::MODERN, None) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| !std::ptr::eq(**e, raw)) {
        let modern = e.subject.label == Label::MODERN;
        let next = e.subject.label == Label::Flavor(Flavor::Next, None);
        let program = e.subject.program.as_str();
        let tokio = TOKIO_PROGRAMS.contains(&program);
        let cpu_target = match (modern && tokio, next) {
            (true, _) => Some(Target::at_most(
                1.15,
                "modern tokio programs within 1.15× of raw epoll per echo",
            )),
            (false, true) => next_era::cpu_vs_raw_target(program),
            (false, false) => None,
        };
        let rtt_target = modern.then_some(Target::at_most(
            1.15,
            "modern RTT p50 at W=1 within 1.15× of raw epoll",
        ));
        let subject = format!("{} / raw epoll-edge", e.subject.title());
        out.push(Ratio::of(
            subject.clone(),
            CPU_PER_ECHO,
            (e, raw),
            cpu_target,
        ));
        out.push(Ratio::of(subject, RTT_P50, (e, raw), rtt_target));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bench::entry::tests::entry;

    /// Figures whose every field has its own value.
    fn figures(scale: f64) -> UdpEchoFigures {
        UdpEchoFigures {
            echoes_per_s: 1.0 * scale,
            cpu_per_echo_ns: 2.0 * scale,
            server_cpu_util: 3.0,
            client_cpu_util: 4.0,
            stat_ticks: 5.0,
            rtt_w32_p50_us: Some(6.0),
            rtt_p50_us: 7.0 * scale,
            rtt_p99_us: 8.0,
            cpu_per_echo_w1_ns: 9.0,
            peak_rss_kib: 10.0 * 1024.0,
            losses: 11.0,
            late: 12.0,
            client_sent: 13.0,
            client_received: 14.0,
            server: ServerCounts {
                server_recv: Some(15.0),
                server_sent: Some(16.0),
                server_dropped: Some(17.0),
            },
            flood: FloodFigures {
                flood_sent: 5_000.0,
                flood_echoed: 320.0,
                flood_share: 0.064,
                flood_server_recv: Some(4_000.0),
                flood_server_sent: Some(320.0),
                flood_read_share: Some(0.08),
                flood_queue_dropped: Some(3_680.0),
                flood_kernel_dropped: Some(1_000.0),
                flood_reads_per_turn: Some(128.0),
                flood_echoes_per_turn: Some(8.0),
            },
            next_era: NextEraFigures::default(),
        }
    }

    #[test]
    fn figures_serialise_to_the_documented_keys() {
        let json = serde_json::to_value(figures(1.0)).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "client_cpu_util",
                "client_received",
                "client_sent",
                "cpu_per_echo_ns",
                "cpu_per_echo_w1_ns",
                "echoes_per_s",
                "flood_echoed",
                "flood_echoes_per_turn",
                "flood_kernel_dropped",
                "flood_queue_dropped",
                "flood_read_share",
                "flood_reads_per_turn",
                "flood_sent",
                "flood_server_recv",
                "flood_server_sent",
                "flood_share",
                "late",
                "losses",
                "peak_rss_kib",
                "rtt_p50_us",
                "rtt_p99_us",
                "rtt_w32_p50_us",
                "server_cpu_util",
                "server_dropped",
                "server_recv",
                "server_sent",
                "stat_ticks",
            ]
        );
        assert_eq!(json["rtt_w32_p50_us"], json!(6.0));
        assert_eq!(json["server_dropped"], json!(17.0));
        // An optional figure that was not measured is left out, not written as 0.
        let bare = UdpEchoFigures::default();
        let json = serde_json::to_value(bare).unwrap();
        for key in [
            "rtt_w32_p50_us",
            "server_recv",
            "server_sent",
            "server_dropped",
            "flood_reads_per_turn",
            "syscalls_per_echo",
            "gso_cpu_per_datagram_ns",
        ] {
            assert!(json.get(key).is_none(), "{key} in {json}");
        }
        assert_eq!(json["losses"], json!(0.0));
    }

    #[test]
    fn ratio_figures_read_the_field_of_their_name() {
        let f = figures(1.0);
        let json = serde_json::to_value(&f).unwrap();
        for figure in [CPU_PER_ECHO, ECHOES_PER_S, RTT_P50] {
            assert_eq!(
                json[figure.name],
                json!((figure.get)(&f)),
                "{}",
                figure.name
            );
        }
    }

    #[test]
    fn ratios_against_legacy_and_raw_with_their_targets() {
        let legacy = entry("echo-tokio", Label::LEGACY, [figures(2.0), figures(4.0)]);
        let modern = entry("echo-tokio", Label::MODERN, [figures(1.0), figures(1.0)]);
        let raw = entry(RAW_PROGRAM, Label::MODERN, [figures(1.0), figures(0.5)]);
        let ratios = UdpEchoFigures::ratios(&[&legacy, &modern, &raw]);
        let shown: Vec<_> = (ratios.iter())
            .map(|r| (r.subject.as_str(), r.figure, r.rounds.clone(), r.met()))
            .collect();
        let tokio = "echo-tokio modern / legacy";
        let raw_of = |l| format!("echo-tokio {l} / raw epoll-edge");
        let (legacy_raw, modern_raw) = (raw_of("legacy"), raw_of("modern"));
        assert_eq!(
            shown,
            [
                (tokio, "cpu_per_echo_ns", vec![0.5, 0.25], Some(true)),
                (tokio, "echoes_per_s", vec![0.5, 0.25], None),
                (tokio, "rtt_p50_us", vec![0.5, 0.25], None),
                (legacy_raw.as_str(), "cpu_per_echo_ns", vec![2.0, 8.0], None),
                (legacy_raw.as_str(), "rtt_p50_us", vec![2.0, 8.0], None),
                (
                    modern_raw.as_str(),
                    "cpu_per_echo_ns",
                    vec![1.0, 2.0],
                    Some(false)
                ),
                (
                    modern_raw.as_str(),
                    "rtt_p50_us",
                    vec![1.0, 2.0],
                    Some(false)
                ),
            ]
        );
        assert_eq!(ratios[0].target, Some(cpu_target("echo-tokio")));
    }

    #[test]
    fn a_bridge_step_is_read_against_both_ends_of_its_ladder() {
        let legacy = entry("echo-mpsc", Label::LEGACY, [figures(2.0)]);
        let step = Label::Flavor(Flavor::Bridge, Some(2));
        let bridge = entry("echo-mpsc", step, [figures(1.5)]);
        let modern = entry("echo-mpsc", Label::MODERN, [figures(1.0)]);
        let ratios = UdpEchoFigures::ratios(&[&legacy, &bridge, &modern]);
        let ladder: Vec<_> = (ratios.iter())
            .filter(|r| r.subject.contains("bridge"))
            .map(|r| {
                (
                    r.subject.as_str(),
                    r.figure,
                    r.rounds.clone(),
                    r.target.is_some(),
                )
            })
            .collect();
        let (l, m) = ("echo-mpsc bridge-2 / legacy", "echo-mpsc bridge-2 / modern");
        assert_eq!(
            ladder,
            [
                (l, "cpu_per_echo_ns", vec![0.75], false),
                (l, "rtt_p50_us", vec![0.75], false),
                (m, "cpu_per_echo_ns", vec![1.5], false),
                (m, "rtt_p50_us", vec![1.5], false),
            ]
        );
    }

    #[test]
    fn a_failed_round_gives_no_ratio_for_that_round() {
        let mut legacy = entry("echo-select", Label::LEGACY, [figures(2.0), figures(2.0)]);
        legacy.rounds[0] = None;
        let modern = entry("echo-select", Label::MODERN, [figures(1.0), figures(3.0)]);
        let ratios = UdpEchoFigures::ratios(&[&legacy, &modern]);
        assert_eq!(ratios.len(), 3, "no raw baseline: modern / legacy only");
        assert_eq!(ratios[0].rounds, [1.5]);
        assert_eq!(
            ratios[0].target.as_ref().unwrap().says,
            "modern no worse than legacy"
        );
        assert_eq!(ratios[0].met(), Some(false));
    }

    #[test]
    fn the_section_shows_one_row_per_entry() {
        let s = Settings::for_tests();
        let tokio = entry(
            "echo-tokio",
            Label::MODERN,
            [figures(1000.0), figures(3000.0)],
        );
        let mut failed = entry::<UdpEchoFigures>("echo-mpsc", Label::LEGACY, []);
        failed.errors.push("round 1: no echo".into());
        let text = UdpEchoFigures::section(&[&tokio, &failed], &s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "");
        assert!(lines[1].starts_with("UDP echo: throughput with 4 sockets × W=32"));
        let cells = |l: &str| -> Vec<String> {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        };
        assert_eq!(cells(lines[2])[2..4], ["echoes/s", "CPU/echo µs"]);
        assert_eq!(
            cells(lines[4]),
            [
                "echo-tokio",
                "modern",
                "2,000 (1,000–3,000)",
                "4.00 (2.00–6.00)",
                "300%",
                "14,000 (7,000–21,000)",
                "8.00 (8.00–8.00)",
                "10.0 (10.0–10.0)",
                "22",
            ]
        );
        assert_eq!(cells(lines[5])[..3], ["echo-mpsc", "legacy", "error"]);
        assert_eq!(cells(lines[5]).last().map(String::as_str), Some("—"));
    }
}
