//! From runs to results: medians with min–max over rounds, the ratios (taken round by
//! round, between runs of the same round), the targets they are held to, and the
//! table and JSON that show them.

use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::affinity::Placement;
use super::{family_key, Entry, Family, Label, Settings, Skipped, BLOCKING_NAME, RAW_PROGRAM};

/// Median, min and max of one figure over the rounds that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stat {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub n: usize,
}

impl Stat {
    pub fn of(values: &[f64]) -> Option<Stat> {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Stat {
            median,
            min: v[0],
            max: v[n - 1],
            n,
        })
    }
}

impl Entry {
    /// The values of `figure` in the rounds that produced it.
    pub fn values(&self, figure: &str) -> Vec<f64> {
        self.rounds
            .iter()
            .flatten()
            .filter_map(|f| f.get(figure).copied())
            .collect()
    }

    pub fn stat(&self, figure: &str) -> Option<Stat> {
        Stat::of(&self.values(figure))
    }

    /// Every figure name any round produced.
    fn figure_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self
            .rounds
            .iter()
            .flatten()
            .flat_map(|f| f.keys().copied())
            .collect();
        names.sort();
        names.dedup();
        names
    }
}

/// How a ratio is held to its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    AtMost,
    Below,
    Above,
}

#[derive(Debug, Clone)]
pub struct Target {
    pub op: Op,
    pub bound: f64,
    /// What the target says, in words.
    pub says: &'static str,
}

impl Target {
    fn text(&self) -> String {
        let op = match self.op {
            Op::AtMost => "≤",
            Op::Below => "<",
            Op::Above => ">",
        };
        format!("{op} {}", fmt_ratio(self.bound))
    }

    fn holds(&self, v: f64) -> bool {
        match self.op {
            Op::AtMost => v <= self.bound,
            Op::Below => v < self.bound,
            Op::Above => v > self.bound,
        }
    }
}

/// A ratio of one figure between two entries, round by round.
#[derive(Debug, Clone)]
pub struct Ratio {
    /// `echo-tokio modern / legacy`, `echo-tokio modern / raw epoll-edge`, …
    pub subject: String,
    pub figure: &'static str,
    pub rounds: Vec<f64>,
    pub target: Option<Target>,
}

impl Ratio {
    pub fn stat(&self) -> Option<Stat> {
        Stat::of(&self.rounds)
    }

    /// Whether the median meets the target (`None` without a target or a value).
    pub fn met(&self) -> Option<bool> {
        Some(self.target.as_ref()?.holds(self.stat()?.median))
    }
}

/// `num[r] / den[r]` for every round where both have the figure.
fn per_round(num: &Entry, den: &Entry, figure: &str) -> Vec<f64> {
    num.rounds
        .iter()
        .zip(&den.rounds)
        .filter_map(|(a, b)| {
            let (a, b) = (a.as_ref()?.get(figure)?, b.as_ref()?.get(figure)?);
            (*b > 0.0).then(|| a / b)
        })
        .collect()
}

pub struct Report {
    pub entries: Vec<Entry>,
    pub skipped: Vec<Skipped>,
    pub ratios: Vec<Ratio>,
    settings: Settings,
    placement: Placement,
    command: String,
    elapsed: Duration,
}

impl Report {
    pub fn new(
        entries: Vec<Entry>,
        skipped: Vec<Skipped>,
        settings: &Settings,
        placement: &Placement,
        command: String,
        elapsed: Duration,
    ) -> Report {
        let ratios = ratios(&entries);
        Report {
            entries,
            skipped,
            ratios,
            settings: settings.clone(),
            placement: *placement,
            command,
            elapsed,
        }
    }

    pub fn find(&self, program: &str, label: Label, sockets: Option<usize>) -> Option<&Entry> {
        find(&self.entries, program, label, sockets)
    }

    pub fn any_error(&self) -> bool {
        self.entries.iter().any(|e| !e.errors.is_empty())
    }

