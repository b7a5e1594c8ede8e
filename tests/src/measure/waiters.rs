//! `udp-waiters`: several tasks receiving on one UDP socket, each printing `task #i
//! woken` per poll and `task #i recv …` per datagram it reads. Who is woken is
//! measured with datagrams sent one at a time to idle tasks ([`probes`]); what it
//! costs, with a burst to tasks that each work a while on a datagram ([`burst`]).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use harness::process::{Line, Running};
use harness::results::bench::{BurstRead, TaskCounts, WaitersFigures};
use shared::event::Event;

/// The loads of one measurement.
#[derive(Debug, Clone, Copy)]
pub struct Load {
    pub tasks: usize,
    /// Datagrams sent one at a time.
    pub probes: usize,
    /// What each datagram of the burst costs its task (`--work-ms`).
    pub work: Duration,
}

const START_TIMEOUT: Duration = Duration::from_secs(5);
/// The lines of one datagram come from one turn of the event loop, microseconds
/// apart; this is the margin for a loaded machine.
const QUIET: Duration = Duration::from_millis(50);
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// Both measurements, as one round of the bench.
pub fn round(exe: &Path, load: &Load) -> Result<WaitersFigures> {
    let tasks = probes(exe, load.tasks, load.probes)?;
    let burst = burst(exe, load.tasks, load.work)?;
    Ok(WaitersFigures {
        probes: load.probes,
        tasks,
        burst_work_ms: load.work.as_millis() as u64,
        burst,
    })
}

/// Starts the program with `tasks` tasks, each working `work` per datagram, and
/// waits until every task has been polled once and the program is quiet.
pub fn start(exe: &Path, tasks: usize, work: Duration) -> Result<(Running, SocketAddr)> {
    let (n, work) = (tasks.to_string(), work.as_millis().to_string());
    let args = ["--bind", "127.0.0.1:0", "--tasks", &n, "--work-ms", &work];
    let (mut run, addrs) = Running::server(exe, &args, None, 1)?;
    run.wait_until(START_TIMEOUT, |lines| woken_tasks(lines).len() == tasks)
        .with_context(|| format!("not every task was polled at start-up: {}", run.stderr()))?;
    run.settle(QUIET, START_TIMEOUT)?;
    Ok((run, addrs[0]))
}

fn woken_tasks(lines: &[Line]) -> BTreeSet<usize> {
    let woken = lines.iter().filter_map(|l| match l.event() {
        Ok(Event::TaskWoken { task }) => Some(task),
        _ => None,
    });
    woken.collect()
}

/// The `task #i recv` lines among `lines`: (task, when the line was read).
pub fn receipts(lines: &[Line]) -> Vec<(usize, Instant)> {
    let recv = lines.iter().filter_map(|l| match l.event() {
        Ok(Event::TaskRecv { task, .. }) => Some((task, l.at)),
        _ => None,
    });
    recv.collect()
}

/// Sends `n` datagrams one at a time to `tasks` idle tasks; per task (in task order),
/// the wake-ups and the datagrams read after start-up. Any other line is an error.
pub fn probes(exe: &Path, tasks: usize, n: usize) -> Result<Vec<TaskCounts>> {
    let (mut run, server) = start(exe, tasks, Duration::ZERO)?;
    let first = run.seen.len();
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    for i in 0..n {
        sock.send_to(format!("probe {i}").as_bytes(), server)?;
        run.wait_until(START_TIMEOUT, |lines| receipts(&lines[first..]).len() > i)
            .with_context(|| format!("no `recv` line for datagram {i}"))?;
        run.settle(QUIET, START_TIMEOUT)?;
    }
    let mut per_task: BTreeMap<usize, TaskCounts> =
        (0..tasks).map(|t| (t, TaskCounts::default())).collect();
    for line in &run.seen[first..] {
        match line.event()? {
            Event::TaskWoken { task } => per_task.entry(task).or_default().woken += 1,
            Event::TaskRecv { task, .. } => per_task.entry(task).or_default().recv += 1,
            other => bail!("unexpected line `{other}`"),
        }
    }
    ensure!(
        per_task.len() == tasks,
        "lines name tasks {:?}, expected #0 to #{}",
        per_task.keys().collect::<Vec<_>>(),
        tasks - 1
    );
    run.terminate(EXIT_TIMEOUT)?;
    Ok(per_task.into_values().collect())
}

/// Sends `tasks` datagrams at once to `tasks` idle tasks, each kept busy `work` by a
/// datagram; the datagrams in the order they were read (which task, how long after
/// the burst), waiting until all are read or long enough for one task to have served
/// them all one after another.
pub fn burst(exe: &Path, tasks: usize, work: Duration) -> Result<Vec<BurstRead>> {
    let (mut run, server) = start(exe, tasks, work)?;
    let first = run.seen.len();
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    let sent = Instant::now();
    for i in 0..tasks {
        sock.send_to(format!("burst {i}").as_bytes(), server)?;
    }
    let serial = work * tasks as u32 + START_TIMEOUT;
    // Fewer than all read in that time is a finding, not an error: it is returned.
    let _ = run.wait_until(serial, |lines| receipts(&lines[first..]).len() >= tasks);
    let reads = receipts(&run.seen[first..])
        .into_iter()
        .map(|(task, at)| BurstRead {
            task,
            after_ms: at.saturating_duration_since(sent).as_secs_f64() * 1e3,
        });
    let reads = reads.collect();
    run.terminate(serial)?;
    Ok(reads)
}
