//! TCP echo under load: MB/s with 64 KiB writes on 8 connections, and connections/s
//! (connect, one byte there and back, close), each with the server CPU it took.

use anyhow::{bail, Result};
use harness::Family;
use serde::Serialize;

use super::affinity::Placement;
use super::cpu::Cpu;
use super::entry::{find, Label};
use super::entry::{AnyEntry, Entry, Figures};
use super::report::{cell, ladder, modern_vs_legacy, row_head, table, Figure, Ratio};
use super::server::Server;
use super::tcp::{self, Interval};
use super::{per_second, Settings};

/// The figures of one run of a TCP echo program.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TcpEchoFigures {
    /// Bytes echoed per second over the bulk load, MB = 10^6 bytes.
    pub mb_per_s: f64,
    /// Server CPU per MB echoed.
    pub cpu_per_mb_us: f64,
    /// Connections completed per second, and the server CPU per connection.
    pub connections_per_s: f64,
    pub cpu_per_connection_us: f64,
    /// Connections that failed over the whole connection-rate run.
    pub connect_failures: f64,
    pub peak_rss_kib: f64,
}

pub const MB_PER_S: Figure<TcpEchoFigures> = Figure {
    name: "mb_per_s",
    get: |f| Some(f.mb_per_s),
};
pub const CPU_PER_MB: Figure<TcpEchoFigures> = Figure {
    name: "cpu_per_mb_us",
    get: |f| Some(f.cpu_per_mb_us),
};
pub const CONNECTIONS_PER_S: Figure<TcpEchoFigures> = Figure {
    name: "connections_per_s",
    get: |f| Some(f.connections_per_s),
};
pub const CPU_PER_CONNECTION: Figure<TcpEchoFigures> = Figure {
    name: "cpu_per_connection_us",
    get: |f| Some(f.cpu_per_connection_us),
};

impl Figures for TcpEchoFigures {
    const FAMILY: Family = Family::TcpEcho;

    fn run(entry: &Entry<Self>, s: &Settings, placement: &Placement) -> Result<Self> {
        let server = Server::start(&entry.subject.exe, &[], 1, placement)?;
        let (addr, pid) = (server.addrs[0], server.pid());
        let mut probe = || Cpu::read(pid);
        let (chunk, connections) = (s.tcp_chunk, s.tcp_connections);
        let (bytes, bulk) =
            tcp::bulk_echo(addr, connections, chunk, s.warmup, s.measure, &mut probe)?;
        let (conns, failures, rate) = tcp::connect_rate(
            addr,
            s.connect_workers,
            s.max_connections,
            s.latency_warmup,
            s.latency_measure,
            &mut probe,
        )?;
        let rss = server.peak_rss_kib()?;
        server.stop()?;
        if bytes == 0 {
            bail!("no byte echoed during the measured interval");
        }
        if conns == 0 {
            bail!("no connection completed during the measured interval ({failures} failed)");
        }
        let mb = bytes as f64 / 1e6;
        Ok(TcpEchoFigures {
            mb_per_s: mb / bulk.length.as_secs_f64(),
            cpu_per_mb_us: cpu_us(&bulk) / mb,
            connections_per_s: per_second(conns, rate.length),
            cpu_per_connection_us: cpu_us(&rate) / conns as f64,
            connect_failures: failures as f64,
            peak_rss_kib: rss as f64,
        })
    }

    fn section(entries: &[&Entry<Self>], s: &Settings) -> String {
        let heading = format!(
            "\nTCP echo: {} connections × {} KiB writes; connection rate with {} workers\n",
            s.tcp_connections,
            s.tcp_chunk / 1024,
            s.connect_workers
        );
        let header = [
            "program",
            "flavor",
            "MB/s",
            "CPU/MB µs",
            "conn/s",
            "CPU/conn µs",
            "peak RSS MiB",
        ];
        heading + &table(&header, entries.iter().map(|e| row(e)).collect())
    }

