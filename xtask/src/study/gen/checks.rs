//! What the suite says: the matrix, every check's rows, and what the programs
//! declare it should expect of them (documented failures, system calls per echo,
//! the pitfalls of the ladders).

use std::collections::BTreeSet;

use harness::declared::{Ctl, Io};
use harness::results::conformance::Status;
use harness::Family;

use super::part::{badge, failed_checks, md_table, provenance_of_rows, Ctx, Part};
use crate::doc::escape;
use harness::pairs;

pub fn parts(ctx: &Ctx) -> Vec<Part> {
    let mut out = vec![
        matrix(ctx),
        expected_failures(ctx),
        declared_syscalls(ctx),
        pitfalls(ctx),
    ];
    let names: BTreeSet<&str> = (Family::ALL.iter())
        .flat_map(|f| conformance::checks::for_family(*f))
        .map(|c| c.name)
        .collect();
    out.extend(names.into_iter().map(|name| check(ctx, name)));
    out
}

/// Every program and flavor of the workspace, its status, and the checks that did
/// not pass.
fn matrix(ctx: &Ctx) -> Part {
    let r = ctx.results;
    let mut rows = Vec::new();
    let (mut passed, mut failed, mut missing) = (0, 0, 0);
    for program in ctx.catalogue.programs() {
        let label = program.flavor_label();
        let row = r.row(&program.name, &label).map(|x| &x.data);
        let status = row.map(|x| x.status);
        match status {
            None => missing += 1,
            Some(s) if s.is_unexpected() => failed += 1,
            Some(Status::Pass) => passed += 1,
            Some(_) => {}
        }
        let total = row.map_or(0, |x| x.checks.len());
        let ok = row.map_or(0, |x| {
            x.checks.iter().filter(|c| c.status == Status::Pass).count()
        });
        let notes = failed_checks(row);
        rows.push(vec![
            format!(
                "<span id=\"{}\"></span>{}",
                program.name,
                ctx.link(&program.name)
            ),
            format!("<span class=\"flavor\">{label}</span>"),
            badge(status),
            if row.is_some() {
                format!("{ok}/{total}")
            } else {
                "—".into()
            },
            notes.join("<br>"),
        ]);
    }
    if r.conformance.records().is_empty() {
        let why = r
            .conformance
            .error
            .clone()
            .unwrap_or_else(|| "the suite has not been run".into());
        return Part::missing(
            "matrix.md",
            "The conformance matrix",
            &why,
            "cargo xtask conformance",
        );
    }
    let mut md = format!(
        "{passed} rows passed and {failed} failed{}; documented failures are `xfail`, a check \
         that could not run here is `skip`, with the reason.\n\n",
        match missing {
            0 => String::new(),
            n => format!(", {n} not run (`cargo xtask conformance` runs them)"),
        }
    );
    md += &md_table(
        &[
            "program",
            "flavor",
            "status",
            "passed",
            "checks that did not pass",
        ],
        &rows,
    );
    md += &provenance_of_rows(ctx);
    Part::new("matrix.md", md)
}

/// Every row that runs check `name`: its status and what it observed.
fn check(ctx: &Ctx, name: &str) -> Part {
    let path = format!("check/{name}.md");
    let rows: Vec<Vec<String>> = (ctx.results.conformance.records().iter())
        .filter_map(|r| Some((&r.data, r.data.check(name)?)))
        .map(|(row, c)| {
            let status = badge(Some(c.status));
            vec![
                ctx.link(&row.program),
                row.flavor.clone(),
                status,
                escape(&c.detail),
            ]
        })
        .collect();
    if rows.is_empty() {
        let why = "no conformance row of it has been run";
        return Part::missing(
            &path,
            &format!("The check `{name}`"),
            why,
            "cargo xtask conformance",
        );
    }
    let md = md_table(&["program", "flavor", "status", "what it observed"], &rows)
        + &provenance_of_rows(ctx);
    Part::new(&path, md)
}

/// Every documented failure, as the programs declare them.
fn expected_failures(ctx: &Ctx) -> Part {
    let mut rows = Vec::new();
    for p in ctx.catalogue.programs() {
        for group in &p.declared.expected_failure {
            let checks: Vec<String> = group.checks.iter().map(|c| format!("`{c}`")).collect();
            rows.push(vec![
                ctx.link(&p.name),
                p.flavor_label(),
                checks.join(", "),
                group.why.clone(),
            ]);
        }
    }
    let md = md_table(&["program", "flavor", "documented to fail", "why"], &rows)
        + "Declared in each program's `Cargo.toml` (`[[package.metadata.study.expected-failure]]`).\n\n";
    Part::new("expected-failures.md", md)
}

/// What each UDP echo program declares for `syscalls-per-echo`.
fn declared_syscalls(ctx: &Ctx) -> Part {
    let range = |r: &harness::declared::Range| r.to_string();
    let rows: Vec<Vec<String>> = (ctx.catalogue.programs().iter())
        .filter_map(|p| Some((p, p.declared.syscalls_per_echo.as_ref()?)))
        .map(|(p, s)| {
            let io = match &s.io {
                Io::OnePerEcho([recv, send]) => format!("one `{recv}` and one `{send}`"),
                Io::Batched(calls) => {
                    let each: Vec<String> = calls
                        .iter()
                        .map(|(c, r)| format!("`{c}` {}", range(r)))
                        .collect();
                    each.join(", ")
                }
            };
            let ctl = match &s.epoll_ctl {
                Ctl::PerEcho(r) => format!("{} per echo", range(r)),
                Ctl::PerTurn(r) => format!("{} per turn", range(r)),
            };
            let load = format!("{:?}", s.load).to_lowercase();
            vec![
                ctx.link(&p.name),
                p.flavor_label(),
                load,
                io,
                range(&s.epoll_wait),
                ctl,
                s.why.clone(),
            ]
        })
        .collect();
    let header = [
        "program",
        "flavor",
        "load",
        "moves datagrams with",
        "epoll_wait",
        "epoll_ctl",
        "why",
    ];
    let md = md_table(&header, &rows)
        + "Declared in each program's `Cargo.toml` (`[package.metadata.study.syscalls-per-echo]`); \
           per echo unless said; load `window`: 2,000 echoes of 64 bytes, 16 in flight; \
           `pingpong`: 1,000 one at a time, 1 ms apart.\n\n";
    Part::new("declared-syscalls.md", md)
}

/// Every pitfall: the step it gets wrong and how it fails.
fn pitfalls(ctx: &Ctx) -> Part {
    let rows: Vec<Vec<String>> = (pairs::pitfalls(ctx.pairs).iter())
        .map(|f| {
            let right = f
                .right
                .as_ref()
                .map_or("—".into(), |r| format!("{} {}", r.name, r.flavor_label()));
            let fails: Vec<String> = (f.program.declared.expected_failure.iter())
                .map(|g| {
                    let checks: Vec<String> = g.checks.iter().map(|c| format!("`{c}`")).collect();
                    format!("{}: {}", checks.join(", "), g.why)
                })
                .collect();
            vec![
                ctx.link(&f.program.name),
                ctx.link(&f.ladder),
                right,
                fails.join("<br>"),
            ]
        })
        .collect();
    let md = md_table(
        &[
            "pitfall",
            "ladder",
            "the step it gets wrong",
            "documented failures",
        ],
        &rows,
    );
    Part::new("pitfalls.md", md)
}
