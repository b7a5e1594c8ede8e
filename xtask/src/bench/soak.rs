//! `cargo xtask bench --soak [SECS] [PROGRAM…] [--flavor …]`: each server at the
//! highest rate it sustains for SECS seconds (default 60), its resident set sampled
//! every second. Is it flat, and was nothing lost beyond the documented drops?
//!
//! The loads are the bench's own, as closed loops (a client sends again as soon as it
//! is answered), so each server runs as fast as it can keep up:
//!
//! * UDP echo: the throughput load (`--queue 256`). Lost: datagrams whose echo never
//!   came, beyond the server's own queue drops and what the kernel dropped at its full
//!   receive buffer (the `drops` of its socket in `/proc/PID/net/udp`: UDP's
//!   documented loss, when the server is descheduled with 128 datagrams in flight);
//!   its summary must add up, and nothing may be refused.
//! * TCP echo: the bulk load, and beside it the connection-rate load, so that
//!   per-connection state never freed shows as growth. Lost: bytes written and not
//!   echoed by the time each connection closed, and connections that failed.
//! * Ident: 32 clients asking again on every reply. Lost: queries with no reply in
//!   time, and `ERROR` replies.
//!
//! The verdict on memory is taken over the second half of the run
//! (`harness::measure::soak`, which samples and judges). Each server is a typed
//! record (`harness::results::soak`) merged into `soak.json`; exit status 1 if any
//! server errs, loses something or grows.

use std::net::SocketAddr;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use harness::results::bench::Rounds;
use harness::results::soak::*;
use harness::results::{File, Machine, Run};
use harness::{Catalogue, Family, Program, UsageError};
use nix::unistd::Pid;

use super::cells::{fmt_num, titled};
use super::entry::Job;
use super::settings::{Settings, CONNECT_WORKERS};
use super::{plan, udp_echo, Args};
use crate::args::Format;
use harness::load::tcp;
use harness::load::udp::{self, EchoLoad};
use harness::measure::affinity::Placement;
use harness::measure::cpu::{per_second, Cpu};
use harness::measure::server::Server;
use harness::measure::soak::{self, FLAT_RANGE_KIB, FLAT_SLOPE_KIB_PER_MIN};
use harness::measure::udp_table;

/// The shortest and longest soak accepted.
const SECS_RANGE: std::ops::RangeInclusive<u64> = 5..=3600;
/// Short connections per second of soak at most (a bound never reached on loopback).
const CHURN_PER_S: u64 = 20_000;

