//! The depth sweep's figures: server CPU per echo and echoes per second against the
//! datagrams in flight, a panel per client-socket count, a line per program. A
//! program's colour is its flavor's; programs of one flavor differ by their mark.

use harness::results::bench::{DepthPoint, Entry, UdpEchoFigures};
use harness::results::{Run, Stat};

use super::figures::{entries_of, figure, no_bench, ordered_programs, value};
use super::part::{md_table, runs_line, Ctx, Part};
use crate::study::svg::{flavor_style, Line, Lines, Mark, Panel, Style, Value};

pub fn parts(ctx: &Ctx) -> Vec<Part> {
    vec![
        chart(ctx, "depth-cpu", "server CPU per echo, µs", |p| {
            p.cpu_per_echo_ns / 1e3
        }),
        chart(ctx, "depth-rate", "echoes per second", |p| p.echoes_per_s),
        table(ctx),
    ]
}

/// The entries that ran the sweep, in their default configuration.
fn swept<'a>(ctx: &'a Ctx) -> Vec<(&'a Entry, &'a Run)> {
    (entries_of::<UdpEchoFigures>(ctx).into_iter())
        .filter(|(e, _)| e.variant.is_none() && !rounds(e).is_empty())
        .collect()
}

/// Per load of the sweep, each program's median CPU per echo and its ratio to raw
/// epoll-edge's at the same load: where completion and batching win, and by how much.
fn table(ctx: &Ctx) -> Part {
    let entries = swept(ctx);
    let path = "table/depth.md";
    if entries.is_empty() {
        return Part::missing(
            path,
            "the depth sweep",
            "no bench results",
            "cargo xtask bench",
        );
    }
    let median = |e: &Entry, n: usize, d: usize| {
        let v: Vec<f64> = (rounds(e).into_iter())
            .filter(|p| (p.sockets, p.in_flight) == (n, d))
            .map(|p| p.cpu_per_echo_ns / 1e3)
            .collect();
        Stat::of(&v).map(|s| s.median)
    };
    let raw = entries
        .iter()
        .find(|(e, _)| e.is("echo-epoll-edge", "modern"));
    let mut loads: Vec<(usize, usize)> = (entries.iter())
        .flat_map(|(e, _)| rounds(e).into_iter().map(|p| (p.sockets, p.in_flight)))
        .collect();
    loads.sort_unstable();
    loads.dedup();
    let rows: Vec<Vec<String>> = (loads.iter())
        .map(|&(n, d)| {
            let base = raw.and_then(|(r, _)| median(r, n, d));
            let cell = |(e, _): &(&Entry, &Run)| match (median(e, n, d), base) {
                (Some(v), Some(b)) => format!("{v:.2} ({:.2}×)", v / b),
                (Some(v), None) => format!("{v:.2}"),
                (None, _) => "—".into(),
            };
            [n.to_string(), d.to_string()]
                .into_iter()
                .chain(entries.iter().map(cell))
                .collect()
        })
        .collect();
    let names: Vec<String> = (entries.iter())
        .map(|(e, _)| format!("{} ({}), µs (÷ raw)", e.program, e.flavor))
        .collect();
    let mut header = vec!["client sockets", "in flight"];
    header.extend(names.iter().map(String::as_str));
    let runs = entries.iter().map(|(_, r)| *r);
    Part::new(
        path,
        md_table(&header, &rows) + &runs_line("Measured by", runs, ctx.results.now),
    )
}

/// Every point of the sweep `e` has, over all its rounds.
fn rounds(e: &Entry) -> Vec<&DepthPoint> {
    let rounds = e.rounds_of::<UdpEchoFigures>().unwrap_or_default();
    rounds.iter().flatten().flat_map(|r| &r.depth).collect()
}

/// The points of `e` at `sockets` client sockets: one per depth, over the rounds.
fn points(e: &Entry, sockets: usize, get: fn(&DepthPoint) -> f64) -> Vec<(f64, Value)> {
    let all: Vec<&DepthPoint> = (rounds(e).into_iter())
        .filter(|p| p.sockets == sockets)
        .collect();
    let mut depths: Vec<usize> = all.iter().map(|p| p.in_flight).collect();
    depths.sort_unstable();
    depths.dedup();
    let at = |d: usize| {
        let v: Vec<f64> = (all.iter())
            .filter(|p| p.in_flight == d)
            .map(|p| get(p))
            .collect();
        Stat::of(&v).map(value)
    };
    (depths.into_iter())
        .filter_map(|d| Some((d as f64, at(d)?)))
        .collect()
}

fn chart(ctx: &Ctx, name: &str, axis: &str, get: fn(&DepthPoint) -> f64) -> Part {
    let entries = swept(ctx);
    if entries.is_empty() {
        return no_bench(ctx, name, "the depth sweep");
    }
    let programs = ordered_programs(entries.iter().map(|(e, _)| e.program.as_str()));
    let mut sockets: Vec<usize> = (entries.iter())
        .flat_map(|(e, _)| rounds(e).into_iter().map(|p| p.sockets))
        .collect();
    sockets.sort_unstable();
    sockets.dedup();
    let marks = [Mark::Triangle, Mark::Circle, Mark::Diamond, Mark::Square];
    let panels = (sockets.iter())
        .map(|&n| Panel {
            title: format!("{n} client socket{}", if n == 1 { "" } else { "s" }),
            lines: (entries.iter().enumerate())
                .map(|(i, (e, _))| Line {
                    name: format!("{} ({})", e.program, e.flavor),
                    style: Style {
                        mark: marks[programs.iter().position(|p| *p == e.program).unwrap_or(i) % 4],
                        ..flavor_style(&e.flavor)
                    },
                    points: points(e, n, get),
                })
                .collect(),
            marker: None,
        })
        .collect();
    let chart = Lines {
        panels,
        x_axis: "datagrams in flight".into(),
        y_axis: axis.into(),
        x_log: true,
        y_log: true,
    };
    let runs = entries.iter().map(|(_, r)| *r).collect();
    let caption = format!("The depth sweep: {axis}, against the datagrams in flight");
    figure(ctx, (name, &caption), chart.svg(), runs)
}
