//! The programs of the workspace, discovered from `cargo metadata`, each with what its
//! own `Cargo.toml` declares under `[package.metadata.study]`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use serde_json::Value;

use crate::family::Family;
use crate::flavor::Flavor;
use crate::workspace::cargo;

/// How many of its per-socket futures a multi-socket program polls when one socket
/// becomes readable: the composition it uses, declared by the program, checked by the
/// suite and measured by the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Polls {
    /// Every future, whichever socket was woken (futures 0.1 `join_all`).
    #[serde(rename = "every")]
    Every,
    /// Every future while there are at most 30, only the woken one above (futures
    /// 0.3 `join_all`, which switches to `FuturesOrdered`).
    #[serde(rename = "every-up-to-30")]
    EveryUpTo30,
    /// Only the woken socket's future (a task per socket, or `FuturesUnordered`).
    #[serde(rename = "woken")]
    Woken,
}

/// Something a program needs from the machine beyond a Linux kernel with sockets.
/// The suite probes each once and reports every check of a program whose need is not
/// met as skipped, with the reason, never as passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Need {
    /// The `io_uring_setup` system call works (it may be disabled by the sysctl
    /// `kernel.io_uring_disabled`, or refused by a seccomp filter).
    #[serde(rename = "io-uring")]
    IoUring,
}

impl Need {
    pub fn as_str(self) -> &'static str {
        match self {
            Need::IoUring => "io-uring",
        }
    }
}

/// `[package.metadata.study]` of one package, as written. Unknown keys are an error,
/// so that a typo cannot silently leave a default in place.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Declared {
    /// The family (required): see [`Family::as_str`].
    pub family: Option<String>,
    /// Multi-socket programs: which futures a datagram polls.
    pub polls: Option<Polls>,
    /// The program this package is a flavor of, when it is not the package name
    /// without its flavor prefix (the steps of a migration ladder).
    pub program: Option<String>,
    /// The step of a `bridge` package on its program's ladder (1, 2, …).
    pub step: Option<u32>,
    /// Its place among the programs of its family, as the README tells them (select
    /// before epoll before mio before tokio); programs without one come after, by name.
    pub order: Option<u32>,
    /// What the program needs from the machine (`needs = ["io-uring"]`).
    #[serde(default)]
    pub needs: Vec<Need>,
    /// A `next` package: the readiness program it is best read against (`cargo xtask
    /// diff` compares it with that program's modern side).
    pub sibling: Option<String>,
    /// A `bridge` package that is a *pitfall*: its `step` of this program's ladder,
    /// done in the wrong order, kept as a program of its own so that the suite shows
    /// how it fails (documented failures) and the tools set it beside the step it
    /// gets wrong.
    pub pitfall_of: Option<String>,
}

/// One package of one flavor: `legacy-echo-mpsc` is program `echo-mpsc`, legacy.
#[derive(Debug, Clone)]
pub struct Program {
    pub name: String,
    pub flavor: Flavor,
    /// The step on the migration ladder (`bridge` packages only).
    pub step: Option<u32>,
    pub package: String,
    /// Directory of the package (holds `Cargo.toml` and `src/`).
    pub dir: PathBuf,
    /// The declared family, or why there is none: every tool refuses such a program
    /// by name rather than skipping it.
    pub family: Result<Family, String>,
    pub declared: Declared,
}

impl Program {
    /// The flavor as the matrix shows it: `legacy`, `modern`, `bridge-1`, …
    pub fn flavor_label(&self) -> String {
        match self.step {
            Some(n) => format!("{}-{n}", self.flavor),
            None => self.flavor.to_string(),
        }
    }

    /// The family, or an error naming the package and what is wrong with it.
    pub fn family(&self) -> Result<Family> {
        match &self.family {
            Ok(f) => Ok(*f),
            Err(why) => bail!("{}: {why}", self.package),
        }
    }

    /// The poll pattern a multi-socket program declares.
    pub fn polls(&self) -> Result<Polls> {
        self.declared.polls.with_context(|| {
            format!(
                "{}: a multisocket program declares `polls` in [package.metadata.study]",
                self.package
            )
        })
    }

