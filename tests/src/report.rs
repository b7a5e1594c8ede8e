//! The matrix of the suite: every row (program × flavor, `harness::results`' typed
//! rows), counted, rendered as a table for people or as one JSON object for scripts,
//! and kept in `target/results/conformance.json` for the book.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Result;
use harness::flavor::label_rank;
use harness::results::conformance::{Row, Status};
use harness::results::{File, Run};
use serde::Serialize;

/// The whole matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub results: Vec<Row>,
    pub passed: usize,
    pub failed: usize,
    pub expected_failures: usize,
    pub skipped: usize,
}

impl Report {
    pub fn new(mut results: Vec<Row>) -> Report {
        // A program's rows in the order of its ladder: legacy, the bridge steps,
        // modern, next.
        results.sort_by(|a, b| {
            (&a.program, label_rank(&a.flavor)).cmp(&(&b.program, label_rank(&b.flavor)))
        });
        let count = |f: fn(Status) -> bool| results.iter().filter(|r| f(r.status)).count();
        Report {
            passed: count(|s| s == Status::Pass),
            failed: count(Status::is_unexpected),
            expected_failures: count(|s| s == Status::Xfail),
            skipped: count(|s| s == Status::Skip),
            results,
        }
    }

    /// Merges the rows into the results in `dir` (`target/results/` by default), as
    /// made by this process, which started `took` ago with the load `load` (1-minute
    /// load average at its start and end), under the command that ran it.
    pub fn save(
        &self,
        dir: &Path,
        took: Duration,
        load: [f64; 2],
        command: String,
    ) -> Result<PathBuf> {
        let run = Run {
            command,
            ..Run::now("dev", took, vec![load])
        };
        File::merge_into(dir, &run, self.results.clone())
    }

    /// Whether the run had no unexpected result.
    pub fn ok(&self) -> bool {
        self.failed == 0
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// The matrix for people: one line per row, the checks that did not pass under
    /// it (skipped ones by name, with the reason), and the closing count line.
    pub fn to_table(&self) -> String {
        self.table(false)
    }

    /// The matrix with every check of every row, passed ones too, and its detail.
    pub fn to_table_verbose(&self) -> String {
        self.table(true)
    }

    fn table(&self, verbose: bool) -> String {
        let mut rows = Vec::new();
        for row in &self.results {
            let passed = row.checks.iter().filter(|c| c.status == Status::Pass);
            let mut summary = format!("{}/{} passed", passed.count(), row.checks.len());
            let notes: Vec<String> = [Status::Fail, Status::Xpass, Status::Xfail, Status::Skip]
                .into_iter()
                .filter_map(|s| {
                    let n = row.checks.iter().filter(|c| c.status == s).count();
                    (n > 0).then(|| format!("{n} {}", s.as_str()))
                })
                .collect();
            if !notes.is_empty() {
                summary = format!("{summary} ({})", notes.join(", "));
            }
            let head = [&row.program, &row.flavor, row.status.as_str()];
            rows.push(
                head.into_iter()
                    .map(String::from)
                    .chain([summary])
                    .collect(),
            );
            let shown = row
                .checks
                .iter()
                .filter(|c| verbose || c.status != Status::Pass);
            for c in shown {
                let detail = format!("{}: {}", c.name, c.detail);
                rows.push(vec![
                    String::new(),
                    String::new(),
                    c.status.as_str().into(),
                    detail,
                ]);
            }
        }
        let mut out = harness::table(&["program", "flavor", "status", "checks"], rows);
        if self.expected_failures > 0 {
            out += &format!(
                "expected failures (documented, not counted as passed or failed): {}\n",
                self.expected_failures
            );
        }
        let skipped = match self.skipped {
            0 => String::new(),
            n => format!(", {n} skipped"),
        };
        out + &format!("{} passed, {} failed{skipped}\n", self.passed, self.failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use harness::results::conformance::CheckResult;

    fn check(status: Status) -> CheckResult {
        CheckResult {
            name: "c".into(),
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn counts_and_closing_line() {
        use Status::*;
        let rows = vec![
            Row::new("a", "legacy", vec![check(Pass)]),
            Row::new("a", "modern", vec![check(Skip)]),
            Row::new("b", "legacy", vec![check(Xfail)]),
            Row::new("b", "modern", vec![check(Xpass)]),
        ];
        let r = Report::new(rows);
        assert_eq!(
            (r.passed, r.failed, r.expected_failures, r.skipped),
            (1, 1, 1, 1)
        );
        assert!(!r.ok());
        assert!(r.to_table().ends_with("1 passed, 1 failed, 1 skipped\n"));
        let named = |table: &str, status: &str| {
            table.lines().any(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.first() == Some(&status) && cells.get(1) == Some(&"c:")
            })
        };
        assert!(named(&r.to_table(), "skip"), "a skipped check is named");
        assert!(!named(&r.to_table(), "pass"));
        assert!(
            named(&r.to_table_verbose(), "pass"),
            "-v names passed checks"
        );
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["results"][3]["status"], "xpass");
        assert_eq!(json["expected_failures"], 1);
    }
}
