//! Building the [`Model`]: reading the crates' module trees, numbering their
//! definitions, and recording which traits each type implements.

use anyhow::Result;
use syn::{ImplItem, Item, TraitItem, Visibility};

use super::defs::{Def, DefId, DefKind};
use super::modules::ModId;
use super::scope::{Binding, BindingKind, Scope, Target};
use super::Model;
use crate::cfg::{self, Cfg};

impl Model {
    pub(super) fn read_sources(&mut self) -> Result<()> {
        for i in 0..self.crates.len() {
            let krate = self.crates[i].clone();
            let cfg = Cfg {
                features: &krate.features,
            };
            let root = self.modules.load_crate(i, &krate.name, &krate.root, &cfg)?;
            self.roots.push(root);
        }
        self.scopes = vec![Scope::default(); self.modules.all.len()];
        Ok(())
    }

    /// Numbers every definition and fills each module's scope.
    pub(super) fn collect_defs(&mut self) {
        for m in 0..self.modules.all.len() {
            let items = std::mem::take(&mut self.modules.all[m].items);
            for item in &items {
                self.scopes[m].add_imports(item);
                self.add_item(m, item);
            }
            for (name, child) in self.modules.all[m].children.clone() {
                let public = self.modules.all[child].public;
                self.bind(m, &name, Target::Mod(child), public, false, false);
            }
            self.modules.all[m].items = items;
        }
    }

    fn add_item(&mut self, m: ModId, item: &Item) {
        let (name, kind, vis, attrs) = match item {
            Item::Fn(f) => (&f.sig.ident, DefKind::Fn, &f.vis, &f.attrs),
            Item::Struct(s) => (&s.ident, DefKind::Struct, &s.vis, &s.attrs),
            Item::Enum(e) => (&e.ident, DefKind::Enum, &e.vis, &e.attrs),
            Item::Union(u) => (&u.ident, DefKind::Union, &u.vis, &u.attrs),
            Item::Trait(t) => (&t.ident, DefKind::Trait, &t.vis, &t.attrs),
            Item::Type(t) => (&t.ident, DefKind::TypeAlias, &t.vis, &t.attrs),
            Item::Const(c) => (&c.ident, DefKind::Const, &c.vis, &c.attrs),
            Item::Static(s) => (&s.ident, DefKind::Static, &s.vis, &s.attrs),
            Item::Macro(mac) => return self.add_macro(m, mac),
            _ => return,
        };
        let public = matches!(vis, Visibility::Public(_));
        let mut def = new_def(kind, &name.to_string(), m, public, attrs);
        match item {
            Item::Fn(f) => def.sig = Some(f.sig.clone()),
            Item::Type(t) => def.aliased = Some((*t.ty).clone()),
            _ => {}
        }
        let id = self.push_def(def);
        self.bind(
            m,
            &name.to_string(),
            Target::Def(id),
            public,
            cfg::hidden(attrs),
            cfg::deprecated(attrs),
        );
        match item {
            Item::Enum(e) => {
                for v in &e.variants {
                    let mut var =
                        new_def(DefKind::Variant, &v.ident.to_string(), m, true, &v.attrs);
                    var.owner = Some(id);
                    self.push_member(id, var);
                }
            }
            Item::Trait(t) => self.add_trait_members(id, m, t),
            _ => {}
        }
    }

    fn add_trait_members(&mut self, id: DefId, m: ModId, t: &syn::ItemTrait) {
        let cfg_features = self.crates[self.modules.all[m].krate].features.clone();
        let cfg = Cfg {
            features: &cfg_features,
        };
        self.defs[id].supertraits = t
            .supertraits
            .iter()
            .filter_map(|b| {
                if let syn::TypeParamBound::Trait(t) = b {
                    Some(t.path.clone())
                } else {
                    None
                }
            })
            .collect();
        for ti in &t.items {
            let (name, kind, attrs, sig) = match ti {
                TraitItem::Fn(f) => (
                    &f.sig.ident,
                    DefKind::TraitMethod,
                    &f.attrs,
                    Some(f.sig.clone()),
                ),
                TraitItem::Type(ty) => (&ty.ident, DefKind::AssocType, &ty.attrs, None),
                TraitItem::Const(c) => (&c.ident, DefKind::AssocConst, &c.attrs, None),
                _ => continue,
            };
            if !cfg.enabled(attrs) {
                continue;
            }
            let mut def = new_def(kind, &name.to_string(), m, true, attrs);
            def.owner = Some(id);
            def.sig = sig;
            def.outer_generics = Some(t.generics.clone());
            self.push_member(id, def);
        }
    }

