//! A row whose need is not met (see `harness::needs`) is reported as skipped, every
//! check of it, with the reason.

use crate::check::Check;
use harness::results::conformance::{CheckResult, Status};

/// Every check of a row that cannot run, as skipped with the reason.
pub fn skipped(checks: &[Check], why: &str) -> Vec<CheckResult> {
    checks
        .iter()
        .map(|c| CheckResult {
            name: c.name.to_string(),
            status: Status::Skip,
            detail: format!("skipped: {why}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks;
    use harness::needs::unmet;
    use harness::results::conformance::Row;
    use harness::Family;
    use harness::Need;

    fn refused(_: Need) -> Result<(), String> {
        Err("io_uring is disabled here (sysctl kernel.io_uring_disabled = 2)".into())
    }

    #[test]
    fn a_refused_need_skips_every_check_with_the_reason() {
        let why = unmet(&[Need::IoUring], refused).expect("refused");
        assert!(
            why.starts_with("needs io-uring: io_uring is disabled"),
            "{why}"
        );
        let all = checks::for_family(Family::UdpEcho);
        let results = skipped(&all, &why);
        assert_eq!(results.len(), all.len());
        assert!(results.iter().all(|r| r.status == Status::Skip));
        assert!(results
            .iter()
            .all(|r| r.detail.contains("kernel.io_uring_disabled")));
        let row = Row::new("echo-uring", "next", results);
        assert_eq!(row.status, Status::Skip, "skipped, never passed");
    }
}
