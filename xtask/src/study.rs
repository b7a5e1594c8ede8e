//! `cargo xtask study [--out DIR]` — one self-contained HTML page (inline CSS, no
//! script, nothing fetched) for studying every pair: an index of the programs, and
//! for each program what it demonstrates, its migration notes, the highlighted diff,
//! its conformance row and, where traced, its system-call figures.
//!
//! The conformance rows come from running the suite (the default), from a saved
//! `cargo xtask conformance --format json` (`--conformance-json FILE`), or are shown as
//! not run (`--no-conformance`). Trace figures come from saved
//! `cargo xtask trace --format json` output (`--trace-json FILE`) or from tracing every
//! pair now (`--trace`, needs strace); otherwise the page says how to get them.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context, Result};
use conformance::{Selection, DEFAULT_JOBS};
use harness::{project_root, Catalogue, Flavor};
use serde_json::Value;
use similar::ChangeTag;

use crate::diff::{self, DepRow};
use crate::doc::{self, escape};
use crate::pairs::{self, Pair};
use crate::stat::{self, PairStat};
use crate::trace::{self, ProgramTrace};

#[derive(clap::Args)]
pub struct Args {
    /// Folder to write index.html into.
    #[arg(long, default_value = "target/study")]
    out: PathBuf,
    /// Take the conformance rows from this `cargo xtask conformance --format json`
    /// output instead of running the suite.
    #[arg(long, value_name = "FILE", conflicts_with = "no_conformance")]
    conformance_json: Option<PathBuf>,
    /// Do not run the conformance suite; the page says so.
    #[arg(long)]
    no_conformance: bool,
    /// Take trace figures from this `cargo xtask trace --format json` output (may be
    /// given more than once).
    #[arg(long, value_name = "FILE")]
    trace_json: Vec<PathBuf>,
    /// Trace every pair now (release builds under strace; takes a while).
    #[arg(long)]
    trace: bool,
    /// Conformance rows run at the same time.
    #[arg(long, default_value_t = DEFAULT_JOBS)]
    jobs: usize,
}

/// Where the conformance rows came from, and the rows by (program, flavor).
struct Conformance {
    source: String,
    rows: Option<BTreeMap<(String, String), Value>>,
}

/// Where the trace figures came from, and the traces by program.
struct Traces {
    source: String,
    by_program: BTreeMap<String, ProgramTrace>,
    errors: BTreeMap<String, String>,
}

pub fn main(args: Args) -> Result<i32> {
    let catalogue = Catalogue::load()?;
    let all = pairs::pairs(&catalogue);
    if all.is_empty() {
        bail!("the workspace has no legacy-* or modern-* package");
    }
    // A program that does not say what it is has no chapter: name it and stop.
    for pair in &all {
        pair.family()?;
    }

    let conformance = if args.no_conformance {
        Conformance {
            source: "not run for this report (--no-conformance)".into(),
            rows: None,
        }
    } else if let Some(file) = &args.conformance_json {
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let json: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", file.display()))?;
        Conformance {
            source: format!("from {}", file.display()),
            rows: Some(conformance_rows(&json)?),
        }
    } else {
        eprintln!("running the conformance suite (use --conformance-json FILE to reuse a run)…");
        let progress = |row: &conformance::report::Row| eprintln!("{}", row.progress());
        let report = conformance::run(&Selection::default(), args.jobs, &progress)
            .map_err(|e| anyhow!("{e:#}"))?;
        Conformance {
            source: "run for this report".into(),
            rows: Some(conformance_rows(&serde_json::to_value(&report)?)?),
        }
    };

    let mut traces = Traces {
        source: String::new(),
        by_program: BTreeMap::new(),
        errors: BTreeMap::new(),
    };
    let mut sources = Vec::new();
    for file in &args.trace_json {
        let text =
            fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        for t in trace::load_json(&text).with_context(|| file.display().to_string())? {
            traces.by_program.insert(t.program.clone(), t);
        }
        sources.push(format!("from {}", file.display()));
    }
    if args.trace {
        let chosen: Vec<&Pair> = all.iter().collect();
        let flavors = [Flavor::Legacy, Flavor::Modern];
        for (name, result) in trace::trace_pairs(&chosen, &flavors, None, &|_| {})? {
            match result {
                Ok(t) => {
                    traces.by_program.insert(name, t);
                }
                Err(e) => {
                    traces.errors.insert(name, format!("{e:#}"));
                }
            }
        }
        sources.push("traced for this report".into());
    }
    traces.source = if sources.is_empty() {
        "not traced for this report".into()
    } else {
        sources.join("; ")
    };

    // A next program (no legacy or modern side) is shown against its readiness
    // sibling, as `cargo xtask diff` shows it.
    let all: Vec<Pair> = all.iter().map(|p| diff::as_shown(&all, p)).collect();
    let stats = all
        .iter()
        .map(|p| stat::pair_stat(&catalogue, p))
        .collect::<Result<Vec<_>>>()?;
    let mut sections = String::new();
    for (pair, stat) in all.iter().zip(&stats) {
        sections.push_str(&section(&catalogue, pair, stat, &conformance, &traces)?);
    }
    let html = page(&all, &stats, &conformance, &traces, &sections);

    let out_dir = if args.out.is_absolute() {
        args.out.clone()
    } else {
        project_root().join(&args.out)
    };
    fs::create_dir_all(&out_dir).with_context(|| format!("cannot create {}", out_dir.display()))?;
    let index = out_dir.join("index.html");
    fs::write(&index, html).with_context(|| format!("cannot write {}", index.display()))?;
    println!("{}", index.display());
    Ok(0)
}