    pub fn family(&self, family: Family) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.family == family)
    }

    pub fn to_json(&self, plots: &[String]) -> Value {
        let s = &self.settings;
        let entries: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut median = Map::new();
                let mut min = Map::new();
                let mut max = Map::new();
                for name in e.figure_names() {
                    if let Some(st) = e.stat(name) {
                        median.insert(name.into(), json!(st.median));
                        min.insert(name.into(), json!(st.min));
                        max.insert(name.into(), json!(st.max));
                    }
                }
                let rounds: Vec<Value> = e
                    .rounds
                    .iter()
                    .map(|r| match r {
                        Some(f) => json!(f),
                        None => Value::Null,
                    })
                    .collect();
                json!({
                    "program": e.program,
                    "flavor": e.label.as_str(),
                    "family": family_key(e.family),
                    "sockets": e.sockets,
                    "raw_baseline": e.is(RAW_PROGRAM, Label::Modern),
                    "median": median,
                    "min": min,
                    "max": max,
                    "rounds": rounds,
                    "errors": e.errors,
                })
            })
            .collect();
        let ratios: Vec<Value> = self
            .ratios
            .iter()
            .map(|r| {
                let st = r.stat();
                json!({
                    "subject": r.subject,
                    "figure": r.figure,
                    "median": st.map(|s| s.median),
                    "min": st.map(|s| s.min),
                    "max": st.map(|s| s.max),
                    "rounds": r.rounds,
                    "target": r.target.as_ref().map(|t| t.text()),
                    "target_says": r.target.as_ref().map(|t| t.says),
                    "met": r.met(),
                })
            })
            .collect();
        let (met, not_met) = self.target_counts();
        json!({
            "command": self.command,
            "took_s": self.elapsed.as_secs_f64(),
            "machine": machine(self.placement.cpus()),
            "placement": self.placement.describe(),
            "method": {
                "profile": s.profile.as_str(),
                "rounds": s.rounds,
                "order": "interleaved: every entry once per round, in the same order; ratios taken between runs of the same round; median with min and max over rounds",
                "server": "started with --quiet --bind 127.0.0.1:0 (UDP echo programs also --queue 2·C·W, so that the bounded queue never drops what the load keeps in flight), port from its listening line, stopped with SIGTERM, summary line read",
                "server_cpu": "user+system time of the whole server process from its CPU clock (clock_getcpuclockid, ns; the /proc/PID/stat utime+stime account), delta over the measured interval",
                "peak_rss": "VmHWM of /proc/PID/status before SIGTERM",
                "udp_echo": {
                    "client": "connected UDP sockets on one thread, sendmmsg/recvmmsg, each keeping a window of datagrams in flight",
                    "throughput": {"sockets": s.udp_sockets, "window": s.window, "warmup_s": s.warmup.as_secs_f64(), "measure_s": s.measure.as_secs_f64()},
                    "latency": {"sockets": 1, "window": 1, "warmup_s": s.latency_warmup.as_secs_f64(), "measure_s": s.latency_measure.as_secs_f64()},
                    "payload_bytes": s.payload,
                    "server_queue": s.udp_sockets * s.window * 2,
                    "loss_timeout_ms": s.loss_timeout.as_millis() as u64,
                    "max_datagrams_per_run": s.max_datagrams,
                    "cpu_per_echo": "server CPU over the W=32 interval / echoes received in it",
                    "baselines": {
                        "blocking": format!("{BLOCKING_NAME}: std::net::UdpSocket, recv_from then send_to, one thread"),
                        "raw": format!("modern {RAW_PROGRAM} (nix 0.30 epoll, edge-triggered, drained to EAGAIN): the denominator of every 'vs raw' ratio"),
                    },
                },
                "multisocket": {
                    "sockets": s.multisocket_sizes,
                    "spray": format!("{} datagrams/s in bursts of {} (each to the next socket in turn) for {} s", s.spray_rate, s.spray_burst, s.spray_duration.as_secs_f64()),
                    "cpu_per_datagram": "server CPU from idle after start-up to idle after the last datagram / the server's summary recv= count",
                },
                "tcp_echo": {
                    "bulk": format!("{} connections, {}-byte writes, echo read back concurrently; MB = 10^6 bytes echoed", s.tcp_connections, s.tcp_chunk),
                    "connections": format!("{} workers: connect, write 1 byte, read it back, close; at most {} connections per run", s.connect_workers, s.max_connections),
                },
                "ident": format!("{} connections on one thread, each asking about itself (server-port , client-port) and asking again on each reply", s.ident_connections),
            },
            "entries": entries,
            "ratios": ratios,
            "targets": {"met": met, "not_met": not_met},
            "skipped": self.skipped.iter().map(|s| json!({"program": s.program, "reason": s.reason})).collect::<Vec<_>>(),
            "plots": plots,
        })
    }

    fn target_counts(&self) -> (usize, usize) {
        let met = self.ratios.iter().filter(|r| r.met() == Some(true)).count();
        let not = self
            .ratios
            .iter()
            .filter(|r| r.met() == Some(false))
            .count();
        (met, not)
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let _ = writeln!(
            out,
            "{} rounds, interleaved; median (min–max); {}",
            s.rounds,
            self.placement.describe()
        );
        let udp: Vec<&Entry> = self.family(Family::UdpEcho).collect();
        if !udp.is_empty() {
            let _ = writeln!(
                out,
                "\nUDP echo: throughput with {} sockets × W={} in flight, RTT with W=1 ({}-byte datagrams)",
                s.udp_sockets, s.window, s.payload
            );
            out += &table(
                &[
                    "program",
                    "flavor",
                    "echoes/s",
                    "CPU/echo µs",
                    "server CPU",
                    "RTT p50 µs",
                    "RTT p99 µs",
                    "peak RSS MiB",
                    "losses",
                ],
                udp.iter()
                    .map(|e| {
                        vec![
                            e.program.clone(),
                            e.label.as_str().to_string(),
                            cell(e, "echoes_per_s", 1.0),
                            cell(e, "cpu_per_echo_ns", 1e-3),
                            cell_pct(e, "server_cpu_util"),
                            cell(e, "rtt_p50_us", 1.0),
                            cell(e, "rtt_p99_us", 1.0),
                            cell(e, "peak_rss_kib", 1.0 / 1024.0),
                            total(e, "losses"),
                        ]
                    })
                    .collect(),
            );
        }
        let ms: Vec<&Entry> = self.family(Family::Multisocket).collect();
        if !ms.is_empty() {
            let _ = writeln!(
                out,
                "\nMulti-socket: {} datagrams/s spread over every socket",
                s.spray_rate
            );
            out += &table(
                &[
                    "program",
                    "flavor",
                    "sockets",
                    "CPU/datagram µs",
                    "received",
                    "peak RSS MiB",
                ],
                ms.iter()
                    .map(|e| {
                        vec![
                            e.program.clone(),
                            e.label.as_str().to_string(),
                            e.sockets.map(|n| n.to_string()).unwrap_or_default(),
                            cell(e, "cpu_per_datagram_ns", 1e-3),
                            received(e),
                            cell(e, "peak_rss_kib", 1.0 / 1024.0),
                        ]
                    })
                    .collect(),
            );
        }
        let tcp: Vec<&Entry> = self.family(Family::TcpEcho).collect();
        if !tcp.is_empty() {
            let _ = writeln!(
                out,
                "\nTCP echo: {} connections × {} KiB writes; connection rate with {} workers",
                s.tcp_connections,
                s.tcp_chunk / 1024,
                s.connect_workers
            );
            out += &table(
                &[
                    "program",
                    "flavor",
                    "MB/s",
                    "CPU/MB µs",
                    "conn/s",
                    "CPU/conn µs",
                    "peak RSS MiB",
                ],
                tcp.iter()
                    .map(|e| {
                        vec![
                            e.program.clone(),
                            e.label.as_str().to_string(),
                            cell(e, "mb_per_s", 1.0),
                            cell(e, "cpu_per_mb_us", 1.0),
                            cell(e, "connections_per_s", 1.0),
                            cell(e, "cpu_per_connection_us", 1.0),
                            cell(e, "peak_rss_kib", 1.0 / 1024.0),
                        ]
                    })
                    .collect(),
            );
        }
        let ident: Vec<&Entry> = self.family(Family::Ident).collect();
        if !ident.is_empty() {
            let _ = writeln!(out, "\nIdent: {} connections", s.ident_connections);
            out += &table(
                &[
                    "program",
                    "flavor",
                    "queries/s",
                    "CPU/query µs",
                    "timeouts",
                    "peak RSS MiB",
                ],
                ident
                    .iter()
                    .map(|e| {
                        vec![
                            e.program.clone(),
                            e.label.as_str().to_string(),
                            cell(e, "queries_per_s", 1.0),
                            cell(e, "cpu_per_query_us", 1.0),
                            total(e, "timeouts"),
                            cell(e, "peak_rss_kib", 1.0 / 1024.0),
                        ]
                    })
                    .collect(),
            );
        }
        if !self.ratios.is_empty() {
            let _ = writeln!(
                out,
                "\nRatios (round by round, same run; < 1 means the first is smaller)"
            );
            out += &table(
                &["ratio", "figure", "median", "min–max", "target", "met"],
                self.ratios
                    .iter()
                    .map(|r| {
                        let st = r.stat();
                        vec![
                            r.subject.clone(),
                            r.figure.to_string(),
                            st.map(|s| fmt_ratio(s.median)).unwrap_or("—".into()),
                            st.map(|s| format!("{}–{}", fmt_ratio(s.min), fmt_ratio(s.max)))
                                .unwrap_or("—".into()),
                            r.target.as_ref().map(|t| t.text()).unwrap_or_default(),
                            match r.met() {
                                Some(true) => "yes".into(),
                                Some(false) => "NO".into(),
                                None => String::new(),
                            },
                        ]
                    })
                    .collect(),
            );
            let (met, not) = self.target_counts();
            let _ = writeln!(out, "targets: {met} met, {not} not met");
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "\nNot measured:");
            for s in &self.skipped {
                let _ = writeln!(out, "  {}: {}", s.program, s.reason);
            }
        }
        let errors: Vec<String> = self
            .entries
            .iter()
            .flat_map(|e| {
                e.errors
                    .iter()
                    .map(move |m| format!("  {}: {m}", e.title()))
            })
            .collect();
        if !errors.is_empty() {
            let _ = writeln!(out, "\nErrors:");
            for e in errors {
                let _ = writeln!(out, "{e}");
            }
        }
        out
    }
}

