//! SVG plots of a report (plotters, SVG backend only: text is written as SVG `<text>`
//! and laid out by the viewer, so no font file or system library is needed).

use std::path::Path;

use anyhow::{anyhow, Result};
use harness::Flavor;
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::entry::{find, Entry, Label};
use super::ident::IdentFigures;
use super::multisocket::MultisocketFigures;
use super::oidentd;
use super::report::{fmt_num, Report, Stat};
use super::tcp_echo::TcpEchoFigures;
use super::udp_echo::{UdpEchoFigures, RAW_PROGRAM};

const LEGACY: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
const BRIDGE: RGBColor = RGBColor(0xe7, 0x29, 0x8a);
const MODERN: RGBColor = RGBColor(0x1b, 0x9e, 0x77);
const NEXT: RGBColor = RGBColor(0x66, 0xa6, 0x1e);
const BASELINE: RGBColor = RGBColor(0x75, 0x70, 0xb3);
const REFERENCE: RGBColor = RGBColor(0x66, 0x66, 0x66);
/// Colours of series that are programs (the next era beside raw epoll), in turn.
const PROGRAMS: [RGBColor; 6] = [
    RGBColor(0x44, 0x44, 0x44),
    RGBColor(0x1f, 0x78, 0xb4),
    RGBColor(0x33, 0xa0, 0x2c),
    RGBColor(0xe3, 0x1a, 0x1c),
    RGBColor(0xff, 0x7f, 0x00),
    RGBColor(0x6a, 0x3d, 0x9a),
];
const FONT: &str = "sans-serif";

fn color(label: Label) -> RGBColor {
    match label {
        Label::Baseline => BASELINE,
        Label::Reference => REFERENCE,
        Label::Flavor(Flavor::Legacy, _) => LEGACY,
        // Each step of a ladder a shade lighter than the one before.
        Label::Flavor(Flavor::Bridge, step) => {
            let k = step.unwrap_or(1).saturating_sub(1).min(4) as f64 * 0.18;
            let lighten = |c: u8| c + ((255 - c) as f64 * k) as u8;
            RGBColor(lighten(BRIDGE.0), lighten(BRIDGE.1), lighten(BRIDGE.2))
        }
        Label::Flavor(Flavor::Modern, _) => MODERN,
        Label::Flavor(Flavor::Next, _) => NEXT,
    }
}

/// What one series of bars is: a flavor (bars of each program in its colour), or one
/// program among others (the i-th, in the i-th colour).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Series {
    Label(Label),
    Program(usize, String),
}

impl Series {
    fn name(&self) -> String {
        match self {
            Series::Label(l) => l.to_string(),
            Series::Program(_, name) => name.clone(),
        }
    }

    fn color(&self) -> RGBColor {
        match self {
            Series::Label(l) => color(*l),
            Series::Program(i, _) => PROGRAMS[i % PROGRAMS.len()],
        }
    }
}

/// Bars grouped along the x axis: (group name, [(series, stat)]).
type Groups = Vec<(String, Vec<(Series, Stat)>)>;

/// One bar chart.
struct BarPlot {
    file: &'static str,
    title: &'static str,
    y_desc: &'static str,
    groups: Groups,
    /// A labelled horizontal line (raw epoll-edge's median, a target).
    reference: Option<(String, f64)>,
    /// A logarithmic y axis, for figures that span orders of magnitude.
    log: bool,
}

impl BarPlot {
    fn new(file: &'static str, title: &'static str, y_desc: &'static str, groups: Groups) -> Self {
        BarPlot {
            file,
            title,
            y_desc,
            groups,
            reference: None,
            log: false,
        }
    }

    fn reference(mut self, name: &str, value: Option<f64>) -> Self {
        self.reference = value.map(|v| (name.to_string(), v));
        self
    }

    fn log(mut self) -> Self {
        self.log = true;
        self
    }
}

/// Writes every plot the report has data for into `dir`; returns the file names.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<String>> {
    let mut written = Vec::new();
    for p in bar_plots(report) {
        if p.groups.is_empty() {
            continue;
        }
        grouped_bars(&dir.join(p.file), &p)?;
        written.push(p.file.to_string());
    }
    let ms = report.family::<MultisocketFigures>();
    if ms
        .iter()
        .any(|e| e.stat(|f| f.cpu_per_datagram_ns).is_some())
    {
        let file = "multisocket-scaling.svg";
        scaling(&dir.join(file), &ms)?;
        written.push(file.to_string());
    }
    Ok(written)
}

