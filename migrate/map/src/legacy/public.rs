//! The public items of the legacy crates: every item reachable from a crate root
//! through `pub` modules and `pub use`s (globs included), each under one canonical
//! path, with its members (a trait's methods and associated types, a type's `pub`
//! inherent methods, an enum's variants).

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::defs::{Def, DefId, DefKind};
use super::modules::ModId;
use super::scope::{Binding, BindingKind, Target};
use super::Model;

/// One public item of a legacy crate.
#[derive(Debug, Clone, Serialize)]
pub struct PublicItem {
    /// Its canonical path: the one its crate's documentation shows it under.
    pub path: String,
    #[serde(skip)]
    pub def: DefId,
    pub kind: DefKind,
    /// Its package: `tokio-core`.
    pub package: String,
    /// Where the coverage counts it: a trait's members under the trait, any other
    /// item under the module its canonical path is in.
    pub group: String,
    pub hidden: bool,
    pub deprecated: bool,
    /// Its other public paths (`futures::Future` for `futures::future::Future`).
    pub aliases: Vec<String>,
}

/// A public path found for a definition.
struct Candidate {
    path: String,
    hidden: bool,
    deprecated: bool,
}

/// The state of the walk through the public modules.
#[derive(Default)]
struct Walk {
    seen: HashSet<(ModId, String)>,
    found: BTreeMap<DefId, Vec<Candidate>>,
    module_paths: HashMap<ModId, Vec<String>>,
}

