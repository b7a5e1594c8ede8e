//! The names a scanned file sees: which crate names are the legacy crates (from the
//! nearest `Cargo.toml`, renames included), and what each `use` of the file brings
//! into scope.

use std::collections::HashMap;
use std::path::Path;

use syn::UseTree;

use crate::legacy::crates::LEGACY;
use crate::legacy::scope::Target;
use crate::legacy::{DefKind, Model};

/// The legacy crates a package depends on, by the name its code uses.
#[derive(Debug, Clone)]
pub struct CrateNames {
    /// Code name → lib name of the legacy crate (`futures01` → `futures`).
    pub legacy: HashMap<String, String>,
}

impl CrateNames {
    /// Every legacy crate under its usual name: for code without a manifest.
    pub fn usual() -> CrateNames {
        CrateNames {
            legacy: LEGACY
                .iter()
                .map(|&(_, _, n)| (n.to_owned(), n.to_owned()))
                .collect(),
        }
    }

    /// The legacy dependencies that the nearest `Cargo.toml` above `file` declares
    /// (any version of another era under the same name hides the legacy one); an
    /// entry inherited with `workspace = true` is read from the workspace's manifest.
    pub fn for_file(file: &Path) -> CrateNames {
        let manifest = file
            .ancestors()
            .skip(1)
            .map(|d| d.join("Cargo.toml"))
            .find(|m| m.is_file());
        let Some((path, doc)) = manifest.and_then(|m| Some((m.clone(), read_toml(&m)?))) else {
            return CrateNames::usual();
        };
        let workspace = path
            .ancestors()
            .skip(1)
            .map(|d| d.join("Cargo.toml"))
            .filter(|m| m.is_file())
            .filter_map(|m| read_toml(&m))
            .find(|t| t.contains_key("workspace"))
            .or_else(|| doc.contains_key("workspace").then(|| doc.clone()));
        let inherited = |key: &str| {
            workspace
                .as_ref()?
                .get("workspace")?
                .get("dependencies")?
                .get(key)
                .cloned()
        };
        let mut legacy = HashMap::new();
        for section in ["dependencies", "dev-dependencies"] {
            let Some(deps) = doc.get(section).and_then(toml::Value::as_table) else {
                continue;
            };
            for (key, spec) in deps {
                let from_workspace =
                    spec.get("workspace").and_then(toml::Value::as_bool) == Some(true);
                let spec = if from_workspace {
                    inherited(key).unwrap_or_else(|| spec.clone())
                } else {
                    spec.clone()
                };
                if let Some(lib) = legacy_lib(key, &spec) {
                    legacy.insert(key.replace('-', "_"), lib);
                }
            }
        }
        CrateNames { legacy }
    }
}

fn read_toml(path: &Path) -> Option<toml::Table> {
    std::fs::read_to_string(path).ok()?.parse().ok()
}

/// The legacy crate a dependency entry names, if it names one: by its package (the
/// key or `package = …`) and a version of the legacy era.
fn legacy_lib(key: &str, spec: &toml::Value) -> Option<String> {
    let package = spec
        .get("package")
        .and_then(toml::Value::as_str)
        .unwrap_or(key);
    let version = match spec {
        toml::Value::String(v) => Some(v.as_str()),
        _ => spec.get("version").and_then(toml::Value::as_str),
    };
    let &(_, era, lib) = LEGACY.iter().find(|(p, ..)| *p == package)?;
    let era = era.trim_end_matches('.');
    let matches = match version {
        Some(v) => v.trim_start_matches(['=', '^', '~']).starts_with(era),
        // A path or git dependency without a version: only names no other era uses.
        None => !matches!(package, "futures" | "mio" | "tokio"),
    };
    matches.then(|| lib.to_owned())
}

/// What a name in the scanned file stands for.
#[derive(Debug, Clone, PartialEq)]
pub enum Named {
    /// Something of a legacy crate.
    Legacy(Target),
    /// A path into a legacy crate that names nothing public there.
    Unresolved(String),
}

/// The `use`s of one file, by the name they bring in, plus its glob imports.
#[derive(Default)]
pub struct FileScope {
    pub names: HashMap<String, Vec<String>>,
    pub globs: Vec<Vec<String>>,
}

impl FileScope {
    pub fn add_use(&mut self, tree: &UseTree, prefix: &mut Vec<String>) {
        match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.add_use(&p.tree, prefix);
                prefix.pop();
            }
            UseTree::Name(n) if n.ident == "self" => {
                if let Some(last) = prefix.last() {
                    self.names.insert(last.clone(), prefix.clone());
                }
            }
            UseTree::Name(n) => {
                let mut path = prefix.clone();
                path.push(n.ident.to_string());
                self.names.insert(n.ident.to_string(), path);
            }
            UseTree::Rename(r) => {
                let mut path = prefix.clone();
                if r.ident != "self" {
                    path.push(r.ident.to_string());
                }
                self.names.insert(r.rename.to_string(), path);
            }
            UseTree::Glob(_) => self.globs.push(prefix.clone()),
            UseTree::Group(g) => g.items.iter().for_each(|t| self.add_use(t, prefix)),
        }
    }
}