fn bar_plots(report: &Report) -> Vec<BarPlot> {
    let udp = report.family::<UdpEchoFigures>();
    let raw = find(&udp, RAW_PROGRAM, Label::MODERN, None);
    let raw_median = |figure: fn(&UdpEchoFigures) -> f64| Some(raw?.stat(figure)?.median);
    let tcp = report.family::<TcpEchoFigures>();
    let ident = report.family::<IdentFigures>();
    let plain: Vec<&Entry<IdentFigures>> = ident
        .iter()
        .copied()
        .filter(|e| e.subject.variant.is_none())
        .collect();
    let oidentd = find(&ident, oidentd::NAME, Label::Reference, None);
    let half_oidentd = oidentd
        .and_then(|o| o.stat(|f| f.fresh_1_p50_us))
        .map(|s| s.median / 2.0);
    vec![
        BarPlot::new(
            "udp-cpu-per-echo.svg",
            "UDP echo: server CPU per echo (W=32), lower is better",
            "µs of server CPU per echo",
            groups(&udp, |f| f.cpu_per_echo_ns, 1e-3),
        )
        .reference("raw epoll-edge", raw_median(|f| f.cpu_per_echo_ns).map(|r| r * 1e-3)),
        BarPlot::new(
            "udp-echoes-per-s.svg",
            "UDP echo: echoes per second (W=32 on 4 sockets)",
            "echoes/s",
            groups(&udp, |f| f.echoes_per_s, 1.0),
        ),
        BarPlot::new(
            "udp-rtt-p50.svg",
            "UDP echo: round-trip time p50 at W=1, lower is better",
            "µs",
            groups(&udp, |f| f.rtt_p50_us, 1.0),
        )
        .reference("raw epoll-edge", raw_median(|f| f.rtt_p50_us)),
        BarPlot::new(
            "udp-flood-share.svg",
            "UDP echo: share of a flood of 5,000 datagrams echoed (default --queue 8)",
            "% of the datagrams sent",
            groups(&udp, |f| f.flood.flood_share, 100.0),
        ),
        BarPlot::new(
            "udp-flood-read-share.svg",
            "UDP echo: share of what the server read under the flood that it echoed",
            "% of the datagrams read",
            groups(&udp, |f| f.flood.flood_read_share.unwrap_or(f64::NAN), 100.0),
        ),
        BarPlot::new(
            "next-vs-raw-cpu.svg",
            "Next era beside raw epoll: server CPU per datagram, by load (lower is better)",
            "µs of server CPU per datagram",
            next_era_groups(&udp),
        ),
        BarPlot::new(
            "next-vs-raw-syscalls.svg",
            "Next era beside raw epoll: system calls per echo (1 socket, 32 in flight)",
            "system calls per echo",
            by_program(&udp, |f| f.next_era.syscalls_per_echo.unwrap_or(f64::NAN)),
        ),
        BarPlot::new(
            "tcp-echo-mb-per-s.svg",
            "TCP echo: MB/s (64 KiB writes, 8 connections)",
            "MB/s",
            groups(&tcp, |f| f.mb_per_s, 1.0),
        ),
        BarPlot::new(
            "ident-open-p50.svg",
            "Ident: wall time p50 of a query on an open connection, 1 client (netlink lookup)",
            "µs from query to reply",
            groups(&plain, |f| f.open_1_p50_us.unwrap_or(f64::NAN), 1.0),
        ),
        BarPlot::new(
            "ident-fresh-p50.svg",
            "Ident: wall time p50 of a query on a fresh connection, 1 client, beside oidentd",
            "µs from connect to reply",
            groups(&plain, |f| f.fresh_1_p50_us.unwrap_or(f64::NAN), 1.0),
        )
        .reference("target: half of oidentd", half_oidentd),
        BarPlot::new(
            "ident-lookup.svg",
            "Ident: p99 wall time with 32 clients on open connections, netlink and /proc lookups (log)",
            "µs from query to reply (log)",
            groups(&ident, |f| f.open_32_p99_us.unwrap_or(f64::NAN), 1.0),
        )
        .log(),
    ]
}

/// One figure (times `scale`) of each entry, grouped by program (and variant), one
/// series per flavor.
fn groups<F>(entries: &[&Entry<F>], figure: impl Fn(&F) -> f64, scale: f64) -> Groups {
    let mut out: Groups = Vec::new();
    for e in entries {
        let Some(s) = e.stat(&figure) else { continue };
        let s = s.scaled(scale);
        let (program, label) = (&e.subject.program, e.subject.label);
        let mut name = match label {
            Label::Flavor(..) => short(program),
            _ => program.clone(),
        };
        if let Some(v) = &e.subject.variant {
            name = format!("{name} {}", v.name);
        }
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, bars)) => bars.push((Series::Label(label), s)),
            None => out.push((name, vec![(Series::Label(label), s)])),
        }
    }
    out
}

