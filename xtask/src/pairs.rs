//! The pairs of the workspace, discovered from `cargo metadata`: every `legacy-X` and
//! `modern-X` package is one side of program X. Nothing here lists programs by hand,
//! so a pair that lands shows up in `diff`, `trace` and `study` as it is.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use conformance::programs::{project_root, Flavor, Metadata, Program};
use serde_json::Value;

use crate::stat;

/// One program: its legacy and modern packages, either of which may not exist yet.
#[derive(Debug, Clone)]
pub struct Pair {
    pub name: String,
    pub legacy: Option<Program>,
    pub modern: Option<Program>,
}

impl Pair {
    pub fn side(&self, flavor: Flavor) -> Option<&Program> {
        match flavor {
            Flavor::Legacy => self.legacy.as_ref(),
            Flavor::Modern => self.modern.as_ref(),
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

    /// The crate-level doc comment (`//!` lines) of one side's `src/main.rs`.
    pub fn doc(&self, flavor: Flavor) -> Option<String> {
        let main = fs::read_to_string(self.side(flavor)?.dir.join("src/main.rs")).ok()?;
        let doc = crate::doc::inner_doc(&main);
        (!doc.trim().is_empty()).then_some(doc)
    }

    /// `legacy/echo-tokio`-style path of a side, relative to the workspace root.
    pub fn display_dir(&self, flavor: Flavor) -> String {
        match self.side(flavor) {
            Some(p) => relative(&p.dir),
            None => format!("{}/{}", flavor.as_str(), self.name),
        }
    }
}

/// One source path on both sides.
#[derive(Debug, Clone)]
pub struct SourcePair {
    /// Path relative to `src/` (`main.rs`).
    pub path: String,
    pub legacy: Option<String>,
    pub modern: Option<String>,
}

/// Groups the programs of `meta` into pairs, sorted by name.
pub fn pairs(meta: &Metadata) -> Vec<Pair> {
    let mut by_name: BTreeMap<String, Pair> = BTreeMap::new();
    for program in meta.programs() {
        let pair = by_name.entry(program.name.clone()).or_insert_with(|| Pair {
            name: program.name.clone(),
            legacy: None,
            modern: None,
        });
        match program.flavor {
            Flavor::Legacy => pair.legacy = Some(program),
            Flavor::Modern => pair.modern = Some(program),
        }
    }
    by_name.into_values().collect()
}

/// The pair named `name`, or an error that lists the valid names.
pub fn find<'a>(pairs: &'a [Pair], name: &str) -> Result<&'a Pair> {
    match pairs.iter().find(|p| p.name == name) {
        Some(p) => Ok(p),
        None => {
            let names: Vec<&str> = pairs.iter().map(|p| p.name.as_str()).collect();
            bail!(
                "unknown program '{name}'; the programs are: {}",
                names.join(", ")
            )
        }
    }
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

/// `path` relative to the workspace root when it lies inside it.
pub fn relative(path: &Path) -> String {
    let root = project_root();
    path.strip_prefix(&root)
        .map(PathBuf::from)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// A direct dependency of a package, as declared and as resolved by `Cargo.lock`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dependency {
    /// The name the code uses (the rename, if any).
    pub name: String,
    /// Version requirement as cargo sees it (`^0.1.31`; `path` for path dependencies).
    pub req: String,
    /// The version `Cargo.lock` resolved it to.
    pub resolved: Option<String>,
    /// `normal` or `build`.
    pub kind: String,
}

/// The direct dependencies (normal and build, not dev) of `package`.
pub fn dependencies(meta: &Metadata, package: &str) -> Vec<Dependency> {
    let packages: Vec<&Value> = meta.json["packages"]
        .as_array()
        .map(|a| a.iter().collect())
        .unwrap_or_default();
    let Some(pkg) = packages.iter().find(|p| p["name"] == package) else {
        return Vec::new();
    };
    let by_id: HashMap<&str, &Value> = packages
        .iter()
        .filter_map(|p| Some((p["id"].as_str()?, *p)))
        .collect();
    // Resolved packages this one depends on, by package name.
    let resolved: HashMap<&str, &str> = meta.json["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["id"] == pkg["id"])
        .and_then(|n| n["deps"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let p = by_id.get(d["pkg"].as_str()?)?;
            Some((p["name"].as_str()?, p["version"].as_str()?))
        })
        .collect();
    let mut out: Vec<Dependency> = pkg["dependencies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|d| d["kind"].as_str() != Some("dev"))
        .filter_map(|d| {
            let package_name = d["name"].as_str()?;
            let req = if d["path"].is_string() {
                "path".to_string()
            } else {
                d["req"].as_str().unwrap_or("*").to_string()
            };
            Some(Dependency {
                name: d["rename"].as_str().unwrap_or(package_name).to_string(),
                req,
                resolved: resolved.get(package_name).map(|v| v.to_string()),
                kind: d["kind"].as_str().unwrap_or("normal").to_string(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out.dedup();
    out
}

/// The figures of one side for `diff --stat`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideStat {
    pub code_lines: usize,
    pub future_impls: usize,
    pub unsafe_blocks: usize,
    pub dependencies: usize,
}

/// `diff --stat` figures of one pair; a missing side is `None`.
#[derive(Debug, Clone)]
pub struct PairStat {
    pub name: String,
    pub legacy: Option<SideStat>,
    pub modern: Option<SideStat>,
    /// Lines inserted plus lines deleted, over every source file.
    pub changed: usize,
}

pub fn side_stat(sources: &BTreeMap<String, String>, dependencies: usize) -> SideStat {
    let rust = || {
        sources
            .iter()
            .filter(|(p, _)| p.ends_with(".rs"))
            .map(|(_, s)| s)
    };
    SideStat {
        code_lines: rust().map(|s| stat::code_lines(s)).sum(),
        future_impls: rust().map(|s| stat::future_impls(s)).sum(),
        unsafe_blocks: rust().map(|s| stat::unsafe_blocks(s)).sum(),
        dependencies,
    }
}

pub fn pair_stat(meta: &Metadata, pair: &Pair) -> Result<PairStat> {
    let side = |flavor: Flavor| -> Result<Option<SideStat>> {
        let Some(program) = pair.side(flavor) else {
            return Ok(None);
        };
        let deps = dependencies(meta, &program.package)
            .iter()
            .filter(|d| d.kind == "normal")
            .count();
        Ok(Some(side_stat(&pair.sources(flavor)?, deps)))
    };
    let changed = pair
        .paired_sources()?
        .iter()
        .map(|s| {
            crate::diff::changed_lines(
                s.legacy.as_deref().unwrap_or(""),
                s.modern.as_deref().unwrap_or(""),
            )
        })
        .sum();
    Ok(PairStat {
        name: pair.name.clone(),
        legacy: side(Flavor::Legacy)?,
        modern: side(Flavor::Modern)?,
        changed,
    })
}

#[cfg(test)]
pub mod tests {
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
                package: "legacy-demo".into(),
                dir: dir.clone(),
            }),
            modern: None,
        };
        (pair, dir)
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
        assert_eq!(
            pair.doc(Flavor::Legacy)
                .as_deref()
                .map(crate::doc::first_paragraph),
            Some("A demo.".into())
        );
        assert_eq!(pair.doc(Flavor::Modern), None);
        assert!(crate::diff::missing_side_note(&pair)
            .unwrap()
            .contains("no modern side yet"));
        let stat = side_stat(&pair.sources(Flavor::Legacy).unwrap(), 1);
        assert_eq!(
            (stat.code_lines, stat.unsafe_blocks, stat.future_impls),
            (4, 1, 0)
        );
        assert!(pair.sources(Flavor::Modern).unwrap().is_empty());
        fs::remove_dir_all(dir).ok();
    }
}
