//! TCP echo under load: MB/s with 64 KiB writes on 8 connections, and connections/s
//! (connect, one byte there and back, close), each with the server CPU it took.

use anyhow::{bail, Result};
use harness::results::bench::{Ratio, TcpEchoFigures};

use super::cells::{family_table, Column};
use super::entry::{find, Job, MODERN, NEXT};
use super::ratio::{ladder, modern_vs_legacy, ratio, Figure};
use super::settings::{Settings, CONNECT_WORKERS, MAX_CONNECTIONS};
use harness::load::tcp::{self, Interval};
use harness::measure::affinity::Placement;
use harness::measure::cpu::{per_second, Cpu};
use harness::measure::server::Server;

/// The figures ratios are taken of.
type Fig = Figure<TcpEchoFigures>;
const MB_PER_S: Fig = ("mb_per_s", |f| Some(f.mb_per_s));
const CPU_PER_MB: Fig = ("cpu_per_mb_us", |f| Some(f.cpu_per_mb_us));
const CONNECTIONS_PER_S: Fig = ("connections_per_s", |f| Some(f.connections_per_s));
const CPU_PER_CONNECTION: Fig = ("cpu_per_connection_us", |f| Some(f.cpu_per_connection_us));

pub fn run(job: &Job, s: &Settings, on: &Placement) -> Result<TcpEchoFigures> {
    let server = Server::start(&job.subject.exe, &[], 1, on)?;
    let (addr, pid) = (server.addrs[0], server.pid());
    let mut probe = || Cpu::read(pid);
    let shape = (s.tcp_connections, s.tcp_chunk);
    let bulk = tcp::bulk_echo(addr, shape, s.span(), &mut probe)?;
    let rate_load = (CONNECT_WORKERS, MAX_CONNECTIONS);
    let (conns, failures, rate) = tcp::connect_rate(addr, rate_load, s.latency_span(), &mut probe)?;
    let rss = server.peak_rss_kib()?;
    server.stop()?;
    if bulk.bytes == 0 || bulk.broken > 0 {
        bail!(
            "{} bytes echoed in the measured interval, {} connections broken",
            bulk.bytes,
            bulk.broken
        );
    }
    if conns == 0 {
        bail!("no connection completed during the measured interval ({failures} failed)");
    }
    let mb = bulk.bytes as f64 / 1e6;
    Ok(TcpEchoFigures {
        mb_per_s: mb / bulk.interval.length.as_secs_f64(),
        cpu_per_mb_us: cpu_us(&bulk.interval) / mb,
        connections_per_s: per_second(conns, rate.length),
        cpu_per_connection_us: cpu_us(&rate) / conns as f64,
        connect_failures: failures as f64,
        peak_rss_kib: rss as f64,
    })
}

/// The server CPU over an interval, µs.
fn cpu_us(interval: &Interval) -> f64 {
    interval.cpu.1.since(&interval.cpu.0).as_secs_f64() * 1e6
}

pub fn section(jobs: &[&Job], s: &Settings) -> String {
    let columns: [Column<TcpEchoFigures>; 5] = [
        ("MB/s", &|c| c.num(|f| f.mb_per_s, 1.0)),
        ("CPU/MB µs", &|c| c.num(|f| f.cpu_per_mb_us, 1.0)),
        ("conn/s", &|c| c.num(|f| f.connections_per_s, 1.0)),
        ("CPU/conn µs", &|c| c.num(|f| f.cpu_per_connection_us, 1.0)),
        ("peak RSS MiB", &|c| c.num(|f| f.peak_rss_kib, 1.0 / 1024.0)),
    ];
    let (n, kib, w) = (s.tcp_connections, s.tcp_chunk / 1024, CONNECT_WORKERS);
    let title =
        format!("TCP echo: {n} connections × {kib} KiB writes; connection rate with {w} workers");
    family_table(&title, jobs, &columns)
}

pub fn ratios(jobs: &[&Job]) -> Vec<Ratio> {
    let figures = [MB_PER_S, CPU_PER_MB, CONNECTIONS_PER_S];
    let mut out = modern_vs_legacy(jobs, &figures, |_, _| None);
    out.extend(ladder(jobs, &[CPU_PER_MB, CPU_PER_CONNECTION]));
    // Each next program against the modern side of the readiness sibling it declares
    // (`tcp-echo-compio` against `tcp-echo`); without targets.
    for j in jobs.iter().filter(|j| j.flavor() == NEXT) {
        let sibling = (j.subject.catalogue.as_ref()).and_then(|p| p.declared.sibling.as_deref());
        let Some(s) = sibling.and_then(|s| find(jobs, s, MODERN, None)) else {
            continue;
        };
        let subject = format!("{} / {}", j.title(), s.title());
        for figure in [CPU_PER_MB, MB_PER_S, CPU_PER_CONNECTION] {
            out.push(ratio(subject.clone(), figure, (j, s), None));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use harness::results::bench::Rounds;
    use serde_json::json;

    use super::*;
    use crate::bench::entry::{tests::job, LEGACY};
    use crate::bench::ratio::tests::line;

    #[test]
    fn a_next_program_is_read_against_its_declared_sibling() {
        let declared = json!({ "family": "tcp-echo", "sibling": "tcp" });
        let catalogue = harness::Catalogue::of_declarations(&[("next-tcp-compio", declared)]);
        let (cpu_per_mb_us, connections_per_s, cpu_per_connection_us) = (2.0, 3.0, 4.0);
        let figures = |mb_per_s| TcpEchoFigures {
            mb_per_s,
            cpu_per_mb_us,
            connections_per_s,
            cpu_per_connection_us,
            ..Default::default()
        };
        let rounds = Rounds::TcpEcho(vec![Some(figures(300.0))]);
        let next = Job::of(&catalogue.programs()[0], None, rounds);
        let legacy = job("tcp", LEGACY, [figures(100.0)]);
        let modern = job("tcp", MODERN, [figures(50.0)]);
        let shown: Vec<String> = ratios(&[&legacy, &modern, &next])
            .iter()
            .map(line)
            .collect();
        let want = [
            "tcp modern / legacy: mb_per_s [0.5]",
            "tcp modern / legacy: cpu_per_mb_us [1.0]",
            "tcp modern / legacy: connections_per_s [1.0]",
            "tcp-compio next / tcp modern: cpu_per_mb_us [1.0]",
            "tcp-compio next / tcp modern: mb_per_s [6.0]",
            "tcp-compio next / tcp modern: cpu_per_connection_us [1.0]",
        ];
        assert_eq!(shown, want);
    }
}
