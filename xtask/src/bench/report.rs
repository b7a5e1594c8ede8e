//! From runs to results, whatever the family: medians with min–max over rounds, ratios
//! (taken round by round, between runs of the same round) and the targets they are
//! held to, the JSON envelope with its description of the method, and the helpers the
//! families' table sections are drawn with. What is particular to a family (its
//! figures, its columns, its ratios) lives in that family's module.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::affinity::Placement;
use super::entry::{
    find, of_family, programs, AnyEntry, Entry, Figures, Measured, Reading, Subject,
};
use super::udp_echo::{BLOCKING_NAME, RAW_PROGRAM};
use super::{family_key, Label, Settings, Skipped};
use harness::Flavor;

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

    pub fn scaled(self, scale: f64) -> Stat {
        Stat {
            median: self.median * scale,
            min: self.min * scale,
            max: self.max * scale,
            n: self.n,
        }
    }
}

/// How a ratio is held to its target.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Op {
    AtMost,
    Below,
    Above,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub op: Op,
    pub bound: f64,
    /// What the target says, in words.
    pub says: &'static str,
}

impl Target {
    pub fn at_most(bound: f64, says: &'static str) -> Target {
        Target {
            op: Op::AtMost,
            bound,
            says,
        }
    }

    pub fn below(bound: f64, says: &'static str) -> Target {
        Target {
            op: Op::Below,
            bound,
            says,
        }
    }

    pub fn above(bound: f64, says: &'static str) -> Target {
        Target {
            op: Op::Above,
            bound,
            says,
        }
    }

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

/// A figure a ratio is taken of: its field, read (`None` where a run did not measure
/// it), and its name in the JSON (a unit test of each family checks that the name is
/// the field's serialised key).
pub struct Figure<F> {
    pub name: &'static str,
    pub get: fn(&F) -> Option<f64>,
}

impl<F> Clone for Figure<F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F> Copy for Figure<F> {}

/// A ratio of one figure between two entries, round by round; or, where a target
/// holds a figure itself (µs per query, system calls per echo), that figure round by
/// round ([`Ratio::value`]).
#[derive(Debug, Clone)]
pub struct Ratio {
    /// `echo-tokio modern / legacy`, `echo-tokio modern / raw epoll-edge`, …; for a
    /// value, the entry (`ident-tokio modern`).
    pub subject: String,
    pub figure: &'static str,
    pub rounds: Vec<f64>,
    pub target: Option<Target>,
    /// A figure's own value, not a ratio of two.
    pub is_value: bool,
}

impl Ratio {
    /// `num / den` of `figure`, for every round where both have it.
    pub fn of<F>(
        subject: String,
        figure: Figure<F>,
        (num, den): (&Entry<F>, &Entry<F>),
        target: Option<Target>,
    ) -> Ratio {
        let pairs = num.rounds.iter().zip(&den.rounds);
        let rounds = pairs.filter_map(|(a, b)| {
            let (a, b) = ((figure.get)(a.as_ref()?)?, (figure.get)(b.as_ref()?)?);
            (b > 0.0).then(|| a / b)
        });
        Ratio {
            subject,
            figure: figure.name,
            rounds: rounds.collect(),
            target,
            is_value: false,
        }
    }

    /// `figure` of `entry` itself, round by round, held to `target`.
    pub fn value<F>(figure: Figure<F>, entry: &Entry<F>, target: Target) -> Ratio {
        let rounds = entry.rounds.iter().flatten();
        Ratio {
            subject: entry.subject.title(),
            figure: figure.name,
            rounds: rounds.filter_map(|f| (figure.get)(f)).collect(),
            target: Some(target),
            is_value: true,
        }
    }

    pub fn stat(&self) -> Option<Stat> {
        Stat::of(&self.rounds)
    }

