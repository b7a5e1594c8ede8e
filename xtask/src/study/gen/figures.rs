//! The figures of the book (`gen/figure/NAME.md`), each an SVG drawn from typed
//! results with a one-line caption and the run it comes from.

use harness::results::bench::{
    CoopFigures, Entry, FamilyFigures, IdentFigures, MultisocketFigures, PollsFigures,
    TcpEchoFigures, UdpEchoFigures, WaitersFigures,
};
use harness::results::profile::{difference, Bucket};
use harness::results::{Run, Stat};
use harness::{Family, Program};

use super::part::{block, runs_line, Ctx, Part};
use crate::study::svg::{
    flavor_style, part_style, short, BarSeries, Bars, Line, Lines, Panel, Value,
};

pub fn parts(ctx: &Ctx) -> Vec<Part> {
    vec![
        where_cpu_goes(ctx),
        syscalls_per_echo(ctx),
        udp_bars(ctx, "cpu-per-echo", "server CPU per echo, µs", |f| {
            Some(f.cpu_per_echo_ns / 1e3)
        }),
        udp_bars(
            ctx,
            "rtt",
            "round-trip time at one datagram in flight, p50, µs",
            |f| Some(f.rtt_p50_us),
        ),
        udp_bars(
            ctx,
            "flood-share",
            "of what the server read of a flood, % echoed",
            |f| f.flood.flood_read_share.map(|s| s * 100.0),
        ),
        next_vs_raw(ctx),
        bridge_cost(ctx),
        polls_per_datagram(ctx),
        cpu_vs_sockets(ctx),
        wakeup_fds(ctx),
        family_bars::<TcpEchoFigures>(
            ctx,
            ("tcp-echo", "server CPU per MB echoed, µs"),
            None,
            |f| Some(f.cpu_per_mb_us),
        ),
        ident(ctx),
        // Who a datagram wakes: per task, wake-ups per datagram sent one at a time.
        waiters(
            ctx,
            (
                "waiters-woken",
                "Wake-ups per datagram of each task waiting on one socket",
                "wake-ups per datagram, datagrams sent one at a time",
            ),
            |f| f.tasks.len(),
            |t| format!("task #{t}"),
            |f, t| Some(f.tasks.get(t)?.woken as f64 / f.probes.max(1) as f64),
        ),
        // When each datagram of a burst was read, in the order read.
        waiters(
            ctx,
            (
                "waiters-burst",
                "When each datagram of a burst was read",
                "ms after the burst, each task busy per datagram",
            ),
            |f| f.burst.len(),
            |i| format!("datagram {} read", i + 1),
            |f, i| Some(f.burst.get(i)?.after_ms),
        ),
        coop(
            ctx,
            "ticker-delay",
            "the ticker's worst delay under the flood, ms",
            None,
            |f| f.worst_late_us as f64 / 1e3,
        ),
        coop(
            ctx,
            "most-per-poll",
            "the most datagrams read in one poll",
            Some((128.0, "tokio's budget, 128")),
            |f| f.most_per_poll as f64,
        ),
    ]
}

/// Where an echo's CPU goes: a stacked bar per server profiled, a part per bucket
/// (the whiskers, the whole's lowest and highest round, go with the last part); and
/// where echo-compio's CPU goes beside echo-uring's.
fn where_cpu_goes(ctx: &Ctx) -> Part {
    let profile = &ctx.results.profile;
    let split: Vec<_> = (profile.records().iter())
        .filter_map(|r| Some((r, r.data.split()?)))
        .collect();
    let caption = "Where an echo's CPU goes: server CPU per echo, ns, by where perf's samples fell";
    if split.is_empty() {
        let skipped = profile.file.data().find_map(|e| e.skipped.clone());
        let why = (profile.error.clone().or(skipped)).unwrap_or("nothing was profiled".into());
        let command = "cargo xtask bench --perf";
        return Part::missing("figure/where-cpu-goes.md", caption, &why, command);
    }
    let last = |i: usize, t: &Stat, v: f64| match i + 1 == Bucket::ALL.len() {
        true => Value::spread(v, t.min, t.max),
        false => Value::exact(v),
    };
    let series = (Bucket::ALL.iter().enumerate()).map(|(i, b)| BarSeries {
        name: b.describe().into(),
        style: part_style(i),
        values: (split.iter())
            .map(|(_, (t, ns))| Some(last(i, t, ns[i])))
            .collect(),
    });
    let categories = split.iter().map(|(r, _)| r.data.title()).collect();
    let mut chart = bars(categories, |_, _| None, vec![], "server CPU per echo, ns");
    (chart.series, chart.stacked) = (series.collect(), true);
    let runs = split.iter().map(|(r, _)| &r.run).collect();
    let mut part = figure(ctx, ("where-cpu-goes", caption), chart.svg(), runs);
    let find = |p: &str| profile.file.data().find(|e| e.title() == p);
    let compio = find("echo-compio next").zip(find("echo-uring next"));
    let said = compio.and_then(|(a, b)| difference(a, b));
    part.md += &said.unwrap_or_default();
    part
}

