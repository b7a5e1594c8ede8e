//! What the long fuzzing runs did, read from libFuzzer's own output, kept in
//! `fuzz/runs/TARGET.log` (never typed): the book's fuzzing table is rendered from
//! these records.
//!
//! A log holds the runs of one target in order. Each run starts with the command
//! that was run (`$ cargo +nightly fuzz run TARGET …`), followed by what libFuzzer
//! printed, trimmed: its `INFO:` lines, its last progress lines (`#N … cov: C ft: F
//! corp: U/S …`), a finding's report (the panic, `ERROR: libFuzzer: …`, the input
//! written) and its final statistics (`-print_final_stats=1`: `stat::…`), and, for a
//! run that ended by itself, `Done N runs in S second(s)`. The last run is the long
//! one the table reports; every run that ended on a finding counts as a finding.

use std::fs;
use std::path::Path;

/// One run of libFuzzer, as its output tells it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Run {
    /// The command line, as the log's first line of the run gives it.
    pub command: String,
    /// Inputs executed (`stat::number_of_executed_units`, or `Done N runs`).
    pub executions: u64,
    /// Seconds, from `Done N runs in S second(s)` (a run that ended on a finding has
    /// none).
    pub seconds: Option<u64>,
    /// Coverage counters hit (`cov:` of the last progress line): edges of the code.
    pub edges: u64,
    /// Counters in the build (`INFO: Loaded 1 modules (N inline 8-bit counters)`): the
    /// edges there are to hit, in the target and everything it links.
    pub instrumented: Option<u64>,
    /// Features (`ft:`): edges, with how often they were hit, and comparisons.
    pub features: u64,
    /// Corpus at the end: inputs, and their size as libFuzzer prints it (`376/168Kb`).
    pub corpus: Option<(u64, String)>,
    /// What ended the run, if not its own end: libFuzzer's error line and the first
    /// line of the panic message.
    pub finding: Option<Finding>,
}

/// A run that ended on a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// What libFuzzer reports: `deadly signal` (a panic), `timeout`, `out-of-memory`.
    pub kind: String,
    /// Where the panic was, and its message's first line (empty for a timeout).
    pub panic: String,
}

/// The runs of one target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetLog {
    pub target: String,
    pub runs: Vec<Run>,
}

impl TargetLog {
    /// The long run the table reports: the last one.
    pub fn last(&self) -> Option<&Run> {
        self.runs.last()
    }

    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.runs.iter().filter_map(|r| r.finding.as_ref())
    }
}

