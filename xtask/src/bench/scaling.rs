//! `cargo xtask bench --scaling [PROGRAM…] [--flavor …] [--rounds N]`: each echo server
//! that runs across cores, at 1 to as many threads as this machine has cores, in
//! interleaved rounds (`harness::measure::scaling` measures), merged into
//! `scaling.json`; exit status 1 if a round failed.

use std::path::Path;
use std::time::Instant;

use anyhow::Result;
use harness::measure::scaling;
use harness::results::scaling::{tables, ScalingEntry};
use harness::results::{File, Run};
use harness::workspace::relative;
use harness::Catalogue;

use super::cells::{compact, titled};
use super::{describe, settings::Settings, Args};

pub fn main(catalogue: &Catalogue, args: &Args, out: &Path) -> Result<i32> {
    let s = Settings::new(None, args.rounds, args.quick, args.profile)?;
    let (started, flavors) = (Instant::now(), crate::args::flavors(args.flavor));
    let mut subjects = scaling::subjects(catalogue, &args.programs, &flavors, args.profile)?;
    let bar = indicatif::ProgressBar::new((subjects.len() * s.rounds) as u64);
    let mut tell = |m: String| match m.strip_prefix("  ") {
        Some(error) => bar.suspend(|| eprintln!("{error}")),
        None => (bar.set_message(m), bar.inc(1)).1,
    };
    let load = scaling::run_rounds(&mut subjects, s.rounds, &mut tell)?;
    bar.finish_and_clear();
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
