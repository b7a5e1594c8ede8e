//! `cargo xtask bench --soak [SECS] [PROGRAM…] [--flavor …]`: each server at the
//! highest rate it sustains for SECS seconds (default 60), its resident set sampled
//! every second. Is it flat, and was nothing lost beyond the documented queue drops?
//!
//! The loads are closed loops — each client sends again as soon as it is answered —
//! so each server runs as fast as it can keep up, whatever its flavor:
//!
//! * UDP echo: the bench's throughput load (4 sockets × 32 datagrams of 64 bytes in
//!   flight, `--queue 256`). Lost: datagrams whose echo never came, beyond the
//!   server's own `dropped` (its documented queue drops) and the datagrams the kernel
//!   dropped because the server's socket receive buffer was full (the `drops` of the
//!   socket in `/proc/PID/net/udp`: UDP's documented loss, when the server is
//!   descheduled with 128 datagrams in flight); the server's summary must add up, and
//!   nothing may be refused.
//! * TCP echo: 8 connections streaming 64 KiB writes while reading the echo back, and
//!   beside them a churn of short connections (connect, one byte there and back,
//!   reset), so that per-connection state that is never freed shows as growth. Lost:
//!   bytes written and not echoed by the time each connection closes, and short
//!   connections that failed.
//! * Ident: 32 connections, each asking about itself again on every reply. Lost:
//!   queries with no reply in time, or an `ERROR` reply.
//!
//! The verdict on memory is taken over the second half of the run (the first half
//! holds the warm-up: allocator arenas, rings and buffers reaching their working
//! size): the least-squares slope of RSS against time, in KiB per minute, and the
//! max − min of that half. Flat means both are within [`FLAT_SLOPE_KIB_PER_MIN`] and
//! [`FLAT_RANGE_KIB`]. Output: a table (or `--format json`) and `soak.json` in the
//! output directory; exit status 1 if any server errs, loses something or grows.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use harness::{Catalogue, Family, Profile, Program};
use indicatif::{ProgressBar, ProgressStyle};
use nix::unistd::Pid;
use serde::Serialize;
use serde_json::json;

use super::affinity::Placement;
use super::cpu::Cpu;
use super::entry::Subject;
use super::loadgen::{self, EchoLoad};
use super::report::{fmt_num, table};
use super::server::Server;
use super::{tcp, Skipped};
use crate::args::{self, FlavorArg, Format};

/// The shortest and longest soak accepted.
const SECS_RANGE: std::ops::RangeInclusive<u64> = 5..=3600;
/// Flat: a second-half slope no steeper than this — well under what a leak of one
/// small allocation per unit of work makes at these rates (at 50,000 echoes/s it is
/// 0.09 bytes an echo; at 300 connections/s, 14 bytes a connection; at 100 ident
/// queries/s, 44 bytes a query), and above the noise of a page or two moving in a
/// 10 s half…
pub const FLAT_SLOPE_KIB_PER_MIN: f64 = 256.0;
/// …and a second half whose RSS moves by no more than this (an allocator arena
/// trimmed or grown once, not a trend).
pub const FLAT_RANGE_KIB: u64 = 1024;

const UDP_SOCKETS: usize = 4;
const UDP_WINDOW: usize = 32;
const UDP_PAYLOAD: usize = 64;
const TCP_CONNECTIONS: usize = 8;
const TCP_CHUNK: usize = 64 * 1024;
/// Threads opening short connections beside the bulk load (each has one connection
/// at a time; with fewer, the 16 bulk threads on the client CPU starve them), and the
/// short connections per second of soak at most (a bound never reached on loopback).
const CHURN_WORKERS: usize = 4;
const CHURN_PER_S: u64 = 20_000;
const IDENT_CONNECTIONS: usize = 32;
/// How long a TCP client waits for the rest of its echo after it stops writing.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// One RSS reading, `t_s` seconds after the load started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RssSample {
    pub t_s: f64,
    pub rss_kib: u64,
}

/// What the UDP echo load counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct UdpSoak {
    pub echoes_per_s: f64,
    pub client_sent: u64,
    pub client_received: u64,
    /// Given up after the loss timeout, and of those, the echoes that came later.
    pub losses: u64,
    pub late: u64,
    pub server_recv: u64,
    pub server_sent: u64,
    pub server_dropped: u64,
    pub server_refused: u64,
    /// Datagrams the kernel dropped at the server's socket, its receive buffer full.
    pub kernel_drops: u64,
}

