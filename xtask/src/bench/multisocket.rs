//! Multi-socket programs at 10, 100 and 1,000 sockets: a paced spray of datagrams
//! over all of them, and the server CPU per datagram received (the server's own
//! `summary recv=`). How that cost grows with the socket count is held to what each
//! program declares about its composition (`polls` in its `Cargo.toml`).

use std::time::Duration;

use anyhow::{bail, Context, Result};
use harness::{Family, Polls};
use serde::Serialize;

use super::affinity::Placement;
use super::cpu;
use super::entry::{find, programs, AnyEntry, Entry, Figures, Label};
use super::loadgen::{self, SprayLoad};
use super::report::{cell, ladder, row_head, table, Figure, Ratio, Target};
use super::server::Server;
use super::{ns_per, ServerCounts, Settings};

/// The socket counts each multi-socket program is measured at.
pub const SIZES: [usize; 3] = [10, 100, 1_000];

/// The figures of one run of a multi-socket program.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MultisocketFigures {
    /// The socket count (as a figure too, for the JSON's readers).
    pub sockets: f64,
    /// Datagrams the spray sent, and those the server's summary says it received.
    pub datagrams_sent: f64,
    pub datagrams_received: f64,
    /// Server CPU from idle after start-up to idle after the last datagram, per
    /// datagram received.
    pub cpu_per_datagram_ns: f64,
    /// 1 when the server went idle after the last datagram, 0 when the wait for it
    /// ran out (a number, so that it has a median like every figure).
    pub went_idle: f64,
    pub peak_rss_kib: f64,
    #[serde(flatten)]
    pub server: ServerCounts,
}

pub const CPU_PER_DATAGRAM: Figure<MultisocketFigures> = Figure {
    name: "cpu_per_datagram_ns",
    get: |f| Some(f.cpu_per_datagram_ns),
};

impl Figures for MultisocketFigures {
    const FAMILY: Family = Family::Multisocket;

    fn run(entry: &Entry<Self>, s: &Settings, placement: &Placement) -> Result<Self> {
        let n = (entry.subject.sockets).context("multi-socket entry without a socket count")?;
        let count = n.to_string();
        let server = Server::start(&entry.subject.exe, &["--sockets", &count], n, placement)?;
        let pid = server.pid();
        // Start-up (binding, registering, the first poll of every future) is over when
        // the server goes idle; the measured interval starts there and ends when it is
        // idle again after the last datagram.
        let (c0, _) = cpu::wait_idle(pid, Duration::from_millis(30), Duration::from_secs(5))?;
        let sent = loadgen::spray(&server.addrs, &spray_load(s, n))?;
        let (c1, idle) = cpu::wait_idle(pid, Duration::from_millis(50), Duration::from_secs(10))?;
        let rss = server.peak_rss_kib()?;
        let counts = server.stop()?;
        let recv = (counts.get("recv")).context("the summary line has no recv= count")?;
        if recv == 0 {
            bail!("the server received none of the {sent} datagrams");
        }
        Ok(MultisocketFigures {
            sockets: n as f64,
            datagrams_sent: sent as f64,
            datagrams_received: recv as f64,
            cpu_per_datagram_ns: ns_per(c1.since(&c0), recv),
            went_idle: if idle { 1.0 } else { 0.0 },
            peak_rss_kib: rss as f64,
            server: ServerCounts::of(&counts),
        })
    }

    fn section(entries: &[&Entry<Self>], s: &Settings) -> String {
        let heading = format!(
            "\nMulti-socket: {} datagrams/s spread over every socket\n",
            s.spray_rate
        );
        let header = [
            "program",
            "flavor",
            "sockets",
            "CPU/datagram µs",
            "received",
            "peak RSS MiB",
        ];
        heading + &table(&header, entries.iter().map(|e| row(e)).collect())
    }

    fn ratios(entries: &[&Entry<Self>]) -> Vec<Ratio> {
        let mut out = Vec::new();
        for program in programs(entries) {
            for label in labels(entries, program) {
                out.extend(growth(entries, program, label));
            }
            out.extend(modern_vs_legacy(entries, program));
        }
        out.extend(ladder(entries, &[CPU_PER_DATAGRAM]));
        out
    }

    fn wrap(entry: Entry<Self>) -> AnyEntry {
        AnyEntry::Multisocket(entry)
    }

    fn unwrap(entry: &AnyEntry) -> Option<&Entry<Self>> {
        match entry {
            AnyEntry::Multisocket(e) => Some(e),
            _ => None,
        }
    }
}

