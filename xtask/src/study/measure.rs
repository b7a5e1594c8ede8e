//! What the book lacks, and measuring it before the book is made: the conformance
//! rows, the traces and the bench entries that are not in the results yet, each
//! measured by the command that measures it (`cargo xtask conformance`, `trace`,
//! `bench`), which merges what it measures into the results. What this machine cannot
//! measure (strace missing, io_uring refused) is said, with the reason, and left out;
//! a pitfall (a ladder's step done in the wrong order) is never traced or benched by
//! default, since it fails on purpose.

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use harness::needs::{machine, unmet};
use harness::results::bench::BenchRecord;
use harness::{Catalogue, Family, Program};

use super::results::Results;
use harness::pairs::Pair;

/// One command to run, and why.
pub struct Stage {
    pub args: Vec<String>,
    pub why: String,
    pub estimate: Duration,
}

/// What is missing and how to measure it; and what cannot be measured here, with why.
pub fn plan(catalogue: &Catalogue, pairs: &[Pair], results: &Results) -> (Vec<Stage>, Vec<String>) {
    let mut stages = Vec::new();
    let mut cannot = Vec::new();
    let programs = catalogue.programs();
    let rows_missing: Vec<&Program> = (programs.iter())
        .filter(|p| results.row(&p.name, &p.flavor_label()).is_none())
        .collect();
    if !rows_missing.is_empty() {
        let mut names = distinct(rows_missing.iter().map(|p| p.name.as_str()));
        if rows_missing.len() == programs.len() {
            names.clear(); // the whole suite, its self-tests included
        }
        let per_row = rows_seconds(results).unwrap_or(15.0) / conformance::DEFAULT_JOBS as f64;
        stages.push(Stage {
            args: [vec!["conformance".to_string()], names].concat(),
            why: format!("{} conformance rows not run yet", rows_missing.len()),
            estimate: Duration::from_secs_f64(per_row * rows_missing.len() as f64 + 60.0),
        });
    }
    let measurable = |p: &Program, what: &str, cannot: &mut Vec<String>| -> bool {
        if p.declared.pitfall_of.is_some() {
            return false;
        }
        match unmet(&p.declared.needs, machine) {
            Some(why) => {
                cannot.push(format!(
                    "{} {} is not {what}: {why}",
                    p.name,
                    p.flavor_label()
                ));
                false
            }
            None => true,
        }
    };
    let untraced: Vec<&Pair> = (pairs.iter())
        .filter(|pair| {
            pair.programs()
                .all(|p| measurable(p, "traced", &mut Vec::new()))
        })
        .filter(|pair| {
            pair.programs()
                .any(|p| results.side(&pair.name, &p.flavor_label()).is_none())
        })
        .collect();
    match harness::traced::find_strace() {
        Err(e) if !untraced.is_empty() => cannot.push(format!("nothing is traced: {e:#}")),
        _ if untraced.is_empty() => {}
        _ => stages.push(Stage {
            args: [
                vec!["trace".to_string()],
                untraced.iter().map(|p| p.name.clone()).collect(),
            ]
            .concat(),
            why: format!("{} programs not traced yet", untraced.len()),
            estimate: Duration::from_secs(
                30 * untraced
                    .iter()
                    .map(|p| p.programs().count() as u64)
                    .sum::<u64>(),
            ),
        }),
    }
    let unbenched: Vec<&Program> = (programs.iter())
        .filter(|p| p.family().is_ok_and(benched) && measurable(p, "measured", &mut cannot))
        .filter(|p| {
            !results
                .entries()
                .any(|(e, _)| e.program == p.name && e.flavor == p.flavor_label())
        })
        .collect();
    if !unbenched.is_empty() {
        let names = distinct(unbenched.iter().map(|p| p.name.as_str()));
        stages.push(Stage {
            estimate: Duration::from_secs_f64(
                bench_seconds_per_program(results) * unbenched.len() as f64,
            ),
            args: [vec!["bench".to_string()], names].concat(),
            why: format!("{} programs not measured under load yet", unbenched.len()),
        });
    }
    stages.extend(modes(results));
    cannot.dedup();
    (stages, cannot)
}

