//! The programs of the workspace, discovered from `cargo metadata` (through the
//! `cargo_metadata` crate), each with what its own `Cargo.toml` declares under
//! `[package.metadata.study]` ([`Declared`]).

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use cargo_metadata::{DependencyKind, Metadata, MetadataCommand, Package, PackageId};
use serde::Deserialize;

use crate::declared::{AcrossCores, Declared, Polls};
use crate::family::Family;
use crate::flavor::Flavor;
use crate::workspace::project_root;

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

/// A program run with `--threads n`: what it is to expect there is its own
/// declaration with `[package.metadata.study.threaded]` on top (what that gives
/// replaces the program's: documented failures, figures). The suite runs it as a row of its own, flavor
/// [`OnThreads::flavor_label`] (`modern×2`).
#[derive(Debug, Clone)]
pub struct OnThreads {
    /// The program, its declaration that of its row on threads.
    pub program: Program,
    pub threads: u32,
}

impl OnThreads {
    /// `legacy×2`, `modern×2`, `bridge-3×2`: see [`crate::flavor::threads_label`].
    pub fn flavor_label(&self) -> String {
        crate::flavor::threads_label(&self.program.flavor_label(), self.threads)
    }

    /// The options it is started with, besides each check's own: `--threads n`.
    pub fn args(&self) -> Vec<String> {
        vec!["--threads".to_string(), self.threads.to_string()]
    }

    /// How it uses the threads (what it declares).
    pub fn across_cores(&self) -> AcrossCores {
        // `Program::on_threads` makes one only for a program that declares it.
        (self.program.declared.across_cores).unwrap_or(AcrossCores::WorkStealing)
    }
}

impl Program {
    /// The flavor as the matrix shows it: `legacy`, `modern`, `bridge-1`, …
    pub fn flavor_label(&self) -> String {
        match self.step {
            Some(n) => format!("{}-{n}", self.flavor),
            None => self.flavor.to_string(),
        }
    }