    /// Orders programs as the study tells them: by chapter and family, then their
    /// declared order and name, then flavor and step. Programs without a valid family
    /// come last.
    pub fn story_key(&self) -> (u8, Option<Family>, u32, &str, Flavor, Option<u32>) {
        let family = self.family.as_ref().ok().copied();
        (
            family.map_or(u8::MAX, |f| f.chapter() as u8),
            family,
            self.declared.order.unwrap_or(u32::MAX),
            &self.name,
            self.flavor,
            self.step,
        )
    }

    fn from_package(p: &Value) -> Option<Program> {
        let package = p["name"].as_str()?;
        let (flavor, default_name) = Flavor::of_package(package)?;
        let dir = Path::new(p["manifest_path"].as_str()?)
            .parent()?
            .to_path_buf();
        let study = &p["metadata"]["study"];
        let (declared, family) = match Declared::deserialize(study) {
            _ if study.is_null() => (Declared::default(), Err(missing_family())),
            Ok(d) => {
                let family = validate(&d, flavor);
                (d, family)
            }
            Err(e) => (
                Declared::default(),
                Err(format!("[package.metadata.study] does not parse: {e}")),
            ),
        };
        Some(Program {
            name: declared
                .program
                .clone()
                .unwrap_or_else(|| default_name.to_string()),
            flavor,
            step: declared.step,
            package: package.to_string(),
            dir,
            family,
            declared,
        })
    }
}

fn missing_family() -> String {
    format!(
        "no family declared: add `[package.metadata.study] family = \"…\"` to its Cargo.toml \
         (one of: {})",
        Family::names()
    )
}

/// The family of a declaration, checked against what the family requires.
fn validate(d: &Declared, flavor: Flavor) -> Result<Family, String> {
    let name = d.family.as_deref().ok_or_else(missing_family)?;
    let family = Family::parse(name).ok_or_else(|| {
        format!(
            "unknown family {name:?} in [package.metadata.study]; the families are: {}",
            Family::names()
        )
    })?;
    match (family, d.polls) {
        (Family::Multisocket, None) => {
            return Err(
                "a multisocket program declares `polls` (every, every-up-to-30 or \
                        woken) in [package.metadata.study]"
                    .into(),
            )
        }
        (Family::Multisocket, Some(_)) | (_, None) => {}
        (_, Some(_)) => return Err(format!("`polls` is for multisocket programs, not {family}")),
    }
    if let (Some(_), false) = (&d.sibling, flavor == Flavor::Next) {
        return Err(format!(
            "only next packages name a readiness `sibling`, not {flavor}"
        ));
    }
    if let (Some(_), false) = (&d.pitfall_of, flavor == Flavor::Bridge) {
        return Err(format!(
            "only bridge packages are a `pitfall-of` a ladder, not {flavor}"
        ));
    }
    match (flavor, d.step) {
        (Flavor::Bridge, None) => {
            Err("a bridge package declares its `step` on the ladder (1, 2, …)".into())
        }
        (Flavor::Bridge, Some(0)) => Err("ladder steps count from 1".into()),
        (Flavor::Bridge, Some(_)) | (_, None) => Ok(family),
        (_, Some(_)) => Err(format!("only bridge packages have a `step`, not {flavor}")),
    }
}

/// A mistake in what the user asked for (an unknown program name, say), as opposed to
/// a failure while doing it: tools exit with status 2 for it, as for bad options.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

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

/// `cargo metadata` of the workspace and the programs found in it.
pub struct Catalogue {
    pub json: Value,
    programs: Vec<Program>,
}

