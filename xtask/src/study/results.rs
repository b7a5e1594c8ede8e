//! The measured results the book is made from, and where each came from.
//!
//! By default the latest ones found under `target/`: `target/trace/*.json` (saved by
//! every `cargo xtask trace`, one file per traced side), `target/bench/bench.json`
//! (and its plots), `target/study/polls.json` (the poll sweep) and
//! `target/study/readiness.json` (the readiness programs' figures). Each result keeps
//! its [`Source`]: file, command, time, machine, rounds — what the book prints under
//! every figure. What is missing is said, with the command that makes it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result};
use harness::workspace::relative;
use serde::Deserialize;
use serde_json::Value;

use super::polls::Sweep;
use super::readiness::Readiness;
use crate::runinfo::{self, Machine, RunInfo};
use crate::trace::{self, FlavorTrace, ProgramTrace};

/// Where a result came from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The file it was read from, relative to the workspace when inside it.
    pub file: String,
    /// The command that made it (`cargo xtask bench`), when recorded.
    pub command: Option<String>,
    /// When it was made (seconds since the epoch): as recorded, else the file's time.
    pub unix_time: Option<u64>,
    pub machine: Option<Machine>,
    /// Rounds, profile, workload: what else a reader needs to weigh it.
    pub detail: String,
}

impl Source {
    fn of_file(path: &Path) -> Source {
        Source {
            file: relative(path),
            command: None,
            unix_time: fs::metadata(path)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs()),
            machine: None,
            detail: String::new(),
        }
    }

    fn with_run(mut self, run: &RunInfo) -> Source {
        self.command = Some(run.command.clone());
        self.unix_time = Some(run.unix_time);
        self.machine = Some(run.machine.clone());
        self
    }

    /// `2025-11-30 14:05 UTC (3 hours ago)`
    pub fn when(&self, now: u64) -> String {
        match self.unix_time {
            Some(t) => format!("{} ({})", runinfo::utc(t), runinfo::age(t, now)),
            None => "date unknown".into(),
        }
    }
}

/// One UDP/TCP/ident/multi-socket entry of `bench.json` (the keys `cargo xtask bench`
/// writes; anything else in the file is ignored).
#[derive(Debug, Clone, Deserialize)]
pub struct BenchEntry {
    pub program: String,
    /// `legacy`, `modern` or `baseline`.
    pub flavor: String,
    #[serde(default)]
    pub sockets: Option<usize>,
    /// A second configuration of the same program (`--lookup proc`), beside its
    /// default one.
    #[serde(default)]
    pub variant: Option<String>,
    #[serde(default)]
    pub raw_baseline: bool,
    #[serde(default)]
    pub median: BTreeMap<String, f64>,
    #[serde(default)]
    pub min: BTreeMap<String, f64>,
    #[serde(default)]
    pub max: BTreeMap<String, f64>,
    #[serde(default)]
    pub rounds: Vec<Option<BTreeMap<String, f64>>>,
    #[serde(default)]
    pub errors: Vec<String>,
}

/// Median with the lowest and highest round, and how many rounds made it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub rounds: usize,
}

