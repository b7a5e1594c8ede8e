//! The poll sweep: how many per-socket futures one datagram makes a multi-socket
//! program poll, at many socket counts — enough of them, on both sides of 30, to show
//! where futures 0.3's `join_all` switches to `FuturesOrdered`. (The suite checks the
//! pattern at 10, 30, 31 and 40 sockets; this draws the whole curve.)
//!
//! Each program is started with `--sockets N`; after start-up (every future polled
//! once) datagrams are sent one at a time to different sockets, and the `poll future
//! #i` lines that each one causes are counted, until the program has printed nothing
//! for a short while. Release builds, loopback only, bounded in count and time.

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use harness::{build, Family, Profile, Program, Running};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use shared::event::Event;

use crate::runinfo::RunInfo;

/// Socket counts measured: every count up to 8, then steps of 4, and every count
/// around the threshold of 30.
pub const COUNTS: &[usize] = &[
    1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 27, 28, 29, 30, 31, 32, 33, 36, 40, 48, 56, 64,
];
/// Datagrams per socket count.
pub const PROBES: usize = 3;
/// A program has finished with a datagram once it has printed nothing for this long
/// (its lines for one datagram come from one poll of one task, microseconds apart).
const QUIET: Duration = Duration::from_millis(60);
const STEP_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// The sweep of every multi-socket program, as saved to `target/study/polls.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sweep {
    pub run: RunInfo,
    pub probes: usize,
    pub series: Vec<Series>,
}

/// One program in one flavor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Series {
    pub program: String,
    /// `legacy`, `modern`, `bridge-1`, …
    pub flavor: String,
    /// The composition it declares (`every`, `every-up-to-30`, `woken`).
    pub declared: String,
    pub points: Vec<Point>,
}

/// Polls counted for each datagram sent at one socket count.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Point {
    pub sockets: usize,
    pub polls: Vec<usize>,
}

impl Point {
    /// The middle of the counts (they agree but for a coalesced wake-up).
    pub fn median(&self) -> f64 {
        let mut v = self.polls.clone();
        v.sort_unstable();
        match v.len() {
            0 => f64::NAN,
            n if n % 2 == 1 => v[n / 2] as f64,
            n => (v[n / 2 - 1] + v[n / 2]) as f64 / 2.0,
        }
    }
}

/// The declared composition in the words of `Cargo.toml`.
pub fn declared(p: &Program) -> String {
    match p.polls() {
        Ok(harness::Polls::Every) => "every".into(),
        Ok(harness::Polls::EveryUpTo30) => "every-up-to-30".into(),
        Ok(harness::Polls::Woken) => "woken".into(),
        Err(_) => "not declared".into(),
    }
}

/// Measures every multi-socket program among `programs`; reports progress on stderr.
pub fn measure(programs: &[Program]) -> Result<Sweep> {
    let chosen: Vec<&Program> = programs
        .iter()
        .filter(|p| matches!(p.family(), Ok(Family::Multisocket)))
        .collect();
    ensure!(
        !chosen.is_empty(),
        "the workspace has no multi-socket program"
    );
    let packages: Vec<&str> = chosen.iter().map(|p| p.package.as_str()).collect();
    eprintln!("building {} (release)…", packages.join(", "));
    let built = build(&packages, Profile::Release)?;
    let mut series = Vec::new();
    for p in chosen {
        let exe = built.exe(&p.package)?;
        eprintln!(
            "poll sweep: {} at {} socket counts…",
            p.package,
            COUNTS.len()
        );
        let mut points = Vec::new();
        for &n in COUNTS {
            let polls =
                at_count(exe, n).with_context(|| format!("{} with {n} sockets", p.package))?;
            points.push(Point { sockets: n, polls });
        }
        series.push(Series {
            program: p.name.clone(),
            flavor: p.flavor_label(),
            declared: declared(p),
            points,
        });
    }
    Ok(Sweep {
        run: RunInfo::now(),
        probes: PROBES,
        series,
    })
}

/// Reads lines until none has come for [`QUIET`].
fn settle(run: &mut Running) -> Result<()> {
    let limit = Instant::now() + STEP_TIMEOUT;
    while run.next_line(QUIET).is_ok() {
        ensure!(
            Instant::now() < limit,
            "still printing {STEP_TIMEOUT:?} later"
        );
    }
    Ok(())
}

/// The `poll future` lines caused by each of [`PROBES`] datagrams at `n` sockets.
fn at_count(exe: &std::path::Path, n: usize) -> Result<Vec<usize>> {
    let count = n.to_string();
    let (mut run, addrs) = Running::server(
        exe,
        &["--bind", "127.0.0.1:0", "--sockets", &count],
        None,
        n,
    )?;
    run.wait_until(STEP_TIMEOUT, |lines| {
        let seen: BTreeSet<usize> = lines
            .iter()
            .filter_map(|l| match l.event() {
                Ok(Event::PollFuture { index }) => Some(index),
                _ => None,
            })
            .collect();
        seen.len() == n
    })
    .context("not every future was polled once at start-up")?;
    settle(&mut run)?;
    let sock = UdpSocket::bind("127.0.0.1:0").context("client bind")?;
    let targets = [n - 1, 0, n / 2];
    let mut out = Vec::new();
    for &target in targets.iter().take(PROBES) {
        let at: SocketAddr = addrs[target];
        let from = run.seen.len();
        sock.send_to(b"sweep", at)?;
        run.wait_until(STEP_TIMEOUT, |lines| {
            lines[from.min(lines.len())..]
                .iter()
                .any(|l| matches!(l.event(), Ok(Event::Recv { at: Some(a), .. }) if a == at))
        })
        .with_context(|| format!("no `recv … at {at}` line"))?;
        settle(&mut run)?;
        let polls = run.seen[from..]
            .iter()
            .filter(|l| matches!(l.event(), Ok(Event::PollFuture { .. })))
            .count();
        out.push(polls);
    }
    run.signal(Signal::SIGTERM)?;
    let status = run.wait_exit(EXIT_TIMEOUT)?;
    if !status.success() {
        bail!(
            "exit status {status} after SIGTERM: {}",
            run.stderr().trim()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_straddle_the_threshold() {
        assert!(COUNTS.windows(2).all(|w| w[0] < w[1]));
        for n in [1, 10, 30, 31, 40, 64] {
            assert!(
                COUNTS.iter().any(|c| c.abs_diff(n) <= 2),
                "{n} or a neighbour is measured"
            );
        }
        assert!(COUNTS.contains(&30) && COUNTS.contains(&31));
        let p = Point {
            sockets: 4,
            polls: vec![4, 1, 4],
        };
        assert_eq!(p.median(), 4.0);
    }
}