/// A figure part: the SVG, its caption, the runs it comes from.
pub(super) fn figure(
    ctx: &Ctx,
    (name, caption): (&str, &str),
    svg: anyhow::Result<String>,
    runs: Vec<&Run>,
) -> Part {
    let now = ctx.results.now;
    let path = format!("figure/{name}.md");
    let svg = match svg {
        Ok(svg) => svg,
        Err(e) => {
            return Part::missing(&path, caption, &format!("it could not be drawn: {e:#}"), "")
        }
    };
    let file = format!("{name}.svg");
    let (w, h) = size(&svg).unwrap_or((760, 400));
    let html = format!(
        "<figure class=\"fig\"><img src=\"{{{{root}}}}figures/{file}\" alt=\"{caption}\" width=\"{w}\" \
         height=\"{h}\" loading=\"lazy\"><figcaption>{caption}</figcaption></figure>"
    );
    let mut part = Part::new(
        &path,
        block(&html) + &runs_line("Measured by", runs.into_iter(), now),
    );
    part.figures.push((file, svg));
    part
}

/// `width` and `height` of an SVG document's root element.
fn size(svg: &str) -> Option<(u32, u32)> {
    let head = &svg[..svg.find('>')?];
    let attr = |name: &str| -> Option<u32> {
        let at = head.find(&format!(" {name}=\""))? + name.len() + 3;
        head[at..].split('"').next()?.parse().ok()
    };
    Some((attr("width")?, attr("height")?))
}

pub(super) fn value(s: Stat) -> Value {
    Value::spread(s.median, s.min, s.max)
}

/// Bars: one group per category, one bar per flavor label present, in story order.
fn bars(
    categories: Vec<String>,
    values: impl Fn(&str, &str) -> Option<Value>,
    labels: Vec<String>,
    axis: &str,
) -> Bars {
    let series = (labels.iter())
        .map(|label| BarSeries {
            name: label.clone(),
            style: flavor_style(label),
            values: categories.iter().map(|c| values(c, label)).collect(),
        })
        .filter(|s| s.values.iter().any(Option::is_some))
        .collect();
    Bars {
        categories,
        series,
        axis: axis.to_string(),
        log: false,
        reference: None,
        format: short,
        stacked: false,
    }
}

/// The flavor labels among `labels`, once each, in story order.
fn ordered<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out = ordered_programs(labels);
    out.sort_by_key(|l| harness::flavor::label_rank(l));
    out
}

/// The bench entries of family `F` (default configuration, no socket count).
pub(super) fn entries_of<'a, F: FamilyFigures + 'a>(ctx: &'a Ctx) -> Vec<(&'a Entry, &'a Run)> {
    let plain =
        |e: &Entry| e.variant.is_none() && e.sockets.is_none() && e.rounds_of::<F>().is_some();
    ctx.results
        .entries()
        .filter(|(e, _)| plain(e) && e.skipped.is_none())
        .collect()
}