    /// The program run with `--threads n`, if it takes that option: if it declares
    /// how it runs across cores (`across-cores`).
    pub fn on_threads(&self, n: u32) -> Option<OnThreads> {
        self.declared.across_cores?;
        let mut declared = self.declared.clone();
        let threaded = std::mem::take(&mut declared.threaded);
        if !threaded.expected_failure.is_empty() {
            declared.expected_failure = threaded.expected_failure;
        }
        if let Some(s) = threaded.syscalls_per_echo {
            declared.syscalls_per_echo = Some(s);
        }
        if let Some(d) = threaded.during_lookup {
            declared.during_lookup = Some(d);
        }
        if let Some(o) = threaded.event_order {
            declared.event_order = Some(o);
        }
        if let Some(r) = threaded.rss_at_1000_peers_kib {
            declared.rss_at_1000_peers_kib = Some(r);
        }
        let program = Program {
            declared,
            ..self.clone()
        };
        Some(OnThreads {
            program,
            threads: n,
        })
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

    /// Why `check` is documented to fail for this package, if it is.
    pub fn expected_failure(&self, check: &str) -> Option<&str> {
        let groups = self.declared.expected_failure.iter();
        let mut found = groups.filter(|g| g.checks.iter().any(|c| c == check));
        found.next().map(|g| g.why.as_str())
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

    fn from_package(p: &Package) -> Option<Program> {
        let (flavor, default_name) = Flavor::of_package(&p.name)?;
        let dir = p.manifest_path.parent()?.as_std_path().to_path_buf();
        let study = &p.metadata["study"];
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
            name: (declared.program.clone()).unwrap_or_else(|| default_name.to_string()),
            flavor,
            step: declared.step,
            package: p.name.to_string(),
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
    let only = |key: &str, present: bool, of: Family| match (present, family == of) {
        (true, false) => Err(format!("`{key}` is for {of} programs, not {family}")),
        _ => Ok(()),
    };
    only("polls", d.polls.is_some(), Family::Multisocket)?;
    only(
        "syscalls-per-echo",
        d.syscalls_per_echo.is_some(),
        Family::UdpEcho,
    )?;
    only("woken", d.woken.is_some(), Family::UdpWaiters)?;
    only("under-flood", !d.under_flood.is_empty(), Family::CoopBudget)?;
    only("during-lookup", d.during_lookup.is_some(), Family::Ident)?;
    let t = &d.threaded;
    only(
        "threaded.syscalls-per-echo",
        t.syscalls_per_echo.is_some(),
        Family::UdpEcho,
    )?;
    only(
        "threaded.during-lookup",
        t.during_lookup.is_some(),
        Family::Ident,
    )?;
    only("event-order", d.event_order.is_some(), Family::UdpEcho)?;
    only(
        "threaded.event-order",
        t.event_order.is_some(),
        Family::UdpEcho,
    )?;
    let rss = d.rss_at_1000_peers_kib.or(t.rss_at_1000_peers_kib);
    if rss.is_some() && !matches!(family, Family::TcpEcho | Family::Ident) {
        return Err(format!(
            "`rss-at-1000-peers-kib` is for TCP programs, not {family}"
        ));
    }
    if d.across_cores.is_none() && !t.is_empty() {
        return Err(
            "[package.metadata.study.threaded] is for a program that declares how it runs \
             on several threads (`across-cores`)"
                .into(),
        );
    }
    let servers = [Family::UdpEcho, Family::TcpEcho, Family::Ident];
    if d.across_cores.is_some() && !servers.contains(&family) {
        return Err(format!(
            "`across-cores` is for the echo and ident servers, not {family}"
        ));
    }
    if family == Family::Multisocket && d.polls.is_none() {
        return Err(
            "a multisocket program declares `polls` (every, every-up-to-30 or \
                    woken) in [package.metadata.study]"
                .into(),
        );
    }
    let only_flavor = |key: &str, present: bool, of: Flavor| match (present, flavor == of) {
        (true, false) => Err(format!("only {of} packages declare `{key}`, not {flavor}")),
        _ => Ok(()),
    };
    only_flavor("sibling", d.sibling.is_some(), Flavor::Next)?;
    only_flavor("pitfall-of", d.pitfall_of.is_some(), Flavor::Bridge)?;
    if d.compile_error.is_some() && d.pitfall_of.is_none() {
        return Err("`compile-error` is for a pitfall (`pitfall-of`)".into());
    }
    only_flavor("step", d.step.is_some(), Flavor::Bridge)?;
    match (flavor, d.step) {
        (Flavor::Bridge, None) => {
            Err("a bridge package declares its `step` on the ladder (1, 2, …)".into())
        }
        (Flavor::Bridge, Some(0)) => Err("ladder steps count from 1".into()),
        _ => Ok(family),
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
    /// The package it names (`futures` for `futures-compat`).
    pub package: String,
    /// Version requirement as cargo sees it (`^0.1.31`; `path` for path dependencies).
    pub req: String,
    /// The version `Cargo.lock` resolved it to.
    pub resolved: Option<String>,
    /// `normal` or `build`.
    pub kind: String,
    /// The features it is declared with.
    pub features: Vec<String>,
}

/// `cargo metadata` of the workspace and the programs found in it.
pub struct Catalogue {
    pub metadata: Metadata,
    programs: Vec<Program>,
}

impl Catalogue {
    /// Runs `cargo metadata --locked` in the workspace.
    pub fn load() -> Result<Catalogue> {
        let mut cmd = MetadataCommand::new();
        if let Some(cargo) = std::env::var_os("CARGO") {
            cmd.cargo_path(cargo);
        }
        let metadata = (cmd.current_dir(project_root()))
            .other_options(vec!["--locked".to_string()])
            .exec()
            .context("cargo metadata failed")?;
        Ok(Catalogue::of(metadata))
    }

    /// The catalogue of a `cargo metadata` document.
    pub fn of(metadata: Metadata) -> Catalogue {
        let members: BTreeSet<&PackageId> = metadata.workspace_members.iter().collect();
        let mut programs: Vec<Program> = (metadata.packages.iter())
            .filter(|p| members.contains(&p.id))
            .filter_map(Program::from_package)
            .collect();
        programs.sort_by(|a, b| a.story_key().cmp(&b.story_key()));
        Catalogue { metadata, programs }
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

    /// The package of that name.
    pub fn package(&self, name: &str) -> Option<&Package> {
        self.metadata
            .packages
            .iter()
            .find(|p| p.name.as_str() == name)
    }

    /// Name and version of every package in `package`'s dependency tree (normal and
    /// build dependencies, transitively; dev-dependencies do not reach a binary).
    pub fn dependency_tree(&self, package: &str) -> Result<BTreeSet<(String, String)>> {
        let by_id: HashMap<&PackageId, &Package> =
            self.metadata.packages.iter().map(|p| (&p.id, p)).collect();
        let resolve = self.metadata.resolve.as_ref().context("no resolve graph")?;
        let nodes: HashMap<_, _> = resolve.nodes.iter().map(|n| (&n.id, n)).collect();
        let root = &self
            .package(package)
            .with_context(|| format!("package {package} not in cargo metadata"))?
            .id;
        let (mut seen, mut out, mut stack) = (BTreeSet::new(), BTreeSet::new(), vec![root]);
        while let Some(id) = stack.pop() {
            if !seen.insert(id) {
                continue;
            }
            if let (Some(p), true) = (by_id.get(id), id != root) {
                out.insert((p.name.to_string(), p.version.to_string()));
            }
            let deps = nodes.get(id).map(|n| n.deps.as_slice()).unwrap_or_default();
            for dep in deps {
                let not_dev = (dep.dep_kinds.iter()).any(|k| k.kind != DependencyKind::Development);
                if not_dev {
                    stack.push(&dep.pkg);
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
        // Resolved versions by package name; one name may resolve twice (futures 0.1
        // and 0.3 beside each other in a bridge package), told apart by requirement.
        let mut resolved: HashMap<&str, Vec<&cargo_metadata::semver::Version>> = HashMap::new();
        let node = (self.metadata.resolve.iter())
            .flat_map(|r| &r.nodes)
            .find(|n| n.id == pkg.id);
        for d in node.map(|n| n.deps.as_slice()).unwrap_or_default() {
            if let Some(p) = self.metadata.packages.iter().find(|p| p.id == d.pkg) {
                resolved
                    .entry(p.name.as_str())
                    .or_default()
                    .push(&p.version);
            }
        }
        let declared = (pkg.dependencies.iter()).filter(|d| d.kind != DependencyKind::Development);
        let mut out: Vec<Dependency> = declared
            .map(|d| {
                let versions = resolved.get(d.name.as_str()).map(Vec::as_slice);
                let versions = versions.unwrap_or_default();
                let version = (versions.iter().find(|v| d.req.matches(v))).or(versions.first());
                Dependency {
                    name: d.rename.clone().unwrap_or_else(|| d.name.clone()),
                    package: d.name.clone(),
                    req: match d.path {
                        Some(_) => "path".to_string(),
                        None => d.req.to_string(),
                    },
                    resolved: version.map(|v| v.to_string()),
                    kind: d.kind.to_string(),
                    features: d.features.clone(),
                }
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests;

impl Catalogue {
    /// A catalogue of made-up packages, each a name and its `[package.metadata.study]`
    /// as JSON (`Value::Null` for none): what the tools' own tests describe programs
    /// with, instead of a workspace.
    pub fn of_declarations(packages: &[(&str, serde_json::Value)]) -> Catalogue {
        let package = |(name, study): &(&str, serde_json::Value)| {
            serde_json::json!({
                "name": name,
                "version": "0.1.0",
                "id": format!("path+file:///w/{name}#0.1.0"),
                "dependencies": [],
                "targets": [],
                "features": {},
                "manifest_path": format!("/w/{name}/Cargo.toml"),
                "metadata": if study.is_null() { study.clone() } else { serde_json::json!({ "study": study }) },
            })
        };
        let packages: Vec<serde_json::Value> = packages.iter().map(package).collect();
        let members: Vec<serde_json::Value> = packages.iter().map(|p| p["id"].clone()).collect();
        let metadata = serde_json::json!({
            "packages": packages,
            "workspace_members": members,
            "resolve": { "nodes": [], "root": null },
            "workspace_root": "/w",
            "target_directory": "/w/target",
            "version": 1,
        });
        Catalogue::of(serde_json::from_value(metadata).expect("a metadata document"))
    }
}
