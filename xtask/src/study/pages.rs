//! The pages of the book, as Markdown for mdBook with HTML where Markdown has no
//! word for it (figures, side-by-side summaries, diff tables). Every HTML block is
//! written without a blank line inside, as CommonMark requires for it to stay one
//! block; the programs' doc comments go in as Markdown, so mdBook renders them (and
//! highlights their code blocks) like the rest of the book.

use std::collections::BTreeMap;
use std::fmt::Write as _;
#[cfg(test)]
use std::path::Path;

use anyhow::Result;
use harness::{Catalogue, Chapter, Family, Flavor, Program};
use serde_json::Value;

use super::book::Figs;
use super::charts::{self, Made};
use super::diff_html;
use super::findings::Finding;
use super::results::{flavor_rank, Results};
use super::{Book, ChapterInfo, PairInfo};
use crate::bench::keys;
use crate::diff::{self, DepRow};
use crate::doc::{self, escape};
use crate::stat::{self, PairStat};
use crate::trace;

/// What a chapter is about and what its figures show (every chapter says it: a new
/// chapter does not compile until it does).
fn chapter_intro(chapter: Chapter) -> &'static str {
    match chapter {
        Chapter::UdpEcho => {
            "RFC 862 over UDP: every program echoes each datagram to its sender, keeps at most \
             `--queue N` echoes pending and keeps reading while writes are pending. The pairs go \
             from raw `select` and epoll through mio to tokio; the lesson is what each layer costs \
             underneath — the system calls per echo, and the server CPU per echo."
        }
        Chapter::Multisocket => {
            "N UDP sockets, one future each. The lesson is in the `poll future #i` lines: how many \
             of its futures a program polls when one datagram arrives — all of them (`join_all` in \
             futures 0.1, and in futures 0.3 up to 30 futures), or only the one that was woken (a \
             task per socket, `FuturesUnordered`, and futures 0.3 `join_all` above 30)."
        }
        Chapter::Internals => {
            "Programs that show one mechanism each: a future that asks to be polled again from \
             another thread, mio polling with nothing registered, user-space readiness beside a \
             socket, and mio issue 785. What they create and call — threads, epoll instances, \
             wake-up pipes and eventfds — is measured under strace."
        }
        Chapter::TcpAndIdent => {
            "A TCP echo server (the tokio README's, and the same on mio) and RFC 1413 ident \
             servers: one thread per connection, a deliberately wrong one that blocks inside a \
             future, a hand-written `Stream`, and a `Service`."
        }
        Chapter::Readiness => {
            "What tokio 1 changed about waiting: any number of tasks may wait on one socket \
             (tokio-core woke one task per direction, the last to register), and a task that \
             reads a flooded socket gives way to the others once its cooperative budget is \
             spent — unless it reads with `ready()` and `try_recv_from`, which the budget does \
             not see."
        }
    }
}

/// `../` up to the book's root from a page at `path`.
fn root_of(path: &str) -> String {
    "../".repeat(path.matches('/').count())
}

/// A status badge.
fn badge(status: &str) -> String {
    format!(
        "<span class=\"badge {}\">{}</span>",
        status.replace(' ', "-"),
        escape(status)
    )
}

/// The status of one flavor of a program in the conformance rows.
fn status<'a>(
    results: &'a Results,
    program: &str,
    label: &str,
) -> (&'static str, Option<&'a Value>) {
    let Some(rows) = &results.conformance.rows else {
        return ("not run", None);
    };
    match rows.get(&(program.to_string(), label.to_string())) {
        Some(row) => {
            let s = match row["status"].as_str() {
                Some("pass") => "pass",
                Some("fail") => "fail",
                Some("xfail") => "xfail",
                Some("xpass") => "xpass",
                Some("skip") => "skip",
                _ => "unknown",
            };
            (s, Some(row))
        }
        None => ("no row", None),
    }
}

/// Every package of a pair in ladder order: legacy, bridge steps, modern, next.
fn ladder(p: &PairInfo) -> Vec<&Program> {
    let mut all: Vec<&Program> = p.pair.programs().collect();
    all.sort_by_key(|x| flavor_rank(&x.flavor_label()));
    all
}

/// Source files of one package, by path under `src/`.
fn sources_of(p: &Program) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let root = p.dir.join("src");
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if let Ok(text) = std::fs::read_to_string(&path) {
                let rel = path
                    .strip_prefix(&root)
                    .map(|r| r.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_default();
                out.insert(rel, text);
            }
        }
    }
    out
}

fn main_doc(p: &Program) -> Option<String> {
    let main = std::fs::read_to_string(p.dir.join("src/main.rs")).ok()?;
    let d = doc::inner_doc(&main);
    (!d.trim().is_empty()).then_some(d)
}

/// The diff of two packages' sources (either may be missing), file by file.
fn diff_html(from: Option<&Program>, to: Option<&Program>, from_dir: &str, to_dir: &str) -> String {
    let a = from.map(sources_of).unwrap_or_default();
    let b = to.map(sources_of).unwrap_or_default();
    let mut paths: Vec<&String> = a.keys().chain(b.keys()).collect();
    paths.sort();
    paths.dedup();
    let mut out = String::new();
    for path in paths {
        out.push_str(&diff_html::file_html(
            &format!("{from_dir}/src/{path}"),
            &format!("{to_dir}/src/{path}"),
            a.get(path).map(String::as_str),
            b.get(path).map(String::as_str),
            path.ends_with(".rs"),
        ));
    }
    out
}

fn dir_of(p: &Program) -> String {
    harness::workspace::relative(&p.dir)
}

/// A page's HTML blocks must not hold a blank line (it would end the block).
fn block(html: &str) -> String {
    let mut out: String = html
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    out.push_str("\n\n");
    out
}