/// What the TCP echo load counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TcpSoak {
    pub mb_per_s: f64,
    pub bytes_written: u64,
    pub bytes_echoed: u64,
    pub connections_per_s: f64,
    pub connections: u64,
    pub connect_failures: u64,
}

/// What the ident load counted.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IdentSoak {
    pub queries_per_s: f64,
    pub replies: u64,
    pub timeouts: u64,
    pub error_replies: u64,
}

/// The load of one soak, by family.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum SoakLoad {
    UdpEcho(UdpSoak),
    TcpEcho(TcpSoak),
    Ident(IdentSoak),
}

impl SoakLoad {
    /// What was lost beyond the documented queue drops (see the module header).
    pub fn lost(&self) -> u64 {
        match self {
            SoakLoad::UdpEcho(u) => (u.losses.saturating_sub(u.late))
                .saturating_sub(u.server_dropped + u.kernel_drops)
                .saturating_add(u.server_refused),
            SoakLoad::TcpEcho(t) => {
                (t.bytes_written.saturating_sub(t.bytes_echoed)) + t.connect_failures
            }
            SoakLoad::Ident(i) => i.timeouts + i.error_replies,
        }
    }

    /// The rate, for the table.
    fn rate(&self) -> String {
        match self {
            SoakLoad::UdpEcho(u) => format!("{} echoes/s", fmt_num(u.echoes_per_s)),
            SoakLoad::TcpEcho(t) => format!(
                "{} MB/s + {} conn/s",
                fmt_num(t.mb_per_s),
                fmt_num(t.connections_per_s)
            ),
            SoakLoad::Ident(i) => format!("{} queries/s", fmt_num(i.queries_per_s)),
        }
    }
}

/// The figures of one soak.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SoakFigures {
    pub seconds: f64,
    pub samples: Vec<RssSample>,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub peak_rss_kib: u64,
    /// Least-squares slope of RSS over the second half, KiB per minute.
    pub slope_kib_per_min: f64,
    /// Max − min of RSS over the second half.
    pub second_half_range_kib: u64,
    pub flat: bool,
    /// Lost beyond the documented queue drops.
    pub lost: u64,
    pub load: SoakLoad,
}

impl SoakFigures {
    fn new(samples: Vec<RssSample>, peak_rss_kib: u64, load: SoakLoad) -> SoakFigures {
        let (slope_kib_per_min, second_half_range_kib) = second_half(&samples);
        SoakFigures {
            seconds: samples.last().map_or(0.0, |s| s.t_s),
            rss_start_kib: samples.first().map_or(0, |s| s.rss_kib),
            rss_end_kib: samples.last().map_or(0, |s| s.rss_kib),
            peak_rss_kib,
            slope_kib_per_min,
            second_half_range_kib,
            flat: slope_kib_per_min.abs() <= FLAT_SLOPE_KIB_PER_MIN
                && second_half_range_kib <= FLAT_RANGE_KIB,
            lost: load.lost(),
            samples,
            load,
        }
    }
}

/// The slope (KiB/min, least squares) and the max − min of the samples of the second
/// half of the run.
pub fn second_half(samples: &[RssSample]) -> (f64, u64) {
    let end = samples.last().map_or(0.0, |s| s.t_s);
    let half: Vec<&RssSample> = samples.iter().filter(|s| s.t_s >= end / 2.0).collect();
    let range = match (
        half.iter().map(|s| s.rss_kib).max(),
        half.iter().map(|s| s.rss_kib).min(),
    ) {
        (Some(max), Some(min)) => max - min,
        _ => 0,
    };
    let n = half.len() as f64;
    if half.len() < 2 {
        return (0.0, range);
    }
    let mean_t = half.iter().map(|s| s.t_s).sum::<f64>() / n;
    let mean_r = half.iter().map(|s| s.rss_kib as f64).sum::<f64>() / n;
    let cov: f64 = (half.iter())
        .map(|s| (s.t_s - mean_t) * (s.rss_kib as f64 - mean_r))
        .sum();
    let var: f64 = half.iter().map(|s| (s.t_s - mean_t).powi(2)).sum();
    let per_s = if var > 0.0 { cov / var } else { 0.0 };
    (per_s * 60.0, range)
}

/// One server soaked, or why not.
struct SoakEntry {
    subject: Subject,
    family: Family,
    outcome: Result<SoakFigures, String>,
}

impl SoakEntry {
    fn ok(&self) -> bool {
        matches!(&self.outcome, Ok(f) if f.flat && f.lost == 0)
    }
}

