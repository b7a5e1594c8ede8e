//! Ident under load: per-query server CPU and wall latency p50/p99, at 1 client and at
//! 32 clients at a time, for queries on an open connection and for queries each on a
//! fresh connection (connect, query, read the reply, close). Every client asks about
//! the very connection it asks on.
//!
//! The servers run with their default owner lookup (netlink); ident-tokio and
//! ident-pool also with `--lookup proc`, a variant entry each: the pool is the talk's
//! answer to blocking work, and whether it pays depends on how long the lookup holds a
//! thread. oidentd, where installed, is the reference on fresh connections (it answers
//! one query per connection), started and stopped by the bench (`oidentd`).
//!
//! Targets (issue 11), as data: per-query server CPU ≤ 50 µs and wall p50 ≤ 100 µs on
//! an open connection; on a fresh connection at most half of oidentd's wall time.

use anyhow::{bail, Result};
use harness::Family;
use serde::Serialize;

use super::affinity::Placement;
use super::cpu::Cpu;
use super::entry::{find, find_variant, programs, AnyEntry, Entry, Figures, Label, Variant};
use super::oidentd::{self, Oidentd};
use super::report::{cell, ladder, row_head, table, total, Figure, Ratio, Target};
use super::server::Server;
use super::tcp::{self, IdentLoad, IdentOutcome};
use super::{per_second, Settings};

/// Replies a measured interval holds at least (and one per client).
const MIN_REPLIES: u64 = 20;

/// The programs also measured with `--lookup proc`.
pub const PROC_PROGRAMS: [&str; 2] = ["ident-tokio", "ident-pool"];
/// The options of that variant.
pub const PROC_LOOKUP: [&str; 2] = ["--lookup", "proc"];

/// The variant entry of `program` with the /proc lookup, if it has one.
pub fn proc_variant(program: &str) -> Option<Variant> {
    PROC_PROGRAMS
        .contains(&program)
        .then(|| Variant::of_args(&PROC_LOOKUP))
}

/// The figures of one run of an ident server. Each load's figures are `None` where
/// the load does not apply (oidentd closes a connection after one reply: it has no
/// open-connection figures).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IdentFigures {
    /// One client, queries on its open connection: replies/s, server CPU per query,
    /// wall time p50 and p99.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_1_queries_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_1_cpu_per_query_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_1_p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_1_p99_us: Option<f64>,
    /// 32 clients, each on its open connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_32_queries_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_32_cpu_per_query_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_32_p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_32_p99_us: Option<f64>,
    /// One client, each query on a fresh connection (wall: connect to reply).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_1_queries_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_1_cpu_per_query_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_1_p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_1_p99_us: Option<f64>,
    /// 32 clients, each query on a fresh connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_32_queries_per_s: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_32_cpu_per_query_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_32_p50_us: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fresh_32_p99_us: Option<f64>,
    /// Over the whole run: queries that failed (no reply in time, a refused or reset
    /// connection), and replies that were not `USERID`.
    pub failures: f64,
    pub error_replies: f64,
    pub peak_rss_kib: f64,
}

/// The figures of one load.
#[derive(Debug, Clone, Copy, PartialEq)]
struct LoadFigures {
    queries_per_s: f64,
    cpu_per_query_us: f64,
    p50_us: f64,
    p99_us: f64,
}

/// The loads, in the order they run: (clients, fresh connections).
fn loads(s: &Settings, open: bool) -> Vec<(usize, bool)> {
    let many = s.ident_connections;
    let mut out = Vec::new();
    if open {
        out.extend([(1, false), (many, false)]);
    }
    out.extend([(1, true), (many, true)]);
    out
}

pub const OPEN_1_P50: Figure<IdentFigures> = Figure {
    name: "open_1_p50_us",
    get: |f| f.open_1_p50_us,
};
pub const OPEN_32_P99: Figure<IdentFigures> = Figure {
    name: "open_32_p99_us",
    get: |f| f.open_32_p99_us,
};
pub const OPEN_1_CPU: Figure<IdentFigures> = Figure {
    name: "open_1_cpu_per_query_us",
    get: |f| f.open_1_cpu_per_query_us,
};
pub const OPEN_32_CPU: Figure<IdentFigures> = Figure {
    name: "open_32_cpu_per_query_us",
    get: |f| f.open_32_cpu_per_query_us,
};
pub const OPEN_32_QPS: Figure<IdentFigures> = Figure {
    name: "open_32_queries_per_s",
    get: |f| f.open_32_queries_per_s,
};
pub const FRESH_1_P50: Figure<IdentFigures> = Figure {
    name: "fresh_1_p50_us",
    get: |f| f.fresh_1_p50_us,
};
pub const FRESH_32_P50: Figure<IdentFigures> = Figure {
    name: "fresh_32_p50_us",
    get: |f| f.fresh_32_p50_us,
};
pub const FRESH_32_CPU: Figure<IdentFigures> = Figure {
    name: "fresh_32_cpu_per_query_us",
    get: |f| f.fresh_32_cpu_per_query_us,
};