impl Model {
    pub(super) fn enumerate(&mut self) {
        self.define_generated();
        let mut walk = Walk::default();
        for (i, &root) in self.roots.iter().enumerate() {
            self.walk(root, &self.crates[i].name, (false, false), 0, &mut walk);
        }
        let mut items = Vec::new();
        for (def, candidates) in &walk.found {
            if self.defs[*def].kind.is_member() {
                continue;
            }
            let best = self.canonical(*def, candidates, &walk.module_paths);
            self.emit(*def, best, candidates, &mut items);
        }
        items.sort_by(|a, b| a.path.cmp(&b.path));
        self.by_def = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.def, i))
            .collect();
        self.by_path = items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.path.clone(), i))
            .collect();
        self.items = items;
    }

    /// A `pub use` that names nothing the sources define was written by a macro
    /// of the crate (rustc would not build it otherwise): defines what it names, in
    /// the module its path leads to, so the item is counted.
    fn define_generated(&mut self) {
        let mut missing = Vec::new();
        for m in 0..self.scopes.len() {
            for b in self.scopes[m].names.iter().filter(|b| b.public) {
                let BindingKind::Use(path) = &b.kind else {
                    continue;
                };
                if !self.binding_targets(m, &b.kind, 0).is_empty() {
                    continue;
                }
                let (last, parent) = path.split_last().expect("a use path has a segment");
                if let Some(Target::Mod(home)) =
                    self.resolve_path(m, parent, true).into_iter().next()
                {
                    missing.push((home, last.clone()));
                }
            }
        }
        missing.sort();
        missing.dedup();
        for (home, name) in missing {
            // A re-export of a re-export leads to a module that binds the name.
            if self.scopes[home].names.iter().any(|b| b.name == name) {
                continue;
            }
            self.defs.push(Def {
                kind: DefKind::Generated,
                name: name.clone(),
                module: home,
                owner: None,
                public: true,
                hidden: false,
                deprecated: false,
                sig: None,
                outer_generics: None,
                aliased: None,
                supertraits: Vec::new(),
            });
            let target = Target::Def(self.defs.len() - 1);
            self.scopes[home].names.push(Binding {
                name,
                kind: BindingKind::Target(target),
                public: true,
                hidden: false,
                deprecated: false,
            });
        }
    }

    fn walk(
        &self,
        m: ModId,
        prefix: &str,
        (hidden, deprecated): (bool, bool),
        depth: usize,
        walk: &mut Walk,
    ) {
        if depth > 8 || !walk.seen.insert((m, prefix.to_owned())) {
            return;
        }
        walk.module_paths
            .entry(m)
            .or_default()
            .push(prefix.to_owned());
        for (name, target, b_hidden, b_deprecated) in self.public_names(m, 0) {
            let path = format!("{prefix}::{name}");
            let flags = (hidden || b_hidden, deprecated || b_deprecated);
            match target {
                Target::Mod(x) => {
                    let module = &self.modules.all[x];
                    self.walk(
                        x,
                        &path,
                        (flags.0 || module.hidden, flags.1 || module.deprecated),
                        depth + 1,
                        walk,
                    )
                }
                Target::Def(d) => {
                    let def = &self.defs[d];
                    let candidate = Candidate {
                        path,
                        hidden: flags.0 || def.hidden,
                        deprecated: flags.1 || def.deprecated,
                    };
                    walk.found.entry(d).or_default().push(candidate);
                }
                Target::Outside(_) => {}
            }
        }
    }

    /// The names module `m` makes public: its `pub` names and its `pub use` globs.
    fn public_names(&self, m: ModId, depth: usize) -> Vec<(String, Target, bool, bool)> {
        let scope = &self.scopes[m];
        let mut out: Vec<(String, Target, bool, bool)> = Vec::new();
        for b in scope.names.iter().filter(|b| b.public) {
            for t in self.binding_targets(m, &b.kind, 0) {
                out.push((b.name.clone(), t, b.hidden, b.deprecated));
            }
        }
        if depth > 6 {
            return out;
        }
        let own: HashSet<String> = out.iter().map(|(n, ..)| n.clone()).collect();
        for g in scope.globs.iter().filter(|g| g.public) {
            for t in self.resolve_path(m, &g.path, true) {
                let names = match t {
                    Target::Mod(x) if x != m => self.public_names(x, depth + 1),
                    Target::Def(d) => self
                        .members(d)
                        .iter()
                        .map(|&v| (self.defs[v].name.clone(), Target::Def(v), false, false))
                        .collect(),
                    _ => Vec::new(),
                };
                out.extend(
                    names
                        .into_iter()
                        .filter(|(n, ..)| !own.contains(n))
                        .map(|(n, t, h, d)| (n, t, h || g.hidden, d)),
                );
            }
        }
        out
    }

    /// The path a definition is documented under: not hidden nor deprecated if it
    /// can be, under its own name, in the module it is written in when that module
    /// is public, else the shortest.
    fn canonical<'c>(
        &self,
        def: DefId,
        candidates: &'c [Candidate],
        module_paths: &HashMap<ModId, Vec<String>>,
    ) -> &'c Candidate {
        let d = &self.defs[def];
        let home = module_paths.get(&d.module).cloned().unwrap_or_default();
        candidates
            .iter()
            .min_by_key(|c| {
                let (parent, name) = c.path.rsplit_once("::").unwrap_or(("", &c.path));
                let away = !home.iter().any(|h| h == parent);
                // `tokio_io::_tokio_codec`: a module whose name says it is nobody's to use.
                let underscore = c.path.split("::").any(|s| s.starts_with('_'));
                (
                    c.hidden,
                    c.deprecated,
                    underscore,
                    name != d.name,
                    away,
                    c.path.matches("::").count(),
                    c.path.clone(),
                )
            })
            .expect("a found definition has a path")
    }

    fn emit(
        &self,
        def: DefId,
        best: &Candidate,
        candidates: &[Candidate],
        items: &mut Vec<PublicItem>,
    ) {
        let d = &self.defs[def];
        let package = self.crates[self.modules.all[d.module].krate]
            .package
            .clone();
        let group = best
            .path
            .rsplit_once("::")
            .map_or("", |(m, _)| m)
            .to_owned();
        let aliases = candidates
            .iter()
            .map(|c| c.path.clone())
            .filter(|p| *p != best.path)
            .collect();
        items.push(PublicItem {
            path: best.path.clone(),
            def,
            kind: d.kind,
            package: package.clone(),
            group: group.clone(),
            hidden: best.hidden,
            deprecated: best.deprecated,
            aliases,
        });
        for &m in self.members(def) {
            let member = &self.defs[m];
            if !member.public {
                continue;
            }
            let group = if d.kind == DefKind::Trait {
                best.path.clone()
            } else {
                group.clone()
            };
            items.push(PublicItem {
                path: format!("{}::{}", best.path, member.name),
                def: m,
                kind: member.kind,
                package: package.clone(),
                group,
                hidden: best.hidden || member.hidden,
                deprecated: best.deprecated || member.deprecated,
                aliases: Vec::new(),
            });
        }
    }
}
