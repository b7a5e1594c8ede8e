//! `cargo xtask diff --stat`: one table of every pair (lines, lines changed, the
//! share of the legacy file kept, hand-written futures, `unsafe`, dependencies), one
//! of the next programs against their readiness siblings, and one of the ladders, a
//! row per rung.

use anyhow::Result;
use harness::catalogue::Dependency;
use harness::{Catalogue, Program};

use harness::diff::count::{self, PairStat, SideStat};
use harness::pairs::{self, Pair, Pitfall};

/// What the kept column means, under every table that shows it.
pub const KEPT: &str = "kept: of the legacy (or previous) side's non-blank lines, whitespace \
    stripped, the share that survives unchanged and in order on the other side (difflib's \
    matching blocks, no line counted twice)";

fn cell(side: Option<SideStat>, f: impl Fn(SideStat) -> usize) -> String {
    side.map_or("—".into(), |s| f(s).to_string())
}

fn both(s: &PairStat, f: impl Fn(SideStat) -> usize + Copy) -> String {
    format!("{}/{}", cell(s.legacy, f), cell(s.modern, f))
}

/// `57%`, or `—` where there is nothing to keep.
pub fn percent(kept: Option<f64>) -> String {
    kept.map_or("—".into(), |k| format!("{k:.0}%"))
}

/// The table of the pairs.
pub fn pairs_table(stats: &[PairStat]) -> String {
    let rows = (stats.iter())
        .map(|s| {
            vec![
                s.name.clone(),
                cell(s.legacy, |x| x.code_lines),
                cell(s.modern, |x| x.code_lines),
                s.changed.to_string(),
                percent(s.kept_percent()),
                both(s, |x| x.future_impls),
                both(s, |x| x.unsafe_blocks),
                both(s, |x| x.dependencies),
            ]
        })
        .collect();
    let header = [
        "program",
        "legacy",
        "modern",
        "changed",
        "kept",
        "Future/Stream",
        "unsafe",
        "deps",
    ];
    harness::table(&header, rows)
        + "\n"
        + &harness::note(&(String::from("legacy, modern: lines of Rust code in src/ (not blank, not only a comment); changed: \
           lines inserted + deleted from legacy to modern (whitespace-only changes aside); ")
        + KEPT
        + "; Future/Stream: hand-written `impl … Future for` and `impl … Stream for` blocks; \
           unsafe: `unsafe { … }` blocks; deps: direct normal dependencies; the last three as legacy/modern; \
           — = that side does not exist yet."))
}

/// The table of the next programs, each against the readiness program it is diffed
/// against (`against`, e.g. `modern echo-epoll-edge`).
pub fn next_table(rows: &[(PairStat, String)]) -> String {
    let rows = (rows.iter())
        .map(|(s, against)| {
            vec![
                s.name.clone(),
                against.clone(),
                cell(s.legacy, |x| x.code_lines),
                cell(s.modern, |x| x.code_lines),
                s.changed.to_string(),
                both(s, |x| x.unsafe_blocks),
                both(s, |x| x.dependencies),
            ]
        })
        .collect();
    let header = [
        "next program",
        "against",
        "lines",
        "next lines",
        "changed",
        "unsafe A/N",
        "deps A/N",
    ];
    harness::table(&header, rows)
        + "\n"
        + &harness::note("next programs (completion-based and batched I/O) have no legacy side: each is counted \
           against the readiness program it is diffed against (its declared sibling). A/N = \
           against/next.")
}

/// One rung of a ladder: a step, an end, or a pitfall.
#[derive(Debug, Clone)]
pub struct RungStat {
    /// The ladder (program) it belongs to.
    pub ladder: String,
    /// `legacy`, `bridge-1`, …, `modern`.
    pub label: String,
    /// A pitfall's own program name (`None` for the rungs of the ladder itself).
    pub pitfall: Option<String>,
    pub side: SideStat,
    /// Against the rung before (a pitfall: the step it gets wrong); `None` for the
    /// first rung.
    pub from_previous: Option<PairStat>,
    /// Uses of the compat layer in the code.
    pub compat: usize,
    /// Direct dependencies of the old stack and of the new one.
    pub old_deps: usize,
    pub new_deps: usize,
}

