//! `cargo xtask bench --perf [PROGRAM…]`: where each UDP echo server's CPU goes. The
//! bench's UDP echo entries (baselines included) under its throughput load, those
//! that run the next-era loads under GSO-sending peers too, and the depth sweep's
//! programs at 64 in flight on one socket, perf recording the server's CPU over the
//! measured interval (`harness::measure::perf`), in interleaved rounds; merged into
//! `profile.json`, and the targets the profile sets into `bench.json`'s ratios.
//! Where perf cannot record, each says why.

use std::path::Path;
use std::time::Instant;

use anyhow::{anyhow, Result};
use harness::load::udp::{gso_available, EchoLoad};
use harness::measure::{affinity::Placement, perf::Perf, perf::FREQUENCY_HZ};
use harness::results::bench::{BenchRecord, Ratio, Rounds};
use harness::results::profile::{self, held_to, Bucket, Load, ProfileEntry, DEEP};
use harness::results::{File, Machine, Run};
use harness::{workspace::relative, Catalogue};

use super::entry::{Job, MODERN, NEXT};
use super::next_era::{self, RUNTIME_PROGRAMS, URING_PROGRAM};
use super::ratio::at_most;
use super::{cells::ratio_tables, depth, families, plan, settings::Settings, udp_echo, Args};
use crate::args::Format;

pub fn main(catalogue: &Catalogue, args: &Args, out: &Path) -> Result<i32> {
    let s = Settings::new(args.duration, args.rounds, args.quick, args.profile)?;
    // Files this run cannot merge into are said before it measures, not after.
    File::<ProfileEntry>::load(out)?;
    File::<BenchRecord>::load(out)?;
    let (started, machine, on) = (Instant::now(), Machine::here(), Placement::choose()?);
    on.pin_client_thread()?;
    let mut jobs = plan::plan(catalogue, &args.programs, args.flavor, families::jobs_of)?;
    jobs.retain(|j| matches!(j.entry.rounds, Rounds::UdpEcho(_)));
    plan::references(catalogue, &mut jobs);
    plan::build(&mut jobs, s.profile)?;
    let perf = Perf::find(&on);
    let runs = |j: &Job, l| match l {
        Load::Throughput => true,
        Load::GsoPeers => j.subject.next_era_loads,
        Load::Deep => depth::swept(j),
    };
    let all = [Load::Throughput, Load::GsoPeers, Load::Deep];
    let pairs = jobs.iter().flat_map(|j| all.map(|l| (j, l)));
    let mut entries: Vec<(&Job, ProfileEntry)> = (pairs.filter(|&(j, l)| runs(j, l)))
        .map(|(j, l)| {
            let why = (j.entry.skipped.clone()).or(perf.as_ref().err().cloned());
            let gso = (l == Load::GsoPeers).then(gso_available);
            let why = why.or(gso.and_then(Result::err));
            let names = (j.program(), j.flavor());
            (
                j,
                ProfileEntry::new(names, l, why, (s.record.clone(), FREQUENCY_HZ)),
            )
        })
        .collect();
    let throughput = udp_echo::throughput_load(&s);
    let gso = EchoLoad {
        span: s.span(),
        ..next_era::gso_bulk(&s)
    };
    let deep = EchoLoad {
        sockets: 1,
        window: DEEP,
        ..throughput
    };
    let loads = [throughput, gso, deep];
    let mut todo: Vec<_> = entries
        .iter_mut()
        .filter(|(_, e)| e.skipped.is_none())
        .collect();
    let load = super::in_rounds(
        &mut todo,
        (s.rounds, machine.cores),
        |(_, e)| e.title(),
        |(job, e), round| {
            let perf = perf.as_ref().map_err(|why| anyhow!("{why}"))?;
            let server = udp_echo::start(job, &s, &on);
            let r = server.and_then(|server| perf.echo(server, &loads[e.load as usize]));
            let said = r.as_ref().err().map(|e| anyhow!("{e:#}"));
            e.record(round, r);
            said.map_or(Ok(()), Err)
        },
    )?;
    let mut run = Run::now(s.profile.as_str(), started.elapsed(), load);
    run.machine = machine;
    let entries: Vec<ProfileEntry> = entries.into_iter().map(|(_, e)| e).collect();
    let kept = relative(&File::merge_into(out, &run, entries.clone())?);
    let ratios = targets(&entries);
    File::merge_into(
        out,
        &run,
        ratios.iter().cloned().map(BenchRecord::Ratio).collect(),
    )?;
    let errors = entries.iter().any(|e| !e.errors.is_empty());
    let mut this_run = File::default();
    this_run.merge(&run, entries.clone());
    let said = match args.format {
        Format::Json => serde_json::to_string_pretty(&this_run)?,
        Format::Table => {
            let kept = format!("{}kept in {kept}\n", ratio_tables(&ratios));
            profile::table(&entries) + &kept + &super::describe(&run)
        }
    };
    println!("{said}");
    Ok(i32::from(errors))
}

/// The targets the profile sets, on its own rounds: echo-uring, 64 in flight on one
/// socket, at most raw epoll-edge's CPU per echo less 80 % of raw's system-call
/// bucket (system calls are what completion saves); the runtime programs within
/// 1.15× of echo-uring. A target missed names the bucket that holds it back.
fn targets(entries: &[ProfileEntry]) -> Vec<Ratio> {
    let find = |(p, f): (&str, &str), load| {
        (entries.iter()).find(|e| e.program == p && e.flavor == f && e.load == load)
    };
    let mut out = Vec::new();
    let (uring, raw) = ((URING_PROGRAM, NEXT), (udp_echo::RAW_PROGRAM, MODERN));
    if let (Some(uring), Some(raw)) = (find(uring, Load::Deep), find(raw, Load::Deep)) {
        let says = "echo-uring at 64 in flight on one socket: CPU per echo at most raw \
                    epoll-edge's less 80 % of raw's system-call bucket";
        let subject = format!("{} / raw less 80 % of its system calls", uring.title());
        let less = |b| if b == Bucket::Syscall { 0.2 } else { 1.0 };
        out.push(held_to(subject, (uring, raw), less, at_most(1.0, says)));
    }
    let uring = find(uring, Load::Throughput);
    let runtimes = RUNTIME_PROGRAMS
        .iter()
        .filter_map(|p| find((p, NEXT), Load::Throughput));
    for (j, uring) in runtimes.filter_map(|j| Some((j, uring?))) {
        let says = "the runtime echo programs within 1.15× of echo-uring per echo, under perf";
        let subject = format!("{} / {}, under perf", j.title(), uring.title());
        out.push(held_to(subject, (j, uring), |_| 1.0, at_most(1.15, says)));
    }
    // A target with no round (perf could not record) replaces nothing kept before.
    out.retain(|r| !r.rounds.is_empty());
    out
}
