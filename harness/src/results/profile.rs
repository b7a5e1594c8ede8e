//! `cargo xtask bench --perf`'s results: where a UDP echo server's CPU goes. One
//! record per server and load (a program of one flavor, with ordinary or with
//! GSO-sending peers), kept in `profile.json`: per round, the server's CPU per echo
//! (its CPU clock) and perf's samples of it in buckets a reader knows
//! (`measure::perf::buckets` says which symbols go where).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::{bench, Kind, Stat};

/// Where a sample of the server fell: the kernel's parts, then user space's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Bucket {
    Syscall,
    UdpSend,
    UdpReceive,
    Copy,
    Machinery,
    Runtime,
    Program,
    Other,
}

impl Bucket {
    pub const ALL: [Bucket; 8] = [
        Bucket::Syscall,
        Bucket::UdpSend,
        Bucket::UdpReceive,
        Bucket::Copy,
        Bucket::Machinery,
        Bucket::Runtime,
        Bucket::Program,
        Bucket::Other,
    ];

    /// Its name in tables and figures.
    pub fn describe(self) -> &'static str {
        let names = [
            "syscall entry/exit",
            "UDP/IP send",
            "UDP/IP receive",
            "copy to/from user",
            "epoll/io_uring",
            "runtime",
            "own code",
            "other",
        ];
        names[self as usize]
    }
}

/// One server under one load, profiled round by round, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileEntry {
    pub program: String,
    pub flavor: String,
    /// The peers send 32-segment GSO batches (the bench's next-era bulk load);
    /// otherwise the bench's throughput load.
    pub gso_peers: bool,
    pub skipped: Option<String>,
    pub errors: Vec<String>,
    /// The bench's loads, as its records keep them, and perf's samples per second.
    pub settings: bench::Settings,
    pub frequency_hz: u32,
    pub rounds: Vec<Option<ProfileRound>>,
}

/// One profiled interval of the load.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProfileRound {
    pub echoes: u64,
    /// The server's CPU clock over the interval, per echo: what the buckets split.
    pub cpu_per_echo_ns: f64,
    /// perf's samples of the server, by bucket.
    pub samples: BTreeMap<Bucket, u64>,
    /// Samples of other processes on the server's CPU meanwhile (idle excluded).
    pub foreign_samples: u64,
}

impl Kind for ProfileEntry {
    const NAME: &'static str = "profile";
    fn key(&self) -> String {
        self.title()
    }
}

impl ProfileRound {
    /// CPU per echo in `bucket`: the CPU clock's figure times the bucket's share.
    pub fn ns(&self, bucket: Bucket) -> f64 {
        let total: u64 = self.samples.values().sum();
        let n = self.samples.get(&bucket).copied().unwrap_or(0);
        self.cpu_per_echo_ns * n as f64 / total.max(1) as f64
    }
}

impl ProfileEntry {
    /// `program` of `flavor` under `settings`' load (or GSO-sending peers), sampled
    /// `frequency_hz` times a second; not profiled yet, or not at all (`skipped`).
    pub fn new(
        (program, flavor): (&str, &str),
        gso_peers: bool,
        skipped: Option<String>,
        (settings, frequency_hz): (bench::Settings, u32),
    ) -> ProfileEntry {
        let (program, flavor, errors, rounds) = (program.into(), flavor.into(), vec![], vec![]);
        ProfileEntry {
            program,
            flavor,
            gso_peers,
            skipped,
            errors,
            settings,
            frequency_hz,
            rounds,
        }
    }

    /// `echo-batch next`, `echo-batch next, GSO peers`.
    pub fn title(&self) -> String {
        let gso = if self.gso_peers { ", GSO peers" } else { "" };
        format!("{} {}{gso}", self.program, self.flavor)
    }

    /// Records round `round`'s profile, or its error.
    pub fn record(&mut self, round: usize, r: Result<ProfileRound>) {
        if let Err(e) = &r {
            self.errors.push(format!("round {}: {e:#}", round + 1));
        }
        self.rounds.push(r.ok());
    }

    /// CPU per echo over the rounds, and its median split in [`Bucket::ALL`]'s
    /// order: each bucket's part is its median over the rounds, scaled so that the
    /// parts add up to the median.
    pub fn split(&self) -> Option<(Stat, Vec<f64>)> {
        let rounds: Vec<&ProfileRound> = self.rounds.iter().flatten().collect();
        let stat = |f: &dyn Fn(&ProfileRound) -> f64| {
            Stat::of(&rounds.iter().map(|r| f(r)).collect::<Vec<_>>())
        };
        let total = stat(&|r| r.cpu_per_echo_ns)?;
        let parts = Bucket::ALL.map(|b| stat(&|r| r.ns(b)).map_or(0.0, |s| s.median));
        let scale = total.median / parts.iter().sum::<f64>().max(f64::MIN_POSITIVE);
        Some((total, parts.iter().map(|p| p * scale).collect()))
    }
}

/// What `of` spends per echo beside `than`, in the buckets that differ most.
pub fn difference(of: &ProfileEntry, than: &ProfileEntry) -> Option<String> {
    let ((a, parts_a), (b, parts_b)) = (of.split()?, than.split()?);
    let mut by: Vec<(Bucket, f64)> = (Bucket::ALL.into_iter().zip(parts_a.iter().zip(parts_b)))
        .map(|(bucket, (x, y))| (bucket, x - y))
        .collect();
    by.sort_by(|x, y| y.1.abs().total_cmp(&x.1.abs()));
    let parts: Vec<String> = (by.iter().take(4))
        .map(|(bucket, d)| format!("{} {d:+.0} ns", bucket.describe()))
        .collect();
    let (ratio, first, second) = (a.median / b.median, of.title(), than.title());
    Some(format!(
        "{first}: {:.0} ns per echo, {ratio:.2}× {second}'s {:.0} ns; by bucket, {}.\n",
        a.median,
        b.median,
        parts.join(", ")
    ))
}

/// The profiles as a table: CPU per echo and each bucket's part of it, ns.
pub fn table(entries: &[ProfileEntry]) -> String {
    let mut header = vec!["server", "CPU/echo ns"];
    header.extend(Bucket::ALL.map(Bucket::describe));
    let row = |e: &ProfileEntry| {
        let mut row = vec![e.title()];
        match (e.split(), &e.skipped, e.errors.first()) {
            (Some((t, parts)), ..) => {
                row.push(format!("{:.0} ({:.0}–{:.0})", t.median, t.min, t.max));
                row.extend(parts.iter().map(|ns| format!("{ns:.0}")));
            }
            (None, Some(why), _) => row.push(format!("skipped: {why}")),
            (None, None, e) => row.push(format!("error: {}", e.map_or("", |e| e))),
        }
        row
    };
    crate::table(&header, entries.iter().map(row).collect())
}
