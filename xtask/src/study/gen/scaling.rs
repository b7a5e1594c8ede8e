//! The parts of `cargo xtask bench --scaling`: its figures against the server's
//! threads (a chart per family, a line per program and flavor), and its table.

use harness::results::scaling::{curves, tables, Curve, Echo, ScalingEntry, ScalingFigures};
use harness::results::Record;

use super::figures::{figure, value};
use super::part::{md_table, runs_line, spread, Ctx, Part};
use crate::study::svg::{flavor_style, Line, Lines, Panel};

type Get = fn(&ScalingFigures) -> f64;
/// A figure: its name, caption, panels (a title and a figure each), y axis, and
/// whether that is a log scale.
type Figure<'a> = (&'a str, &'a str, &'a [(&'a str, Get)], &'a str, bool);
const HOW: &str = "cargo xtask bench --scaling";
const WHY: &str = "nothing has been measured on threads";

pub fn parts(ctx: &Ctx) -> Vec<Part> {
    let (p50, p99): (Get, Get) = (|f| f.p50_us, |f| f.p99_us);
    // A table, kept one figure to a line.
    #[rustfmt::skip]
    let figures: [Figure; 4] = [
        ("rate", "Closed loop: the rate", &[("", |f| f.rate)], "{rate}", false),
        ("cpu", "Closed loop: server CPU", &[("", |f| f.cpu_per_unit_us)], "CPU µs per {per}", false),
        ("latency", "Paced load: the round trip", &[(" p50", p50), (" p99", p99)], "µs", true),
        ("fairness", "Closed loop: fairness", &[("", |f| f.jain)], "Jain's index", false),
    ];
    let mut parts: Vec<Part> = (figures.iter()).map(|f| chart(ctx, *f)).collect();
    parts.push(table(ctx));
    parts
}

/// A chart per family, a panel per figure of `panels`, a line per program and flavor;
/// a mark where the load generator starts to share the server's CPUs.
fn chart(ctx: &Ctx, (name, caption, panels, axis, y_log): Figure) -> Part {
    let path = format!("figure/scaling-{name}.md");
    let mut part = Part::new(&path, String::new());
    for echo in [Echo::Udp, Echo::Tcp] {
        let mine = ctx.results.scaling.records().iter();
        let mine: Vec<&Record<ScalingEntry>> = mine.filter(|r| r.data.echo == echo).collect();
        let Some(first) = mine.first() else { continue };
        let shared = (mine.iter()).filter_map(|r| r.data.client_shares.then_some(r.data.threads));
        let (shared, cores) = (shared.min(), first.run.machine.cores);
        let [family, rate, per] = echo.words();
        let entries: Vec<&ScalingEntry> = mine.iter().map(|r| &r.data).collect();
        let panel = |(title, get): &(&str, Get)| Panel {
            title: format!("{family}{title}, {cores} cores"),
            lines: curves(&entries, *get).into_iter().map(line).collect(),
            marker: shared.map(|t| (t as f64 - 0.5, "shared →".into())),
        };
        let chart = Lines {
            panels: panels.iter().map(panel).collect(),
            x_axis: "server threads".into(),
            y_axis: axis.replace("{rate}", rate).replace("{per}", per),
            x_log: false,
            y_log,
        };
        let shares = shared.map_or(String::new(), |t| {
            format!("; from {t} threads on, the load generator runs on the server's CPUs")
        });
        let machine = first.run.machine.describe();
        let words = format!("{caption}, {family}, on {machine}{shares}");
        let file = format!("scaling-{name}-{echo:?}").to_lowercase();
        let runs = mine.iter().map(|r| &r.run);
        part = part.and(figure(ctx, (&file, &words), chart.svg(), runs.collect()));
    }
    match part.figures.is_empty() {
        true => Part::missing(&path, caption, WHY, HOW),
        false => part,
    }
}

/// A curve as a line: its flavor's style, median and spread at each thread count.
fn line((flavor, program, points): Curve) -> Line {
    let points = points.into_iter().map(|(t, s)| (t as f64, value(s)));
    let (name, style) = (format!("{flavor} {program}"), flavor_style(flavor));
    Line {
        name,
        style,
        points: points.collect(),
    }
}

/// A table per family: every entry's figures, then the loads and the load average.
fn table(ctx: &Ctx) -> Part {
    let records = ctx.results.scaling.records();
    let Some(Record { run, data }) = records.first() else {
        return Part::missing("table/scaling.md", "The scaling table", WHY, HOW);
    };
    let (mut md, entries) = (String::new(), records.iter().map(|r| r.data.clone()));
    for (family, header, mut rows) in tables(&entries.collect::<Vec<_>>(), &|s| spread(&s, 1.0)) {
        rows.iter_mut().for_each(|row| row[0] = ctx.link(&row[0]));
        let header: Vec<&str> = header.split(" | ").collect();
        md += &format!("**{family}**\n\n{}", md_table(&header, &rows));
    }
    let pair = |[a, b]: &[f64; 2]| format!("{a:.1}→{b:.1}");
    let load: Vec<String> = run.load.iter().map(pair).collect();
    md += &format!(
        "Median over the rounds, lowest and highest in brackets; {}. *(shared)*: the load \
         generator ran on the server's CPUs. The 1-minute load average at the start and end of \
         each round: {}.\n\n",
        data.settings.describe(),
        load.join(", ")
    );
    let runs = records.iter().map(|r| &r.run);
    let md = md + &runs_line("Measured by", runs, ctx.results.now);
    Part::new("table/scaling.md", md)
}
