//! Multi-socket programs at 10, 100 and 1,000 sockets: a paced spray of datagrams
//! over all of them, and the server CPU per datagram received (the server's own
//! `summary recv=`). How that cost grows with the socket count is held to what each
//! program declares about its composition (`polls` in its `Cargo.toml`). The futures
//! each datagram polls are measured beside, by the suite's own code (`polls`).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use harness::results::bench::{MultisocketFigures, Ratio, Target};
use harness::Polls;

use super::cells::{family_table, Cells, Column};
use super::entry::{find, programs, Job};
use super::ratio::{above, at_most, ladder, modern_vs_legacy, ratio, Figure};
use super::settings::{Settings, SIZES, SPRAY_BURST};
use harness::load::udp::{self, SprayLoad};
use harness::measure::affinity::Placement;
use harness::measure::cpu::{self, ns_per};
use harness::measure::server::{counts, Server};

/// The figures ratios are taken of.
type Fig = Figure<MultisocketFigures>;
const CPU_PER_DATAGRAM: Fig = ("cpu_per_datagram_ns", |f| Some(f.cpu_per_datagram_ns));

pub fn run(job: &Job, s: &Settings, on: &Placement) -> Result<MultisocketFigures> {
    let n = job
        .entry
        .sockets
        .context("a multi-socket entry without a socket count")?;
    let server = Server::start(&job.subject.exe, &["--sockets", &n.to_string()], n, on)?;
    let pid = server.pid();
    // Start-up (binding, registering, the first poll of every future) is over when
    // the server goes idle (asleep, not starved); the measured interval starts there
    // and ends when it is idle again after the last datagram: all of them read.
    let (c0, _) = cpu::wait_idle(pid, Duration::from_millis(30), Duration::from_secs(5))?;
    let load = SprayLoad {
        rate: s.spray_rate,
        // Bursts never larger than the socket count.
        burst: SPRAY_BURST.min(n),
        duration: s.span().1 / 2,
        payload: s.payload,
    };
    let sent = udp::spray(&server.addrs, &load)?;
    let (c1, idle) = cpu::wait_idle(pid, Duration::from_millis(50), Duration::from_secs(10))?;
    let rss = server.peak_rss_kib()?;
    let summary = server.stop()?;
    let recv = summary
        .get("recv")
        .context("the summary line has no recv= count")?;
    if recv == 0 {
        bail!("the server received none of the {sent} datagrams");
    }
    Ok(MultisocketFigures {
        datagrams_sent: sent as f64,
        datagrams_received: recv as f64,
        cpu_per_datagram_ns: ns_per(c1.since(&c0), recv),
        went_idle: if idle { 1.0 } else { 0.0 },
        peak_rss_kib: rss as f64,
        server: counts(&summary),
    })
}

pub fn section(jobs: &[&Job], s: &Settings) -> String {
    // The share of the datagrams sprayed that the server received, over every round.
    let received = |c: &Cells<MultisocketFigures>| {
        let sum = |figure: fn(&MultisocketFigures) -> f64| c.job.values(figure).iter().sum::<f64>();
        let (got, sent) = (sum(|f| f.datagrams_received), sum(|f| f.datagrams_sent));
        match sent > 0.0 {
            true => format!("{:.0}%", 100.0 * got / sent),
            false => "—".into(),
        }
    };
    let columns: [Column<MultisocketFigures>; 4] = [
        ("sockets", &|c| {
            c.job.entry.sockets.map_or(String::new(), |n| n.to_string())
        }),
        ("CPU/datagram µs", &|c| {
            c.num(|f| f.cpu_per_datagram_ns, 1e-3)
        }),
        ("received", &received),
        ("peak RSS MiB", &|c| c.num(|f| f.peak_rss_kib, 1.0 / 1024.0)),
    ];
    let title = format!(
        "Multi-socket: {} datagrams/s spread over every socket",
        s.spray_rate
    );
    family_table(&title, jobs, &columns)
}

pub fn ratios(jobs: &[&Job]) -> Vec<Ratio> {
    let mut out = Vec::new();
    for program in programs(jobs) {
        let mut labels: Vec<&str> = Vec::new();
        for j in jobs.iter().filter(|j| j.program() == program) {
            if !labels.contains(&j.flavor()) {
                labels.push(j.flavor());
            }
        }
        for label in labels {
            out.extend(growth(jobs, program, label));
        }
    }
    out.extend(modern_vs_legacy(jobs, &[CPU_PER_DATAGRAM], |_, _| None));
    out.extend(ladder(jobs, &[CPU_PER_DATAGRAM]));
    out
}

