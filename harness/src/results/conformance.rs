//! The conformance suite's results: one row per program and flavor, its checks and
//! their outcomes.

use serde::{Deserialize, Serialize};

use super::Kind;

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub status: Status,
    /// What the check observed (its figures), or why it failed or was skipped.
    pub detail: String,
}

/// One program in one flavor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub program: String,
    /// `legacy`, `bridge-2`, `modern`, `next`.
    pub flavor: String,
    pub status: Status,
    pub checks: Vec<CheckResult>,
    /// Wall-clock seconds the row took (its checks run one after another).
    pub seconds: f64,
}

impl Kind for Row {
    const NAME: &'static str = "conformance";
    fn key(&self) -> String {
        format!("{} {}", self.program, self.flavor)
    }
}

impl Row {
    pub fn new(program: &str, flavor: &str, checks: Vec<CheckResult>) -> Row {
        Row {
            program: program.to_string(),
            flavor: flavor.to_string(),
            status: row_status(&checks),
            checks,
            seconds: 0.0,
        }
    }

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

    /// The check of that name, if the row ran it.
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|c| c.name == name)
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
        assert_eq!(Row::new("p", "bridge-2", vec![]).key(), "p bridge-2");
    }
}
