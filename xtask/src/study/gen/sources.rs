//! Where the figures come from: every results file the book read, the runs in it,
//! and what could not be read.

use super::part::{md_table, Ctx, Part};
use crate::study::measure;
use crate::study::results::{provenance, Loaded};
use harness::results::{Kind, Record};

pub fn part(ctx: &Ctx) -> Part {
    let r = ctx.results;
    let mut rows = Vec::new();
    rows.extend(kind_rows(
        &r.conformance,
        "cargo xtask conformance (or cargo test)",
        r.now,
    ));
    rows.extend(kind_rows(&r.trace, "cargo xtask trace", r.now));
    rows.extend(kind_rows(&r.bench, "cargo xtask bench", r.now));
    rows.extend(kind_rows(&r.soak, "cargo xtask bench --soak", r.now));
    rows.extend(kind_rows(&r.scaling, "cargo xtask bench --scaling", r.now));
    let dir = harness::workspace::relative(&r.dir);
    let md = format!(
        "The book was made on {} from the results in `{dir}/`: each file is written (merged) by \
         the command that measures it, one record per thing measured, each with the run that \
         made it.\n\n",
        harness::results::run::utc(r.now)
    ) + &md_table(&["file", "made by", "records", "runs"], &rows);
    Part::new("sources.md", md)
}

/// The front page's word on this build: complete, or what it lacks and the one
/// command that measures it.
pub fn status(ctx: &Ctx) -> Part {
    let (stages, cannot) = measure::plan(ctx.catalogue, ctx.pairs, ctx.results);
    let mut md = match stages.is_empty() {
        true => String::from("This build of the book has every measurement it shows."),
        false => {
            let lacks: Vec<&str> = stages.iter().map(|s| s.why.as_str()).collect();
            let minutes = stages.iter().map(|s| s.estimate.as_secs_f64()).sum::<f64>() / 60.0;
            format!(
                "This build of the book lacks some measurements ({}). **Next step:** \
                 `cargo xtask study` measures them first (about {:.0} minutes here), then \
                 builds the book again.",
                lacks.join("; "),
                minutes.ceil()
            )
        }
    };
    if !cannot.is_empty() {
        md += &format!(
            " This machine cannot measure everything: {}.",
            cannot.join("; ")
        );
    }
    Part::new("status.md", md + "\n")
}

fn kind_rows<R: Kind>(loaded: &Loaded<R>, made_by: &str, now: u64) -> Vec<Vec<String>> {
    let file = format!("`{}.json`", R::NAME);
    if let Some(e) = &loaded.error {
        return vec![vec![
            file,
            made_by.into(),
            "—".into(),
            format!("could not be read: {e}"),
        ]];
    }
    let records: &[Record<R>] = loaded.records();
    let mut runs: Vec<&harness::results::Run> = Vec::new();
    for r in records {
        if !runs
            .iter()
            .any(|x| x.command == r.run.command && x.unix_time == r.run.unix_time)
        {
            runs.push(&r.run);
        }
    }
    let each: Vec<String> = (runs.iter())
        .map(|run| {
            let n = records
                .iter()
                .filter(|r| r.run.command == run.command && r.run.unix_time == run.unix_time)
                .count();
            format!("{n} from {}", provenance(run, now))
        })
        .collect();
    let runs = match each.is_empty() {
        true => "none yet".to_string(),
        false => each.join("<br>"),
    };
    vec![vec![file, made_by.into(), records.len().to_string(), runs]]
}
