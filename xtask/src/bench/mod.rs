//! `cargo xtask bench [PROGRAM…] [--flavor …] [--duration S] [--rounds N] [--quick]
//! [--format table|json] [--out DIR] [--gate]`: every flavor, measured on loopback.
//!
//! Builds the programs (release profile), starts each with `--quiet --bind
//! 127.0.0.1:0`, drives it from a load generator pinned to another CPU, and reads the
//! server's own CPU account. Every entry runs once per round and the rounds are
//! interleaved (A B A B …), so that a slow minute of the machine touches every entry
//! alike; a table shows the median over rounds and how far the farthest round lies
//! from it, and every ratio is taken round by round between runs of the same round,
//! never across invocations. The 1-minute load average is kept at the start and end
//! of each round (a warning says when it exceeds one per core).
//!
//! * UDP echo (`udp_echo`, `flood`, `next_era`): throughput, CPU per echo, RTT, the
//!   share of a flood echoed and why; a blocking baseline and raw epoll-edge in the
//!   same rounds; the next programs beside raw epoll-edge on their own loads.
//! * Multi-socket (`multisocket`, `polls`): CPU per datagram at 10, 100 and 1,000
//!   sockets, held to the composition each program declares; the futures polled per
//!   datagram over a sweep of socket counts.
//! * TCP echo (`tcp_echo`) and ident (`ident`, with oidentd as the reference).
//! * udp-waiters and coop-budget (`waiters`, `coop`): who a datagram wakes, and what a
//!   flood does to a ticker, measured by the suite's own code.
//!
//! Every entry (and what was not measured, with the reason) and every ratio is a
//! typed record (`harness::results::bench`), merged into `bench.json` of `--out`
//! (default `target/results/`): each record keeps its own run, so a narrow run never
//! loses what a wider one measured. The study renders them; `--format json` prints
//! this run's records. `--soak [SECS]`, `--scaling` and `--perf` run other modes
//! (`soak`, `scaling`, `perf`).
//!
//! Layout: `entry`, `ratio` and `cells` are the generic machinery and know no family;
//! `families` dispatches to every family's module; `plan` chooses the entries;
//! the instrument (the load generators, the server's CPU and memory, CPU placement) is
//! `harness::load` and `harness::measure`.

mod cells;
mod coop;
mod depth;
mod entry;
mod families;
mod flood;
mod ident;
mod multisocket;
mod next_era;
mod perf;
mod plan;
mod polls;
mod ratio;
mod scaling;
mod settings;
mod soak;
mod tcp_echo;
mod udp_echo;
mod waiters;

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use harness::results::bench::BenchRecord;
use harness::results::run::load_average;
use harness::results::{default_dir, File, Kind, Machine, Run};
use harness::{Catalogue, Profile, UsageError};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{FlavorArg, Format};
use entry::Job;
use harness::measure::affinity::Placement;
use settings::Settings;

#[derive(clap::Args)]
pub struct Args {
    /// Programs to measure (e.g. echo-tokio); every measurable one when none is given.
    programs: Vec<String>,
    /// Only this flavor (the baselines always run).
    #[arg(long, value_enum)]
    flavor: Option<FlavorArg>,
    /// Seconds of each measured interval (default 1; 0.2 with --quick).
    #[arg(long, value_name = "S", allow_negative_numbers = true)]
    duration: Option<f64>,
    /// Rounds (each entry runs once per round; default 3, 2 with --quick).
    #[arg(long)]
    rounds: Option<usize>,
    /// Everything, briefly: to check the instrument, not to read the numbers.
    #[arg(long)]
    quick: bool,
    /// Output format on stdout: a table, or this run's records as JSON.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Where the results are kept (default target/results).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Cargo profile the programs are built with: `release` to measure; `dev` only to
    /// exercise the instrument cheaply (the figures are then meaningless).
    #[arg(long, default_value = "release")]
    profile: Profile,
    /// Exit 3 when a target is not met. Without it the bench reports targets and exits
    /// 0 whenever it measured what it was asked to; exit 1 is for errors.
    #[arg(long)]
    gate: bool,
    /// Soak instead: each UDP echo, TCP echo and ident server at its highest sustained
    /// rate for SECS seconds (default 60), RSS sampled every second; kept in soak.json.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "60")]
    soak: Option<u64>,
    /// Scaling instead: each echo server that runs across cores at 1 to as many threads
    /// as this machine has cores, in rounds (default 3); kept in scaling.json.
    #[arg(long, conflicts_with_all = ["soak", "duration", "gate"])]
    scaling: bool,
    /// Profile instead: where each UDP echo server's CPU goes, perf recording it under
    /// the throughput load (GSO peers, 64 on 1 socket); kept in profile.json.
    #[arg(long, conflicts_with_all = ["soak", "scaling"])]
    perf: bool,
}

