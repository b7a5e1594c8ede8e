//! `cargo xtask bench --scaling [PROGRAM…] [--flavor …] [--rounds N]`: each echo server
//! that runs across cores, at 1 to as many threads as this machine has cores, in
//! interleaved rounds (`harness::measure::scaling` measures), merged into
//! `scaling.json`; exit status 1 if a round failed.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use harness::measure::{affinity, scaling, scaling::Subject};
use harness::results::scaling::{tables, ScalingEntry};
use harness::results::{File, Kind, Machine, Run};
use harness::workspace::relative;
use harness::Catalogue;

use super::cells::{compact, titled};
use super::{describe, in_rounds, settings::Settings, Args};

pub fn main(catalogue: &Catalogue, args: &Args, out: &Path) -> Result<i32> {
    let s = Settings::new(None, args.rounds, args.quick, args.profile)?;
    let (started, flavors) = (Instant::now(), crate::args::flavors(args.flavor));
    let mut subjects = scaling::subjects(catalogue, &args.programs, &flavors, args.profile)?;
    let cpus = affinity::allowed()?.1;
    let title = |x: &Subject| x.entry.key();
    let rounds = (s.rounds, Machine::here().cores);
    let load = in_rounds(&mut subjects, rounds, title, |x, r| x.round(r, &cpus))?;
    let run = Run::now(args.profile.as_str(), started.elapsed(), load);
    let entries: Vec<ScalingEntry> = subjects.into_iter().map(|s| s.entry).collect();
    let kept = relative(&File::merge_into(out, &run, entries.clone())?);
    let (rounds, loads) = (s.rounds, scaling::SETTINGS.describe());
    let note = format!("{rounds} rounds, median ±the farthest round; {loads}; (shared): the load generator on the server's CPUs");
    for (family, header, rows) in tables(&entries, &compact) {
        let table = titled(&format!("Scaling, {family}: {note}"), &header, rows);
        print!("{table}");
    }
    println!("\nkept in {kept}\n{}", describe(&run));
    Ok(i32::from(entries.iter().any(|e| !e.errors.is_empty())))
}
