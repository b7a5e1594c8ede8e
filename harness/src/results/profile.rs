//! `cargo xtask bench --perf`'s results: where a UDP echo server's CPU goes. One
//! record per server and load ([`Load`]), kept in `profile.json`: per round, the
//! server's CPU per echo (its CPU clock) and perf's samples of it in buckets a reader knows
//! (`measure::perf::buckets` says which symbols go where).

use std::collections::BTreeMap;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::bench::{self, Ratio, Target};
use super::{Kind, Stat};

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

/// The load a server is profiled under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Load {
    /// The bench's throughput load.
    Throughput,
    /// Peers that send 32-segment GSO batches (the bench's next-era bulk load).
    GsoPeers,
    /// [`DEEP`] datagrams in flight on one client socket: the depth sweep's load
    /// where echo-uring's target is set.
    Deep,
}

/// The datagrams in flight of [`Load::Deep`].
pub const DEEP: usize = 64;

/// One server under one load, profiled round by round, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProfileEntry {
    pub program: String,
    pub flavor: String,
    pub load: Load,
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
    /// 2: the load a record is profiled under is a [`Load`], no longer `gso_peers`.
    const VERSION: u32 = 2;
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
    /// `program` of `flavor` under `load` (as `settings` has it), sampled
    /// `frequency_hz` times a second; not profiled yet, or not at all (`skipped`).
    pub fn new(
        (program, flavor): (&str, &str),
        load: Load,
        skipped: Option<String>,
        (settings, frequency_hz): (bench::Settings, u32),
    ) -> ProfileEntry {
        let (program, flavor, errors, rounds) = (program.into(), flavor.into(), vec![], vec![]);
        ProfileEntry {
            program,
            flavor,
            load,
            skipped,
            errors,
            settings,
            frequency_hz,
            rounds,
        }
    }

    /// `echo-batch next`, `echo-batch next, GSO peers`, `echo-uring next, 64 on 1 socket`.
    pub fn title(&self) -> String {
        let load = match self.load {
            Load::Throughput => String::new(),
            Load::GsoPeers => ", GSO peers".into(),
            Load::Deep => format!(", {DEEP} on 1 socket"),
        };
        format!("{} {}{load}", self.program, self.flavor)
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

/// `of`'s CPU per echo ÷ what `target` allows it, round by round (both profiled in
/// the same rounds): `to`'s CPU per echo with each bucket scaled by `allowed` (1:
/// all of it; 0.2: 80 % of it is to go). Where the median misses, the bucket that
/// holds `of` back: where it spends most beyond what is allowed, in the median.
pub fn held_to(
    subject: String,
    (of, to): (&ProfileEntry, &ProfileEntry),
    allowed: fn(Bucket) -> f64,
    target: Target,
) -> Ratio {
    let pairs: Vec<(&ProfileRound, &ProfileRound)> = (of.rounds.iter().zip(&to.rounds))
        .filter_map(|(a, b)| Some((a.as_ref()?, b.as_ref()?)))
        .collect();
    let allows = |r: &ProfileRound, k: Bucket| r.ns(k) * allowed(k);
    let all = |r: &ProfileRound| Bucket::ALL.iter().map(|&k| allows(r, k)).sum::<f64>();
    let rounds = pairs.iter().map(|(a, b)| a.cpu_per_echo_ns / all(b));
    let (figure, of, to) = ("cpu_per_echo_ns".into(), of.title(), Some(to.title()));
    let (rounds, target, held_back_by) = (rounds.collect(), Some(target), None);
    let mut ratio = Ratio {
        subject,
        figure,
        of,
        to,
        rounds,
        target,
        held_back_by,
    };
    if ratio.met() == Some(false) {
        let beyond = |k: Bucket| {
            let v: Vec<f64> = pairs.iter().map(|(a, b)| a.ns(k) - allows(b, k)).collect();
            (k, Stat::of(&v).map_or(0.0, |s| s.median))
        };
        let worst = Bucket::ALL.map(beyond).into_iter();
        let worst = worst.max_by(|x, y| x.1.total_cmp(&y.1));
        ratio.held_back_by = worst.map(|(k, ns)| format!("{} {ns:+.0} ns per echo", k.describe()));
    }
    ratio
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