fn find<'a>(
    entries: &'a [Entry],
    program: &str,
    label: Label,
    sockets: Option<usize>,
) -> Option<&'a Entry> {
    entries
        .iter()
        .find(|e| e.is(program, label) && e.sockets == sockets)
}

/// The programs of `family` among the entries, in the order measured (baselines
/// aside).
fn programs(entries: &[Entry], family: Family) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    for e in entries
        .iter()
        .filter(|e| e.family == family && e.label != Label::Baseline)
    {
        if !out.contains(&e.program.as_str()) {
            out.push(&e.program);
        }
    }
    out
}

/// Every ratio the report shows, with the targets the project holds them to.
fn ratios(entries: &[Entry]) -> Vec<Ratio> {
    let mut out = Vec::new();
    let mut push = |num: &Entry, den: &Entry, subject: String, figure, target| {
        out.push(Ratio {
            subject,
            figure,
            rounds: per_round(num, den, figure),
            target,
        })
    };
    // UDP echo: modern / legacy.
    for program in programs(entries, Family::UdpEcho) {
        let (Some(l), Some(m)) = (
            find(entries, program, Label::Legacy, None),
            find(entries, program, Label::Modern, None),
        ) else {
            continue;
        };
        let cpu_target = match program {
            "echo-tokio" | "echo-mpsc" => Target {
                op: Op::AtMost,
                bound: 1.0 / 1.7,
                says: "modern at least 1.7× cheaper per echo than legacy",
            },
            "echo-mio-level" => Target {
                op: Op::Below,
                bound: 1.0,
                says: "modern beats legacy (which re-registers per datagram)",
            },
            _ => Target {
                op: Op::AtMost,
                bound: 1.05,
                says: "modern no worse than legacy",
            },
        };
        let subject = format!("{program} modern / legacy");
        push(m, l, subject.clone(), "cpu_per_echo_ns", Some(cpu_target));
        push(m, l, subject.clone(), "echoes_per_s", None);
        push(m, l, subject, "rtt_p50_us", None);
    }
    // UDP echo: every program against raw epoll-edge.
    if let Some(raw) = find(entries, RAW_PROGRAM, Label::Modern, None) {
        for e in entries.iter().filter(|e| e.family == Family::UdpEcho) {
            if std::ptr::eq(e, raw) {
                continue;
            }
            let modern = e.label == Label::Modern;
            let subject = format!("{} {} / raw epoll-edge", e.program, e.label.as_str());
            let cpu_target = (modern && ["echo-tokio", "echo-mpsc"].contains(&e.program.as_str()))
                .then_some(Target {
                    op: Op::AtMost,
                    bound: 1.15,
                    says: "modern tokio programs within 1.15× of raw epoll per echo",
                });
            let rtt_target = modern.then_some(Target {
                op: Op::AtMost,
                bound: 1.15,
                says: "modern RTT p50 at W=1 within 1.15× of raw epoll",
            });
            push(e, raw, subject.clone(), "cpu_per_echo_ns", cpu_target);
            push(e, raw, subject, "rtt_p50_us", rtt_target);
        }
    }
    // Multi-socket: growth of CPU per datagram with the socket count.
    for program in programs(entries, Family::Multisocket) {
        for label in [Label::Legacy, Label::Modern] {
            let at = |n| find(entries, program, label, Some(n));
            let join = program == "multisocket-join";
            if let (Some(small), Some(big)) = (at(10), at(1000)) {
                let target = match (join, label) {
                    (false, _) => Some(Target {
                        op: Op::AtMost,
                        bound: 1.2,
                        says: "CPU per datagram stays flat from 10 to 1,000 sockets",
                    }),
                    (true, Label::Legacy) => Some(Target {
                        op: Op::Above,
                        bound: 1.2,
                        says: "join_all polls every future: cost grows with the socket count",
                    }),
                    (true, _) => None,
                };
                push(
                    big,
                    small,
                    format!("{program} {} 1000 / 10 sockets", label.as_str()),
                    "cpu_per_datagram_ns",
                    target,
                );
            }
            if join && label == Label::Modern {
                if let (Some(mid), Some(big)) = (at(100), at(1000)) {
                    push(
                        big,
                        mid,
                        format!("{program} modern 1000 / 100 sockets"),
                        "cpu_per_datagram_ns",
                        Some(Target {
                            op: Op::AtMost,
                            bound: 1.2,
                            says: "futures 0.3 join_all above 30 futures polls only the woken one",
                        }),
                    );
                }
            }
        }
        for n in [10, 100, 1000] {
            if let (Some(l), Some(m)) = (
                find(entries, program, Label::Legacy, Some(n)),
                find(entries, program, Label::Modern, Some(n)),
            ) {
                push(
                    m,
                    l,
                    format!("{program} ×{n} modern / legacy"),
                    "cpu_per_datagram_ns",
                    None,
                );
            }
        }
    }
    // TCP echo and ident: modern / legacy.
    for (programs, figures) in [
        (
            programs(entries, Family::TcpEcho),
            &["mb_per_s", "cpu_per_mb_us", "connections_per_s"][..],
        ),
        (
            programs(entries, Family::Ident),
            &["queries_per_s", "cpu_per_query_us"][..],
        ),
    ] {
        for program in programs {
            if let (Some(l), Some(m)) = (
                find(entries, program, Label::Legacy, None),
                find(entries, program, Label::Modern, None),
            ) {
                for figure in figures {
                    push(m, l, format!("{program} modern / legacy"), figure, None);
                }
            }
        }
    }
    out
}

