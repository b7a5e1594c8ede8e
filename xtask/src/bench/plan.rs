//! What a run measures, in the order of a round: the programs asked for (every one
//! when none is named) in the flavors asked for, what they are read against, the
//! baselines and the reference; what is not measured, with the reason; and the build.

use anyhow::Result;
use harness::results::bench::Rounds;
use harness::{Catalogue, Family, Flavor, Profile, Program};

use super::entry::{story_order, Job, REFERENCE};
use super::udp_echo;
use crate::args::{self, FlavorArg};
use harness::measure::server::{find_oidentd, OIDENTD};

/// How a program becomes entries: its family's loads (`families::jobs_of` for the
/// bench; the soak has its own), or why it has none.
pub type JobsOf = fn(&Program, Family) -> Result<Vec<Job>, String>;

/// The entries of the programs asked for (every one when none is named) in the
/// flavors asked for and of what they are read against, in the order of the story:
/// measured ones, and those not measured with the reason.
pub fn plan(
    catalogue: &Catalogue,
    requested: &[String],
    flavor: Option<FlavorArg>,
    jobs_of: JobsOf,
) -> Result<Vec<Job>> {
    let flavors = args::flavors(flavor);
    let programs = catalogue.select(requested, None)?;
    let chosen: Vec<&Program> = programs
        .iter()
        .filter(|p| flavors.contains(&p.flavor))
        .collect();
    let against = read_against(&chosen, catalogue.programs());
    let mut jobs = Vec::new();
    for program in chosen.iter().chain(&against).copied() {
        // A program that does not say what it is cannot be measured: name it and stop.
        let family = program.family()?;
        // A pitfall (a ladder's step done in the wrong order) fails on purpose, some
        // of them at the SIGTERM that ends every round: measured only when named, as
        // `trace` traces them. A program that needs what this machine lacks (io_uring,
        // say) is not run at all.
        let pitfall = (program.declared.pitfall_of.as_ref()).filter(|_| requested.is_empty());
        let pitfall = pitfall.map(|of| {
            format!("a pitfall of {of}'s ladder, wrong on purpose: measured only when named")
        });
        let unmet = harness::needs::unmet(&program.declared.needs, harness::needs::machine);
        let why = pitfall.or(unmet);
        match jobs_of(program, family) {
            Ok(more) => jobs.extend(more.into_iter().map(|j| match &why {
                Some(why) => j.skipped(why.clone()),
                None => j,
            })),
            Err(why) => jobs.push(Job::of(program, None, Rounds::Unmeasured).skipped(why)),
        }
    }
    story_order(&mut jobs);
    Ok(jobs)
}

/// The baselines that run with the UDP echo programs, in the same rounds, and oidentd,
/// where installed, the ident servers' reference.
pub fn references(catalogue: &Catalogue, jobs: &mut Vec<Job>) {
    let measured = |rounds: fn(&Rounds) -> bool| {
        jobs.iter()
            .any(|j| j.entry.skipped.is_none() && rounds(&j.entry.rounds))
    };
    let (udp, ident) = (
        measured(|r| matches!(r, Rounds::UdpEcho(_))),
        measured(|r| matches!(r, Rounds::Ident(_))),
    );
    if udp {
        udp_echo::baselines(catalogue, jobs);
    }
    if ident {
        let mut job = Job::new(OIDENTD, REFERENCE, None, Rounds::Ident(Vec::new()));
        jobs.push(match find_oidentd() {
            Ok(exe) => {
                job.subject.exe = exe;
                job
            }
            Err(why) => job.skipped(why),
        });
    }
}

/// What the chosen programs are read against, where it is not chosen itself (`--flavor
/// bridge`, `--flavor next`): the legacy and modern ends of a bridge step's ladder, and
/// the modern side of a next program's declared readiness sibling.
fn read_against<'a>(chosen: &[&Program], all: &'a [Program]) -> Vec<&'a Program> {
    let wanted = |p: &Program| {
        chosen.iter().any(|c| match c.flavor {
            Flavor::Bridge => {
                c.name == p.name && matches!(p.flavor, Flavor::Legacy | Flavor::Modern)
            }
            Flavor::Next => {
                c.declared.sibling.as_deref() == Some(&p.name) && p.flavor == Flavor::Modern
            }
            Flavor::Legacy | Flavor::Modern => false,
        })
    };
    let not_chosen = |p: &&Program| !chosen.iter().any(|c| c.package == p.package);
    all.iter()
        .filter(|p| wanted(p))
        .filter(not_chosen)
        .collect()
}

/// Builds the packages of the entries to measure and gives each its binary; an entry
/// whose package does not build is not measured, with the reason. Returns whether any
/// build failed.
pub fn build(jobs: &mut [Job], profile: Profile) -> Result<bool> {
    let built_here = |j: &&mut Job| j.entry.skipped.is_none() && j.flavor() != REFERENCE;
    let mut packages: Vec<String> = jobs
        .iter_mut()
        .filter(built_here)
        .map(|j| j.subject.package.clone())
        .collect();
    packages.sort();
    packages.dedup();
    eprintln!(
        "bench: building {} packages (profile {profile})",
        packages.len()
    );
    let built = harness::build(
        &packages.iter().map(String::as_str).collect::<Vec<_>>(),
        profile,
    )?;
    for job in jobs.iter_mut().filter(built_here) {
        let subject = &mut job.subject;
        let why = match (
            built.failed.get(&subject.package),
            built.exes.get(&subject.binary),
        ) {
            (Some(why), _) => format!("does not build: {why}"),
            (None, Some(exe)) => {
                subject.exe = exe.clone();
                continue;
            }
            (None, None) => "no binary after the build".into(),
        };
        job.entry.skipped = Some(why);
    }
    Ok(!built.failed.is_empty())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_step_brings_its_ladder_s_ends_and_a_next_program_its_sibling() {
        let udp = json!({ "family": "udp-echo" });
        let catalogue = Catalogue::of_declarations(&[
            ("legacy-x", udp.clone()),
            ("modern-x", udp.clone()),
            ("legacy-z", udp),
            (
                "bridge-x-step1",
                json!({ "family": "udp-echo", "program": "x", "step": 1 }),
            ),
            ("next-y", json!({ "family": "udp-echo", "sibling": "x" })),
        ]);
        let all = catalogue.programs();
        let by = |package: &str| all.iter().find(|p| p.package == package).unwrap();
        let names = |chosen: &[&Program]| -> Vec<String> {
            read_against(chosen, all)
                .iter()
                .map(|p| p.package.clone())
                .collect()
        };
        assert_eq!(names(&[by("bridge-x-step1")]), ["legacy-x", "modern-x"]);
        assert_eq!(names(&[by("next-y")]), ["modern-x"]);
        // What is chosen already is not brought twice; legacy and modern bring nothing.
        assert_eq!(names(&[by("bridge-x-step1"), by("modern-x")]), ["legacy-x"]);
        assert!(names(&[by("legacy-z")]).is_empty());
        // The baselines come first, then each program's flavors in story order.
        let mut jobs = plan(
            &catalogue,
            &["x".into()],
            None,
            crate::bench::families::jobs_of,
        )
        .unwrap();
        references(&catalogue, &mut jobs);
        let titles: Vec<String> = jobs.iter().map(Job::title).collect();
        let want = [
            "baseline-blocking baseline",
            "echo-epoll-edge modern",
            "x legacy",
            "x bridge-1",
            "x modern",
        ];
        assert_eq!(titles, want);
        assert!(jobs[1]
            .entry
            .skipped
            .as_ref()
            .unwrap()
            .contains("not in the workspace"));
    }
}
