//! Where a saved result came from: the command, when it ran, and on what machine —
//! what a reader needs to judge a figure made from it. `trace` and the study's poll
//! sweep write it into their JSON; `bench` writes the same machine fields.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// The machine, as far as the figures depend on it (the fields `bench.json` has).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    #[serde(default)]
    pub cores: usize,
    #[serde(default)]
    pub cpu_model: Option<String>,
    #[serde(default)]
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
            parts.push(format!(
                "{} core{}",
                self.cores,
                if self.cores == 1 { "" } else { "s" }
            ));
        }
        if let Some(m) = &self.cpu_model {
            parts.push(m.split_whitespace().collect::<Vec<_>>().join(" "));
        }
        if !self.kernel.is_empty() {
            parts.push(format!("Linux {}", self.kernel));
        }
        if parts.is_empty() {
            "machine not recorded".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One run of a measuring command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// As typed: `cargo xtask trace echo-tokio`.
    pub command: String,
    /// Seconds since the Unix epoch when the run ended.
    pub unix_time: u64,
    pub machine: Machine,
}

impl RunInfo {
    /// This run of this process, now.
    pub fn now() -> RunInfo {
        RunInfo {
            command: command_line(),
            unix_time: unix_now(),
            machine: Machine::here(),
        }
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

/// `2025-11-30 14:05 UTC`. (A date in UTC is all the study prints, so it is worked out
/// here — Howard Hinnant's days-to-civil — rather than with a calendar crate.)
pub fn utc(unix: u64) -> String {
    let days = (unix / 86_400) as i64;
    let secs = unix % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        secs / 3600,
        secs % 3600 / 60
    )
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
    fn machine_in_words() {
        let m = Machine {
            cores: 2,
            cpu_model: Some("AMD  EPYC 7B13".into()),
            kernel: "6.1.0".into(),
        };
        assert_eq!(m.describe(), "2 cores, AMD EPYC 7B13, Linux 6.1.0");
        assert_eq!(Machine::default().describe(), "machine not recorded");
    }
}