/// The spray over `sockets` sockets: bursts never larger than the socket count.
fn spray_load(s: &Settings, sockets: usize) -> SprayLoad {
    SprayLoad {
        rate: s.spray_rate,
        burst: s.spray_burst.min(sockets),
        duration: s.spray_duration,
        payload: s.payload,
    }
}

fn row(e: &Entry<MultisocketFigures>) -> Vec<String> {
    let mut row = row_head(&e.subject);
    row.extend([
        (e.subject.sockets).map_or(String::new(), |n| n.to_string()),
        cell(e, |f| f.cpu_per_datagram_ns, 1e-3),
        received(e),
        cell(e, |f| f.peak_rss_kib, 1.0 / 1024.0),
    ]);
    row
}

/// The share of the sprayed datagrams the server received, over every round.
fn received(e: &Entry<MultisocketFigures>) -> String {
    let r: f64 = e.values(|f| f.datagrams_received).iter().sum();
    let s: f64 = e.values(|f| f.datagrams_sent).iter().sum();
    if s == 0.0 {
        "—".into()
    } else {
        format!("{:.0}%", 100.0 * r / s)
    }
}

/// The composition the entry's program declares.
fn polls(e: &Entry<MultisocketFigures>) -> Option<Polls> {
    e.subject.catalogue.as_ref()?.declared.polls
}

/// The flavors `program` was measured in, in measured order.
fn labels(entries: &[&Entry<MultisocketFigures>], program: &str) -> Vec<Label> {
    let mut out = Vec::new();
    for e in entries.iter().filter(|e| e.subject.program == program) {
        if !out.contains(&e.subject.label) {
            out.push(e.subject.label);
        }
    }
    out
}

/// What a composition promises for the cost per datagram from the fewest sockets to
/// the most.
fn growth_target(polls: Option<Polls>) -> Option<Target> {
    match polls? {
        Polls::Every => Some(Target::above(
            1.2,
            "polls every future per datagram: cost grows with the socket count",
        )),
        // Every future up to 30, only the woken one above: no claim across the line.
        Polls::EveryUpTo30 => None,
        Polls::Woken => Some(Target::at_most(
            1.2,
            "CPU per datagram stays flat from 10 to 1,000 sockets",
        )),
    }
}

/// The cost per datagram of one flavor of `program` at the most sockets against the
/// fewest (and, for a composition that changes above 30 futures, against 100).
fn growth(entries: &[&Entry<MultisocketFigures>], program: &str, label: Label) -> Vec<Ratio> {
    let at = |n| find(entries, program, label, Some(n));
    let [small, mid, big] = SIZES;
    let ratio = |(num, den): (usize, usize), target| {
        let subject = format!("{program} {label} {num} / {den} sockets");
        Some(Ratio::of(
            subject,
            CPU_PER_DATAGRAM,
            (at(num)?, at(den)?),
            target,
        ))
    };
    let polls = at(small).or(at(mid)).or(at(big)).and_then(polls);
    let mut out: Vec<Ratio> = ratio((big, small), growth_target(polls))
        .into_iter()
        .collect();
    if polls == Some(Polls::EveryUpTo30) {
        let says = "polls only the woken future above 30: flat from 100 to 1,000 sockets";
        out.extend(ratio((big, mid), Some(Target::at_most(1.2, says))));
    }
    out
}

