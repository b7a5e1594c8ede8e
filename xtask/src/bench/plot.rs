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
use super::report::{Report, Stat};
use super::tcp_echo::TcpEchoFigures;
use super::udp_echo::{UdpEchoFigures, RAW_PROGRAM};

const LEGACY: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
const BRIDGE: RGBColor = RGBColor(0xe7, 0x29, 0x8a);
const MODERN: RGBColor = RGBColor(0x1b, 0x9e, 0x77);
const NEXT: RGBColor = RGBColor(0x66, 0xa6, 0x1e);
const BASELINE: RGBColor = RGBColor(0x75, 0x70, 0xb3);
const FONT: &str = "sans-serif";

fn color(label: Label) -> RGBColor {
    match label {
        Label::Baseline => BASELINE,
        Label::Flavor(Flavor::Legacy, _) => LEGACY,
        Label::Flavor(Flavor::Bridge, _) => BRIDGE,
        Label::Flavor(Flavor::Modern, _) => MODERN,
        Label::Flavor(Flavor::Next, _) => NEXT,
    }
}

/// Bars grouped by program: (program, [(flavor, stat)]).
type Groups = Vec<(String, Vec<(Label, Stat)>)>;

/// One bar chart: a figure of some entries, grouped by program.
struct BarPlot {
    file: &'static str,
    title: &'static str,
    y_desc: &'static str,
    groups: Groups,
    /// A horizontal line: the raw epoll-edge median.
    reference: Option<f64>,
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

fn bar_plots(report: &Report) -> [BarPlot; 5] {
    let udp = report.family::<UdpEchoFigures>();
    let raw = find(&udp, RAW_PROGRAM, Label::MODERN, None);
    let raw_median = |figure: fn(&UdpEchoFigures) -> f64| Some(raw?.stat(figure)?.median);
    let tcp = report.family::<TcpEchoFigures>();
    let ident = report.family::<IdentFigures>();
    let plot = |file, title, y_desc, groups, reference| BarPlot {
        file,
        title,
        y_desc,
        groups,
        reference,
    };
    [
        plot(
            "udp-cpu-per-echo.svg",
            "UDP echo: server CPU per echo (W=32), lower is better",
            "µs of server CPU per echo",
            groups(&udp, |f| f.cpu_per_echo_ns, 1e-3),
            raw_median(|f| f.cpu_per_echo_ns).map(|r| r * 1e-3),
        ),
        plot(
            "udp-echoes-per-s.svg",
            "UDP echo: echoes per second (W=32 on 4 sockets)",
            "echoes/s",
            groups(&udp, |f| f.echoes_per_s, 1.0),
            None,
        ),
        plot(
            "udp-rtt-p50.svg",
            "UDP echo: round-trip time p50 at W=1, lower is better",
            "µs",
            groups(&udp, |f| f.rtt_p50_us, 1.0),
            raw_median(|f| f.rtt_p50_us),
        ),
        plot(
            "tcp-echo-mb-per-s.svg",
            "TCP echo: MB/s (64 KiB writes, 8 connections)",
            "MB/s",
            groups(&tcp, |f| f.mb_per_s, 1.0),
            None,
        ),
        plot(
            "ident-queries-per-s.svg",
            "Ident: queries per second (32 connections)",
            "queries/s",
            groups(&ident, |f| f.queries_per_s, 1.0),
            None,
        ),
    ]
}

/// One figure (times `scale`) of each entry, grouped by program.
fn groups<F>(entries: &[&Entry<F>], figure: impl Fn(&F) -> f64, scale: f64) -> Groups {
    let mut out: Groups = Vec::new();
    for e in entries {
        let Some(s) = e.stat(&figure) else { continue };
        let s = s.scaled(scale);
        let (program, label) = (&e.subject.program, e.subject.label);
        let name = if label == Label::Baseline {
            program.clone()
        } else {
            program.trim_start_matches("echo-").to_string()
        };
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, bars)) => bars.push((label, s)),
            None => out.push((name, vec![(label, s)])),
        }
    }
    out
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

type BarChart<'a> = ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn grouped_bars(path: &Path, p: &BarPlot) -> Result<()> {
    let root = SVGBackend::new(path, (1100, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let top = (p.groups.iter())
        .flat_map(|(_, b)| b.iter().map(|(_, s)| s.max))
        .chain(p.reference)
        .fold(0.0f64, f64::max)
        * 1.15;
    let n = p.groups.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(p.title, (FONT, 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n, 0f64..top.max(1e-9))
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(p.y_desc)
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    // One series per flavor, in the order of the story, so that the legend has each once.
    let mut labels: Vec<Label> = (p.groups.iter())
        .flat_map(|(_, bars)| bars.iter().map(|(l, _)| *l))
        .collect();
    labels.sort();
    labels.dedup();
    for label in labels {
        draw_bars(&mut chart, &p.groups, label)?;
    }
    if let Some(r) = p.reference {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, r), (n, r)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label("raw epoll-edge")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BLACK));
    }
    legend(&mut chart)?;
    // Program names under their groups (the x axis is positional).
    for (i, (name, _)) in p.groups.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        draw_label(&root, name, (x, y + 8))?;
    }
    root.present().map_err(err)?;
    Ok(())
}

/// The bars of one flavor, each at its place in its program's group, with a min–max
/// whisker.
fn draw_bars(chart: &mut BarChart, groups: &Groups, label: Label) -> Result<()> {
    let mut rects = Vec::new();
    let mut whiskers = Vec::new();
    for (i, (_, bars)) in groups.iter().enumerate() {
        let w = 0.8 / bars.len() as f64;
        for (j, (_, s)) in bars.iter().enumerate().filter(|(_, (l, _))| *l == label) {
            let x0 = i as f64 + 0.1 + j as f64 * w;
            rects.push(Rectangle::new(
                [(x0 + 0.05 * w, 0.0), (x0 + 0.95 * w, s.median)],
                color(label).filled(),
            ));
            let xc = x0 + w / 2.0;
            whiskers.push(PathElement::new(vec![(xc, s.min), (xc, s.max)], BLACK));
        }
    }
    chart
        .draw_series(rects)
        .map_err(err)?
        .label(label.to_string())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color(label).filled()));
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
type Series = (String, Label, Vec<(f64, Stat)>);

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
fn series(entries: &[&Entry<MultisocketFigures>]) -> Vec<Series> {
    let mut series: Vec<Series> = Vec::new();
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
fn draw_line(chart: &mut LogLogChart, k: usize, (name, label, pts): &Series) -> Result<()> {
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