/// The opening page: what was found.
pub fn index(book: &Book, results: &Results, findings: &[Finding], figs: &mut Figs) -> String {
    let path = "index.md";
    let mut md = String::from("# What was found\n\n");
    let programs = book.pairs().count();
    let _ = write!(
        md,
        "The programs of this study are written twice: **legacy**, as in 2016–2018 (tokio-core \
         0.1, futures 0.1, mio 0.6, nix 0.9), and **modern** (tokio 1, futures 0.3, mio 0.8, \
         current nix), with the same observable behaviour. Three also climb a **migration ladder** \
         (bridge steps between the two, on the futures 0.3 compat layer), and the echo servers \
         have a **next** flavor (io_uring and batched UDP) — {programs} programs in {} chapters, \
         one page each. These are the measured findings; each links to the page it is about, and \
         every figure says which run it comes from. This book was made on {} from the results \
         listed in [Where the figures come from](sources.md).\n\n",
        book.chapters.len(),
        crate::runinfo::utc(results.now),
    );
    for (i, f) in findings.iter().enumerate() {
        let _ = write!(md, "## {}. {}\n\n", i + 1, f.title);
        let link = f
            .link
            .as_ref()
            .map(|(to, name)| {
                format!(
                    " <a class=\"to-pair\" href=\"{}\">→ {}</a>",
                    html_link(to),
                    escape(name)
                )
            })
            .unwrap_or_default();
        md.push_str(&block(&format!(
            "<p class=\"finding\">{}{link}</p>",
            f.sentence
        )));
        md.push_str(&block(&figs.embed(&f.figure, path)));
    }
    md
}

/// An `.md` book path as the link mdBook makes of it (`udp-echo/index.md` →
/// `udp-echo/index.html`), for links inside HTML blocks, which mdBook leaves alone.
fn html_link(path: &str) -> String {
    match path.strip_suffix(".md") {
        Some(stem) => format!("{stem}.html"),
        None => path.to_string(),
    }
}

/// One chapter's page: what it is about, its pairs at a glance, and the bench's plots
/// of its programs.
pub fn chapter(
    book: &Book,
    c: &ChapterInfo,
    catalogue: &Catalogue,
    results: &Results,
) -> Result<String> {
    let mut md = format!("# {}\n\n{}\n\n", c.title, chapter_intro(c.chapter));
    let mut table = String::from(
        "<table class=\"pairs\"><thead><tr><th>program</th><th>what it demonstrates</th>\
         <th class=\"num\">lines of code<br>legacy → modern</th><th class=\"num\">lines<br>changed</th>\
         <th>conformance</th><th class=\"num\">system calls<br>per unit of work</th></tr></thead><tbody>\n",
    );
    for p in book.pairs_of(c) {
        let st = stat::pair_stat(catalogue, &p.pair)?;
        let summary = [Flavor::Modern, Flavor::Legacy]
            .into_iter()
            .find_map(|f| p.pair.doc(f))
            .or_else(|| ladder(p).into_iter().find_map(main_doc))
            .map(|d| doc::first_paragraph(&d))
            .unwrap_or_default();
        let lines =
            |s: Option<stat::SideStat>| s.map_or("—".to_string(), |s| s.code_lines.to_string());
        let badges: Vec<String> = ladder(p)
            .iter()
            .map(|prog| {
                let label = prog.flavor_label();
                format!(
                    "<span class=\"flavor\">{}</span> {}",
                    escape(&label),
                    badge(status(results, &p.name, &label).0)
                )
            })
            .collect();
        let trace_cell = match results.traces.by_program.get(&p.name) {
            Some(t) => {
                let totals: Vec<String> = t
                    .flavors
                    .iter()
                    .map(|f| {
                        let v = f.workload.total as f64 / f.units.max(1) as f64;
                        let v = if t.unit == "run" { format!("{v:.0}") } else { trace::format_per_unit(v) };
                        format!("{} {v}", escape(&f.flavor))
                    })
                    .collect();
                format!("{}<br><span class=\"muted\">per {}</span>", totals.join("<br>"), escape(&t.unit))
            }
            None => format!(
                "<span class=\"muted gap\">not traced yet:<br><code>cargo xtask trace<br>{}</code></span>",
                escape(&p.name)
            ),
        };
        let _ = writeln!(
            table,
            "<tr><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td><td class=\"num\">{} → {}</td>\
             <td class=\"num\">{}</td><td class=\"st\">{}</td><td class=\"num\">{trace_cell}</td></tr>",
            html_link(p.path.rsplit('/').next().unwrap_or(&p.path)),
            escape(&p.name),
            doc::inline(&summary),
            lines(st.legacy),
            lines(st.modern),
            st.changed,
            badges.join("<br>"),
        );
    }
    table.push_str("</tbody></table>");
    md.push_str(&block(&table));
    md.push_str(
        "*Lines of code*: lines of Rust in `src/` that are neither blank nor only a comment. *Lines \
         changed*: lines inserted plus lines deleted from legacy to modern. *System calls per unit of \
         work*: under `cargo xtask trace` (per echo, datagram, KiB, query or poll; for the demos, per run).\n\n",
    );
    // The bench's own plots of this chapter's programs.
    let plots = bench_plots_of(c.chapter, results);
    if !plots.is_empty() {
        md.push_str("## The bench's plots\n\n");
        for p in plots {
            md.push_str(&block(&bench_plot_html(&p, &c.path, results)));
        }
    }
    Ok(md)
}

/// The bench plots that belong to a chapter: by the bench's file naming (`udp-…`,
/// `multisocket-…`, `tcp-…`, `ident-…`).
fn bench_plots_of(chapter: Chapter, results: &Results) -> Vec<String> {
    let Ok(b) = &results.bench else {
        return Vec::new();
    };
    let prefixes: &[&str] = match chapter {
        Chapter::UdpEcho => &["udp-"],
        Chapter::Multisocket => &["multisocket-"],
        Chapter::Internals => &[],
        Chapter::TcpAndIdent => &["tcp-", "ident-"],
        Chapter::Readiness => &[],
    };
    b.data
        .plots
        .iter()
        .filter(|p| prefixes.iter().any(|x| p.starts_with(x)))
        .cloned()
        .collect()
}

