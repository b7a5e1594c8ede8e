//! Just enough typing for the scanner to follow a method chain: the type of a
//! legacy function's or method's result, read from its signature, and the method a
//! name means on a receiver of a known type (its inherent methods, then the methods
//! of the traits it implements, supertraits included).

use syn::{GenericParam, Generics, ReturnType, Type, TypeParamBound, WherePredicate};

use super::build::segments;
use super::defs::{DefId, DefKind};
use super::modules::ModId;
use super::scope::Target;
use super::Model;

/// What the scanner knows of a value's type.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// A legacy struct, enum or union.
    Def(DefId),
    /// Some type known only by the legacy traits it implements (`impl Stream`, a
    /// generic `S: Stream`, `Box<Future<…>>`).
    Bounds(Vec<DefId>),
    /// `Result<T, _>` or `Option<T>`: what `?` or `unwrap()` gives is `T`.
    Wrapped(Box<Ty>),
    Tuple(Vec<Ty>),
    /// A struct of the scanned file, by name (its fields are looked up there).
    Local(String),
    Unknown,
}

impl Ty {
    /// What `?`, `unwrap()` or `expect()` gives.
    pub fn unwrapped(&self) -> Ty {
        match self {
            Ty::Wrapped(t) => (**t).clone(),
            _ => Ty::Unknown,
        }
    }
}

/// Where a type is written: how its names resolve and which generic parameters
/// are in scope.
pub trait TypeScope {
    fn resolve(&self, path: &[String]) -> Vec<Target>;
    fn generics(&self) -> Vec<&Generics>;
    /// A struct of the scanned file with this name, if there is one.
    fn local_struct(&self, _name: &str) -> bool {
        false
    }
    /// What a generic parameter stands for at this call (`F` of `Core::run(f)`).
    fn param_type(&self, _name: &str) -> Option<Ty> {
        None
    }
    /// The type a type alias of the scanned file with this name stands for.
    fn local_alias(&self, _name: &str) -> Option<Type> {
        None
    }
}

impl Model {
    /// The type `ty` written in `scope`, with `Self` standing for `self_ty`.
    pub fn lower(&self, scope: &dyn TypeScope, ty: &Type, self_ty: &Ty) -> Ty {
        match ty {
            Type::Path(p) if p.qself.is_none() => self.lower_path(scope, &p.path, self_ty),
            Type::Reference(r) => self.lower(scope, &r.elem, self_ty),
            Type::Paren(p) => self.lower(scope, &p.elem, self_ty),
            Type::Group(g) => self.lower(scope, &g.elem, self_ty),
            Type::Tuple(t) => Ty::Tuple(
                t.elems
                    .iter()
                    .map(|e| self.lower(scope, e, self_ty))
                    .collect(),
            ),
            Type::ImplTrait(i) => self.bounds(scope, i.bounds.iter()),
            Type::TraitObject(o) => self.bounds(scope, o.bounds.iter()),
            _ => Ty::Unknown,
        }
    }

