//! The tables of the chapters and of the ladders: what each program is, how far its
//! modern side is from its legacy one, how it fares in the suite and under strace.

use harness::{Chapter, Flavor};

use super::part::{badge, labels, md_table, Ctx, Part};
use crate::diff::stat;
use harness::diff::count;
use harness::pairs::{self, Pair};

pub fn parts(ctx: &Ctx) -> Vec<Part> {
    let mut out: Vec<Part> = Chapter::ALL.iter().map(|c| chapter(ctx, *c)).collect();
    let ladders = ctx.pairs.iter().filter(|p| p.has_ladder());
    out.extend(ladders.map(|p| ladder(ctx, p)));
    out
}

/// What a program demonstrates: the first paragraph of its modern (else legacy,
/// else any) `//!` header.
pub fn summary(pair: &Pair) -> String {
    let sides = [Flavor::Modern, Flavor::Legacy]
        .into_iter()
        .filter_map(|f| pair.side(f));
    let doc = sides.chain(pair.programs()).find_map(pairs::doc_of);
    doc.map(|d| crate::doc::first_paragraph(&d))
        .unwrap_or_default()
}

/// A chapter's programs at a glance.
fn chapter(ctx: &Ctx, chapter: Chapter) -> Part {
    let path = format!("chapter/{}.md", chapter.key());
    let mut rows = Vec::new();
    for pair in ctx.pairs_of(chapter) {
        let stat = count::pair_stat(ctx.catalogue, pair).ok();
        let lines =
            |s: Option<count::SideStat>| s.map_or("—".into(), |s| s.code_lines.to_string());
        let sides = labels(pair);
        let status = (sides.iter())
            .map(|(label, _)| {
                let row = ctx.results.row(&pair.name, label).map(|r| r.data.status);
                format!("<span class=\"flavor\">{label}</span> {}", badge(row))
            })
            .collect::<Vec<_>>()
            .join("<br>");
        let calls = (sides.iter())
            .filter_map(|(label, _)| {
                let side = &ctx.results.side(&pair.name, label)?.data;
                Some(format!(
                    "{label} {}",
                    crate::trace::format_per_unit(side.total_per_unit())
                ))
            })
            .collect::<Vec<_>>();
        let unit = (sides.iter())
            .find_map(|(l, _)| Some(ctx.results.side(&pair.name, l)?.data.unit.clone()));
        rows.push(vec![
            ctx.link(&pair.name),
            summary(pair),
            stat.as_ref().map_or("—".into(), |s| {
                format!("{} → {}", lines(s.legacy), lines(s.modern))
            }),
            stat.as_ref()
                .map_or("—".into(), |s| stat::percent(s.kept_percent())),
            status,
            match unit {
                Some(unit) => format!("{}<br>per {unit}", calls.join("<br>")),
                None => format!("not traced: `cargo xtask trace {}`", pair.name),
            },
        ]);
    }
    let header = [
        "program",
        "what it demonstrates",
        "lines legacy → modern",
        "kept",
        "conformance",
        "system calls",
    ];
    let md = md_table(&header, &rows)
        + "*Lines*: lines of Rust in `src/`, neither blank nor only a comment. *Kept*: the share of \
           the legacy side's lines the modern side keeps unchanged and in order. *System calls*: \
           per unit of work under `cargo xtask trace`.\n\n";
    Part::new(&path, md)
}

/// One ladder: a row per rung, then its pitfalls.
fn ladder(ctx: &Ctx, pair: &Pair) -> Part {
    let path = format!("ladder/{}.md", pair.name);
    let rungs = match stat::ladder(ctx.catalogue, pair, &pairs::pitfalls(ctx.pairs)) {
        Ok(r) => r,
        Err(e) => {
            return Part::missing(
                &path,
                &format!("The {} ladder", pair.name),
                &format!("{e:#}"),
                "",
            )
        }
    };
    let steps = pair.ladder();
    let rows: Vec<Vec<String>> = (rungs.iter())
        .map(|r| {
            let program = (r.pitfall.as_deref())
                .and_then(|p| ctx.catalogue.programs().iter().find(|x| x.name == p))
                .or_else(|| steps.iter().copied().find(|s| s.flavor_label() == r.label));
            let what = match program {
                Some(p) if r.pitfall.is_some() => {
                    pairs::doc_of(p).map(|d| crate::doc::first_paragraph(&d))
                }
                Some(p) => pairs::step_summary(p),
                None => None,
            };
            let prev = r.from_previous.as_ref();
            vec![
                match &r.pitfall {
                    Some(name) => format!("{} ✗ ({})", r.label, ctx.link(name)),
                    None => r.label.clone(),
                },
                what.unwrap_or_default(),
                r.side.code_lines.to_string(),
                prev.map_or("—".into(), |s| s.changed.to_string()),
                prev.map_or("—".into(), |s| stat::percent(s.kept_percent())),
                r.compat.to_string(),
                format!("{}/{}", r.old_deps, r.new_deps),
            ]
        })
        .collect();
    let header = [
        "rung",
        "what the step does",
        "lines",
        "changed",
        "kept",
        "compat uses",
        "deps old/new",
    ];
    let md = md_table(&header, &rows)
        + "*Changed* and *kept*: against the rung above (a pitfall ✗: against the step it gets \
           wrong). *Compat uses*: `.compat()`, `.sink_compat()` and `Compat01As03::new` in the \
           code. *Deps*: direct dependencies of the 2016–2018 stack and of today's.\n\n";
    Part::new(&path, md)
}
