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
//! The verdict on memory is taken over the second half of the run (the first holds
//! the warm-up: arenas, rings and buffers reaching their working size): the
//! least-squares slope of RSS against time, and its range. Each server is a typed
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
use harness::measure::cpu::{self, per_second, Cpu};
use harness::measure::server::Server;

/// The shortest and longest soak accepted.
const SECS_RANGE: std::ops::RangeInclusive<u64> = 5..=3600;
/// Flat: a second-half slope no steeper than this — well under what a leak of one
/// small allocation per unit of work makes at these rates (at 50,000 echoes/s it is
/// 0.09 bytes an echo; at 300 connections/s, 14 bytes a connection; at 100 ident
/// queries/s, 44 bytes a query), and above the noise of a page or two moving in a
/// 10 s half…
const FLAT_SLOPE_KIB_PER_MIN: f64 = 256.0;
/// …and a second half whose RSS moves by no more than this (an allocator arena
/// trimmed or grown once, not a trend).
const FLAT_RANGE_KIB: u64 = 1024;
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
    let (addr, pid, start) = (server.addrs[0], server.pid(), Instant::now());
    let sample = || -> Result<RssSample> {
        Ok(RssSample {
            t_s: start.elapsed().as_secs_f64(),
            rss_kib: cpu::rss_kib(pid)?,
        })
    };
    let mut samples = vec![sample()?];
    let load = thread::scope(|scope| {
        let load = scope.spawn(|| run_load(&job.entry.rounds, addr, pid, secs, s));
        for second in 1..=secs {
            let due = start + Duration::from_secs(second);
            while !load.is_finished() && Instant::now() < due {
                thread::sleep(Duration::from_millis(10));
            }
            if load.is_finished() {
                break;
            }
            samples.push(sample()?);
        }
        load.join()
            .map_err(|_| anyhow!("the load thread panicked"))?
    })?;
    let (peak, kernel_drops) = (server.peak_rss_kib()?, socket_drops(pid, addr)?);
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
    Ok(figures(samples, peak, load))
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

/// The verdict on `samples`, and what `load` lost.
fn figures(samples: Vec<RssSample>, peak_rss_kib: u64, load: SoakLoad) -> SoakFigures {
    let (slope_kib_per_min, second_half_range_kib) = second_half(&samples);
    let flat = slope_kib_per_min.abs() <= FLAT_SLOPE_KIB_PER_MIN
        && second_half_range_kib <= FLAT_RANGE_KIB;
    let (first, last) = (samples.first().copied(), samples.last().copied());
    SoakFigures {
        seconds: last.map_or(0.0, |s| s.t_s),
        rss_start_kib: first.map_or(0, |s| s.rss_kib),
        rss_end_kib: last.map_or(0, |s| s.rss_kib),
        peak_rss_kib,
        slope_kib_per_min,
        second_half_range_kib,
        flat,
        lost: lost(&load),
        samples,
        load,
    }
}

/// What was lost beyond the documented drops (see the module header).
fn lost(load: &SoakLoad) -> u64 {
    match load {
        SoakLoad::UdpEcho(u) => (u.losses.saturating_sub(u.late))
            .saturating_sub(u.server_dropped + u.kernel_drops)
            .saturating_add(u.server_refused),
        SoakLoad::TcpEcho(t) => t.bytes_written.saturating_sub(t.bytes_echoed) + t.connect_failures,
        SoakLoad::Ident(i) => i.timeouts + i.error_replies,
    }
}

/// The slope (KiB/min, least squares) and the max − min of the samples of the second
/// half of the run.
fn second_half(samples: &[RssSample]) -> (f64, u64) {
    let end = samples.last().map_or(0.0, |s| s.t_s);
    let half: Vec<(f64, f64)> = (samples.iter())
        .filter(|s| s.t_s >= end / 2.0)
        .map(|s| (s.t_s, s.rss_kib as f64))
        .collect();
    let rss = half.iter().map(|&(_, r)| r);
    let range = rss.clone().reduce(f64::max).unwrap_or(0.0) - rss.reduce(f64::min).unwrap_or(0.0);
    let n = half.len().max(1) as f64;
    let sum = half
        .iter()
        .fold((0.0, 0.0), |(t, r), &(ti, ri)| (t + ti, r + ri));
    let (mean_t, mean_r) = (sum.0 / n, sum.1 / n);
    let cov: f64 = half.iter().map(|&(t, r)| (t - mean_t) * (r - mean_r)).sum();
    let var: f64 = half.iter().map(|&(t, _)| (t - mean_t).powi(2)).sum();
    let per_s = if var > 0.0 { cov / var } else { 0.0 };
    (per_s * 60.0, range as u64)
}

