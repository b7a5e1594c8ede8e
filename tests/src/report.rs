//! Results of the suite: per check, per row (program × flavor), and the whole matrix,
//! rendered as a table for people or as one JSON object for scripts.

use serde::Serialize;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Behaved as required.
    Pass,
    /// Did not, and no documented difference says it may not.
    Fail,
    /// Failed as documented (an expected failure).
    Xfail,
    /// Passed a check documented to fail: an unexpected result.
    Xpass,
    /// Could not run here (never counted as passed).
    Skip,
}

impl Status {
    /// Whether this outcome makes the run fail.
    pub fn is_unexpected(self) -> bool {
        matches!(self, Status::Fail | Status::Xpass)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Xfail => "xfail",
            Status::Xpass => "xpass",
            Status::Skip => "skip",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub name: String,
    pub status: Status,
    pub detail: String,
}

/// One program in one flavor.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub program: String,
    pub flavor: String,
    pub status: Status,
    pub checks: Vec<CheckResult>,
    /// Wall-clock seconds the row took (its checks run one after another).
    pub seconds: f64,
}

impl Row {
    /// The line progress output shows when a row is done.
    pub fn progress(&self) -> String {
        format!(
            "  done: {} {} ({}) in {:.1} s",
            self.program,
            self.flavor,
            self.status.as_str(),
            self.seconds
        )
    }

    pub fn new(program: &str, flavor: &str, checks: Vec<CheckResult>) -> Row {
        Row {
            program: program.to_string(),
            flavor: flavor.to_string(),
            status: row_status(&checks),
            checks,
            seconds: 0.0,
        }
    }
}

/// A row fails on any unexpected check; otherwise it is skipped if a check could not
/// run, an expected failure if one failed as documented, and a pass only if every
/// check passed.
fn row_status(checks: &[CheckResult]) -> Status {
    let any = |s: Status| checks.iter().any(|c| c.status == s);
    if checks.is_empty() || any(Status::Fail) {
        Status::Fail
    } else if any(Status::Xpass) {
        Status::Xpass
    } else if any(Status::Skip) {
        Status::Skip
    } else if any(Status::Xfail) {
        Status::Xfail
    } else {
        Status::Pass
    }
}

/// The whole matrix.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub results: Vec<Row>,
    pub passed: usize,
    pub failed: usize,
    pub expected_failures: usize,
    pub skipped: usize,
}

/// Where a flavor label stands on a ladder (`legacy`, `bridge-2`, `modern`, `next`),
/// then by name for any other label.
fn ladder_rank(flavor: &str) -> (u32, &str) {
    let rank = match flavor {
        "legacy" => 0,
        "modern" => 1_000,
        "next" => 2_000,
        other => other
            .strip_prefix("bridge-")
            .and_then(|n| n.parse::<u32>().ok())
            .unwrap_or(3_000),
    };
    (rank, flavor)
}

impl Report {
    pub fn new(mut results: Vec<Row>) -> Report {
        // A program's rows in the order of its ladder: legacy, the bridge steps,
        // modern, next.
        results.sort_by(|a, b| {
            (&a.program, ladder_rank(&a.flavor)).cmp(&(&b.program, ladder_rank(&b.flavor)))
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
        let mut out = String::new();
        let width = self
            .results
            .iter()
            .map(|r| r.program.len())
            .max()
            .unwrap_or(7)
            .max(7);
        // `bridge-1` is wider than `legacy`: the column is as wide as its widest label.
        let fw = self
            .results
            .iter()
            .map(|r| r.flavor.len())
            .max()
            .unwrap_or(6)
            .max(6);
        out.push_str(&format!(
            "{:<width$}  {:<fw$}  {:<6} checks\n",
            "program", "flavor", "status"
        ));
        for row in &self.results {
            let passed = row
                .checks
                .iter()
                .filter(|c| c.status == Status::Pass)
                .count();
            let mut notes: Vec<String> = Vec::new();
            for s in [Status::Fail, Status::Xpass, Status::Xfail, Status::Skip] {
                let n = row.checks.iter().filter(|c| c.status == s).count();
                if n > 0 {
                    notes.push(format!("{n} {}", s.as_str()));
                }
            }
            let notes = if notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", notes.join(", "))
            };
            out.push_str(&format!(
                "{:<width$}  {:<fw$}  {:<6} {passed}/{} passed{notes}\n",
                row.program,
                row.flavor,
                row.status.as_str(),
                row.checks.len()
            ));
            for c in row
                .checks
                .iter()
                .filter(|c| verbose || c.status != Status::Pass)
            {
                out.push_str(&format!(
                    "    {} {}: {}\n",
                    c.status.as_str(),
                    c.name,
                    c.detail
                ));
            }
        }
        if self.expected_failures > 0 {
            out.push_str(&format!(
                "expected failures (documented, not counted as passed or failed): {}\n",
                self.expected_failures
            ));
        }
        let skipped = if self.skipped > 0 {
            format!(", {} skipped", self.skipped)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "{} passed, {} failed{skipped}\n",
            self.passed, self.failed
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(status: Status) -> CheckResult {
        CheckResult {
            name: "c".into(),
            status,
            detail: String::new(),
        }
    }

    #[test]
    fn row_status_prefers_the_worst_news() {
        use Status::*;
        let row =
            |s: &[Status]| Row::new("p", "legacy", s.iter().map(|s| check(*s)).collect()).status;
        assert_eq!(row(&[Pass, Pass]), Pass);
        assert_eq!(row(&[Pass, Xfail]), Xfail);
        assert_eq!(row(&[Pass, Skip, Xfail]), Skip);
        assert_eq!(row(&[Pass, Xpass, Skip]), Xpass);
        assert_eq!(row(&[Xpass, Fail]), Fail);
        assert_eq!(row(&[]), Fail, "a row without checks proves nothing");
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
        assert!(
            r.to_table().contains("    skip c: "),
            "a skipped check is named"
        );
        assert!(!r.to_table().contains("    pass c: "));
        assert!(
            r.to_table_verbose().contains("    pass c: "),
            "-v names passed checks"
        );
        let json: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(json["results"][3]["status"], "xpass");
        assert_eq!(json["expected_failures"], 1);
    }
}