pub fn main(
    programs: &[String],
    flavor: Option<FlavorArg>,
    secs: u64,
    profile: Profile,
    format: Format,
    out_dir: &Path,
) -> Result<i32> {
    if !SECS_RANGE.contains(&secs) {
        return Err(harness::UsageError(format!(
            "--soak takes {} to {} seconds",
            SECS_RANGE.start(),
            SECS_RANGE.end()
        ))
        .into());
    }
    let started = Instant::now();
    let placement = Placement::choose()?;
    placement.pin_client_thread()?;
    eprintln!("bench --soak: {}", placement.describe());
    let (mut subjects, mut skipped) = plan(programs, flavor)?;
    if subjects.is_empty() {
        bail!("nothing to soak");
    }
    build(&mut subjects, &mut skipped, profile)?;

    let duration = Duration::from_secs(secs);
    let bar = ProgressBar::new(subjects.len() as u64).with_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} {msg}")
            .context("progress bar template")?
            .progress_chars("=> "),
    );
    let mut entries = Vec::new();
    for (subject, family) in subjects {
        bar.set_message(format!("{} for {secs} s", subject.title()));
        let outcome = soak(&subject, family, duration, &placement).map_err(|e| format!("{e:#}"));
        if let Err(e) = &outcome {
            bar.println(format!("  {}: {e}", subject.title()));
        }
        entries.push(SoakEntry {
            subject,
            family,
            outcome,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();

    let command = format!(
        "cargo xtask {}",
        std::env::args().skip(1).collect::<Vec<_>>().join(" ")
    );
    let json = to_json(&entries, &skipped, secs, profile, &placement, &command);
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let path = out_dir.join("soak.json");
    let text = serde_json::to_string_pretty(&json)?;
    std::fs::write(&path, text.clone() + "\n")
        .with_context(|| format!("cannot write {}", path.display()))?;
    match format {
        Format::Json => println!("{text}"),
        Format::Table => {
            print!("{}", to_table(&entries, &skipped, secs));
            println!("\nwritten: {}", path.display());
            println!("command: {command}");
            println!("took {:.0} s", started.elapsed().as_secs_f64());
        }
    }
    Ok(if entries.iter().all(SoakEntry::ok) {
        0
    } else {
        1
    })
}

/// The servers to soak (every program of a soaked family, in catalogue order), and
/// what is skipped with the reason.
fn plan(programs: &[String], flavor: Option<FlavorArg>) -> Result<(Vec<Soaked>, Vec<Skipped>)> {
    let catalogue = Catalogue::load()?;
    let flavors = args::flavors(flavor);
    let mut subjects = Vec::new();
    let mut skipped = Vec::new();
    for program in catalogue.select(programs, None)? {
        if !flavors.contains(&program.flavor) {
            continue;
        }
        let family = program.family()?;
        match soaked(&program, family) {
            Ok(()) => subjects.push((Subject::of(&program, None), family)),
            Err(reason) => skipped.push(Skipped {
                program: format!("{} {}", program.name, program.flavor_label()),
                reason,
            }),
        }
    }
    Ok((subjects, skipped))
}

/// A server to soak and the family whose load it gets.
type Soaked = (Subject, Family);

/// Whether `program` is soaked here, or why not.
fn soaked(program: &Program, family: Family) -> Result<(), String> {
    match family {
        Family::UdpEcho | Family::TcpEcho | Family::Ident => {}
        Family::Multisocket => return Err("receives only: no load to sustain".into()),
        Family::FutureNotify
        | Family::MioEmpty
        | Family::MioMixed
        | Family::MioPipe
        | Family::UdpWaiters
        | Family::CoopBudget => return Err("demonstrates one mechanism: nothing to soak".into()),
    }
    match harness::needs::unmet(&program.declared.needs, harness::needs::machine) {
        Some(why) => Err(why),
        None => Ok(()),
    }
}

/// Builds every subject's package; a subject that does not build is skipped.
fn build(subjects: &mut Vec<Soaked>, skipped: &mut Vec<Skipped>, profile: Profile) -> Result<()> {
    let mut packages: Vec<&str> = subjects.iter().map(|(s, _)| s.package.as_str()).collect();
    packages.sort();
    packages.dedup();
    eprintln!(
        "bench --soak: building {} packages (profile {profile})",
        packages.len()
    );
    let built = harness::build(&packages, profile)?;
    subjects.retain_mut(|(subject, _)| {
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
        skipped.push(Skipped {
            program: subject.title(),
            reason,
        });
        false
    });
    Ok(())
}

/// Resident set size (`VmRSS` of `/proc/PID/status`), in KiB.
fn rss_kib(pid: Pid) -> Result<u64> {
    let path = format!("/proc/{pid}/status");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no VmRSS in {path}"))
}

/// The datagrams the kernel dropped at the UDP socket of `pid` bound at `addr`
/// (`drops`, the last column of `/proc/PID/net/udp` or `udp6`); 0 for a TCP server.
fn socket_drops(pid: Pid, addr: SocketAddr) -> Result<u64> {
    let table = if addr.is_ipv4() { "udp" } else { "udp6" };
    let path = format!("/proc/{pid}/net/{table}");
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let port = fields.get(1)?.rsplit(':').next()?;
            (u16::from_str_radix(port, 16).ok()? == addr.port())
                .then(|| fields.last()?.parse::<u64>().ok())
                .flatten()
        })
        .sum())
}

