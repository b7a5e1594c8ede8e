//! The page of every program: what each of its sides demonstrates (their `//!`
//! headers), what changed and why (the modern side's `# Migration`), what it costs
//! (system calls under strace, the bench's figures), how it fares in the suite, its
//! dependencies, and its diff — legacy → modern, each step of its ladder, a next
//! program against its readiness sibling, a pitfall against the step it gets wrong —
//! then every source file in full, each line an anchor the book's code quotes link
//! to.

use std::fmt::Write as _;

use anyhow::Result;
use harness::results::conformance::Status;
use harness::{Flavor, Program};

use super::part::{
    badge, block, failed_checks, labels, listing_id, md_table, runs_line, Ctx, Part,
};
use crate::diff::{self, render, stat};
use crate::doc;
use crate::study::svg::{flavor_style, short, BarSeries, Bars, Value};
use crate::study::{aligned, diff_html};
use harness::diff::count;
use harness::pairs::{self, Pair};

/// Every program's page.
pub fn all(ctx: &Ctx) -> Result<Vec<Part>> {
    let with_page = ctx.pairs.iter().filter(|p| ctx.page_of(&p.name).is_some());
    with_page.map(|p| page(ctx, p)).collect()
}

fn page(ctx: &Ctx, pair: &Pair) -> Result<Part> {
    let path = ctx.page_of(&pair.name).unwrap_or_default();
    let sides = labels(pair);
    let dirs: Vec<String> = sides
        .iter()
        .map(|(_, p)| format!("<code>{}</code>", harness::workspace::relative(&p.dir)))
        .collect();
    let family = pair.family().map(|f| f.as_str()).unwrap_or("—");
    let mut md = format!("# {}\n\n", pair.name);
    md += &block(&format!(
        "<p class=\"pair-paths\">{} · family <code>{family}</code> · <a href=\"{{{{root}}}}suite.html#{}\">in the \
         conformance matrix</a></p>",
        dirs.join(" → "),
        pair.name
    ));
    md += "## What it demonstrates\n\n";
    for (label, p) in &sides {
        let doc = pairs::doc_of(p).unwrap_or_default();
        md += &block(&format!(
            "<details class=\"side-doc\"{}><summary><span class=\"flavor\">{label}</span> {}</summary>{}</details>",
            if p.flavor == Flavor::Modern || sides.len() == 1 { " open" } else { "" },
            doc::inline(&doc::first_paragraph(&doc)),
            doc::to_html(harness::doc::after_first_paragraph(&doc))
        ));
    }
    md += &costs(ctx, pair, &sides);
    md += &conformance(ctx, pair, &sides);
    md += &dependencies(ctx, pair)?;
    md += &diffs(ctx, pair)?;
    md += &listings(&sides);
    let mut part = Part::new(&path, md);
    part.figures = page_figures(ctx, pair, &sides);
    Ok(part)
}

/// What each side costs: the bench's figure of its family, system calls under strace.
fn costs(ctx: &Ctx, pair: &Pair, sides: &[(String, &Program)]) -> String {
    let mut md = String::from("## What it costs\n\n");
    let stat = count::pair_stat(ctx.catalogue, pair).ok();
    if let Some(k) = stat.as_ref().and_then(|s| s.kept_percent()) {
        md += &format!(
            "The modern side keeps {k:.0}% of the legacy side's lines ({}).\n\n",
            stat::KEPT
        );
    }
    let rows: Vec<Vec<String>> = (sides.iter())
        .map(|(label, _)| {
            let trace = ctx.results.side(&pair.name, label).map(|r| &r.data);
            let calls = trace.map_or("not traced".into(), |t| {
                format!(
                    "{} per {}",
                    crate::trace::format_per_unit(t.total_per_unit()),
                    t.unit
                )
            });
            let cpu = trace
                .and_then(|t| t.cpu_ns_per_unit)
                .map_or("—".into(), |ns| format!("{} µs", short(ns / 1e3)));
            vec![label.clone(), calls, cpu]
        })
        .collect();
    md += &md_table(
        &[
            "side",
            "system calls under strace",
            "server CPU per unit, no strace",
        ],
        &rows,
    );
    if sides
        .iter()
        .any(|(l, _)| ctx.results.side(&pair.name, l).is_some())
    {
        md += &block(&format!(
            "<figure class=\"fig\"><img src=\"{{{{root}}}}figures/page-{}.svg\" alt=\"system calls of {}\" loading=\"lazy\">\
             <figcaption>System calls per unit of work, by call, each side under the same workload</figcaption></figure>",
            pair.name, pair.name
        ));
        let runs = sides
            .iter()
            .filter_map(|(l, _)| ctx.results.side(&pair.name, l))
            .map(|r| &r.run);
        md += &runs_line("Traced by", runs, ctx.results.now);
    } else {
        md += &format!(
            "Not traced yet: `cargo xtask trace {}` traces every side.\n\n",
            pair.name
        );
    }
    md
}

