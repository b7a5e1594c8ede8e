//! Writing the book: its Markdown, figures and style under `OUT/src`, `OUT/book.toml`,
//! then mdBook renders the site into `OUT/book`. mdBook is used as a library
//! (`mdbook-driver`, pinned in `Cargo.lock`): `cargo xtask study` needs nothing
//! installed, and building it from source once with xtask costs less than a separate
//! `cargo install mdbook` (measured: about 4 min against 6.5 min on 2 busy cores).
//! Its warnings, which it reports through `tracing`, are collected and fail the build:
//! an unbalanced tag in generated HTML is a bug here, not noise.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use harness::Catalogue;

use super::charts::Made;
use super::findings;
use super::pages;
use super::results::Results;
use super::Book;
use crate::doc::escape;

/// The book's style, on top of mdBook's: wider pages for diffs, figures, tables,
/// and the diff colours (which take the theme's code colours through the
/// highlight.js classes).
const STYLE: &str = include_str!("study.css");

/// The figures of the book, written under `src/figures/`.
#[derive(Default)]
pub struct Figs {
    files: Vec<(String, String)>,
    /// What has no data yet, for the summary on stderr.
    pub missing: Vec<String>,
}

impl Figs {
    /// The HTML of a figure (or of why it is missing) on the page at `page`.
    pub fn embed(&mut self, made: &Made, page: &str) -> String {
        let root = "../".repeat(page.matches('/').count());
        match made {
            Made::Figure(f) => {
                if !self.files.iter().any(|(name, _)| *name == f.file) {
                    self.files.push((f.file.clone(), f.svg.clone()));
                }
                let (w, h) = svg_size(&f.svg).unwrap_or((760, 400));
                format!(
                    "<figure class=\"fig\"><img src=\"{root}figures/{}\" alt=\"{}\" width=\"{w}\" height=\"{h}\" loading=\"lazy\">\
                     <figcaption>{}</figcaption></figure>",
                    escape(&f.file),
                    escape(&f.alt),
                    f.caption
                )
            }
            Made::Missing { what, why, command } => {
                if !self.missing.contains(what) {
                    self.missing.push(what.clone());
                }
                let how = if command.is_empty() {
                    String::new()
                } else {
                    format!(
                        " To measure it: <code>{}</code>, then <code>cargo xtask study</code> again.",
                        escape(command)
                    )
                };
                format!(
                    "<div class=\"missing\"><b>{}</b> — not in this book: {}.{how}</div>",
                    escape(&capitalized(what)),
                    escape(why),
                )
            }
        }
    }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// `width` and `height` of an SVG document's root element.
fn svg_size(svg: &str) -> Option<(u32, u32)> {
    let head = &svg[..svg.find('>')?];
    let attr = |name: &str| -> Option<u32> {
        let at = head.find(&format!(" {name}=\""))? + name.len() + 3;
        head[at..].split('"').next()?.parse().ok()
    };
    Some((attr("width")?, attr("height")?))
}

/// What was written.
pub struct Written {
    /// The site's first page.
    pub index: PathBuf,
    /// Figures without data.
    pub missing: Vec<String>,
}

/// Writes the book's sources under `out/src` and renders the site into `out/book`.
pub fn write(book: &Book, catalogue: &Catalogue, results: &Results, out: &Path) -> Result<Written> {
    let src = out.join("src");
    let site = out.join("book");
    for dir in [&src, &site] {
        if dir.exists() {
            fs::remove_dir_all(dir).with_context(|| format!("cannot clear {}", dir.display()))?;
        }
    }
    fs::create_dir_all(src.join("figures/bench"))
        .with_context(|| format!("cannot create {}", src.display()))?;
    let mut figs = Figs::default();
    let mut files: Vec<(String, String)> = Vec::new();

    let found = findings::all(book, results);
    files.push((
        "index.md".into(),
        pages::index(book, results, &found, &mut figs),
    ));
    let mut summary = String::from("# Summary\n\n[What was found](index.md)\n\n# Chapters\n\n");
    for c in &book.chapters {
        let _ = writeln!(summary, "- [{}]({})", c.title, c.path);
        files.push((c.path.clone(), pages::chapter(book, c, catalogue, results)?));
        for p in book.pairs_of(c) {
            let _ = writeln!(summary, "  - [{}]({})", p.name, p.path);
            files.push((
                p.path.clone(),
                pages::pair(p, catalogue, results, &mut figs)?,
            ));
        }
    }
    summary.push_str("\n# Measurements\n\n");
    for (title, path, text) in [
        (
            "Conformance",
            "conformance.md",
            pages::conformance(book, results),
        ),
        (
            "Performance",
            "performance.md",
            pages::performance(book, results),
        ),
        (
            "Where the figures come from",
            "sources.md",
            pages::sources(book, results),
        ),
    ] {
        let _ = writeln!(summary, "- [{title}]({path})");
        files.push((path.into(), text));
    }
    files.push(("SUMMARY.md".into(), summary));
    for (path, text) in &files {
        let file = src.join(path);
        if let Some(parent) = file.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&file, text).with_context(|| format!("cannot write {}", file.display()))?;
    }
    for (name, svg) in &figs.files {
        let file = src.join("figures").join(name);
        fs::write(&file, svg).with_context(|| format!("cannot write {}", file.display()))?;
    }
    // The bench's own plots, copied so that the site stands on its own.
    if let (Ok(b), Some(dir)) = (&results.bench, results.bench_dir()) {
        for plot in &b.data.plots {
            let from = dir.join(plot);
            if from.is_file() && !plot.contains('/') {
                fs::copy(&from, src.join("figures/bench").join(plot))
                    .with_context(|| format!("cannot copy {}", from.display()))?;
            }
        }
    }
    fs::write(out.join("study.css"), STYLE).context("cannot write study.css")?;
    fs::write(out.join("book.toml"), BOOK_TOML).context("cannot write book.toml")?;
    render(out)?;
    Ok(Written {
        index: site.join("index.html"),
        missing: figs.missing,
    })
}

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
# Prose here is written with its own dashes; `--flags` stay as typed.
smart-punctuation = false
preferred-dark-theme = "navy"
additional-css = ["study.css"]
# Nothing on these pages runs on a playground: no button that reaches the network.
[output.html.playground]
runnable = false
[output.html.print]
enable = false
[output.html.search]
enable = true
"#;

/// A `tracing` subscriber that keeps mdBook's warnings and errors.
struct Warnings(Arc<Mutex<Vec<String>>>);

struct Message<'a>(&'a mut String);

impl tracing::field::Visit for Message<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.0, "{value:?}");
        } else {
            let _ = write!(self.0, " {}={value:?}", field.name());
        }
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
        let md = mdbook_driver::MDBook::load(root)?;
        md.build()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_of_an_svg() {
        assert_eq!(
            svg_size("<svg width=\"760\" height=\"312\" viewBox=\"0 0 760 312\" xmlns=\"…\">"),
            Some((760, 312))
        );
        assert_eq!(svg_size("<svg>"), None);
        assert_eq!(capitalized("polls per datagram"), "Polls per datagram");
    }
}