/// The number after `key` in `line` (`cov: 1181` → 1181).
fn after(line: &str, key: &str) -> Option<u64> {
    let rest = &line[line.find(key)? + key.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Parses the text of one log.
pub fn parse(target: &str, text: &str) -> Result<TargetLog, String> {
    let mut runs: Vec<Run> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if let Some(command) = line.strip_prefix("$ ") {
            runs.push(Run {
                command: command.trim().to_string(),
                ..Run::default()
            });
            continue;
        }
        let Some(run) = runs.last_mut() else {
            return Err(format!(
                "{target}: output before the first `$ command` line: {line:?}"
            ));
        };
        if line.starts_with("INFO: Loaded ") && line.contains(" inline 8-bit counters") {
            run.instrumented = line.split('(').nth(1).and_then(|c| after(c, ""));
        } else if line.starts_with('#') && line.contains(" cov: ") {
            run.executions = run.executions.max(after(line, "#").unwrap_or(0));
            run.edges = after(line, " cov:").unwrap_or(run.edges);
            run.features = after(line, " ft:").unwrap_or(run.features);
            if let Some(corp) = line.split(" corp: ").nth(1) {
                let corp = corp.split_whitespace().next().unwrap_or_default();
                if let Some((units, size)) = corp.split_once('/') {
                    run.corpus = units.parse().ok().map(|u| (u, size.to_string()));
                }
            }
        } else if let Some(n) = line
            .strip_prefix("stat::number_of_executed_units:")
            .and_then(|n| n.trim().parse().ok())
        {
            run.executions = n;
        } else if line.starts_with("Done ") && line.contains(" runs in ") {
            run.executions = after(line, "Done ").unwrap_or(run.executions);
            run.seconds = after(line, " runs in ");
        } else if line.contains(" panicked at ") {
            let place = line.split(" panicked at ").nth(1).unwrap_or_default();
            let message = lines.peek().copied().unwrap_or_default();
            let finding = run.finding.get_or_insert(Finding {
                kind: String::new(),
                panic: String::new(),
            });
            finding.panic = format!("{} {}", place.trim_end_matches(':'), message.trim());
        } else if let Some(kind) = line.split("ERROR: libFuzzer: ").nth(1) {
            let finding = run.finding.get_or_insert(Finding {
                kind: String::new(),
                panic: String::new(),
            });
            finding.kind = kind
                .split_whitespace()
                .take(2)
                .collect::<Vec<_>>()
                .join(" ");
        }
    }
    if runs.is_empty() {
        return Err(format!("{target}: no run in the log"));
    }
    Ok(TargetLog {
        target: target.to_string(),
        runs,
    })
}

/// Every `fuzz/runs/*.log` under `root`, by target name.
pub fn logs(root: &Path) -> Result<Vec<TargetLog>, String> {
    let dir = root.join("fuzz").join("runs");
    let mut paths: Vec<_> = fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| Some(e.ok()?.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    paths.sort();
    paths
        .iter()
        .map(|path| {
            let target = path.file_stem().unwrap_or_default().to_string_lossy();
            let text = fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            parse(&target, &text)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A finding and then a long run, as `fuzz/runs/sock_diag.log` holds them.
    const LOG: &str = include_str!("../runs/sock_diag.log");

    #[test]
    fn a_real_log_is_read() {
        let log = parse("sock_diag", LOG).unwrap();
        assert!(log.runs.len() >= 2);
        let first = &log.runs[0];
        let finding = first.finding.as_ref().unwrap();
        assert_eq!(finding.kind, "deadly signal");
        assert!(
            finding.panic.starts_with("fuzz/src/sock_diag.rs:"),
            "{finding:?}"
        );
        assert_eq!(first.seconds, None);
        let last = log.last().unwrap();
        assert!(last.finding.is_none());
        assert!(last
            .command
            .starts_with("cargo +nightly fuzz run sock_diag"));
        assert!(last.seconds.is_some());
        let all = last.instrumented.unwrap();
        assert!(
            0 < last.edges && last.edges <= all,
            "{} of {all}",
            last.edges
        );
        assert!(last.features >= last.edges);
        assert!(last.corpus.as_ref().is_some_and(|(units, _)| *units > 0));
    }

    /// Every target of fuzz_targets has a log, and each long run reached what the
    /// project asks of it: ten million executions, or 30 minutes, with no finding.
    #[test]
    fn every_target_ran_long_enough() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let logs = logs(&root).unwrap();
        let mut targets: Vec<String> = fs::read_dir(root.join("fuzz/fuzz_targets"))
            .unwrap()
            .filter_map(|e| Some(e.ok()?.path().file_stem()?.to_str()?.to_string()))
            .collect();
        targets.sort();
        let logged: Vec<String> = logs.iter().map(|l| l.target.clone()).collect();
        assert_eq!(logged, targets);
        for log in &logs {
            let run = log.last().unwrap();
            assert!(
                run.finding.is_none(),
                "{}: the last run ended on a finding",
                log.target
            );
            assert!(
                run.executions >= 10_000_000 || run.seconds.unwrap_or(0) >= 1800,
                "{}: {} executions in {:?} s",
                log.target,
                run.executions,
                run.seconds
            );
            assert!(run.edges > 0, "{}", log.target);
        }
    }
}