    fn ratios(entries: &[&Entry<Self>]) -> Vec<Ratio> {
        let mut out = modern_vs_legacy(entries, &[MB_PER_S, CPU_PER_MB, CONNECTIONS_PER_S]);
        out.extend(ladder(entries, &[CPU_PER_MB, CPU_PER_CONNECTION]));
        out.extend(vs_sibling(entries));
        out
    }

    fn wrap(entry: Entry<Self>) -> AnyEntry {
        AnyEntry::TcpEcho(entry)
    }

    fn unwrap(entry: &AnyEntry) -> Option<&Entry<Self>> {
        match entry {
            AnyEntry::TcpEcho(e) => Some(e),
            _ => None,
        }
    }
}

/// Each next program against the modern side of the readiness sibling it declares
/// (`tcp-echo-compio` against `tcp-echo`), in the same rounds; without targets.
fn vs_sibling(entries: &[&Entry<TcpEchoFigures>]) -> Vec<Ratio> {
    let mut out = Vec::new();
    let next = entries
        .iter()
        .filter(|e| e.subject.label == Label::Flavor(harness::Flavor::Next, None));
    for e in next {
        let sibling = (e.subject.catalogue.as_ref()).and_then(|p| p.declared.sibling.as_deref());
        let Some(s) = sibling.and_then(|s| find(entries, s, Label::MODERN, None)) else {
            continue;
        };
        let subject = format!("{} / {}", e.subject.title(), s.subject.title());
        for figure in [CPU_PER_MB, MB_PER_S, CPU_PER_CONNECTION] {
            out.push(Ratio::of(subject.clone(), figure, (e, s), None));
        }
    }
    out
}

/// The server CPU over an interval, µs.
fn cpu_us(interval: &Interval) -> f64 {
    interval.cpu.1.since(&interval.cpu.0).as_secs_f64() * 1e6
}

fn row(e: &Entry<TcpEchoFigures>) -> Vec<String> {
    let mut row = row_head(&e.subject);
    row.extend([
        cell(e, |f| f.mb_per_s, 1.0),
        cell(e, |f| f.cpu_per_mb_us, 1.0),
        cell(e, |f| f.connections_per_s, 1.0),
        cell(e, |f| f.cpu_per_connection_us, 1.0),
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

    fn figures(mb_per_s: f64) -> TcpEchoFigures {
        TcpEchoFigures {
            mb_per_s,
            cpu_per_mb_us: 2.0,
            connections_per_s: 3.0,
            cpu_per_connection_us: 4.0,
            connect_failures: 5.0,
            peak_rss_kib: 6.0,
        }
    }

    #[test]
    fn figures_serialise_to_the_documented_keys() {
        let f = figures(1.0);
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
                "connect_failures",
                "connections_per_s",
                "cpu_per_connection_us",
                "cpu_per_mb_us",
                "mb_per_s",
                "peak_rss_kib",
            ]
        );
        for figure in [MB_PER_S, CPU_PER_MB, CONNECTIONS_PER_S] {
            assert_eq!(
                json[figure.name],
                json!((figure.get)(&f)),
                "{}",
                figure.name
            );
        }
    }

    #[test]
    fn modern_against_legacy_only_where_both_ran() {
        let legacy = entry("tcp-echo", Label::LEGACY, [figures(100.0)]);
        let modern = entry("tcp-echo", Label::MODERN, [figures(50.0)]);
        let alone = entry("tcp-echo-mio", Label::MODERN, [figures(50.0)]);
        let ratios = TcpEchoFigures::ratios(&[&legacy, &modern, &alone]);
        let shown: Vec<_> = ratios
            .iter()
            .map(|r| {
                (
                    r.subject.as_str(),
                    r.figure,
                    r.rounds.clone(),
                    r.target.is_some(),
                )
            })
            .collect();
        let subject = "tcp-echo modern / legacy";
        assert_eq!(
            shown,
            [
                (subject, "mb_per_s", vec![0.5], false),
                (subject, "cpu_per_mb_us", vec![1.0], false),
                (subject, "connections_per_s", vec![1.0], false),
            ]
        );
    }
}