/// A plot written by `cargo xtask bench`, copied into the book, with what its terms
/// mean and which run it is.
fn bench_plot_html(file: &str, page: &str, results: &Results) -> String {
    let Ok(b) = &results.bench else {
        return String::new();
    };
    let m = &b.data.method.udp_echo;
    let w = m["throughput"]["window"].as_u64().unwrap_or(32);
    let s = m["throughput"]["sockets"].as_u64().unwrap_or(4);
    let terms = if file.starts_with("udp-") {
        format!(
            "In the bench's titles, <i>W={w}</i> means {w} datagrams kept in flight on each of {s} \
             client sockets (the throughput load) and <i>W=1</i> one datagram at a time (the \
             latency load). The black line is the raw epoll echo's median. Whiskers: the lowest \
             and highest round."
        )
    } else {
        "Whiskers: the lowest and highest round.".to_string()
    };
    let present = results.bench_dir().is_some_and(|d| d.join(file).is_file());
    if !present {
        return format!(
            "<div class=\"missing\"><b>{}</b>: listed in {} but not found beside it; <code>cargo xtask bench</code> writes it.</div>",
            escape(file),
            escape(&b.source.file)
        );
    }
    format!(
        "<figure class=\"fig bench\"><img src=\"{}figures/bench/{}\" alt=\"{}\" loading=\"lazy\">\
         <figcaption>The bench's plot <code>{}</code>. {terms}{} {}</figcaption></figure>",
        root_of(page),
        escape(file),
        escape(&format!("bench plot {file}")),
        escape(file),
        if b.data.is_rough() {
            " <b>A quick run</b>: figures to check the instrument with, not to read."
        } else {
            ""
        },
        charts::provenance(&[("bench".into(), &b.source)], results.now)
    )
}

/// The page of one pair.
pub fn pair(
    p: &PairInfo,
    catalogue: &Catalogue,
    results: &Results,
    figs: &mut Figs,
) -> Result<String> {
    let path = p.path.as_str();
    let steps = ladder(p);
    let legacy = p.pair.legacy.as_ref();
    let modern = p.pair.modern.as_ref();
    let mut md = format!("# {}\n\n", p.name);
    let dirs: Vec<String> = steps
        .iter()
        .map(|s| format!("<code>{}</code>", escape(&dir_of(s))))
        .collect();
    md.push_str(&block(&format!(
        "<p class=\"pair-paths\">{} · family <code>{}</code> · <a href=\"{}conformance.html#{}\">conformance</a></p>",
        dirs.join(" → "),
        p.family,
        root_of(path),
        escape(&p.name)
    )));
    if let Some(note) = diff::missing_side_note(&p.pair) {
        md.push_str(&block(&format!("<p class=\"note\">{}</p>", escape(&note))));
    }

    // What it demonstrates: each side's opening paragraph side by side.
    md.push_str("## What it demonstrates\n\n");
    let mut sides = String::from("<div class=\"sides\">");
    for prog in &steps {
        let body = match main_doc(prog) {
            Some(d) => format!("<p>{}</p>", doc::inline(&doc::first_paragraph(&d))),
            None => {
                "<p class=\"muted\">Its main.rs has no <code>//!</code> doc comment.</p>".into()
            }
        };
        let _ = write!(
            sides,
            "<div class=\"side\"><div class=\"side-label\">{}</div>{body}</div>",
            escape(&prog.flavor_label())
        );
    }
    sides.push_str("</div>");
    md.push_str(&block(&sides));
    let docs: Vec<(String, String)> = steps
        .iter()
        .filter_map(|s| Some((s.flavor_label(), main_doc(s)?)))
        .collect();
    if !docs.is_empty() {
        md.push_str(
            "<details class=\"full-doc\"><summary>The full description of each side</summary>\n\n",
        );
        for (label, d) in &docs {
            let rest = doc::without_section(d, "Migration");
            let _ = write!(
                md,
                "**{label}**\n\n{}\n\n",
                doc::demote_headings(rest.trim(), 3)
            );
        }
        md.push_str("</details>\n\n");
    }

    // What it costs: the figures of its lesson.
    md.push_str("## What it costs\n\n");
    for made in figures_of(p, results) {
        md.push_str(&block(&figs.embed(&made, path)));
    }

    // Migration notes (from the modern side's doc).
    md.push_str("## Migration notes\n\n");
    match modern
        .and_then(main_doc)
        .and_then(|d| doc::section(&d, "Migration"))
    {
        Some(notes) => {
            md.push_str(&doc::demote_headings(&notes, 2));
            md.push_str("\n\n");
        }
        None if modern.is_none() => md.push_str("*No modern side yet, so no migration notes.*\n\n"),
        None => md.push_str("*The modern main.rs doc comment has no `# Migration` section.*\n\n"),
    }

    // The steps between, and what comes after.
    let bridges: Vec<&&Program> = steps
        .iter()
        .filter(|s| s.flavor == Flavor::Bridge)
        .collect();
    if !bridges.is_empty() {
        md.push_str("## The migration ladder\n\n");
        md.push_str(
            "Each step builds and passes the suite on its own; each diff below is against the step before.\n\n",
        );
        let mut prev: Option<&Program> = legacy;
        for s in bridges.iter().map(|s| **s).chain(modern) {
            let summary = main_doc(s)
                .map(|d| doc::first_paragraph(&d))
                .unwrap_or_default();
            let from = prev.map(dir_of).unwrap_or_else(|| "(nothing)".into());
            let _ = write!(
                md,
                "### {}\n\n{}\n\n",
                s.flavor_label(),
                if summary.is_empty() {
                    "*No doc comment.*".to_string()
                } else {
                    summary
                }
            );
            md.push_str(&block(&format!(
                "<details class=\"step-diff\"><summary>diff {} → {}</summary>{}</details>",
                escape(&from),
                escape(&dir_of(s)),
                diff_html(prev, Some(s), &from, &dir_of(s))
            )));
            prev = Some(s);
        }
    }
    let nexts: Vec<&&Program> = steps.iter().filter(|s| s.flavor == Flavor::Next).collect();
    if !nexts.is_empty() {
        md.push_str("## What comes next\n\n");
        for n in nexts {
            let summary = main_doc(n)
                .map(|d| doc::first_paragraph(&d))
                .unwrap_or_default();
            let _ = write!(
                md,
                "**{}** (`{}`): {}\n\n",
                n.flavor_label(),
                dir_of(n),
                summary
            );
            let from = modern.map(dir_of).unwrap_or_else(|| "(nothing)".into());
            md.push_str(&block(&format!(
                "<details class=\"step-diff\"><summary>diff {} → {}</summary>{}</details>",
                escape(&from),
                escape(&dir_of(n)),
                diff_html(modern, Some(n), &from, &dir_of(n))
            )));
        }
    }

    // Conformance.
    md.push_str("## Conformance\n\n");
    let _ = write!(md, "Rows {}.\n\n", escape(&results.conformance.source));
    md.push_str(&block(&conformance_table(results, p, &steps)));

    // Dependencies.
    if legacy.is_some() || modern.is_some() {
        md.push_str("## Dependencies\n\n");
        md.push_str(&block(&deps_html(&diff::dependency_rows(
            catalogue, &p.pair,
        ))));
    }

    // The diff.
    let st: PairStat = stat::pair_stat(catalogue, &p.pair)?;
    if legacy.is_some() || modern.is_some() {
        md.push_str("## Diff, legacy → modern\n\n");
        let cell = |s: Option<stat::SideStat>, f: fn(stat::SideStat) -> usize| {
            s.map_or("—".to_string(), |s| f(s).to_string())
        };
        md.push_str(&block(&format!(
            "<p class=\"diff-summary\">{} lines changed; lines of code {} → {}; <code>unsafe</code> blocks {} → {}. \
             Changed words are marked; lines that changed only in whitespace (re-indented, blank) \
             are shown as unchanged, with <span class=\"ws-mark\">·</span>.</p>",
            st.changed,
            cell(st.legacy, |s| s.code_lines),
            cell(st.modern, |s| s.code_lines),
            cell(st.legacy, |s| s.unsafe_blocks),
            cell(st.modern, |s| s.unsafe_blocks),
        )));
        md.push_str(&block(&diff_html(
            legacy,
            modern,
            &p.pair.display_dir(Flavor::Legacy),
            &p.pair.display_dir(Flavor::Modern),
        )));
    } else {
        md.push_str("## Sources\n\n");
        for s in &steps {
            for (path, text) in sources_of(s) {
                md.push_str(&block(&diff_html::listing_html(
                    &format!("{}/src/{path}", dir_of(s)),
                    &text,
                    path.ends_with(".rs"),
                )));
            }
        }
    }
    Ok(md)
}

