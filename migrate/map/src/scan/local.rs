//! What the scanned file declares itself: its structs and their fields, its type
//! aliases, the traits it implements for its types; and the macros a
//! `#[macro_use] extern crate` brings in.

use std::collections::HashMap;

use super::names::{Named, Resolver};
use crate::legacy::scope::Target;
use crate::legacy::DefKind;

/// The file's own types (in nested modules too): structs and their named fields,
/// type aliases, and the traits it implements for them.
#[derive(Default)]
pub(super) struct LocalTypes {
    pub(super) structs: HashMap<String, Vec<(String, syn::Type)>>,
    pub(super) aliases: HashMap<String, syn::Type>,
    pub(super) impls: Vec<(String, syn::Path)>,
}

impl LocalTypes {
    pub(super) fn collect(&mut self, items: &[syn::Item]) {
        for item in items {
            match item {
                syn::Item::Struct(s) => {
                    let fields = s
                        .fields
                        .iter()
                        .filter_map(|f| Some((f.ident.as_ref()?.to_string(), f.ty.clone())))
                        .collect();
                    self.structs.insert(s.ident.to_string(), fields);
                }
                syn::Item::Type(t) => {
                    self.aliases.insert(t.ident.to_string(), (*t.ty).clone());
                }
                syn::Item::Impl(imp) => {
                    if let (Some((path, _)), syn::Type::Path(ty)) = (&imp.trait_, &*imp.self_ty) {
                        if let Some(name) = ty.path.segments.last() {
                            self.impls.push((name.ident.to_string(), path.clone()));
                        }
                    }
                }
                syn::Item::Mod(m) => {
                    if let Some((_, items)) = &m.content {
                        self.collect(items);
                    }
                }
                _ => {}
            }
        }
    }
}

impl Resolver<'_> {
    /// A macro that `#[macro_use] extern crate` brought in: an exported macro of a
    /// legacy crate the package depends on.
    pub(super) fn exported_macro(&self, name: &str) -> Option<Named> {
        // In the order of `LEGACY`: tokio-io's `try_nb!` before tokio-core's copy.
        let libs = crate::legacy::crates::LEGACY
            .iter()
            .map(|&(_, _, lib)| lib)
            .filter(|lib| self.crates.legacy.values().any(|l| l == lib));
        libs.into_iter().find_map(|lib| {
            let krate = self.model.crate_named(lib)?;
            let root = self.model.roots[krate];
            self.model
                .resolve_path(root, &[name.to_owned()], true)
                .into_iter()
                .find(|t| matches!(t, Target::Def(d) if self.model.defs[*d].kind == DefKind::Macro))
                .map(Named::Legacy)
        })
    }
}