/// The figure of a page: system calls per unit by call, a bar per side.
fn page_figures(ctx: &Ctx, pair: &Pair, sides: &[(String, &Program)]) -> Vec<(String, String)> {
    let traced: Vec<_> = sides
        .iter()
        .filter_map(|(l, _)| ctx.results.side(&pair.name, l))
        .map(|r| r.data.clone())
        .collect();
    if traced.is_empty() {
        return Vec::new();
    }
    let rows: Vec<(String, Vec<f64>)> = (crate::trace::rows(&traced).into_iter())
        .filter(|(name, v)| name != "total" && v.iter().any(|x| *x > 0.0))
        .collect();
    let series = (traced.iter().enumerate())
        .map(|(i, t)| BarSeries {
            name: t.flavor.clone(),
            style: flavor_style(&t.flavor),
            values: rows.iter().map(|(_, v)| Some(Value::exact(v[i]))).collect(),
        })
        .collect();
    let unit = traced[0].unit.clone();
    let bars = Bars {
        categories: rows.iter().map(|(n, _)| n.clone()).collect(),
        series,
        axis: format!("calls per {unit}"),
        log: false,
        reference: None,
        format: short,
        stacked: false,
    };
    bars.svg()
        .map(|svg| vec![(format!("page-{}.svg", pair.name), svg)])
        .unwrap_or_default()
}

/// Each side's row of the matrix, the checks that did not pass named.
fn conformance(ctx: &Ctx, pair: &Pair, sides: &[(String, &Program)]) -> String {
    let rows: Vec<Vec<String>> = (sides.iter())
        .map(|(label, _)| {
            let row = ctx.results.row(&pair.name, label).map(|r| &r.data);
            let passed = row.map_or("—".into(), |r| {
                let ok = r.checks.iter().filter(|c| c.status == Status::Pass).count();
                format!("{ok}/{}", r.checks.len())
            });
            let notes = failed_checks(row);
            vec![
                label.clone(),
                badge(row.map(|r| r.status)),
                passed,
                notes.join("<br>"),
            ]
        })
        .collect();
    String::from("## Conformance\n\n")
        + &md_table(
            &["side", "status", "passed", "checks that did not pass"],
            &rows,
        )
}

/// The direct dependencies of every side.
fn dependencies(ctx: &Ctx, pair: &Pair) -> Result<String> {
    let sides = labels(pair);
    let mut names: Vec<String> = Vec::new();
    let deps: Vec<Vec<harness::catalogue::Dependency>> = sides
        .iter()
        .map(|(_, p)| ctx.catalogue.dependencies(&p.package))
        .collect();
    for d in deps.iter().flatten() {
        if !names.contains(&d.name) {
            names.push(d.name.clone());
        }
    }
    names.sort_by_key(|n| (n != "shared", n.clone()));
    let rows: Vec<Vec<String>> = (names.iter())
        .map(|n| {
            let cells = deps.iter().map(|side| {
                side.iter()
                    .find(|d| &d.name == n)
                    .map_or("—".into(), render::describe_dep)
            });
            std::iter::once(format!("`{n}`")).chain(cells).collect()
        })
        .collect();
    let mut header = vec!["crate"];
    header.extend(sides.iter().map(|(l, _)| l.as_str()));
    Ok(String::from("## Dependencies\n\nDirect dependencies: the requirement → the version in `Cargo.lock`.\n\n") + &md_table(&header, &rows))
}

/// The diff: the steps of a ladder, or the pair as `cargo xtask diff` shows it.
fn diffs(ctx: &Ctx, pair: &Pair) -> Result<String> {
    let rungs = pair.ladder();
    let mut md = String::new();
    if pair.has_ladder() && rungs.len() > 2 {
        let n = rungs.len() - 1;
        md += &format!(
            "## The diff, step by step\n\nThe ladder: {}.\n\n",
            rungs
                .iter()
                .map(|p| p.flavor_label())
                .collect::<Vec<_>>()
                .join(" → ")
        );
        for (i, w) in rungs.windows(2).enumerate() {
            let (from, to) = (w[0].flavor_label(), w[1].flavor_label());
            md += &format!("### Step {} of {n}: {from} → {to}\n\n", i + 1);
            if let Some(s) = pairs::step_summary(w[1]) {
                md += &format!("{}\n\n", s);
            }
            md += &pair_diff(&Pair::between(&pair.name, w[0], w[1]))?;
        }
        md += "### The whole way: legacy → modern\n\n";
    } else {
        md += "## The diff\n\n";
    }
    let shown = diff::as_shown(ctx.pairs, pair);
    if let Some(note) = render::missing_side_note(&shown) {
        md += &format!("{note}\n\n");
    }
    md += &pair_diff(&shown)?;
    md += &variation(ctx, pair)?;
    Ok(md + &aligned(ctx, pair)?)
}