/// The server under measurement: one of ours, or the reference.
enum Measured {
    Ours(Server),
    Reference(Oidentd),
}

impl Measured {
    fn start(entry: &Entry<IdentFigures>, placement: &Placement) -> Result<Measured> {
        let exe = &entry.subject.exe;
        Ok(match entry.subject.label {
            Label::Reference => Measured::Reference(Oidentd::start(exe, placement)?),
            _ => {
                let args = entry.subject.variant_args();
                Measured::Ours(Server::start(exe, &args, 1, placement)?)
            }
        })
    }

    fn addr(&self) -> std::net::SocketAddr {
        match self {
            Measured::Ours(s) => s.addrs[0],
            Measured::Reference(o) => o.addr,
        }
    }

    fn pid(&self) -> nix::unistd::Pid {
        match self {
            Measured::Ours(s) => s.pid(),
            Measured::Reference(o) => o.pid(),
        }
    }

    fn peak_rss_kib(&self) -> Result<u64> {
        match self {
            Measured::Ours(s) => s.peak_rss_kib(),
            Measured::Reference(o) => o.peak_rss_kib(),
        }
    }

    fn stop(self) -> Result<()> {
        match self {
            Measured::Ours(s) => s.stop().map(|_| ()),
            Measured::Reference(o) => o.stop(),
        }
    }
}

impl Figures for IdentFigures {
    const FAMILY: Family = Family::Ident;

    fn run(entry: &Entry<Self>, s: &Settings, placement: &Placement) -> Result<Self> {
        let server = Measured::start(entry, placement)?;
        let (addr, pid) = (server.addr(), server.pid());
        let mut probe = || Cpu::read(pid);
        let open = entry.subject.label != Label::Reference;
        let mut f = IdentFigures::default();
        for (clients, fresh) in loads(s, open) {
            let load = IdentLoad {
                clients,
                fresh,
                warmup: s.latency_warmup,
                measure: s.latency_measure,
                min_replies: (clients as u64).max(MIN_REPLIES),
                max_connections: s.max_connections,
            };
            let outcome = tcp::ident_queries(addr, &load, &mut probe)?;
            f.failures += outcome.failures as f64;
            f.error_replies += outcome.error_replies as f64;
            let Some(figures) = LoadFigures::of(&outcome) else {
                let what = if fresh { "fresh" } else { "open" };
                server.stop()?;
                bail!(
                    "no reply in the measured interval ({clients} clients, {what} connections; {} failed queries, {} answered outside it)",
                    outcome.failures,
                    outcome.answered
                );
            };
            f.set(clients, fresh, figures);
        }
        f.peak_rss_kib = server.peak_rss_kib()? as f64;
        server.stop()?;
        Ok(f)
    }

    fn section(entries: &[&Entry<Self>], s: &Settings) -> String {
        let n = s.ident_connections;
        let header = [
            "program",
            "flavor",
            "×1 q/s",
            "×1 CPU/q µs",
            "×1 p50 µs",
            "×1 p99 µs",
            &format!("×{n} q/s"),
            &format!("×{n} CPU/q µs"),
            &format!("×{n} p50 µs"),
            &format!("×{n} p99 µs"),
            "failures",
        ];
        let header: Vec<&str> = header.iter().map(|h| h.as_ref()).collect();
        let open_rows = entries
            .iter()
            .filter(|e| e.subject.label != Label::Reference);
        let open = format!(
            "\nIdent, queries on an open connection: 1 client, and {n} clients at a time (server CPU and wall time per query)\n"
        ) + &table(&header, open_rows.map(|e| open_row(e)).collect());
        let fresh = format!(
            "\nIdent, each query on a fresh connection (connect, query, read the reply, close): 1 client, and {n} at a time\n"
        ) + &table(&header, entries.iter().map(|e| fresh_row(e)).collect());
        open + &fresh
    }