/// The figures of a pair's lesson, by family (every family says which: a new one does
/// not compile until it does).
fn figures_of(p: &PairInfo, results: &Results) -> Vec<Made> {
    let mut out = Vec::new();
    match p.family {
        Family::UdpEcho | Family::TcpEcho | Family::Ident => {
            out.push(charts::syscalls_per_unit(results, &p.pair));
        }
        Family::Multisocket => {
            out.push(charts::polls_figure(results, &p.pair));
            out.push(charts::syscalls_per_unit(results, &p.pair));
        }
        Family::FutureNotify | Family::MioMixed => {
            out.push(charts::syscalls_per_unit(results, &p.pair));
            out.push(charts::whole_run(results, &p.pair));
        }
        Family::MioEmpty | Family::MioPipe => out.push(charts::whole_run(results, &p.pair)),
        Family::UdpWaiters | Family::CoopBudget => {
            out.extend(charts::readiness_figures(results, &p.pair, p.family));
            out.push(charts::syscalls_per_unit(results, &p.pair));
        }
    }
    out.extend(charts::bench_figures(results, &p.pair, p.family));
    out
}

fn conformance_table(results: &Results, p: &PairInfo, steps: &[&Program]) -> String {
    let mut out = String::from(
        "<table class=\"grid\"><thead><tr><th>flavor</th><th>status</th><th class=\"num\">checks passed</th>\
         <th>checks that did not pass</th></tr></thead><tbody>\n",
    );
    for prog in steps {
        let label = prog.flavor_label();
        let (st, row) = status(results, &p.name, &label);
        let (passed, notes) = match row {
            Some(row) => {
                let checks: Vec<&Value> = row["checks"]
                    .as_array()
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                let passed = checks.iter().filter(|c| c["status"] == "pass").count();
                let mut notes = String::new();
                let mut all = String::new();
                for check in &checks {
                    let s = check["status"].as_str().unwrap_or("?");
                    let item = format!(
                        "<li>{} <code>{}</code> {}</li>",
                        badge(s),
                        escape(check["name"].as_str().unwrap_or("?")),
                        escape(check["detail"].as_str().unwrap_or(""))
                    );
                    if s != "pass" {
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
                    format!(
                        "{notes}<details><summary>all {} checks</summary><ul class=\"checks\">{all}</ul></details>",
                        checks.len()
                    ),
                )
            }
            None => {
                let why = match st {
                    "not run" => "the suite was not run for this book",
                    _ => "the conformance report has no row for it",
                };
                ("—".into(), format!("<span class=\"muted\">{why}</span>"))
            }
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td class=\"num\">{passed}</td><td>{notes}</td></tr>",
            escape(&label),
            badge(st)
        );
    }
    out.push_str("</tbody></table>");
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
    out.push_str("</tbody></table>");
    out
}

/// The conformance matrix: every program and flavor, with the checks that did not
/// pass (skipped ones by name).
pub fn conformance(book: &Book, results: &Results) -> String {
    let mut md = String::from("# Conformance\n\n");
    let _ = write!(
        md,
        "One suite runs every flavor of every program and checks behaviour, not source (`cargo xtask \
         conformance`; `cargo test` runs it too). Rows {}. A documented difference between the eras \
         is an expected failure (*xfail*); a check that cannot run here is *skipped*, never counted \
         as passed.\n\n",
        escape(&results.conformance.source)
    );
    if results.conformance.rows.is_none() {
        md.push_str("*The suite was not run for this book:* `cargo xtask study` runs it, or `--conformance-json FILE` reads a saved `cargo xtask conformance --format json`.\n\n");
    }
    for c in &book.chapters {
        let _ = write!(md, "## {}\n\n", c.title);
        let mut t = String::from(
            "<table class=\"grid matrix\"><thead><tr><th>program</th><th>flavor</th><th>status</th>\
             <th class=\"num\">passed</th><th>did not pass</th></tr></thead><tbody>\n",
        );
        for p in book.pairs_of(c) {
            let steps = ladder(p);
            for (i, prog) in steps.iter().enumerate() {
                let label = prog.flavor_label();
                let (st, row) = status(results, &p.name, &label);
                let checks: Vec<&Value> = row
                    .and_then(|r| r["checks"].as_array())
                    .map(|a| a.iter().collect())
                    .unwrap_or_default();
                let passed = checks.iter().filter(|c| c["status"] == "pass").count();
                let mut by_status: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for c in &checks {
                    let s = c["status"].as_str().unwrap_or("?");
                    if s != "pass" {
                        by_status
                            .entry(s)
                            .or_default()
                            .push(c["name"].as_str().unwrap_or("?"));
                    }
                }
                let not_passed: Vec<String> = by_status
                    .iter()
                    .map(|(s, names)| {
                        format!(
                            "{}: {}",
                            badge(s),
                            names
                                .iter()
                                .map(|n| format!("<code>{}</code>", escape(n)))
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    })
                    .collect();
                let first = if i == 0 {
                    format!(
                        "<td rowspan=\"{}\" id=\"{}\"><a href=\"{}\"><code>{}</code></a></td>",
                        steps.len(),
                        escape(&p.name),
                        html_link(&p.path),
                        escape(&p.name)
                    )
                } else {
                    String::new()
                };
                let _ = writeln!(
                    t,
                    "<tr>{first}<td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                    escape(&label),
                    badge(st),
                    if row.is_some() {
                        format!("{passed}/{}", checks.len())
                    } else {
                        "—".into()
                    },
                    if not_passed.is_empty() {
                        "<span class=\"muted\">—</span>".into()
                    } else {
                        not_passed.join("<br>")
                    }
                );
            }
        }
        t.push_str("</tbody></table>");
        md.push_str(&block(&t));
    }
    // Rows that are no program of the book: the suite's tests of itself.
    let known: Vec<(String, String)> = book
        .pairs()
        .flat_map(|p| {
            ladder(p)
                .into_iter()
                .map(|prog| (p.name.clone(), prog.flavor_label()))
        })
        .collect();
    let others: Vec<&Value> = results
        .conformance
        .rows
        .iter()
        .flat_map(|rows| rows.iter())
        .filter(|(key, _)| !known.contains(key))
        .map(|(_, row)| row)
        .collect();
    let (selftests, unknown): (Vec<&Value>, Vec<&Value>) =
        others.into_iter().partition(|row| row["flavor"] == "self");
    for (title, intro, rows) in [
        (
            "The suite's tests of itself",
            "Rows of flavor *self* run the suite against servers that are wrong on purpose \
             (binaries of the `conformance` package, under `tests/src/bin/`): such a row passes \
             only if the suite's check *fails* the broken server, for the right reason — a check \
             that cannot fail proves nothing.",
            selftests,
        ),
        (
            "Rows of programs not in this workspace",
            "The report has rows for packages the workspace does not have (a report older than the \
             workspace?).",
            unknown,
        ),
    ] {
        if rows.is_empty() {
            continue;
        }
        let _ = write!(md, "## {title}\n\n{intro}\n\n");
        let mut t = String::from(
            "<table class=\"grid\"><thead><tr><th>row</th><th>flavor</th><th>status</th><th>what it checked</th></tr></thead><tbody>\n",
        );
        for row in rows {
            let checks: Vec<String> = row["checks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|c| {
                    format!(
                        "<code>{}</code>: {}",
                        escape(c["name"].as_str().unwrap_or("?")),
                        escape(c["detail"].as_str().unwrap_or(""))
                    )
                })
                .collect();
            let _ = writeln!(
                t,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(row["program"].as_str().unwrap_or("?")),
                escape(row["flavor"].as_str().unwrap_or("?")),
                badge(row["status"].as_str().unwrap_or("?")),
                checks.join("<br>")
            );
        }
        t.push_str("</tbody></table>");
        md.push_str(&block(&t));
    }
    md
}

/// The bench's results: its plots, and a table of CPU per unit of work whose ratios are
/// the ratios of the medians it shows.
pub fn performance(book: &Book, results: &Results) -> String {
    let path = "performance.md";
    let mut md = String::from("# Performance\n\n");
    let b = match &results.bench {
        Ok(b) => b,
        Err(why) => {
            let _ = write!(
                md,
                "No bench results: {}. `cargo xtask bench` measures every pair (a few minutes), and \
                 `cargo xtask study --run-missing` makes a quick run.\n\n",
                escape(why)
            );
            return md;
        }
    };
    md.push_str(&block(&format!(
        "<p class=\"source\">{}{}</p>",
        charts::provenance(&[("bench".into(), &b.source)], results.now),
        if b.data.is_rough() { " <b>A quick run</b> (short intervals, few rounds): figures to check the instrument with, not to read." } else { "" }
    )));
    if !b.data.placement.is_empty() {
        let _ = write!(md, "Placement: {}.\n\n", escape(&b.data.placement));
    }
    // Server CPU per unit of work, legacy and modern, and their ratio.
    md.push_str("## Server CPU per unit of work\n\n");
    md.push_str(
        "Each figure is the median over the rounds, with the lowest and highest round in brackets. \
         *modern ÷ legacy* is the ratio of the two medians shown beside it; in brackets, the lowest \
         and highest ratio of a legacy and a modern run of the same round.\n\n",
    );
    let mut t = String::from(
        "<table class=\"grid\"><thead><tr><th>program</th><th>per</th><th class=\"num\">legacy</th>\
         <th class=\"num\">modern</th><th class=\"num\">modern ÷ legacy</th></tr></thead><tbody>\n",
    );
    for p in book.pairs() {
        let rows: &[(&str, &str, f64, Option<usize>)] = match p.family {
            Family::UdpEcho => &[(keys::UDP_CPU_PER_ECHO, "echo (µs)", 1e-3, None)],
            Family::Multisocket => &[
                (
                    keys::MULTISOCKET_CPU_PER_DATAGRAM,
                    "datagram, 10 sockets (µs)",
                    1e-3,
                    Some(10),
                ),
                (
                    keys::MULTISOCKET_CPU_PER_DATAGRAM,
                    "datagram, 1,000 sockets (µs)",
                    1e-3,
                    Some(1000),
                ),
            ],
            Family::TcpEcho => &[(keys::TCP_CPU_PER_MB, "MB echoed (µs)", 1.0, None)],
            Family::Ident => &[(keys::IDENT_CPU_PER_QUERY, "query (µs)", 1.0, None)],
            Family::FutureNotify
            | Family::MioEmpty
            | Family::MioMixed
            | Family::MioPipe
            | Family::UdpWaiters
            | Family::CoopBudget => &[],
        };
        for (key, per, scale, sockets) in rows {
            let l = b.data.entry(&p.name, "legacy", *sockets);
            let m = b.data.entry(&p.name, "modern", *sockets);
            let cell = |e: Option<&super::results::BenchEntry>| {
                e.and_then(|e| e.figure(key)).map_or("—".to_string(), |s| {
                    format!(
                        "{} <span class=\"muted\">({}–{})</span>",
                        super::figures::short(s.median * scale),
                        super::figures::short(s.min * scale),
                        super::figures::short(s.max * scale)
                    )
                })
            };
            let ratio = match (l.and_then(|e| e.figure(key)), m.and_then(|e| e.figure(key))) {
                (Some(a), Some(c)) if a.median > 0.0 => {
                    let per_round: Vec<f64> = l
                        .unwrap()
                        .rounds
                        .iter()
                        .zip(&m.unwrap().rounds)
                        .filter_map(|(a, c)| {
                            let (a, c) = (a.as_ref()?.get(*key)?, c.as_ref()?.get(*key)?);
                            (*a > 0.0).then(|| c / a)
                        })
                        .collect();
                    let (lo, hi) = per_round
                        .iter()
                        .fold((f64::INFINITY, 0.0f64), |(x, y), r| (x.min(*r), y.max(*r)));
                    if per_round.len() > 1 {
                        format!(
                            "{:.2} <span class=\"muted\">({lo:.2}–{hi:.2})</span>",
                            c.median / a.median
                        )
                    } else {
                        format!("{:.2}", c.median / a.median)
                    }
                }
                _ => "—".into(),
            };
            if l.is_none() && m.is_none() {
                continue;
            }
            let _ = writeln!(
                t,
                "<tr><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{ratio}</td></tr>",
                html_link(&p.path),
                escape(&p.name),
                escape(per),
                cell(l),
                cell(m)
            );
        }
    }
    for e in b
        .data
        .entries
        .iter()
        .filter(|e| e.flavor == "baseline" || e.raw_baseline)
    {
        if let Some(s) = e.figure(keys::UDP_CPU_PER_ECHO) {
            let _ = writeln!(
                t,
                "<tr><td><code>{}</code> <span class=\"muted\">({})</span></td><td>echo (µs)</td><td class=\"num\" colspan=\"2\">{} <span class=\"muted\">({}–{})</span></td><td class=\"num\">—</td></tr>",
                escape(&e.program),
                if e.raw_baseline { "raw epoll baseline" } else { "blocking baseline" },
                super::figures::short(s.median * 1e-3),
                super::figures::short(s.min * 1e-3),
                super::figures::short(s.max * 1e-3)
            );
        }
    }
    t.push_str("</tbody></table>");
    md.push_str(&block(&t));
    let failed: Vec<&super::results::BenchEntry> = b
        .data
        .entries
        .iter()
        .filter(|e| !e.errors.is_empty())
        .collect();
    if !failed.is_empty() {
        md.push_str(
            "## Runs that failed

Their figures are over the rounds that did not fail.

",
        );
        for e in failed {
            let _ = writeln!(
                md,
                "- `{} {}{}`: {}",
                e.program,
                e.flavor,
                e.sockets.map(|n| format!(" ×{n}")).unwrap_or_default(),
                escape(&e.errors.join("; "))
            );
        }
        md.push('\n');
    }
    if !b.data.plots.is_empty() {
        md.push_str("## The bench's plots\n\n");
        for p in &b.data.plots {
            md.push_str(&block(&bench_plot_html(p, path, results)));
        }
    }
    md
}

/// Where every figure comes from, and what is missing.
pub fn sources(book: &Book, results: &Results) -> String {
    let mut md = String::from("# Where the figures come from\n\n");
    let _ = write!(
        md,
        "The book takes the latest results under `{}` (`trace/*.json`, `bench/bench.json`, \
         `study/polls.json`, `study/readiness.json`); `cargo xtask study --run-missing` \
         measures what is missing first. \
         Made on {}.\n\n",
        escape(&harness::workspace::relative(&results.dir)),
        crate::runinfo::utc(results.now)
    );
    md.push_str("## Bench\n\n");
    match &results.bench {
        Ok(b) => md.push_str(&block(&format!(
            "<p class=\"source\">{}</p>",
            charts::provenance(&[("bench".into(), &b.source)], results.now)
        ))),
        Err(why) => {
            let _ = write!(md, "Missing: {}. Made by `cargo xtask bench` (or a quick run with `cargo xtask study --run-missing`).\n\n", escape(why));
        }
    }
    md.push_str("## Poll sweep\n\n");
    match &results.polls {
        Ok(s) => md.push_str(&block(&format!(
            "<p class=\"source\">{}</p>",
            charts::provenance(&[("sweep".into(), &s.source)], results.now)
        ))),
        Err(why) => {
            let _ = write!(
                md,
                "Missing: {}. Made by `cargo xtask study --run-missing` (or `--sweep-polls`).\n\n",
                escape(why)
            );
        }
    }
    md.push_str("## Readiness measurements\n\n");
    match &results.readiness {
        Ok(r) => md.push_str(&block(&format!(
            "<p class=\"source\">{}</p>",
            charts::provenance(&[("readiness".into(), &r.source)], results.now)
        ))),
        Err(why) => {
            let _ = write!(
                md,
                "Missing: {}. Made by `{}` (or `cargo xtask study --run-missing`).\n\n",
                escape(why),
                charts::MEASURE_READINESS
            );
        }
    }
    md.push_str("## Traces\n\n");
    let mut t = String::from(
        "<table class=\"grid\"><thead><tr><th>program</th><th>side</th><th>traced</th><th>command</th><th>file</th></tr></thead><tbody>\n",
    );
    for p in book.pairs() {
        for prog in ladder(p) {
            let label = prog.flavor_label();
            let row = match results.traces.sources.get(&(p.name.clone(), label.clone())) {
                Some(s) => format!(
                    "<td>{}</td><td><code>{}</code></td><td><code>{}</code></td>",
                    escape(&s.when(results.now)),
                    escape(s.command.as_deref().unwrap_or("—")),
                    escape(&s.file)
                ),
                None => format!(
                    "<td colspan=\"3\" class=\"muted\">not traced yet: <code>cargo xtask trace {}</code></td>",
                    escape(&p.name)
                ),
            };
            let _ = writeln!(
                t,
                "<tr><td><a href=\"{}\"><code>{}</code></a></td><td>{}</td>{row}</tr>",
                html_link(&p.path),
                escape(&p.name),
                escape(&label)
            );
        }
    }
    t.push_str("</tbody></table>");
    md.push_str(&block(&t));
    for (file, why) in &results.traces.unreadable {
        let _ = writeln!(
            md,
            "- `{}` could not be read: {}",
            escape(file),
            escape(why)
        );
    }
    md.push_str("\n## Conformance\n\n");
    let _ = writeln!(md, "Rows {}.", escape(&results.conformance.source));
    md
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::pairs::Pair;
    use crate::study::results::{Conformance, Results};

    /// A package of program `name` in `flavor` (step `step`), made on the spot with
    /// one main.rs.
    fn package(root: &Path, name: &str, flavor: Flavor, step: Option<u32>, main: &str) -> Program {
        let label = step.map_or(flavor.to_string(), |n| format!("{flavor}-{n}"));
        let dir = root.join(&label);
        std::fs::create_dir_all(dir.join("src")).unwrap();
        std::fs::write(dir.join("src/main.rs"), main).unwrap();
        Program {
            name: name.into(),
            flavor,
            step,
            package: format!("{flavor}-{name}"),
            dir,
            family: Ok(Family::UdpEcho),
            declared: Default::default(),
        }
    }

    fn temp(tag: &str) -> PathBuf {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!("xtask-pages-{tag}-{}-{nanos}", std::process::id()))
    }

    fn no_results() -> Results {
        Results::load(
            &temp("none"),
            &[],
            Default::default(),
            Conformance {
                source: "not run".into(),
                rows: None,
            },
        )
    }

    fn info(pair: Pair) -> PairInfo {
        PairInfo {
            name: pair.name.clone(),
            family: Family::UdpEcho,
            chapter: Chapter::UdpEcho,
            path: format!("udp-echo/{}.md", pair.name),
            pair,
        }
    }

    #[test]
    fn a_ladder_shows_every_step_and_what_comes_next() {
        let root = temp("ladder");
        let main = |what: &str| {
            format!("//! {what}\n//!\n//! # Migration\n//!\n//! * a note\n\nfn main() {{\n    {what}();\n}}\n")
        };
        let p = Pair {
            name: "echo-x".into(),
            legacy: Some(package(&root, "echo-x", Flavor::Legacy, None, &main("old"))),
            modern: Some(package(&root, "echo-x", Flavor::Modern, None, &main("new"))),
            others: vec![
                package(&root, "echo-x", Flavor::Bridge, Some(2), &main("second")),
                package(&root, "echo-x", Flavor::Next, None, &main("uring")),
                package(&root, "echo-x", Flavor::Bridge, Some(1), &main("first")),
            ],
        };
        let catalogue = Catalogue::of_declarations(&[]);
        let mut figs = Figs::default();
        let md = pair(&info(p), &catalogue, &no_results(), &mut figs).unwrap();
        let order: Vec<usize> = ["LEGACY", "bridge-1", "bridge-2", "modern", "next"]
            .iter()
            .map(|l| {
                md.find(&format!(">{}<", l.to_lowercase()))
                    .unwrap_or_else(|| panic!("no {l}: {md}"))
            })
            .collect();
        assert!(
            order.windows(2).all(|w| w[0] < w[1]),
            "the ladder in order: {order:?}"
        );
        assert!(md.contains("## The migration ladder"));
        for step in ["legacy/", "bridge-1/", "bridge-2/"] {
            assert!(md.contains("<summary>diff ") && md.contains(step), "{step}");
        }
        assert_eq!(
            md.matches("<details class=\"step-diff\">").count(),
            4,
            "three steps up to modern, one to next"
        );
        assert!(md.contains("## What comes next"));
        assert!(md.contains("## Diff, legacy → modern"));
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn a_program_with_only_a_next_side_lists_its_sources() {
        let root = temp("next-only");
        let p = Pair {
            name: "echo-uring".into(),
            legacy: None,
            modern: None,
            others: vec![package(
                &root,
                "echo-uring",
                Flavor::Next,
                None,
                "//! io_uring echo.\n\nfn main() {}\n",
            )],
        };
        let catalogue = Catalogue::of_declarations(&[]);
        let mut figs = Figs::default();
        let md = pair(&info(p), &catalogue, &no_results(), &mut figs).unwrap();
        assert!(md.contains("## Sources") && !md.contains("## Diff"));
        assert!(md.contains("io_uring echo."));
        assert!(
            md.contains("<span class=\"hljs-keyword\">fn</span>"),
            "highlighted listing"
        );
        std::fs::remove_dir_all(&root).ok();
    }

    /// A readiness.json with figures of `udp-waiters` and `coop-budget`, both sides.
    fn readiness_json(dir: &Path) -> PathBuf {
        use crate::study::readiness::{
            BurstRead, Coop, CoopRound, Method, Readiness, TaskCounts, Waiters,
        };
        let waiters = |flavor: &str, woken: [u64; 4], burst: &[(usize, f64)]| Waiters {
            program: "udp-waiters".into(),
            flavor: flavor.into(),
            probes: 40,
            tasks: woken
                .map(|w| TaskCounts {
                    woken: w,
                    recv: w.min(10),
                })
                .to_vec(),
            burst_work_ms: 300,
            burst: burst
                .iter()
                .map(|&(task, after_ms)| BurstRead { task, after_ms })
                .collect(),
        };
        let coop = |flavor: &str, read_loop: &str, late_ms: [u64; 3], most: u64| Coop {
            program: "coop-budget".into(),
            flavor: flavor.into(),
            read_loop: read_loop.into(),
            rounds: late_ms
                .map(|l| CoopRound {
                    worst_late_us: l * 1000,
                    most_per_poll: most,
                    ..Default::default()
                })
                .to_vec(),
        };
        let figures = Readiness {
            run: crate::runinfo::RunInfo::now(),
            method: Method::now(),
            waiters: vec![
                waiters("legacy", [0, 0, 0, 40], &[(3, 0.2), (3, 300.4), (3, 600.9)]),
                waiters("modern", [40; 4], &[(3, 0.2), (2, 0.3), (1, 0.3), (0, 0.3)]),
            ],
            coop: vec![
                coop("legacy", "recv", [1540, 1180, 1550], 6089),
                coop("legacy", "fixed", [55, 56, 58], 128),
                coop("modern", "recv", [23, 24, 25], 128),
                coop("modern", "fixed", [24, 33, 35], 128),
            ],
        };
        std::fs::create_dir_all(dir).unwrap();
        let path = dir.join("readiness.json");
        std::fs::write(&path, serde_json::to_string(&figures).unwrap()).unwrap();
        path
    }

    fn readiness_pair(root: &Path, name: &str, family: Family) -> PairInfo {
        let main = "//! A readiness lesson.\n\nfn main() {}\n";
        let pair = Pair {
            name: name.into(),
            legacy: Some(package(root, name, Flavor::Legacy, None, main)),
            modern: Some(package(root, name, Flavor::Modern, None, main)),
            others: Vec::new(),
        };
        PairInfo {
            name: name.into(),
            family,
            chapter: Chapter::Readiness,
            path: format!("readiness/{name}.md"),
            pair,
        }
    }

    #[test]
    fn readiness_pages_draw_the_measured_figures() {
        let root = temp("readiness");
        let json = readiness_json(&root.join("results"));
        let results = Results::load(
            &root.join("results"),
            &[],
            super::super::results::Files {
                readiness: Some(json),
                ..Default::default()
            },
            Conformance {
                source: "not run".into(),
                rows: None,
            },
        );
        assert!(results.readiness.is_ok(), "{:?}", results.readiness.err());
        let catalogue = Catalogue::of_declarations(&[]);
        for (name, family, files) in [
            (
                "udp-waiters",
                Family::UdpWaiters,
                ["udp-waiters-woken.svg", "udp-waiters-burst.svg"],
            ),
            (
                "coop-budget",
                Family::CoopBudget,
                ["coop-budget-ticker-delay.svg", "coop-budget-per-poll.svg"],
            ),
        ] {
            let p = readiness_pair(&root.join(name), name, family);
            let mut figs = Figs::default();
            let md = pair(&p, &catalogue, &results, &mut figs).unwrap();
            for file in files {
                assert!(
                    md.contains(&format!("<img src=\"../figures/{file}\"")),
                    "{name}: {file} on the page: {md}"
                );
            }
            let figures = md.matches("<figure class=\"fig\">").count();
            assert_eq!(figures, 2, "{name}: its two figures");
            assert_eq!(
                md.matches("Measured with <code>").count(),
                figures,
                "{name}: each figure says which run"
            );
            assert!(md.contains("Data: <code>"), "{name}: and which file");
            assert!(
                !md.contains("--measure-readiness</code>, then"),
                "{name}: nothing missing but the trace"
            );
        }
        // What the figures say, from the numbers given.
        let p = readiness_pair(&root.join("w"), "udp-waiters", Family::UdpWaiters);
        let burst = charts::waiters_burst(&results, &p.pair);
        let Made::Figure(burst) = burst else {
            panic!("no burst figure: {burst:?}")
        };
        assert!(burst
            .caption
            .contains("legacy by tasks #3, #3, #3 (last after 601 ms, 1 never read"));
        assert!(burst
            .caption
            .contains("modern by tasks #3, #2, #1, #0 (last after 0.3 ms)"));
        assert!(burst.svg.contains("not measured"), "the unread datagram");
        let p = readiness_pair(&root.join("c"), "coop-budget", Family::CoopBudget);
        let Made::Figure(delay) = charts::coop_ticker_delay(&results, &p.pair) else {
            panic!("no delay figure")
        };
        assert!(delay
            .caption
            .contains("whiskers: the lowest and highest round"));
        assert!(
            delay.svg.contains("lowest and highest round"),
            "whiskers drawn"
        );
        assert!(
            delay.svg.contains("\n1540\n</text>"),
            "legacy recv's median written beside its bar"
        );
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn readiness_pages_without_figures_say_why_and_how_to_measure_them() {
        let root = temp("no-readiness");
        let catalogue = Catalogue::of_declarations(&[]);
        for (name, family) in [
            ("udp-waiters", Family::UdpWaiters),
            ("coop-budget", Family::CoopBudget),
        ] {
            let p = readiness_pair(&root.join(name), name, family);
            let mut figs = Figs::default();
            let md = pair(&p, &catalogue, &no_results(), &mut figs).unwrap();
            assert!(!md.contains("<figure"), "{name}: no figure without data");
            assert_eq!(
                md.matches("readiness.json yet. To measure it: <code>cargo xtask study --measure-readiness</code>")
                    .count(),
                2,
                "{name}: each figure says why it is missing and how to measure it: {md}"
            );
        }
        // A readiness.json without the pair's program says so.
        let json = readiness_json(&root.join("results"));
        let results = Results::load(
            &root.join("results"),
            &[],
            super::super::results::Files {
                readiness: Some(json),
                ..Default::default()
            },
            Conformance {
                source: "not run".into(),
                rows: None,
            },
        );
        let p = readiness_pair(&root.join("other"), "coop-other", Family::CoopBudget);
        let mut figs = Figs::default();
        let md = pair(&p, &catalogue, &results, &mut figs).unwrap();
        assert!(!md.contains("<figure"));
        assert_eq!(
            md.matches("has no figures of coop-other").count(),
            2,
            "{md}"
        );
        std::fs::remove_dir_all(&root).ok();
    }

    #[test]
    fn blocks_hold_no_blank_line() {
        assert_eq!(
            block("<div>\n\n  <p>a</p>\n   \n</div>"),
            "<div>\n  <p>a</p>\n</div>\n\n"
        );
        assert_eq!(root_of("index.md"), "");
        assert_eq!(root_of("udp-echo/echo-tokio.md"), "../");
        assert_eq!(html_link("udp-echo/index.md"), "udp-echo/index.html");
    }
}
