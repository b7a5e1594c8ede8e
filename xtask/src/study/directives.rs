//! The book's own directives, expanded in the study's copy of `book/src` before
//! mdBook renders it (a small preprocessor, run in-process):
//!
//! * `{{#pages KEY}}`, alone on a line of `SUMMARY.md`: one entry per program page of
//!   chapter KEY (`udp-echo`), in the order of the story — a new program gets its page
//!   without anyone editing `SUMMARY.md`.
//! * `{{#include gen/NAME.md}}` (or `../gen/…` from a subfolder): a generated part,
//!   its `{{root}}` made the including page's path to the book's root. A part the
//!   study does not make is an error that lists the ones it does.
//! * `{{#code PATH "TEXT"}}`: the one line of PATH that contains TEXT, quoted as code
//!   and linked to that line in its program's page. No line, or two, is an error: a
//!   quote cannot go stale silently.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context, Result};
use harness::{project_root, Chapter};

use super::gen::Ctx;

/// What the directives are expanded from.
pub struct Expander<'a> {
    pub ctx: &'a Ctx<'a>,
    /// Every generated part, by its path under `gen/`.
    pub parts: &'a BTreeMap<String, String>,
    /// The parts the chapters include, as they are expanded.
    pub used: RefCell<BTreeSet<String>>,
}

impl Expander<'_> {
    /// `SUMMARY.md` with its `{{#pages KEY}}` lines expanded.
    pub fn summary(&self, text: &str) -> Result<String> {
        let mut out = String::new();
        for line in text.lines() {
            let Some(key) = directive(line, "pages") else {
                out += line;
                out += "\n";
                continue;
            };
            let chapter = Chapter::parse(key.trim()).with_context(|| {
                format!("SUMMARY.md: {{{{#pages {key}}}}}: no chapter of that key")
            })?;
            for pair in self.ctx.pairs_of(chapter) {
                out += &format!("  - [{}]({}/{}.md)\n", pair.name, chapter.key(), pair.name);
            }
        }
        Ok(out)
    }

    /// A page (at `path` under `src/`) with its includes and code quotes expanded.
    pub fn page(&self, path: &str, text: &str) -> Result<String> {
        let root = "../".repeat(path.matches('/').count());
        let mut out = String::new();
        let mut rest = text;
        while let Some(at) = rest.find("{{#") {
            out += &rest[..at];
            let end = rest[at..]
                .find("}}")
                .with_context(|| format!("{path}: an unclosed `{{{{#`"))?
                + at
                + 2;
            let inner = &rest[at + 3..end - 2];
            out += &self.expand(path, inner, &root)?;
            rest = &rest[end..];
        }
        out += rest;
        Ok(out.replace("{{root}}", &root))
    }

    fn expand(&self, page: &str, inner: &str, root: &str) -> Result<String> {
        let (name, arg) = inner.split_once(' ').unwrap_or((inner, ""));
        match name {
            "include" => {
                let target = arg.trim().trim_start_matches("../");
                let Some(gen) = target.strip_prefix("gen/") else {
                    bail!("{page}: {{{{#include {arg}}}}}: the book includes generated parts (gen/…) only");
                };
                let part = self.parts.get(gen).with_context(|| {
                    let names: Vec<&String> = self.parts.keys().collect();
                    format!("{page}: {{{{#include {arg}}}}}: the study makes no part {gen:?}; it makes {names:?}")
                })?;
                self.used.borrow_mut().insert(gen.to_string());
                Ok(part.replace("{{root}}", root))
            }
            "code" => self.code(page, arg),
            other => bail!("{page}: unknown directive {{{{#{other}}}}}"),
        }
    }

    /// `{{#code PATH "TEXT"}}`: the line, quoted, linked to its listing.
    fn code(&self, page: &str, arg: &str) -> Result<String> {
        let (path, text) = arg
            .split_once(' ')
            .with_context(|| format!("{page}: {{{{#code PATH \"TEXT\"}}}}"))?;
        let text = text
            .trim()
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'));
        let text =
            text.with_context(|| format!("{page}: {{{{#code {path} …}}}}: the text is quoted"))?;
        let source = std::fs::read_to_string(project_root().join(path))
            .with_context(|| format!("{page}: {{{{#code}}}}: cannot read {path}"))?;
        let found: Vec<(usize, &str)> = source
            .lines()
            .enumerate()
            .filter(|(_, l)| l.contains(text))
            .collect();
        let [(n, line)] = found.as_slice() else {
            bail!(
                "{page}: {{{{#code {path} \"{text}\"}}}}: found on {} lines of {path}, not one",
                found.len()
            );
        };
        let program = self.ctx.program_at(path).with_context(|| {
            format!("{page}: {{{{#code {path}}}}}: no program of the workspace holds it")
        })?;
        let target = self
            .ctx
            .line_link(path, n + 1)
            .context("a program without a page")?;
        let quoted = line.trim().replace('`', "'");
        let at = format!(
            "{}:{}",
            program
                .package
                .split_once('-')
                .map_or(&*program.package, |(_, r)| r),
            n + 1
        );
        Ok(format!("`{quoted}` ([{at}]({target}))"))
    }
}

/// The argument of `{{#NAME ARG}}` when `line` is that directive alone.
fn directive<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let inner = line.trim().strip_prefix("{{#")?.strip_suffix("}}")?;
    inner.strip_prefix(name)?.strip_prefix(' ')
}