/// What a composition promises for the cost per datagram from the fewest sockets to
/// the most.
fn growth_target(polls: Option<Polls>) -> Option<Target> {
    match polls? {
        Polls::Every => Some(above(
            1.2,
            "polls every future per datagram: cost grows with the socket count",
        )),
        // Every future up to 30, only the woken one above: no claim across the line.
        Polls::EveryUpTo30 => None,
        Polls::Woken => Some(at_most(
            1.2,
            "CPU per datagram stays flat from 10 to 1,000 sockets",
        )),
    }
}

/// The cost per datagram of one flavor of `program` at the most sockets against the
/// fewest (and, for a composition that changes above 30 futures, against 100).
fn growth(jobs: &[&Job], program: &str, label: &str) -> Vec<Ratio> {
    let at = |n| find(jobs, program, label, Some(n));
    let [small, mid, big] = SIZES;
    let ratio = |(num, den): (usize, usize), target| {
        let subject = format!("{program} {label} {num} / {den} sockets");
        Some(ratio(
            subject,
            CPU_PER_DATAGRAM,
            (at(num)?, at(den)?),
            target,
        ))
    };
    let declared = [small, mid, big].into_iter().find_map(at);
    let polls = declared.and_then(|j| j.subject.catalogue.as_ref()?.declared.polls);
    let mut out: Vec<Ratio> = ratio((big, small), growth_target(polls))
        .into_iter()
        .collect();
    if polls == Some(Polls::EveryUpTo30) {
        let says = "polls only the woken future above 30: flat from 100 to 1,000 sockets";
        out.extend(ratio((big, mid), Some(at_most(1.2, says))));
    }
    out
}

#[cfg(test)]
mod tests {
    use harness::results::bench::Rounds;
    use harness::Catalogue;
    use serde_json::json;

    use super::*;
    use crate::bench::ratio::tests::line;

    #[test]
    fn growth_targets_follow_the_declared_composition_not_the_name() {
        // Names that say nothing: only the declarations decide the targets.
        let polls = |polls: &str| json!({ "family": "multisocket", "polls": polls });
        let catalogue = Catalogue::of_declarations(&[
            ("legacy-ms-a", polls("every")),
            ("modern-ms-a", polls("every-up-to-30")),
            ("modern-ms-b", polls("woken")),
        ]);
        // CPU per datagram at 10, 100 and 1,000 sockets (whole ns, so that every ratio
        // is the double nearest its decimal).
        let cpu = [[10.0, 40.0, 200.0], [20.0, 10.0, 11.0], [10.0, 10.0, 13.0]];
        let mut jobs = Vec::new();
        for (program, cpu) in catalogue.programs().iter().zip(cpu) {
            for (n, cpu_per_datagram_ns) in SIZES.into_iter().zip(cpu) {
                let f = MultisocketFigures {
                    cpu_per_datagram_ns,
                    ..Default::default()
                };
                jobs.push(Job::of(
                    program,
                    Some(n),
                    Rounds::Multisocket(vec![Some(f)]),
                ));
            }
        }
        let shown: Vec<String> = ratios(&jobs.iter().collect::<Vec<_>>())
            .iter()
            .map(line)
            .collect();
        let want = [
            "ms-a legacy 1000 / 10 sockets: cpu_per_datagram_ns [20.0] > 1.20 met",
            "ms-a modern 1000 / 10 sockets: cpu_per_datagram_ns [0.55]",
            "ms-a modern 1000 / 100 sockets: cpu_per_datagram_ns [1.1] ≤ 1.20 met",
            "ms-b modern 1000 / 10 sockets: cpu_per_datagram_ns [1.3] ≤ 1.20 missed",
            "ms-a modern ×10 / legacy: cpu_per_datagram_ns [2.0]",
            "ms-a modern ×100 / legacy: cpu_per_datagram_ns [0.25]",
            "ms-a modern ×1000 / legacy: cpu_per_datagram_ns [0.055]",
        ];
        assert_eq!(shown, want);
    }
}
