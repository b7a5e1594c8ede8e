//! The readiness measurements: what the `udp-waiters` and `coop-budget` programs of
//! every era print under a bounded load, for the book's figures. (The suite checks the
//! same patterns against thresholds; this records the figures themselves, so that the
//! book can show them and say which run they come from.)
//!
//! * `udp-waiters`: four idle tasks on one socket (`--tasks 4 --work-ms 0`);
//!   [`PROBES`] datagrams sent one at a time, and per task the `task #i woken` and
//!   `task #i recv` lines each one causes. Then a burst: four datagrams at once to
//!   four tasks that each work [`BURST_WORK`] on a datagram, and when each datagram
//!   was read — at once if an idle task is woken for it, one `--work-ms` after the
//!   other if it waits for the only task that is.
//! * `coop-budget`: each `--loop` (recv, ready, fixed), [`ROUNDS`] times: a flood of
//!   [`FLOOD_RATE`] datagrams/s for [`FLOOD_TIME`] (at most [`FLOOD_MAX`]), each costing
//!   the reader [`COST`] of CPU; the summary's worst ticker delay and most datagrams
//!   read in one poll, and from the lines the most datagrams read between two ticks.
//!
//! Release builds, loopback only, every load bounded in count and time; about a
//! minute in all. Saved to `target/study/readiness.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use harness::process::Line;
use harness::{build, Family, Profile, Program, Running};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};
use shared::cli::ReadLoop;
use shared::event::Event;

use crate::runinfo::RunInfo;

