//! Names in the modules of the legacy crates and their resolution, with the rules of
//! Rust 2015 that these crates are written in: `use` paths start at the crate root,
//! other paths in the current module; `extern crate` names and the standard prelude
//! are visible everywhere.

use syn::{Item, UseTree, Visibility};

use super::defs::DefId;
use super::modules::ModId;

/// What a name stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Def(DefId),
    Mod(ModId),
    /// A crate outside the legacy stack (or std), with the path into it.
    Outside(String),
}

/// A name declared in a module: an item, a child module, an `extern crate` or a
/// `use`, which is resolved when it is asked for.
#[derive(Debug, Clone)]
pub struct Binding {
    pub name: String,
    pub kind: BindingKind,
    pub public: bool,
    pub hidden: bool,
    pub deprecated: bool,
}

#[derive(Debug, Clone)]
pub enum BindingKind {
    Target(Target),
    /// `extern crate NAME`: the crate's lib name.
    Crate(String),
    /// `use PATH` (the path as written, `::` prefix dropped).
    Use(Vec<String>),
}

/// A glob import, `use PATH::*`.
#[derive(Debug, Clone)]
pub struct Glob {
    pub path: Vec<String>,
    pub public: bool,
    pub hidden: bool,
}

/// The names of one module.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    pub names: Vec<Binding>,
    pub globs: Vec<Glob>,
}

impl Scope {
    /// The `use` and `extern crate` declarations of a module's items (its own
    /// definitions and children are added by the model, which numbers them).
    pub fn add_imports(&mut self, item: &Item) {
        match item {
            Item::Use(u) => {
                let public = matches!(u.vis, Visibility::Public(_));
                let (hidden, deprecated) = (
                    crate::cfg::hidden(&u.attrs),
                    crate::cfg::deprecated(&u.attrs),
                );
                self.add_use_tree(&u.tree, &mut Vec::new(), public, hidden, deprecated);
            }
            Item::ExternCrate(e) => {
                let name = e.rename.as_ref().map_or(&e.ident, |(_, r)| r).to_string();
                self.names.push(Binding {
                    name,
                    kind: BindingKind::Crate(e.ident.to_string()),
                    public: matches!(e.vis, Visibility::Public(_)),
                    hidden: false,
                    deprecated: false,
                });
            }
            _ => {}
        }
    }

    fn add_use_tree(
        &mut self,
        tree: &UseTree,
        prefix: &mut Vec<String>,
        public: bool,
        hidden: bool,
        deprecated: bool,
    ) {
        let mut bind = |name: String, path: Vec<String>| {
            self.names.push(Binding {
                name,
                kind: BindingKind::Use(path),
                public,
                hidden,
                deprecated,
            });
        };
        match tree {
            UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.add_use_tree(&p.tree, prefix, public, hidden, deprecated);
                prefix.pop();
            }
            UseTree::Name(n) => {
                let name = n.ident.to_string();
                // `use foo::{self}` names the module `foo` itself.
                if name == "self" {
                    if let Some(last) = prefix.last().cloned() {
                        bind(last, prefix.clone());
                    }
                } else {
                    let mut path = prefix.clone();
                    path.push(name.clone());
                    bind(name, path);
                }
            }
            UseTree::Rename(r) => {
                let mut path = prefix.clone();
                if r.ident != "self" {
                    path.push(r.ident.to_string());
                }
                bind(r.rename.to_string(), path);
            }
            UseTree::Glob(_) => self.globs.push(Glob {
                path: prefix.clone(),
                public,
                hidden,
            }),
            UseTree::Group(g) => {
                for t in &g.items {
                    self.add_use_tree(t, prefix, public, hidden, deprecated);
                }
            }
        }
    }
}

/// The names of the standard prelude that signatures of the legacy crates use.
pub fn std_prelude(name: &str) -> Option<&'static str> {
    Some(match name {
        "Option" => "std::option::Option",
        "Some" => "std::option::Option::Some",
        "None" => "std::option::Option::None",
        "Result" => "std::result::Result",
        "Ok" => "std::result::Result::Ok",
        "Err" => "std::result::Result::Err",
        "Box" => "std::boxed::Box",
        "Vec" => "std::vec::Vec",
        "String" => "std::string::String",
        "Send" => "std::marker::Send",
        "Sync" => "std::marker::Sync",
        "Sized" => "std::marker::Sized",
        "Fn" => "std::ops::Fn",
        "FnMut" => "std::ops::FnMut",
        "FnOnce" => "std::ops::FnOnce",
        "Iterator" => "std::iter::Iterator",
        "IntoIterator" => "std::iter::IntoIterator",
        "Clone" => "std::clone::Clone",
        "Drop" => "std::ops::Drop",
        _ => return None,
    })
}
