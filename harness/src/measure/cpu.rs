//! What a server process costs: its CPU time (user + system, every thread, including
//! threads that have exited, and the children it has reaped: a server that forks per
//! connection, such as oidentd, spends its time in them) and its peak resident set.
//!
//! The CPU figure comes from the process CPU clock (`clock_getcpuclockid` on the
//! server's pid, nanoseconds: the scheduler's own account, the same sum that
//! `/proc/PID/stat` reports as `utime + stime` rounded to clock ticks). The tick
//! counts from `/proc/PID/stat` are read beside it as a cross-check and for the
//! user/system split.

use std::fs;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::time::ClockId;
use nix::unistd::Pid;

/// One reading of a process's CPU account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cpu {
    /// User + system time of the whole process, from its CPU clock.
    pub total: Duration,
    /// `utime` and `stime` from `/proc/PID/stat`, in clock ticks.
    pub utime_ticks: u64,
    pub stime_ticks: u64,
    /// User + system time of the children it has waited for (`cutime + cstime`), in
    /// clock ticks: zero for every program of the workspace.
    pub children_ticks: u64,
}

impl Cpu {
    /// Reads the CPU account of `pid` now.
    pub fn read(pid: Pid) -> Result<Cpu> {
        let clock = ClockId::pid_cpu_clock_id(pid).context("clock_getcpuclockid")?;
        let now = clock
            .now()
            .context("clock_gettime on the process CPU clock")?;
        let total = Duration::from(now);
        let [utime_ticks, stime_ticks, cutime, cstime] = stat_times(pid)?;
        Ok(Cpu {
            total,
            utime_ticks,
            stime_ticks,
            children_ticks: cutime + cstime,
        })
    }

    /// CPU time spent between `earlier` and `self`, by the process and by the children
    /// it reaped meanwhile.
    pub fn since(&self, earlier: &Cpu) -> Duration {
        let children = self.children_ticks.saturating_sub(earlier.children_ticks);
        self.total.saturating_sub(earlier.total) + ticks(children)
    }
}

/// A count of clock ticks (`sysconf(_SC_CLK_TCK)`, 100 on Linux) as a duration.
fn ticks(n: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let hz = if hz > 0 { hz as u64 } else { 100 };
    Duration::from_nanos(n.saturating_mul(1_000_000_000 / hz))
}

/// `utime`, `stime`, `cutime` and `cstime` (fields 14 to 17) of `/proc/PID/stat`. The
/// command name (field 2) is in parentheses and may hold spaces, so fields are counted
/// after the last `)`.
fn stat_times(pid: Pid) -> Result<[u64; 4]> {
    let path = format!("/proc/{pid}/stat");
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .context("malformed /proc/PID/stat")?;
    // `after` starts at field 3 (state): utime is field 14, i.e. index 11 here.
    let fields: Vec<&str> = after.split_whitespace().collect();
    let field = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("malformed /proc/PID/stat field {}", i + 3))
    };
    Ok([field(11)?, field(12)?, field(13)?, field(14)?])
}

/// CPU time per unit of work, in nanoseconds.
pub fn ns_per(cpu: Duration, count: u64) -> f64 {
    cpu.as_nanos() as f64 / count.max(1) as f64
}

/// Units of work per second.
pub fn per_second(count: u64, interval: Duration) -> f64 {
    count as f64 / interval.as_secs_f64().max(1e-9)
}

/// Peak resident set size (`VmHWM` of `/proc/PID/status`), in KiB.
pub fn peak_rss_kib(pid: Pid) -> Result<u64> {
    status_kib(pid, "VmHWM:")
}

/// Resident set size now (`VmRSS`), in KiB.
pub fn rss_kib(pid: Pid) -> Result<u64> {
    status_kib(pid, "VmRSS:")
}

fn status_kib(pid: Pid, field: &str) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let value = text.lines().find_map(|l| l.strip_prefix(field));
    let kib = value.and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok());
    kib.with_context(|| format!("no {field} in {path}"))
}

/// Whether every thread of `pid` sleeps now (state `S` in `/proc/PID/task/*/stat`):
/// it waits for something. A thread that waits for a CPU on a busy machine is `R`,
/// and its CPU clock stands as still as an idle one's.
pub fn asleep(pid: Pid) -> Result<bool> {
    let dir = format!("/proc/{pid}/task");
    for task in fs::read_dir(&dir).with_context(|| format!("cannot list {dir}"))? {
        // A thread may end between the listing and the read.
        let Ok(stat) = fs::read_to_string(task?.path().join("stat")) else {
            continue;
        };
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().next());
        if state != Some("S") {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Waits until `pid` has been idle for `quiet` — asleep ([`asleep`]) and using less
/// than 1 % of one core each time it is looked at — at most `limit`; returns the
/// reading at that point and whether it really went idle. Used where the server sends
/// no reply that would say it is done (multisocket programs): a server starved of its
/// CPU is not done, and stopping it then loses what it has not read yet.
pub fn wait_idle(pid: Pid, quiet: Duration, limit: Duration) -> Result<(Cpu, bool)> {
    let start = std::time::Instant::now();
    let step = Duration::from_millis(10);
    let mut last = Cpu::read(pid)?;
    let mut calm_since = std::time::Instant::now();
    loop {
        std::thread::sleep(step);
        let now = Cpu::read(pid)?;
        if now.since(&last) > step / 100 || !asleep(pid)? {
            calm_since = std::time::Instant::now();
        }
        last = now;
        if calm_since.elapsed() >= quiet {
            return Ok((last, true));
        }
        if start.elapsed() >= limit {
            return Ok((last, false));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_process_that_waits_is_asleep_and_one_that_runs_is_not() {
        // This thread is running while it looks: never asleep.
        assert!(!asleep(Pid::this()).unwrap());
        let mut child = std::process::Command::new("sleep")
            .arg("10")
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32);
        let slept = (0..500).any(|_| {
            std::thread::sleep(Duration::from_millis(10));
            asleep(pid).unwrap()
        });
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(slept, "`sleep 10` never seen asleep");
    }

    #[test]
    fn reads_our_own_account() {
        let me = Pid::this();
        let a = Cpu::read(me).unwrap();
        // Burn a little CPU so that the clock must move.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = Cpu::read(me).unwrap();
        assert!(b.since(&a) > Duration::ZERO);
        // The high-water mark, read after, is at least what was resident before.
        let rss = rss_kib(me).unwrap();
        assert!(rss > 0 && peak_rss_kib(me).unwrap() >= rss);
    }
}