/// Soaks one server: starts it, runs its family's load on another thread for
/// `duration` while this one samples RSS every second, stops it.
fn soak(
    subject: &Subject,
    family: Family,
    duration: Duration,
    placement: &Placement,
) -> Result<SoakFigures> {
    let queue = (UDP_SOCKETS * UDP_WINDOW * 2).to_string();
    let extra: &[&str] = match family {
        Family::UdpEcho => &["--queue", &queue],
        _ => &[],
    };
    let server = Server::start(&subject.exe, extra, 1, placement)?;
    let (addr, pid) = (server.addrs[0], server.pid());
    let start = Instant::now();
    let mut samples = vec![RssSample {
        t_s: 0.0,
        rss_kib: rss_kib(pid)?,
    }];
    let load = thread::spawn(move || run_load(family, addr, pid, duration));
    let mut next = 1u32;
    while !load.is_finished() {
        let due = start + Duration::from_secs(next.into());
        match due.checked_duration_since(Instant::now()) {
            Some(wait) => thread::sleep(wait.min(Duration::from_millis(100))),
            None => {
                if due <= start + duration {
                    samples.push(RssSample {
                        t_s: start.elapsed().as_secs_f64(),
                        rss_kib: rss_kib(pid)?,
                    });
                }
                next += 1;
            }
        }
    }
    let load = load
        .join()
        .map_err(|_| anyhow!("the load thread panicked"))??;
    let peak = server.peak_rss_kib()?;
    let kernel_drops = socket_drops(pid, addr)?;
    let counts = server.stop()?;
    let load = match load {
        SoakLoad::UdpEcho(mut u) => {
            let get = |key| {
                counts
                    .get(key)
                    .with_context(|| format!("summary without {key}"))
            };
            (
                u.server_recv,
                u.server_sent,
                u.server_dropped,
                u.server_refused,
            ) = (get("recv")?, get("sent")?, get("dropped")?, get("refused")?);
            u.kernel_drops = kernel_drops;
            if u.server_recv != u.server_sent + u.server_dropped + u.server_refused {
                bail!("the server's summary does not add up: {counts:?}");
            }
            SoakLoad::UdpEcho(u)
        }
        other => other,
    };
    Ok(SoakFigures::new(samples, peak, load))
}