    fn lower_path(&self, scope: &dyn TypeScope, path: &syn::Path, self_ty: &Ty) -> Ty {
        let segs = segments(path);
        // A projection: `Self::Item`, `F::Item`.
        if let [base, name] = segs.as_slice() {
            let base_ty = if base == "Self" {
                Some(self_ty.clone())
            } else {
                scope.param_type(base)
            };
            if let Some(base_ty) = base_ty {
                return self.assoc(&base_ty, name);
            }
        }
        if let [one] = segs.as_slice() {
            if let Some(ty) = scope.param_type(one) {
                return ty;
            }
            if one == "Self" {
                return self_ty.clone();
            }
            if let Some(bounds) = param_bounds(scope.generics(), one) {
                return self.bounds(scope, bounds.iter());
            }
            if scope.local_struct(one) {
                return Ty::Local(one.clone());
            }
            if let Some(aliased) = scope.local_alias(one) {
                return self.lower(scope, &aliased, self_ty);
            }
        }
        let first_arg = || {
            path.segments.last().and_then(|s| match &s.arguments {
                syn::PathArguments::AngleBracketed(a) => a.args.iter().find_map(|g| match g {
                    syn::GenericArgument::Type(t) => Some(self.lower(scope, t, self_ty)),
                    _ => None,
                }),
                _ => None,
            })
        };
        match scope.resolve(&segs).into_iter().next() {
            Some(Target::Def(d)) => match self.defs[d].kind {
                DefKind::Trait => Ty::Bounds(vec![d]),
                DefKind::TypeAlias => self.alias(d, self_ty),
                DefKind::Struct | DefKind::Enum | DefKind::Union | DefKind::Generated => Ty::Def(d),
                _ => Ty::Unknown,
            },
            Some(Target::Outside(p)) if is_wrapper(&p) => {
                Ty::Wrapped(Box::new(first_arg().unwrap_or(Ty::Unknown)))
            }
            Some(Target::Outside(p))
                if p.ends_with("::Box") || p.ends_with("::Rc") || p.ends_with("::Arc") =>
            {
                first_arg().unwrap_or(Ty::Unknown)
            }
            // Outside the legacy crates (a scanned file's `std` names): by the name.
            None => match segs.last().map(String::as_str) {
                Some("Result" | "Option") => {
                    Ty::Wrapped(Box::new(first_arg().unwrap_or(Ty::Unknown)))
                }
                Some("Box" | "Rc" | "Arc") => first_arg().unwrap_or(Ty::Unknown),
                _ => Ty::Unknown,
            },
            _ => Ty::Unknown,
        }
    }

    fn alias(&self, d: DefId, self_ty: &Ty) -> Ty {
        let def = &self.defs[d];
        let Some(ty) = &def.aliased else {
            return Ty::Unknown;
        };
        self.lower(
            &ModuleScope {
                model: self,
                module: def.module,
                generics: Vec::new(),
                params: Vec::new(),
            },
            ty,
            self_ty,
        )
    }