/// Resolves paths of a scanned file against the legacy model.
pub struct Resolver<'a> {
    pub model: &'a Model,
    pub crates: &'a CrateNames,
    pub scope: &'a FileScope,
}

impl Resolver<'_> {
    /// What `path` (as written in the file) names in the legacy crates, if it goes
    /// into one; `None` for anything else (std, other crates, locals).
    pub fn resolve(&self, path: &[String]) -> Option<Named> {
        self.resolve_depth(path, 0)
    }

    fn resolve_depth(&self, path: &[String], depth: usize) -> Option<Named> {
        let (first, rest) = path.split_first()?;
        if depth > 8 {
            return None;
        }
        let first = first.as_str();
        if matches!(first, "" | "crate" | "self" | "super") {
            return self
                .resolve_depth(rest, depth + 1)
                .filter(|_| first.is_empty());
        }
        if let Some(full) = self.scope.names.get(first) {
            if full.len() > 1 || full[0] != first {
                let joined: Vec<String> = full.iter().chain(rest).cloned().collect();
                return self.resolve_depth(&joined, depth + 1);
            }
        }
        if let Some(lib) = self.crates.legacy.get(first) {
            let krate = self.model.crate_named(lib)?;
            let root = self.model.roots[krate];
            // `use core::result;` beside `pub use result_::result`: the legacy item wins.
            let targets = self.model.resolve_path(root, rest, true);
            if let Some(t) = targets
                .iter()
                .find(|t| !matches!(t, Target::Outside(_)))
                .or(targets.first())
                .cloned()
            {
                return Some(Named::Legacy(t));
            }
            if let Some(t) = self.through_type(root, rest) {
                return Some(Named::Legacy(t));
            }
            return Some(Named::Unresolved(format!("{lib}::{}", rest.join("::"))));
        }
        self.through_globs(path, depth)
    }

    /// `Type::method` where the method is a trait's the type implements
    /// (`UnixReady::from`, `Incoming::for_each`): the trait's method if it is a
    /// legacy trait, else the type itself.
    fn through_type(&self, root: usize, rest: &[String]) -> Option<Target> {
        let (last, ty_path) = rest.split_last()?;
        let ty = self
            .model
            .resolve_path(root, ty_path, true)
            .into_iter()
            .find_map(|t| match t {
                Target::Def(d)
                    if matches!(
                        self.model.defs[d].kind,
                        DefKind::Struct | DefKind::Enum | DefKind::Union
                    ) =>
                {
                    Some(d)
                }
                _ => None,
            })?;
        let method = self.model.method(&crate::legacy::types::Ty::Def(ty), last);
        Some(Target::Def(method.unwrap_or(ty)))
    }

    /// A name brought in by a glob of a legacy module (`use futures::prelude::*`).
    fn through_globs(&self, path: &[String], depth: usize) -> Option<Named> {
        self.scope.globs.iter().find_map(|g| {
            let mut joined = g.clone();
            joined.extend(path.iter().cloned());
            match self.resolve_depth(&joined, depth + 1) {
                Some(Named::Legacy(t)) => Some(Named::Legacy(t)),
                _ => None,
            }
        })
    }

    /// The legacy traits whose methods this file can call: those it imports by
    /// name or through a glob.
    pub fn traits_in_scope(&self) -> Vec<usize> {
        let mut out = Vec::new();
        let names = self.scope.names.keys().map(|k| vec![k.clone()]);
        let globbed = self.scope.globs.iter().flat_map(|g| self.glob_traits(g));
        for path in names.chain(globbed) {
            if let Some(Named::Legacy(Target::Def(d))) = self.resolve(&path) {
                if self.model.defs[d].kind == DefKind::Trait && !out.contains(&d) {
                    out.push(d);
                }
            }
        }
        out
    }

    /// The names of the traits a glob import of a legacy module brings in.
    fn glob_traits(&self, glob: &[String]) -> Vec<Vec<String>> {
        let Some(Named::Legacy(Target::Mod(m))) = self.resolve(glob) else {
            return Vec::new();
        };
        let prefix = self.model.module_path(m);
        self.model
            .items
            .iter()
            .filter(|i| i.kind == DefKind::Trait)
            .flat_map(|i| std::iter::once(&i.path).chain(&i.aliases))
            .filter_map(|p| p.strip_prefix(&prefix)?.strip_prefix("::"))
            .filter(|rest| !rest.contains("::"))
            .map(|name| {
                let mut path = glob.to_vec();
                path.push(name.to_owned());
                path
            })
            .collect()
    }
}
