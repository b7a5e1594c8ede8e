//! Ident under load: per-query server CPU and wall latency p50/p99, at 1 client and at
//! 32 clients at a time, for queries on an open connection and for queries each on a
//! fresh connection (connect, query, read the reply, close). Every client asks about
//! the very connection it asks on.
//!
//! The servers run with their default owner lookup (netlink), and with each variant
//! their `Cargo.toml` declares (`--lookup proc` for ident-tokio and ident-pool: the
//! pool is the talk's answer to blocking work, and whether it pays depends on how long
//! the lookup holds a thread). oidentd, where installed, is the reference on fresh
//! connections (`server`).
//!
//! Targets, as data: per-query server CPU ≤ 50 µs and wall p50 ≤ 100 µs on an open
//! connection; on a fresh connection at most half of oidentd's wall time.

use anyhow::{bail, Result};
use harness::results::bench::{IdentFigures, QueryFigures, Ratio};

use super::cells::{family_table, Column};
use super::entry::{find, ours, variants, Job, LEGACY, MODERN, REFERENCE};
use super::ratio::{at_most, ladder, modern_vs_legacy, ratio, value, Figure};
use super::settings::{Settings, MAX_CONNECTIONS};
use harness::load::tcp::{self, IdentLoad, IdentOutcome};
use harness::measure::affinity::Placement;
use harness::measure::cpu::{per_second, Cpu};
use harness::measure::server::{Server, OIDENTD};

/// Replies a measured interval holds at least (and one per client).
const MIN_REPLIES: u64 = 20;

/// The loads, in the order they run and of the figures' fields: their name, whether
/// their clients are many, and whether each query is on a fresh connection.
const LOADS: [(&str, bool, bool); 4] = [
    ("on an open connection, 1 client", false, false),
    ("on an open connection, N clients", true, false),
    ("each on a fresh connection, 1 client", false, true),
    ("each on a fresh connection, N clients", true, true),
];

/// The figures of load `i` of [`LOADS`].
fn load(f: &IdentFigures, i: usize) -> Option<QueryFigures> {
    [f.open_1, f.open_many, f.fresh_1, f.fresh_many][i]
}

fn load_mut(f: &mut IdentFigures, i: usize) -> &mut Option<QueryFigures> {
    match i {
        0 => &mut f.open_1,
        1 => &mut f.open_many,
        2 => &mut f.fresh_1,
        _ => &mut f.fresh_many,
    }
}

/// The figures ratios are taken of.
type Fig = Figure<IdentFigures>;
const OPEN_1_P50: Fig = ("open_1.p50_us", |f| f.open_1.map(|q| q.p50_us));
const OPEN_1_CPU: Fig = ("open_1.cpu_per_query_us", |f| {
    f.open_1.map(|q| q.cpu_per_query_us)
});
const OPEN_MANY_CPU: Fig = ("open_many.cpu_per_query_us", |f| {
    f.open_many.map(|q| q.cpu_per_query_us)
});
const OPEN_MANY_QPS: Fig = ("open_many.queries_per_s", |f| {
    f.open_many.map(|q| q.queries_per_s)
});
const OPEN_MANY_P99: Fig = ("open_many.p99_us", |f| f.open_many.map(|q| q.p99_us));
const FRESH_1_P50: Fig = ("fresh_1.p50_us", |f| f.fresh_1.map(|q| q.p50_us));
const FRESH_MANY_P50: Fig = ("fresh_many.p50_us", |f| f.fresh_many.map(|q| q.p50_us));
const FRESH_MANY_CPU: Fig = ("fresh_many.cpu_per_query_us", |f| {
    f.fresh_many.map(|q| q.cpu_per_query_us)
});

