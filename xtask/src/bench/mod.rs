//! `cargo xtask bench [PROGRAM…] [--flavor …] [--duration S] [--quick] [--format
//! table|json] [--out DIR]`: legacy against modern, measured on loopback.
//!
//! Builds the programs (release profile), starts each with `--quiet --bind
//! 127.0.0.1:0`, drives it from a load generator pinned to another CPU, and reads the
//! server's own CPU account. Every program runs once per round and the rounds are
//! interleaved (A B A B …), so that a slow minute of the machine touches every program
//! alike; figures are the median over rounds with min–max, and every ratio is taken
//! round by round between runs of the same round, never across invocations.
//!
//! * UDP echo: echoes/s with W = 32 datagrams in flight on each of 4 client sockets;
//!   server CPU per echo over that interval; RTT p50/p99 with W = 1 on one socket; peak
//!   RSS; losses; the share of a flood of 5,000 datagrams echoed at the default queue,
//!   and why. Baselines in the same rounds: a blocking `std::net::UdpSocket` echo
//!   (`bench-baseline-blocking`) and the raw edge-triggered epoll echo (modern
//!   `echo-epoll-edge`, the denominator of every "vs raw" ratio). The next programs
//!   and raw epoll-edge also run with one client socket, with GSO-sending peers, and
//!   under strace for system calls per echo.
//! * Multi-socket: 10, 100 and 1,000 sockets, a paced spray of datagrams over all of
//!   them; server CPU per datagram received (the server's own `summary recv=`); how
//!   it grows with the socket count is held to the composition each program declares
//!   (`polls` in its `Cargo.toml`).
//! * TCP echo: MB/s with 64 KiB writes on 8 connections, connections/s.
//! * Ident: server CPU and wall p50/p99 per query at 1 and 32 clients, on open and on
//!   fresh connections; ident-tokio and ident-pool also with `--lookup proc`; oidentd
//!   as the reference where installed.
//!
//! Every flavor is measured: a bridge step beside both ends of its ladder, a next
//! program beside raw epoll (skipped, with the reason, where the machine lacks what it
//! needs).
//!
//! Output: a table (or `--format json`) on stdout, and in `--out` (default
//! `target/bench/`) `bench.json` and SVG plots.
//!
//! `--soak [SECS]` runs another mode ([`soak`]): each server at its highest sustained
//! rate for SECS seconds (default 60), RSS sampled every second, flat or not, and
//! anything lost beyond the documented drops.
//!
//! Layout: each measured family has its own module (`udp_echo`, `multisocket`,
//! `tcp_echo`, `ident`) with its figures struct, its run, its section of the table and
//! its ratios and targets, and `flood`, `next_era` what UDP echo adds; `entry` is what
//! an entry is, whatever its family; `report` what is generic (statistics, ratios and
//! ladders, the JSON, table helpers); `plot` the SVGs; `loadgen`, `tcp`, `server`,
//! `oidentd`, `syscalls`, `cpu` and `affinity` the instrument; `soak` the soak.

mod affinity;
mod cpu;
mod entry;
mod flood;
mod ident;
mod loadgen;
mod multisocket;
mod next_era;
mod oidentd;
mod plot;
mod report;
mod server;
mod soak;
mod syscalls;
mod tcp;
mod tcp_echo;
mod udp_echo;

/// The names under which `bench.json` keeps the figures the book reads, tied to the
/// figures themselves so that a renamed figure cannot leave the book reading nothing.
pub mod keys {
    /// Server CPU per echo, 4 sockets × W=32 (ns).
    pub const UDP_CPU_PER_ECHO: &str = super::udp_echo::CPU_PER_ECHO.name;
    /// System calls per echo, one socket (next-era loads, strace).
    pub const UDP_SYSCALLS_PER_ECHO: &str = super::next_era::SYSCALLS.name;
    /// Server CPU per MB echoed (µs).
    pub const TCP_CPU_PER_MB: &str = super::tcp_echo::CPU_PER_MB.name;
    /// Server CPU per query on an open connection, one client (µs).
    pub const IDENT_CPU_PER_QUERY: &str = super::ident::OPEN_1_CPU.name;
    /// Server CPU per datagram of a multi-socket program (ns).
    pub const MULTISOCKET_CPU_PER_DATAGRAM: &str = super::multisocket::CPU_PER_DATAGRAM.name;
}

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use harness::{project_root, Catalogue, Family, Flavor, Profile, Program};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;

use crate::args::{self, FlavorArg, Format};
use affinity::Placement;
use entry::{of_family, AnyEntry, Entry, Figures, Label, Subject};
use ident::IdentFigures;
use multisocket::MultisocketFigures;
use report::{Ratio, Report};
use tcp_echo::TcpEchoFigures;
use udp_echo::UdpEchoFigures;

