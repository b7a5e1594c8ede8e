//! SVG plots of a report (plotters, SVG backend only: text is written as SVG `<text>`
//! and laid out by the viewer, so no font file or system library is needed).

use std::path::Path;

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::{Report, Stat};
use super::{Entry, Family, Label, RAW_PROGRAM};

const LEGACY: RGBColor = RGBColor(0xd9, 0x5f, 0x02);
const MODERN: RGBColor = RGBColor(0x1b, 0x9e, 0x77);
const BASELINE: RGBColor = RGBColor(0x75, 0x70, 0xb3);
const FONT: &str = "sans-serif";

fn color(label: Label) -> RGBColor {
    match label {
        Label::Legacy => LEGACY,
        Label::Modern => MODERN,
        Label::Baseline => BASELINE,
    }
}

/// One bar chart: a figure of some entries, grouped by program.
struct BarPlot<'a> {
    file: &'static str,
    title: &'static str,
    y_desc: &'static str,
    entries: &'a [&'a Entry],
    figure: &'static str,
    /// Applied to the figure (ns → µs).
    scale: f64,
    /// A horizontal line: the raw epoll-edge median.
    reference: Option<f64>,
}

/// Writes every plot the report has data for into `dir`; returns the file names.
pub fn write_all(report: &Report, dir: &Path) -> Result<Vec<String>> {
    let mut written = Vec::new();
    let raw = report
        .find(RAW_PROGRAM, Label::Modern, None)
        .and_then(|e| e.stat("cpu_per_echo_ns"))
        .map(|s| s.median);
    let raw_rtt = report
        .find(RAW_PROGRAM, Label::Modern, None)
        .and_then(|e| e.stat("rtt_p50_us"))
        .map(|s| s.median);
    let udp: Vec<&Entry> = report.family(Family::UdpEcho).collect();
    let tcp: Vec<&Entry> = report.family(Family::TcpEcho).collect();
    let ident: Vec<&Entry> = report.family(Family::Ident).collect();
    let bar_plots = [
        BarPlot {
            file: "udp-cpu-per-echo.svg",
            title: "UDP echo: server CPU per echo (W=32), lower is better",
            y_desc: "µs of server CPU per echo",
            entries: &udp,
            figure: "cpu_per_echo_ns",
            scale: 1e-3,
            reference: raw.map(|r| r * 1e-3),
        },
        BarPlot {
            file: "udp-echoes-per-s.svg",
            title: "UDP echo: echoes per second (W=32 on 4 sockets)",
            y_desc: "echoes/s",
            entries: &udp,
            figure: "echoes_per_s",
            scale: 1.0,
            reference: None,
        },
        BarPlot {
            file: "udp-rtt-p50.svg",
            title: "UDP echo: round-trip time p50 at W=1, lower is better",
            y_desc: "µs",
            entries: &udp,
            figure: "rtt_p50_us",
            scale: 1.0,
            reference: raw_rtt,
        },
        BarPlot {
            file: "tcp-echo-mb-per-s.svg",
            title: "TCP echo: MB/s (64 KiB writes, 8 connections)",
            y_desc: "MB/s",
            entries: &tcp,
            figure: "mb_per_s",
            scale: 1.0,
            reference: None,
        },
        BarPlot {
            file: "ident-queries-per-s.svg",
            title: "Ident: queries per second (32 connections)",
            y_desc: "queries/s",
            entries: &ident,
            figure: "queries_per_s",
            scale: 1.0,
            reference: None,
        },
    ];
    for p in bar_plots {
        let groups = groups(p.entries, p.figure, p.scale);
        if groups.is_empty() {
            continue;
        }
        grouped_bars(&dir.join(p.file), p.title, p.y_desc, &groups, p.reference)?;
        written.push(p.file.to_string());
    }
    let ms: Vec<&Entry> = report.family(Family::Multisocket).collect();
    if ms.iter().any(|e| e.stat("cpu_per_datagram_ns").is_some()) {
        let file = "multisocket-scaling.svg";
        scaling(&dir.join(file), &ms)?;
        written.push(file.to_string());
    }
    Ok(written)
}

/// Bars grouped by program: (program, [(flavor, stat)]).
type Groups = Vec<(String, Vec<(Label, Stat)>)>;

fn groups(entries: &[&Entry], figure: &str, scale: f64) -> Groups {
    let mut out: Groups = Vec::new();
    for e in entries {
        let Some(s) = e.stat(figure) else { continue };
        let s = Stat {
            median: s.median * scale,
            min: s.min * scale,
            max: s.max * scale,
            n: s.n,
        };
        let name = if e.label == Label::Baseline {
            e.program.clone()
        } else {
            e.program.trim_start_matches("echo-").to_string()
        };
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some((_, bars)) => bars.push((e.label, s)),
            None => out.push((name, vec![(e.label, s)])),
        }
    }
    out
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("plot: {e:?}")
}

