//! `cargo xtask scan PATH`: every use of a legacy item in the `.rs` files under a
//! path, with the item's modern equivalent and checklist step from the map.

mod local;
mod names;
mod typing;
mod visit;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Serialize;
use syn::visit::Visit;

pub use names::CrateNames;
use names::{FileScope, Resolver};
pub use visit::Via;

use crate::legacy::Model;
use crate::map::ApiMap;

/// One use of a legacy item.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    /// The file, as given (under the scanned path).
    pub file: String,
    pub line: usize,
    /// The legacy item's canonical path (or the path as written, if it names no
    /// public item of a legacy crate).
    pub item: String,
    /// Its modern equivalent; `None` when the map has no row for it.
    pub modern: Option<String>,
    /// The key of its checklist step.
    pub step: Option<String>,
    /// Why the map has no row for it, when it leaves it out on purpose.
    pub left_out: Option<String>,
    /// How it was found: a `use`, a path, a method call, a macro, an `impl`.
    pub via: Via,
}

/// A file the scan could not read or parse.
#[derive(Debug, Serialize)]
pub struct Unread {
    pub file: String,
    pub error: String,
}

/// What a scan found.
#[derive(Debug, Serialize)]
pub struct Scan {
    pub files: usize,
    pub findings: Vec<Finding>,
    /// Files left unscanned, each with why.
    pub unread: Vec<Unread>,
    pub summary: Summary,
}

/// Distinct items found, how many the map has, and those it has not.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub uses: usize,
    pub items: usize,
    pub mapped: usize,
    pub left_out: Vec<String>,
    /// Items the map does not know: neither mapped nor left out on purpose.
    pub unknown: Vec<String>,
}

/// Scans every `.rs` file under `path` (or the file itself).
pub fn scan_path(path: &Path, model: &Model, map: &ApiMap) -> Result<Scan> {
    let files = rust_files(path)?;
    let mut findings = Vec::new();
    let mut unread = Vec::new();
    for file in &files {
        let shown = file.display().to_string();
        let crates = CrateNames::for_file(file);
        let text = std::fs::read_to_string(file).map_err(anyhow::Error::from);
        match text.and_then(|t| scan_source(&t, &shown, &crates, model, map)) {
            Ok(found) => findings.extend(found),
            // One file that does not parse does not end the scan; it is reported.
            Err(e) => unread.push(Unread {
                file: shown,
                error: format!("{e:#}"),
            }),
        }
    }
    Ok(Scan {
        files: files.len(),
        summary: summarize(&findings, map),
        findings,
        unread,
    })
}

/// Scans one file's source; `file` is how findings name it.
pub fn scan_source(
    text: &str,
    file: &str,
    crates: &CrateNames,
    model: &Model,
    map: &ApiMap,
) -> Result<Vec<Finding>> {
    // Today's Rust first; code of 2016–2018 may be Rust 2015 (`async` as a name,
    // `&Fn()` without `dyn`, unnamed trait method parameters).
    let ast = syn::parse_file(text)
        .or_else(|e| crate::legacy::modules::parse_2015(text).map_err(|_| e))
        .map_err(|e| anyhow::anyhow!("line {}: {e}", e.span().start().line))?;
    let mut scope = FileScope::default();
    collect_uses(&ast.items, &mut scope);
    let resolver = Resolver {
        model,
        crates,
        scope: &scope,
    };
    let mut v = visit::FileVisitor::new(resolver, &ast);
    v.visit_file(&ast);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for hit in v.hits {
        let item = match hit.def.and_then(|d| model.item_of(d)) {
            Some(item) => item.path.clone(),
            None if hit.def.is_some() => continue, // a private definition, reached through a public one
            None => hit.written.clone(),
        };
        if !seen.insert((hit.line, item.clone())) {
            continue;
        }
        let row = map.row(&item);
        out.push(Finding {
            file: file.to_owned(),
            line: hit.line,
            modern: row.map(|r| r.modern.clone()),
            step: row.map(|r| r.step.clone()),
            left_out: map.left_out(&item).map(|l| l.reason.clone()),
            via: hit.via,
            item,
        });
    }
    out.sort();
    Ok(out)
}

/// The `use`s of a file, at any depth (modules, function bodies).
fn collect_uses(items: &[syn::Item], scope: &mut FileScope) {
    struct Uses<'s>(&'s mut FileScope);
    impl<'ast> Visit<'ast> for Uses<'_> {
        fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
            self.0.add_use(&u.tree, &mut Vec::new());
        }
        fn visit_item_extern_crate(&mut self, e: &'ast syn::ItemExternCrate) {
            // `extern crate futures as futures01;`: the new name for the crate.
            if let Some((_, rename)) = &e.rename {
                self.0
                    .names
                    .insert(rename.to_string(), vec![e.ident.to_string()]);
            }
        }
    }
    let mut uses = Uses(scope);
    items.iter().for_each(|i| uses.visit_item(i));
}

fn summarize(findings: &[Finding], map: &ApiMap) -> Summary {
    let items: BTreeSet<&str> = findings.iter().map(|f| f.item.as_str()).collect();
    let mut s = Summary {
        uses: findings.len(),
        items: items.len(),
        ..Summary::default()
    };
    for item in items {
        if map.row(item).is_some() {
            s.mapped += 1;
        } else if map.left_out(item).is_some() {
            s.left_out.push(item.to_owned());
        } else {
            s.unknown.push(item.to_owned());
        }
    }
    s
}

/// The `.rs` files under `path`, sorted; `target/` and hidden directories skipped.
fn rust_files(path: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if path.is_file() {
        out.push(path.to_path_buf());
        return Ok(out);
    }
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let p = entry?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if p.is_dir() && name != "target" && !name.starts_with('.') {
                dirs.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                out.push(p);
            }
        }
    }
    out.sort();
    Ok(out)
}