    /// `#[macro_export] macro_rules! NAME` is public at the crate root.
    fn add_macro(&mut self, m: ModId, mac: &syn::ItemMacro) {
        let Some(name) = &mac.ident else { return };
        if !mac.attrs.iter().any(|a| a.path().is_ident("macro_export")) {
            return;
        }
        let def = new_def(DefKind::Macro, &name.to_string(), m, true, &mac.attrs);
        let id = self.push_def(def);
        let root = self.modules.root_of(m);
        self.bind(
            root,
            &name.to_string(),
            Target::Def(id),
            true,
            cfg::hidden(&mac.attrs),
            false,
        );
    }

    /// The methods of inherent impls, and the traits of trait impls.
    pub(super) fn collect_impls(&mut self) {
        for m in 0..self.modules.all.len() {
            let impls: Vec<syn::ItemImpl> = self.modules.all[m]
                .items
                .iter()
                .filter_map(|i| {
                    if let Item::Impl(imp) = i {
                        Some(imp.clone())
                    } else {
                        None
                    }
                })
                .collect();
            for imp in impls {
                let Some(ty) = self.type_def(m, &imp.self_ty) else {
                    continue;
                };
                match &imp.trait_ {
                    Some((path, _)) => {
                        self.add_assoc_types(m, ty, &imp);
                        if let Some(tr) = self
                            .resolve_path(m, &segments(path), false)
                            .into_iter()
                            .find_map(def_of)
                        {
                            self.impls.entry(ty).or_default().push(tr);
                        }
                    }
                    None => self.add_inherent(m, ty, &imp),
                }
            }
        }
    }

    /// `type Item = TcpStream;` of a trait impl: what a projection of the type means.
    fn add_assoc_types(&mut self, m: ModId, ty: DefId, imp: &syn::ItemImpl) {
        for ii in &imp.items {
            if let ImplItem::Type(t) = ii {
                let binding = (t.ident.to_string(), t.ty.clone(), m, imp.generics.clone());
                self.assoc.entry(ty).or_default().push(binding);
            }
        }
    }

    fn add_inherent(&mut self, m: ModId, ty: DefId, imp: &syn::ItemImpl) {
        let features = self.crates[self.modules.all[m].krate].features.clone();
        let cfg = Cfg {
            features: &features,
        };
        for ii in &imp.items {
            let ImplItem::Fn(f) = ii else { continue };
            if !cfg.enabled(&f.attrs) {
                continue;
            }
            let public = matches!(f.vis, Visibility::Public(_));
            let mut def = new_def(
                DefKind::Method,
                &f.sig.ident.to_string(),
                m,
                public,
                &f.attrs,
            );
            def.owner = Some(ty);
            def.sig = Some(f.sig.clone());
            def.outer_generics = Some(imp.generics.clone());
            self.push_member(ty, def);
        }
    }

    /// The definition a type written in module `m` names (`Foo<T>`, `&Foo`).
    pub(super) fn type_def(&self, m: ModId, ty: &syn::Type) -> Option<DefId> {
        match ty {
            syn::Type::Path(p) => self
                .resolve_path(m, &segments(&p.path), false)
                .into_iter()
                .find_map(def_of),
            syn::Type::Reference(r) => self.type_def(m, &r.elem),
            _ => None,
        }
    }

    fn push_def(&mut self, def: Def) -> DefId {
        self.defs.push(def);
        self.defs.len() - 1
    }

    fn push_member(&mut self, owner: DefId, def: Def) {
        let id = self.push_def(def);
        self.members.entry(owner).or_default().push(id);
    }

    fn bind(
        &mut self,
        m: ModId,
        name: &str,
        target: Target,
        public: bool,
        hidden: bool,
        deprecated: bool,
    ) {
        let kind = BindingKind::Target(target);
        self.scopes[m].names.push(Binding {
            name: name.to_owned(),
            kind,
            public,
            hidden,
            deprecated,
        });
    }
}

fn new_def(
    kind: DefKind,
    name: &str,
    module: ModId,
    public: bool,
    attrs: &[syn::Attribute],
) -> Def {
    Def {
        kind,
        name: name.to_owned(),
        module,
        owner: None,
        public,
        hidden: cfg::hidden(attrs),
        deprecated: cfg::deprecated(attrs),
        sig: None,
        outer_generics: None,
        aliased: None,
        supertraits: Vec::new(),
    }
}

/// The segments of a path, generic arguments dropped, a leading `::` kept as "".
pub fn segments(path: &syn::Path) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if path.leading_colon.is_some() {
        out.push(String::new());
    }
    out.extend(path.segments.iter().map(|s| s.ident.to_string()));
    out
}

/// The definition a target is, if it is one.
pub fn def_of(t: Target) -> Option<DefId> {
    match t {
        Target::Def(d) => Some(d),
        _ => None,
    }
}
