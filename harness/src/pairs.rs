//! The pairs of the workspace, from the harness's catalogue: every program's legacy
//! and modern packages are the two ends of one pair (a `bridge` or `next` package of
//! the same program rides along in `others`). Nothing here lists programs by hand, so
//! a pair that lands shows up in `diff`, `trace` and `study` as it is.
//!
//! A program's `bridge` packages are the steps of its migration ladder
//! ([`Pair::ladder`]: legacy, step 1, step 2, …, modern). A *pitfall* is a step done
//! in the wrong order, kept as a program of its own whose rows the suite documents
//! as failing: a bridge package that declares `pitfall-of = "PROGRAM"`, whose `step`
//! is the step of that ladder it gets wrong ([`pitfalls`]).

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::workspace::relative;
use crate::{Catalogue, Family, Flavor, Program, UsageError};
use anyhow::{bail, Context, Result};

/// One program: its legacy and modern packages, either of which may not exist yet.
#[derive(Debug, Clone)]
pub struct Pair {
    pub name: String,
    pub legacy: Option<Program>,
    pub modern: Option<Program>,
    /// Packages of the program in the other flavors (ladder steps, next era).
    pub others: Vec<Program>,
}

impl Pair {
    /// Every package of the program, legacy first.
    pub fn programs(&self) -> impl Iterator<Item = &Program> {
        self.legacy.iter().chain(&self.others).chain(&self.modern)
    }

    /// The program's family, or an error naming the package whose declaration is
    /// missing, unknown, or differs from its siblings'.
    pub fn family(&self) -> Result<Family> {
        let mut family = None;
        for p in self.programs() {
            let f = p.family()?;
            if family.is_some_and(|g| g != f) {
                bail!("{}: declares family {f}, its siblings another", p.package);
            }
            family = Some(f);
        }
        family.with_context(|| format!("{} has no package", self.name))
    }

    pub fn side(&self, flavor: Flavor) -> Option<&Program> {
        match flavor {
            Flavor::Legacy => self.legacy.as_ref(),
            Flavor::Modern => self.modern.as_ref(),
            Flavor::Bridge | Flavor::Next => self.others.iter().find(|p| p.flavor == flavor),
        }
    }

    /// Source files of one side, by path relative to its `src/` (empty if the side
    /// does not exist).
    pub fn sources(&self, flavor: Flavor) -> Result<BTreeMap<String, String>> {
        match self.side(flavor) {
            Some(p) => read_tree(&p.dir.join("src")),
            None => Ok(BTreeMap::new()),
        }
    }

    /// Every source path of either side, each with its text on both sides (`None`
    /// where a side lacks it).
    pub fn paired_sources(&self) -> Result<Vec<SourcePair>> {
        let legacy = self.sources(Flavor::Legacy)?;
        let modern = self.sources(Flavor::Modern)?;
        let mut paths: Vec<&String> = legacy.keys().chain(modern.keys()).collect();
        paths.sort();
        paths.dedup();
        Ok(paths
            .into_iter()
            .map(|path| SourcePair {
                path: path.clone(),
                legacy: legacy.get(path).cloned(),
                modern: modern.get(path).cloned(),
            })
            .collect())
    }

    /// The migration ladder, in order: the legacy package, the bridge steps by step
    /// number, the modern package (each where it exists). A program without bridge
    /// steps has its two ends only.
    pub fn ladder(&self) -> Vec<&Program> {
        let mut steps: Vec<&Program> = self
            .others
            .iter()
            .filter(|p| p.flavor == Flavor::Bridge)
            .collect();
        steps.sort_by_key(|p| p.step);
        self.legacy
            .iter()
            .chain(steps)
            .chain(&self.modern)
            .collect()
    }

    /// Two programs set side by side as a pair, `left` where legacy goes and `right`
    /// where modern goes: one step of a ladder, or a pitfall beside the step it gets
    /// wrong. Every tool that shows a pair (diff, stat) shows it as it is.
    pub fn between(name: &str, left: &Program, right: &Program) -> Pair {
        Pair {
            name: name.to_string(),
            legacy: Some(left.clone()),
            modern: Some(right.clone()),
            others: Vec::new(),
        }
    }

    /// Whether the program has a migration ladder (at least one bridge step).
    pub fn has_ladder(&self) -> bool {
        self.others.iter().any(|p| p.flavor == Flavor::Bridge)
    }

