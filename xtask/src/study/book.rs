//! Making the site: `book/src` copied to `OUT/src`, the generated parts written under
//! `OUT/src/gen/` (to read as files) and expanded into the chapters that include
//! them, the program pages and figures written beside the chapters, then mdBook
//! renders `OUT/book`. mdBook is used as a library (`mdbook-driver`, pinned in
//! `Cargo.lock`), and whatever it warns about (unbalanced HTML, a link it cannot
//! resolve) fails the build instead of scrolling by.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use harness::project_root;

use super::directives::Expander;
use super::gen::{self, Ctx};

/// The book's style, on top of mdBook's: wider pages for diffs, figures, tables, the
/// diff colours, the badges.
const STYLE: &str = include_str!("study.css");

const BOOK_TOML: &str = r#"# Written by `cargo xtask study`; edits are overwritten.
[book]
title = "Async I/O, then and now"
description = "Every program of a set of async I/O study programs, legacy (tokio-core 0.1, futures 0.1, mio 0.6) and modern (tokio 1, futures 0.3, mio 0.8), side by side, measured."
language = "en"
src = "src"

[build]
build-dir = "book"
create-missing = false
use-default-preprocessors = false

[output.html]
default-theme = "light"
preferred-dark-theme = "navy"
smart-punctuation = false
additional-css = ["study.css"]
[output.html.playground]
runnable = false
[output.html.print]
enable = false
[output.html.search]
enable = true
"#;

/// What was built.
pub struct Written {
    /// The site's first page.
    pub index: PathBuf,
    /// What the parts lacked, for the summary on stderr.
    pub missing: Vec<String>,
}

/// Writes the book's sources under `out/src` and renders the site into `out/book`.
pub fn write(ctx: &Ctx, out: &Path) -> Result<Written> {
    let (src, site) = (out.join("src"), out.join("book"));
    for dir in [&src, &site] {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
    }
    let chapters = read_tree(&project_root().join("book/src"))?;
    let parts = gen::parts(ctx);
    let pages = gen::pages::all(ctx)?;
    let texts: BTreeMap<String, String> = parts
        .iter()
        .map(|p| (p.path.clone(), p.md.clone()))
        .collect();
    let expander = Expander {
        ctx,
        parts: &texts,
        used: Default::default(),
    };
    for part in &parts {
        put(&src.join("gen").join(&part.path), &part.md)?;
    }
    for part in parts.iter().chain(&pages) {
        for (name, svg) in &part.figures {
            put(&src.join("figures").join(name), svg)?;
        }
    }
    for (path, text) in &chapters {
        let text = match path.as_str() {
            "SUMMARY.md" => expander.summary(text)?,
            p if p.ends_with(".md") => expander.page(p, text)?,
            _ => text.clone(),
        };
        put(&src.join(path), &text)?;
    }
    for page in &pages {
        put(&src.join(&page.path), &expander.page(&page.path, &page.md)?)?;
    }
    // What the chapters show but could not fill, said once each.
    let used = expander.used.borrow();
    let mut missing: Vec<String> = (parts.iter())
        .filter(|p| used.contains(&p.path))
        .filter_map(|p| p.missing.clone())
        .collect();
    missing.sort();
    missing.dedup();
    fs::write(out.join("study.css"), STYLE).context("cannot write study.css")?;
    fs::write(out.join("book.toml"), BOOK_TOML).context("cannot write book.toml")?;
    render(out)?;
    Ok(Written {
        index: site.join("index.html"),
        missing,
    })
}

fn put(path: &Path, text: &str) -> Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}

/// Every file under `dir`, by path relative to it.
fn read_tree(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).with_context(|| format!("cannot read {}", d.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .replace('\\', "/");
            let text = fs::read_to_string(&path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            out.insert(rel, text);
        }
    }
    Ok(out)
}

/// A `tracing` subscriber that keeps mdBook's warnings and errors.
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => write!(self.0, "{value:?}"),
            name => write!(self.0, " {name}={value:?}"),
        }
        .unwrap_or(());
    }
}

impl tracing::Subscriber for Warnings {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        *meta.level() <= tracing::Level::WARN
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut text = format!("{}: ", event.metadata().level());
        event.record(&mut Message(&mut text));
        if let Ok(mut all) = self.0.lock() {
            all.push(text);
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Renders the book at `root` with mdBook; any warning it gives is an error.
fn render(root: &Path) -> Result<()> {
    let warnings = Arc::new(Mutex::new(Vec::new()));
    let result = tracing::subscriber::with_default(Warnings(warnings.clone()), || {
        mdbook_driver::MDBook::load(root)?.build()
    });
    result.map_err(|e| anyhow::anyhow!("mdBook: {e:#}"))?;
    let warnings = warnings.lock().map(|w| w.clone()).unwrap_or_default();
    if !warnings.is_empty() {
        bail!(
            "mdBook warned while rendering the book:\n{}",
            warnings.join("\n")
        );
    }
    Ok(())
}
