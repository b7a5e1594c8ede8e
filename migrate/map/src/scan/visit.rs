//! The scan of one file: a `syn::visit` visitor that reports each use of a legacy
//! item — through `use` paths, paths in code, types and patterns, `impl Trait for`
//! blocks and their members, macros (`try_ready!`, `try_nb!`), and method calls,
//! whose receiver it types as far as the legacy signatures and the file's `let`s,
//! parameters and fields tell.

use std::collections::HashMap;

use syn::spanned::Spanned;
use syn::visit::{self, Visit};
use syn::{Expr, FnArg, Pat};

use super::local::LocalTypes;
use super::names::{Named, Resolver};
use crate::legacy::build::segments;
use crate::legacy::scope::Target;
use crate::legacy::types::{Ty, TypeScope};
use crate::legacy::{DefId, DefKind};

/// How a use was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    Use,
    Path,
    Method,
    Macro,
    Impl,
}

/// A use of a legacy item (or of a path into a legacy crate that names nothing).
#[derive(Debug, Clone)]
pub struct Hit {
    pub line: usize,
    pub def: Option<DefId>,
    /// The path as written, for what does not resolve.
    pub written: String,
    pub via: Via,
}

pub struct FileVisitor<'a> {
    pub r: Resolver<'a>,
    pub(super) traits: Vec<DefId>,
    pub(super) structs: HashMap<String, Vec<(String, syn::Type)>>,
    pub(super) aliases: HashMap<String, syn::Type>,
    /// The legacy traits the file implements for its own types.
    pub(super) local_impls: HashMap<String, Vec<DefId>>,
    pub(super) locals: Vec<HashMap<String, Ty>>,
    pub(super) generics: Vec<syn::Generics>,
    pub(super) self_ty: Vec<Ty>,
    pub hits: Vec<Hit>,
}

impl<'a> FileVisitor<'a> {
    pub fn new(r: Resolver<'a>, file: &syn::File) -> FileVisitor<'a> {
        let traits = r.traits_in_scope();
        let mut local = LocalTypes::default();
        local.collect(&file.items);
        let local_impls = local
            .impls
            .iter()
            .filter_map(|(ty, path)| match r.resolve(&segments(path)) {
                Some(Named::Legacy(Target::Def(t))) if r.model.defs[t].kind == DefKind::Trait => {
                    Some((ty.clone(), t))
                }
                _ => None,
            })
            .fold(HashMap::<String, Vec<DefId>>::new(), |mut m, (ty, t)| {
                m.entry(ty).or_default().push(t);
                m
            });
        FileVisitor {
            r,
            traits,
            structs: local.structs,
            aliases: local.aliases,
            local_impls,
            locals: vec![HashMap::new()],
            generics: Vec::new(),
            self_ty: Vec::new(),
            hits: Vec::new(),
        }
    }

    fn hit(&mut self, line: usize, named: Named, via: Via) {
        match named {
            Named::Legacy(Target::Def(d)) => self.hits.push(Hit {
                line,
                def: Some(d),
                written: String::new(),
                via,
            }),
            Named::Unresolved(written) => self.hits.push(Hit {
                line,
                def: None,
                written,
                via,
            }),
            _ => {}
        }
    }

    fn bind(&mut self, pat: &Pat, ty: Ty) {
        match pat {
            Pat::Ident(i) => {
                self.locals
                    .last_mut()
                    .expect("a frame")
                    .insert(i.ident.to_string(), ty);
            }
            Pat::Type(t) => {
                let ty = self.r.model.lower(self, &t.ty, &self.current_self());
                self.bind(&t.pat, ty);
            }
            Pat::Tuple(t) => {
                for (i, p) in t.elems.iter().enumerate() {
                    let elem = match &ty {
                        Ty::Tuple(ts) => ts.get(i).cloned().unwrap_or(Ty::Unknown),
                        _ => Ty::Unknown,
                    };
                    self.bind(p, elem);
                }
            }
            Pat::Reference(r) => self.bind(&r.pat, ty),
            // `let Connection { stream, .. } = self;`: each field its declared type.
            Pat::Struct(s) => {
                for field in &s.fields {
                    let field_ty = match (&ty, &field.member) {
                        (Ty::Local(name), syn::Member::Named(m)) => {
                            self.local_field(name, &m.to_string())
                        }
                        _ => Ty::Unknown,
                    };
                    self.bind(&field.pat, field_ty);
                }
            }
            // `Some(x)`, `Ok(x)` of an `Option` or `Result`.
            Pat::TupleStruct(t) if t.elems.len() == 1 && matches!(ty, Ty::Wrapped(_)) => {
                self.bind(&t.elems[0], ty.unwrapped())
            }
            _ => {}
        }
    }
    fn with_frame(&mut self, f: impl FnOnce(&mut Self)) {
        self.locals.push(HashMap::new());
        f(self);
        self.locals.pop();
    }

    fn bind_inputs<'i>(&mut self, inputs: impl Iterator<Item = &'i FnArg>) {
        for arg in inputs {
            match arg {
                FnArg::Receiver(_) => {
                    let me = self.current_self();
                    self.locals
                        .last_mut()
                        .expect("a frame")
                        .insert("self".into(), me);
                }
                FnArg::Typed(t) => {
                    let ty = self.r.model.lower(self, &t.ty, &self.current_self());
                    self.bind(&t.pat, ty);
                }
            }
        }
    }