    fn bounds<'b>(
        &self,
        scope: &dyn TypeScope,
        bounds: impl Iterator<Item = &'b TypeParamBound>,
    ) -> Ty {
        let traits: Vec<DefId> = bounds
            .filter_map(|b| {
                if let TypeParamBound::Trait(t) = b {
                    Some(&t.path)
                } else {
                    None
                }
            })
            .filter_map(|p| match scope.resolve(&segments(p)).into_iter().next() {
                Some(Target::Def(d)) if self.defs[d].kind == DefKind::Trait => Some(d),
                _ => None,
            })
            .collect();
        if traits.is_empty() {
            Ty::Unknown
        } else {
            Ty::Bounds(traits)
        }
    }

    /// The method `name` on a receiver of type `recv`.
    pub fn method(&self, recv: &Ty, name: &str) -> Option<DefId> {
        let traits = match recv {
            Ty::Def(d) => {
                if let Some(m) = self
                    .member(*d, name)
                    .filter(|&m| self.defs[m].kind == DefKind::Method)
                {
                    return Some(m);
                }
                self.traits_of(*d).to_vec()
            }
            Ty::Bounds(ts) => ts.clone(),
            _ => return None,
        };
        self.with_supertraits(&traits).into_iter().find_map(|t| {
            self.member(t, name)
                .filter(|&m| self.defs[m].kind == DefKind::TraitMethod)
        })
    }

    /// The traits and, transitively, their legacy supertraits.
    pub fn with_supertraits(&self, traits: &[DefId]) -> Vec<DefId> {
        let mut out: Vec<DefId> = traits.to_vec();
        let mut i = 0;
        while i < out.len() {
            let def = &self.defs[out[i]];
            for p in &def.supertraits {
                let resolved = self.resolve_path(def.module, &segments(p), false);
                for t in resolved {
                    if let Target::Def(s) = t {
                        if !out.contains(&s) {
                            out.push(s);
                        }
                    }
                }
            }
            i += 1;
        }
        out
    }

    /// The associated type `name` of a type, from its trait impls.
    pub fn assoc(&self, ty: &Ty, name: &str) -> Ty {
        let Ty::Def(d) = ty else { return Ty::Unknown };
        let Some((_, aty, module, generics)) = self
            .assoc
            .get(d)
            .and_then(|v| v.iter().find(|(n, ..)| n == name))
        else {
            return Ty::Unknown;
        };
        let scope = ModuleScope {
            model: self,
            module: *module,
            generics: vec![generics],
            params: Vec::new(),
        };
        self.lower(&scope, aty, ty)
    }

    /// The type a function or method returns, `Self` being `recv`, with the types of
    /// the arguments where known (a parameter `f: F` gives `F` and so `F::Item`).
    pub fn returns_with(&self, def: DefId, recv: &Ty, args: &[Ty]) -> Ty {
        let d = &self.defs[def];
        let Some(sig) = &d.sig else {
            return Ty::Unknown;
        };
        let params = sig
            .inputs
            .iter()
            .filter_map(|a| {
                if let syn::FnArg::Typed(t) = a {
                    Some(&*t.ty)
                } else {
                    None
                }
            })
            .zip(args)
            .filter_map(|(ty, arg)| match ty {
                Type::Path(p) => p.path.get_ident().map(|i| (i.to_string(), arg.clone())),
                _ => None,
            })
            .filter(|(_, arg)| *arg != Ty::Unknown)
            .collect();
        self.returns_in(def, recv, params)
    }

    /// The type a function or method returns, `Self` being `recv`.
    pub fn returns(&self, def: DefId, recv: &Ty) -> Ty {
        self.returns_in(def, recv, Vec::new())
    }

    fn returns_in(&self, def: DefId, recv: &Ty, params: Vec<(String, Ty)>) -> Ty {
        let d = &self.defs[def];
        let Some(sig) = &d.sig else {
            return Ty::Unknown;
        };
        let ReturnType::Type(_, ty) = &sig.output else {
            return Ty::Unknown;
        };
        let mut generics = vec![&sig.generics];
        generics.extend(d.outer_generics.as_ref());
        let self_ty = match (recv, d.owner) {
            (Ty::Unknown, Some(owner)) if self.defs[owner].kind != DefKind::Trait => Ty::Def(owner),
            _ => recv.clone(),
        };
        self.lower(
            &ModuleScope {
                model: self,
                module: d.module,
                generics,
                params,
            },
            ty,
            &self_ty,
        )
    }
}

/// Whether an outside path is `Result`, `io::Result` or `Option`.
fn is_wrapper(path: &str) -> bool {
    path.ends_with("::Result") || path.ends_with("::Option")
}

/// The bounds of the generic parameter `name`, from its declaration and `where`.
fn param_bounds(generics: Vec<&Generics>, name: &str) -> Option<Vec<TypeParamBound>> {
    let mut found = None::<Vec<TypeParamBound>>;
    for g in generics {
        for p in &g.params {
            if let GenericParam::Type(t) = p {
                if t.ident == name {
                    found
                        .get_or_insert_with(Vec::new)
                        .extend(t.bounds.iter().cloned());
                }
            }
        }
        for w in g.where_clause.iter().flat_map(|w| w.predicates.iter()) {
            if let WherePredicate::Type(pt) = w {
                if matches!(&pt.bounded_ty, Type::Path(p) if p.path.is_ident(name)) {
                    found
                        .get_or_insert_with(Vec::new)
                        .extend(pt.bounds.iter().cloned());
                }
            }
        }
    }
    found
}

/// A module of a legacy crate as the place a type is written.
pub struct ModuleScope<'a> {
    pub model: &'a Model,
    pub module: ModId,
    pub generics: Vec<&'a Generics>,
    /// Generic parameters bound to the types of a call's arguments.
    pub params: Vec<(String, Ty)>,
}

impl TypeScope for ModuleScope<'_> {
    fn resolve(&self, path: &[String]) -> Vec<Target> {
        self.model.resolve_path(self.module, path, false)
    }

    fn generics(&self) -> Vec<&Generics> {
        self.generics.clone()
    }

    fn param_type(&self, name: &str) -> Option<Ty> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.clone())
    }
}
