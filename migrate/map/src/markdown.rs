//! The book's generated parts: the map as tables grouped by crate and module (each
//! row linking to its checked snippets and to the line of a program that shows it),
//! the coverage, what is left out and why; and a scan of `legacy/echo-mpsc` beside
//! the rungs of its ladder. The chapter `book/src/api-map.md` includes them.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;

use crate::coverage::Coverage;
use crate::legacy::crates::LEGACY;
use crate::legacy::Model;
use crate::map::{anchor, ApiMap, Row};
use crate::scan::scan_path;

/// How the book links to line `line` of `file` (a path from the workspace root).
pub type SourceLink<'a> = &'a dyn Fn(&str, usize) -> String;

/// The legacy snippets' context, shown once above the snippets.
const LEGACY_PRELUDE: &str = include_str!("../../legacy-snippets/src/prelude.rs");
const MODERN_PRELUDE: &str = include_str!("../../modern-snippets/src/prelude.rs");

/// The map: steps, coverage, one table per crate and group, the snippets, and what
/// is left out.
pub fn markdown(map: &ApiMap, model: &Model, link: SourceLink) -> Result<String> {
    let mut out = String::new();
    steps(&mut out, map);
    coverage(&mut out, &Coverage::compute(model, map));
    let groups = grouped(map, model);
    for ((_, package), by_group) in &groups {
        writeln!(out, "## {package}\n")?;
        for (group, rows) in by_group {
            writeln!(out, "### `{group}`\n")?;
            table(&mut out, rows, link)?;
        }
    }
    writeln!(out, "## The snippets\n")?;
    writeln!(
        out,
        "Every legacy snippet is compiled by `api-map-legacy` in this context:\n"
    )?;
    writeln!(out, "```rust,noplayground\n{}```\n", LEGACY_PRELUDE)?;
    writeln!(
        out,
        "and every modern one by `api-map-modern`, inside an `async fn`:\n"
    )?;
    writeln!(out, "```rust,noplayground\n{}```\n", MODERN_PRELUDE)?;
    for by_group in groups.values() {
        for rows in by_group.values() {
            rows.iter().try_for_each(|row| snippet(&mut out, row))?;
        }
    }
    left_out(&mut out, map);
    Ok(out)
}

/// Rows by package (in the order of the legacy stack) and by group.
fn grouped<'m>(
    map: &'m ApiMap,
    model: &Model,
) -> BTreeMap<(usize, String), BTreeMap<String, Vec<&'m Row>>> {
    let mut out: BTreeMap<(usize, String), BTreeMap<String, Vec<&Row>>> = BTreeMap::new();
    for row in &map.row {
        let Some(item) = model.item(&row.item) else {
            continue;
        };
        let order = LEGACY
            .iter()
            .position(|(p, ..)| *p == item.package)
            .unwrap_or(LEGACY.len());
        out.entry((order, item.package.clone()))
            .or_default()
            .entry(item.group.clone())
            .or_default()
            .push(row);
    }
    out
}

fn steps(out: &mut String, map: &ApiMap) {
    out.push_str(
        "## The steps\n\n| step | when | what | checklist items |\n| --- | --- | --- | --- |\n",
    );
    for s in &map.step {
        let items: Vec<String> = s.checklist.iter().map(u32::to_string).collect();
        let _ = writeln!(
            out,
            "| <a id=\"step-{0}\"></a>`{0}` | {1} | {2} | {3} |",
            s.key,
            s.phase,
            cell(&s.title),
            items.join(", ")
        );
    }
    out.push('\n');
}

fn coverage(out: &mut String, coverage: &Coverage) {
    out.push_str("## Coverage\n\nPublic items found in each crate's sources, by module (a trait's methods under the trait):\n\n");
    out.push_str("| crate | module or trait | public items | mapped | left out on purpose | not mapped |\n| --- | --- | ---: | ---: | ---: | ---: |\n");
    for ((package, group), c) in &coverage.groups {
        let _ = writeln!(
            out,
            "| {package} | `{group}` | {} | {} | {} | {} |",
            c.found,
            c.mapped,
            c.left_out,
            c.unmapped.len()
        );
    }
    out.push('\n');
}

fn table(out: &mut String, rows: &[&Row], link: SourceLink) -> Result<()> {
    out.push_str(
        "| legacy item | modern | change | step | shown in |\n| --- | --- | --- | --- | --- |\n",
    );
    for row in rows {
        let id = anchor(&row.item);
        let shown = match &row.shown_in {
            Some(s) => match shown_line(&s.file, &s.pattern) {
                Some(line) => format!("[{}:{line}]({})", s.file, link(&s.file, line)),
                None => String::new(),
            },
            None => String::new(),
        };
        writeln!(
            out,
            "| <a id=\"{id}\"></a>[`{}`](#snippet-{id}) | {} | {} | [{}](#step-{}) | {shown} |",
            row.item,
            cell(&code_if_path(&row.modern)),
            row.change.label(),
            row.step,
            row.step
        )?;
    }
    out.push('\n');
    Ok(())
}

