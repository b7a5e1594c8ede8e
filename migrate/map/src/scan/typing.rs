//! The types the scanner gives expressions, as far as the legacy signatures and the
//! file's own `let`s, parameters, fields and impls tell: enough to attribute a method
//! call to the legacy type or trait it belongs to.

use syn::Expr;

use super::names::Named;
use super::visit::FileVisitor;
use crate::legacy::build::segments;
use crate::legacy::scope::Target;
use crate::legacy::types::Ty;
use crate::legacy::{DefId, DefKind};

/// Method names that std types have too (`Option::map`, `str::split`, …): a call of
/// one counts as a legacy trait's only when the receiver's type is known.
const SHARED_WITH_STD: &[&str] = &[
    "and_then",
    "by_ref",
    "chain",
    "chunks",
    "collect",
    "concat",
    "filter",
    "filter_map",
    "flatten",
    "flush",
    "fold",
    "for_each",
    "fuse",
    "get_mut",
    "get_ref",
    "inspect",
    "into_future",
    "into_inner",
    "is_ready",
    "join",
    "map",
    "map_err",
    "or_else",
    "peek",
    "peekable",
    "read",
    "read_exact",
    "read_to_end",
    "send",
    "skip",
    "skip_while",
    "split",
    "take",
    "take_while",
    "then",
    "wait",
    "write",
    "write_all",
    "zip",
    "shutdown",
];