    /// `legacy/echo-tokio`-style path of a side, relative to the workspace root.
    pub fn display_dir(&self, flavor: Flavor) -> String {
        match self.side(flavor) {
            Some(p) => relative(&p.dir),
            None => format!("{}/{}", flavor.as_str(), self.name),
        }
    }
}

/// Source files of one program, by path relative to its `src/`.
pub fn program_sources(program: &Program) -> Result<BTreeMap<String, String>> {
    read_tree(&program.dir.join("src"))
}

/// The `//!` header of a program's `src/main.rs`, if it has one.
pub fn doc_of(program: &Program) -> Option<String> {
    let main = fs::read_to_string(program.dir.join("src/main.rs")).ok()?;
    let doc = crate::doc::inner_doc(&main);
    (!doc.trim().is_empty()).then_some(doc)
}

/// What a ladder step's `//!` header says under "What this step does, and why it is
/// safe": its first paragraph, on one line (`None` for the two ends, or a step that
/// says nothing).
pub fn step_summary(program: &Program) -> Option<String> {
    let main = fs::read_to_string(program.dir.join("src/main.rs")).ok()?;
    let doc = crate::doc::inner_doc(&main);
    let section = crate::doc::section(&doc, STEP_SECTION)?;
    Some(crate::doc::first_paragraph(&section))
}

/// The heading of a ladder step's `//!` header that says what the step does.
pub const STEP_SECTION: &str = "What this step does, and why it is safe";

/// A step done in the wrong order: the pitfall program, the ladder it belongs to, and
/// the step of that ladder it is a wrong version of (`None` if the ladder has no such
/// step).
#[derive(Debug, Clone)]
pub struct Pitfall {
    pub program: Program,
    pub ladder: String,
    pub right: Option<Program>,
}

/// Every pitfall of the workspace, in the order of the story: the bridge packages
/// that declare `pitfall-of = "PROGRAM"` in `[package.metadata.study]`.
pub fn pitfalls(all: &[Pair]) -> Vec<Pitfall> {
    all.iter()
        .flat_map(|p| p.others.iter())
        .filter_map(|program| {
            let ladder = program.declared.pitfall_of.clone()?;
            let right = all
                .iter()
                .find(|p| p.name == ladder)
                .and_then(|p| p.ladder().into_iter().find(|s| s.step == program.step))
                .cloned();
            Some(Pitfall {
                program: program.clone(),
                ladder,
                right,
            })
        })
        .collect()
}

/// One source path on both sides.
#[derive(Debug, Clone)]
pub struct SourcePair {
    /// Path relative to `src/` (`main.rs`).
    pub path: String,
    pub legacy: Option<String>,
    pub modern: Option<String>,
}

/// Groups the programs of the catalogue into pairs, in the order of the story.
pub fn pairs(catalogue: &Catalogue) -> Vec<Pair> {
    let mut out: Vec<Pair> = Vec::new();
    for program in catalogue.programs() {
        let at = match out.iter().position(|p| p.name == program.name) {
            Some(i) => i,
            None => {
                out.push(Pair {
                    name: program.name.clone(),
                    legacy: None,
                    modern: None,
                    others: Vec::new(),
                });
                out.len() - 1
            }
        };
        let pair = &mut out[at];
        match program.flavor {
            Flavor::Legacy => pair.legacy = Some(program.clone()),
            Flavor::Modern => pair.modern = Some(program.clone()),
            Flavor::Bridge | Flavor::Next => pair.others.push(program.clone()),
        }
    }
    out
}

/// The pair named `name`, or a usage error that lists the valid names.
pub fn find<'a>(pairs: &'a [Pair], name: &str) -> Result<&'a Pair> {
    pairs.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<&str> = pairs.iter().map(|p| p.name.as_str()).collect();
        UsageError(format!(
            "unknown program '{name}'; the programs are: {}",
            names.join(", ")
        ))
        .into()
    })
}