/// The datagrams the kernel dropped at the UDP socket of `pid` bound at `addr`
/// (`drops`, the last column of `/proc/PID/net/udp` or `udp6`); 0 for a TCP server.
fn socket_drops(pid: Pid, addr: SocketAddr) -> Result<u64> {
    let path = format!(
        "/proc/{pid}/net/udp{}",
        if addr.is_ipv4() { "" } else { "6" }
    );
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let drops = text.lines().skip(1).filter_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let port = fields.get(1)?.rsplit(':').next()?;
        let ours = u16::from_str_radix(port, 16).ok()? == addr.port();
        ours.then(|| fields.last()?.parse::<u64>().ok()).flatten()
    });
    Ok(drops.sum())
}

fn to_table(entries: &[SoakEntry], secs: u64) -> String {
    let mib = |kib: u64| format!("{:.2}", kib as f64 / 1024.0);
    let row = |e: &SoakEntry| {
        let cells = match (&e.figures, &e.error, &e.skipped) {
            (Some(f), ..) => vec![
                rate(&f.load),
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

/// The rate a load ran at.
fn rate(load: &SoakLoad) -> String {
    match load {
        SoakLoad::UdpEcho(u) => format!("{} echoes/s", fmt_num(u.echoes_per_s)),
        SoakLoad::TcpEcho(t) => {
            let (mb, conn) = (fmt_num(t.mb_per_s), fmt_num(t.connections_per_s));
            format!("{mb} MB/s, {conn} conn/s")
        }
        SoakLoad::Ident(i) => format!("{} queries/s", fmt_num(i.queries_per_s)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: impl Fn(u64) -> u64, secs: u64) -> Vec<RssSample> {
        let sample = |t: u64| RssSample {
            t_s: t as f64,
            rss_kib: rss(t),
        };
        (0..=secs).map(sample).collect()
    }

    #[test]
    fn a_steady_leak_has_its_slope_and_a_plateau_none() {
        // 10 KiB a second: 600 KiB a minute, over the whole run.
        let (slope, range) = second_half(&samples(|t| 4000 + 10 * t, 60));
        assert!(
            (slope - 600.0).abs() < 1e-6 && range == 300,
            "{slope} {range}"
        );
        // Growth in the first half only (a warm-up), then flat.
        assert_eq!(
            second_half(&samples(|t| 4000 + 100 * t.min(20), 60)),
            (0.0, 0)
        );
    }

    #[test]
    fn the_verdict_needs_both_flat_and_nothing_lost() {
        let ident = || SoakLoad::Ident(IdentSoak::default());
        let flat = figures(samples(|t| 5000 + (t % 2) * 4, 20), 5004, ident());
        assert!(flat.flat && flat.lost == 0);
        assert_eq!(
            (flat.rss_start_kib, flat.rss_end_kib, flat.seconds),
            (5000, 5000, 20.0)
        );
        assert!(!figures(samples(|t| 5000 + 20 * t, 20), 9000, ident()).flat);
        let (losses, late, server_dropped, kernel_drops) = (10, 3, 4, 1);
        let udp = UdpSoak {
            losses,
            late,
            server_dropped,
            kernel_drops,
            ..Default::default()
        };
        assert_eq!(
            lost(&SoakLoad::UdpEcho(udp)),
            2,
            "7 never came back, 5 documented drops"
        );
        let tcp = TcpSoak {
            bytes_written: 100,
            bytes_echoed: 90,
            connect_failures: 1,
            ..Default::default()
        };
        assert_eq!(lost(&SoakLoad::TcpEcho(tcp)), 11);
        let drops = socket_drops(Pid::this(), "127.0.0.1:9".parse().unwrap()).unwrap();
        assert_eq!(drops, 0, "no socket of ours on port 9");
    }
}