    fn ratios(entries: &[&Entry<Self>]) -> Vec<Ratio> {
        let mut out = modern_vs_legacy(entries);
        out.extend(ladder(entries, &[OPEN_32_CPU, OPEN_1_P50]));
        out.extend(targets(entries));
        out.extend(vs_oidentd(entries));
        out.extend(pool_vs_tokio(entries));
        out
    }

    fn wrap(entry: Entry<Self>) -> AnyEntry {
        AnyEntry::Ident(entry)
    }

    fn unwrap(entry: &AnyEntry) -> Option<&Entry<Self>> {
        match entry {
            AnyEntry::Ident(e) => Some(e),
            _ => None,
        }
    }
}

impl LoadFigures {
    fn of(o: &IdentOutcome) -> Option<LoadFigures> {
        let interval = o.interval.as_ref()?;
        if o.replies == 0 {
            return None;
        }
        let cpu = interval.cpu.1.since(&interval.cpu.0);
        Some(LoadFigures {
            queries_per_s: per_second(o.replies, interval.length),
            cpu_per_query_us: cpu.as_secs_f64() * 1e6 / o.replies as f64,
            p50_us: o.wall_percentile_us(50)?,
            p99_us: o.wall_percentile_us(99)?,
        })
    }
}

impl IdentFigures {
    fn set(&mut self, clients: usize, fresh: bool, l: LoadFigures) {
        let slots = match (clients, fresh) {
            (1, false) => [
                &mut self.open_1_queries_per_s,
                &mut self.open_1_cpu_per_query_us,
                &mut self.open_1_p50_us,
                &mut self.open_1_p99_us,
            ],
            (_, false) => [
                &mut self.open_32_queries_per_s,
                &mut self.open_32_cpu_per_query_us,
                &mut self.open_32_p50_us,
                &mut self.open_32_p99_us,
            ],
            (1, true) => [
                &mut self.fresh_1_queries_per_s,
                &mut self.fresh_1_cpu_per_query_us,
                &mut self.fresh_1_p50_us,
                &mut self.fresh_1_p99_us,
            ],
            (_, true) => [
                &mut self.fresh_32_queries_per_s,
                &mut self.fresh_32_cpu_per_query_us,
                &mut self.fresh_32_p50_us,
                &mut self.fresh_32_p99_us,
            ],
        };
        let values = [l.queries_per_s, l.cpu_per_query_us, l.p50_us, l.p99_us];
        for (slot, v) in slots.into_iter().zip(values) {
            *slot = Some(v);
        }
    }
}

fn open_row(e: &Entry<IdentFigures>) -> Vec<String> {
    let mut row = row_head(&e.subject);
    row.extend([
        cell(e, |f| f.open_1_queries_per_s, 1.0),
        cell(e, |f| f.open_1_cpu_per_query_us, 1.0),
        cell(e, |f| f.open_1_p50_us, 1.0),
        cell(e, |f| f.open_1_p99_us, 1.0),
        cell(e, |f| f.open_32_queries_per_s, 1.0),
        cell(e, |f| f.open_32_cpu_per_query_us, 1.0),
        cell(e, |f| f.open_32_p50_us, 1.0),
        cell(e, |f| f.open_32_p99_us, 1.0),
        total(e, |f| f.failures),
    ]);
    row
}

fn fresh_row(e: &Entry<IdentFigures>) -> Vec<String> {
    let mut row = row_head(&e.subject);
    row.extend([
        cell(e, |f| f.fresh_1_queries_per_s, 1.0),
        cell(e, |f| f.fresh_1_cpu_per_query_us, 1.0),
        cell(e, |f| f.fresh_1_p50_us, 1.0),
        cell(e, |f| f.fresh_1_p99_us, 1.0),
        cell(e, |f| f.fresh_32_queries_per_s, 1.0),
        cell(e, |f| f.fresh_32_cpu_per_query_us, 1.0),
        cell(e, |f| f.fresh_32_p50_us, 1.0),
        cell(e, |f| f.fresh_32_p99_us, 1.0),
        total(e, |f| f.failures),
    ]);
    row
}