pub fn run(job: &Job, s: &Settings, on: &Placement) -> Result<IdentFigures> {
    let exe = &job.subject.exe;
    let reference = job.flavor() == REFERENCE;
    let server = match reference {
        true => Server::oidentd(exe, on)?,
        false => {
            let variant: Vec<&str> = job.subject.variant.iter().map(String::as_str).collect();
            Server::start(exe, &variant, 1, on)?
        }
    };
    let (addr, pid) = (server.addrs[0], server.pid());
    let mut probe = || Cpu::read(pid);
    let mut f = IdentFigures::default();
    // The reference answers one query per connection: fresh connections only.
    for (i, (name, many, fresh)) in LOADS.into_iter().enumerate() {
        if reference && !fresh {
            continue;
        }
        let clients = if many { s.ident_clients } else { 1 };
        let load = IdentLoad {
            clients,
            fresh,
            span: s.latency_span(),
            min_replies: (clients as u64).max(MIN_REPLIES),
            max_connections: MAX_CONNECTIONS,
        };
        let outcome = tcp::ident_queries(addr, &load, &mut probe)?;
        f.failures += outcome.failures as f64;
        f.error_replies += outcome.error_replies as f64;
        let Some(figures) = query_figures(&outcome) else {
            server.stop()?;
            let (failed, answered) = (outcome.failures, outcome.answered);
            bail!("no reply in the measured interval ({name}, {clients} clients; {failed} failed queries, {answered} answered outside it)");
        };
        *load_mut(&mut f, i) = Some(figures);
    }
    f.peak_rss_kib = server.peak_rss_kib()? as f64;
    server.stop()?;
    Ok(f)
}

fn query_figures(o: &IdentOutcome) -> Option<QueryFigures> {
    let interval = o.interval.as_ref()?;
    if o.replies == 0 {
        return None;
    }
    let cpu = interval.cpu.1.since(&interval.cpu.0);
    Some(QueryFigures {
        queries_per_s: per_second(o.replies, interval.length),
        cpu_per_query_us: cpu.as_secs_f64() * 1e6 / o.replies as f64,
        p50_us: o.wall_percentile_us(50)?,
        p99_us: o.wall_percentile_us(99)?,
        failures: o.failures as f64,
    })
}

/// A table per load (the reference has no open-connection rows).
pub fn section(jobs: &[&Job], s: &Settings) -> String {
    let mut out = String::new();
    for (i, (name, many, fresh)) in LOADS.into_iter().enumerate() {
        let q = |f: &IdentFigures| load(f, i);
        let columns: [Column<IdentFigures>; 5] = [
            ("queries/s", &|c| {
                c.num(|f| q(f).map(|q| q.queries_per_s), 1.0)
            }),
            ("CPU/query µs", &|c| {
                c.num(|f| q(f).map(|q| q.cpu_per_query_us), 1.0)
            }),
            ("p50 µs", &|c| c.num(|f| q(f).map(|q| q.p50_us), 1.0)),
            ("p99 µs", &|c| c.num(|f| q(f).map(|q| q.p99_us), 1.0)),
            ("failed", &|c| c.total(|f| q(f).map(|q| q.failures))),
        ];
        // The reference answers one query per connection: no open-connection rows.
        let shown: Vec<&Job> = jobs
            .iter()
            .copied()
            .filter(|j| fresh || j.flavor() != REFERENCE)
            .collect();
        let name = name.replace('N', &s.ident_clients.to_string());
        let title = format!(
            "Ident, queries {name}{}",
            if many { " at a time" } else { "" }
        );
        out += &family_table(&title, &shown, &columns);
    }
    out
}

pub fn ratios(jobs: &[&Job]) -> Vec<Ratio> {
    let figures = [OPEN_MANY_CPU, OPEN_1_P50, FRESH_1_P50];
    let mut out = modern_vs_legacy(jobs, &figures, |_, _| None);
    out.extend(ladder(jobs, &[OPEN_MANY_CPU, OPEN_1_P50]));
    // The targets hold every program of the catalogue in its default configuration.
    let held = jobs.iter().filter(|j| ours(j) && j.variant().is_none());
    for j in held.clone() {
        let cpu = at_most(50.0, "per-query server CPU ≤ 50 µs (open connections)");
        out.push(value(OPEN_MANY_CPU, j, cpu));
        let wall = at_most(100.0, "wall p50 ≤ 100 µs for a query on an open connection");
        out.push(value(OPEN_1_P50, j, wall));
    }
    if let Some(reference) = find(jobs, OIDENTD, REFERENCE, None) {
        let half = "on a fresh connection at most half of oidentd's time";
        for j in held {
            let subject = format!("{} / oidentd", j.title());
            for figure in [FRESH_1_P50, FRESH_MANY_P50] {
                out.push(ratio(
                    subject.clone(),
                    figure,
                    (j, reference),
                    Some(at_most(0.5, half)),
                ));
            }
            out.push(ratio(subject, FRESH_MANY_CPU, (j, reference), None));
        }
    }
    out.extend(pool_vs_tokio(jobs));
    out
}