/// The load of `family` against `addr` for `duration`.
fn run_load(family: Family, addr: SocketAddr, pid: Pid, duration: Duration) -> Result<SoakLoad> {
    let mut probe = move || Cpu::read(pid);
    match family {
        Family::UdpEcho => {
            let load = EchoLoad {
                sockets: UDP_SOCKETS,
                window: UDP_WINDOW,
                payload: UDP_PAYLOAD,
                warmup: Duration::ZERO,
                measure: duration,
                loss_timeout: Duration::from_millis(500),
                max_datagrams: 1_000_000 * duration.as_secs().max(1),
                gso_segments: None,
            };
            let o = loadgen::run_echo(addr, &load, &mut probe)?;
            Ok(SoakLoad::UdpEcho(UdpSoak {
                echoes_per_s: o.echoes as f64 / o.interval.as_secs_f64().max(1e-9),
                client_sent: o.sent,
                client_received: o.received,
                losses: o.losses,
                late: o.late,
                ..UdpSoak::default()
            }))
        }
        Family::TcpEcho => {
            let max = CHURN_PER_S * duration.as_secs().max(1);
            let churn = thread::spawn(move || {
                tcp::connect_rate(
                    addr,
                    CHURN_WORKERS,
                    max,
                    Duration::ZERO,
                    duration,
                    &mut move || Cpu::read(pid),
                )
            });
            let bulk = checked_bulk_echo(addr, duration);
            let (connections, connect_failures, interval) = churn
                .join()
                .map_err(|_| anyhow!("the churn thread panicked"))??;
            let (bytes_written, bytes_echoed, elapsed) = bulk?;
            Ok(SoakLoad::TcpEcho(TcpSoak {
                mb_per_s: bytes_echoed as f64 / 1e6 / elapsed.as_secs_f64().max(1e-9),
                bytes_written,
                bytes_echoed,
                connections_per_s: connections as f64 / interval.length.as_secs_f64().max(1e-9),
                connections,
                connect_failures,
            }))
        }
        Family::Ident => {
            let load = tcp::IdentLoad {
                clients: IDENT_CONNECTIONS,
                fresh: false,
                warmup: Duration::ZERO,
                measure: duration,
                min_replies: 1,
                max_connections: u64::MAX,
            };
            let o = tcp::ident_queries(addr, &load, &mut probe)?;
            let seconds = o.interval.map_or(duration, |i| i.length).as_secs_f64();
            Ok(SoakLoad::Ident(IdentSoak {
                queries_per_s: o.replies as f64 / seconds.max(1e-9),
                replies: o.replies,
                timeouts: o.failures,
                error_replies: o.error_replies,
            }))
        }
        other => bail!("no soak load for the {other:?} family"),
    }
}

/// Bulk echo that keeps count: [`TCP_CONNECTIONS`] connections, each writing
/// [`TCP_CHUNK`]-byte writes for `duration` while another thread reads the echo back;
/// then each stops writing (a half close) and reads the rest until the server closes.
/// Returns the bytes written and echoed over all connections, and the time it took.
fn checked_bulk_echo(addr: SocketAddr, duration: Duration) -> Result<(u64, u64, Duration)> {
    let start = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let mut pairs = Vec::new();
    for _ in 0..TCP_CONNECTIONS {
        let stream = TcpStream::connect(addr).context("connect")?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(DRAIN_TIMEOUT))?;
        // Short, so that a writer blocked by a server that stopped reading still sees
        // the stop flag.
        stream.set_write_timeout(Some(Duration::from_millis(200)))?;
        let (mut reader, mut writer) = (stream.try_clone()?, stream);
        let stop = stop.clone();
        let write = thread::spawn(move || -> Result<u64> {
            let data = vec![0x5au8; TCP_CHUNK];
            let mut written = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match writer.write(&data) {
                    Ok(n) => written += n as u64,
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(e) => return Err(e).context("write"),
                }
            }
            writer.shutdown(Shutdown::Write).context("half close")?;
            Ok(written)
        });
        let read = thread::spawn(move || -> Result<u64> {
            let mut buf = vec![0u8; TCP_CHUNK];
            let mut echoed = 0u64;
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => return Ok(echoed),
                    Ok(n) => echoed += n as u64,
                    Err(e) => return Err(e).context("read the echo"),
                }
            }
        });
        pairs.push((write, read));
    }
    thread::sleep(duration);
    stop.store(true, Ordering::Relaxed);
    let (mut written, mut echoed) = (0, 0);
    for (write, read) in pairs {
        written += write.join().map_err(|_| anyhow!("a writer panicked"))??;
        // A reader that times out waiting for the rest has lost it: count what came.
        echoed += read
            .join()
            .map_err(|_| anyhow!("a reader panicked"))?
            .unwrap_or(0);
    }
    Ok((written, echoed, start.elapsed()))
}

fn to_json(
    entries: &[SoakEntry],
    skipped: &[Skipped],
    secs: u64,
    profile: Profile,
    placement: &Placement,
    command: &str,
) -> serde_json::Value {
    let entries: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let mut v = json!({
                "program": e.subject.program,
                "flavor": e.subject.label.to_string(),
                "family": super::family_key(e.family),
            });
            match &e.outcome {
                Ok(f) => v["figures"] = json!(f),
                Err(why) => v["error"] = json!(why),
            }
            v
        })
        .collect();
    let skipped: Vec<serde_json::Value> = (skipped.iter())
        .map(|s| json!({ "program": s.program, "reason": s.reason }))
        .collect();
    json!({
        "command": command,
        "method": {
            "seconds": secs,
            "profile": profile.to_string(),
            "rss_sampled_every_s": 1,
            "verdict_over": "second half",
            "flat_slope_kib_per_min": FLAT_SLOPE_KIB_PER_MIN,
            "flat_range_kib": FLAT_RANGE_KIB,
            "placement": placement.describe(),
            "udp": { "sockets": UDP_SOCKETS, "window": UDP_WINDOW, "payload": UDP_PAYLOAD },
            "tcp": { "connections": TCP_CONNECTIONS, "chunk": TCP_CHUNK, "churn_workers": CHURN_WORKERS },
            "ident": { "connections": IDENT_CONNECTIONS },
        },
        "entries": entries,
        "skipped": skipped,
    })
}

