//! The programs of the workspace, discovered from `cargo metadata` (every package
//! named `legacy-…` or `modern-…`), and building them with the `cargo` that runs us.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The era a package belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flavor {
    Legacy,
    Modern,
}

impl Flavor {
    pub const ALL: [Flavor; 2] = [Flavor::Legacy, Flavor::Modern];

    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Legacy => "legacy",
            Flavor::Modern => "modern",
        }
    }

    pub fn parse(s: &str) -> Option<Flavor> {
        Flavor::ALL.into_iter().find(|f| f.as_str() == s)
    }
}

/// One package of one flavor: `legacy-echo-mpsc` is program `echo-mpsc`, legacy.
#[derive(Debug, Clone)]
pub struct Program {
    pub name: String,
    pub flavor: Flavor,
    pub package: String,
    /// Directory of the package (holds `Cargo.toml` and `src/`).
    pub dir: PathBuf,
}

/// The workspace root (the directory above this crate).
pub fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The `cargo` to run: the one that runs us (`$CARGO`), else `cargo` on PATH.
pub fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(project_root());
    cmd
}

/// `cargo metadata` of the workspace, with its resolved dependency graph.
pub struct Metadata {
    pub json: Value,
}

impl Metadata {
    pub fn load() -> Result<Metadata> {
        let out = cargo()
            .args(["metadata", "--format-version", "1", "--locked"])
            .stderr(Stdio::inherit())
            .output()
            .context("cannot run cargo metadata")?;
        if !out.status.success() {
            bail!("cargo metadata failed");
        }
        Ok(Metadata {
            json: serde_json::from_slice(&out.stdout).context("cargo metadata output")?,
        })
    }

    fn packages(&self) -> impl Iterator<Item = &Value> {
        self.json["packages"].as_array().into_iter().flatten()
    }

    /// Every legacy and modern package of the workspace, sorted by program then flavor.
    pub fn programs(&self) -> Vec<Program> {
        let members: BTreeSet<&str> = self.json["workspace_members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let mut out: Vec<Program> = self
            .packages()
            .filter(|p| p["id"].as_str().is_some_and(|id| members.contains(id)))
            .filter_map(|p| {
                let package = p["name"].as_str()?;
                let (flavor, name) = Flavor::ALL.into_iter().find_map(|f| {
                    Some((f, package.strip_prefix(f.as_str())?.strip_prefix('-')?))
                })?;
                let dir = Path::new(p["manifest_path"].as_str()?)
                    .parent()?
                    .to_path_buf();
                Some(Program {
                    name: name.to_string(),
                    flavor,
                    package: package.to_string(),
                    dir,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.name, a.flavor).cmp(&(&b.name, b.flavor)));
        out
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
        let root = by_id
            .iter()
            .find(|(_, p)| p["name"] == package)
            .map(|(id, _)| *id)
            .with_context(|| format!("package {package} not in cargo metadata"))?;
        let mut seen = BTreeSet::new();
        let mut out = BTreeSet::new();
        let mut stack = vec![root];
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let Some(p) = by_id.get(id) {
                if id != root {
                    out.insert((
                        p["name"].as_str().unwrap_or_default().to_string(),
                        p["version"].as_str().unwrap_or_default().to_string(),
                    ));
                }
            }
            for dep in nodes
                .get(id)
                .and_then(|n| n["deps"].as_array())
                .into_iter()
                .flatten()
            {
                let not_dev = dep["dep_kinds"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|k| k["kind"].as_str() != Some("dev"));
                if let Some(pkg) = dep["pkg"].as_str() {
                    if not_dev {
                        stack.push(pkg);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// Builds the binaries of `packages` (debug profile) and returns binary name → path.
pub fn build(packages: &[&str]) -> Result<BTreeMap<String, PathBuf>> {
    if packages.is_empty() {
        return Ok(BTreeMap::new());
    }
    let mut cmd = cargo();
    cmd.args([
        "build",
        "--quiet",
        "--message-format=json-render-diagnostics",
        "--bins",
    ]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo build")?;
    if !out.status.success() {
        bail!("cargo build failed");
    }
    let mut exes = BTreeMap::new();
    for line in out.stdout.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if msg["reason"] == "compiler-artifact" {
            if let (Some(name), Some(exe)) =
                (msg["target"]["name"].as_str(), msg["executable"].as_str())
            {
                exes.insert(name.to_string(), PathBuf::from(exe));
            }
        }
    }
    Ok(exes)
}