/// ident-pool against ident-tokio, flavor by flavor and configuration by
/// configuration: what handing the lookup to a pool costs, and what it buys.
fn pool_vs_tokio(jobs: &[&Job]) -> Vec<Ratio> {
    let (pool, tokio) = ("ident-pool", "ident-tokio");
    let mut out = Vec::new();
    for label in [LEGACY, MODERN] {
        for v in variants(jobs, pool) {
            let find = |program| {
                let mut found = jobs.iter().filter(|j| j.program() == program);
                found.find(|j| j.flavor() == label && j.variant() == v)
            };
            let (Some(p), Some(t)) = (find(pool), find(tokio)) else {
                continue;
            };
            let subject = format!("{} / {}", p.title(), t.title());
            for figure in [OPEN_1_CPU, OPEN_MANY_CPU, OPEN_MANY_QPS, OPEN_MANY_P99] {
                out.push(ratio(subject.clone(), figure, (p, t), None));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::entry::tests::job;

    fn figures(scale: f64, failures: f64) -> IdentFigures {
        let mut f = IdentFigures::default();
        for i in 0..LOADS.len() {
            let v = |k: f64| ((i * 10) as f64 + k) * scale;
            let (queries_per_s, cpu_per_query_us, p50_us, p99_us) =
                (v(1.0), v(2.0), v(3.0), v(4.0));
            *load_mut(&mut f, i) = Some(QueryFigures {
                queries_per_s,
                cpu_per_query_us,
                p50_us,
                p99_us,
                failures,
            });
        }
        f
    }

    #[test]
    fn a_table_per_load_and_no_open_rows_for_the_reference() {
        let e = job(
            "ident-tokio",
            LEGACY,
            [figures(1.0, 1.0), figures(3.0, 2.0)],
        );
        let mut reference = figures(1.0, 0.0);
        (reference.open_1, reference.open_many) = (None, None);
        let text = section(
            &[&e, &job(OIDENTD, REFERENCE, [reference])],
            &Settings::quick(),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[1], "Ident, queries on an open connection, 1 client");
        let cells: Vec<&str> = lines[3]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let want = [
            "ident-tokio",
            "legacy",
            "2.00 ±50%",
            "4.00 ±50%",
            "6.00 ±50%",
            "8.00 ±50%",
            "3",
        ];
        assert_eq!(cells, want, "{text}");
        assert_eq!(
            lines[5],
            "Ident, queries on an open connection, 32 clients at a time"
        );
        let fresh = text
            .split("each on a fresh connection, 1 client")
            .nth(1)
            .unwrap();
        assert!(fresh.lines().any(|l| l.starts_with("oidentd")), "{text}");
        assert_eq!(text.lines().filter(|l| l.starts_with("oidentd")).count(), 2);
    }

    #[test]
    fn ratios_against_legacy_oidentd_and_tokio_with_targets() {
        let proc = ["--lookup".to_string(), "proc".to_string()];
        let legacy = job("ident-tokio", LEGACY, [figures(2.0, 0.0)]);
        let modern = job("ident-tokio", MODERN, [figures(1.0, 0.0)]);
        let tokio_proc = job("ident-tokio", MODERN, [figures(100.0, 0.0)]).with_variant(&proc);
        let pool_proc = job("ident-pool", MODERN, [figures(50.0, 0.0)]).with_variant(&proc);
        let reference = job(OIDENTD, REFERENCE, [figures(4.0, 0.0)]);
        let ratios = ratios(&[&legacy, &modern, &tokio_proc, &pool_proc, &reference]);
        let find = |subject, figure| crate::bench::ratio::tests::find(&ratios, subject, figure);
        let cpu = "open_many.cpu_per_query_us";
        assert_eq!(find("ident-tokio modern / legacy", cpu).rounds, [0.5]);
        // The default configuration is held to the targets; the /proc variant is not.
        let held = find("ident-tokio modern", cpu);
        assert_eq!(
            (held.met(), held.to.clone(), held.rounds.clone()),
            (Some(true), None, vec![12.0])
        );
        assert!(!ratios
            .iter()
            .any(|r| r.to.is_none() && r.subject.contains("proc")));
        let fresh = find("ident-tokio modern / oidentd", "fresh_1.p50_us");
        assert_eq!(
            (fresh.met(), fresh.rounds.clone()),
            (Some(true), vec![0.25])
        );
        let subject = "ident-pool modern --lookup proc / ident-tokio modern --lookup proc";
        let pool = find(subject, "open_many.p99_us");
        assert_eq!(
            (pool.rounds.clone(), pool.target.clone()),
            (vec![0.5], None)
        );
    }
}