impl BenchEntry {
    pub fn figure(&self, name: &str) -> Option<Spread> {
        let median = *self.median.get(name)?;
        Some(Spread {
            median,
            min: self.min.get(name).copied().unwrap_or(median),
            max: self.max.get(name).copied().unwrap_or(median),
            rounds: self
                .rounds
                .iter()
                .flatten()
                .filter(|r| r.contains_key(name))
                .count(),
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BenchMethod {
    #[serde(default)]
    pub profile: String,
    #[serde(default)]
    pub rounds: usize,
    #[serde(default)]
    pub udp_echo: Value,
    #[serde(default)]
    pub multisocket: Value,
    #[serde(default)]
    pub tcp_echo: Value,
    #[serde(default)]
    pub ident: Value,
}

/// `target/bench/bench.json`, as far as the book reads it.
#[derive(Debug, Clone, Deserialize)]
pub struct Bench {
    #[serde(default)]
    pub command: String,
    #[serde(default)]
    pub took_s: f64,
    #[serde(default)]
    pub machine: Machine,
    #[serde(default)]
    pub placement: String,
    #[serde(default)]
    pub method: BenchMethod,
    #[serde(default)]
    pub entries: Vec<BenchEntry>,
    /// The plots it wrote beside itself (file names).
    #[serde(default)]
    pub plots: Vec<String>,
}

impl Bench {
    pub fn entry(
        &self,
        program: &str,
        flavor: &str,
        sockets: Option<usize>,
    ) -> Option<&BenchEntry> {
        self.entries.iter().find(|e| {
            e.program == program
                && e.flavor == flavor
                && e.sockets == sockets
                && e.variant.is_none()
        })
    }

    /// The entry of a program's variant (`--lookup proc`).
    pub fn variant(&self, program: &str, flavor: &str, variant: &str) -> Option<&BenchEntry> {
        self.entries.iter().find(|e| {
            e.program == program && e.flavor == flavor && e.variant.as_deref() == Some(variant)
        })
    }

    /// Whether it was a `--quick` run or a dev build: figures to check the
    /// instrument with, not to read.
    pub fn is_rough(&self) -> bool {
        self.command.split_whitespace().any(|a| a == "--quick") || self.method.profile == "dev"
    }

    /// `W = 32 datagrams in flight on each of 4 client sockets` and the like, from
    /// the method the file records.
    pub fn udp_load(&self) -> String {
        let t = &self.method.udp_echo["throughput"];
        match (t["window"].as_u64(), t["sockets"].as_u64()) {
            (Some(w), Some(s)) => format!("{w} datagrams in flight on each of {s} client sockets"),
            _ => "the bench's throughput load".into(),
        }
    }
}

/// A result file with where it came from.
#[derive(Debug, Clone)]
pub struct Loaded<T> {
    pub data: T,
    pub source: Source,
}

/// The conformance rows, by (program, flavor label), and where they came from.
pub struct Conformance {
    /// `run for this book`, `from FILE`, `not run (--no-conformance)`.
    pub source: String,
    pub rows: Option<BTreeMap<(String, String), Value>>,
}

/// The latest trace of each side of each program.
#[derive(Default)]
pub struct Traces {
    /// Per program: every traced side (in flavor order), as one trace.
    pub by_program: BTreeMap<String, ProgramTrace>,
    /// Per program and flavor label: where that side's figures came from.
    pub sources: BTreeMap<(String, String), Source>,
    /// Files that could not be read, with why.
    pub unreadable: Vec<(String, String)>,
}

impl Traces {
    /// Adds one file's traces, keeping the newer of two traces of the same side.
    fn add(&mut self, path: &Path) {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) => {
                self.unreadable.push((relative(path), e.to_string()));
                return;
            }
        };
        let traces = match trace::load_json(&text) {
            Ok(t) => t,
            Err(e) => {
                self.unreadable.push((relative(path), format!("{e:#}")));
                return;
            }
        };
        for t in traces {
            let mut source = Source::of_file(path);
            if let Some(run) = &t.run {
                source = source.with_run(run);
            }
            source.detail = t.workload.clone();
            for side in &t.flavors {
                let key = (t.program.clone(), side.flavor.clone());
                let newer = self
                    .sources
                    .get(&key)
                    .is_none_or(|old| source.unix_time >= old.unix_time);
                if !newer {
                    continue;
                }
                self.sources.insert(key, source.clone());
                let entry =
                    self.by_program
                        .entry(t.program.clone())
                        .or_insert_with(|| ProgramTrace {
                            flavors: Vec::new(),
                            run: None,
                            ..t.clone()
                        });
                entry.unit = t.unit.clone();
                entry.flavors.retain(|f| f.flavor != side.flavor);
                entry.flavors.push(side.clone());
                entry.flavors.sort_by_key(|f| flavor_rank(&f.flavor));
                entry.workload = workloads(entry, &self.sources);
            }
        }
    }
}

/// `legacy` < `bridge-1` < `bridge-2` < `modern` < `next`.
pub fn flavor_rank(label: &str) -> (u8, u32) {
    let (flavor, step) = label.split_once('-').unwrap_or((label, "0"));
    let rank = harness::Flavor::parse(flavor).map_or(u8::MAX, |f| f as u8);
    (rank, step.parse().unwrap_or(0))
}

/// The workload of a merged trace: one sentence when every side ran the same one.
fn workloads(t: &ProgramTrace, sources: &BTreeMap<(String, String), Source>) -> String {
    let mut all: Vec<String> = t
        .flavors
        .iter()
        .filter_map(|f| sources.get(&(t.program.clone(), f.flavor.clone())))
        .map(|s| s.detail.clone())
        .collect();
    all.dedup();
    match all.as_slice() {
        [one] => one.clone(),
        _ => t
            .flavors
            .iter()
            .filter_map(|f| {
                sources
                    .get(&(t.program.clone(), f.flavor.clone()))
                    .map(|s| format!("{}: {}", f.flavor, s.detail))
            })
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// Every result the book uses.
pub struct Results {
    /// The folder searched (`target/`, or `--results`).
    pub dir: PathBuf,
    pub conformance: Conformance,
    pub traces: Traces,
    pub bench: Result<Loaded<Bench>, String>,
    pub polls: Result<Loaded<Sweep>, String>,
    pub readiness: Result<Loaded<Readiness>, String>,
    /// When the book was made.
    pub now: u64,
}

/// Result files named explicitly, instead of their place under the results folder.
#[derive(Debug, Clone, Default)]
pub struct Files {
    pub bench: Option<PathBuf>,
    pub polls: Option<PathBuf>,
    pub readiness: Option<PathBuf>,
}

impl Results {
    /// Reads what is under `dir`, plus the trace files named explicitly, and the
    /// files `named` instead of their places under `dir`.
    pub fn load(
        dir: &Path,
        extra_traces: &[PathBuf],
        named: Files,
        conformance: Conformance,
    ) -> Results {
        let mut traces = Traces::default();
        let mut files: Vec<PathBuf> = fs::read_dir(dir.join("trace"))
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
        files.sort();
        files.extend(extra_traces.iter().cloned());
        for f in &files {
            traces.add(f);
        }
        let bench_path = named.bench.unwrap_or_else(|| dir.join("bench/bench.json"));
        let polls_path = named.polls.unwrap_or_else(|| sweep_path(dir));
        let readiness_path = named.readiness.unwrap_or_else(|| readiness_path(dir));
        Results {
            dir: dir.to_path_buf(),
            conformance,
            traces,
            bench: load_bench(&bench_path),
            polls: load_polls(&polls_path),
            readiness: load_readiness(&readiness_path),
            now: runinfo::unix_now(),
        }
    }

    /// The folder the bench's plots are in (beside its bench.json).
    pub fn bench_dir(&self) -> Option<PathBuf> {
        let b = self.bench.as_ref().ok()?;
        let file = Path::new(&b.source.file);
        let abs = if file.is_absolute() {
            file.to_path_buf()
        } else {
            harness::project_root().join(file)
        };
        abs.parent().map(Path::to_path_buf)
    }

    /// The trace of one side, if any.
    pub fn trace_side(&self, program: &str, label: &str) -> Option<&FlavorTrace> {
        self.traces
            .by_program
            .get(program)?
            .flavors
            .iter()
            .find(|f| f.flavor == label)
    }
}

/// Where the poll sweep is kept: `target/study/polls.json`.
pub fn sweep_path(results: &Path) -> PathBuf {
    results.join("study").join("polls.json")
}

/// Where the readiness figures are kept: `target/study/readiness.json`.
pub fn readiness_path(results: &Path) -> PathBuf {
    results.join("study").join("readiness.json")
}

/// A result file's text, or why there is none.
fn read_result(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            format!("no {} yet", relative(path))
        } else {
            format!("cannot read {}: {e}", relative(path))
        }
    })
}

fn load_readiness(path: &Path) -> Result<Loaded<Readiness>, String> {
    let text = read_result(path)?;
    let data: Readiness = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not what `cargo xtask study --measure-readiness` writes: {e}",
            relative(path)
        )
    })?;
    let mut source = Source::of_file(path).with_run(&data.run);
    source.detail = data.method.describe();
    Ok(Loaded { data, source })
}

