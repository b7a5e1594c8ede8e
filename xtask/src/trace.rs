//! `cargo xtask trace PROGRAM… [--flavor legacy|modern] [--format table|json]` — runs
//! each side of a pair (release build) under `strace -f`, drives it with a fixed,
//! bounded workload on loopback, stops it with SIGTERM, and prints the system calls per
//! unit of work of both sides next to each other.
//!
//! The workload depends on the program's family (declared in its `Cargo.toml`): 10,000
//! echoes with 16 in flight for the UDP echo servers (the step the suite's
//! `syscalls-per-echo` check runs too, shorter: `harness::traced::udp_echo`),
//! datagrams spread over the sockets of the multi-socket programs, datagrams one at a
//! time to the idle tasks of `udp-waiters`, a flood for `coop-budget`, kilobytes
//! through the TCP echo servers, queries for the ident servers, and for the demos
//! their own sequence. Per-unit figures count only the calls made while the workload
//! ran (by strace's timestamps); a second table counts the whole run, start-up
//! included, which is where a runtime's wake-up pipes and eventfds are made. The
//! strace reader, the running under strace and each family's workload live in `harness`
//! (`strace`, `traced`, `traced::workload`).
//!
//! A `next` program (io_uring, batched I/O) has no legacy side: it is traced beside
//! its declared readiness sibling (`echo-uring` beside modern `echo-epoll-edge`), so
//! that `io_uring_enter` per echo reads against `epoll_wait`, `recvfrom` and `sendto`
//! per echo. For the echo and ident families the server's CPU time per unit (echo,
//! KiB, query) is measured too, in a second run of the same workload without strace
//! (ptrace multiplies the cost of a system call, so a traced run says nothing about
//! CPU).
//!
//! Besides what it prints, every traced side is kept, with the run that traced it, in
//! `target/results/trace.json` (merged with what is there: the newest trace of each
//! side), where `cargo xtask study` reads it; its raw strace output is kept in
//! `target/trace/PROGRAM-FLAVOR.strace`.

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use harness::results::run::load_average;
use harness::results::trace::TraceSide;
use harness::results::{default_dir, File, Run};
use harness::strace::{self, Tally, MAIN_ROWS};
use harness::traced::find_strace;
use harness::traced::workload::{self, Workload};
use harness::workspace::relative;
use harness::{build, project_root, Catalogue, Flavor, Profile};

use crate::args::{self, FlavorArg, Format};
use crate::diff;
use harness::pairs::{self, Pair};

#[derive(clap::Args)]
pub struct Args {
    /// Programs to trace (e.g. echo-tokio).
    programs: Vec<String>,
    /// Trace every pair (pitfalls only when named).
    #[arg(long)]
    all: bool,
    /// Only this flavor.
    #[arg(long, value_enum)]
    flavor: Option<FlavorArg>,
    /// Output format: a table for people, or the traced sides as JSON for scripts.
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
    /// Units of work instead of the family's default (e.g. echoes).
    #[arg(long)]
    count: Option<u64>,
}

/// The traced sides of one program, as printed together.
#[derive(Debug, Clone)]
pub struct ProgramTrace {
    pub program: String,
    pub unit: String,
    pub workload: String,
    pub sides: Vec<TraceSide>,
}

/// Rows of the trace table beyond the main ones.
const MAX_EXTRA_ROWS: usize = 6;