/// Modern / legacy at each socket count.
fn modern_vs_legacy(entries: &[&Entry<MultisocketFigures>], program: &str) -> Vec<Ratio> {
    let at = |label, n| find(entries, program, label, Some(n));
    let ratio = |n| {
        let pair = (at(Label::MODERN, n)?, at(Label::LEGACY, n)?);
        let subject = format!("{program} ×{n} modern / legacy");
        Some(Ratio::of(subject, CPU_PER_DATAGRAM, pair, None))
    };
    SIZES.into_iter().filter_map(ratio).collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use harness::{Declared, Flavor, Program};
    use serde_json::json;

    use super::*;
    use crate::bench::entry::tests::entry;

    fn figures(sockets: usize, cpu_ns: f64) -> MultisocketFigures {
        MultisocketFigures {
            sockets: sockets as f64,
            datagrams_sent: 100.0,
            datagrams_received: 99.0,
            cpu_per_datagram_ns: cpu_ns,
            went_idle: 1.0,
            peak_rss_kib: 2048.0,
            server: ServerCounts {
                server_recv: Some(99.0),
                ..ServerCounts::default()
            },
        }
    }

    /// `program` of `flavor` declaring `polls`, measured at every size with the given
    /// CPU per datagram (ns), two rounds each.
    fn measured(
        program: &str,
        flavor: Flavor,
        polls: Polls,
        cpu: [f64; 3],
    ) -> Vec<Entry<MultisocketFigures>> {
        let declared = Program {
            name: program.into(),
            flavor,
            step: None,
            package: format!("{flavor}-{program}"),
            dir: PathBuf::new(),
            family: Ok(Family::Multisocket),
            declared: Declared {
                polls: Some(polls),
                ..Declared::default()
            },
        };
        let sized = |(n, c): (usize, f64)| {
            let mut e = entry(
                program,
                Label::of(&declared),
                [figures(n, c), figures(n, c)],
            );
            e.subject.sockets = Some(n);
            e.subject.catalogue = Some(declared.clone());
            e
        };
        SIZES.into_iter().zip(cpu).map(sized).collect()
    }

    #[test]
    fn figures_serialise_to_the_documented_keys() {
        let json = serde_json::to_value(figures(10, 5.0)).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "cpu_per_datagram_ns",
                "datagrams_received",
                "datagrams_sent",
                "peak_rss_kib",
                "server_recv",
                "sockets",
                "went_idle",
            ]
        );
        assert_eq!(json[CPU_PER_DATAGRAM.name], json!(5.0));
    }

    #[test]
    fn growth_targets_follow_the_declared_composition_not_the_name() {
        // Names that say nothing: only the declarations decide the targets.
        // Whole numbers of ns, so that every ratio is the double nearest its decimal.
        let mut all = measured("ms-a", Flavor::Legacy, Polls::Every, [10.0, 40.0, 200.0]);
        all.extend(measured(
            "ms-a",
            Flavor::Modern,
            Polls::EveryUpTo30,
            [20.0, 10.0, 11.0],
        ));
        all.extend(measured(
            "ms-b",
            Flavor::Modern,
            Polls::Woken,
            [10.0, 10.0, 13.0],
        ));
        let refs: Vec<&Entry<MultisocketFigures>> = all.iter().collect();
        let ratios = MultisocketFigures::ratios(&refs);
        let show = |r: &Ratio| {
            let says = r
                .target
                .as_ref()
                .map(|t| t.says.split(':').next().unwrap().to_string());
            (r.subject.clone(), r.stat().unwrap().median, says, r.met())
        };
        let shown: Vec<_> = ratios.iter().map(show).collect();
        let s = |t: &str| t.to_string();
        let grows = Some(s("polls every future per datagram"));
        let above_30 = Some(s("polls only the woken future above 30"));
        let flat = Some(s("CPU per datagram stays flat from 10 to 1,000 sockets"));
        assert_eq!(
            shown,
            [
                (s("ms-a legacy 1000 / 10 sockets"), 20.0, grows, Some(true)),
                (s("ms-a modern 1000 / 10 sockets"), 0.55, None, None),
                (
                    s("ms-a modern 1000 / 100 sockets"),
                    1.1,
                    above_30,
                    Some(true)
                ),
                (s("ms-a ×10 modern / legacy"), 2.0, None, None),
                (s("ms-a ×100 modern / legacy"), 0.25, None, None),
                (s("ms-a ×1000 modern / legacy"), 0.055, None, None),
                (s("ms-b modern 1000 / 10 sockets"), 1.3, flat, Some(false)),
            ]
        );
    }

    #[test]
    fn the_section_shows_sockets_and_the_share_received() {
        let s = Settings::for_tests();
        let entries = measured(
            "ms-b",
            Flavor::Modern,
            Polls::Woken,
            [1000.0, 2000.0, 3000.0],
        );
        let refs: Vec<&Entry<MultisocketFigures>> = entries.iter().collect();
        let text = MultisocketFigures::section(&refs, &s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1],
            "Multi-socket: 5000 datagrams/s spread over every socket"
        );
        assert!(lines[2].starts_with("program  flavor  sockets  CPU/datagram µs"));
        let row: Vec<&str> = lines[6]
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        assert_eq!(
            row,
            [
                "ms-b",
                "modern",
                "1000",
                "3.00 (3.00–3.00)",
                "99%",
                "2.00 (2.00–2.00)"
            ]
        );
    }
}