    /// Whether the median meets the target (`None` without a target or a value).
    pub fn met(&self) -> Option<bool> {
        Some(self.target.as_ref()?.holds(self.stat()?.median))
    }
}

/// Modern / legacy of each of `figures`, without targets, for every program measured
/// in both flavors.
pub fn modern_vs_legacy<F>(entries: &[&Entry<F>], figures: &[Figure<F>]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for program in programs(entries) {
        let (Some(l), Some(m)) = (
            find(entries, program, Label::LEGACY, None),
            find(entries, program, Label::MODERN, None),
        ) else {
            continue;
        };
        for &figure in figures {
            let subject = format!("{program} modern / legacy");
            out.push(Ratio::of(subject, figure, (m, l), None));
        }
    }
    out
}

/// What the bridge costs: every step of a migration ladder (a `bridge` entry) against
/// both ends of its ladder, the legacy and the modern program of the same name (and
/// socket count), for each of `figures`; without targets. A step is read against the
/// end it has left and the end it is heading for.
pub fn ladder<F>(entries: &[&Entry<F>], figures: &[Figure<F>]) -> Vec<Ratio> {
    let mut out = Vec::new();
    let steps = entries.iter().filter(|e| {
        matches!(e.subject.label, Label::Flavor(Flavor::Bridge, _)) && e.subject.variant.is_none()
    });
    for step in steps {
        let (program, sockets) = (&step.subject.program, step.subject.sockets);
        for end in [Label::LEGACY, Label::MODERN] {
            let Some(end) = find(entries, program, end, sockets) else {
                continue;
            };
            let subject = format!("{} / {}", step.subject.title(), end.subject.label);
            for &figure in figures {
                out.push(Ratio::of(subject.clone(), figure, (step, end), None));
            }
        }
    }
    out
}

pub struct Report {
    pub entries: Vec<AnyEntry>,
    pub skipped: Vec<Skipped>,
    pub ratios: Vec<Ratio>,
    settings: Settings,
    placement: Placement,
    command: String,
    elapsed: Duration,
}

impl Report {
    pub fn new(
        entries: Vec<AnyEntry>,
        skipped: Vec<Skipped>,
        settings: &Settings,
        placement: &Placement,
        command: String,
        elapsed: Duration,
    ) -> Report {
        Report {
            ratios: super::ratios(&entries),
            entries,
            skipped,
            settings: settings.clone(),
            placement: *placement,
            command,
            elapsed,
        }
    }

    /// The entries of family `F`, in measured order.
    pub fn family<F: Figures>(&self) -> Vec<&Entry<F>> {
        of_family(&self.entries)
    }

    fn measured(&self) -> impl Iterator<Item = &dyn Measured> {
        self.entries.iter().map(AnyEntry::get)
    }

    pub fn any_error(&self) -> bool {
        self.measured().any(|e| !e.errors().is_empty())
    }

    /// How many targets are met and how many not.
    pub fn target_counts(&self) -> (usize, usize) {
        let count = |met| self.ratios.iter().filter(|r| r.met() == Some(met)).count();
        (count(true), count(false))
    }

    pub fn to_json(&self, plots: &[String]) -> Value {
        let (met, not_met) = self.target_counts();
        json!({
            "command": self.command,
            "took_s": self.elapsed.as_secs_f64(),
            "machine": machine(self.placement.cpus()),
            "placement": self.placement.describe(),
            "method": method(&self.settings),
            "entries": self.measured().map(entry_json).collect::<Vec<_>>(),
            "ratios": self.ratios.iter().map(ratio_json).collect::<Vec<_>>(),
            "targets": {"met": met, "not_met": not_met},
            "skipped": self.skipped.iter().map(|s| json!({"program": s.program, "reason": s.reason})).collect::<Vec<_>>(),
            "plots": plots,
        })
    }

    pub fn to_table(&self) -> String {
        let s = &self.settings;
        let mut out = format!(
            "{} rounds, interleaved; median (min–max); {}\n",
            s.rounds,
            self.placement.describe()
        );
        out += &super::sections(&self.entries, s);
        out += &self.ratio_table();
        if !self.skipped.is_empty() {
            out += "\nNot measured:\n";
            for s in &self.skipped {
                let _ = writeln!(out, "  {}: {}", s.program, s.reason);
            }
        }
        out + &self.error_list()
    }

    fn ratio_table(&self) -> String {
        if self.ratios.is_empty() {
            return String::new();
        }
        let (values, ratios): (Vec<&Ratio>, Vec<&Ratio>) =
            self.ratios.iter().partition(|r| r.is_value);
        let mut out = String::new();
        if !ratios.is_empty() {
            out += "\nRatios (round by round, same run; < 1 means the first is smaller)\n";
            out += &table(
                &["ratio", "figure", "median", "min–max", "target", "met"],
                ratios.into_iter().map(ratio_row).collect(),
            );
        }
        if !values.is_empty() {
            out += "\nFigures held to a target (round by round)\n";
            out += &table(
                &["entry", "figure", "median", "min–max", "target", "met"],
                values.into_iter().map(ratio_row).collect(),
            );
        }
        let (met, not) = self.target_counts();
        out + &format!("targets: {met} met, {not} not met\n")
    }