/// One figure of family `F` over its entries: programs as groups, flavors as bars,
/// and a reference line (the figure's value and what it is), if any.
fn family_bars<F: FamilyFigures>(
    ctx: &Ctx,
    (name, axis): (&str, &str),
    reference: Option<(f64, String)>,
    get: impl Fn(&F) -> Option<f64> + Copy,
) -> Part {
    let entries = entries_of::<F>(ctx);
    if entries.is_empty() {
        return no_bench(ctx, name, axis);
    }
    let programs = ordered_programs(entries.iter().map(|(e, _)| e.program.as_str()));
    let labels = ordered(entries.iter().map(|(e, _)| e.flavor.as_str()));
    let find = |p: &str, l: &str| (entries.iter()).find(|(e, _)| e.program == p && e.flavor == l);
    let v = |p: &str, l: &str| find(p, l).and_then(|(e, _)| e.stat(get)).map(value);
    let chart = Bars {
        reference,
        ..bars(programs, v, labels, axis)
    };
    let runs = entries.iter().map(|(_, r)| *r).collect();
    figure(ctx, (name, &capitalised(axis)), chart.svg(), runs)
}

/// The programs among `names`, once each, in order of first appearance.
pub(super) fn ordered_programs<'a>(names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let unseen = names.filter(|n| seen.insert(*n));
    unseen.map(String::from).collect()
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map_or(String::new(), |f| f.to_uppercase().chain(c).collect())
}

pub(super) fn no_bench(ctx: &Ctx, name: &str, what: &str) -> Part {
    let why = (ctx.results.bench.error.clone())
        .unwrap_or_else(|| "the bench has measured none of its programs".into());
    let (path, what) = (format!("figure/{name}.md"), capitalised(what));
    Part::missing(&path, &what, &why, "cargo xtask bench")
}

/// A UDP echo figure, with raw epoll-edge's median as the reference line.
fn udp_bars(ctx: &Ctx, name: &str, axis: &str, get: fn(&UdpEchoFigures) -> Option<f64>) -> Part {
    let raw = ctx
        .results
        .stat::<UdpEchoFigures>("echo-epoll-edge", "modern", get);
    let reference = raw.map(|raw| (raw.median, "raw epoll-edge (modern), median".into()));
    family_bars::<UdpEchoFigures>(ctx, (name, axis), reference, get)
}

/// System calls per echo of every traced UDP echo program, per flavor.
fn syscalls_per_echo(ctx: &Ctx) -> Part {
    let udp = |p: &&Program| p.family().is_ok_and(|f| f == Family::UdpEcho);
    let names = ordered_programs(
        ctx.catalogue
            .programs()
            .iter()
            .filter(udp)
            .map(|p| p.name.as_str()),
    );
    let sides: Vec<_> = (ctx.results.trace.records().iter())
        .filter(|r| names.contains(&r.data.program))
        .collect();
    if sides.is_empty() {
        let why = "no UDP echo program has been traced";
        return Part::missing(
            "figure/syscalls-per-echo.md",
            "System calls per echo",
            why,
            "cargo xtask trace --all",
        );
    }
    let programs = ordered_programs(sides.iter().map(|r| r.data.program.as_str()));
    let labels = ordered(sides.iter().map(|r| r.data.flavor.as_str()));
    let v = |p: &str, l: &str| Some(Value::exact(ctx.results.side(p, l)?.data.total_per_unit()));
    let chart = bars(programs, v, labels, "system calls per echo, under strace");
    let runs = sides.iter().map(|r| &r.run).collect();
    let caption = "System calls per echo under strace (10,000 echoes, 16 in flight)";
    figure(ctx, ("syscalls-per-echo", caption), chart.svg(), runs)
}

/// The next programs beside raw epoll-edge: server CPU per echo, and system calls per
/// echo, one figure each.
fn next_vs_raw(ctx: &Ctx) -> Part {
    let entries: Vec<_> = (entries_of::<UdpEchoFigures>(ctx).into_iter())
        .filter(|(e, _)| e.flavor == "next" || e.is("echo-epoll-edge", "modern"))
        .collect();
    if !entries.iter().any(|(e, _)| e.flavor == "next") {
        return no_bench(ctx, "next-vs-raw", "the next programs beside raw epoll");
    }
    let programs = ordered_programs(entries.iter().map(|(e, _)| e.program.as_str()));
    let labels = ordered(entries.iter().map(|(e, _)| e.flavor.as_str()));
    let of = |p: &str, l: &str, get: fn(&UdpEchoFigures) -> Option<f64>| {
        let e = entries
            .iter()
            .find(|(e, _)| e.program == p && e.flavor == l)?;
        e.0.stat(get).map(value)
    };
    let cpu = bars(
        programs.clone(),
        |p, l| of(p, l, |f| Some(f.cpu_per_echo_ns / 1e3)),
        labels.clone(),
        "server CPU per echo, µs",
    );
    let calls = bars(
        programs,
        |p, l| of(p, l, |f| f.next_era.syscalls_per_echo),
        labels,
        "system calls per echo (strace -c, one socket)",
    );
    let runs: Vec<&Run> = entries.iter().map(|(_, r)| *r).collect();
    let (first, second) = (
        ("next-vs-raw", "Server CPU per echo"),
        ("next-vs-raw-syscalls", "System calls per echo"),
    );
    figure(ctx, first, cpu.svg(), runs.clone()).and(figure(ctx, second, calls.svg(), runs))
}

