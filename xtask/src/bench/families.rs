//! The one module that knows every family: the entries a program of each family gets,
//! how a round of each is run, and each family's tables and ratios, in the order of
//! the families. The families' modules know only the generic machinery (`entry`,
//! `ratio`, `cells`) and the instrument; nothing generic knows them.

use anyhow::Result;
use harness::results::bench::{
    CoopFigures, FamilyFigures, IdentFigures, MultisocketFigures, PollsFigures, Ratio, Rounds,
    TcpEchoFigures, UdpEchoFigures, WaitersFigures,
};
use harness::{Family, Program};

use super::entry::Job;
use super::settings::{Settings, SIZES};
use super::{coop, ident, multisocket, polls, tcp_echo, udp_echo, waiters};
use harness::measure::affinity::Placement;

/// The entries of one program: its family's (one per socket count and a poll sweep
/// for a multi-socket program, one per `--loop` for coop-budget), each also in every
/// configuration the program declares (`bench-variants`); or why there is nothing to
/// measure.
pub fn jobs_of(program: &Program, family: Family) -> Result<Vec<Job>, String> {
    let one = |rounds| vec![Job::of(program, None, rounds)];
    let jobs = match family {
        Family::UdpEcho => one(Rounds::UdpEcho(Vec::new())),
        Family::Multisocket => {
            let sized = SIZES.map(|n| Job::of(program, Some(n), Rounds::Multisocket(Vec::new())));
            let sweep = Job::of(program, None, Rounds::Polls(Vec::new()));
            sized.into_iter().chain([sweep]).collect()
        }
        Family::TcpEcho => one(Rounds::TcpEcho(Vec::new())),
        Family::Ident => one(Rounds::Ident(Vec::new())),
        Family::UdpWaiters => one(Rounds::Waiters(Vec::new())),
        Family::CoopBudget => (coop::variants())
            .map(|v| Job::of(program, None, Rounds::Coop(Vec::new())).with_variant(&v))
            .collect(),
        Family::FutureNotify | Family::MioEmpty | Family::MioMixed | Family::MioPipe => {
            return Err("demonstrates one mechanism: nothing to measure under load".into())
        }
    };
    let declared = &program.declared.bench_variants;
    let variants = jobs.iter().filter(|j| j.variant().is_none());
    let variants = variants.flat_map(|j| declared.iter().map(|v| j.clone().with_variant(v)));
    let variants: Vec<Job> = variants.collect();
    Ok(jobs.into_iter().chain(variants).collect())
}

/// Round `round` (from 0) of `job`: its figures, or its error, recorded.
pub fn run_round(job: &mut Job, s: &Settings, on: &Placement, round: usize) -> Result<()> {
    match job.entry.rounds {
        Rounds::UdpEcho(_) => job.record(round, udp_echo::run(job, s, on, round)),
        Rounds::Multisocket(_) => job.record(round, multisocket::run(job, s, on)),
        Rounds::Polls(_) => job.record(round, polls::run(job, s, on)),
        Rounds::TcpEcho(_) => job.record(round, tcp_echo::run(job, s, on)),
        Rounds::Ident(_) => job.record(round, ident::run(job, s, on)),
        Rounds::Waiters(_) => job.record(round, waiters::run(job, s, on)),
        Rounds::Coop(_) => job.record(round, coop::run(job, on)),
        Rounds::Unmeasured => Ok(()),
    }
}

/// The measured entries of family `F`, in order.
fn of<F: FamilyFigures>(jobs: &[Job]) -> Vec<&Job> {
    let measured = jobs.iter().filter(|j| j.entry.skipped.is_none());
    measured
        .filter(|j| j.entry.rounds_of::<F>().is_some())
        .collect()
}

/// Every family's tables, in the order of the families (empty for a family not
/// measured).
pub fn sections(jobs: &[Job], s: &Settings) -> String {
    let section = |jobs: Vec<&Job>, show: &dyn Fn(&[&Job]) -> String| match jobs.is_empty() {
        true => String::new(),
        false => show(&jobs),
    };
    [
        section(of::<UdpEchoFigures>(jobs), &|j| udp_echo::section(j, s)),
        section(of::<MultisocketFigures>(jobs), &|j| {
            multisocket::section(j, s)
        }),
        section(of::<PollsFigures>(jobs), &|j| polls::section(j, s)),
        section(of::<TcpEchoFigures>(jobs), &|j| tcp_echo::section(j, s)),
        section(of::<IdentFigures>(jobs), &|j| ident::section(j, s)),
        section(of::<WaitersFigures>(jobs), &|j| waiters::section(j, s)),
        section(of::<CoopFigures>(jobs), &coop::section),
    ]
    .concat()
}

/// Every ratio and target, family by family.
pub fn ratios(jobs: &[Job]) -> Vec<Ratio> {
    let mut out = udp_echo::ratios(&of::<UdpEchoFigures>(jobs));
    out.extend(multisocket::ratios(&of::<MultisocketFigures>(jobs)));
    out.extend(tcp_echo::ratios(&of::<TcpEchoFigures>(jobs)));
    out.extend(ident::ratios(&of::<IdentFigures>(jobs)));
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_program_gets_its_family_s_entries_and_its_declared_variants() {
        let catalogue = harness::Catalogue::of_declarations(&[
            (
                "modern-id",
                json!({ "family": "ident", "bench-variants": [["--lookup", "proc"]] }),
            ),
            (
                "modern-ms",
                json!({ "family": "multisocket", "polls": "woken" }),
            ),
            ("legacy-cb", json!({ "family": "coop-budget" })),
            ("legacy-fn", json!({ "family": "future-notify" })),
        ]);
        let titles = |package: &str| {
            let p = catalogue
                .programs()
                .iter()
                .find(|p| p.package == package)
                .unwrap();
            jobs_of(p, p.family().unwrap()).map(|j| j.iter().map(Job::title).collect::<Vec<_>>())
        };
        assert_eq!(
            titles("modern-id").unwrap(),
            ["id modern", "id modern --lookup proc"]
        );
        let ms = [
            "ms modern ×10",
            "ms modern ×100",
            "ms modern ×1000",
            "ms modern",
        ];
        assert_eq!(titles("modern-ms").unwrap(), ms);
        let cb = ["recv", "ready", "fixed"].map(|l| format!("cb legacy --loop {l}"));
        assert_eq!(titles("legacy-cb").unwrap(), cb);
        assert!(titles("legacy-fn")
            .unwrap_err()
            .contains("nothing to measure"));
    }
}
