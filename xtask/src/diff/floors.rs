//! The ports stay readable: `xtask/kept-floors.toml` records how much of the rung
//! before every pair, ladder step and variation keeps (`diff --stat`'s kept column,
//! per cent, rounded down), and how many hunks of those diffs carry no comment among
//! their new lines. A port that falls below its floor, a pair that meets none of the
//! rules (the whole pair keeps 50 %; or each step of its ladder, or of its base's,
//! keeps 60 %; or its `# Migration` section says why it is below, with the measured
//! figure), or a new hunk without a teaching comment fails here. Raising a floor is a
//! one-line change to the file.

use std::collections::BTreeMap;

use harness::pairs::{self, Pair};
use harness::{Catalogue, Flavor};
use serde::Deserialize;
use similar::ChangeTag;

use super::stat;
use harness::diff::{self as hunks, count};

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Floors {
    uncommented_hunks: usize,
    pair: BTreeMap<String, f64>,
    step: BTreeMap<String, f64>,
    variation: BTreeMap<String, f64>,
}

fn floors() -> Floors {
    let path = harness::project_root().join("xtask/kept-floors.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    toml::from_str(&text).unwrap()
}

/// Every diff a reader reads: each pair whole, each ladder step, each variation
/// step; by the name the floors file gives it.
fn diffs(catalogue: &Catalogue, all: &[Pair]) -> Vec<(String, Pair)> {
    let mut out = Vec::new();
    for pair in all
        .iter()
        .filter(|p| p.legacy.is_some() && p.modern.is_some())
    {
        out.push((pair.name.clone(), pair.clone()));
        for w in pair.ladder().windows(2).filter(|_| pair.has_ladder()) {
            out.push((
                format!("{} {}", pair.name, w[1].flavor_label()),
                Pair::between(&pair.name, w[0], w[1]),
            ));
        }
    }
    for v in stat::variations(catalogue, all).unwrap() {
        let (pair, base) = (
            pairs::find(all, &v.program).unwrap(),
            pairs::find(all, &v.of).unwrap(),
        );
        let side = |p: &Pair, f| p.side(f).unwrap().clone();
        let legacy = Pair::between(
            &v.program,
            &side(pair, Flavor::Legacy),
            &side(base, Flavor::Legacy),
        );
        let modern = Pair::between(
            &v.program,
            &side(base, Flavor::Modern),
            &side(pair, Flavor::Modern),
        );
        out.push((format!("{} legacy", v.program), legacy));
        out.push((format!("{} modern", v.program), modern));
    }
    out
}

/// What the `# Migration` section of a pair's modern side says it keeps (`keeps 41 %`).
fn stated(pair: &Pair) -> Option<f64> {
    let doc = pairs::doc_of(pair.modern.as_ref()?)?;
    let migration = harness::doc::section(&doc, "Migration")?;
    let at = migration.find("keeps ")? + 6;
    migration[at..].split(" %").next()?.trim().parse().ok()
}

#[test]
fn every_port_keeps_its_floor_and_meets_the_rule() {
    let (catalogue, floors) = (Catalogue::load().unwrap(), floors());
    let all = pairs::pairs(&catalogue);
    let kept = |p: &Pair| {
        count::pair_stat(&catalogue, p)
            .unwrap()
            .kept_percent()
            .unwrap_or(100.0)
    };
    let mut measured: BTreeMap<String, f64> = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, pair) in diffs(&catalogue, &all) {
        let k = kept(&pair);
        let floor = floors
            .pair
            .get(&name)
            .or(floors.step.get(&name))
            .or(floors.variation.get(&name));
        match floor {
            Some(f) if k < *f => {
                problems.push(format!("{name} keeps {k:.1} %, below its floor of {f} %"))
            }
            Some(_) => {}
            None => problems.push(format!(
                "{name} ({k:.1} %) has no floor in xtask/kept-floors.toml"
            )),
        }
        measured.insert(name, k);
    }
    let step_ok = |name: &str| {
        measured
            .iter()
            .filter(|(n, _)| n.starts_with(&format!("{name} ")))
            .all(|(_, k)| *k >= 60.0)
    };
    for pair in all
        .iter()
        .filter(|p| p.legacy.is_some() && p.modern.is_some())
    {
        let k = measured[&pair.name];
        let base = pair
            .programs()
            .find_map(|p| p.declared.variation_of.clone());
        let ladder = pair.has_ladder() && step_ok(&pair.name);
        let variation = base
            .as_ref()
            .is_some_and(|b| step_ok(&pair.name) && (measured[b] >= 50.0 || step_ok(b)));
        // A reason in words is for a pair whose lesson is one new mechanism and that
        // has no ladder; a pair with a ladder is read step by step, so every step holds.
        let said = !pair.has_ladder() && stated(pair).is_some_and(|s| (s - k.round()).abs() < 1.0);
        if !(k >= 50.0 || ladder || variation || said) {
            let ladder_says = match pair.has_ladder() {
                true => "a step of its ladder keeps less than 60 %",
                false => "no ladder, and its Migration section does not say why with that figure",
            };
            problems.push(format!(
                "{} keeps {k:.1} %: below 50 %, {ladder_says}",
                pair.name
            ));
        }
        if let Some(s) = stated(pair).filter(|s| (s - k.round()).abs() >= 1.0) {
            problems.push(format!(
                "{}: its Migration section says it keeps {s} %, it keeps {k:.1} %",
                pair.name
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Hunks whose new lines carry no comment.
fn uncommented(pair: &Pair) -> usize {
    let files = pair.paired_sources().unwrap();
    let hunks = files.iter().flat_map(|f| {
        hunks::hunks(
            f.legacy.as_deref().unwrap_or(""),
            f.modern.as_deref().unwrap_or(""),
            3,
        )
    });
    let commented = |h: &hunks::Hunk| {
        let new = h
            .lines
            .iter()
            .filter(|l| l.tag == ChangeTag::Insert && l.is_change());
        new.map(|l| l.text())
            .any(|t| t.trim_start().starts_with("//"))
    };
    hunks.filter(|h| !commented(h)).count()
}

#[test]
fn teaching_comments_stay_at_the_changed_lines() {
    let (catalogue, floors) = (Catalogue::load().unwrap(), floors());
    let all = pairs::pairs(&catalogue);
    // A variation's legacy step reads backwards (its side → the base's): only pairs
    // and ladder steps add what a comment should explain.
    let read_forwards = diffs(&catalogue, &all)
        .into_iter()
        .filter(|(n, _)| !n.ends_with(" legacy") || all.iter().any(|p| p.name == *n));
    let each: Vec<(String, usize)> = read_forwards
        .map(|(n, p)| (n.clone(), uncommented(&p)))
        .filter(|(_, n)| *n > 0)
        .collect();
    let total: usize = each.iter().map(|(_, n)| n).sum();
    assert!(
        total <= floors.uncommented_hunks,
        "{total} hunks without a comment among their new lines, more than the {} recorded: {each:?}",
        floors.uncommented_hunks
    );
}
