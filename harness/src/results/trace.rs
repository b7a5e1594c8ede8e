//! `cargo xtask trace`'s results: the system calls of one side of a program under
//! strace, per unit of work and over the whole run.

use serde::{Deserialize, Serialize};

use super::Kind;
use crate::strace::Tally;

/// One traced side of a program.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceSide {
    /// The program whose trace this side belongs to (`echo-uring`).
    pub program: String,
    /// The side: `legacy`, `bridge-1`, `modern`, `next`.
    pub flavor: String,
    /// The program traced, when it is not `program`: the readiness sibling a next
    /// program is traced beside (`echo-epoll-edge`).
    pub traced: Option<String>,
    /// The unit of work, singular (`echoed datagram`).
    pub unit: String,
    /// The workload in words.
    pub workload: String,
    /// Units of work done (echoes received back, polls, queries, …).
    pub units: u64,
    /// Seconds the workload took under strace.
    pub seconds: f64,
    /// Calls made while the workload ran.
    pub calls: Tally,
    /// Calls of the whole run, start-up and shut-down included.
    pub whole_run: Tally,
    /// Where the raw strace output was kept, relative to the workspace root.
    pub raw: String,
    /// Server CPU time per unit, in nanoseconds, from a run of the same workload
    /// without strace (the echo and ident families).
    pub cpu_ns_per_unit: Option<f64>,
}

impl Kind for TraceSide {
    const NAME: &'static str = "trace";
    fn key(&self) -> String {
        format!("{} {}", self.program, self.flavor)
    }
}

impl TraceSide {
    /// Calls of `row` per unit of work.
    pub fn per_unit(&self, row: &str) -> f64 {
        self.calls.get(row) as f64 / self.units.max(1) as f64
    }

    /// Every call per unit of work.
    pub fn total_per_unit(&self) -> f64 {
        self.calls.total as f64 / self.units.max(1) as f64
    }
}