    fn error_list(&self) -> String {
        let mut out = String::new();
        for e in self.measured() {
            for m in e.errors() {
                let _ = writeln!(out, "  {}: {m}", e.subject().title());
            }
        }
        if out.is_empty() {
            out
        } else {
            "\nErrors:\n".to_string() + &out
        }
    }
}

fn ratio_row(r: &Ratio) -> Vec<String> {
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
}

fn entry_json(e: &dyn Measured) -> Value {
    let subject = e.subject();
    let rounds = e.rounds_json();
    let [median, min, max] = figure_stats(&rounds);
    json!({
        "program": subject.program,
        "flavor": subject.label.to_string(),
        "variant": subject.variant.as_ref().map(|v| &v.name),
        "family": family_key(e.family()),
        "sockets": subject.sockets,
        "raw_baseline": subject.program == RAW_PROGRAM && subject.label == Label::MODERN,
        "median": median,
        "min": min,
        "max": max,
        "rounds": rounds,
        "errors": e.errors(),
    })
}

/// Median, min and max of every figure that some round produced, by its name: the
/// figures are read from the serialised rounds, so that the summaries carry exactly
/// the keys of the rounds (an optional figure none of the rounds had is left out).
fn figure_stats(rounds: &[Value]) -> [Map<String, Value>; 3] {
    let mut values: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for (name, v) in rounds.iter().filter_map(Value::as_object).flatten() {
        let list = values.entry(name.as_str()).or_default();
        list.extend(v.as_f64());
    }
    let mut out = [Map::new(), Map::new(), Map::new()];
    for (name, v) in values {
        if let Some(st) = Stat::of(&v) {
            for (map, x) in out.iter_mut().zip([st.median, st.min, st.max]) {
                map.insert(name.to_string(), json!(x));
            }
        }
    }
    out
}

fn ratio_json(r: &Ratio) -> Value {
    let st = r.stat();
    json!({
        "subject": r.subject,
        "kind": if r.is_value { "value" } else { "ratio" },
        "figure": r.figure,
        "median": st.map(|s| s.median),
        "min": st.map(|s| s.min),
        "max": st.map(|s| s.max),
        "rounds": r.rounds,
        "target": r.target.as_ref().map(|t| t.text()),
        "target_says": r.target.as_ref().map(|t| t.says),
        "met": r.met(),
    })
}

/// How the figures were taken, for the JSON.
fn method(s: &Settings) -> Value {
    json!({
        "profile": s.profile.as_str(),
        "rounds": s.rounds,
        "order": "interleaved: every entry once per round, in the same order; ratios taken between runs of the same round; median with min and max over rounds",
        "server": "started with --quiet --bind 127.0.0.1:0 (UDP echo programs also --queue 2·C·W, so that the bounded queue never drops what the load keeps in flight), port from its listening line, stopped with SIGTERM, summary line read",
        "server_cpu": "user+system time of the whole server process from its CPU clock (clock_getcpuclockid, ns; the /proc/PID/stat utime+stime account), delta over the measured interval",
        "peak_rss": "VmHWM of /proc/PID/status before SIGTERM",
        "udp_echo": udp_method(s),
        "multisocket": {
            "sockets": s.multisocket_sizes,
            "spray": format!("{} datagrams/s in bursts of {} (each to the next socket in turn) for {} s", s.spray_rate, s.spray_burst, s.spray_duration.as_secs_f64()),
            "cpu_per_datagram": "server CPU from idle after start-up to idle after the last datagram / the server's summary recv= count",
        },
        "tcp_echo": {
            "bulk": format!("{} connections, {}-byte writes, echo read back concurrently; MB = 10^6 bytes echoed", s.tcp_connections, s.tcp_chunk),
            "connections": format!("{} workers: connect, write 1 byte, read it back, close; at most {} connections per run", s.connect_workers, s.max_connections),
        },
        "ident": {
            "loads": format!("1 client and {} clients at a time (a thread each), each asking about the connection it asks on (server-port , client-port): queries on an open connection, asked again on each reply; and each query on a fresh connection (connect, query, read the reply, close with a reset)", s.ident_connections),
            "interval": format!("warm-up {} s, then at least {} s and until at least max(clients, 20) replies came, at most 10 s", s.latency_warmup.as_secs_f64(), s.latency_measure.as_secs_f64()),
            "wall": "open: from the write of the query to the end of its reply line; fresh: from the connect to the end of the reply line",
            "lookup": "the default (netlink); ident-tokio and ident-pool also with --lookup proc",
            "reference": "oidentd where installed, started by the bench: --foreground --nosyslog --quiet --address 127.0.0.1 --port P; fresh connections only (it answers one query per connection); its CPU counts the children it reaped (cutime + cstime)",
        },
        "flood": format!("{} datagrams of {} bytes from one socket as fast as the kernel takes them, at the server's default queue; echoes read until the server is idle; the server's summary splits them; turns from the event lines of a second flood without --quiet", s.flood_datagrams, s.payload),
        "next_era": {
            "entries": "the next programs, and raw epoll-edge when a next program is measured",
            "one_socket": format!("1 socket × W={}", s.window),
            "syscalls": format!("strace -f -c attached to the server for one load of 1 socket × W={} (first round), calls / echoes of that load", s.window),
            "gso_peers": format!("{} sockets, each with 2 GSO batches of 32 segments in flight (one sendmsg with UDP_SEGMENT per batch, quinn-udp; GRO off on the client sockets)", s.udp_sockets),
        },
        "bridge": "each step measured with its family's loads; ratios step / legacy and step / modern of the same program",
    })
}

fn udp_method(s: &Settings) -> Value {
    json!({
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
    })
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

/// The first cells of every row of a family's table: program and flavor (with the
/// variant's options, if any).
pub fn row_head(s: &Subject) -> Vec<String> {
    let flavor = match &s.variant {
        Some(v) => format!("{} {}", s.label, v.name),
        None => s.label.to_string(),
    };
    vec![s.program.clone(), flavor]
}

/// A figure's median (min–max) over the rounds, times `scale`.
pub fn cell<F, V: Reading>(e: &Entry<F>, figure: impl Fn(&F) -> V, scale: f64) -> String {
    match e.stat(figure).map(|s| s.scaled(scale)) {
        None if !e.errors.is_empty() => "error".into(),
        None => "—".into(),
        Some(s) if s.n == 1 => fmt_num(s.median),
        Some(s) => format!(
            "{} ({}–{})",
            fmt_num(s.median),
            fmt_num(s.min),
            fmt_num(s.max)
        ),
    }
}

/// A count's median (min–max) over the rounds, as whole numbers.
pub fn cell_count<F, V: Reading>(e: &Entry<F>, figure: impl Fn(&F) -> V) -> String {
    let whole = |v: f64| fmt_num(v.round()).trim_end_matches(".00").to_string();
    match e.stat(figure) {
        None if !e.errors.is_empty() => "error".into(),
        None => "—".into(),
        Some(s) if s.n == 1 || s.min == s.max => whole(s.median),
        Some(s) => format!("{} ({}–{})", whole(s.median), whole(s.min), whole(s.max)),
    }
}

/// A fraction's median (min–max), as a percentage.
pub fn cell_pct_range<F, V: Reading>(e: &Entry<F>, figure: impl Fn(&F) -> V) -> String {
    match e.stat(figure) {
        None if !e.errors.is_empty() => "error".into(),
        None => "—".into(),
        Some(s) if s.n == 1 => format!("{:.0}%", s.median * 100.0),
        Some(s) => format!(
            "{:.0}% ({:.0}–{:.0}%)",
            s.median * 100.0,
            s.min * 100.0,
            s.max * 100.0
        ),
    }
}

/// A fraction's median, as a percentage.
pub fn cell_pct<F, V: Reading>(e: &Entry<F>, figure: impl Fn(&F) -> V) -> String {
    e.stat(figure)
        .map(|s| format!("{:.0}%", s.median * 100.0))
        .unwrap_or("—".into())
}

/// A count summed over the rounds.
pub fn total<F, V: Reading>(e: &Entry<F>, figure: impl Fn(&F) -> V) -> String {
    let v = e.values(figure);
    if v.is_empty() {
        "—".into()
    } else {
        format!("{:.0}", v.iter().sum::<f64>())
    }
}

/// A plain text table, columns padded to their widest cell.
pub fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
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
        use crate::bench::entry::tests::entry;
        let counts = entry("p", Label::MODERN, [0.0, 1_217.0, 8.0]);
        assert_eq!(cell_count(&counts, |v| *v), "8 (0–1,217)");
        assert_eq!(fmt_num(1234567.0), "1,234,567");
        assert_eq!(fmt_num(123.4), "123");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(1.234), "1.23");
    }

    #[test]
    fn targets_hold_or_not() {
        let t = Target::at_most(1.15, "");
        assert!(t.holds(1.15) && !t.holds(1.16));
        let t = Target::above(1.2, "");
        assert!(t.holds(2.0) && !t.holds(1.2));
        let t = Target::below(1.0, "");
        assert!(t.holds(0.99) && !t.holds(1.0));
    }

    #[test]
    fn figure_stats_keep_the_keys_of_the_rounds() {
        let rounds = [
            json!({"a": 1.0, "b": 10.0}),
            Value::Null,
            json!({"a": 3.0, "b": null}),
            json!({"a": 2.0, "c": 5.0}),
        ];
        let [median, min, max] = figure_stats(&rounds);
        assert_eq!(
            Value::Object(median),
            json!({"a": 2.0, "b": 10.0, "c": 5.0})
        );
        assert_eq!(Value::Object(min), json!({"a": 1.0, "b": 10.0, "c": 5.0}));
        assert_eq!(Value::Object(max), json!({"a": 3.0, "b": 10.0, "c": 5.0}));
    }

    #[test]
    fn a_table_pads_its_columns() {
        let t = table(
            &["a", "bb"],
            vec![vec!["xyz".into(), "1".into()], vec!["µ".into(), "".into()]],
        );
        assert_eq!(t, "a    bb\n---  --\nxyz  1\nµ\n");
    }
}