fn to_table(entries: &[SoakEntry], skipped: &[Skipped], secs: u64) -> String {
    let header = [
        "program",
        "flavor",
        "load",
        "RSS start → end MiB",
        "slope KiB/min",
        "2nd-half range KiB",
        "flat",
        "lost",
    ];
    let mib = |kib: u64| format!("{:.2}", kib as f64 / 1024.0);
    let rows = entries
        .iter()
        .map(|e| {
            let mut row = vec![e.subject.program.clone(), e.subject.label.to_string()];
            match &e.outcome {
                Ok(f) => row.extend([
                    f.load.rate(),
                    format!("{} → {}", mib(f.rss_start_kib), mib(f.rss_end_kib)),
                    format!("{:+.1}", f.slope_kib_per_min),
                    f.second_half_range_kib.to_string(),
                    if f.flat { "yes" } else { "NO" }.into(),
                    f.lost.to_string(),
                ]),
                Err(why) => row.extend(["error: ".to_string() + why]),
            }
            row
        })
        .collect();
    let mut out = format!(
        "Soak: {secs} s per server at its highest sustained rate; RSS every second, verdict over \
         the second half (flat: |slope| ≤ {FLAT_SLOPE_KIB_PER_MIN} KiB/min and range ≤ \
         {FLAT_RANGE_KIB} KiB)\n"
    );
    out += &table(&header, rows);
    for s in skipped {
        out += &format!("skipped: {}: {}\n", s.program, s.reason);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: impl Fn(u32) -> u64, secs: u32) -> Vec<RssSample> {
        (0..=secs)
            .map(|t| RssSample {
                t_s: t.into(),
                rss_kib: rss(t),
            })
            .collect()
    }

    #[test]
    fn a_steady_leak_has_its_slope_and_a_plateau_none() {
        // 10 KiB a second: 600 KiB a minute, over the whole run.
        let (slope, range) = second_half(&samples(|t| 4000 + 10 * u64::from(t), 60));
        assert!((slope - 600.0).abs() < 1e-6, "{slope}");
        assert_eq!(range, 300);
        // Growth in the first half only (a warm-up), then flat.
        let (slope, range) = second_half(&samples(|t| 4000 + 100 * u64::from(t.min(20)), 60));
        assert_eq!((slope, range), (0.0, 0));
    }

    #[test]
    fn the_verdict_needs_both_flat_and_nothing_lost() {
        let load = SoakLoad::Ident(IdentSoak::default());
        let flat = SoakFigures::new(samples(|t| 5000 + u64::from(t % 2) * 4, 20), 5004, load);
        assert!(flat.flat && flat.lost == 0);
        assert_eq!(
            (flat.rss_start_kib, flat.rss_end_kib, flat.seconds),
            (5000, 5000, 20.0)
        );
        let leak = SoakFigures::new(
            samples(|t| 5000 + 20 * u64::from(t), 20),
            9000,
            SoakLoad::Ident(IdentSoak::default()),
        );
        assert!(!leak.flat);
        let udp = SoakLoad::UdpEcho(UdpSoak {
            losses: 10,
            late: 3,
            server_dropped: 4,
            kernel_drops: 1,
            ..UdpSoak::default()
        });
        assert_eq!(
            udp.lost(),
            2,
            "7 never came back, 5 of them documented drops"
        );
        let drops = socket_drops(Pid::this(), "127.0.0.1:9".parse().unwrap()).unwrap();
        assert_eq!(drops, 0, "no socket of ours on port 9");
        let tcp = SoakLoad::TcpEcho(TcpSoak {
            bytes_written: 100,
            bytes_echoed: 90,
            connect_failures: 1,
            ..TcpSoak::default()
        });
        assert_eq!(tcp.lost(), 11);
        let json = serde_json::to_value(&flat).unwrap();
        assert_eq!(json["load"]["family"], "ident");
        assert_eq!(json["samples"][1], json!({"t_s": 1.0, "rss_kib": 5004}));
    }
}