/// Exit status of `--gate` when a target is not met.
const EXIT_TARGET_MISSED: i32 = 3;

pub fn main(args: Args) -> Result<i32> {
    // What was asked for is checked before anything happens.
    let catalogue = Catalogue::load()?;
    catalogue.check_names(&args.programs)?;
    let out = args.out.clone().unwrap_or_else(default_dir);
    if let Some(secs) = args.soak {
        if args.duration.is_some() || args.rounds.is_some() || args.quick || args.gate {
            let e = "--soak takes no --duration, --rounds, --quick or --gate";
            return Err(UsageError(e.into()).into());
        }
        return soak::main(&catalogue, &args, secs, &out);
    }
    if args.scaling {
        return scaling::main(&catalogue, &args, &out);
    }
    if args.perf {
        return perf::main(&catalogue, &args, &out);
    }
    let s = Settings::new(args.duration, args.rounds, args.quick, args.profile)?;
    let started = Instant::now();
    // The machine as it is, before this thread is pinned to one of its CPUs.
    let machine = Machine::here();
    let placement = Placement::choose()?;
    // The load generator runs on this thread and on threads it starts: pin it first.
    placement.pin_client_thread()?;
    eprintln!("bench: {}", placement.describe());
    let mut jobs = plan::plan(&catalogue, &args.programs, args.flavor, families::jobs_of)?;
    plan::references(&catalogue, &mut jobs);
    for job in &mut jobs {
        job.entry.settings = s.record.clone();
    }
    let build_failed = plan::build(&mut jobs, s.profile)?;
    if !jobs.iter().any(measured) {
        bail!("nothing to measure:{}", cells::notes(&jobs));
    }
    let mut to_measure: Vec<&mut Job> = jobs.iter_mut().filter(|j| measured(j)).collect();
    let load = in_rounds(
        &mut to_measure,
        (s.rounds, machine.cores),
        |j| j.title(),
        |job, round| families::run_round(job, &s, &placement, round),
    )?;
    let run = Run {
        machine,
        ..Run::now(s.profile.as_str(), started.elapsed(), load)
    };
    let ratios = families::ratios(&jobs);
    let (_, missed) = cells::target_counts(&ratios);
    let errors = build_failed || jobs.iter().any(|j| !j.entry.errors.is_empty());
    let mut records: Vec<BenchRecord> = (jobs.iter())
        .map(|j| BenchRecord::Entry(j.entry.clone()))
        .collect();
    records.extend(ratios.iter().cloned().map(BenchRecord::Ratio));
    let kept = keep(&out, &run, records.clone())?;
    match args.format {
        Format::Json => {
            let mut this_run = File::default();
            this_run.merge(&run, records);
            println!("{}", serde_json::to_string_pretty(&this_run)?);
        }
        Format::Table => {
            let head = format!(
                "{} rounds, interleaved; median ±the farthest round\n{}\n",
                s.rounds,
                placement.describe()
            );
            print!("{head}{}", families::sections(&jobs, &s));
            print!("{}{}", cells::ratio_tables(&ratios), cells::notes(&jobs));
            println!("\nkept in {}", harness::workspace::relative(&kept));
            println!("{}", describe(&run));
        }
    }
    Ok(exit_status(errors, args.gate, missed))
}

fn measured(job: &Job) -> bool {
    job.entry.skipped.is_none()
}