/// The rows of a conformance JSON report by (program, flavor).
fn conformance_rows(json: &Value) -> Result<BTreeMap<(String, String), Value>> {
    let results = json["results"]
        .as_array()
        .context("not a conformance report: no `results` array")?;
    Ok(results
        .iter()
        .filter_map(|r| {
            Some((
                (
                    r["program"].as_str()?.to_string(),
                    r["flavor"].as_str()?.to_string(),
                ),
                r.clone(),
            ))
        })
        .collect())
}

const STYLE: &str = r#"
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg-soft: #f6f8fa;
  --del: #ffebe9; --del-em: #ffb8b3; --ins: #dafbe1; --ins-em: #9be9a8; --hunk: #ddf4ff; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff;
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
main, header.top { max-width: 1280px; margin: 0 auto; padding: 0 24px; }
header.top { padding-top: 24px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 22px; margin: 0; }
h2 code { font-size: 22px; background: none; padding: 0; }
h3 { font-size: 16px; margin: 22px 0 8px; padding-bottom: 4px; border-bottom: 1px solid var(--line); }
h4, h5 { font-size: 15px; margin: 12px 0 4px; }
p { margin: 6px 0; }
a { color: #0969da; text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre, .mono { font-family: "DejaVu Sans Mono", "Liberation Mono", Menlo, Consolas, monospace; font-size: 13px; }
code { background: var(--bg-soft); padding: 1px 4px; border-radius: 4px; }
pre.doc-code { background: var(--bg-soft); padding: 8px 12px; border-radius: 6px; overflow-x: auto; }
pre.doc-code code { background: none; padding: 0; }
.muted { color: var(--muted); }
.meta { color: var(--muted); margin: 2px 0 16px; }
table { border-collapse: collapse; }
table.grid { width: 100%; margin: 8px 0 16px; }
table.grid th, table.grid td { border-bottom: 1px solid var(--line); padding: 5px 8px; text-align: left; vertical-align: top; }
table.grid th { background: var(--bg-soft); font-weight: 600; white-space: nowrap; }
table.grid td.num, table.grid th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.grid tr.sum td { font-weight: 600; }
table.index td:first-child, table.index td.st { white-space: nowrap; }
table.index td.what { min-width: 320px; }
table.index th { white-space: normal; }
.badge { display: inline-block; min-width: 44px; text-align: center; padding: 0 7px; border-radius: 10px;
  font-size: 12px; font-weight: 600; line-height: 20px; color: #fff; background: #818b98; }
.badge.pass { background: #1a7f37; } .badge.fail, .badge.xpass { background: #cf222e; }
.badge.xfail { background: #9a6700; } .badge.skip, .badge.none { background: #818b98; }
section.program { border-top: 3px solid var(--fg); margin: 40px 0 0; padding-top: 14px; }
.program-head { display: flex; align-items: baseline; gap: 16px; flex-wrap: wrap; }
.program-head .top-link { margin-left: auto; font-size: 13px; }
.note { background: #fff8c5; border: 1px solid #d4a72c66; border-radius: 6px; padding: 6px 10px; margin: 8px 0; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
.two > div > .side { font-weight: 600; font-size: 13px; text-transform: uppercase; letter-spacing: .04em; color: var(--muted); }
.migration ul, .migration ol { padding-left: 22px; margin: 6px 0; }
.migration li { margin: 4px 0; }
details > summary { cursor: pointer; color: #0969da; margin: 6px 0; }
.checks { margin: 4px 0 0 0; padding-left: 18px; font-size: 13px; }
.checks li { margin: 2px 0; }
.file { border: 1px solid var(--line); border-radius: 6px; margin: 10px 0 18px; overflow: hidden; }
.file-head { background: var(--bg-soft); border-bottom: 1px solid var(--line); padding: 6px 10px; font-weight: 600; }
.file-head .counts { font-weight: 400; margin-left: 10px; }
.file-head .add { color: #1a7f37; } .file-head .rem { color: #cf222e; }
table.diff { width: 100%; table-layout: fixed; }
table.diff col.no { width: 48px; } table.diff col.sign { width: 18px; }
table.diff td { padding: 0 6px; vertical-align: top; line-height: 20px; }
table.diff td.no { color: var(--muted); text-align: right; user-select: none; font-size: 12px; }
table.diff td.sign { user-select: none; color: var(--muted); padding: 0 2px; }
table.diff td.code { white-space: pre-wrap; overflow-wrap: anywhere; }
table.diff tr.del td { background: var(--del); } table.diff tr.ins td { background: var(--ins); }
table.diff tr.del td.no, table.diff tr.del td.sign { background: #ffd7d5; }
table.diff tr.ins td.no, table.diff tr.ins td.sign { background: #ccffd8; }
table.diff tr.del .em { background: var(--del-em); border-radius: 2px; }
table.diff tr.ins .em { background: var(--ins-em); border-radius: 2px; }
table.diff tr.hunk td { background: var(--hunk); color: var(--muted); padding: 2px 8px; }
table.deps td.gone { color: #cf222e; } table.deps td.new { color: #1a7f37; }
@media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
"#;

fn page(
    pairs: &[Pair],
    stats: &[PairStat],
    conformance: &Conformance,
    traces: &Traces,
    sections: &str,
) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<title>Async I/O, then and now — migration study</title>\n");
    let _ = writeln!(out, "<style>{STYLE}</style>\n</head>\n<body>");
    out.push_str(
        "<header class=\"top\" id=\"top\">\n<h1>Async I/O, then and now — migration study</h1>\n",
    );
    let _ = writeln!(
        out,
        "<p class=\"meta\">Every program exists twice: <b>legacy</b> (tokio-core 0.1, futures 0.1, \
         mio 0.6, nix 0.9) and <b>modern</b> (tokio 1, futures 0.3, mio 0.8, current nix), with the \
         same observable behaviour. {} programs. Conformance: {}. System-call traces: {}.</p>\n</header>",
        pairs.len(),
        escape(&conformance.source),
        escape(&traces.source)
    );
    out.push_str("<main>\n<h3>Programs</h3>\n<table class=\"grid index\">\n<thead><tr>");
    out.push_str(
        "<th>program</th><th>what it demonstrates (modern)</th><th class=\"num\">lines<br>L → M</th>\
         <th class=\"num\">lines<br>changed</th><th class=\"num\">Future/Stream<br>impls L / M</th>\
         <th>conformance<br>L / M</th><th class=\"num\">syscalls per unit<br>L / M</th></tr></thead>\n<tbody>\n",
    );
    for (pair, stat) in pairs.iter().zip(stats) {
        let summary = [Flavor::Modern, Flavor::Legacy]
            .into_iter()
            .find_map(|f| pair.doc(f))
            .map(|d| doc::first_paragraph(&d))
            .unwrap_or_default();
        let lines =
            |s: Option<stat::SideStat>| s.map(|s| s.code_lines.to_string()).unwrap_or("—".into());
        let impls =
            |s: Option<stat::SideStat>| s.map(|s| s.future_impls.to_string()).unwrap_or("—".into());
        let badges: Vec<String> = [Flavor::Legacy, Flavor::Modern]
            .iter()
            .map(|f| badge(conformance_status(conformance, pair, *f).0))
            .collect();
        let trace_cell = match traces.by_program.get(&pair.name) {
            Some(t) => {
                let totals: Vec<String> = t
                    .flavors
                    .iter()
                    .map(|f| {
                        let v = f.workload.total as f64 / f.units.max(1) as f64;
                        match t.unit.as_str() {
                            "run" => format!("{v:.0}"),
                            _ => trace::format_per_unit(v),
                        }
                    })
                    .collect();
                format!(
                    "{}<br><span class=\"muted\">per {}</span>",
                    totals.join(" / "),
                    escape(&t.unit)
                )
            }
            None => "<span class=\"muted\">—</span>".into(),
        };
        let _ = writeln!(
            out,
            "<tr><td><a href=\"#{id}\"><code>{name}</code></a></td><td class=\"what\">{summary}</td>\
             <td class=\"num\">{} → {}</td><td class=\"num\">{}</td><td class=\"num\">{} / {}</td>\
             <td class=\"st\">{}</td><td class=\"num\">{trace_cell}</td></tr>",
            lines(stat.legacy),
            lines(stat.modern),
            stat.changed,
            impls(stat.legacy),
            impls(stat.modern),
            badges.join(" "),
            id = anchor(&pair.name),
            name = escape(&pair.name),
            summary = doc::inline(&summary),
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out.push_str(
        "<p class=\"muted\">Lines: lines of Rust code in <code>src/</code> (not blank, not only a comment). \
         Changed: lines inserted plus deleted from legacy to modern, comments included. \
         Future/Stream impls: hand-written <code>impl … Future for</code> / <code>impl … Stream for</code> blocks.</p>\n",
    );
    out.push_str(sections);
    out.push_str("<p class=\"muted\" style=\"margin:40px 0\">Generated by <code>cargo xtask study</code>.</p>\n");
    out.push_str("</main>\n</body>\n</html>\n");
    out
}

fn anchor(program: &str) -> String {
    format!(
        "program-{}",
        program.replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "_")
    )
}

fn badge(status: &str) -> String {
    let class = match status {
        "pass" | "fail" | "xfail" | "xpass" | "skip" => status,
        _ => "none",
    };
    format!("<span class=\"badge {class}\">{}</span>", escape(status))
}

/// The status word of a conformance row, and the row if there is one.
fn conformance_status<'a>(
    c: &'a Conformance,
    pair: &Pair,
    flavor: Flavor,
) -> (&'static str, Option<&'a Value>) {
    if pair.side(flavor).is_none() {
        return ("absent", None);
    }
    let Some(rows) = &c.rows else {
        return ("not run", None);
    };
    match rows.get(&(pair.name.clone(), flavor.as_str().to_string())) {
        Some(row) => {
            let status = match row["status"].as_str() {
                Some("pass") => "pass",
                Some("fail") => "fail",
                Some("xfail") => "xfail",
                Some("xpass") => "xpass",
                Some("skip") => "skip",
                _ => "unknown",
            };
            (status, Some(row))
        }
        None => ("no row", None),
    }
}

/// The flavor a side is shown as: its program's (a next program's left side is a
/// modern program), or the side's own name when it does not exist.
fn side_label(pair: &Pair, side: Flavor) -> &'static str {
    let (left, right) = diff::side_labels(pair);
    match side {
        Flavor::Legacy => left,
        _ => right,
    }
}

fn section(
    catalogue: &Catalogue,
    pair: &Pair,
    stat: &PairStat,
    conformance: &Conformance,
    traces: &Traces,
) -> Result<String> {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<section class=\"program\" id=\"{}\">\n<div class=\"program-head\"><h2><code>{}</code></h2>\
         <span class=\"muted mono\">{} → {}</span><a class=\"top-link\" href=\"#top\">↑ programs</a></div>",
        anchor(&pair.name),
        escape(&pair.name),
        escape(&pair.display_dir(Flavor::Legacy)),
        escape(&pair.display_dir(Flavor::Modern)),
    );
    if let Some(note) = diff::missing_side_note(pair) {
        let _ = writeln!(out, "<p class=\"note\">{}</p>", escape(&note));
    }

    // What it demonstrates: each side's opening paragraph, the full descriptions folded.
    out.push_str("<h3>What it demonstrates</h3>\n<div class=\"two\">\n");
    let docs: Vec<(Flavor, Option<String>)> = [Flavor::Legacy, Flavor::Modern]
        .iter()
        .map(|f| (*f, pair.doc(*f)))
        .collect();
    for (flavor, d) in &docs {
        let body = match (pair.side(*flavor), d) {
            (None, _) => "<p class=\"muted\">This side does not exist yet.</p>".to_string(),
            (Some(_), None) => {
                "<p class=\"muted\">Its main.rs has no <code>//!</code> doc comment.</p>"
                    .to_string()
            }
            (Some(_), Some(d)) => format!("<p>{}</p>", doc::inline(&doc::first_paragraph(d))),
        };
        let _ = writeln!(
            out,
            "<div><div class=\"side\">{}</div>{body}</div>",
            side_label(pair, *flavor)
        );
    }
    out.push_str("</div>\n");
    if docs.iter().any(|(_, d)| d.is_some()) {
        out.push_str(
            "<details><summary>Full description of each side</summary>\n<div class=\"two\">\n",
        );
        for (flavor, d) in &docs {
            let body = d
                .as_ref()
                .map(|d| doc::to_html(&doc::intro(d)))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "<div><div class=\"side\">{}</div>{body}</div>",
                side_label(pair, *flavor)
            );
        }
        out.push_str("</div>\n</details>\n");
    }

    // Migration notes.
    out.push_str("<h3>Migration notes</h3>\n");
    match docs[1].1.as_deref().and_then(|d| doc::section(d, "Migration")) {
        Some(notes) => {
            let _ = writeln!(out, "<div class=\"migration\">{}</div>", doc::to_html(&notes));
        }
        None if pair.modern.is_none() => {
            out.push_str("<p class=\"muted\">No modern side yet, so no migration notes.</p>\n")
        }
        None => out.push_str(
            "<p class=\"muted\">The modern main.rs doc comment has no <code># Migration</code> section.</p>\n",
        ),
    }

    // Conformance.
    let _ = writeln!(
        out,
        "<h3>Conformance <span class=\"muted\" style=\"font-weight:400\">({})</span></h3>",
        escape(&conformance.source)
    );
    out.push_str(&conformance_table(conformance, pair));

    // Trace figures.
    out.push_str("<h3>System calls under strace</h3>\n");
    out.push_str(&trace_html(traces, pair));

    // Dependencies.
    out.push_str("<h3>Dependencies</h3>\n");
    out.push_str(&deps_html(&diff::dependency_rows(catalogue, pair)));

    // The diff.
    let _ = writeln!(
        out,
        "<h3>Diff, legacy → modern <span class=\"muted\" style=\"font-weight:400\">({} lines changed; \
         lines of code {} → {}; unsafe blocks {} → {})</span></h3>",
        stat.changed,
        stat.legacy.map(|s| s.code_lines.to_string()).unwrap_or("—".into()),
        stat.modern.map(|s| s.code_lines.to_string()).unwrap_or("—".into()),
        stat.legacy.map(|s| s.unsafe_blocks.to_string()).unwrap_or("—".into()),
        stat.modern.map(|s| s.unsafe_blocks.to_string()).unwrap_or("—".into()),
    );
    for file in pair.paired_sources()? {
        out.push_str(&file_diff_html(pair, &file));
    }
    out.push_str("</section>\n");
    Ok(out)
}

fn conformance_table(c: &Conformance, pair: &Pair) -> String {
    let mut out = String::from(
        "<table class=\"grid\"><thead><tr><th>flavor</th><th>status</th><th class=\"num\">checks passed</th>\
         <th>checks that did not pass</th></tr></thead><tbody>\n",
    );
    for flavor in [Flavor::Legacy, Flavor::Modern] {
        let (status, row) = conformance_status(c, pair, flavor);
        let (passed, notes, all) = match row {
            Some(row) => {
                let checks: Vec<&Value> = row["checks"]
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                let passed = checks.iter().filter(|c| c["status"] == "pass").count();
                let mut notes = String::new();
                let mut all = String::new();
                for check in &checks {
                    let st = check["status"].as_str().unwrap_or("?");
                    let item = format!(
                        "<li>{} <code>{}</code> {}</li>\n",
                        badge(st),
                        escape(check["name"].as_str().unwrap_or("?")),
                        escape(check["detail"].as_str().unwrap_or(""))
                    );
                    if st != "pass" {
                        notes.push_str(&item);
                    }
                    all.push_str(&item);
                }
                let notes = if notes.is_empty() {
                    "<span class=\"muted\">none</span>".to_string()
                } else {
                    format!("<ul class=\"checks\">{notes}</ul>")
                };
                (
                    format!("{passed}/{}", checks.len()),
                    notes,
                    format!("<details><summary>all {} checks</summary><ul class=\"checks\">{all}</ul></details>", checks.len()),
                )
            }
            None => {
                let why = match status {
                    "absent" => "this side does not exist yet",
                    "not run" => "the suite was not run for this report",
                    _ => "the given report has no row for it",
                };
                (
                    "—".into(),
                    format!("<span class=\"muted\">{why}</span>"),
                    String::new(),
                )
            }
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{passed}</td><td>{notes}{all}</td></tr>",
            flavor.as_str(),
            badge(status)
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

fn trace_html(traces: &Traces, pair: &Pair) -> String {
    if let Some(err) = traces.errors.get(&pair.name) {
        return format!("<p class=\"note\">Tracing failed: {}</p>\n", escape(err));
    }
    let Some(t) = traces.by_program.get(&pair.name) else {
        let how = format!(
            "Not traced for this report: <code>cargo xtask trace {}</code> prints them, and \
             <code>cargo xtask study --trace</code> (or <code>--trace-json</code>) puts them here.",
            escape(&pair.name)
        );
        return format!("<p class=\"muted\">{how}</p>\n");
    };
    let mut out = format!(
        "<p>Workload: {} (release build, <code>strace -f</code>). Per {} while the workload ran:</p>\n",
        escape(&t.workload),
        escape(&t.unit)
    );
    out.push_str("<div class=\"two\"><div><table class=\"grid\"><thead><tr><th>system call</th>");
    for f in &t.flavors {
        let _ = write!(out, "<th class=\"num\">{}</th>", escape(&f.flavor));
    }
    out.push_str("</tr></thead><tbody>\n");
    for (name, values) in trace::rows(t) {
        let class = if name == "total" {
            " class=\"sum\""
        } else {
            ""
        };
        let _ = write!(out, "<tr{class}><td class=\"mono\">{}</td>", escape(&name));
        for v in values {
            let cell = if t.unit == "run" {
                format!("{v:.0}")
            } else {
                trace::format_per_unit(v)
            };
            let _ = write!(out, "<td class=\"num\">{cell}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div>\n<div><table class=\"grid\"><thead><tr><th>whole run, start-up included</th>");
    for f in &t.flavors {
        let _ = write!(out, "<th class=\"num\">{}</th>", escape(&f.flavor));
    }
    out.push_str("</tr></thead><tbody>\n");
    let mut rows: Vec<(String, Vec<String>)> = trace::whole_run_rows(t)
        .into_iter()
        .map(|(n, v)| (n.to_string(), v.iter().map(u64::to_string).collect()))
        .collect();
    rows.push((
        "units of work".into(),
        t.flavors.iter().map(|f| f.units.to_string()).collect(),
    ));
    rows.push((
        "seconds under strace".into(),
        t.flavors
            .iter()
            .map(|f| format!("{:.1}", f.seconds))
            .collect(),
    ));
    for (name, values) in rows {
        let _ = write!(out, "<tr><td>{}</td>", escape(&name));
        for v in values {
            let _ = write!(out, "<td class=\"num\">{v}</td>");
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></div></div>\n");
    out
}

fn deps_html(rows: &[DepRow]) -> String {
    let mut out = String::from(
        "<table class=\"grid deps\"><thead><tr><th>dependency</th><th>legacy (requirement → Cargo.lock)</th>\
         <th>modern (requirement → Cargo.lock)</th></tr></thead><tbody>\n",
    );
    for r in rows {
        let cell = |d: &Option<harness::catalogue::Dependency>| {
            d.as_ref()
                .map(|d| format!("<code>{}</code>", escape(&diff::describe_dep(d))))
                .unwrap_or("—".into())
        };
        let (lc, mc) = match (&r.legacy, &r.modern) {
            (Some(_), None) => (" class=\"gone\"", ""),
            (None, Some(_)) => ("", " class=\"new\""),
            _ => ("", ""),
        };
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td{lc}>{}</td><td{mc}>{}</td></tr>",
            escape(&r.name),
            cell(&r.legacy),
            cell(&r.modern)
        );
    }
    out.push_str("</tbody></table>\n");
    out
}

fn file_diff_html(pair: &Pair, file: &pairs::SourcePair) -> String {
    let old = file.legacy.as_deref().unwrap_or("");
    let new = file.modern.as_deref().unwrap_or("");
    let hunks = diff::hunks(old, new, 3);
    let (mut added, mut removed) = (0, 0);
    for row in hunks.iter().flat_map(|h| &h.rows) {
        match row.tag {
            ChangeTag::Insert => added += 1,
            ChangeTag::Delete => removed += 1,
            ChangeTag::Equal => {}
        }
    }
    let name = |flavor: Flavor, present: bool| {
        if present {
            format!("{}/src/{}", pair.display_dir(flavor), file.path)
        } else {
            "(none)".into()
        }
    };
    let mut out = format!(
        "<div class=\"file\"><div class=\"file-head mono\">{} → {}<span class=\"counts\"><span class=\"add\">+{added}</span> \
         <span class=\"rem\">−{removed}</span></span></div>\n",
        escape(&name(Flavor::Legacy, file.legacy.is_some())),
        escape(&name(Flavor::Modern, file.modern.is_some())),
    );
    if hunks.is_empty() {
        out.push_str(
            "<p class=\"muted\" style=\"padding:6px 10px\">identical on both sides</p></div>\n",
        );
        return out;
    }
    out.push_str(
        "<table class=\"diff mono\"><colgroup><col class=\"no\"><col class=\"no\"><col class=\"sign\"><col></colgroup><tbody>\n",
    );
    for hunk in &hunks {
        let _ = writeln!(
            out,
            "<tr class=\"hunk\"><td colspan=\"4\">{}</td></tr>",
            escape(&hunk.header)
        );
        for row in &hunk.rows {
            let (class, sign) = match row.tag {
                ChangeTag::Delete => ("del", "−"),
                ChangeTag::Insert => ("ins", "+"),
                ChangeTag::Equal => ("ctx", ""),
            };
            let mut code = String::new();
            for (emph, text) in &row.segments {
                let text = escape(&text.replace('\t', "    "));
                if *emph && row.tag != ChangeTag::Equal {
                    let _ = write!(code, "<span class=\"em\">{text}</span>");
                } else {
                    code.push_str(&text);
                }
            }
            let no = |n: Option<usize>| n.map(|n| n.to_string()).unwrap_or_default();
            let _ = writeln!(
                out,
                "<tr class=\"{class}\"><td class=\"no\">{}</td><td class=\"no\">{}</td><td class=\"sign\">{sign}</td><td class=\"code\">{code}</td></tr>",
                no(row.old_no),
                no(row.new_no)
            );
        }
    }
    out.push_str("</tbody></table></div>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_sided_file_shows_every_line_removed_and_escaped() {
        let text = "fn main() {\n    let v: Vec<u8> = vec![];\n}\n";
        let (pair, dir) = crate::pairs::tests::legacy_only("study", &[("main.rs", text)]);
        let files = pair.paired_sources().unwrap();
        let html = file_diff_html(&pair, &files[0]);
        assert_eq!(html.matches("<tr class=\"del\">").count(), 3);
        assert_eq!(html.matches("<tr class=\"ins\">").count(), 0);
        assert!(
            html.contains("→ (none)"),
            "the missing side is named: {html}"
        );
        assert!(html.contains("Vec&lt;u8&gt;"), "code is escaped");
        assert!(!html.contains("Vec<u8>"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn conformance_rows_by_program_and_flavor() {
        let json: Value = serde_json::from_str(
            r#"{"results":[{"program":"echo-tokio","flavor":"legacy","status":"xfail","checks":[]}]}"#,
        )
        .unwrap();
        let rows = conformance_rows(&json).unwrap();
        assert_eq!(
            rows[&("echo-tokio".to_string(), "legacy".to_string())]["status"],
            "xfail"
        );
        assert!(conformance_rows(&serde_json::json!({"passed": 1})).is_err());
    }
}