/// A program's name without the family's prefix (`echo-`, `ident-`).
fn short(program: &str) -> String {
    let p = program
        .trim_start_matches("echo-")
        .trim_start_matches("ident-");
    p.to_string()
}

/// The entries that ran the next-era loads: raw epoll-edge and the next programs.
fn beside_raw<'a>(udp: &[&'a Entry<UdpEchoFigures>]) -> Vec<&'a Entry<UdpEchoFigures>> {
    let shown: Vec<_> = udp
        .iter()
        .copied()
        .filter(|e| e.subject.next_era_loads)
        .collect();
    match shown.iter().any(|e| e.subject.label != Label::MODERN) {
        true => shown,
        false => Vec::new(),
    }
}

/// One group per program (of those beside raw epoll), one bar each.
fn by_program(udp: &[&Entry<UdpEchoFigures>], figure: fn(&UdpEchoFigures) -> f64) -> Groups {
    let mut out = Groups::new();
    for (i, e) in beside_raw(udp).into_iter().enumerate() {
        if let Some(s) = e.stat(figure) {
            let series = Series::Program(i, e.subject.program.clone());
            out.push((short(&e.subject.program), vec![(series, s)]));
        }
    }
    out
}

/// One group per load (4 sockets, 1 socket, GSO-sending peers), one bar per program:
/// CPU per datagram, µs.
fn next_era_groups(udp: &[&Entry<UdpEchoFigures>]) -> Groups {
    let shown = beside_raw(udp);
    type Load = (&'static str, fn(&UdpEchoFigures) -> f64);
    let loads: [Load; 3] = [
        ("4 sockets × W=32", |f| f.cpu_per_echo_ns),
        ("1 socket × W=32", |f| {
            f.next_era.cpu_per_echo_1sock_ns.unwrap_or(f64::NAN)
        }),
        ("GSO peers, 32 segments", |f| {
            f.next_era.gso_cpu_per_datagram_ns.unwrap_or(f64::NAN)
        }),
    ];
    let mut out = Groups::new();
    for (name, figure) in loads {
        let bars: Vec<(Series, Stat)> = (shown.iter().enumerate())
            .filter_map(|(i, e)| {
                let s = e.stat(figure)?.scaled(1e-3);
                Some((Series::Program(i, e.subject.program.clone()), s))
            })
            .collect();
        if !bars.is_empty() {
            out.push((name.to_string(), bars));
        }
    }
    out
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

type BarChart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A value on the y axis: itself, or its decimal logarithm on a log plot (bars are
/// drawn on a linear axis of logarithms, labelled with the values).
fn y_of(log: bool, v: f64) -> f64 {
    if log {
        v.max(1e-9).log10()
    } else {
        v
    }
}

fn grouped_bars(path: &Path, p: &BarPlot) -> Result<()> {
    let root = SVGBackend::new(path, (1100, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let values = (p.groups.iter())
        .flat_map(|(_, b)| b.iter().flat_map(|(_, s)| [s.min, s.max]))
        .chain(p.reference.as_ref().map(|r| r.1));
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (bottom, top) = match p.log {
        // Whole decades around the data.
        true => (
            y_of(true, lo).floor(),
            y_of(true, hi).ceil().max(y_of(true, lo).floor() + 1.0),
        ),
        // Headroom above the tallest bar for the legend.
        false => (0.0, hi * 1.3),
    };
    let n = p.groups.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(p.title, (FONT, 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n, bottom..top.max(bottom + 1e-9))
        .map_err(err)?;
    let log = p.log;
    let label_of = move |v: &f64| match log {
        true => fmt_num(10f64.powf(*v)),
        false => fmt_num(*v),
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_labels(if log { (top - bottom) as usize + 1 } else { 10 })
        .y_label_formatter(&label_of)
        .y_desc(p.y_desc)
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    // One series at a time, in the order of the story, so that the legend has each once.
    let mut series: Vec<Series> = (p.groups.iter())
        .flat_map(|(_, bars)| bars.iter().map(|(l, _)| l.clone()))
        .collect();
    series.sort();
    series.dedup();
    for s in series {
        draw_bars(&mut chart, &p.groups, s, bottom, log)?;
    }
    if let Some((name, r)) = &p.reference {
        let y = y_of(log, *r);
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, y), (n, y)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label(name.clone())
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BLACK));
    }
    legend(&mut chart)?;
    // Group names under their groups (the x axis is positional).
    for (i, (name, _)) in p.groups.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, bottom));
        draw_label(&root, name, (x, y + 8))?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// The bars of one series, each at its place in its group, with a min–max whisker.
fn draw_bars(
    chart: &mut BarChart,
    groups: &Groups,
    series: Series,
    bottom: f64,
    log: bool,
) -> Result<()> {
    let mut rects = Vec::new();
    let mut whiskers = Vec::new();
    let c = series.color();
    for (i, (_, bars)) in groups.iter().enumerate() {
        let w = 0.8 / bars.len() as f64;
        for (j, (_, s)) in bars.iter().enumerate().filter(|(_, (k, _))| *k == series) {
            let x0 = i as f64 + 0.1 + j as f64 * w;
            rects.push(Rectangle::new(
                [
                    (x0 + 0.05 * w, bottom),
                    (x0 + 0.95 * w, y_of(log, s.median)),
                ],
                c.filled(),
            ));
            let xc = x0 + w / 2.0;
            let (lo, hi) = (y_of(log, s.min), y_of(log, s.max));
            whiskers.push(PathElement::new(vec![(xc, lo), (xc, hi)], BLACK));
        }
    }
    chart
        .draw_series(rects)
        .map_err(err)?
        .label(series.name())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
    chart.draw_series(whiskers).map_err(err)?;
    Ok(())
}

fn legend<'a, CT: CoordTranslate>(chart: &mut ChartContext<'a, SVGBackend<'a>, CT>) -> Result<()> {
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)
}

fn draw_label(root: &DrawingArea<SVGBackend, Shift>, text: &str, at: (i32, i32)) -> Result<()> {
    let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(text.to_string(), at, style))
        .map_err(err)
}