pub fn main(args: Args) -> Result<i32> {
    let catalogue = Catalogue::load()?;
    let all = pairs::pairs(&catalogue);
    let chosen: Vec<&Pair> = if args.all {
        // A pitfall (a ladder's step done in the wrong order) may fail the workload on
        // purpose (one ignores SIGTERM): traced when named, not with --all.
        all.iter()
            .filter(|p| p.programs().all(|p| p.declared.pitfall_of.is_none()))
            .collect()
    } else if args.programs.is_empty() {
        let names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
        return Err(harness::UsageError(format!(
            "name a program, or use --all; the programs are: {}",
            names.join(", ")
        ))
        .into());
    } else {
        args.programs
            .iter()
            .map(|n| pairs::find(&all, n))
            .collect::<Result<_>>()?
    };
    // A next program is traced beside its readiness sibling, a pitfall beside the
    // step it gets wrong.
    let shown: Vec<Pair> = chosen.iter().map(|p| diff::as_shown(&all, p)).collect();
    let chosen: Vec<&Pair> = shown.iter().collect();
    // A program that does not say what it is has no workload: name it and stop.
    for p in &chosen {
        p.family()?;
    }
    // Say what is missing before building anything.
    find_strace()?;
    let flavors = args::flavors(args.flavor);
    let table_format = args.format == Format::Table;
    let started = Instant::now();
    let load = load_average();
    let results = trace_pairs(&chosen, &flavors, args.count, &|trace| {
        if table_format {
            println!("{}", table(trace));
        }
    })?;
    let (mut failed, mut sides) = (0, Vec::new());
    for (name, result) in results {
        match result {
            Ok(t) => sides.extend(t.sides),
            Err(e) => {
                failed += 1;
                eprintln!("error: {name}: {e:#}");
            }
        }
    }
    let run = Run::now("release", started.elapsed(), vec![[load, load_average()]]);
    let kept = File::merge_into(&default_dir(), &run, sides.clone())?;
    match table_format {
        true => eprintln!("kept in {}", relative(&kept)),
        false => println!("{}", serde_json::to_string_pretty(&sides)?),
    }
    Ok(if failed > 0 { 1 } else { 0 })
}

/// Builds (release) and traces each side of `chosen` in `flavors`; one result per
/// pair, in order, each reported to `on_done` as it completes. Fails as a whole only
/// when strace is missing or the build fails.
pub fn trace_pairs(
    chosen: &[&Pair],
    flavors: &[Flavor],
    count: Option<u64>,
    on_done: &dyn Fn(&ProgramTrace),
) -> Result<Vec<(String, Result<ProgramTrace>)>> {
    let strace = find_strace()?;
    let packages: Vec<&str> = chosen
        .iter()
        .flat_map(|p| p.programs().filter(|p| flavors.contains(&p.flavor)))
        .map(|p| p.package.as_str())
        .collect();
    ensure!(!packages.is_empty(), "no package of that flavor to trace");
    eprintln!("building {} (release)…", packages.join(", "));
    let built = build(&packages, Profile::Release)?;
    let mut out = Vec::new();
    for pair in chosen {
        let result = trace_pair(&strace, pair, flavors, &built, count);
        if let Ok(t) = &result {
            on_done(t);
        }
        out.push((pair.name.clone(), result));
    }
    Ok(out)
}

fn trace_pair(
    strace: &Path,
    pair: &Pair,
    flavors: &[Flavor],
    built: &harness::Built,
    count: Option<u64>,
) -> Result<ProgramTrace> {
    let family = pair.family()?;
    let count = count.unwrap_or_else(|| family.default_count()).max(1);
    let mut out = ProgramTrace {
        program: pair.name.clone(),
        unit: family.unit().to_string(),
        workload: family.describe(count),
        sides: Vec::new(),
    };
    let dir = project_root().join("target").join("trace");
    fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for program in pair.programs().filter(|p| flavors.contains(&p.flavor)) {
        if let Some(why) = harness::needs::unmet(&program.declared.needs, harness::needs::machine) {
            eprintln!("not traced: {} ({why})", program.package);
            continue;
        }
        let exe = built.exe(&program.package)?;
        let label = program.flavor_label();
        let raw = dir.join(format!("{}-{label}.strace", program.name));
        eprintln!("tracing {} ({})…", program.package, out.workload);
        let measured = workload::trace(strace, exe, &raw, family, count)
            .with_context(|| format!("tracing {}", program.package))?;
        let cpu_ns_per_unit = workload::cpu_per_unit(exe, family, count)
            .with_context(|| format!("measuring the CPU time of {}", program.package))?;
        out.sides.push(TraceSide {
            program: pair.name.clone(),
            flavor: label,
            traced: (program.name != pair.name).then(|| program.name.clone()),
            unit: out.unit.clone(),
            workload: out.workload.clone(),
            units: measured.units,
            seconds: measured.seconds,
            calls: measured.workload,
            whole_run: measured.whole_run,
            raw: relative(&raw),
            cpu_ns_per_unit,
        });
    }
    Ok(out)
}