/// The machine, as far as the figures depend on it.
fn machine(cores: usize) -> Value {
    let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
    let model = read("/proc/cpuinfo")
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string());
    json!({
        "cores": cores,
        "cpu_model": model,
        "kernel": read("/proc/sys/kernel/osrelease").trim(),
    })
}

/// A number for a person: three significant digits, thousands grouped.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "—".into();
    }
    let a = v.abs();
    if a >= 1000.0 {
        let s = format!("{:.0}", v);
        let (sign, digits) = s.split_at(if v < 0.0 { 1 } else { 0 });
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(c);
        }
        format!("{sign}{grouped}")
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

pub fn fmt_ratio(v: f64) -> String {
    format!("{v:.2}")
}

fn cell(e: &Entry, figure: &str, scale: f64) -> String {
    match e.stat(figure) {
        None if !e.errors.is_empty() => "error".into(),
        None => "—".into(),
        Some(s) if s.n == 1 => fmt_num(s.median * scale),
        Some(s) => format!(
            "{} ({}–{})",
            fmt_num(s.median * scale),
            fmt_num(s.min * scale),
            fmt_num(s.max * scale)
        ),
    }
}

fn cell_pct(e: &Entry, figure: &str) -> String {
    e.stat(figure)
        .map(|s| format!("{:.0}%", s.median * 100.0))
        .unwrap_or("—".into())
}