/// Each of `items` once per round, in the same order each round (A B A B …), under a
/// progress bar; `measure` runs one round of one and keeps what it measured (an error
/// is printed as well). Returns the load average at the start and end of each round,
/// with a warning where it was above one per core of the machine's `cores` (counted
/// before this thread was pinned to one).
fn in_rounds<T>(
    items: &mut [T],
    (rounds, cores): (usize, usize),
    title: impl Fn(&T) -> String,
    mut measure: impl FnMut(&mut T, usize) -> Result<()>,
) -> Result<Vec<[f64; 2]>> {
    let cores = cores.max(1);
    let style = ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}");
    let bar = ProgressBar::new((items.len() * rounds) as u64)
        .with_style(style.context("progress bar")?.progress_chars("=> "));
    let mut load = Vec::new();
    for round in 0..rounds {
        let start = load_average();
        for item in items.iter_mut() {
            bar.set_message(format!("round {}/{rounds}: {}", round + 1, title(item)));
            // Printed whether or not the bar is drawn (it is not when stderr is no
            // terminal).
            if let Err(e) = measure(item, round) {
                bar.suspend(|| eprintln!("  {}: {e:#}", title(item)));
            }
            bar.inc(1);
        }
        let end = load_average();
        if start.max(end) > cores as f64 {
            bar.suspend(|| {
                eprintln!(
                    "warning: round {}: load average {start:.1} → {end:.1} on {cores} cores: the \
                     machine was busy, and its figures may be slow for that, not for the programs",
                    round + 1
                )
            });
        }
        load.push([start, end]);
    }
    bar.finish_and_clear();
    Ok(load)
}

/// Merges `records` into `dir`'s `bench.json`. An entry not measured this time never
/// replaces one that was measured: it keeps its figures and its own run.
fn keep(dir: &Path, run: &Run, records: Vec<BenchRecord>) -> Result<PathBuf> {
    let mut file = File::<BenchRecord>::load(dir)?;
    let measured_before = |r: &BenchRecord| {
        let before = file.get(&r.key()).map(|r| &r.data);
        matches!(before, Some(BenchRecord::Entry(e)) if e.skipped.is_none())
    };
    let skipped = |r: &BenchRecord| matches!(r, BenchRecord::Entry(e) if e.skipped.is_some());
    let records: Vec<BenchRecord> = (records.into_iter())
        .filter(|r| !(skipped(r) && measured_before(r)))
        .collect();
    file.merge(run, records);
    file.save(dir)
}

/// `command: …`, how long it took, and the load it ran under.
fn describe(run: &Run) -> String {
    let load = run.load.iter().flatten().copied();
    let low = load.clone().reduce(f64::min).unwrap_or(0.0);
    format!(
        "command: {}\ntook {:.0} s; load average {low:.1}–{:.1} on {}",
        run.command,
        run.took_s,
        run.peak_load().unwrap_or(0.0),
        run.machine.describe()
    )
}

/// 1 if something could not be measured; with `--gate`, 3 if a target was missed;
/// else 0: a missed target is a finding to read in the table, not a failure.
fn exit_status(errors: bool, gate: bool, targets_missed: usize) -> i32 {
    match (errors, gate && targets_missed > 0) {
        (true, _) => 1,
        (false, true) => EXIT_TARGET_MISSED,
        (false, false) => 0,
    }
}

#[cfg(test)]
mod tests {
    use harness::results::bench::{Rounds, TcpEchoFigures};

    use super::*;
    use crate::bench::entry::{tests::job, MODERN};

    #[test]
    fn a_missed_target_fails_only_a_gated_run() {
        assert_eq!(exit_status(false, false, 4), 0, "reported, not failed");
        assert_eq!(exit_status(false, true, 4), EXIT_TARGET_MISSED);
        assert_eq!(exit_status(false, true, 0), 0);
        assert_eq!(exit_status(true, false, 0), 1, "an error is an error");
        assert_eq!(exit_status(true, true, 4), 1);
    }

    #[test]
    fn a_skipped_entry_never_replaces_a_measured_one() {
        let dir = std::env::temp_dir().join(format!("bench-keep-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let run = |command: &str| Run {
            command: command.into(),
            ..Run::now("dev", Default::default(), vec![])
        };
        let measured = job::<TcpEchoFigures>("t", MODERN, [Default::default()]);
        let skipped = measured.clone().skipped("needs io-uring".into());
        let other = Job::new("u", MODERN, None, Rounds::Unmeasured).skipped("a demo".into());
        let records = |jobs: &[&Job]| {
            jobs.iter()
                .map(|j| BenchRecord::Entry(j.entry.clone()))
                .collect()
        };
        keep(&dir, &run("first"), records(&[&measured])).unwrap();
        keep(&dir, &run("second"), records(&[&skipped, &other])).unwrap();
        let file = File::<BenchRecord>::load(&dir).unwrap();
        let kept: Vec<(String, &str)> = file
            .records
            .iter()
            .map(|r| (r.data.key(), r.run.command.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                ("entry t modern".into(), "first"),
                ("entry u modern".into(), "second")
            ]
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
