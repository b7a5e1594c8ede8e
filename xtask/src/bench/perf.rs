//! `cargo xtask bench --perf [PROGRAM…]`: where each UDP echo server's CPU goes. The
//! bench's UDP echo entries (baselines included) under its throughput load, those
//! that run the next-era loads under GSO-sending peers too, perf recording the
//! server's CPU over the measured interval (`harness::measure::perf`), in interleaved
//! rounds; merged into `profile.json`. Where perf cannot record, each says why.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use harness::load::udp::gso_available;
use harness::measure::{affinity::Placement, perf::Perf, perf::FREQUENCY_HZ};
use harness::results::profile::{self, ProfileEntry};
use harness::results::{bench::Rounds, run::load_average, File, Machine, Run};
use harness::{workspace::relative, Catalogue};

use super::{families, next_era, plan, settings::Settings, udp_echo, Args};
use crate::args::Format;

pub fn main(catalogue: &Catalogue, args: &Args, out: &Path) -> Result<i32> {
    let s = Settings::new(args.duration, args.rounds, args.quick, args.profile)?;
    let (started, machine, on) = (Instant::now(), Machine::here(), Placement::choose()?);
    on.pin_client_thread()?;
    let mut jobs = plan::plan(catalogue, &args.programs, args.flavor, families::jobs_of)?;
    jobs.retain(|j| matches!(j.entry.rounds, Rounds::UdpEcho(_)));
    plan::references(catalogue, &mut jobs);
    plan::build(&mut jobs, s.profile)?;
    let perf = Perf::find(&on);
    let mut entries = Vec::new();
    for (j, gso) in jobs.iter().flat_map(|j| [(j, false), (j, true)]) {
        let why = (j.entry.skipped.clone()).or(perf.as_ref().err().cloned());
        let why = why.or(gso.then(gso_available).and_then(Result::err));
        let names = (j.program(), j.flavor());
        let e = ProfileEntry::new(names, gso, why, (s.record.clone(), FREQUENCY_HZ));
        if !gso || j.subject.next_era_loads {
            entries.push((j, e));
        }
    }
    let mut gso = next_era::gso_bulk(&s);
    gso.span = s.span();
    let (loads, mut load) = ([udp_echo::throughput_load(&s), gso], Vec::new());
    for round in 0..s.rounds {
        let start = load_average();
        for (job, e) in entries.iter_mut().filter(|(_, e)| e.skipped.is_none()) {
            let at = format!("{}/{}", round + 1, s.rounds);
            eprintln!("bench --perf: round {at}: {}", e.title());
            let server = udp_echo::start(job, &s, &on);
            let load = &loads[usize::from(e.gso_peers)];
            let p = perf.as_ref().map_err(|why| anyhow::anyhow!("{why}"));
            e.record(round, server.and_then(|server| p?.echo(server, load)));
        }
        load.push([start, load_average()]);
    }
    let mut run = Run::now(s.profile.as_str(), started.elapsed(), load);
    run.machine = machine;
    let entries: Vec<ProfileEntry> = entries.into_iter().map(|(_, e)| e).collect();
    let kept = relative(&File::merge_into(out, &run, entries.clone())?);
    let errors = entries.iter().any(|e| !e.errors.is_empty());
    let mut this_run = File::default();
    this_run.merge(&run, entries.clone());
    let said = match args.format {
        Format::Json => serde_json::to_string_pretty(&this_run)?,
        Format::Table => {
            profile::table(&entries) + &format!("kept in {kept}\n") + &super::describe(&run)
        }
    };
    println!("{said}");
    Ok(i32::from(errors))
}