/// Each rung of each ladder: its server CPU per unit of work ÷ legacy's, round by
/// round (the bench's ratios).
fn bridge_cost(ctx: &Ctx) -> Part {
    let ladders: Vec<&str> = ctx
        .pairs
        .iter()
        .filter(|p| p.has_ladder())
        .map(|p| p.name.as_str())
        .collect();
    let cpu = [
        "cpu_per_echo_ns",
        "cpu_per_mb_us",
        "open_1_cpu_per_query_us",
        "cpu_per_query_us",
    ];
    let ratios: Vec<_> = (ctx.results.ratios())
        .filter(|(r, _)| cpu.contains(&r.figure.as_str()))
        .filter(|(r, _)| {
            ladders
                .iter()
                .any(|l| r.to.as_deref() == Some(&format!("{l} legacy")))
        })
        .collect();
    if ratios.is_empty() {
        return no_bench(ctx, "bridge-cost", "each rung's CPU against legacy's");
    }
    let label_of =
        |r: &harness::results::bench::Ratio| r.of.rsplit(' ').next().unwrap_or("").to_string();
    let labels = ordered(
        ratios
            .iter()
            .map(|(r, _)| r.of.rsplit(' ').next().unwrap_or("")),
    );
    let v = |ladder: &str, label: &str| {
        let found = ratios
            .iter()
            .find(|(r, _)| r.of == format!("{ladder} {label}") && label_of(r) == label);
        found.and_then(|(r, _)| r.stat()).map(value)
    };
    let programs: Vec<String> = ladders.iter().map(|s| s.to_string()).collect();
    let mut chart = bars(
        programs,
        v,
        labels,
        "server CPU per unit of work ÷ legacy's, same round",
    );
    chart.reference = Some((1.0, "legacy".into()));
    let runs = ratios.iter().map(|(_, r)| *r).collect();
    let caption = "Each rung's server CPU against legacy's";
    figure(ctx, ("bridge-cost", caption), chart.svg(), runs)
}

/// Small multiples, one panel per multi-socket program, a line per flavor.
fn panels<'a, F: FamilyFigures>(
    ctx: &'a Ctx,
    points: impl Fn(&Entry) -> Vec<(f64, Value)>,
    keep: impl Fn(&Entry) -> bool,
) -> (Vec<Panel>, Vec<&'a Run>) {
    let entries: Vec<_> = ctx
        .results
        .entries()
        .filter(|(e, _)| e.rounds_of::<F>().is_some() && keep(e))
        .collect();
    let programs = ordered_programs(entries.iter().map(|(e, _)| e.program.as_str()));
    let panels = (programs.iter())
        .map(|p| {
            let mine: Vec<_> = entries.iter().filter(|(e, _)| &e.program == p).collect();
            let labels = ordered(mine.iter().map(|(e, _)| e.flavor.as_str()));
            let lines = (labels.iter())
                .map(|l| {
                    let of_label = mine.iter().filter(|(e, _)| &e.flavor == l);
                    let mut pts: Vec<(f64, Value)> =
                        of_label.flat_map(|(e, _)| points(e)).collect();
                    pts.sort_by(|a, b| a.0.total_cmp(&b.0));
                    Line {
                        name: l.clone(),
                        style: flavor_style(l),
                        points: pts,
                    }
                })
                .collect();
            Panel {
                title: p.clone(),
                lines,
                marker: None,
            }
        })
        .collect();
    (panels, entries.iter().map(|(_, r)| *r).collect())
}