#[derive(clap::Args)]
pub struct Args {
    /// Programs to measure (e.g. echo-tokio); every measurable one when none is given.
    programs: Vec<String>,
    /// Only this flavor (the baselines always run).
    #[arg(long, value_enum)]
    flavor: Option<FlavorArg>,
    /// Seconds of each measured interval (default 1; 0.2 with --quick).
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Rounds (each program runs once per round; default 3, 2 with --quick).
    #[arg(long)]
    rounds: Option<usize>,
    /// Everything, briefly: to check the instrument, not to read the numbers.
    #[arg(long)]
    quick: bool,
    /// Output format on stdout.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Where to write bench.json and the plots (default target/bench).
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Cargo profile the programs are built with: `release` to measure; `dev` only to
    /// exercise the instrument cheaply (the figures are then meaningless).
    #[arg(long, default_value = "release")]
    profile: Profile,
    /// Exit 3 when a target is not met. Without it the bench reports targets (the
    /// table and the JSON say which are met) and exits 0 whenever it measured what it
    /// was asked to; exit 1 is for errors.
    #[arg(long)]
    gate: bool,
    /// Soak instead: each UDP echo, TCP echo and ident server at its highest sustained
    /// rate for SECS seconds (default 60), RSS sampled every second; writes soak.json.
    #[arg(long, value_name = "SECS", num_args = 0..=1, default_missing_value = "60")]
    soak: Option<u64>,
}

/// Exit status of `--gate` when a target is not met.
const EXIT_TARGET_MISSED: i32 = 3;

/// Durations and shapes of the loads: what the JSON calls the method.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: Profile,
    pub rounds: usize,
    pub warmup: Duration,
    pub measure: Duration,
    pub latency_warmup: Duration,
    pub latency_measure: Duration,
    pub loss_timeout: Duration,
    pub udp_sockets: usize,
    pub window: usize,
    pub payload: usize,
    pub max_datagrams: u64,
    pub spray_rate: u64,
    pub spray_burst: usize,
    pub spray_duration: Duration,
    pub multisocket_sizes: [usize; 3],
    pub tcp_connections: usize,
    pub tcp_chunk: usize,
    pub connect_workers: usize,
    pub max_connections: u64,
    pub ident_connections: usize,
    /// Datagrams of the flood each UDP echo program gets at its default queue.
    pub flood_datagrams: u64,
}

impl Settings {
    fn new(args: &Args) -> Result<Settings> {
        let seconds = args.duration.unwrap_or(if args.quick { 0.2 } else { 1.0 });
        if !(0.05..=60.0).contains(&seconds) {
            return Err(harness::UsageError(
                "--duration must be between 0.05 and 60 seconds".into(),
            )
            .into());
        }
        let measure = Duration::from_secs_f64(seconds);
        let rounds = args.rounds.unwrap_or(if args.quick { 2 } else { 3 });
        if !(1..=50).contains(&rounds) {
            return Err(harness::UsageError("--rounds must be between 1 and 50".into()).into());
        }
        Ok(Settings {
            profile: args.profile,
            rounds,
            warmup: measure / 5,
            measure,
            latency_warmup: measure / 10,
            latency_measure: measure / 2,
            // Generous: on a busy machine a server may be descheduled for tens of
            // milliseconds, and a late echo is not a lost one.
            loss_timeout: Duration::from_millis(500),
            udp_sockets: 4,
            window: 32,
            payload: 64,
            max_datagrams: 20_000_000,
            spray_rate: 5_000,
            spray_burst: 5,
            spray_duration: measure / 2,
            multisocket_sizes: multisocket::SIZES,
            tcp_connections: 8,
            tcp_chunk: 64 * 1024,
            connect_workers: 8,
            max_connections: 20_000,
            ident_connections: 32,
            flood_datagrams: flood::FLOOD,
        })
    }
}

#[cfg(test)]
impl Settings {
    /// The settings of `--quick`.
    pub fn for_tests() -> Settings {
        let args = Args {
            programs: Vec::new(),
            flavor: None,
            duration: None,
            rounds: None,
            quick: true,
            format: Format::Table,
            out: None,
            profile: Profile::Dev,
            gate: false,
            soak: None,
        };
        Settings::new(&args).expect("the quick settings are valid")
    }
}

/// A program that was asked for (or is in the catalogue) but not measured, and why.
#[derive(Debug, Clone)]
pub struct Skipped {
    pub program: String,
    pub reason: String,
}