/// The rungs of one program's ladder, then its pitfalls.
pub fn ladder(catalogue: &Catalogue, pair: &Pair, pitfalls: &[Pitfall]) -> Result<Vec<RungStat>> {
    let rungs = pair.ladder();
    let rung = |program: &Program, side, from_previous, pitfall| -> Result<RungStat> {
        let sources = pairs::program_sources(program)?;
        let deps = catalogue.dependencies(&program.package);
        let era = |e| {
            deps.iter()
                .filter(|d| d.kind == "normal" && era_of(d) == Some(e))
                .count()
        };
        Ok(RungStat {
            ladder: pair.name.clone(),
            label: program.flavor_label(),
            pitfall,
            side,
            from_previous,
            compat: (sources.iter().filter(|(p, _)| p.ends_with(".rs")))
                .map(|(_, src)| count::compat_uses(src))
                .sum(),
            old_deps: era(Era::Old),
            new_deps: era(Era::New),
        })
    };
    let mut out = Vec::new();
    for (i, program) in rungs.iter().enumerate() {
        let previous = i.checked_sub(1).map(|p| rungs[p]);
        let against = Pair::between(&pair.name, previous.unwrap_or(program), program);
        let s = count::pair_stat(catalogue, &against)?;
        let side = s.modern.unwrap_or_default();
        out.push(rung(program, side, previous.map(|_| s), None)?);
    }
    for f in pitfalls.iter().filter(|f| f.ladder == pair.name) {
        let Some(right) = &f.right else { continue };
        let s = count::pair_stat(
            catalogue,
            &Pair::between(&f.program.name, right, &f.program),
        )?;
        out.push(rung(
            &f.program,
            s.modern.unwrap_or_default(),
            Some(s),
            Some(f.program.name.clone()),
        )?);
    }
    Ok(out)
}

/// The table of the ladders: a row per rung, then a row per pitfall, named by its own
/// program.
pub fn ladders_table(rows: &[RungStat]) -> String {
    let mut last = String::new();
    let mut body = Vec::new();
    for r in rows {
        let name = r.pitfall.clone().unwrap_or_else(|| r.ladder.clone());
        let rung = match &r.pitfall {
            Some(_) => format!("{} ✗", r.label),
            None => r.label.clone(),
        };
        let prev = r.from_previous.as_ref();
        body.push(vec![
            if name == last {
                String::new()
            } else {
                name.clone()
            },
            rung,
            r.side.code_lines.to_string(),
            prev.map_or("—".into(), |s| s.changed.to_string()),
            prev.map_or("—".into(), |s| percent(s.kept_percent())),
            r.side.future_impls.to_string(),
            r.compat.to_string(),
            format!("{}/{}", r.old_deps, r.new_deps),
        ]);
        last = name;
    }
    let header = [
        "ladder",
        "rung",
        "lines",
        "changed",
        "kept",
        "Future/Stream",
        "compat",
        "deps old/new",
    ];
    harness::table(&header, body)
        + "\n"
        + &harness::note(&(String::from("rungs: legacy, the bridge steps (bridge/, on the futures 0.3 compat layer), modern; ✗: \
           a pitfall, the ladder's step of that number done in the wrong order (its conformance \
           rows are documented failures). changed and kept: from the rung above (a pitfall: from \
           the step it gets wrong); ")
        + KEPT
        + "; compat: `.compat()`, `.sink_compat()` and `Compat01As03::new` in the code; deps: \
           direct dependencies of the 2016–2018 stack and of today's."))
}

/// Which stack a direct dependency belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Era {
    /// 2016–2018: futures 0.1, tokio-core and its companions, mio 0.6, …
    Old,
    /// Today's: futures 0.3, tokio 1, tokio-util, tower-service, mio ≥ 0.7, …
    New,
}