/// One line of the scaling plot: its name, flavor, and (sockets, CPU per datagram).
type Line = (String, Label, Vec<(f64, Stat)>);

type LogLogChart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<LogCoord<f64>, LogCoord<f64>>>;

fn scaling(path: &Path, entries: &[&Entry<MultisocketFigures>]) -> Result<()> {
    let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let stats = entries
        .iter()
        .filter_map(|e| e.stat(|f| f.cpu_per_datagram_ns));
    let stats: Vec<Stat> = stats.map(|s| s.scaled(1e-3)).collect();
    let top = stats.iter().map(|s| s.max).fold(0.0f64, f64::max);
    let bottom = (stats.iter().map(|s| s.min))
        .fold(f64::INFINITY, f64::min)
        .min(top);
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Multi-socket: server CPU per datagram against the socket count",
            (FONT, 22),
        )
        .margin(16)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(
            (8f64..1300f64).log_scale(),
            ((bottom / 1.5).max(0.01)..top.max(0.02) * 1.5).log_scale(),
        )
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("sockets")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc("µs of server CPU per datagram (log)")
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    for (k, line) in series(entries).iter().enumerate() {
        draw_line(&mut chart, k, line)?;
    }
    legend(&mut chart)?;
    root.present().map_err(err)?;
    Ok(())
}

/// The lines of the scaling plot: one per program and flavor, CPU per datagram in µs.
fn series(entries: &[&Entry<MultisocketFigures>]) -> Vec<Line> {
    let mut series: Vec<Line> = Vec::new();
    for e in entries {
        let (Some(n), Some(s)) = (e.subject.sockets, e.stat(|f| f.cpu_per_datagram_ns)) else {
            continue;
        };
        let point = (n as f64, s.scaled(1e-3));
        let short = e.subject.program.trim_start_matches("multisocket-");
        let name = format!("{short} {}", e.subject.label);
        match series.iter_mut().find(|(k, _, _)| *k == name) {
            Some((_, _, pts)) => pts.push(point),
            None => series.push((name, e.subject.label, vec![point])),
        }
    }
    series
}

/// Line `k` of the scaling plot: thicker and with another marker for each pair of
/// lines, so that programs of the same flavor stay apart; min–max whiskers.
fn draw_line(chart: &mut LogLogChart, k: usize, (name, label, pts): &Line) -> Result<()> {
    let c = color(*label);
    let shape = k / 2 % 3;
    let style = c.stroke_width(2 + shape as u32);
    let line: Vec<(f64, f64)> = pts.iter().map(|(n, s)| (*n, s.median)).collect();
    chart
        .draw_series(LineSeries::new(line.clone(), style))
        .map_err(err)?
        .label(name.clone())
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
    match shape {
        0 => chart
            .draw_series(line.iter().map(|&p| Circle::new(p, 5, c.filled())))
            .map(|_| ()),
        1 => chart
            .draw_series(line.iter().map(|&p| TriangleMarker::new(p, 6, c.filled())))
            .map(|_| ()),
        _ => chart
            .draw_series(line.iter().map(|&p| Cross::new(p, 6, c.stroke_width(2))))
            .map(|_| ()),
    }
    .map_err(err)?;
    let whiskers = pts
        .iter()
        .map(|(n, s)| PathElement::new(vec![(*n, s.min), (*n, s.max)], BLACK));
    chart.draw_series(whiskers).map_err(err)?;
    Ok(())
}
