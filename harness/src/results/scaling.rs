//! `cargo xtask bench --scaling`'s results, kept in `scaling.json`: one record per echo
//! server that runs across cores and thread count, with its figures round by round.

use serde::{Deserialize, Serialize};

use super::{Kind, Stat};

/// A server (a program of one flavor) run with `--threads N`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingEntry {
    /// `echo-tokio`, and `legacy`, `modern` or `next`.
    pub program: String,
    pub flavor: String,
    pub echo: Echo,
    pub threads: usize,
    /// The load generator ran on the server's CPUs: none was left for it.
    pub client_shares: bool,
    pub errors: Vec<String>,
    pub settings: ScalingSettings,
    /// `None` where that round failed.
    pub rounds: Vec<Option<ScalingFigures>>,
}

impl Kind for ScalingEntry {
    const NAME: &'static str = "scaling";
    fn key(&self) -> String {
        format!("{} {} ×{}", self.program, self.flavor, self.threads)
    }
}

impl ScalingEntry {
    /// One figure over the rounds that have it.
    pub fn stat(&self, figure: impl Fn(&ScalingFigures) -> f64) -> Option<Stat> {
        Stat::of(&self.rounds.iter().flatten().map(figure).collect::<Vec<_>>())
    }
}

/// The family of an entry's loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Echo {
    Udp,
    Tcp,
}

impl Echo {
    /// `UDP echo`, the unit of its rate, and what its CPU is counted per.
    pub fn words(self) -> [&'static str; 3] {
        match self {
            Echo::Udp => ["UDP echo", "echoes/s", "echo"],
            Echo::Tcp => ["TCP echo", "MB/s", "MB"],
        }
    }
}

/// The loads, the same for every entry: `clients` UDP sockets, each with `window`
/// datagrams of `payload` bytes in flight, or TCP connections writing `chunk` bytes at
/// a time; paced, `paced_per_s` datagrams or `payload`-byte messages a second in all.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingSettings {
    pub warmup_s: f64,
    pub measure_s: f64,
    pub clients: usize,
    pub window: usize,
    pub payload: usize,
    pub chunk: usize,
    pub paced_per_s: u64,
}

impl ScalingSettings {
    /// The loads, in words.
    pub fn describe(&self) -> String {
        let (kib, paced) = (self.chunk / 1024, self.paced_per_s);
        format!(
            "closed loop: {} clients, each UDP socket with {} datagrams of {} bytes in flight, \
             each TCP connection writing {kib} KiB at a time; paced: {paced} datagrams or \
             {}-byte messages a second in all",
            self.clients, self.window, self.payload, self.payload
        )
    }
}

/// What one round measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScalingFigures {
    /// Closed loop: echoes (UDP) or MB (TCP) a second, the server's CPU per echo or
    /// per MB (µs).
    pub rate: f64,
    pub cpu_per_unit_us: f64,
    /// Echoes (UDP) or bytes (TCP) of each client, and Jain's index over them.
    pub per_client: Vec<u64>,
    pub jain: f64,
    /// Paced: the round trip's p50 and p99 (µs).
    pub p50_us: f64,
    pub p99_us: f64,
}

/// A table per family of `entries`: its title, header and rows, each figure shown by
/// `show` (its median and spread).
pub fn tables(entries: &[ScalingEntry], show: &dyn Fn(Stat) -> String) -> Vec<Table> {
    let figures = |f: &ScalingFigures| [f.rate, f.cpu_per_unit_us, f.jain, f.p50_us, f.p99_us];
    let table = |echo: Echo| {
        let [title, rate, per] = echo.words();
        let header = format!(
            "program | flavor | threads | {rate} | CPU µs per {per} | Jain | p50 µs | p99 µs"
        );
        let row = |e: &ScalingEntry| -> Vec<String> {
            let shared = if e.client_shares { " (shared)" } else { "" };
            let cell = |i: usize| e.stat(|f| figures(f)[i]).map_or("—".into(), show);
            let mut row = vec![
                e.program.clone(),
                e.flavor.clone(),
                format!("{}{shared}", e.threads),
            ];
            row.extend((0..5).map(cell));
            row
        };
        let rows: Vec<_> = entries.iter().filter(|e| e.echo == echo).map(row).collect();
        (title.to_string(), header, rows)
    };
    let tables = [Echo::Udp, Echo::Tcp].map(table);
    tables.into_iter().filter(|t| !t.2.is_empty()).collect()
}

/// A table's title, its header (`a | b | c`) and its rows.
pub type Table = (String, String, Vec<Vec<String>>);

/// The lines of a figure of `entries`: a program of one flavor each, in flavor order,
/// with `figure`'s median and spread at each thread count.
pub fn curves<'a>(
    entries: &[&'a ScalingEntry],
    figure: fn(&ScalingFigures) -> f64,
) -> Vec<Curve<'a>> {
    let mut out: Vec<Curve> = Vec::new();
    for e in entries {
        let point = e.stat(figure).map(|s| (e.threads, s));
        let of = |c: &&mut Curve| c.0 == e.flavor && c.1 == e.program;
        match out.iter_mut().find(of) {
            Some(curve) => curve.2.extend(point),
            None => out.push((&e.flavor, &e.program, point.into_iter().collect())),
        }
    }
    out.sort_by_key(|c| crate::flavor::label_rank(c.0));
    out
}

/// A flavor, a program, and a figure at each thread count.
pub type Curve<'a> = (&'a str, &'a str, Vec<(usize, Stat)>);