/// The line (1-based) of `file` whose code contains `pattern`.
pub fn shown_line(file: &str, pattern: &str) -> Option<usize> {
    let text = std::fs::read_to_string(harness::project_root().join(file)).ok()?;
    text.lines()
        .position(|l| !l.trim_start().starts_with("//") && l.contains(pattern))
        .map(|i| i + 1)
}

fn snippet(out: &mut String, row: &Row) -> Result<()> {
    let id = anchor(&row.item);
    writeln!(
        out,
        "<details id=\"snippet-{id}\">\n<summary><code>{}</code></summary>\n",
        row.item
    )?;
    if let Some(note) = &row.note {
        writeln!(out, "{note}\n")?;
    }
    writeln!(
        out,
        "Legacy:\n\n```rust,noplayground\n{}```\n",
        row.legacy_code
    )?;
    writeln!(
        out,
        "Modern:\n\n```rust,noplayground\n{}```\n\n</details>\n",
        row.modern_code
    )?;
    Ok(())
}

fn left_out(out: &mut String, map: &ApiMap) {
    out.push_str("## Left out on purpose\n\n| item | why |\n| --- | --- |\n");
    for l in &map.left_out {
        let _ = writeln!(out, "| `{}` | {} |", l.item, cell(&l.reason));
    }
    out.push('\n');
}

/// A path in code font; a phrase as it is (it has its own backticks).
fn code_if_path(s: &str) -> String {
    if s.contains('`') || s.contains(' ') {
        s.to_owned()
    } else {
        format!("`{s}`")
    }
}

/// Text fit for a table cell: `|` escaped, one line, and outside code spans `<` and
/// `>` as entities (`Sink<Item>` is a type, not an HTML tag).
fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_code = false;
    for c in s.chars() {
        match c {
            '`' => {
                in_code = !in_code;
                out.push(c);
            }
            '|' => out.push_str("\\|"),
            '\n' => out.push(' '),
            '<' if !in_code => out.push_str("&lt;"),
            '>' if !in_code => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// `cargo xtask scan legacy/echo-mpsc` as a table, and what of it each rung of the
/// ladder still uses.
pub fn scan_echo_mpsc(model: &Model, map: &ApiMap, link: SourceLink) -> Result<String> {
    let root = harness::project_root();
    // The ladder as the workspace declares it (each step's Cargo.toml), legacy first.
    let catalogue = harness::Catalogue::load()?;
    let all = harness::pairs::pairs(&catalogue);
    let ladder: Vec<(String, String)> = (harness::pairs::find(&all, "echo-mpsc")?.ladder().iter())
        .map(|p| (p.flavor_label(), harness::workspace::relative(&p.dir)))
        .collect();
    let legacy = scan_path(&root.join(&ladder[0].1), model, map)?;
    let mut out = String::new();
    let s = &legacy.summary;
    writeln!(
        out,
        "`cargo xtask scan legacy/echo-mpsc`: {} uses of {} legacy items, {} mapped, {} unknown.\n",
        s.uses,
        s.items,
        s.mapped,
        s.unknown.len()
    )?;
    out.push_str("| line | legacy item | modern | step |\n| --- | --- | --- | --- |\n");
    for f in &legacy.findings {
        let file = relative(&f.file, &root);
        let modern = f
            .modern
            .as_deref()
            .map(code_if_path)
            .unwrap_or_else(|| "(unknown)".to_owned());
        let step = f
            .step
            .as_deref()
            .map(|k| format!("[{k}](#step-{k})"))
            .unwrap_or_default();
        writeln!(
            out,
            "| [{}]({}) | [`{}`](#{}) | {} | {step} |",
            f.line,
            link(&file, f.line),
            f.item,
            anchor(&f.item),
            cell(&modern)
        )?;
    }
    out.push_str("\nWhat each rung of the ladder still uses of the legacy stack (the same scan, run on each):\n\n");
    out.push_str("| rung | uses | legacy items | their steps |\n| --- | ---: | ---: | --- |\n");
    for (rung, dir) in &ladder {
        let scan = scan_path(&root.join(dir), model, map)?;
        let mut steps: Vec<&str> = scan
            .findings
            .iter()
            .filter_map(|f| f.step.as_deref())
            .collect();
        steps.sort_by_key(|k| map.step.iter().position(|s| s.key == *k));
        steps.dedup();
        writeln!(
            out,
            "| {rung} (`{dir}`) | {} | {} | {} |",
            scan.summary.uses,
            scan.summary.items,
            steps.join(", ")
        )?;
    }
    out.push('\n');
    Ok(out)
}

/// A scanned file's path from the workspace root.
fn relative(file: &str, root: &std::path::Path) -> String {
    std::path::Path::new(file)
        .strip_prefix(root)
        .map_or_else(|_| file.to_owned(), |p| p.display().to_string())
}
