//! The legacy stack read from its own sources: every crate's modules, definitions
//! and names ([`Model`]), resolved so that the enumeration of public items and the
//! scanner ask one model what a path means.

pub(crate) mod build;
pub mod crates;
pub mod defs;
pub mod modules;
pub mod public;
mod resolve;
pub mod scope;
pub mod types;

use std::collections::HashMap;

use anyhow::Result;

pub use crates::LegacyCrate;
pub use defs::{Def, DefId, DefKind};
pub use modules::{ModId, Modules};
pub use public::PublicItem;
use scope::Scope;

/// The legacy crates, their definitions, names and public items.
pub struct Model {
    pub crates: Vec<LegacyCrate>,
    /// Each crate's root module.
    pub roots: Vec<ModId>,
    pub modules: Modules,
    pub defs: Vec<Def>,
    /// Per module, its names.
    scopes: Vec<Scope>,
    /// Per definition, its members (methods, variants, associated items), by name.
    members: HashMap<DefId, Vec<DefId>>,
    /// Per type, the traits an `impl Trait for Type` gives it.
    impls: HashMap<DefId, Vec<DefId>>,
    /// Per type, the associated types its trait impls bind (name, type, module, the
    /// impl's generics).
    assoc: HashMap<DefId, Vec<(String, syn::Type, ModId, syn::Generics)>>,
    /// Every public item, under its canonical path.
    pub items: Vec<PublicItem>,
    by_def: HashMap<DefId, usize>,
    by_path: HashMap<String, usize>,
}

impl Model {
    /// Reads the legacy crates of this workspace (see [`crates::locate`]).
    pub fn load() -> Result<Model> {
        Model::from_crates(crates::locate()?)
    }

    /// Reads the given crates.
    pub fn from_crates(crates: Vec<LegacyCrate>) -> Result<Model> {
        let mut model = Model {
            crates,
            roots: Vec::new(),
            modules: Modules::default(),
            defs: Vec::new(),
            scopes: Vec::new(),
            members: HashMap::new(),
            impls: HashMap::new(),
            assoc: HashMap::new(),
            items: Vec::new(),
            by_def: HashMap::new(),
            by_path: HashMap::new(),
        };
        model.read_sources()?;
        model.collect_defs();
        model.collect_impls();
        model.enumerate();
        Ok(model)
    }

    /// The public item a definition is, if it is one.
    pub fn item_of(&self, def: DefId) -> Option<&PublicItem> {
        self.by_def.get(&def).map(|&i| &self.items[i])
    }

    /// The public item with this canonical path.
    pub fn item(&self, path: &str) -> Option<&PublicItem> {
        self.by_path.get(path).map(|&i| &self.items[i])
    }

    /// The crate whose lib name is `name`.
    pub fn crate_named(&self, name: &str) -> Option<usize> {
        self.crates.iter().position(|c| c.name == name)
    }

    /// A member of a definition (a method, variant or associated item) by name.
    pub fn member(&self, owner: DefId, name: &str) -> Option<DefId> {
        self.members
            .get(&owner)?
            .iter()
            .copied()
            .find(|&m| self.defs[m].name == name)
    }

    /// The members of a definition.
    pub fn members(&self, owner: DefId) -> &[DefId] {
        self.members.get(&owner).map_or(&[], Vec::as_slice)
    }

    /// The path of a module as its crate's code names it: `futures::prelude`.
    pub fn module_path(&self, mut m: ModId) -> String {
        let mut names = vec![self.modules.all[m].name.clone()];
        while let Some(p) = self.modules.all[m].parent {
            names.push(self.modules.all[p].name.clone());
            m = p;
        }
        names.reverse();
        names.join("::")
    }

    /// The traits implemented for a type.
    pub fn traits_of(&self, ty: DefId) -> &[DefId] {
        self.impls.get(&ty).map_or(&[], Vec::as_slice)
    }
}