impl FileVisitor<'_> {
    pub(super) fn current_self(&self) -> Ty {
        self.self_ty.last().cloned().unwrap_or(Ty::Unknown)
    }

    pub(super) fn local(&self, name: &str) -> Option<Ty> {
        self.locals.iter().rev().find_map(|f| f.get(name).cloned())
    }

    /// The type of an expression, as far as it is known.
    pub(super) fn type_of(&self, e: &Expr) -> Ty {
        match e {
            Expr::Path(p) if p.path.segments.len() == 1 => {
                let name = p.path.segments[0].ident.to_string();
                self.local(&name).unwrap_or(Ty::Unknown)
            }
            // A unit variant, `Async::NotReady`: the enum.
            Expr::Path(p) => match self.r.resolve(&segments(&p.path)) {
                Some(Named::Legacy(Target::Def(d)))
                    if self.r.model.defs[d].kind == DefKind::Variant =>
                {
                    self.r.model.defs[d].owner.map_or(Ty::Unknown, Ty::Def)
                }
                _ => Ty::Unknown,
            },
            Expr::Call(c) => self.call_type(c),
            Expr::MethodCall(m) => self.method_type(m),
            Expr::Try(t) => self.type_of(&t.expr).unwrapped(),
            Expr::Paren(p) => self.type_of(&p.expr),
            Expr::Group(g) => self.type_of(&g.expr),
            Expr::Reference(r) => self.type_of(&r.expr),
            Expr::Field(f) => self.field_type(f),
            Expr::Tuple(t) => Ty::Tuple(t.elems.iter().map(|e| self.type_of(e)).collect()),
            // `{ …; tail }`: the tail's type (as far as it names no local of the block).
            Expr::Block(b) => match b.block.stmts.last() {
                Some(syn::Stmt::Expr(tail, None)) => self.type_of(tail),
                _ => Ty::Unknown,
            },
            Expr::Struct(s) => match self.r.resolve(&segments(&s.path)) {
                Some(Named::Legacy(Target::Def(d))) => Ty::Def(d),
                // `Reader { … }`: a struct of the file (whose impls may be legacy traits').
                _ => match s.path.get_ident() {
                    Some(name) if self.structs.contains_key(&name.to_string()) => {
                        Ty::Local(name.to_string())
                    }
                    _ => Ty::Unknown,
                },
            },
            _ => Ty::Unknown,
        }
    }

    fn call_type(&self, c: &syn::ExprCall) -> Ty {
        let Expr::Path(p) = &*c.func else {
            return Ty::Unknown;
        };
        let segs = segments(&p.path);
        let args: Vec<Ty> = c.args.iter().map(|a| self.type_of(a)).collect();
        match self.r.resolve(&segs) {
            // `Async::Ready(x)`: the enum.
            Some(Named::Legacy(Target::Def(d)))
                if self.r.model.defs[d].kind == DefKind::Variant =>
            {
                self.r.model.defs[d].owner.map_or(Ty::Unknown, Ty::Def)
            }
            Some(Named::Legacy(Target::Def(d))) => {
                self.r.model.returns_with(d, &Ty::Unknown, &args)
            }
            // `AssertUnwindSafe(x)`: x's type, as far as methods go.
            _ if segs.last().is_some_and(|s| s == "AssertUnwindSafe") => {
                args.first().cloned().unwrap_or(Ty::Unknown)
            }
            // `Box::new(x)`, `Rc::new(x)`: x's type, as far as methods go.
            _ if segs.last().is_some_and(|s| s == "new")
                && segs
                    .first()
                    .is_some_and(|s| matches!(s.as_str(), "Box" | "Rc" | "Arc")) =>
            {
                c.args.first().map_or(Ty::Unknown, |a| self.type_of(a))
            }
            _ => Ty::Unknown,
        }
    }

    fn method_type(&self, m: &syn::ExprMethodCall) -> Ty {
        let recv = self.type_of(&m.receiver);
        let name = m.method.to_string();
        match name.as_str() {
            "unwrap" | "expect" => return recv.unwrapped(),
            "clone" => return recv,
            // A `Result`'s error handled, its value still the same type.
            "map_err" | "context" | "with_context" | "or_else" | "ok" | "as_mut" | "as_ref"
            | "take"
                if matches!(recv, Ty::Wrapped(_)) =>
            {
                return recv
            }
            _ => {}
        }
        match self.resolve_method(&recv, &name) {
            Some(d) => {
                let args: Vec<Ty> = m.args.iter().map(|a| self.type_of(a)).collect();
                self.r.model.returns_with(d, &recv, &args)
            }
            None => Ty::Unknown,
        }
    }

    /// The declared type of a field of a struct of the file.
    pub(super) fn local_field(&self, name: &str, field: &str) -> Ty {
        let Some((_, ty)) = self
            .structs
            .get(name)
            .and_then(|fields| fields.iter().find(|(n, _)| n == field))
        else {
            return Ty::Unknown;
        };
        self.r
            .model
            .lower(self, &ty.clone(), &Ty::Local(name.to_owned()))
    }

    fn field_type(&self, f: &syn::ExprField) -> Ty {
        let base = self.type_of(&f.base);
        // `pair.0` of a tuple (a channel's `(Sender, Receiver)`).
        if let (Ty::Tuple(elems), syn::Member::Unnamed(i)) = (&base, &f.member) {
            return elems.get(i.index as usize).cloned().unwrap_or(Ty::Unknown);
        }
        let (Ty::Local(s), syn::Member::Named(field)) = (base, &f.member) else {
            return Ty::Unknown;
        };
        let Some(ty) = self
            .structs
            .get(&s)
            .and_then(|fields| fields.iter().find(|(n, _)| field == n))
        else {
            return Ty::Unknown;
        };
        self.r.model.lower(self, &ty.1.clone(), &Ty::Local(s))
    }

    /// The legacy method a call means: from the receiver's type, else, for a name
    /// no std type shares, the one trait in scope that has it.
    pub(super) fn resolve_method(&self, recv: &Ty, name: &str) -> Option<DefId> {
        // A struct of the file: the legacy traits it implements (a blanket impl such as
        // tokio-proto's `BindServer` for every `ServerProto` falls to the traits in scope).
        if let Ty::Local(s) = recv {
            let traits = self.local_impls.get(s).cloned().unwrap_or_default();
            if let Some(d) = self.r.model.method(&Ty::Bounds(traits), name) {
                return Some(d);
            }
        }
        if let Some(d) = self.r.model.method(recv, name) {
            return Some(d);
        }
        if !matches!(recv, Ty::Unknown | Ty::Local(_)) || SHARED_WITH_STD.contains(&name) {
            return None;
        }
        let traits = self.r.model.with_supertraits(&self.traits);
        traits.iter().find_map(|&t| {
            self.r
                .model
                .member(t, name)
                .filter(|&m| self.r.model.defs[m].kind == DefKind::TraitMethod)
        })
    }
}