/// Every file under `dir`, by path relative to it, with `/` separators.
fn read_tree(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && d == dir => return Ok(out),
            Err(e) => return Err(e).with_context(|| format!("cannot list {}", d.display())),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap_or(&path)
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join("/");
                let text =
                    fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
                out.insert(rel, String::from_utf8_lossy(&text).into_owned());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub mod tests {
    use std::path::PathBuf;

    use super::*;

    /// A pair whose legacy side is a package folder made on the spot, with no modern
    /// side; removed with the returned folder.
    pub fn legacy_only(tag: &str, files: &[(&str, &str)]) -> (Pair, PathBuf) {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir =
            std::env::temp_dir().join(format!("xtask-pair-{tag}-{}-{nanos}", std::process::id()));
        for (path, text) in files {
            let file = dir.join("src").join(path);
            fs::create_dir_all(file.parent().unwrap()).unwrap();
            fs::write(file, text).unwrap();
        }
        let pair = Pair {
            name: "demo".into(),
            legacy: Some(Program {
                name: "demo".into(),
                flavor: Flavor::Legacy,
                step: None,
                package: "legacy-demo".into(),
                dir: dir.clone(),
                family: Ok(Family::UdpEcho),
                declared: Default::default(),
            }),
            modern: None,
            others: Vec::new(),
        };
        (pair, dir)
    }

    fn program(flavor: Flavor, step: Option<u32>) -> Program {
        Program {
            name: "demo".into(),
            flavor,
            step,
            package: format!("{flavor}-demo"),
            dir: PathBuf::from("/w"),
            family: Ok(Family::UdpEcho),
            declared: Default::default(),
        }
    }

    #[test]
    fn a_ladder_runs_from_legacy_through_the_steps_to_modern() {
        let pair = Pair {
            name: "demo".into(),
            legacy: Some(program(Flavor::Legacy, None)),
            modern: Some(program(Flavor::Modern, None)),
            others: vec![
                program(Flavor::Bridge, Some(2)),
                program(Flavor::Next, None),
                program(Flavor::Bridge, Some(1)),
            ],
        };
        let labels: Vec<String> = pair.ladder().iter().map(|p| p.flavor_label()).collect();
        assert_eq!(labels, ["legacy", "bridge-1", "bridge-2", "modern"]);
        assert!(pair.has_ladder());
        let plain = Pair {
            others: vec![program(Flavor::Next, None)],
            ..pair.clone()
        };
        let labels: Vec<String> = plain.ladder().iter().map(|p| p.flavor_label()).collect();
        assert_eq!(
            labels,
            ["legacy", "modern"],
            "no bridge steps: the two ends"
        );
        assert!(!plain.has_ladder());
        let step = Pair::between("demo", pair.ladder()[1], pair.ladder()[2]);
        assert_eq!(step.legacy.as_ref().and_then(|p| p.step), Some(1));
        assert_eq!(step.modern.as_ref().and_then(|p| p.step), Some(2));
    }

    #[test]
    fn every_bridge_step_says_what_it_does_and_each_pitfall_sits_beside_a_step() {
        let catalogue = Catalogue::load().unwrap();
        let all = pairs(&catalogue);
        let pitfalls = pitfalls(&all);
        for pair in all.iter().filter(|p| p.has_ladder()) {
            if pitfalls.iter().any(|f| f.program.name == pair.name) {
                continue;
            }
            let ladder = pair.ladder();
            assert_eq!(
                ladder.first().map(|p| p.flavor),
                Some(Flavor::Legacy),
                "{}",
                pair.name
            );
            assert_eq!(
                ladder.last().map(|p| p.flavor),
                Some(Flavor::Modern),
                "{}",
                pair.name
            );
            for (i, step) in ladder[1..ladder.len() - 1].iter().enumerate() {
                assert_eq!(
                    step.step,
                    Some(i as u32 + 1),
                    "{}: steps count 1, 2, …",
                    step.package
                );
                let summary = step_summary(step).unwrap_or_default();
                assert!(
                    summary.len() > 80,
                    "{}: no `# {STEP_SECTION}` paragraph",
                    step.package
                );
            }
        }
        for f in &pitfalls {
            assert!(
                f.right.is_some(),
                "{}: no step {:?} on {}",
                f.program.package,
                f.program.step,
                f.ladder
            );
        }
    }

    #[test]
    fn a_pair_with_one_side_diffs_against_nothing() {
        let main = "//! A demo.\n//!\n//! # Migration\n//!\n//! * none\n\nfn main() {\n    unsafe { f() }\n}\n";
        let (pair, dir) = legacy_only(
            "one-side",
            &[("main.rs", main), ("net/udp.rs", "pub fn f() {}\n")],
        );
        let files = pair.paired_sources().unwrap();
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            ["main.rs", "net/udp.rs"],
            "every file under src/, by relative path"
        );
        assert!(files
            .iter()
            .all(|f| f.legacy.is_some() && f.modern.is_none()));
        let doc = doc_of(pair.legacy.as_ref().unwrap());
        assert_eq!(
            doc.as_deref().map(crate::doc::first_paragraph),
            Some("A demo.".into())
        );
        assert!(pair.sources(Flavor::Modern).unwrap().is_empty());
        fs::remove_dir_all(dir).ok();
    }
}