/// The era of a dependency, by crate and resolved version; `None` for crates of
/// neither (`shared`, `slab`, …). A renamed dependency (`futures01`,
/// `futures-compat`) is known by its package and version.
pub fn era_of(d: &Dependency) -> Option<Era> {
    let version = d.resolved.as_deref().unwrap_or("");
    let mut parts = version.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    let before = |m: u64, n: u64| (major, minor) < (m, n);
    let era = |old: bool| Some(if old { Era::Old } else { Era::New });
    match d.package.as_str() {
        "tokio-core" | "tokio-io" | "tokio-signal" | "tokio-proto" | "tokio-service"
        | "futures-cpupool" => Some(Era::Old),
        "tokio-util" | "tower-service" => Some(Era::New),
        "tokio" => era(major == 0),
        "futures" => era(before(0, 2)),
        "mio" => era(before(0, 7)),
        "bytes" => era(before(0, 5)),
        "nix" => era(before(0, 10)),
        _ => None,
    }
}

/// Every pair with a legacy or a modern side, as `--stat` counts it.
pub fn pair_stats(catalogue: &Catalogue, chosen: &[&Pair]) -> Result<Vec<PairStat>> {
    let eras = chosen
        .iter()
        .filter(|p| p.legacy.is_some() || p.modern.is_some());
    eras.map(|p| count::pair_stat(catalogue, p)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_fall_in_their_era() {
        let dep = |name: &str, package: &str, version: &str| Dependency {
            name: name.into(),
            package: package.into(),
            req: format!("^{version}"),
            resolved: Some(version.into()),
            kind: "normal".into(),
            features: Vec::new(),
        };
        assert_eq!(
            era_of(&dep("futures01", "futures", "0.1.31")),
            Some(Era::Old)
        );
        assert_eq!(
            era_of(&dep("futures-compat", "futures", "0.3.34")),
            Some(Era::New)
        );
        assert_eq!(era_of(&dep("tokio", "tokio", "0.1.22")), Some(Era::Old));
        assert_eq!(era_of(&dep("tokio", "tokio", "1.48.0")), Some(Era::New));
        assert_eq!(era_of(&dep("shared", "shared", "0.1.0")), None);
    }
}

/// A program written as a variation of another, each side against that program's
/// same side: the way its migration is read (the variation's legacy side → the
/// base's, the base's ladder, the base's modern side → the variation's).
#[derive(Debug, Clone)]
pub struct VariationStat {
    pub program: String,
    pub of: String,
    /// The variation's legacy side → the base's legacy side.
    pub legacy: PairStat,
    /// The base's modern side → the variation's modern side.
    pub modern: PairStat,
}

/// Every declared variation among `pairs`.
pub fn variations(catalogue: &Catalogue, all: &[Pair]) -> Result<Vec<VariationStat>> {
    let mut out = Vec::new();
    for pair in all {
        let Some(of) = pair
            .programs()
            .find_map(|p| p.declared.variation_of.clone())
        else {
            continue;
        };
        let base = pairs::find(all, &of)?;
        let (Some(vl), Some(bl), Some(bm), Some(vm)) =
            (&pair.legacy, &base.legacy, &base.modern, &pair.modern)
        else {
            continue;
        };
        out.push(VariationStat {
            program: pair.name.clone(),
            of,
            legacy: count::pair_stat(catalogue, &Pair::between(&pair.name, vl, bl))?,
            modern: count::pair_stat(catalogue, &Pair::between(&pair.name, bm, vm))?,
        });
    }
    Ok(out)
}

/// The table of the variations.
pub fn variations_table(rows: &[VariationStat]) -> String {
    let body: Vec<Vec<String>> = (rows.iter())
        .map(|v| {
            vec![
                v.program.clone(),
                v.of.clone(),
                percent(v.legacy.kept_percent()),
                v.legacy.changed.to_string(),
                percent(v.modern.kept_percent()),
                v.modern.changed.to_string(),
            ]
        })
        .collect();
    let header = [
        "variation",
        "of",
        "legacy kept",
        "changed",
        "modern kept",
        "changed",
    ];
    harness::table(&header, body)
        + "\n"
        + &harness::note(
            "A variation is read as its base program with one change in each era: legacy kept is how \
             much of the variation's legacy side the base's legacy side keeps, modern kept how much of \
             the base's modern side the variation's modern side keeps; in between, the base's ladder \
             (`cargo xtask diff PROGRAM --ladder`).",
        )
}