fn grouped_bars(
    path: &Path,
    title: &str,
    y_desc: &str,
    groups: &Groups,
    reference: Option<f64>,
) -> Result<()> {
    let root = SVGBackend::new(path, (1100, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let top = groups
        .iter()
        .flat_map(|(_, b)| b.iter().map(|(_, s)| s.max))
        .chain(reference)
        .fold(0.0f64, f64::max)
        * 1.15;
    let n = groups.len() as f64;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, (FONT, 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(80)
        .build_cartesian_2d(0f64..n, 0f64..top.max(1e-9))
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(y_desc)
        .label_style((FONT, 14))
        .draw()
        .map_err(err)?;
    for label in [Label::Baseline, Label::Legacy, Label::Modern] {
        let mut rects = Vec::new();
        let mut whiskers = Vec::new();
        for (i, (_, bars)) in groups.iter().enumerate() {
            let w = 0.8 / bars.len() as f64;
            for (j, (l, s)) in bars.iter().enumerate() {
                if *l != label {
                    continue;
                }
                let x0 = i as f64 + 0.1 + j as f64 * w;
                rects.push(Rectangle::new(
                    [(x0 + 0.05 * w, 0.0), (x0 + 0.95 * w, s.median)],
                    color(label).filled(),
                ));
                let xc = x0 + w / 2.0;
                whiskers.push(PathElement::new(vec![(xc, s.min), (xc, s.max)], BLACK));
            }
        }
        if rects.is_empty() {
            continue;
        }
        chart
            .draw_series(rects)
            .map_err(err)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 5), (x + 12, y + 5)], color(label).filled())
            });
        chart.draw_series(whiskers).map_err(err)?;
    }
    if let Some(r) = reference {
        chart
            .draw_series(LineSeries::new(
                vec![(0.0, r), (n, r)],
                BLACK.stroke_width(1),
            ))
            .map_err(err)?
            .label("raw epoll-edge")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 12, y)], BLACK));
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    // Program names under their groups (the x axis is positional).
    for (i, (name, _)) in groups.iter().enumerate() {
        let (x, y) = chart.backend_coord(&(i as f64 + 0.5, 0.0));
        draw_label(&root, name, (x, y + 8))?;
    }
    root.present().map_err(err)?;
    Ok(())
}

fn draw_label(root: &DrawingArea<SVGBackend, Shift>, text: &str, at: (i32, i32)) -> Result<()> {
    let style = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Top));
    root.draw(&Text::new(text.to_string(), at, style))
        .map_err(err)
}

/// One line of the scaling plot: its name, flavor, and (sockets, CPU per datagram).
type Series = (String, Label, Vec<(f64, Stat)>);

fn scaling(path: &Path, entries: &[&Entry]) -> Result<()> {
    let root = SVGBackend::new(path, (1000, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(err)?;
    let stats: Vec<Stat> = entries
        .iter()
        .filter_map(|e| e.stat("cpu_per_datagram_ns"))
        .collect();
    let top = stats.iter().map(|s| s.max * 1e-3).fold(0.0f64, f64::max);
    let bottom = stats
        .iter()
        .map(|s| s.min * 1e-3)
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
    let mut series: Vec<Series> = Vec::new();
    for e in entries {
        let (Some(n), Some(s)) = (e.sockets, e.stat("cpu_per_datagram_ns")) else {
            continue;
        };
        let name = format!(
            "{} {}",
            e.program.trim_start_matches("multisocket-"),
            e.label.as_str()
        );
        match series.iter_mut().find(|(k, _, _)| *k == name) {
            Some((_, _, pts)) => pts.push((n as f64, s)),
            None => series.push((name, e.label, vec![(n as f64, s)])),
        }
    }
    let shapes = [0u32, 1, 2];
    for (k, (name, label, pts)) in series.iter().enumerate() {
        let c = color(*label);
        let dashed = k / 2 % shapes.len();
        let style = c.stroke_width(2 + dashed as u32);
        let line: Vec<(f64, f64)> = pts.iter().map(|(n, s)| (*n, s.median * 1e-3)).collect();
        chart
            .draw_series(LineSeries::new(line.clone(), style))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], style));
        match dashed {
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
        chart
            .draw_series(pts.iter().map(|(n, s)| {
                PathElement::new(vec![(*n, s.min * 1e-3), (*n, s.max * 1e-3)], BLACK)
            }))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FONT, 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