fn polls_per_datagram(ctx: &Ctx) -> Part {
    let points = |e: &Entry| -> Vec<(f64, Value)> {
        let rounds = e.rounds_of::<PollsFigures>().unwrap_or_default();
        let counts: Vec<usize> = rounds
            .iter()
            .flatten()
            .flat_map(|r| r.points.iter().map(|p| p.sockets))
            .collect();
        let mut counts = counts;
        counts.sort_unstable();
        counts.dedup();
        let at = |n: usize| {
            let v: Vec<f64> = rounds
                .iter()
                .flatten()
                .flat_map(|r| &r.points)
                .filter(|p| p.sockets == n)
                .map(|p| p.median())
                .collect();
            Stat::of(&v).map(value)
        };
        counts
            .into_iter()
            .filter_map(|n| Some((n as f64, at(n)?)))
            .collect()
    };
    let (mut panels, runs) = panels::<PollsFigures>(ctx, points, |_| true);
    if panels.is_empty() {
        return no_bench(ctx, "polls-per-datagram", "futures polled per datagram");
    }
    for p in &mut panels {
        p.marker = Some((30.5, "30 futures".into()));
    }
    let chart = Lines {
        panels,
        x_axis: "sockets".into(),
        y_axis: "futures polled per datagram".into(),
        x_log: true,
        y_log: true,
    };
    let caption = "Futures polled per datagram, against the socket count";
    figure(ctx, ("polls-per-datagram", caption), chart.svg(), runs)
}

fn cpu_vs_sockets(ctx: &Ctx) -> Part {
    let point = |e: &Entry| -> Vec<(f64, Value)> {
        let s = e.stat(|f: &MultisocketFigures| Some(f.cpu_per_datagram_ns / 1e3));
        (e.sockets.zip(s))
            .map(|(n, s)| (n as f64, value(s)))
            .into_iter()
            .collect()
    };
    let (panels, runs) =
        panels::<MultisocketFigures>(ctx, point, |e| e.sockets.is_some() && e.variant.is_none());
    if panels.is_empty() {
        return no_bench(
            ctx,
            "cpu-vs-sockets",
            "server CPU per datagram against the socket count",
        );
    }
    let chart = Lines {
        panels,
        x_axis: "sockets".into(),
        y_axis: "server CPU per datagram, µs".into(),
        x_log: true,
        y_log: true,
    };
    let caption = "Server CPU per datagram received, against the socket count";
    figure(ctx, ("cpu-vs-sockets", caption), chart.svg(), runs)
}

/// Wake-up descriptors (pipe ends, eventfds, socket pairs) each traced side made over
/// its whole run.
fn wakeup_fds(ctx: &Ctx) -> Part {
    let sides = ctx.results.trace.records();
    if sides.is_empty() {
        let why = "nothing has been traced";
        return Part::missing(
            "figure/wakeup-fds.md",
            "Wake-up descriptors per run",
            why,
            "cargo xtask trace --all",
        );
    }
    let programs = ordered_programs(sides.iter().map(|r| r.data.program.as_str()));
    let labels = ordered(sides.iter().map(|r| r.data.flavor.as_str()));
    let v = |p: &str, l: &str| {
        Some(Value::exact(
            ctx.results.side(p, l)?.data.whole_run.wakeup_fds as f64,
        ))
    };
    let chart = bars(
        programs,
        v,
        labels,
        "wake-up descriptors created over the run",
    );
    let caption = "Wake-up descriptors created per run, start-up included";
    let runs = sides.iter().map(|r| &r.run).collect();
    figure(ctx, ("wakeup-fds", caption), chart.svg(), runs)
}

