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
//!   RSS; losses. Baselines in the same rounds: a blocking `std::net::UdpSocket` echo
//!   (`bench-baseline-blocking`) and the raw edge-triggered epoll echo (modern
//!   `echo-epoll-edge`, the denominator of every "vs raw" ratio).
//! * Multi-socket: 10, 100 and 1,000 sockets, a paced spray of datagrams over all of
//!   them; server CPU per datagram received (the server's own `summary recv=`).
//! * TCP echo: MB/s with 64 KiB writes on 8 connections, connections/s.
//! * Ident: queries/s over 32 connections, each asking about itself.
//!
//! Output: a table (or `--format json`) on stdout, and in `--out` (default
//! `target/bench/`) `bench.json` and SVG plots.

mod affinity;
mod cpu;
mod loadgen;
mod plot;
mod report;
mod server;
mod tcp;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use harness::{project_root, Catalogue, Family, Flavor, Profile};
use indicatif::{ProgressBar, ProgressStyle};

use crate::args::{self, FlavorArg, Format};
use affinity::Placement;
use loadgen::{EchoLoad, SprayLoad};
use server::Server;

/// The raw epoll echo every "vs raw" ratio is taken against: the modern
/// edge-triggered epoll program (nix 0.30), which drains each readiness edge with
/// plain `recvfrom`/`sendto` and nothing else.
pub const RAW_PROGRAM: &str = "echo-epoll-edge";
/// The blocking baseline's package and binary.
const BLOCKING_PACKAGE: &str = "baselines";
const BLOCKING_BIN: &str = "bench-baseline-blocking";
/// Its name in the tables.
pub const BLOCKING_NAME: &str = "baseline-blocking";

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

/// Legacy, modern, or one of the baselines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Label {
    Baseline,
    Legacy,
    Modern,
}

impl Label {
    pub fn as_str(self) -> &'static str {
        match self {
            Label::Baseline => "baseline",
            Label::Legacy => "legacy",
            Label::Modern => "modern",
        }
    }
}

/// Named figures of one run (`echoes_per_s`, `cpu_per_echo_ns`, …).
pub type Figures = BTreeMap<&'static str, f64>;

/// One thing measured: a program of one flavor (and, for the multi-socket programs,
/// one socket count), with its figures round by round.
#[derive(Debug, Clone)]
pub struct Entry {
    pub program: String,
    pub label: Label,
    pub family: Family,
    pub sockets: Option<usize>,
    pub exe: PathBuf,
    /// Figures of each round (`None` where that round's run failed).
    pub rounds: Vec<Option<Figures>>,
    pub errors: Vec<String>,
}

impl Entry {
    pub fn title(&self) -> String {
        match self.sockets {
            Some(n) => format!("{} {} ×{n}", self.program, self.label.as_str()),
            None => format!("{} {}", self.program, self.label.as_str()),
        }
    }

    pub fn is(&self, program: &str, label: Label) -> bool {
        self.program == program && self.label == label
    }
}

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
}

impl Settings {
    fn new(args: &Args) -> Result<Settings> {
        let seconds = args.duration.unwrap_or(if args.quick { 0.2 } else { 1.0 });
        if !(0.05..=60.0).contains(&seconds) {
            bail!("--duration must be between 0.05 and 60 seconds");
        }
        let measure = Duration::from_secs_f64(seconds);
        let rounds = args.rounds.unwrap_or(if args.quick { 2 } else { 3 });
        if !(1..=50).contains(&rounds) {
            bail!("--rounds must be between 1 and 50");
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
            multisocket_sizes: [10, 100, 1_000],
            tcp_connections: 8,
            tcp_chunk: 64 * 1024,
            connect_workers: 8,
            max_connections: 20_000,
            ident_connections: 32,
        })
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
    let settings = Settings::new(&args)?;
    let flavor = args.flavor;
    let out_dir = args
        .out
        .clone()
        .unwrap_or_else(|| project_root().join("target").join("bench"));
    let table = args.format == Format::Table;