    /// The members of a legacy trait that an `impl Trait for X` block defines.
    fn impl_members(&mut self, imp: &syn::ItemImpl) {
        let Some((path, _)) = &imp.trait_ else { return };
        let Some(Named::Legacy(Target::Def(t))) = self.r.resolve(&segments(path)) else {
            return;
        };
        for item in &imp.items {
            let (name, line) = match item {
                syn::ImplItem::Fn(f) => (f.sig.ident.to_string(), f.sig.ident.span().start().line),
                syn::ImplItem::Type(ty) => (ty.ident.to_string(), ty.ident.span().start().line),
                syn::ImplItem::Const(c) => (c.ident.to_string(), c.ident.span().start().line),
                _ => continue,
            };
            if let Some(m) = self.r.model.member(t, &name) {
                self.hit(line, Named::Legacy(Target::Def(m)), Via::Impl);
            }
        }
    }

    fn use_tree(&mut self, tree: &syn::UseTree, prefix: &mut Vec<String>) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(&p.tree, prefix);
                prefix.pop();
            }
            syn::UseTree::Name(n) => self.use_leaf(prefix, &n.ident),
            syn::UseTree::Rename(r) => self.use_leaf(prefix, &r.ident),
            syn::UseTree::Group(g) => g.items.iter().for_each(|t| self.use_tree(t, prefix)),
            syn::UseTree::Glob(_) => {}
        }
    }

    fn use_leaf(&mut self, prefix: &[String], ident: &syn::Ident) {
        let mut path = prefix.to_vec();
        if ident != "self" {
            path.push(ident.to_string());
        }
        if let Some(named) = self.r.resolve(&path) {
            self.hit(ident.span().start().line, named, Via::Use);
        }
    }
}

impl TypeScope for FileVisitor<'_> {
    fn resolve(&self, path: &[String]) -> Vec<Target> {
        match self.r.resolve(path) {
            Some(Named::Legacy(t)) => vec![t],
            _ => Vec::new(),
        }
    }

    fn generics(&self) -> Vec<&syn::Generics> {
        self.generics.iter().collect()
    }

    fn local_struct(&self, name: &str) -> bool {
        self.structs.contains_key(name)
    }

    fn local_alias(&self, name: &str) -> Option<syn::Type> {
        self.aliases.get(name).cloned()
    }
}