pub fn main(args: Args) -> Result<i32> {
    let started = Instant::now();
    let command = command_line();
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| project_root().join("target").join("bench"));
    if let Some(secs) = args.soak {
        if args.duration.is_some() || args.rounds.is_some() || args.quick {
            return Err(harness::UsageError(
                "--soak takes no --duration, --rounds or --quick".into(),
            )
            .into());
        }
        let (programs, flavor) = (&args.programs, args.flavor);
        return soak::main(programs, flavor, secs, args.profile, args.format, &out_dir);
    }
    let settings = Settings::new(&args)?;

    let placement = Placement::choose()?;
    // The load generator runs on this thread and on threads it starts: pin it first.
    placement.pin_client_thread()?;
    eprintln!("bench: {}", placement.describe());

    let (mut entries, mut skipped) = plan(&args.programs, args.flavor, &settings)?;
    if entries.is_empty() {
        bail!("nothing to measure");
    }
    let build_failed = build_all(&mut entries, &mut skipped, &settings)?;
    run_rounds(&mut entries, &settings, &placement)?;

    let elapsed = started.elapsed();
    let report = Report::new(
        entries,
        skipped,
        &settings,
        &placement,
        command.clone(),
        elapsed,
    );
    write_out(&report, &out_dir, args.format)?;
    if args.format == Format::Table {
        println!("command: {command}");
        println!("took {:.0} s", elapsed.as_secs_f64());
    }
    let errors = report.any_error() || build_failed;
    Ok(exit_status(errors, args.gate, report.target_counts().1))
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

/// The command as typed, for the output (`cargo xtask bench …`).
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

