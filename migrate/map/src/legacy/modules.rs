//! The module tree of a crate, read from its sources with syn: `mod x;` followed to
//! `x.rs` or `x/mod.rs` (or `#[path]`), inline modules, and only the items whose
//! `#[cfg]` holds for this build.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use syn::{Item, ItemMod};

use crate::cfg::{self, Cfg};

/// Index of a module in [`Modules`].
pub type ModId = usize;

/// One module of one crate.
pub struct Module {
    /// Index of its crate.
    pub krate: usize,
    pub parent: Option<ModId>,
    /// Its name (the crate's name for a root).
    pub name: String,
    /// The items whose `#[cfg]` holds.
    pub items: Vec<Item>,
    /// Declared `pub mod`.
    pub public: bool,
    pub hidden: bool,
    pub deprecated: bool,
    /// Its children, by name.
    pub children: Vec<(String, ModId)>,
}

/// Every module of every legacy crate.
#[derive(Default)]
pub struct Modules {
    pub all: Vec<Module>,
}

impl Modules {
    /// Reads the crate whose root file is `root` and returns its root module.
    pub fn load_crate(
        &mut self,
        krate: usize,
        name: &str,
        root: &Path,
        cfg: &Cfg,
    ) -> Result<ModId> {
        let file = parse(root)?;
        let dir = root.parent().map(Path::to_path_buf).unwrap_or_default();
        let id = self.push(krate, None, name, false, &file.attrs);
        self.fill(id, file.items, &dir, cfg)?;
        Ok(id)
    }

    fn push(
        &mut self,
        krate: usize,
        parent: Option<ModId>,
        name: &str,
        public: bool,
        attrs: &[syn::Attribute],
    ) -> ModId {
        self.all.push(Module {
            krate,
            parent,
            name: name.to_owned(),
            items: Vec::new(),
            public,
            hidden: cfg::hidden(attrs),
            deprecated: cfg::deprecated(attrs),
            children: Vec::new(),
        });
        self.all.len() - 1
    }

    /// Keeps the enabled items of module `id`, whose `mod x;` files lie in `dir`, and
    /// loads its child modules.
    fn fill(&mut self, id: ModId, items: Vec<Item>, dir: &Path, cfg: &Cfg) -> Result<()> {
        let mut kept = Vec::new();
        for item in items.into_iter().flat_map(|i| expand_if_std(i, cfg)) {
            if !cfg.enabled(attrs_of(&item)) {
                continue;
            }
            if let Item::Mod(m) = &item {
                let child = self.load_child(id, m, dir, cfg)?;
                self.all[id].children.push((m.ident.to_string(), child));
            }
            kept.push(item);
        }
        self.all[id].items = kept;
        Ok(())
    }

    fn load_child(&mut self, parent: ModId, m: &ItemMod, dir: &Path, cfg: &Cfg) -> Result<ModId> {
        let krate = self.all[parent].krate;
        let public = matches!(m.vis, syn::Visibility::Public(_));
        let name = m.ident.to_string();
        if let Some((_, items)) = &m.content {
            let id = self.push(krate, Some(parent), &name, public, &m.attrs);
            return self
                .fill(id, items.clone(), &dir.join(&name), cfg)
                .map(|()| id);
        }
        let path = match path_attr(m) {
            Some(p) => dir.join(p),
            None if dir.join(format!("{name}.rs")).exists() => dir.join(format!("{name}.rs")),
            None => dir.join(&name).join("mod.rs"),
        };
        let file = parse(&path)?;
        if !cfg.enabled(&file.attrs) {
            // `#![cfg(windows)]` at the top of the module's file.
            return Ok(self.push(krate, Some(parent), &name, false, &file.attrs));
        }
        let mut attrs = m.attrs.clone();
        attrs.extend(file.attrs.iter().cloned());
        let id = self.push(krate, Some(parent), &name, public, &attrs);
        // A `mod.rs` (or a 2015 file at a `#[path]`) holds its children beside it;
        // `x.rs` holds them in `x/`.
        let child_dir = if path.file_name().is_some_and(|f| f == "mod.rs") || path_attr(m).is_some()
        {
            path.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            dir.join(&name)
        };
        self.fill(id, file.items, &child_dir, cfg)?;
        Ok(id)
    }

    /// The crate root of module `id`.
    pub fn root_of(&self, mut id: ModId) -> ModId {
        while let Some(p) = self.all[id].parent {
            id = p;
        }
        id
    }

    /// The child module `name` of `id`.
    pub fn child(&self, id: ModId, name: &str) -> Option<ModId> {
        self.all[id]
            .children
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, c)| c)
    }
}

/// futures 0.1 wraps what needs std in `if_std! { … }`, which puts
/// `#[cfg(feature = "use_std")]` on each item: its items, when that feature is on.
fn expand_if_std(item: Item, cfg: &Cfg) -> Vec<Item> {
    let Item::Macro(m) = &item else {
        return vec![item];
    };
    if !m.mac.path.is_ident("if_std") {
        return vec![item];
    }
    if !cfg.features.contains("use_std") {
        return Vec::new();
    }
    syn::parse2::<syn::File>(m.mac.tokens.clone())
        .map(|f| f.items)
        .unwrap_or_default()
}