fn total(e: &Entry, figure: &str) -> String {
    let v = e.values(figure);
    if v.is_empty() {
        "—".into()
    } else {
        format!("{:.0}", v.iter().sum::<f64>())
    }
}

fn received(e: &Entry) -> String {
    let r: f64 = e.values("datagrams_received").iter().sum();
    let s: f64 = e.values("datagrams_sent").iter().sum();
    if s == 0.0 {
        "—".into()
    } else {
        format!("{:.0}%", 100.0 * r / s)
    }
}

/// A plain text table, columns padded to their widest cell.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| -> String {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                s.push_str("  ");
            }
            s.push_str(c);
            s.push_str(&" ".repeat(w - c.chars().count()));
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.iter().map(|h| h.to_string()).collect());
    out += &line(widths.iter().map(|w| "-".repeat(*w)).collect());
    for row in rows {
        out += &line(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_median_min_max() {
        let s = Stat::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
        let s = Stat::of(&[4.0, 1.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!(Stat::of(&[]).is_none());
    }

    #[test]
    fn numbers_for_people() {
        assert_eq!(fmt_num(1234567.0), "1,234,567");
        assert_eq!(fmt_num(123.4), "123");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(1.234), "1.23");
    }

    #[test]
    fn targets_hold_or_not() {
        let t = Target {
            op: Op::AtMost,
            bound: 1.15,
            says: "",
        };
        assert!(t.holds(1.15) && !t.holds(1.16));
        let t = Target {
            op: Op::Above,
            bound: 1.2,
            says: "",
        };
        assert!(t.holds(2.0) && !t.holds(1.2));
    }
}