/// Every entry once per round, in the same order each round (A B A B …).
fn run_rounds(entries: &mut [AnyEntry], s: &Settings, placement: &Placement) -> Result<()> {
    let total = (entries.len() * s.rounds) as u64;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    for round in 0..s.rounds {
        for entry in entries.iter_mut().map(AnyEntry::get_mut) {
            let title = entry.subject().title();
            bar.set_message(format!("round {}/{}: {title}", round + 1, s.rounds));
            if let Err(e) = entry.run_round(round, s, placement) {
                bar.println(format!("  {title}: {e:#}"));
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    Ok(())
}

/// Writes `bench.json` and the plots into `out_dir`, and the table (or the JSON) on
/// stdout.
fn write_out(report: &Report, out_dir: &Path, format: Format) -> Result<()> {
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let plots = plot::write_all(report, out_dir)?;
    let json = serde_json::to_string_pretty(&report.to_json(&plots))?;
    let json_path = out_dir.join("bench.json");
    std::fs::write(&json_path, json.clone() + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    match format {
        Format::Json => println!("{json}"),
        Format::Table => {
            print!("{}", report.to_table());
            println!();
            println!("written: {}", json_path.display());
            for p in &plots {
                println!("written: {}", out_dir.join(p).display());
            }
        }
    }
    Ok(())
}

/// The bench's name of a family, in the JSON.
pub fn family_key(family: Family) -> &'static str {
    match family {
        Family::UdpEcho => "udp_echo",
        Family::Multisocket => "multisocket",
        Family::TcpEcho => "tcp_echo",
        Family::Ident => "ident",
        Family::FutureNotify
        | Family::MioEmpty
        | Family::MioMixed
        | Family::MioPipe
        | Family::UdpWaiters
        | Family::CoopBudget => "demo",
    }
}

/// The entries to measure, in the order of a round, and what is skipped.
fn plan(
    requested: &[String],
    flavor: Option<FlavorArg>,
    settings: &Settings,
) -> Result<(Vec<AnyEntry>, Vec<Skipped>)> {
    let catalogue = Catalogue::load()?;
    let flavors = args::flavors(flavor);
    let programs = catalogue.select(requested, None)?;
    let mut skipped = Vec::new();
    let mut entries = Vec::new();
    let chosen: Vec<&Program> = programs
        .iter()
        .filter(|p| flavors.contains(&p.flavor))
        .collect();
    let read_against = read_against(&chosen, catalogue.programs());
    for program in chosen.iter().chain(&read_against).copied() {
        // A program that does not say what it is cannot be measured: name it and stop.
        let family = program.family()?;
        // A pitfall (a ladder's step done in the wrong order) fails on purpose, some
        // of them at the SIGTERM that ends every round: measured only when named, as
        // `trace` traces them.
        if let (true, Some(of)) = (requested.is_empty(), &program.declared.pitfall_of) {
            skipped.push(Skipped {
                program: format!("{} {}", program.name, program.flavor_label()),
                reason: format!(
                    "a pitfall of {of}'s ladder, wrong on purpose: measured only when named"
                ),
            });
            continue;
        }
        match entries_of(program, family, settings) {
            Ok(mut more) => entries.append(&mut more),
            Err(reason) => skipped.push(Skipped {
                program: format!("{} {}", program.name, program.flavor_label()),
                reason,
            }),
        }
    }
    entry::story_order(&mut entries);
    // The baselines run with the UDP echo programs, in the same rounds.
    if !of_family::<UdpEchoFigures>(&entries).is_empty() {
        let (baselines, missing) = udp_echo::baselines(&catalogue, &entries);
        skipped.extend(missing);
        entries.splice(0..0, baselines.into_iter().map(AnyEntry::UdpEcho));
        udp_echo::mark_next_era(&mut entries);
    }
    // oidentd, where installed, is the ident servers' reference in the same rounds.
    if !of_family::<IdentFigures>(&entries).is_empty() {
        match oidentd::find() {
            Ok(exe) => entries.push(AnyEntry::Ident(Entry::new(oidentd::subject(exe)))),
            Err(reason) => skipped.push(Skipped {
                program: format!("{} (reference)", oidentd::NAME),
                reason,
            }),
        }
    }
    Ok((entries, skipped))
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

/// The entries of one program (one per socket count for a multi-socket one, one per
/// variant for an ident program measured with both lookups), or why it is not
/// measured. Every flavor is measured with its family's loads: a bridge step beside
/// the two ends of its ladder, a next program beside raw epoll.
fn entries_of(program: &Program, family: Family, s: &Settings) -> Result<Vec<AnyEntry>, String> {
    // A program that needs what this machine lacks (io_uring, say) is not run at all.
    if let Some(why) = harness::needs::unmet(&program.declared.needs, harness::needs::machine) {
        return Err(why);
    }
    fn one<F: Figures>(program: &Program, sockets: Option<usize>) -> AnyEntry {
        F::wrap(Entry::new(Subject::of(program, sockets)))
    }
    Ok(match family {
        Family::UdpEcho => vec![one::<UdpEchoFigures>(program, None)],
        Family::Multisocket => (s.multisocket_sizes.iter())
            .map(|&n| one::<MultisocketFigures>(program, Some(n)))
            .collect(),
        Family::TcpEcho => vec![one::<TcpEchoFigures>(program, None)],
        Family::Ident => {
            let variant = ident::proc_variant(&program.name)
                .map(|v| AnyEntry::Ident(Entry::new(Subject::of(program, None).with_variant(v))));
            std::iter::once(one::<IdentFigures>(program, None))
                .chain(variant)
                .collect()
        }
        Family::FutureNotify
        | Family::MioEmpty
        | Family::MioMixed
        | Family::MioPipe
        | Family::UdpWaiters
        | Family::CoopBudget => {
            return Err("demonstrates one mechanism: nothing to measure under load".into())
        }
    })
}

/// Builds every entry's package and gives each entry its binary; an entry whose
/// package does not build is skipped with the reason. Returns whether any build failed.
fn build_all(
    entries: &mut Vec<AnyEntry>,
    skipped: &mut Vec<Skipped>,
    settings: &Settings,
) -> Result<bool> {
    let subjects = entries.iter().map(|e| e.get().subject());
    let built_here = subjects.filter(|s| s.is_built());
    let mut packages: Vec<String> = built_here.map(|s| s.package.clone()).collect();
    packages.sort();
    packages.dedup();
    eprintln!(
        "bench: building {} packages (profile {})",
        packages.len(),
        settings.profile
    );
    let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    let built = harness::build(&packages, settings.profile)?;
    entries.retain_mut(|e| {
        let subject = e.get_mut().subject_mut();
        if !subject.is_built() {
            return true;
        }
        let reason = match (
            built.failed.get(&subject.package),
            built.exes.get(&subject.binary),
        ) {
            (Some(why), _) => format!("does not build: {why}"),
            (None, Some(exe)) => {
                subject.exe = exe.clone();
                return true;
            }
            (None, None) => "no binary after the build".into(),
        };
        let program = subject.title();
        skipped.push(Skipped { program, reason });
        false
    });
    Ok(!built.failed.is_empty())
}

/// Every family's section of the table, in the order of the families.
fn sections(entries: &[AnyEntry], s: &Settings) -> String {
    fn section<F: Figures>(entries: &[AnyEntry], s: &Settings) -> String {
        let family = of_family::<F>(entries);
        if family.is_empty() {
            return String::new();
        }
        F::section(&family, s)
    }
    let section_of = |family| match family {
        Family::UdpEcho => section::<UdpEchoFigures>(entries, s),
        Family::Multisocket => section::<MultisocketFigures>(entries, s),
        Family::TcpEcho => section::<TcpEchoFigures>(entries, s),
        Family::Ident => section::<IdentFigures>(entries, s),
        Family::FutureNotify
        | Family::MioEmpty
        | Family::MioMixed
        | Family::MioPipe
        | Family::UdpWaiters
        | Family::CoopBudget => String::new(),
    };
    Family::ALL.into_iter().map(section_of).collect()
}

/// Every ratio the report shows, family by family.
fn ratios(entries: &[AnyEntry]) -> Vec<Ratio> {
    fn ratios<F: Figures>(entries: &[AnyEntry]) -> Vec<Ratio> {
        F::ratios(&of_family::<F>(entries))
    }
    let ratios_of = |family| match family {
        Family::UdpEcho => ratios::<UdpEchoFigures>(entries),
        Family::Multisocket => ratios::<MultisocketFigures>(entries),
        Family::TcpEcho => ratios::<TcpEchoFigures>(entries),
        Family::Ident => ratios::<IdentFigures>(entries),
        Family::FutureNotify
        | Family::MioEmpty
        | Family::MioMixed
        | Family::MioPipe
        | Family::UdpWaiters
        | Family::CoopBudget => Vec::new(),
    };
    Family::ALL.into_iter().flat_map(ratios_of).collect()
}

fn ns_per(cpu: Duration, count: u64) -> f64 {
    cpu.as_nanos() as f64 / count.max(1) as f64
}

fn per_second(count: u64, interval: Duration) -> f64 {
    count as f64 / interval.as_secs_f64().max(1e-9)
}

/// The counts of the server's own `summary` line, where it has them.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServerCounts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_recv: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_sent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_dropped: Option<f64>,
}

impl ServerCounts {
    fn of(counts: &shared::event::Counts) -> ServerCounts {
        let count = |key| counts.get(key).map(|v| v as f64);
        ServerCounts {
            server_recv: count("recv"),
            server_sent: count("sent"),
            server_dropped: count("dropped"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The book reads `bench.json` by these names; the test fixtures are a real run,
    /// so each name must be found there (a renamed figure fails here, not silently in
    /// the book).
    #[test]
    fn the_names_the_book_reads_are_in_a_real_bench_json() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/results/bench/bench.json"
        );
        let json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let entries = json["entries"].as_array().unwrap();
        for key in [
            keys::UDP_CPU_PER_ECHO,
            keys::UDP_SYSCALLS_PER_ECHO,
            keys::TCP_CPU_PER_MB,
            keys::IDENT_CPU_PER_QUERY,
            keys::MULTISOCKET_CPU_PER_DATAGRAM,
        ] {
            assert!(
                entries.iter().any(|e| e["median"].get(key).is_some()),
                "no entry of {path} has {key}"
            );
        }
    }

    #[test]
    fn a_step_brings_its_ladder_s_ends_and_a_next_program_its_sibling() {
        let udp = serde_json::json!({ "family": "udp-echo" });
        let catalogue = Catalogue::of_declarations(&[
            ("legacy-x", udp.clone()),
            ("modern-x", udp.clone()),
            ("legacy-z", udp.clone()),
            (
                "bridge-x-step1",
                serde_json::json!({ "family": "udp-echo", "program": "x", "step": 1 }),
            ),
            (
                "next-y",
                serde_json::json!({ "family": "udp-echo", "sibling": "x" }),
            ),
        ]);
        let all = catalogue.programs();
        let by = |package: &str| all.iter().find(|p| p.package == package).unwrap();
        let names = |chosen: &[&Program]| -> Vec<String> {
            let found = read_against(chosen, all);
            found.iter().map(|p| p.package.clone()).collect()
        };
        assert_eq!(names(&[by("bridge-x-step1")]), ["legacy-x", "modern-x"]);
        assert_eq!(names(&[by("next-y")]), ["modern-x"]);
        // What is chosen already is not brought twice; legacy and modern bring nothing.
        assert_eq!(names(&[by("bridge-x-step1"), by("modern-x")]), ["legacy-x"]);
        assert!(names(&[by("legacy-z")]).is_empty());
    }

    #[test]
    fn a_missed_target_fails_only_a_gated_run() {
        assert_eq!(exit_status(false, false, 4), 0, "reported, not failed");
        assert_eq!(exit_status(false, true, 4), EXIT_TARGET_MISSED);
        assert_eq!(exit_status(false, true, 0), 0);
        assert_eq!(exit_status(true, false, 0), 1, "an error is an error");
        assert_eq!(exit_status(true, true, 4), 1);
    }
}