/// A variation (ident-pool of ident-tokio) read the way it was written: its legacy
/// side back to the base's, the base's own migration, then the base's modern side to
/// the variation's — each diff one change.
fn variation(ctx: &Ctx, pair: &Pair) -> Result<String> {
    let Some(of) = pair
        .programs()
        .find_map(|p| p.declared.variation_of.clone())
    else {
        return Ok(String::new());
    };
    let base = pairs::find(ctx.pairs, &of)?;
    let (Some(vl), Some(bl), Some(bm), Some(vm)) =
        (&pair.legacy, &base.legacy, &base.modern, &pair.modern)
    else {
        return Ok(String::new());
    };
    let link = ctx
        .page_of(&of)
        .map_or(of.clone(), |p| format!("[{of}]({{{{root}}}}{p})"));
    Ok(format!(
        "## Read as a variation of {of}\n\n{} is {of} with one change, made in each era. Read it in three \
         diffs: the legacy side back to {of}'s (what the variation adds, undone), {link}'s own \
         migration, then {of}'s modern side to this one's (the change, made again in today's code).\n\n\
         ### Legacy: {} → {of}\n\n{}### Modern: {of} → {}\n\n{}",
        pair.name,
        pair.name,
        pair_diff(&Pair::between(&pair.name, vl, bl))?,
        pair.name,
        pair_diff(&Pair::between(&pair.name, bm, vm))?,
    ))
}

/// Below half its lines kept, a pair's line diff pairs lines that have nothing to do
/// with each other: the aligned view shows each modern function beside the legacy
/// function it was ported from.
fn aligned(ctx: &Ctx, pair: &Pair) -> Result<String> {
    let (Some(l), Some(m)) = (&pair.legacy, &pair.modern) else {
        return Ok(String::new());
    };
    let kept = count::pair_stat(ctx.catalogue, pair)
        .ok()
        .and_then(|s| s.kept_percent());
    if kept.is_none_or(|k| k >= 50.0) {
        return Ok(String::new());
    }
    let (ls, ms) = (pairs::program_sources(l)?, pairs::program_sources(m)?);
    let mut views = String::new();
    for (file, legacy) in ls.iter().filter(|(f, _)| f.ends_with(".rs")) {
        let Some(modern) = ms.get(file) else { continue };
        let name = |p: &Program| format!("{}/src/{file}", harness::workspace::relative(&p.dir));
        views += &aligned::file_html(&name(l), &name(m), legacy, modern);
    }
    if views.is_empty() {
        return Ok(String::new());
    }
    Ok(String::from(
        "## Function by function\n\nThe port keeps less than half of the legacy lines, so the line \
         diff above pairs lines that have little to do with each other. Here each modern function \
         stands beside the legacy function it was ported from (the modern file says which, with a \
         `// port of:` comment, or the two share a name), with the files' own line numbers.\n\n",
    ) + &block(&views))
}

fn pair_diff(pair: &Pair) -> Result<String> {
    let (l, m) = render::rung_labels(pair);
    let mut out = format!("<p class=\"diff-sides\"><span class=\"flavor\">{l}</span> → <span class=\"flavor\">{m}</span></p>\n\n");
    for file in pair.paired_sources()? {
        let name = |f: Flavor| format!("{}/src/{}", pair.display_dir(f), file.path);
        let html = diff_html::file_html(
            &name(Flavor::Legacy),
            &name(Flavor::Modern),
            file.legacy.as_deref(),
            file.modern.as_deref(),
            file.path.ends_with(".rs"),
        );
        out += &block(&html);
    }
    Ok(out)
}

/// Every source file of every side, in full, collapsed.
fn listings(sides: &[(String, &Program)]) -> String {
    let mut md = String::from("## The sources\n\n");
    for (label, p) in sides {
        let files = pairs::program_sources(p).unwrap_or_default();
        for (file, text) in &files {
            let name = format!("{}/src/{file}", harness::workspace::relative(&p.dir));
            let listing =
                diff_html::listing_html(&name, text, file.ends_with(".rs"), &listing_id(p, file));
            let _ = write!(
                md,
                "{}",
                block(&format!("<details class=\"listing\"><summary><span class=\"flavor\">{label}</span> <code>{name}</code></summary>{listing}</details>"))
            );
        }
    }
    md
}