pub fn main(catalogue: &Catalogue, args: &Args, secs: u64, out: &Path) -> Result<i32> {
    if !SECS_RANGE.contains(&secs) {
        let (low, high) = (SECS_RANGE.start(), SECS_RANGE.end());
        return Err(UsageError(format!("--soak takes {low} to {high} seconds")).into());
    }
    let s = Settings::new(None, None, false, args.profile)?;
    let (started, machine) = (Instant::now(), Machine::here());
    let placement = Placement::choose()?;
    placement.pin_client_thread()?;
    eprintln!("bench --soak: {}", placement.describe());
    let mut jobs = plan::plan(catalogue, &args.programs, args.flavor, soaked)?;
    plan::build(&mut jobs, args.profile)?;
    let bar = indicatif::ProgressBar::new(jobs.len() as u64);
    let mut entries = Vec::new();
    for job in &jobs {
        bar.set_message(format!("{} for {secs} s", job.title()));
        let soaked = job
            .entry
            .skipped
            .is_none()
            .then(|| soak(job, &s, secs, &placement));
        entries.push(SoakEntry {
            program: job.program().into(),
            flavor: job.flavor().into(),
            skipped: job.entry.skipped.clone(),
            error: soaked
                .as_ref()
                .and_then(|r| Some(format!("{:#}", r.as_ref().err()?))),
            settings: settings(&s, secs),
            figures: soaked.and_then(Result::ok),
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let took = started.elapsed();
    let run = Run {
        machine,
        ..Run::now(args.profile.as_str(), took, Vec::new())
    };
    let kept = File::merge_into(out, &run, entries.clone())?;
    let ok = entries.iter().all(SoakEntry::ok);
    if args.format == Format::Json {
        let mut this_run = File::default();
        this_run.merge(&run, entries);
        println!("{}", serde_json::to_string_pretty(&this_run)?);
    } else {
        print!(
            "{}\nkept in {}\n",
            to_table(&entries, secs),
            harness::workspace::relative(&kept)
        );
        println!("command: {}\ntook {:.0} s", run.command, run.took_s);
    }
    Ok(if ok { 0 } else { 1 })
}

fn settings(s: &Settings, seconds: u64) -> SoakSettings {
    SoakSettings {
        seconds,
        flat_slope_kib_per_min: FLAT_SLOPE_KIB_PER_MIN,
        flat_range_kib: FLAT_RANGE_KIB,
        udp_sockets: s.udp_sockets,
        window: s.window,
        payload: s.payload,
        tcp_connections: s.tcp_connections,
        tcp_chunk: s.tcp_chunk,
        churn_workers: CONNECT_WORKERS,
        ident_clients: s.ident_clients,
    }
}

/// A program's soak: one, of a UDP echo, TCP echo or ident server; or why not.
fn soaked(program: &Program, family: Family) -> Result<Vec<Job>, String> {
    let rounds = match family {
        Family::UdpEcho => Rounds::UdpEcho(Vec::new()),
        Family::TcpEcho => Rounds::TcpEcho(Vec::new()),
        Family::Ident => Rounds::Ident(Vec::new()),
        Family::Multisocket => return Err("receives only: no load to sustain".into()),
        Family::FutureNotify
        | Family::MioEmpty
        | Family::MioMixed
        | Family::MioPipe
        | Family::UdpWaiters
        | Family::CoopBudget => return Err("demonstrates one mechanism: nothing to soak".into()),
    };
    Ok(vec![Job::of(program, None, rounds)])
}

/// Soaks one server: starts it, runs its family's load on another thread for `secs`
/// while this one samples RSS every second, stops it.
fn soak(job: &Job, s: &Settings, secs: u64, on: &Placement) -> Result<SoakFigures> {
    let queue = (s.udp_sockets * s.window * 2).to_string();
    let udp = matches!(job.entry.rounds, Rounds::UdpEcho(_));
    let extra: &[&str] = if udp { &["--queue", &queue] } else { &[] };
    let server = Server::start(&job.subject.exe, extra, 1, on)?;
    let (addr, pid) = (server.addrs[0], server.pid());
    let (samples, load) = soak::sample_rss_while(&server, secs, || {
        run_load(&job.entry.rounds, addr, pid, secs, s)
    })?;
    let drops = udp_table::rows(pid.as_raw(), addr)?
        .iter()
        .map(|r| r.drops)
        .sum();
    let (peak, kernel_drops) = (server.peak_rss_kib()?, drops);
    let counts = server.stop()?;
    let load = match load {
        SoakLoad::UdpEcho(mut u) => {
            let get = |key| {
                counts
                    .get(key)
                    .with_context(|| format!("summary without {key}"))
            };
            (u.server_recv, u.server_sent) = (get("recv")?, get("sent")?);
            (u.server_dropped, u.server_refused) = (get("dropped")?, get("refused")?);
            u.kernel_drops = kernel_drops;
            if u.server_recv != u.server_sent + u.server_dropped + u.server_refused {
                bail!("the server's summary does not add up: {counts:?}");
            }
            SoakLoad::UdpEcho(u)
        }
        other => other,
    };
    Ok(soak::figures(samples, peak, load))
}

/// The load of the family of `rounds` against `addr` for `secs`.
fn run_load(
    rounds: &Rounds,
    addr: SocketAddr,
    pid: Pid,
    secs: u64,
    s: &Settings,
) -> Result<SoakLoad> {
    let probe = move || Cpu::read(pid);
    let span = (Duration::ZERO, Duration::from_secs(secs));
    match rounds {
        Rounds::UdpEcho(_) => {
            let load = EchoLoad {
                span,
                max_datagrams: 1_000_000 * secs,
                ..udp_echo::throughput_load(s)
            };
            let o = udp::run_echo(addr, &load, &mut { probe })?;
            let (client_sent, client_received, losses, late) =
                (o.sent, o.received, o.losses, o.late);
            let echoes_per_s = per_second(o.echoes, o.interval);
            let udp = UdpSoak {
                echoes_per_s,
                client_sent,
                client_received,
                losses,
                late,
                ..Default::default()
            };
            Ok(SoakLoad::UdpEcho(udp))
        }
        Rounds::TcpEcho(_) => thread::scope(|scope| {
            let churn = (CONNECT_WORKERS, CHURN_PER_S * secs);
            let churn = scope.spawn(move || tcp::connect_rate(addr, churn, span, &mut { probe }));
            let bulk = tcp::bulk_echo(addr, (s.tcp_connections, s.tcp_chunk), span, &mut { probe });
            let churn = churn
                .join()
                .map_err(|_| anyhow!("the churn thread panicked"))?;
            let ((connections, connect_failures, rate), bulk) = (churn?, bulk?);
            Ok(SoakLoad::TcpEcho(TcpSoak {
                mb_per_s: per_second(bulk.bytes, bulk.interval.length) / 1e6,
                bytes_written: bulk.written,
                bytes_echoed: bulk.echoed,
                connections_per_s: per_second(connections, rate.length),
                connections,
                connect_failures,
            }))
        }),
        Rounds::Ident(_) => {
            let (clients, max_connections) = (s.ident_clients, u64::MAX);
            let load = tcp::IdentLoad {
                clients,
                fresh: false,
                span,
                min_replies: 1,
                max_connections,
            };
            let o = tcp::ident_queries(addr, &load, &mut { probe })?;
            let length = o.interval.map_or(span.1, |i| i.length);
            Ok(SoakLoad::Ident(IdentSoak {
                queries_per_s: per_second(o.replies, length),
                replies: o.replies,
                timeouts: o.failures,
                error_replies: o.error_replies,
            }))
        }
        _ => bail!("no soak load for this family"),
    }
}

fn to_table(entries: &[SoakEntry], secs: u64) -> String {
    let mib = |kib: u64| format!("{:.2}", kib as f64 / 1024.0);
    let row = |e: &SoakEntry| {
        let cells = match (&e.figures, &e.error, &e.skipped) {
            (Some(f), ..) => vec![
                f.load.rate(fmt_num),
                format!("{} → {}", mib(f.rss_start_kib), mib(f.rss_end_kib)),
                format!("{:+.1}", f.slope_kib_per_min),
                f.second_half_range_kib.to_string(),
                if f.flat { "yes" } else { "NO" }.into(),
                f.lost.to_string(),
            ],
            (None, Some(why), _) => vec![format!("error: {why}")],
            (None, None, why) => vec![format!("not soaked: {}", why.as_deref().unwrap_or(""))],
        };
        [e.program.clone(), e.flavor.clone()]
            .into_iter()
            .chain(cells)
            .collect()
    };
    let title = format!(
        "Soak: {secs} s per server at its highest sustained rate; RSS every second; over the \
         second half, its slope (KiB/min) and range; flat: |slope| ≤ {FLAT_SLOPE_KIB_PER_MIN} \
         and range ≤ {FLAT_RANGE_KIB} KiB"
    );
    let header = "program | flavor | load | RSS MiB | KiB/min | range KiB | flat | lost";
    titled(&title, header, entries.iter().map(row).collect())
}