/// Tasks of `udp-waiters`.
pub const TASKS: usize = 4;
/// Datagrams sent one at a time to the idle tasks.
pub const PROBES: usize = 40;
/// What each datagram of the burst costs its task (`--work-ms`).
pub const BURST_WORK: Duration = Duration::from_millis(300);
/// tokio 1's cooperative budget per poll of a task (128 units), and the hand-made
/// budget of `legacy-coop-budget --loop fixed`, the same on purpose: a reader that
/// yields reads at most this many datagrams in one poll.
pub const BUDGET: u64 = 128;
/// Rounds of each `coop-budget` flood.
pub const ROUNDS: usize = 3;
/// The flood: as the suite's `flood-loop-*` checks send it (tests/src/checks/coop.rs).
pub const FLOOD_TIME: Duration = Duration::from_millis(1500);
pub const FLOOD_RATE: u64 = 20_000;
pub const FLOOD_MAX: u64 = 40_000;
const FLOOD_LEN: usize = 32;
const BURST_MAX: u64 = 400;
/// `--cost-us`: the reader's CPU per datagram, which makes it slower than the flood.
pub const COST: Duration = Duration::from_micros(250);
/// A program has finished with a datagram once it printed nothing for this long.
const QUIET: Duration = Duration::from_millis(50);
const START_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything measured, as saved to `target/study/readiness.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Readiness {
    pub run: RunInfo,
    pub method: Method,
    pub waiters: Vec<Waiters>,
    pub coop: Vec<Coop>,
}

/// The loads, as they were when the figures were taken.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Method {
    /// `udp-waiters`: tasks, datagrams sent one at a time, `--work-ms` of the burst.
    pub tasks: usize,
    pub probes: usize,
    pub burst_work_ms: u64,
    /// `coop-budget`: floods per loop, datagrams/s, flood length, most datagrams, and
    /// the reader's CPU per datagram (`--cost-us`).
    pub rounds: usize,
    pub flood_rate: u64,
    pub flood_ms: u64,
    pub flood_max: u64,
    pub cost_us: u64,
}

impl Method {
    pub fn now() -> Method {
        Method {
            tasks: TASKS,
            probes: PROBES,
            burst_work_ms: BURST_WORK.as_millis() as u64,
            rounds: ROUNDS,
            flood_rate: FLOOD_RATE,
            flood_ms: FLOOD_TIME.as_millis() as u64,
            flood_max: FLOOD_MAX,
            cost_us: COST.as_micros() as u64,
        }
    }

    /// The loads in a sentence, for captions.
    pub fn describe(&self) -> String {
        format!(
            "Release builds; udp-waiters: {} datagrams one at a time to {} idle tasks, then {} at \
             once to tasks that work {} ms on each; coop-budget: {} flood{} per loop of {} \
             datagrams/s for {} ms, each datagram costing the reader {} µs of CPU",
            self.probes,
            self.tasks,
            self.tasks,
            self.burst_work_ms,
            self.rounds,
            if self.rounds == 1 { "" } else { "s" },
            super::figures::short(self.flood_rate as f64),
            self.flood_ms,
            self.cost_us
        )
    }
}

/// One `udp-waiters` program in one flavor.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Waiters {
    pub program: String,
    pub flavor: String,
    /// Datagrams sent one at a time.
    pub probes: usize,
    /// Per task (in task order): its wake-ups and the datagrams it read, over the
    /// probes (start-up polls not counted).
    pub tasks: Vec<TaskCounts>,
    /// `--work-ms` of the burst.
    pub burst_work_ms: u64,
    /// The burst's datagrams in the order they were read: which task, and how long
    /// after the burst (ms); fewer than [`TASKS`] if some were never read.
    pub burst: Vec<BurstRead>,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct TaskCounts {
    pub woken: u64,
    pub recv: u64,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
pub struct BurstRead {
    pub task: usize,
    pub after_ms: f64,
}

impl Waiters {
    /// Wake-ups per datagram sent, summed over the tasks.
    pub fn woken_per_datagram(&self) -> f64 {
        self.tasks.iter().map(|t| t.woken).sum::<u64>() as f64 / self.probes.max(1) as f64
    }

    /// Tasks woken at least once by the probes.
    pub fn tasks_woken(&self) -> usize {
        self.tasks.iter().filter(|t| t.woken > 0).count()
    }

    /// The last datagram of the burst: how long after the burst it was read.
    pub fn burst_last_ms(&self) -> Option<f64> {
        self.burst.iter().map(|b| b.after_ms).reduce(f64::max)
    }
}

/// One `coop-budget` program in one flavor with one `--loop`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Coop {
    pub program: String,
    pub flavor: String,
    /// `recv`, `ready` or `fixed`.
    pub read_loop: String,
    pub rounds: Vec<CoopRound>,
}

/// One flood.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct CoopRound {
    /// Datagrams sent, and for how long (ms).
    pub sent: u64,
    pub flood_ms: f64,
    /// From the summary: datagrams read, polls of the reader, the most read in one
    /// poll, ticks, and the ticker's worst delay (µs).
    pub recv: u64,
    pub polls: u64,
    pub most_per_poll: u64,
    pub ticks: u64,
    pub worst_late_us: u64,
    /// From the lines: the most datagrams read between two ticks.
    pub most_between_ticks: u64,
}

impl Coop {
    /// Median, lowest and highest of a figure over the rounds.
    pub fn spread(&self, f: impl Fn(&CoopRound) -> f64) -> Option<(f64, f64, f64)> {
        let mut v: Vec<f64> = self.rounds.iter().map(f).collect();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some((median, v[0], v[n - 1]))
    }
}

/// Measures every `udp-waiters` and `coop-budget` program among `programs`; reports
/// progress on stderr.
pub fn measure(programs: &[Program]) -> Result<Readiness> {
    let chosen: Vec<&Program> = programs
        .iter()
        .filter(|p| matches!(p.family(), Ok(Family::UdpWaiters | Family::CoopBudget)))
        .collect();
    ensure!(
        !chosen.is_empty(),
        "the workspace has no udp-waiters or coop-budget program"
    );
    let packages: Vec<&str> = chosen.iter().map(|p| p.package.as_str()).collect();
    eprintln!("building {} (release)…", packages.join(", "));
    let built = build(&packages, Profile::Release)?;
    let mut waiters = Vec::new();
    let mut coop = Vec::new();
    for p in chosen {
        let exe = built.exe(&p.package)?;
        match p.family() {
            Ok(Family::UdpWaiters) => {
                eprintln!(
                    "readiness: {}: {PROBES} datagrams one at a time, then a burst…",
                    p.package
                );
                waiters.push(measure_waiters(p, exe).with_context(|| p.package.clone())?);
            }
            Ok(Family::CoopBudget) => {
                for read_loop in ReadLoop::ALL {
                    eprintln!(
                        "readiness: {} --loop {read_loop}: {ROUNDS} floods of {} ms…",
                        p.package,
                        FLOOD_TIME.as_millis()
                    );
                    let mut rounds = Vec::new();
                    for _ in 0..ROUNDS {
                        rounds.push(
                            flood_round(exe, read_loop)
                                .with_context(|| format!("{} --loop {read_loop}", p.package))?,
                        );
                    }
                    coop.push(Coop {
                        program: p.name.clone(),
                        flavor: p.flavor_label(),
                        read_loop: read_loop.to_string(),
                        rounds,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(Readiness {
        run: RunInfo::now(),
        method: Method::now(),
        waiters,
        coop,
    })
}

/// Reads lines until none has come for [`QUIET`].
fn settle(run: &mut Running) -> Result<()> {
    let limit = Instant::now() + START_TIMEOUT;
    while run.next_line(QUIET).is_ok() {
        ensure!(
            Instant::now() < limit,
            "still printing {START_TIMEOUT:?} later"
        );
    }
    Ok(())
}

fn receipts(lines: &[Line]) -> Vec<(usize, Instant)> {
    lines
        .iter()
        .filter_map(|l| match l.event() {
            Ok(Event::TaskRecv { task, .. }) => Some((task, l.at)),
            _ => None,
        })
        .collect()
}

/// Starts `udp-waiters` with [`TASKS`] tasks, each working `work` per datagram, and
/// waits until every task has been polled once.
fn start_waiters(exe: &Path, work: Duration) -> Result<(Running, SocketAddr)> {
    let tasks = TASKS.to_string();
    let work = work.as_millis().to_string();
    let (mut run, addrs) = Running::server(
        exe,
        &[
            "--bind",
            "127.0.0.1:0",
            "--tasks",
            &tasks,
            "--work-ms",
            &work,
        ],
        None,
        1,
    )?;
    run.wait_until(START_TIMEOUT, |lines| {
        lines
            .iter()
            .filter_map(|l| match l.event() {
                Ok(Event::TaskWoken { task }) => Some(task),
                _ => None,
            })
            .collect::<BTreeSet<_>>()
            .len()
            == TASKS
    })
    .with_context(|| format!("not every task was polled at start-up: {}", run.stderr()))?;
    settle(&mut run)?;
    Ok((run, addrs[0]))
}

fn stop(mut run: Running) -> Result<()> {
    run.signal(Signal::SIGTERM)?;
    let status = run.wait_exit(EXIT_TIMEOUT)?;
    if !status.success() {
        bail!(
            "exit status {status} after SIGTERM: {}",
            run.stderr().trim()
        );
    }
    Ok(())
}

fn measure_waiters(p: &Program, exe: &Path) -> Result<Waiters> {
    // Datagrams one at a time to idle tasks.
    let (mut run, server) = start_waiters(exe, Duration::ZERO)?;
    let first = run.seen.len();
    let sock = UdpSocket::bind("127.0.0.1:0").context("client bind")?;
    for i in 0..PROBES {
        sock.send_to(format!("probe {i}").as_bytes(), server)?;
        run.wait_until(START_TIMEOUT, |lines| receipts(&lines[first..]).len() > i)
            .with_context(|| format!("no `recv` line for datagram {i}"))?;
        settle(&mut run)?;
    }
    let mut per_task: BTreeMap<usize, TaskCounts> =
        (0..TASKS).map(|t| (t, TaskCounts::default())).collect();
    for line in &run.seen[first..] {
        match line.event()? {
            Event::TaskWoken { task } => per_task.entry(task).or_default().woken += 1,
            Event::TaskRecv { task, .. } => per_task.entry(task).or_default().recv += 1,
            _ => {}
        }
    }
    stop(run)?;

    // A burst to busy-when-reading tasks.
    let (mut run, server) = start_waiters(exe, BURST_WORK)?;
    let first = run.seen.len();
    let sent = Instant::now();
    for i in 0..TASKS {
        sock.send_to(format!("burst {i}").as_bytes(), server)?;
    }
    // Served one after the other, the last comes TASKS × work later: wait for that.
    let serial = BURST_WORK * TASKS as u32 + START_TIMEOUT;
    let _ = run.wait_until(serial, |lines| receipts(&lines[first..]).len() >= TASKS);
    let burst = receipts(&run.seen[first..])
        .into_iter()
        .map(|(task, at)| BurstRead {
            task,
            after_ms: at.saturating_duration_since(sent).as_secs_f64() * 1e3,
        })
        .collect();
    stop(run)?;
    Ok(Waiters {
        program: p.name.clone(),
        flavor: p.flavor_label(),
        probes: PROBES,
        tasks: per_task.into_values().collect(),
        burst_work_ms: BURST_WORK.as_millis() as u64,
        burst,
    })
}

fn ticks(lines: &[Line]) -> usize {
    lines
        .iter()
        .filter(|l| matches!(l.event(), Ok(Event::TickLate { .. })))
        .count()
}

/// Floods `server` at [`FLOOD_RATE`] in bursts that catch up with the clock; returns
/// the datagrams sent.
fn flood(server: SocketAddr) -> Result<u64> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(server)?;
    let payload = [0x42u8; FLOOD_LEN];
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < FLOOD_TIME && sent < FLOOD_MAX {
        let due = (start.elapsed().as_secs_f64() * FLOOD_RATE as f64) as u64;
        let burst = due.saturating_sub(sent).min(BURST_MAX);
        for _ in 0..burst {
            match sock.send(&payload) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    bail!("the server's port refused the flood: {e}")
                }
                // ENOBUFS and the like: the flood outran the kernel; it counts as sent.
                _ => sent += 1,
            }
        }
        thread::sleep(Duration::from_millis(1));
    }
    Ok(sent)
}

fn flood_round(exe: &Path, read_loop: ReadLoop) -> Result<CoopRound> {
    let cost = COST.as_micros().to_string();
    let (mut run, addrs) = Running::server(
        exe,
        &[
            "--bind",
            "127.0.0.1:0",
            "--loop",
            read_loop.as_str(),
            "--cost-us",
            &cost,
        ],
        None,
        1,
    )?;
    run.wait_until(START_TIMEOUT, |lines| ticks(lines) >= 2)
        .with_context(|| format!("no tick lines: {}", run.stderr()))?;
    let started = Instant::now();
    let sent = flood(addrs[0])?;
    let flood_ms = started.elapsed().as_secs_f64() * 1e3;
    let before = ticks(&run.seen);
    run.wait_until(START_TIMEOUT, |lines| ticks(lines) >= before + 2)
        .context("the ticker did not run again after the flood")?;
    run.signal(Signal::SIGTERM)?;
    let status = run.wait_exit(EXIT_TIMEOUT)?;
    ensure!(status.success(), "exit status {status}: {}", run.stderr());
    let events = run.events()?;
    let Some(Event::Summary(c)) = events.last() else {
        bail!("the last line is not a summary: {:?}", events.last());
    };
    let get = |k: &str| {
        c.get(k)
            .with_context(|| format!("summary without {k}: {c:?}"))
    };
    let (mut between, mut most_between) = (0, 0);
    for e in &events {
        match e {
            Event::ReadInPoll { datagrams } => {
                between += datagrams;
                most_between = most_between.max(between);
            }
            Event::TickLate { .. } => between = 0,
            _ => {}
        }
    }
    Ok(CoopRound {
        sent,
        flood_ms,
        recv: get("recv")?,
        polls: get("polls")?,
        most_per_poll: get("most_per_poll")?,
        ticks: get("ticks")?,
        worst_late_us: get("worst_late_us")?,
        most_between_ticks: most_between,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_of_the_runs() {
        let w = Waiters {
            program: "udp-waiters".into(),
            flavor: "legacy".into(),
            probes: 4,
            tasks: vec![
                TaskCounts { woken: 0, recv: 0 },
                TaskCounts { woken: 4, recv: 4 },
            ],
            burst_work_ms: 300,
            burst: vec![
                BurstRead {
                    task: 1,
                    after_ms: 1.0,
                },
                BurstRead {
                    task: 1,
                    after_ms: 301.0,
                },
            ],
        };
        assert_eq!(w.woken_per_datagram(), 1.0);
        assert_eq!(w.tasks_woken(), 1);
        assert_eq!(w.burst_last_ms(), Some(301.0));
        let c = Coop {
            program: "coop-budget".into(),
            flavor: "modern".into(),
            read_loop: "recv".into(),
            rounds: [30_000, 10_000, 20_000]
                .map(|w| CoopRound {
                    worst_late_us: w,
                    ..Default::default()
                })
                .to_vec(),
        };
        assert_eq!(
            c.spread(|r| r.worst_late_us as f64),
            Some((20_000.0, 10_000.0, 30_000.0))
        );
    }
}
