//! Ident under load: queries/s over 32 connections on one thread, each asking about
//! itself and asking again on each reply, with the server CPU per query.

use anyhow::{bail, Result};
use harness::Family;
use serde::Serialize;

use super::affinity::Placement;
use super::cpu::Cpu;
use super::entry::{AnyEntry, Entry, Figures};
use super::report::{cell, modern_vs_legacy, row_head, table, total, Figure, Ratio};
use super::server::Server;
use super::{per_second, tcp, Settings};

/// The figures of one run of an ident server.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IdentFigures {
    /// Replies per second, and the server CPU per reply.
    pub queries_per_s: f64,
    pub cpu_per_query_us: f64,
    /// Queries that got no reply in time (their connection is then given up).
    pub timeouts: f64,
    /// Replies that were not `USERID` (over the whole run).
    pub error_replies: f64,
    pub peak_rss_kib: f64,
}

pub const QUERIES_PER_S: Figure<IdentFigures> = Figure {
    name: "queries_per_s",
    get: |f| f.queries_per_s,
};
pub const CPU_PER_QUERY: Figure<IdentFigures> = Figure {
    name: "cpu_per_query_us",
    get: |f| f.cpu_per_query_us,
};

impl Figures for IdentFigures {
    const FAMILY: Family = Family::Ident;

    fn run(entry: &Entry<Self>, s: &Settings, placement: &Placement) -> Result<Self> {
        let server = Server::start(&entry.subject.exe, &[], 1, placement)?;
        let (addr, pid) = (server.addrs[0], server.pid());
        let mut probe = || Cpu::read(pid);
        let (counts, interval) =
            tcp::ident_queries(addr, s.ident_connections, s.warmup, s.measure, &mut probe)?;
        let rss = server.peak_rss_kib()?;
        server.stop()?;
        if counts.replies == 0 {
            bail!("no reply during the measured interval");
        }
        let cpu = interval.cpu.1.since(&interval.cpu.0);
        Ok(IdentFigures {
            queries_per_s: per_second(counts.replies, interval.length),
            cpu_per_query_us: cpu.as_secs_f64() * 1e6 / counts.replies as f64,
            timeouts: counts.timeouts as f64,
            error_replies: counts.error_replies as f64,
            peak_rss_kib: rss as f64,
        })
    }

    fn section(entries: &[&Entry<Self>], s: &Settings) -> String {
        let heading = format!("\nIdent: {} connections\n", s.ident_connections);
        let header = [
            "program",
            "flavor",
            "queries/s",
            "CPU/query µs",
            "timeouts",
            "peak RSS MiB",
        ];
        heading + &table(&header, entries.iter().map(|e| row(e)).collect())
    }

    fn ratios(entries: &[&Entry<Self>]) -> Vec<Ratio> {
        modern_vs_legacy(entries, &[QUERIES_PER_S, CPU_PER_QUERY])
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

fn row(e: &Entry<IdentFigures>) -> Vec<String> {
    let mut row = row_head(&e.subject);
    row.extend([
        cell(e, |f| f.queries_per_s, 1.0),
        cell(e, |f| f.cpu_per_query_us, 1.0),
        total(e, |f| f.timeouts),
        cell(e, |f| f.peak_rss_kib, 1.0 / 1024.0),
    ]);
    row
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::bench::entry::tests::entry;
    use crate::bench::entry::Label;

    fn figures(queries_per_s: f64, timeouts: f64) -> IdentFigures {
        IdentFigures {
            queries_per_s,
            cpu_per_query_us: 2.0,
            timeouts,
            error_replies: 4.0,
            peak_rss_kib: 5.0 * 1024.0,
        }
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
        assert_eq!(
            keys,
            [
                "cpu_per_query_us",
                "error_replies",
                "peak_rss_kib",
                "queries_per_s",
                "timeouts"
            ]
        );
        for figure in [QUERIES_PER_S, CPU_PER_QUERY] {
            assert_eq!(
                json[figure.name],
                json!((figure.get)(&f)),
                "{}",
                figure.name
            );
        }
    }

    #[test]
    fn the_section_sums_timeouts_over_rounds() {
        let s = Settings::for_tests();
        let e = entry(
            "ident-tokio",
            Label::LEGACY,
            [figures(100.0, 1.0), figures(300.0, 2.0)],
        );
        let text = IdentFigures::section(&[&e], &s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "Ident: 32 connections");
        let row: Vec<&str> = lines[4]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            row,
            [
                "ident-tokio",
                "legacy",
                "200 (100–300)",
                "2.00 (2.00–2.00)",
                "3",
                "5.00 (5.00–5.00)"
            ]
        );
    }
}