/// Rows shown for `trace`: the main rows, then the other syscalls made at least once
/// per 20 units on either side (the most frequent few), then the rest as `other`.
pub fn rows(sides: &[TraceSide]) -> Vec<(String, Vec<f64>)> {
    let per_unit = |t: &TraceSide, n: u64| n as f64 / t.units.max(1) as f64;
    let row = |name: &str| -> Vec<f64> { sides.iter().map(|t| t.per_unit(name)).collect() };
    let mut out: Vec<(String, Vec<f64>)> =
        MAIN_ROWS.iter().map(|r| (r.to_string(), row(r))).collect();
    // Other calls made at least once per 20 units get a row of their own, the most
    // frequent first and at most MAX_EXTRA_ROWS of them; a workload of a single run
    // shows the main rows only (everything start-up does would be "frequent").
    let names: BTreeSet<&String> = (sides.iter())
        .flat_map(|t| t.calls.rows.keys())
        .filter(|name| !MAIN_ROWS.contains(&name.as_str()))
        .collect();
    let peak = |name: &str| row(name).into_iter().fold(0.0, f64::max);
    let one_run = sides.iter().any(|t| t.unit == "run");
    let mut extra: Vec<&String> = (names.into_iter())
        .filter(|name| !one_run && peak(name) >= 0.05)
        .collect();
    extra.sort_by(|a, b| peak(b).total_cmp(&peak(a)).then(a.cmp(b)));
    extra.truncate(MAX_EXTRA_ROWS);
    out.extend(extra.iter().map(|name| (name.to_string(), row(name))));
    let other = sides.iter().map(|t| {
        let shown = MAIN_ROWS
            .iter()
            .copied()
            .chain(extra.iter().map(|r| r.as_str()));
        per_unit(
            t,
            t.calls.total - shown.map(|r| t.calls.get(r)).sum::<u64>(),
        )
    });
    out.push(("other".to_string(), other.collect()));
    out.push((
        "total".to_string(),
        sides.iter().map(TraceSide::total_per_unit).collect(),
    ));
    out
}

/// Figures of the whole run (start-up included), as whole numbers.
pub fn whole_run_rows(sides: &[TraceSide]) -> Vec<(&'static str, Vec<u64>)> {
    let col = |f: fn(&Tally) -> u64| sides.iter().map(|t| f(&t.whole_run)).collect();
    vec![
        ("threads", col(|t| t.threads as u64)),
        ("epoll instances", col(|t| t.epoll_instances)),
        ("wake-up fds created", col(|t| t.wakeup_fds)),
        ("pipe2", col(|t| t.get(strace::PIPE))),
        ("eventfd2", col(|t| t.get(strace::EVENTFD))),
        ("socketpair", col(|t| t.get("socketpair"))),
        ("system calls", col(|t| t.total)),
    ]
}

/// A per-unit figure: two decimals, more for a small non-zero one, none for zero.
pub fn format_per_unit(v: f64) -> String {
    match v {
        0.0 => "0".to_string(),
        v if v < 0.01 => format!("{v:.4}"),
        v => format!("{v:.2}"),
    }
}