/// Ident: server CPU per query on an open connection, and reply time on fresh
/// connections (the reference server answers one query per connection).
fn ident(ctx: &Ctx) -> Part {
    let entries: Vec<_> = (ctx.results.entries())
        .filter(|(e, _)| e.rounds_of::<IdentFigures>().is_some() && e.skipped.is_none())
        .collect();
    if entries.is_empty() {
        return no_bench(ctx, "ident", "ident server CPU per query");
    }
    let name = |e: &Entry| match &e.variant {
        Some(v) => format!("{} {v}", e.program),
        None => e.program.clone(),
    };
    // A program, then its variants (`ident-tokio --lookup proc`), each a group.
    let names: Vec<String> = entries.iter().map(|(e, _)| name(e)).collect();
    let categories = ordered_programs(names.iter().map(String::as_str));
    let labels = ordered(entries.iter().map(|(e, _)| e.flavor.as_str()));
    let of = |c: &str, l: &str, get: fn(&IdentFigures) -> Option<f64>| {
        let e = entries
            .iter()
            .find(|(e, _)| name(e) == c && e.flavor == l)?;
        e.0.stat(get).map(value)
    };
    let cpu = bars(
        categories.clone(),
        |c, l| of(c, l, |f| f.open_1.map(|q| q.cpu_per_query_us)),
        labels.clone(),
        "server CPU per query, one client, open connection, µs",
    );
    let fresh = bars(
        categories,
        |c, l| of(c, l, |f| f.fresh_1.map(|q| q.p50_us)),
        labels,
        "reply time p50, one client, a fresh connection per query, µs",
    );
    let runs: Vec<&Run> = entries.iter().map(|(_, r)| *r).collect();
    let (first, second) = (
        ("ident", "Server CPU per query"),
        ("ident-fresh", "Reply time on a fresh connection"),
    );
    figure(ctx, first, cpu.svg(), runs.clone()).and(figure(ctx, second, fresh.svg(), runs))
}

/// A figure of udp-waiters: a bar per flavor at each index of a list its rounds
/// keep (`len` long; `category` names an index), `get` its value there.
fn waiters(
    ctx: &Ctx,
    (name, caption, axis): (&str, &str, &str),
    len: fn(&WaitersFigures) -> usize,
    category: fn(usize) -> String,
    get: fn(&WaitersFigures, usize) -> Option<f64>,
) -> Part {
    let entries: Vec<_> = (ctx.results.entries())
        .filter(|(e, _)| e.rounds_of::<WaitersFigures>().is_some())
        .collect();
    if entries.is_empty() {
        return no_bench(ctx, name, caption);
    }
    let rounds = (entries.iter())
        .flat_map(|(e, _)| e.rounds_of::<WaitersFigures>().unwrap_or_default().iter());
    let n = rounds.flatten().map(len).max().unwrap_or(0);
    let categories: Vec<String> = (0..n).map(category).collect();
    let labels = ordered(entries.iter().map(|(e, _)| e.flavor.as_str()));
    let v = |c: &str, l: &str| {
        let i = categories.iter().position(|x| x == c)?;
        let (e, _) = entries.iter().find(|(e, _)| e.flavor == l)?;
        e.stat(|f: &WaitersFigures| get(f, i)).map(value)
    };
    let chart = bars(categories.clone(), v, labels, axis);
    let runs = entries.iter().map(|(_, r)| *r).collect();
    figure(ctx, (name, caption), chart.svg(), runs)
}

/// coop-budget: one figure per `--loop`, both eras.
fn coop(
    ctx: &Ctx,
    name: &str,
    axis: &str,
    reference: Option<(f64, &str)>,
    get: fn(&CoopFigures) -> f64,
) -> Part {
    let entries: Vec<_> = ctx
        .results
        .entries()
        .filter(|(e, _)| e.rounds_of::<CoopFigures>().is_some())
        .collect();
    if entries.is_empty() {
        return no_bench(ctx, name, axis);
    }
    let loops = ordered_programs(entries.iter().filter_map(|(e, _)| e.variant.as_deref()));
    let labels = ordered(entries.iter().map(|(e, _)| e.flavor.as_str()));
    let v = |c: &str, l: &str| {
        let (e, _) = entries
            .iter()
            .find(|(e, _)| e.flavor == l && e.variant.as_deref() == Some(c))?;
        e.stat(|f: &CoopFigures| Some(get(f))).map(value)
    };
    let mut chart = bars(loops, v, labels, axis);
    chart.reference = reference.map(|(x, s)| (x, s.to_string()));
    let runs = entries.iter().map(|(_, r)| *r).collect();
    figure(ctx, (name, &capitalised(axis)), chart.svg(), runs)
}
