//! The suite tested against servers that are wrong on purpose (binaries of this
//! package under `src/bin/`). A check that cannot fail proves nothing: each self-test
//! passes only if the suite's check *fails* the broken server, for the right reason.
//! They run with the whole matrix, as rows of their own.

use std::path::Path;

use harness::{Catalogue, Declared, Family, Flavor, Program};

use crate::check::{self, Check, Ctx, Outcome, Skipped};
use crate::checks::udp_echo;
use harness::results::conformance::{CheckResult, Row, Status};

/// The package whose binaries are the broken servers.
pub const PACKAGE: &str = "conformance";

/// (fixture binary, check of the suite it must fail, text the failure must contain).
const CASES: &[(&str, &str, &str)] = &[(
    "flipflop-echo",
    "reads-while-writes-pending",
    "queue never filled",
)];

fn find(checks: &'static [Check], name: &str) -> Option<&'static Check> {
    checks.iter().find(|c| c.name == name)
}

/// Runs every case; `exe(name)` gives the built fixture binary.
pub fn rows(catalogue: &Catalogue, exe: &dyn Fn(&str) -> Option<std::path::PathBuf>) -> Vec<Row> {
    CASES
        .iter()
        .map(|(fixture, check_name, reason)| {
            let program = Program {
                name: fixture.to_string(),
                flavor: Flavor::Legacy,
                step: None,
                package: PACKAGE.to_string(),
                dir: Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf(),
                family: Ok(Family::UdpEcho),
                declared: Declared::default(),
            };
            let outcome: Outcome = (|| {
                let exe =
                    exe(fixture).ok_or_else(|| anyhow::anyhow!("fixture {fixture} not built"))?;
                let check = find(udp_echo::CHECKS, check_name)
                    .ok_or_else(|| anyhow::anyhow!("no check named {check_name}"))?;
                let ctx = Ctx::new(&program, &exe, catalogue);
                let result = check::run(check, &ctx);
                match result.status {
                    Status::Skip => Err(Skipped(result.detail).into()),
                    Status::Fail if result.detail.contains(reason) => {
                        Ok(format!("the suite fails it, as it must: {}", result.detail))
                    }
                    Status::Fail => anyhow::bail!(
                        "failed for another reason than {reason:?}: {}",
                        result.detail
                    ),
                    s => anyhow::bail!(
                        "the suite let a broken server through ({}): {}",
                        s.as_str(),
                        result.detail
                    ),
                }
            })();
            let (status, detail) = match outcome {
                Ok(d) => (Status::Pass, d),
                Err(e) if e.downcast_ref::<Skipped>().is_some() => (Status::Skip, e.to_string()),
                Err(e) => (Status::Fail, format!("{e:#}")),
            };
            Row::new(
                &format!("suite-catches-{fixture}"),
                "self",
                vec![CheckResult {
                    name: format!("{check_name} fails it"),
                    status,
                    detail,
                }],
            )
        })
        .collect()
}
