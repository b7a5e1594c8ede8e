//! What a path written in a module of a legacy crate names.

use super::modules::ModId;
use super::scope::{std_prelude, BindingKind, Target};
use super::Model;

/// Deeper than this, a chain of `use`s and globs is taken for a cycle.
const MAX_DEPTH: usize = 24;

impl Model {
    /// The targets of `path` (segments, a leading `::` as "") written in module `m`;
    /// `in_use`: a `use` path, which Rust 2015 starts at the crate root.
    pub fn resolve_path(&self, m: ModId, path: &[String], in_use: bool) -> Vec<Target> {
        self.resolve_at(m, path, in_use, 0)
    }

    fn resolve_at(&self, m: ModId, path: &[String], in_use: bool, depth: usize) -> Vec<Target> {
        let Some((first, rest)) = path.split_first() else {
            return Vec::new();
        };
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let root = self.modules.root_of(m);
        let start = match first.as_str() {
            "" => return self.resolve_at(root, rest, true, depth + 1),
            "crate" => vec![Target::Mod(root)],
            "self" => vec![Target::Mod(m)],
            "super" => self.modules.all[m]
                .parent
                .map(Target::Mod)
                .into_iter()
                .collect(),
            _ if in_use => self.lookup_or_crate(root, first, depth),
            _ => {
                let found = self.lookup(m, first, depth);
                if found.is_empty() {
                    self.lookup_or_crate(root, first, depth)
                } else {
                    found
                }
            }
        };
        rest.iter().fold(start, |targets, seg| {
            targets
                .into_iter()
                .flat_map(|t| self.step(t, seg, depth))
                .collect()
        })
    }

    /// A name at the crate root, else an extern crate or a name of the std prelude.
    fn lookup_or_crate(&self, root: ModId, name: &str, depth: usize) -> Vec<Target> {
        let found = self.lookup(root, name, depth);
        if !found.is_empty() {
            return found;
        }
        if let Some(std) = std_prelude(name) {
            return vec![Target::Outside(std.to_owned())];
        }
        vec![self.crate_target(name)]
    }

    fn crate_target(&self, name: &str) -> Target {
        match self.crate_named(name) {
            Some(i) => Target::Mod(self.roots[i]),
            None => Target::Outside(name.to_owned()),
        }
    }

    /// One more segment after `target`.
    fn step(&self, target: Target, seg: &str, depth: usize) -> Vec<Target> {
        match target {
            Target::Mod(x) if seg == "super" => self.modules.all[x]
                .parent
                .map(Target::Mod)
                .into_iter()
                .collect(),
            Target::Mod(x) => self.lookup(x, seg, depth + 1),
            Target::Def(d) => self.member(d, seg).map(Target::Def).into_iter().collect(),
            Target::Outside(p) => vec![Target::Outside(format!("{p}::{seg}"))],
        }
    }

    /// What `name` means inside module `m`: its own names first, then its globs.
    pub(super) fn lookup(&self, m: ModId, name: &str, depth: usize) -> Vec<Target> {
        if depth > MAX_DEPTH {
            return Vec::new();
        }
        let scope = &self.scopes[m];
        let own: Vec<Target> = scope
            .names
            .iter()
            .filter(|b| b.name == name)
            .flat_map(|b| self.binding_targets(m, &b.kind, depth))
            .collect();
        if !own.is_empty() {
            return own;
        }
        scope
            .globs
            .iter()
            .flat_map(|g| self.resolve_at(m, &g.path, true, depth + 1))
            .flat_map(|t| match t {
                Target::Mod(x) if x != m => self.lookup(x, name, depth + 1),
                Target::Def(d) => self.member(d, name).map(Target::Def).into_iter().collect(),
                _ => Vec::new(),
            })
            .collect()
    }

    pub(super) fn binding_targets(
        &self,
        m: ModId,
        kind: &BindingKind,
        depth: usize,
    ) -> Vec<Target> {
        match kind {
            BindingKind::Target(t) => vec![t.clone()],
            BindingKind::Crate(c) => vec![self.crate_target(c)],
            BindingKind::Use(path) => self.resolve_at(m, path, true, depth + 1),
        }
    }
}