/// The bench's other modes whose figures the book draws, when nothing of theirs is in
/// the results yet: the profile (`--perf`, which records the reason where perf cannot
/// run, so that it is not asked again) and the scaling bench. The estimates are what
/// whole runs of them took on a 2-core machine.
fn modes(results: &Results) -> Vec<Stage> {
    let modes = [
        (
            results.profile.records().is_empty(),
            "--perf",
            "no echo server profiled yet",
            250,
        ),
        (
            results.scaling.records().is_empty(),
            "--scaling",
            "nothing measured across cores yet",
            100,
        ),
    ];
    (modes.into_iter())
        .filter(|(missing, ..)| *missing)
        .map(|(_, flag, why, secs)| Stage {
            args: vec!["bench".into(), flag.into()],
            why: why.into(),
            estimate: Duration::from_secs(secs),
        })
        .collect()
}

/// The families the bench measures under load.
fn benched(f: Family) -> bool {
    !matches!(
        f,
        Family::FutureNotify | Family::MioEmpty | Family::MioMixed | Family::MioPipe
    )
}

fn distinct<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let unseen = names.filter(|n| seen.insert(*n));
    unseen.map(String::from).collect()
}

/// How long a conformance row took, on average, when they last ran.
fn rows_seconds(results: &Results) -> Option<f64> {
    let rows = results.conformance.records();
    (!rows.is_empty()).then(|| rows.iter().map(|r| r.data.seconds).sum::<f64>() / rows.len() as f64)
}

/// Seconds of bench per program and flavor, from the last bench run (its duration
/// over its entries), else a measured default.
fn bench_seconds_per_program(results: &Results) -> f64 {
    let records = results.bench.records();
    let last = records
        .iter()
        .max_by_key(|r| r.run.unix_time)
        .map(|r| &r.run);
    let of_last = |run: &harness::results::Run| {
        let same = |r: &&harness::results::Record<BenchRecord>| r.run.unix_time == run.unix_time;
        records
            .iter()
            .filter(same)
            .filter(|r| matches!(r.data, BenchRecord::Entry(_)))
            .count()
    };
    match last {
        Some(run) if of_last(run) > 0 => run.took_s / of_last(run) as f64,
        _ => 12.0,
    }
}

/// Runs the stages, one after another, each with its own progress output; a stage
/// that fails is reported and the book is made with what there is.
pub fn run(stages: &[Stage]) -> Result<()> {
    let total: Duration = stages.iter().map(|s| s.estimate).sum();
    eprintln!(
        "measuring what the book lacks, about {} in all:",
        minutes(total)
    );
    for (i, s) in stages.iter().enumerate() {
        eprintln!(
            "  {}. cargo xtask {} ({}; about {})",
            i + 1,
            s.args.join(" "),
            s.why,
            minutes(s.estimate)
        );
    }
    let exe = std::env::current_exe().context("cannot find the xtask binary")?;
    for (i, s) in stages.iter().enumerate() {
        let started = Instant::now();
        eprintln!(
            "[{}/{}] cargo xtask {}",
            i + 1,
            stages.len(),
            s.args.join(" ")
        );
        let status = Command::new(&exe)
            .args(&s.args)
            .current_dir(harness::project_root())
            .status();
        let took = minutes(started.elapsed());
        match status {
            Ok(st) if st.success() => eprintln!("[{}/{}] done in {took}", i + 1, stages.len()),
            Ok(st) => eprintln!(
                "[{}/{}] ended with {st} after {took}; the book shows what there is",
                i + 1,
                stages.len()
            ),
            Err(e) => eprintln!("[{}/{}] could not run: {e}", i + 1, stages.len()),
        }
    }
    Ok(())
}

fn minutes(d: Duration) -> String {
    match d.as_secs() {
        s if s < 90 => format!("{s} s"),
        s => format!("{} min", (s + 30) / 60),
    }
}