/// The side-by-side table of one program.
pub fn table(trace: &ProgramTrace) -> String {
    let sides = &trace.sides;
    let mut out = format!(
        "trace of {}: {} (release build, strace -f)\n",
        trace.program, trace.workload
    );
    for t in sides.iter().filter_map(|t| Some((t, t.traced.as_ref()?))) {
        let (side, traced) = t;
        let role = match side.flavor.starts_with("bridge") {
            true => "the step it gets wrong",
            false => "its readiness sibling",
        };
        out += &format!("  column {}: {traced}, {role}\n", side.flavor);
    }
    let head = |title: &str| -> Vec<String> {
        std::iter::once(title.to_string())
            .chain(sides.iter().map(|t| t.flavor.clone()))
            .collect()
    };
    let mut body: Vec<Vec<String>> = Vec::new();
    for (name, values) in rows(sides) {
        // A workload of one run shows counts: no decimals.
        let cell = |v: &f64| match trace.unit.as_str() {
            "run" => format!("{v:.0}"),
            _ => format_per_unit(*v),
        };
        body.push(
            std::iter::once(name)
                .chain(values.iter().map(cell))
                .collect(),
        );
    }
    let row = |name: String, f: &dyn Fn(&TraceSide) -> String| -> Vec<String> {
        std::iter::once(name).chain(sides.iter().map(f)).collect()
    };
    if sides.iter().any(|t| t.cpu_ns_per_unit.is_some()) {
        let cpu = |t: &TraceSide| {
            t.cpu_ns_per_unit
                .map_or("—".into(), |ns| format!("{:.2}", ns / 1e3))
        };
        body.push(row(
            format!("server CPU µs per {} (no strace)", trace.unit),
            &cpu,
        ));
    }
    body.push(row("units of work".into(), &|t| t.units.to_string()));
    body.push(row("seconds under strace".into(), &|t| {
        format!("{:.1}", t.seconds)
    }));
    body.push(head("whole run (start-up included)"));
    for (name, values) in whole_run_rows(sides) {
        body.push(
            std::iter::once(name.to_string())
                .chain(values.iter().map(u64::to_string))
                .collect(),
        );
    }
    let title = format!("system calls per {}", trace.unit);
    let header = head(&title);
    let header: Vec<&str> = header.iter().map(String::as_str).collect();
    out += &harness::table(&header, body);
    let raws: Vec<&str> = sides.iter().map(|t| t.raw.as_str()).collect();
    out + &format!("raw traces: {}\n", raws.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(name: &str, units: u64, rows: &[(&str, u64)]) -> TraceSide {
        let mut t = Tally::default();
        for (r, n) in rows {
            t.rows.insert(r.to_string(), *n);
            t.total += n;
        }
        TraceSide {
            program: "echo-x".into(),
            flavor: name.into(),
            traced: None,
            unit: "echoed datagram".into(),
            workload: "w".into(),
            units,
            seconds: 1.0,
            calls: t.clone(),
            whole_run: t,
            raw: format!("target/trace/x-{name}.strace"),
            cpu_ns_per_unit: None,
        }
    }

    fn line_of<'a>(text: &'a str, name: &str) -> &'a str {
        text.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no line {name:?} in {text}"))
    }

    #[test]
    fn per_unit_rows_extras_and_other() {
        let legacy = [
            ("recvfrom", 100),
            ("sendto", 100),
            ("pselect6", 100),
            ("brk", 3),
        ];
        let modern = [("recvfrom", 106), ("sendto", 100), ("epoll_wait", 52)];
        let trace = ProgramTrace {
            program: "echo-x".into(),
            unit: "echoed datagram".into(),
            workload: "w".into(),
            sides: vec![side("legacy", 100, &legacy), side("modern", 100, &modern)],
        };
        let rows = rows(&trace.sides);
        let get = |n: &str| {
            rows.iter()
                .find(|(r, _)| r == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(get("recvfrom"), [1.0, 1.06]);
        assert_eq!(get("epoll_wait"), [0.0, 0.52]);
        assert_eq!(
            get("pselect6"),
            [1.0, 0.0],
            "a frequent syscall gets its own row"
        );
        assert_eq!(get("other"), [0.03, 0.0], "rare ones are summed");
        assert_eq!(get("total"), [3.03, 2.58]);
        assert!(rows.iter().all(|(r, _)| r != "brk"));
        let text = table(&trace);
        assert!(text.contains("system calls per echoed datagram"));
        let cells = |name: &str| -> Vec<String> {
            let l = line_of(&text, name);
            l.split("  ")
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(String::from)
                .collect()
        };
        assert_eq!(cells("pselect6"), ["pselect6", "1.00", "0"], "{text}");
        assert_eq!(cells("recvfrom"), ["recvfrom", "1.00", "1.06"], "{text}");
        assert_eq!(cells("other"), ["other", "0.03", "0"], "{text}");
        assert!(
            !text.contains("server CPU"),
            "no CPU row when none was measured"
        );
        let mut measured = trace.clone();
        measured.sides[1].cpu_ns_per_unit = Some(4_250.0);
        measured.sides[1].traced = Some("echo-y".into());
        let text = table(&measured);
        let cpu = line_of(&text, "server CPU µs per echoed datagram (no strace)");
        assert!(
            cpu.trim_end().ends_with("—  4.25") || cpu.contains("4.25"),
            "{text}"
        );
        assert!(
            text.contains("column modern: echo-y, its readiness sibling"),
            "{text}"
        );
        assert!(text.lines().all(|l| l.chars().count() <= 100), "{text}");
    }
}