fn load_bench(path: &Path) -> Result<Loaded<Bench>, String> {
    let text = read_result(path)?;
    let data: Bench = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not the JSON `cargo xtask bench` writes: {e}",
            relative(path)
        )
    })?;
    let mut source = Source::of_file(path);
    source.command = (!data.command.is_empty()).then(|| data.command.clone());
    source.machine = Some(data.machine.clone());
    source.detail = format!(
        "{} round{}, interleaved; {} build; median with the lowest and highest round; took {:.0} s",
        data.method.rounds,
        if data.method.rounds == 1 { "" } else { "s" },
        if data.method.profile.is_empty() {
            "release"
        } else {
            &data.method.profile
        },
        data.took_s
    );
    Ok(Loaded { data, source })
}

fn load_polls(path: &Path) -> Result<Loaded<Sweep>, String> {
    let text = read_result(path)?;
    let data: Sweep = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not a poll sweep: {e}", relative(path)))?;
    let mut source = Source::of_file(path).with_run(&data.run);
    source.detail = format!(
        "{} datagram{} per socket count, sent one at a time",
        data.probes,
        if data.probes == 1 { "" } else { "s" }
    );
    Ok(Loaded { data, source })
}

/// The rows of a conformance JSON report by (program, flavor).
pub fn conformance_rows(json: &Value) -> Result<BTreeMap<(String, String), Value>> {
    let results = json["results"]
        .as_array()
        .context("not a conformance report: no `results` array")?;
    Ok(results
        .iter()
        .filter_map(|r| {
            Some((
                (
                    r["program"].as_str()?.to_string(),
                    r["flavor"].as_str()?.to_string(),
                ),
                r.clone(),
            ))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_rows_by_program_and_flavor() {
        let json: Value = serde_json::from_str(
            r#"{"results":[{"program":"echo-tokio","flavor":"legacy","status":"xfail","checks":[]}]}"#,
        )
        .unwrap();
        let rows = conformance_rows(&json).unwrap();
        assert_eq!(
            rows[&("echo-tokio".to_string(), "legacy".to_string())]["status"],
            "xfail"
        );
        assert!(conformance_rows(&serde_json::json!({"passed": 1})).is_err());
    }

    #[test]
    fn flavors_in_story_order() {
        let mut labels = vec!["next", "modern", "bridge-2", "legacy", "bridge-1"];
        labels.sort_by_key(|l| flavor_rank(l));
        assert_eq!(labels, ["legacy", "bridge-1", "bridge-2", "modern", "next"]);
    }
}
