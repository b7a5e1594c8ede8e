//! The definitions of the legacy crates: every struct, enum, variant, trait, trait
//! member, function, type alias, constant, exported macro and inherent method, with
//! what the scanner needs of its signature.

use syn::{Signature, Type};

use super::modules::ModId;

/// Index of a definition in [`super::Model::defs`].
pub type DefId = usize;

/// What a definition is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DefKind {
    Struct,
    Enum,
    Variant,
    Union,
    Trait,
    TraitMethod,
    AssocType,
    AssocConst,
    Method,
    Fn,
    TypeAlias,
    Const,
    Static,
    Macro,
    /// Written by a macro of the crate (futures' `Join3`…`Join5`): known only from
    /// the `pub use` that exports it.
    Generated,
}

impl DefKind {
    /// Whether a definition of this kind lives inside another (its owner).
    pub fn is_member(self) -> bool {
        matches!(
            self,
            DefKind::Variant
                | DefKind::TraitMethod
                | DefKind::AssocType
                | DefKind::AssocConst
                | DefKind::Method
        )
    }

    /// How the book and the scan name the kind.
    pub fn label(self) -> &'static str {
        match self {
            DefKind::Struct => "struct",
            DefKind::Enum => "enum",
            DefKind::Variant => "variant",
            DefKind::Union => "union",
            DefKind::Trait => "trait",
            DefKind::TraitMethod => "trait method",
            DefKind::AssocType => "associated type",
            DefKind::AssocConst => "associated const",
            DefKind::Method => "method",
            DefKind::Fn => "function",
            DefKind::TypeAlias => "type alias",
            DefKind::Const => "constant",
            DefKind::Static => "static",
            DefKind::Macro => "macro",
            DefKind::Generated => "macro-generated item",
        }
    }
}

/// One definition.
pub struct Def {
    pub kind: DefKind,
    pub name: String,
    /// The module it is written in (for a member, its owner's impl or trait).
    pub module: ModId,
    /// The trait or type a member belongs to.
    pub owner: Option<DefId>,
    /// Declared `pub` (a trait's members and an enum's variants always are).
    pub public: bool,
    pub hidden: bool,
    pub deprecated: bool,
    /// A function's or method's signature.
    pub sig: Option<Signature>,
    /// The generics of the impl or trait around a method (for its bounds).
    pub outer_generics: Option<syn::Generics>,
    /// A type alias's type.
    pub aliased: Option<Type>,
    /// A trait's supertraits.
    pub supertraits: Vec<syn::Path>,
}
