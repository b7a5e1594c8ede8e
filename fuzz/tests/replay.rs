//! The replay: every checked-in input of every target (its seed corpus, the
//! fuzzer's minimised corpus, the regression cases of its findings) and every seed
//! built from `shared`'s vectors, through the same property the fuzzer checks. It
//! runs with `cargo test --workspace` on stable, so that a finding stays fixed.

use std::collections::BTreeSet;
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fuzz::{fuzz_dir, Target, TARGETS};

/// The files of `dir` (none if it does not exist), sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    out.retain(|p| p.is_file());
    out.sort();
    out
}

/// Runs `inputs` through `target`; returns the names of those whose property failed.
fn failures(target: &Target, inputs: Vec<(String, Vec<u8>)>) -> Vec<String> {
    inputs
        .into_iter()
        .filter(|(_, bytes)| catch_unwind(AssertUnwindSafe(|| (target.check)(bytes))).is_err())
        .map(|(name, _)| name)
        .collect()
}

fn replay(dir: &str) {
    let mut failed = Vec::new();
    for target in TARGETS {
        let inputs = files(&fuzz_dir().join(dir).join(target.name))
            .into_iter()
            .map(|p| (p.display().to_string(), fs::read(&p).unwrap()))
            .collect();
        failed.extend(failures(target, inputs));
    }
    assert!(failed.is_empty(), "properties fail on: {failed:#?}");
}

#[test]
fn every_corpus_file_holds() {
    replay("corpus");
}

#[test]
fn every_regression_holds() {
    replay("regressions");
}

#[test]
fn every_seed_holds() {
    let mut failed = Vec::new();
    for target in TARGETS {
        let seeds = (target.seeds)();
        assert!(!seeds.is_empty(), "{} has no seeds", target.name);
        failed.extend(
            failures(target, seeds)
                .into_iter()
                .map(|n| format!("{}: {n}", target.name)),
        );
    }
    assert!(failed.is_empty(), "properties fail on seeds: {failed:#?}");
}

/// Each target has a checked-in corpus, and the corpora stay small.
#[test]
fn every_target_has_its_seed_corpus() {
    let mut total = 0;
    for target in TARGETS {
        let dir = fuzz_dir().join("corpus").join(target.name);
        let corpus: BTreeSet<Vec<u8>> = files(&dir).iter().map(|p| fs::read(p).unwrap()).collect();
        assert!(
            !corpus.is_empty(),
            "{} has no corpus in {}",
            target.name,
            dir.display()
        );
        total += corpus.iter().map(Vec::len).sum::<usize>();
    }
    assert!(
        total < 512 * 1024,
        "the corpora hold {total} bytes: minimise them (cargo fuzz cmin)"
    );
}

/// The targets of fuzz_targets/ (what `cargo fuzz list` shows) and those the replay
/// runs are the same: a new target cannot be left out of it.
#[test]
fn every_fuzz_target_is_replayed() {
    let on_disk: BTreeSet<String> = files(&fuzz_dir().join("fuzz_targets"))
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_string()))
        .collect();
    let replayed: BTreeSet<String> = TARGETS.iter().map(|t| t.name.to_string()).collect();
    assert_eq!(on_disk, replayed);
    let manifest = fs::read_to_string(fuzz_dir().join("Cargo.toml")).unwrap();
    for name in &on_disk {
        assert!(
            manifest.contains(&format!("name = \"{name}\"")),
            "{name} has no [[bin]] in fuzz/Cargo.toml"
        );
    }
}