fn parse(path: &Path) -> Result<syn::File> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    parse_2015(&text).map_err(|e| {
        let at = e.span().start();
        anyhow::anyhow!(
            "cannot parse {}:{}:{}: {e}",
            path.display(),
            at.line,
            at.column + 1
        )
    })
}

/// Parses Rust 2015 source, which today's syn does not take as it is (see the
/// fix-ups below); lines keep their numbers.
pub fn parse_2015(text: &str) -> syn::Result<syn::File> {
    let mut text = dyn_closure_objects(&rename_keywords_of_2018(text));
    loop {
        let e = match syn::parse_file(&text) {
            Ok(file) => return Ok(file),
            Err(e) => e,
        };
        let at = e.span().start();
        if e.to_string() != "expected `:`"
            || !name_anonymous_parameter(&mut text, at.line, at.column)
        {
            return Err(e);
        }
    }
}

/// The crates are Rust 2015, where `async`, `await` and `try` are identifiers (a
/// local `let async = …`, the `try!` macro); syn parses today's Rust, so they are
/// renamed `async_`, `await_`, `try_`. No public item of theirs has such a name.
fn rename_keywords_of_2018(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if c.is_alphanumeric() || c == '_' {
            word.push(c);
            continue;
        }
        let keyword = matches!(word.as_str(), "async" | "await" | "try");
        out.push_str(&word);
        if keyword {
            out.push('_');
        }
        word.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// Rust 2015 wrote trait objects without `dyn`; syn takes a bare `&'a Fn() -> T` or
/// `Box<Fn(u8) + Send>` for a path it cannot finish, so those get their `dyn`.
fn dyn_closure_objects(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 64);
    let mut rest = text;
    while let Some(at) = rest.find("Fn") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let word_start = out
            .chars()
            .last()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'));
        let name_len = ["FnMut(", "FnOnce(", "Fn("]
            .iter()
            .find(|n| after.starts_with(**n))
            .map(|n| n.len() - 1);
        if let (true, Some(len)) = (word_start, name_len) {
            if in_type_position(&out) {
                out.push_str("dyn ");
            }
            out.push_str(&after[..len]);
            rest = &after[len..];
        } else {
            out.push_str("Fn");
            rest = &after[2..];
        }
    }
    out.push_str(rest);
    out
}

/// Whether what precedes a `Fn(` makes it a type (after `&`, `&'a`, `&mut`, `<`)
/// rather than a bound (after `:` or `+`).
fn in_type_position(before: &str) -> bool {
    let mut t = before.trim_end();
    t = t.strip_suffix("mut").map_or(t, str::trim_end);
    if let Some(q) = t.rfind('\'') {
        if t[q + 1..].chars().all(|c| c.is_alphanumeric() || c == '_') {
            t = t[..q].trim_end();
        }
    }
    t.ends_with('&') || t.ends_with('<')
}

/// Rust 2015 let a trait method leave its parameters unnamed (`fn future_from(T)`),
/// which syn does not parse: names the one that ends at `line`:`column` `_`.
fn name_anonymous_parameter(text: &mut String, line: usize, column: usize) -> bool {
    let Some(line_start) = text
        .split_inclusive('\n')
        .take(line - 1)
        .map(str::len)
        .reduce(|a, b| a + b)
        .or(Some(0))
    else {
        return false;
    };
    let end = line_start
        + text[line_start..]
            .chars()
            .take(column)
            .map(char::len_utf8)
            .sum::<usize>();
    let Some(open) = text[..end].rfind(['(', ',']) else {
        return false;
    };
    let start = open + 1 + (text[open + 1..end].len() - text[open + 1..end].trim_start().len());
    text.insert_str(start, "_: ");
    true
}

fn path_attr(m: &ItemMod) -> Option<PathBuf> {
    m.attrs
        .iter()
        .find(|a| a.path().is_ident("path"))
        .and_then(|a| match &a.meta {
            syn::Meta::NameValue(nv) => match &nv.value {
                syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(s),
                    ..
                }) => Some(PathBuf::from(s.value())),
                _ => None,
            },
            _ => None,
        })
}

/// The attributes of any item.
pub fn attrs_of(item: &Item) -> &[syn::Attribute] {
    match item {
        Item::Const(i) => &i.attrs,
        Item::Enum(i) => &i.attrs,
        Item::ExternCrate(i) => &i.attrs,
        Item::Fn(i) => &i.attrs,
        Item::ForeignMod(i) => &i.attrs,
        Item::Impl(i) => &i.attrs,
        Item::Macro(i) => &i.attrs,
        Item::Mod(i) => &i.attrs,
        Item::Static(i) => &i.attrs,
        Item::Struct(i) => &i.attrs,
        Item::Trait(i) => &i.attrs,
        Item::TraitAlias(i) => &i.attrs,
        Item::Type(i) => &i.attrs,
        Item::Union(i) => &i.attrs,
        Item::Use(i) => &i.attrs,
        _ => &[],
    }
}