impl<'ast> Visit<'ast> for FileVisitor<'_> {
    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&u.tree, &mut Vec::new());
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segs = segments(path);
        let line = path.span().start().line;
        let named = self.r.resolve(&segs);
        if let Some(Named::Legacy(Target::Def(trait_))) = &named {
            // `Future<Item = T, Error = E>`: the associated types named.
            for arg in path.segments.iter().flat_map(|s| match &s.arguments {
                syn::PathArguments::AngleBracketed(a) => a.args.iter().collect(),
                _ => Vec::new(),
            }) {
                if let syn::GenericArgument::AssocType(a) = arg {
                    if let Some(m) = self.r.model.member(*trait_, &a.ident.to_string()) {
                        self.hit(
                            a.ident.span().start().line,
                            Named::Legacy(Target::Def(m)),
                            Via::Path,
                        );
                    }
                }
            }
        }
        // `CpuPool::new(2)` names the type as well as its method.
        if let (Some(Named::Legacy(Target::Def(d))), true) = (&named, segs.len() > 1) {
            let owner = self.r.model.defs[*d].owner;
            let written_owner = self.r.resolve(&segs[..segs.len() - 1]);
            if let (Some(o), Some(Named::Legacy(Target::Def(w)))) = (owner, written_owner) {
                // Not for `Async::Ready`: a variant names its enum by itself.
                if o == w && self.r.model.defs[*d].kind != DefKind::Variant {
                    self.hit(line, Named::Legacy(Target::Def(o)), Via::Path);
                }
            }
        }
        if let Some(named) = named {
            self.hit(line, named, Via::Path);
        }
        visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        let line = mac.path.span().start().line;
        let name = mac
            .path
            .segments
            .last()
            .map(|s| s.ident.to_string())
            .unwrap_or_default();
        let named = self
            .r
            .resolve(&segments(&mac.path))
            .or_else(|| self.r.exported_macro(&name));
        if let Some(named) = named {
            self.hit(line, named, Via::Macro);
        }
        // The arguments of `try_ready!(…)`, `println!(…)`: expressions to scan too.
        let parser = syn::punctuated::Punctuated::<Expr, syn::Token![,]>::parse_terminated;
        if let Ok(args) = mac.parse_body_with(parser) {
            args.iter().for_each(|e| self.visit_expr(e));
        }
    }

    fn visit_item_impl(&mut self, imp: &'ast syn::ItemImpl) {
        self.generics.push(imp.generics.clone());
        let me = self.r.model.lower(self, &imp.self_ty, &Ty::Unknown);
        self.self_ty.push(me);
        self.impl_members(imp);
        visit::visit_item_impl(self, imp);
        self.self_ty.pop();
        self.generics.pop();
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.generics.push(f.sig.generics.clone());
        self.with_frame(|v| {
            v.bind_inputs(f.sig.inputs.iter());
            visit::visit_item_fn(v, f);
        });
        self.generics.pop();
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        self.generics.push(f.sig.generics.clone());
        self.with_frame(|v| {
            v.bind_inputs(f.sig.inputs.iter());
            visit::visit_impl_item_fn(v, f);
        });
        self.generics.pop();
    }

    fn visit_expr_closure(&mut self, c: &'ast syn::ExprClosure) {
        self.with_frame(|v| {
            for p in &c.inputs {
                v.bind(p, Ty::Unknown);
            }
            visit::visit_expr_closure(v, c);
        });
    }

    fn visit_block(&mut self, b: &'ast syn::Block) {
        self.with_frame(|v| visit::visit_block(v, b));
    }

    fn visit_local(&mut self, l: &'ast syn::Local) {
        let ty = l
            .init
            .as_ref()
            .map_or(Ty::Unknown, |i| self.type_of(&i.expr));
        visit::visit_local(self, l);
        self.bind(&l.pat, ty);
    }

    fn visit_expr_for_loop(&mut self, f: &'ast syn::ExprForLoop) {
        let iter = self.type_of(&f.expr);
        let item = self.r.model.assoc(&iter, "Item");
        self.visit_expr(&f.expr);
        self.with_frame(|v| {
            v.bind(&f.pat, item);
            v.visit_block(&f.body);
        });
    }

    fn visit_expr_let(&mut self, l: &'ast syn::ExprLet) {
        let ty = self.type_of(&l.expr);
        visit::visit_expr_let(self, l);
        self.bind(&l.pat, ty);
    }

    fn visit_expr_method_call(&mut self, m: &'ast syn::ExprMethodCall) {
        let recv = self.type_of(&m.receiver);
        if let Some(d) = self.resolve_method(&recv, &m.method.to_string()) {
            self.hit(
                m.method.span().start().line,
                Named::Legacy(Target::Def(d)),
                Via::Method,
            );
        }
        visit::visit_expr_method_call(self, m);
    }
}
