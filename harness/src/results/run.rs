//! Where a record came from: the command, when it ran, on what machine, how loaded
//! the machine was — what a reader needs to judge a figure made from it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The machine, as far as the figures depend on it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu_model: Option<String>,
    pub kernel: String,
}

impl Machine {
    /// This machine.
    pub fn here() -> Machine {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_default();
        Machine {
            cores: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model: read("/proc/cpuinfo")
                .lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string()),
            kernel: read("/proc/sys/kernel/osrelease").trim().to_string(),
        }
    }

    /// `2 cores, AMD EPYC 7B13, Linux 6.1.0`
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if self.cores > 0 {
            let s = if self.cores == 1 { "" } else { "s" };
            parts.push(format!("{} core{s}", self.cores));
        }
        if let Some(m) = &self.cpu_model {
            parts.push(m.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        if !self.kernel.is_empty() {
            parts.push(format!("Linux {}", self.kernel));
        }
        match parts.is_empty() {
            true => "machine not recorded".into(),
            false => parts.join(", "),
        }
    }
}

/// One run of a measuring command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    /// As typed: `cargo xtask trace echo-tokio`.
    pub command: String,
    /// Seconds since the Unix epoch when the run ended.
    pub unix_time: u64,
    pub machine: Machine,
    /// The cargo profile the programs were built with (`release`, `dev`).
    pub profile: String,
    /// How long the run took, in seconds.
    pub took_s: f64,
    /// The 1-minute load average at the start and end of the run and, for a run in
    /// rounds, of each round: a busy machine and a slower program look alike in a
    /// single figure, not beside the load.
    pub load: Vec<[f64; 2]>,
}

impl Run {
    /// This run of this process, ending now, started `took` ago, its load at each
    /// round (`load`, start and end each).
    pub fn now(profile: &str, took: Duration, load: Vec<[f64; 2]>) -> Run {
        Run {
            command: command_line(),
            unix_time: unix_now(),
            machine: Machine::here(),
            profile: profile.to_string(),
            took_s: took.as_secs_f64(),
            load,
        }
    }

    /// `2025-11-30 14:05 UTC (3 hours ago)`.
    pub fn when(&self, now: u64) -> String {
        format!("{} ({})", utc(self.unix_time), age(self.unix_time, now))
    }

    /// The highest 1-minute load average seen over the run, if recorded.
    pub fn peak_load(&self) -> Option<f64> {
        let all = self.load.iter().flat_map(|l| l.iter().copied());
        all.reduce(f64::max)
    }

    /// Whether the machine was busier than one runnable task per core at some point
    /// of the run: its figures are then to be read with care.
    pub fn was_busy(&self) -> bool {
        let cores = self.machine.cores.max(1) as f64;
        self.peak_load().is_some_and(|l| l > cores)
    }
}

/// The command as typed (`cargo xtask …`).
pub fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The 1-minute load average (`/proc/loadavg`), 0 where it cannot be read.
pub fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let first = text.split_whitespace().next();
    first.and_then(|v| v.parse().ok()).unwrap_or(0.0)
}

/// `2025-11-30 14:05 UTC`.
pub fn utc(unix: u64) -> String {
    let t = UNIX_EPOCH + Duration::from_secs(unix);
    // `2025-11-30T14:05:00Z`
    let iso = humantime::format_rfc3339_seconds(t).to_string();
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

/// `3 hours ago`, `2 days ago`, `just now`.
pub fn age(unix: u64, now: u64) -> String {
    let s = now.saturating_sub(unix);
    let (n, unit) = match s {
        0..=59 => return "just now".into(),
        60..=3_599 => (s / 60, "minute"),
        3_600..=86_399 => (s / 3_600, "hour"),
        _ => (s / 86_400, "day"),
    };
    format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ages() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_764_511_500), "2025-11-30 14:05 UTC");
        assert_eq!(age(100, 130), "just now");
        assert_eq!(age(0, 7_200), "2 hours ago");
        assert_eq!(age(0, 60), "1 minute ago");
        assert_eq!(age(0, 3 * 86_400 + 5), "3 days ago");
    }

    #[test]
    fn machine_and_load_in_words() {
        let m = Machine {
            cores: 2,
            cpu_model: Some("AMD  EPYC 7B13".into()),
            kernel: "6.1.0".into(),
        };
        assert_eq!(m.describe(), "2 cores, AMD EPYC 7B13, Linux 6.1.0");
        assert_eq!(Machine::default().describe(), "machine not recorded");
        let mut run = Run::now("release", Duration::ZERO, vec![[0.5, 1.5], [1.0, 2.5]]);
        run.machine = m;
        assert_eq!(run.peak_load(), Some(2.5));
        assert!(run.was_busy(), "2.5 runnable on 2 cores");
        run.load = vec![[0.2, 1.9]];
        assert!(!run.was_busy());
        assert!(load_average() >= 0.0);
    }
}