    let placement = Placement::choose()?;
    // The load generator runs on this thread and on threads it starts: pin it first.
    placement.pin_client_thread()?;
    eprintln!("bench: {}", placement.describe());

    let (mut entries, mut skipped) = plan(&args.programs, flavor, &settings)?;
    if entries.is_empty() {
        bail!("nothing to measure");
    }
    let (exes, failed) = build_all(&entries, &settings)?;
    entries.retain_mut(|e| {
        let package = package_of(e);
        if let Some(why) = failed.get(&package) {
            skipped.push(Skipped {
                program: e.title(),
                reason: format!("does not build: {why}"),
            });
            return false;
        }
        match exes.get(&binary_of(e)) {
            Some(exe) => {
                e.exe = exe.clone();
                true
            }
            None => {
                skipped.push(Skipped {
                    program: e.title(),
                    reason: "no binary after the build".into(),
                });
                false
            }
        }
    });
    let build_failed = !failed.is_empty();

    let total = (entries.len() * settings.rounds) as u64;
    let bar = ProgressBar::new(total).with_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    for round in 0..settings.rounds {
        for entry in entries.iter_mut() {
            bar.set_message(format!(
                "round {}/{}: {}",
                round + 1,
                settings.rounds,
                entry.title()
            ));
            let result = run_one(entry, &settings, &placement);
            match result {
                Ok(figures) => entry.rounds.push(Some(figures)),
                Err(e) => {
                    entry.rounds.push(None);
                    entry.errors.push(format!("round {}: {e:#}", round + 1));
                    bar.println(format!("  {}: {e:#}", entry.title()));
                }
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();

    let elapsed = started.elapsed();
    let report = report::Report::new(
        entries,
        skipped,
        &settings,
        &placement,
        command.clone(),
        elapsed,
    );
    std::fs::create_dir_all(&out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let plots = plot::write_all(&report, &out_dir)?;
    let json = report.to_json(&plots);
    let json_path = out_dir.join("bench.json");
    std::fs::write(&json_path, serde_json::to_string_pretty(&json)? + "\n")
        .with_context(|| format!("cannot write {}", json_path.display()))?;
    if table {
        print!("{}", report.to_table());
        println!();
        println!("written: {}", json_path.display());
        for p in &plots {
            println!("written: {}", out_dir.join(p).display());
        }
        println!("command: {command}");
        println!("took {:.0} s", elapsed.as_secs_f64());
    } else {
        println!("{}", serde_json::to_string_pretty(&json)?);
    }
    Ok(if report.any_error() || build_failed {
        1
    } else {
        0
    })
}

/// The command as typed, for the output (`cargo xtask bench …`).
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!("cargo xtask {}", args.join(" "))
}

/// The entries to measure, in the order of a round, and what is skipped.
fn plan(
    requested: &[String],
    flavor: Option<FlavorArg>,
    settings: &Settings,
) -> Result<(Vec<Entry>, Vec<Skipped>)> {
    let catalogue = Catalogue::load()?;
    let flavors = args::flavors(flavor);
    let programs = catalogue.select(requested, None)?;
    let mut skipped = Vec::new();
    let mut entries = Vec::new();
    let new_entry = |program: &str, label: Label, family: Family, sockets: Option<usize>| Entry {
        program: program.to_string(),
        label,
        family,
        sockets,
        exe: PathBuf::new(),
        rounds: Vec::new(),
        errors: Vec::new(),
    };
    for program in programs.iter().filter(|p| flavors.contains(&p.flavor)) {
        // A program that does not say what it is cannot be measured: name it and stop.
        let family = program.family()?;
        let label = match program.flavor {
            Flavor::Legacy => Label::Legacy,
            Flavor::Modern => Label::Modern,
            Flavor::Bridge | Flavor::Next => {
                skipped.push(Skipped {
                    program: format!("{} {}", program.name, program.flavor_label()),
                    reason: format!(
                        "the bench does not measure the {} flavor yet",
                        program.flavor
                    ),
                });
                continue;
            }
        };
        match family {
            Family::UdpEcho | Family::TcpEcho | Family::Ident => {
                entries.push(new_entry(&program.name, label, family, None))
            }
            Family::Multisocket => {
                for n in settings.multisocket_sizes {
                    entries.push(new_entry(&program.name, label, family, Some(n)));
                }
            }
            Family::FutureNotify
            | Family::MioEmpty
            | Family::MioMixed
            | Family::MioPipe
            | Family::UdpWaiters
            | Family::CoopBudget => skipped.push(Skipped {
                program: format!("{} {}", program.name, program.flavor_label()),
                reason: "demonstrates one mechanism: nothing to measure under load".into(),
            }),
        }
    }
    // The baselines run with the UDP echo programs, in the same rounds.
    if entries.iter().any(|e| e.family == Family::UdpEcho) {
        let mut baselines = vec![new_entry(
            BLOCKING_NAME,
            Label::Baseline,
            Family::UdpEcho,
            None,
        )];
        let raw_present = catalogue
            .programs()
            .iter()
            .any(|p| p.name == RAW_PROGRAM && p.flavor == Flavor::Modern);
        if !entries.iter().any(|e| e.is(RAW_PROGRAM, Label::Modern)) {
            if raw_present {
                baselines.push(new_entry(RAW_PROGRAM, Label::Modern, Family::UdpEcho, None));
            } else {
                skipped.push(Skipped {
                    program: format!("{RAW_PROGRAM} modern (raw epoll baseline)"),
                    reason: "not in the workspace: no ratio against raw epoll".into(),
                });
            }
        }
        entries.splice(0..0, baselines);
    }
    Ok((entries, skipped))
}

fn package_of(e: &Entry) -> String {
    match e.label {
        Label::Baseline => BLOCKING_PACKAGE.to_string(),
        l => format!("{}-{}", l.as_str(), e.program),
    }
}

fn binary_of(e: &Entry) -> String {
    match e.label {
        Label::Baseline => BLOCKING_BIN.to_string(),
        _ => package_of(e),
    }
}

fn build_all(
    entries: &[Entry],
    settings: &Settings,
) -> Result<(BTreeMap<String, PathBuf>, BTreeMap<String, String>)> {
    let mut packages: Vec<String> = entries.iter().map(package_of).collect();
    packages.sort();
    packages.dedup();
    eprintln!(
        "bench: building {} packages (profile {})",
        packages.len(),
        settings.profile
    );
    let packages: Vec<&str> = packages.iter().map(String::as_str).collect();
    let built = harness::build(&packages, settings.profile)?;
    Ok((built.exes, built.failed))
}

fn run_one(entry: &Entry, s: &Settings, placement: &Placement) -> Result<Figures> {
    match entry.family {
        Family::UdpEcho => run_udp_echo(entry, s, placement),
        Family::Multisocket => run_multisocket(entry, s, placement),
        Family::TcpEcho => run_tcp_echo(entry, s, placement),
        Family::Ident => run_ident(entry, s, placement),
        Family::FutureNotify
        | Family::MioEmpty
        | Family::MioMixed
        | Family::MioPipe
        | Family::UdpWaiters
        | Family::CoopBudget => {
            bail!("{} is a demo: nothing to measure", entry.program)
        }
    }
}

fn ns_per(cpu: Duration, count: u64) -> f64 {
    cpu.as_nanos() as f64 / count.max(1) as f64
}

fn per_second(count: u64, interval: Duration) -> f64 {
    count as f64 / interval.as_secs_f64().max(1e-9)
}

fn summary_figures(f: &mut Figures, counts: &shared::event::Counts) {
    for (key, name) in [
        ("recv", "server_recv"),
        ("sent", "server_sent"),
        ("dropped", "server_dropped"),
    ] {
        if let Some(v) = counts.get(key) {
            f.insert(name, v as f64);
        }
    }
}

fn run_udp_echo(entry: &Entry, s: &Settings, placement: &Placement) -> Result<Figures> {
    // The outgoing queue holds every datagram the load keeps in flight (the blocking
    // baseline has no queue): what is measured is the machinery, not the drop policy.
    let queue = (s.udp_sockets * s.window * 2).to_string();
    let extra: &[&str] = match entry.label {
        Label::Baseline => &[],
        _ => &["--queue", &queue],
    };
    let server = Server::start(&entry.exe, extra, 1, placement)?;
    let addr = server.addrs[0];
    let pid = server.pid();
    let mut probe = || cpu::Cpu::read(pid);
    let throughput = loadgen::run_echo(
        addr,
        &EchoLoad {
            sockets: s.udp_sockets,
            window: s.window,
            payload: s.payload,
            warmup: s.warmup,
            measure: s.measure,
            loss_timeout: s.loss_timeout,
            max_datagrams: s.max_datagrams,
        },
        &mut probe,
    )?;
    let latency = loadgen::run_echo(
        addr,
        &EchoLoad {
            sockets: 1,
            window: 1,
            payload: s.payload,
            warmup: s.latency_warmup,
            measure: s.latency_measure,
            loss_timeout: s.loss_timeout,
            max_datagrams: s.max_datagrams,
        },
        &mut probe,
    )?;
    let rss = server.peak_rss_kib()?;
    let counts = server.stop()?;
    if throughput.echoes == 0 || latency.echoes == 0 {
        bail!("no echo came back during a measured interval");
    }
    let cpu = throughput.server_cpu.1.since(&throughput.server_cpu.0);
    let cpu_w1 = latency.server_cpu.1.since(&latency.server_cpu.0);
    let ticks = |o: &loadgen::EchoOutcome| {
        (o.server_cpu.1.utime_ticks + o.server_cpu.1.stime_ticks)
            .saturating_sub(o.server_cpu.0.utime_ticks + o.server_cpu.0.stime_ticks)
    };
    let mut f = Figures::new();
    f.insert(
        "echoes_per_s",
        per_second(throughput.echoes, throughput.interval),
    );
    f.insert("cpu_per_echo_ns", ns_per(cpu, throughput.echoes));
    f.insert(
        "server_cpu_util",
        cpu.as_secs_f64() / throughput.interval.as_secs_f64(),
    );
    f.insert(
        "client_cpu_util",
        throughput.client_cpu.as_secs_f64() / throughput.interval.as_secs_f64(),
    );
    f.insert("stat_ticks", ticks(&throughput) as f64);
    if let Some(p) = throughput.rtt_percentile(50) {
        f.insert("rtt_w32_p50_us", p as f64 / 1e3);
    }
    f.insert(
        "rtt_p50_us",
        latency.rtt_percentile(50).unwrap_or_default() as f64 / 1e3,
    );
    f.insert(
        "rtt_p99_us",
        latency.rtt_percentile(99).unwrap_or_default() as f64 / 1e3,
    );
    f.insert("cpu_per_echo_w1_ns", ns_per(cpu_w1, latency.echoes));
    f.insert("peak_rss_kib", rss as f64);
    f.insert("losses", (throughput.losses + latency.losses) as f64);
    f.insert("late", (throughput.late + latency.late) as f64);
    f.insert("client_sent", (throughput.sent + latency.sent) as f64);
    f.insert(
        "client_received",
        (throughput.received + latency.received) as f64,
    );
    summary_figures(&mut f, &counts);
    Ok(f)
}

fn run_multisocket(entry: &Entry, s: &Settings, placement: &Placement) -> Result<Figures> {
    let n = entry
        .sockets
        .context("multi-socket entry without a socket count")?;
    let count = n.to_string();
    let server = Server::start(&entry.exe, &["--sockets", &count], n, placement)?;
    let pid = server.pid();
    // Start-up (binding, registering, the first poll of every future) is over when
    // the server goes idle; the measured interval starts there and ends when it is
    // idle again after the last datagram.
    let (c0, _) = cpu::wait_idle(pid, Duration::from_millis(30), Duration::from_secs(5))?;
    let sent = loadgen::spray(
        &server.addrs,
        &SprayLoad {
            rate: s.spray_rate,
            burst: s.spray_burst.min(n),
            duration: s.spray_duration,
            payload: s.payload,
        },
    )?;
    let (c1, idle) = cpu::wait_idle(pid, Duration::from_millis(50), Duration::from_secs(10))?;
    let rss = server.peak_rss_kib()?;
    let counts = server.stop()?;
    let recv = counts
        .get("recv")
        .context("the summary line has no recv= count")?;
    if recv == 0 {
        bail!("the server received none of the {sent} datagrams");
    }
    let mut f = Figures::new();
    f.insert("sockets", n as f64);
    f.insert("datagrams_sent", sent as f64);
    f.insert("datagrams_received", recv as f64);
    f.insert("cpu_per_datagram_ns", ns_per(c1.since(&c0), recv));
    f.insert("went_idle", if idle { 1.0 } else { 0.0 });
    f.insert("peak_rss_kib", rss as f64);
    summary_figures(&mut f, &counts);
    Ok(f)
}

fn run_tcp_echo(entry: &Entry, s: &Settings, placement: &Placement) -> Result<Figures> {
    let server = Server::start(&entry.exe, &[], 1, placement)?;
    let addr = server.addrs[0];
    let pid = server.pid();
    let mut probe = || cpu::Cpu::read(pid);
    let (bytes, bulk) = tcp::bulk_echo(
        addr,
        s.tcp_connections,
        s.tcp_chunk,
        s.warmup,
        s.measure,
        &mut probe,
    )?;
    let (conns, failures, rate) = tcp::connect_rate(
        addr,
        s.connect_workers,
        s.max_connections,
        s.latency_warmup,
        s.latency_measure,
        &mut probe,
    )?;
    let rss = server.peak_rss_kib()?;
    server.stop()?;
    if bytes == 0 {
        bail!("no byte echoed during the measured interval");
    }
    if conns == 0 {
        bail!("no connection completed during the measured interval ({failures} failed)");
    }
    let mb = bytes as f64 / 1e6;
    let mut f = Figures::new();
    f.insert("mb_per_s", mb / bulk.length.as_secs_f64());
    f.insert(
        "cpu_per_mb_us",
        bulk.cpu.1.since(&bulk.cpu.0).as_secs_f64() * 1e6 / mb,
    );
    f.insert("connections_per_s", per_second(conns, rate.length));
    f.insert(
        "cpu_per_connection_us",
        rate.cpu.1.since(&rate.cpu.0).as_secs_f64() * 1e6 / conns as f64,
    );
    f.insert("connect_failures", failures as f64);
    f.insert("peak_rss_kib", rss as f64);
    Ok(f)
}

fn run_ident(entry: &Entry, s: &Settings, placement: &Placement) -> Result<Figures> {
    let server = Server::start(&entry.exe, &[], 1, placement)?;
    let addr = server.addrs[0];
    let pid = server.pid();
    let mut probe = || cpu::Cpu::read(pid);
    let (counts, interval) =
        tcp::ident_queries(addr, s.ident_connections, s.warmup, s.measure, &mut probe)?;
    let rss = server.peak_rss_kib()?;
    server.stop()?;
    if counts.replies == 0 {
        bail!("no reply during the measured interval");
    }
    let mut f = Figures::new();
    f.insert("queries_per_s", per_second(counts.replies, interval.length));
    f.insert(
        "cpu_per_query_us",
        interval.cpu.1.since(&interval.cpu.0).as_secs_f64() * 1e6 / counts.replies as f64,
    );
    f.insert("timeouts", counts.timeouts as f64);
    f.insert("error_replies", counts.error_replies as f64);
    f.insert("peak_rss_kib", rss as f64);
    Ok(f)
}