/// The variants among the entries of `program`: the default (`None`) and each other.
fn variants<'a>(entries: &[&'a Entry<IdentFigures>], program: &str) -> Vec<Option<&'a str>> {
    let mut out: Vec<Option<&str>> = Vec::new();
    for e in entries.iter().filter(|e| e.subject.program == program) {
        let v = e.subject.variant.as_ref().map(|v| v.name.as_str());
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// Modern / legacy of every program (and variant) measured in both flavors.
fn modern_vs_legacy(entries: &[&Entry<IdentFigures>]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for program in programs(entries) {
        for v in variants(entries, program) {
            let (Some(l), Some(m)) = (
                find_variant(entries, program, Label::LEGACY, v),
                find_variant(entries, program, Label::MODERN, v),
            ) else {
                continue;
            };
            let subject = match v {
                Some(v) => format!("{program} {v} modern / legacy"),
                None => format!("{program} modern / legacy"),
            };
            for figure in [OPEN_32_CPU, OPEN_1_P50, FRESH_1_P50] {
                out.push(Ratio::of(subject.clone(), figure, (m, l), None));
            }
        }
    }
    out
}

/// The targets on figures themselves, for every program of the catalogue in its
/// default configuration.
fn targets(entries: &[&Entry<IdentFigures>]) -> Vec<Ratio> {
    let held = entries
        .iter()
        .filter(|e| matches!(e.subject.label, Label::Flavor(..)) && e.subject.variant.is_none());
    let mut out = Vec::new();
    for e in held {
        out.push(Ratio::value(
            OPEN_32_CPU,
            e,
            Target::at_most(50.0, "per-query server CPU ≤ 50 µs (open connections)"),
        ));
        out.push(Ratio::value(
            OPEN_1_P50,
            e,
            Target::at_most(100.0, "wall p50 ≤ 100 µs for a query on an open connection"),
        ));
    }
    out
}

/// Each program (default configuration) against oidentd on fresh connections.
fn vs_oidentd(entries: &[&Entry<IdentFigures>]) -> Vec<Ratio> {
    let Some(reference) = find(entries, oidentd::NAME, Label::Reference, None) else {
        return Vec::new();
    };
    let half = || {
        Some(Target::at_most(
            0.5,
            "on a fresh connection at most half of oidentd's time",
        ))
    };
    let mut out = Vec::new();
    let held = entries
        .iter()
        .filter(|e| matches!(e.subject.label, Label::Flavor(..)) && e.subject.variant.is_none());
    for e in held {
        let subject = format!("{} / oidentd", e.subject.title());
        out.push(Ratio::of(
            subject.clone(),
            FRESH_1_P50,
            (e, reference),
            half(),
        ));
        out.push(Ratio::of(
            subject.clone(),
            FRESH_32_P50,
            (e, reference),
            half(),
        ));
        out.push(Ratio::of(subject, FRESH_32_CPU, (e, reference), None));
    }
    out
}

/// ident-pool against ident-tokio, flavor by flavor and lookup by lookup: what handing
/// the lookup to a pool costs, and what it buys.
fn pool_vs_tokio(entries: &[&Entry<IdentFigures>]) -> Vec<Ratio> {
    let (pool, tokio) = ("ident-pool", "ident-tokio");
    let mut out = Vec::new();
    for label in [Label::LEGACY, Label::MODERN] {
        for v in [None, Some(PROC_LOOKUP.join(" "))] {
            let v = v.as_deref();
            let (Some(p), Some(t)) = (
                find_variant(entries, pool, label, v),
                find_variant(entries, tokio, label, v),
            ) else {
                continue;
            };
            let subject = format!("{} / {}", p.subject.title(), t.subject.title());
            for figure in [OPEN_1_CPU, OPEN_32_CPU, OPEN_32_QPS, OPEN_32_P99] {
                out.push(Ratio::of(subject.clone(), figure, (p, t), None));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bench::entry::tests::{entry, variant_entry};

    fn figures(scale: f64, failures: f64) -> IdentFigures {
        let mut f = IdentFigures {
            failures,
            error_replies: 4.0,
            peak_rss_kib: 5.0 * 1024.0,
            ..IdentFigures::default()
        };
        for (i, (clients, fresh)) in [(1, false), (32, false), (1, true), (32, true)]
            .into_iter()
            .enumerate()
        {
            let base = (i * 10) as f64;
            f.set(
                clients,
                fresh,
                LoadFigures {
                    queries_per_s: (base + 1.0) * scale,
                    cpu_per_query_us: (base + 2.0) * scale,
                    p50_us: (base + 3.0) * scale,
                    p99_us: (base + 4.0) * scale,
                },
            );
        }
        f
    }

    #[test]
    fn figures_serialise_to_the_documented_keys() {
        let f = figures(1.0, 0.0);
        let json = serde_json::to_value(&f).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut expected = vec!["error_replies", "failures", "peak_rss_kib"];
        let loads = ["open_1", "open_32", "fresh_1", "fresh_32"];
        let names: Vec<String> = (loads.iter())
            .flat_map(|l| {
                ["queries_per_s", "cpu_per_query_us", "p50_us", "p99_us"]
                    .map(|x| format!("{l}_{x}"))
            })
            .collect();
        expected.extend(names.iter().map(String::as_str));
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(json["open_32_cpu_per_query_us"], json!(12.0));
        assert_eq!(json["fresh_1_p50_us"], json!(23.0));
        for figure in [
            OPEN_1_P50,
            OPEN_32_P99,
            OPEN_1_CPU,
            OPEN_32_CPU,
            OPEN_32_QPS,
            FRESH_1_P50,
            FRESH_32_P50,
            FRESH_32_CPU,
        ] {
            assert_eq!(
                json[figure.name],
                json!((figure.get)(&f)),
                "{}",
                figure.name
            );
        }
        // A reference without open-connection loads leaves those keys out.
        let bare = serde_json::to_value(IdentFigures::default()).unwrap();
        assert!(bare.get("open_1_p50_us").is_none());
    }

    #[test]
    fn the_sections_show_open_and_fresh_loads() {
        let s = Settings::for_tests();
        let e = entry(
            "ident-tokio",
            Label::LEGACY,
            [figures(1.0, 1.0), figures(3.0, 2.0)],
        );
        let mut reference = figures(1.0, 0.0);
        reference.open_1_p50_us = None;
        let r = entry(oidentd::NAME, Label::Reference, [reference]);
        let text = IdentFigures::section(&[&e, &r], &s);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[1].starts_with("Ident, queries on an open connection"));
        let cells = |l: &str| -> Vec<String> {
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        };
        assert_eq!(
            cells(lines[4]),
            [
                "ident-tokio",
                "legacy",
                "2.00 (1.00–3.00)",
                "4.00 (2.00–6.00)",
                "6.00 (3.00–9.00)",
                "8.00 (4.00–12.0)",
                "22.0 (11.0–33.0)",
                "24.0 (12.0–36.0)",
                "26.0 (13.0–39.0)",
                "28.0 (14.0–42.0)",
                "3",
            ]
        );
        // The reference has no open-connection row; it has a fresh one.
        assert_eq!(lines.len(), 5 + 6);
        assert!(lines[6].starts_with("Ident, each query on a fresh connection"));
        assert_eq!(cells(lines[10])[..3], ["oidentd", "reference", "21.0"]);
    }

    #[test]
    fn ratios_against_legacy_oidentd_and_tokio_with_targets() {
        let proc = &PROC_LOOKUP;
        let legacy = entry("ident-tokio", Label::LEGACY, [figures(2.0, 0.0)]);
        let modern = entry("ident-tokio", Label::MODERN, [figures(1.0, 0.0)]);
        let tokio_proc = variant_entry("ident-tokio", Label::MODERN, proc, [figures(100.0, 0.0)]);
        let pool_proc = variant_entry("ident-pool", Label::MODERN, proc, [figures(50.0, 0.0)]);
        let reference = entry(oidentd::NAME, Label::Reference, [figures(4.0, 0.0)]);
        let all = [&legacy, &modern, &tokio_proc, &pool_proc, &reference];
        let ratios = IdentFigures::ratios(&all);
        let find = |subject: &str, figure: &str| {
            (ratios.iter())
                .find(|r| r.subject == subject && r.figure == figure)
                .unwrap_or_else(|| panic!("no {subject} {figure} in {ratios:#?}"))
        };
        assert_eq!(
            find("ident-tokio modern / legacy", "open_32_cpu_per_query_us").rounds,
            [0.5]
        );
        // The default configuration is held to the targets; the /proc variant is not.
        let cpu = find("ident-tokio modern", "open_32_cpu_per_query_us");
        assert!(cpu.is_value);
        assert_eq!((cpu.rounds.clone(), cpu.met()), (vec![12.0], Some(true)));
        assert!(!ratios
            .iter()
            .any(|r| r.is_value && r.subject.contains("proc")));
        let fresh = find("ident-tokio modern / oidentd", "fresh_1_p50_us");
        assert_eq!(
            (fresh.rounds.clone(), fresh.met()),
            (vec![0.25], Some(true))
        );
        let pool = find(
            "ident-pool modern --lookup proc / ident-tokio modern --lookup proc",
            "open_32_p99_us",
        );
        assert_eq!(pool.rounds, [0.5]);
        assert!(pool.target.is_none());
    }
}