impl Catalogue {
    /// Runs `cargo metadata --locked` in the workspace.
    pub fn load() -> Result<Catalogue> {
        let out = cargo()
            .args(["metadata", "--format-version", "1", "--locked"])
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed");
        }
        let json = serde_json::from_slice(&out.stdout).context("cargo metadata output")?;
        Ok(Catalogue::from_json(json))
    }

    /// The catalogue of a `cargo metadata` document.
    pub fn from_json(json: Value) -> Catalogue {
        let members: BTreeSet<&str> = json["workspace_members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut programs: Vec<Program> = json["packages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
            .filter_map(Program::from_package)
            .collect();
        programs.sort_by(|a, b| a.story_key().cmp(&b.story_key()));
        Catalogue { json, programs }
    }

    /// Every program of every flavor, in the order of the story (chapter, family,
    /// name, flavor).
    pub fn programs(&self) -> &[Program] {
        &self.programs
    }

    /// The distinct program names, in the order of the story.
    pub fn names(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for p in &self.programs {
            if !out.contains(&p.name.as_str()) {
                out.push(&p.name);
            }
        }
        out
    }

    /// Checks that each name is a program of the workspace; the error (a
    /// [`UsageError`]) lists them all.
    pub fn check_names(&self, names: &[String]) -> Result<()> {
        for name in names {
            if !self.programs.iter().any(|p| &p.name == name) {
                return Err(UsageError(format!(
                    "unknown program '{name}'; the programs are: {}",
                    self.names().join(", ")
                ))
                .into());
            }
        }
        Ok(())
    }

    /// The programs named (all when `names` is empty) in the flavors given (all when
    /// `None`).
    pub fn select(&self, names: &[String], flavor: Option<Flavor>) -> Result<Vec<Program>> {
        self.check_names(names)?;
        Ok(self
            .programs
            .iter()
            .filter(|p| names.is_empty() || names.contains(&p.name))
            .filter(|p| flavor.is_none_or(|f| f == p.flavor))
            .cloned()
            .collect())
    }

    fn packages(&self) -> impl Iterator<Item = &Value> {
        self.json["packages"].as_array().into_iter().flatten()
    }

    fn package(&self, name: &str) -> Option<&Value> {
        self.packages().find(|p| p["name"] == name)
    }

    /// Name and version of every package in `package`'s dependency tree (normal and
    /// build dependencies, transitively; dev-dependencies do not reach a binary).
    pub fn dependency_tree(&self, package: &str) -> Result<BTreeSet<(String, String)>> {
        let by_id: HashMap<&str, &Value> = self
            .packages()
            .filter_map(|p| Some((p["id"].as_str()?, p)))
            .collect();
        let nodes: HashMap<&str, &Value> = self.json["resolve"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| Some((n["id"].as_str()?, n)))
            .collect();
        let root = self
            .package(package)
            .and_then(|p| p["id"].as_str())
            .with_context(|| format!("package {package} not in cargo metadata"))?;
        let mut seen = BTreeSet::new();
        let mut out = BTreeSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let (Some(p), true) = (by_id.get(id), id != root) {
                let field = |k: &str| p[k].as_str().unwrap_or_default().to_string();
                out.insert((field("name"), field("version")));
            }
            let deps = nodes.get(id).and_then(|n| n["deps"].as_array());
            for dep in deps.into_iter().flatten() {
                let kinds = dep["dep_kinds"].as_array().into_iter().flatten();
                let not_dev = kinds.clone().any(|k| k["kind"].as_str() != Some("dev"));
                if let (Some(pkg), true) = (dep["pkg"].as_str(), not_dev) {
                    stack.push(pkg);
                }
            }
        }
        Ok(out)
    }

    /// The direct dependencies (normal and build, not dev) of `package`, sorted.
    pub fn dependencies(&self, package: &str) -> Vec<Dependency> {
        let Some(pkg) = self.package(package) else {
            return Vec::new();
        };
        let by_id: HashMap<&str, &Value> = self
            .packages()
            .filter_map(|p| Some((p["id"].as_str()?, p)))
            .collect();
        // Resolved packages this one depends on, by package name.
        let node = self.json["resolve"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|n| n["id"] == pkg["id"]);
        // By package name; one name may resolve twice (futures 0.1 and 0.3 beside
        // each other in a bridge package), told apart by the requirement.
        let mut resolved: HashMap<&str, Vec<&str>> = HashMap::new();
        for d in node
            .and_then(|n| n["deps"].as_array())
            .into_iter()
            .flatten()
        {
            let found = by_id.get(d["pkg"].as_str().unwrap_or_default());
            if let Some((name, version)) =
                found.and_then(|p| Some((p["name"].as_str()?, p["version"].as_str()?)))
            {
                resolved.entry(name).or_default().push(version);
            }
        }
        let declared = pkg["dependencies"].as_array().into_iter().flatten();
        let mut out: Vec<Dependency> = declared
            .filter(|d| d["kind"].as_str() != Some("dev"))
            .filter_map(|d| {
                let package_name = d["name"].as_str()?;
                let req = match d["path"].is_string() {
                    true => "path".to_string(),
                    false => d["req"].as_str().unwrap_or("*").to_string(),
                };
                let versions = resolved.get(package_name).map(Vec::as_slice).unwrap_or(&[]);
                let version = versions
                    .iter()
                    .find(|v| semver_compatible(&req, v))
                    .or(versions.first());
                Some(Dependency {
                    name: d["rename"].as_str().unwrap_or(package_name).to_string(),
                    resolved: version.map(|v| v.to_string()),
                    req,
                    kind: d["kind"].as_str().unwrap_or("normal").to_string(),
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup();
        out
    }
}

/// Whether `version` can satisfy a caret requirement `req` (`^0.1.31`, `0.3`, `1.48`):
/// the same leftmost non-zero component, as cargo reads it. Anything else (`path`,
/// `*`, `>=`) is taken as satisfiable.
fn semver_compatible(req: &str, version: &str) -> bool {
    let Some(req) = req
        .strip_prefix('^')
        .or(Some(req))
        .filter(|r| r.chars().next().is_some_and(|c| c.is_ascii_digit()))
    else {
        return true;
    };
    let parts = |s: &str| -> Vec<u64> {
        s.split(['.', '-', '+'])
            .take(3)
            .map(|p| p.parse().unwrap_or(0))
            .collect()
    };
    let (r, v) = (parts(req), parts(version));
    // Compare up to and including the first non-zero component of the requirement.
    let upto = r.iter().position(|&c| c != 0).map_or(r.len(), |i| i + 1);
    r.iter().zip(&v).take(upto).all(|(a, b)| a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_requirement_picks_its_version() {
        assert!(semver_compatible("^0.1.31", "0.1.31"));
        assert!(!semver_compatible("^0.1.31", "0.3.34"));
        assert!(semver_compatible("^0.3.31", "0.3.34"));
        assert!(semver_compatible("^1.48", "1.54.1"));
        assert!(!semver_compatible("^1.48", "0.1.22"));
        assert!(semver_compatible("path", "0.1.0"));
        assert!(semver_compatible("*", "2.0.0"));
    }

    fn package(name: &str, study: Value) -> Value {
        json!({
            "name": name,
            "id": format!("{name} 0.1.0"),
            "manifest_path": format!("/w/{name}/Cargo.toml"),
            "metadata": if study.is_null() { Value::Null } else { json!({ "study": study }) },
            "dependencies": [],
        })
    }

    fn catalogue(packages: Vec<Value>) -> Catalogue {
        let members: Vec<Value> = packages.iter().map(|p| p["id"].clone()).collect();
        Catalogue::from_json(json!({
            "packages": packages,
            "workspace_members": members,
            "resolve": { "nodes": [] },
        }))
    }

    #[test]
    fn a_program_is_what_its_cargo_toml_declares() {
        let c = catalogue(vec![
            package("modern-udp-twin", json!({ "family": "udp-echo" })),
            package("legacy-udp-twin", json!({ "family": "udp-echo" })),
            package("shared", Value::Null),
            package(
                "modern-fan",
                json!({ "family": "multisocket", "polls": "every-up-to-30" }),
            ),
            package(
                "bridge-fan-step1",
                json!({ "family": "multisocket", "polls": "woken", "program": "fan", "step": 1 }),
            ),
            package(
                "bridge-fan-too-early",
                json!({
                    "family": "multisocket", "polls": "woken", "program": "fan-too-early",
                    "step": 1, "pitfall-of": "fan"
                }),
            ),
        ]);
        let found: Vec<(String, String, Family)> = c
            .programs()
            .iter()
            .map(|p| (p.name.clone(), p.flavor_label(), p.family().unwrap()))
            .collect();
        assert_eq!(
            found,
            [
                ("udp-twin".into(), "legacy".into(), Family::UdpEcho),
                ("udp-twin".into(), "modern".into(), Family::UdpEcho),
                ("fan".into(), "bridge-1".into(), Family::Multisocket),
                ("fan".into(), "modern".into(), Family::Multisocket),
                (
                    "fan-too-early".into(),
                    "bridge-1".into(),
                    Family::Multisocket
                ),
            ],
            "in story order: UDP echo first, then multi-socket; flavors legacy → bridge → modern"
        );
        assert_eq!(c.programs()[3].polls().unwrap(), Polls::EveryUpTo30);
        assert_eq!(c.programs()[4].declared.pitfall_of.as_deref(), Some("fan"));
        let next = catalogue(vec![package(
            "next-udp-ring",
            json!({ "family": "udp-echo", "sibling": "udp-twin", "needs": ["io-uring"] }),
        )]);
        let p = &next.programs()[0];
        assert_eq!((p.name.as_str(), p.flavor), ("udp-ring", Flavor::Next));
        assert_eq!(p.declared.needs, [Need::IoUring]);
        assert_eq!(p.declared.sibling.as_deref(), Some("udp-twin"));
        assert!(p.family().is_ok());
        assert_eq!(c.names(), ["udp-twin", "fan", "fan-too-early"]);
        assert!(c
            .check_names(&["nope".into()])
            .unwrap_err()
            .to_string()
            .contains("udp-twin, fan"));
    }

    #[test]
    fn a_missing_unknown_or_malformed_declaration_is_kept_with_the_reason() {
        let c = catalogue(vec![
            package("legacy-a", Value::Null),
            package("legacy-b", json!({ "family": "udp_echo" })),
            package("legacy-c", json!({ "family": "udp-echo", "famly": "x" })),
            package("legacy-d", json!({ "family": "multisocket" })),
            package(
                "legacy-e",
                json!({ "family": "udp-echo", "polls": "woken" }),
            ),
            package("bridge-f", json!({ "family": "udp-echo" })),
            package("modern-g", json!({ "family": "udp-echo", "step": 2 })),
            package(
                "modern-h",
                json!({ "family": "udp-echo", "sibling": "echo-select" }),
            ),
            package(
                "next-i",
                json!({ "family": "udp-echo", "needs": ["io_uring"] }),
            ),
            package(
                "modern-j",
                json!({ "family": "udp-echo", "pitfall-of": "udp-twin" }),
            ),
        ]);
        let why = |pkg: &str| {
            let p = c.programs().iter().find(|p| p.package == pkg).unwrap();
            p.family().unwrap_err().to_string()
        };
        assert!(
            why("legacy-a").contains("no family declared"),
            "{}",
            why("legacy-a")
        );
        assert!(why("legacy-b").contains("unknown family \"udp_echo\""));
        assert!(
            why("legacy-b").contains("udp-echo, multisocket"),
            "lists the families"
        );
        assert!(why("legacy-c").contains("famly"), "{}", why("legacy-c"));
        assert!(why("legacy-d").contains("declares `polls`"));
        assert!(why("legacy-e").contains("for multisocket programs"));
        assert!(why("bridge-f").contains("`step`"));
        assert!(why("modern-g").contains("only bridge packages"));
        assert!(why("modern-h").contains("only next packages"));
        assert!(why("next-i").contains("io_uring"), "{}", why("next-i"));
        assert!(why("modern-j").contains("only bridge packages"));
        assert_eq!(c.programs().len(), 10, "none is dropped");
    }
}
