//! The book's figures, drawn with plotters' SVG backend (text stays SVG `<text>`, so
//! no font file is needed and the figures stay sharp at any zoom).
//!
//! Text and markers placed by pixel are drawn on the root area with the chart's
//! backend coordinates (a sub-area would add its own offset again).
//!
//! Two kinds: horizontal grouped bars (one group per program or system call, one bar
//! per flavor) and small multiples of lines (one panel per program, one line per
//! flavor). What makes them readable is kept in one place: a legend above the plot
//! that draws each series exactly as the plot does (colour, marker, whisker), flavors
//! always in the same colour and marker, log axes labelled as such with ticks at
//! whole decades, and every bar labelled with its value.

use anyhow::{anyhow, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FONT: &str = "sans-serif";
// Font sizes below are as plotters takes them: it writes SVG text at 0.806 of the
// size asked for (16 becomes 12.9 px).
const WIDTH: u32 = 760;
/// Rough width of one character of the 13 px label font, for layout.
const CHAR_W: f64 = 7.2;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Style {
    pub color: RGBColor,
    pub mark: Mark,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    Circle,
    Square,
    Triangle,
    Diamond,
}

/// The style of a flavor label (`legacy`, `bridge-2`, `modern`, `next`, `baseline`):
/// the same in every figure of the book.
pub fn flavor_style(label: &str) -> Style {
    let base = label.split('-').next().unwrap_or(label);
    match base {
        "legacy" => Style {
            color: RGBColor(0xd9, 0x5f, 0x02),
            mark: Mark::Circle,
        },
        "bridge" => Style {
            color: RGBColor(0x75, 0x70, 0xb3),
            mark: Mark::Square,
        },
        "modern" => Style {
            color: RGBColor(0x1b, 0x9e, 0x77),
            mark: Mark::Triangle,
        },
        "next" => Style {
            color: RGBColor(0x1f, 0x78, 0xb4),
            mark: Mark::Diamond,
        },
        _ => Style {
            color: RGBColor(0x66, 0x66, 0x66),
            mark: Mark::Square,
        },
    }
}

/// A value with, optionally, the lowest and highest of the runs it is the median of.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value {
    pub v: f64,
    pub lo: Option<f64>,
    pub hi: Option<f64>,
}

impl Value {
    pub fn exact(v: f64) -> Value {
        Value {
            v,
            lo: None,
            hi: None,
        }
    }

    pub fn spread(v: f64, lo: f64, hi: f64) -> Value {
        Value {
            v,
            lo: Some(lo),
            hi: Some(hi),
        }
    }

    fn whisker(&self) -> Option<(f64, f64)> {
        Some((self.lo?, self.hi?)).filter(|(lo, hi)| hi > lo)
    }
}

/// One flavor's bars, one per category (`None`: not measured).
#[derive(Debug, Clone)]
pub struct BarSeries {
    pub name: String,
    pub style: Style,
    pub values: Vec<Option<Value>>,
}

/// Horizontal grouped bars.
#[derive(Debug, Clone)]
pub struct Bars {
    pub categories: Vec<String>,
    pub series: Vec<BarSeries>,
    /// What the value axis measures, with its unit.
    pub axis: String,
    pub log: bool,
    /// A vertical reference line and what it is.
    pub reference: Option<(f64, String)>,
    /// How a value is written beside its bar.
    pub format: fn(f64) -> String,
}

/// One line of a panel.
#[derive(Debug, Clone)]
pub struct Line {
    pub name: String,
    pub style: Style,
    pub points: Vec<(f64, Value)>,
}

/// One small chart of a row of them.
#[derive(Debug, Clone)]
pub struct Panel {
    pub title: String,
    pub lines: Vec<Line>,
    /// A vertical line at this x, and its label.
    pub marker: Option<(f64, String)>,
}

/// Small multiples: panels side by side with shared axes.
#[derive(Debug, Clone)]
pub struct Lines {
    pub panels: Vec<Panel>,
    pub x_axis: String,
    pub y_axis: String,
    pub x_log: bool,
    pub y_log: bool,
}

fn err<E: std::fmt::Debug>(e: E) -> anyhow::Error {
    anyhow!("figure: {e:?}")
}

/// A number for an axis tick or a bar label: few digits, no trailing zeros.
pub fn short(v: f64) -> String {
    let a = v.abs();
    let s = if a == 0.0 {
        "0".to_string()
    } else if a >= 10_000.0 {
        let s = format!("{v:.0}");
        let mut out = String::new();
        for (i, c) in s.chars().enumerate() {
            if i > 0 && (s.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        return out;
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a >= 0.01 {
        format!("{v:.3}")
    } else {
        format!("{v:.4}")
    };
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// An axis: linear from zero, or log with whole decades.
#[derive(Debug, Clone, Copy)]
struct Scale {
    log: bool,
    lo: f64,
    hi: f64,
    /// Small whole numbers (counts of fds, threads): a tick at each one.
    counts: bool,
}

impl Scale {
    /// A scale that holds every value in `values` (positive ones only, on a log scale).
    fn fit(values: impl Iterator<Item = f64>, log: bool, from_zero: bool) -> Scale {
        let v: Vec<f64> = values
            .filter(|v| v.is_finite() && (!log || *v > 0.0))
            .collect();
        let (min, max) = v
            .iter()
            .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
                (a.min(*x), b.max(*x))
            });
        if v.is_empty() {
            return Scale {
                log,
                lo: 0.0,
                hi: 1.0,
                counts: false,
            };
        }
        let counts = !log && max <= 10.0 && v.iter().all(|x| x.fract() == 0.0 && *x >= 0.0);
        if log {
            let lo = min.log10().floor();
            let hi = max.log10().ceil().max(lo + 1.0);
            Scale {
                log,
                lo,
                hi,
                counts,
            }
        } else if counts {
            Scale {
                log,
                lo: 0.0,
                hi: max.max(1.0),
                counts,
            }
        } else {
            let lo = if from_zero { 0.0f64.min(min) } else { min };
            let hi = if max > lo { max * 1.08 } else { lo + 1.0 };
            Scale {
                log,
                lo,
                hi,
                counts,
            }
        }
    }

    fn to_axis(self, v: f64) -> f64 {
        if self.log {
            v.max(10f64.powf(self.lo)).log10()
        } else {
            v
        }
    }

    fn label(self, at: f64) -> String {
        if self.log {
            short(10f64.powf(at))
        } else {
            short(at)
        }
    }

    fn ticks(self) -> usize {
        if self.log || self.counts {
            (self.hi - self.lo).floor() as usize + 1
        } else {
            6
        }
    }

    fn describe(self, axis: &str) -> String {
        if self.log {
            format!("{axis} — log scale")
        } else {
            axis.to_string()
        }
    }
}

/// Draws the legend: one entry per series (marker, bar or line exactly as plotted),
/// and a whisker entry when whiskers are drawn. Returns its height.
fn legend(
    area: &DrawingArea<SVGBackend, Shift>,
    entries: &[(String, Style)],
    as_bars: bool,
    whiskers: Option<&str>,
    reference: Option<&str>,
) -> Result<()> {
    let text = TextStyle::from((FONT, 16).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let (mut x, mut y) = (10i32, 12i32);
    let width = area.dim_in_pixel().0 as i32;
    let mut place = |w: i32| {
        if x + w > width - 10 && x > 10 {
            x = 10;
            y += 20;
        }
        let at = (x, y);
        x += w + 18;
        at
    };
    for (name, style) in entries {
        let w = 26 + (name.chars().count() as f64 * CHAR_W) as i32;
        let (x0, y0) = place(w);
        if as_bars {
            area.draw(&Rectangle::new(
                [(x0, y0 - 6), (x0 + 18, y0 + 6)],
                style.color.filled(),
            ))
            .map_err(err)?;
        } else {
            area.draw(&PathElement::new(
                vec![(x0, y0), (x0 + 20, y0)],
                style.color.stroke_width(2),
            ))
            .map_err(err)?;
            draw_mark(area, style, (x0 + 10, y0))?;
        }
        area.draw(&Text::new(name.clone(), (x0 + 26, y0), text.clone()))
            .map_err(err)?;
    }
    if let Some(what) = whiskers {
        let w = 26 + (what.chars().count() as f64 * CHAR_W) as i32;
        let (x0, y0) = place(w);
        for seg in [
            vec![(x0 + 2, y0), (x0 + 18, y0)],
            vec![(x0 + 2, y0 - 5), (x0 + 2, y0 + 5)],
            vec![(x0 + 18, y0 - 5), (x0 + 18, y0 + 5)],
        ] {
            area.draw(&PathElement::new(seg, BLACK.stroke_width(1)))
                .map_err(err)?;
        }
        area.draw(&Text::new(what.to_string(), (x0 + 26, y0), text.clone()))
            .map_err(err)?;
    }
    if let Some(what) = reference {
        let w = 26 + (what.chars().count() as f64 * CHAR_W) as i32;
        let (x0, y0) = place(w);
        area.draw(&PathElement::new(
            vec![(x0 + 9, y0 - 7), (x0 + 9, y0 + 7)],
            ShapeStyle::from(&BLACK).stroke_width(2),
        ))
        .map_err(err)?;
        area.draw(&Text::new(what.to_string(), (x0 + 26, y0), text))
            .map_err(err)?;
    }
    Ok(())
}

/// Height of the legend for `n` entries of total text length `chars`.
fn legend_height(items: &[usize]) -> u32 {
    let mut rows = 1;
    let mut x = 10.0;
    for chars in items {
        let w = 26.0 + *chars as f64 * CHAR_W + 18.0;
        if x + w > WIDTH as f64 - 10.0 && x > 10.0 {
            rows += 1;
            x = 10.0;
        }
        x += w;
    }
    24 + (rows - 1) * 20
}

fn draw_mark<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    style: &Style,
    (x, y): (i32, i32),
) -> Result<()> {
    let c = style.color.filled();
    match style.mark {
        Mark::Circle => area.draw(&Circle::new((x, y), 5, c)),
        Mark::Square => area.draw(&Rectangle::new([(x - 4, y - 4), (x + 4, y + 4)], c)),
        Mark::Triangle => area.draw(&Polygon::new(
            vec![(x, y - 6), (x - 6, y + 4), (x + 6, y + 4)],
            c,
        )),
        Mark::Diamond => area.draw(&Polygon::new(
            vec![(x, y - 6), (x + 6, y), (x, y + 6), (x - 6, y)],
            c,
        )),
    }
    .map_err(err)
}

impl Bars {
    /// The figure as an SVG document.
    pub fn svg(&self) -> Result<String> {
        let groups = self.categories.len().max(1);
        let per = self.series.len().max(1);
        let bar_h = 13.0;
        let group_h = bar_h * per as f64 + 12.0;
        let label_w = self
            .categories
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(4) as f64
            * CHAR_W
            + 14.0;
        let whiskers = self
            .series
            .iter()
            .flat_map(|s| s.values.iter().flatten())
            .any(|v| v.whisker().is_some());
        let mut items: Vec<usize> = self.series.iter().map(|s| s.name.chars().count()).collect();
        let whisker_text = "lowest and highest round";
        if whiskers {
            items.push(whisker_text.len());
        }
        if let Some((_, r)) = &self.reference {
            items.push(r.chars().count());
        }
        let legend_h = legend_height(&items);
        let plot_h = (group_h * groups as f64) as u32 + 56;
        let height = legend_h + plot_h;
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let (top, plot) = root.split_vertically(legend_h);
            let entries: Vec<(String, Style)> = self
                .series
                .iter()
                .map(|s| (s.name.clone(), s.style))
                .collect();
            legend(
                &top,
                &entries,
                true,
                whiskers.then_some(whisker_text),
                self.reference.as_ref().map(|(_, r)| r.as_str()),
            )?;
            let values = self
                .series
                .iter()
                .flat_map(|s| s.values.iter().flatten())
                .flat_map(|v| [Some(v.v), v.lo, v.hi])
                .flatten()
                .chain(self.reference.as_ref().map(|(r, _)| *r));
            let mut scale = Scale::fit(values, self.log, true);
            // Room for the value written after the longest bar.
            if scale.counts {
                scale.hi += 1.0;
            } else if !scale.log {
                scale.hi *= 1.18;
            }
            let mut chart = ChartBuilder::on(&plot)
                .margin_right(24)
                .margin_top(4)
                .x_label_area_size(44)
                .y_label_area_size(label_w as u32)
                .build_cartesian_2d(scale.lo..scale.hi, 0f64..groups as f64)
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_labels(scale.ticks())
                .x_label_formatter(&|x| scale.label(*x))
                .x_desc(scale.describe(&self.axis))
                .axis_desc_style((FONT, 16))
                .label_style((FONT, 15))
                .light_line_style(RGBColor(0xee, 0xee, 0xee))
                .draw()
                .map_err(err)?;
            let value_text =
                TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            for (g, _) in self.categories.iter().enumerate() {
                // Groups from the top down, in the order given.
                let top_y = groups as f64 - g as f64;
                for (k, s) in self.series.iter().enumerate() {
                    let y1 = top_y - (6.0 + bar_h * k as f64) / group_h;
                    let y0 = y1 - (bar_h - 2.0) / group_h;
                    let Some(v) = s.values.get(g).copied().flatten() else {
                        let (px, py) = chart.backend_coord(&(scale.lo, (y0 + y1) / 2.0));
                        root.draw(&Text::new(
                            "not measured".to_string(),
                            (px + 4, py),
                            value_text.clone().color(&RGBColor(0x88, 0x88, 0x88)),
                        ))
                        .map_err(err)?;
                        continue;
                    };
                    let x = scale.to_axis(v.v);
                    chart
                        .draw_series([Rectangle::new(
                            [(scale.lo, y0), (x, y1)],
                            s.style.color.filled(),
                        )])
                        .map_err(err)?;
                    let mut end = x;
                    if let Some((lo, hi)) = v.whisker() {
                        let (a, b) = (scale.to_axis(lo), scale.to_axis(hi));
                        let ym = (y0 + y1) / 2.0;
                        let h = (y1 - y0) * 0.35;
                        chart
                            .draw_series([
                                PathElement::new(vec![(a, ym), (b, ym)], BLACK.stroke_width(1)),
                                PathElement::new(
                                    vec![(a, ym - h), (a, ym + h)],
                                    BLACK.stroke_width(1),
                                ),
                                PathElement::new(
                                    vec![(b, ym - h), (b, ym + h)],
                                    BLACK.stroke_width(1),
                                ),
                            ])
                            .map_err(err)?;
                        end = end.max(b);
                    }
                    let (px, py) = chart.backend_coord(&(end, (y0 + y1) / 2.0));
                    root.draw(&Text::new(
                        (self.format)(v.v),
                        (px + 4, py),
                        value_text.clone(),
                    ))
                    .map_err(err)?;
                }
            }
            if let Some((r, _)) = &self.reference {
                let x = scale.to_axis(*r);
                chart
                    .draw_series([PathElement::new(
                        vec![(x, 0.0), (x, groups as f64)],
                        ShapeStyle::from(&BLACK).stroke_width(2),
                    )])
                    .map_err(err)?;
            }
            let label =
                TextStyle::from((FONT, 16).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
            for (g, name) in self.categories.iter().enumerate() {
                let (px, py) = chart.backend_coord(&(scale.lo, groups as f64 - g as f64 - 0.5));
                root.draw(&Text::new(name.clone(), (px - 8, py), label.clone()))
                    .map_err(err)?;
            }
            root.present().map_err(err)?;
        }
        Ok(out)
    }
}

impl Lines {
    /// The figure as an SVG document.
    pub fn svg(&self) -> Result<String> {
        let n = self.panels.len().max(1);
        let mut entries: Vec<(String, Style)> = Vec::new();
        for l in self.panels.iter().flat_map(|p| &p.lines) {
            if !entries.iter().any(|(name, _)| *name == l.name) {
                entries.push((l.name.clone(), l.style));
            }
        }
        let whiskers = self
            .panels
            .iter()
            .flat_map(|p| &p.lines)
            .flat_map(|l| &l.points)
            .any(|(_, v)| v.whisker().is_some());
        let whisker_text = "lowest and highest round";
        let mut items: Vec<usize> = entries.iter().map(|(n, _)| n.chars().count()).collect();
        if whiskers {
            items.push(whisker_text.len());
        }
        let legend_h = legend_height(&items);
        let panel_h = 300;
        let height = legend_h + panel_h;
        let xs = self
            .panels
            .iter()
            .flat_map(|p| &p.lines)
            .flat_map(|l| l.points.iter().map(|(x, _)| *x));
        let ys = self
            .panels
            .iter()
            .flat_map(|p| &p.lines)
            .flat_map(|l| l.points.iter())
            .flat_map(|(_, v)| [Some(v.v), v.lo, v.hi])
            .flatten();
        let sx = Scale::fit(xs, self.x_log, !self.x_log);
        let mut sx = sx;
        if !sx.log && !sx.counts {
            sx.hi = sx.hi / 1.08 * 1.03;
        }
        let sy = Scale::fit(ys, self.y_log, true);
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, (WIDTH, height)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let (top, rest) = root.split_vertically(legend_h);
            legend(
                &top,
                &entries,
                false,
                whiskers.then_some(whisker_text),
                None,
            )?;
            // The first panel carries the y axis description.
            let first_extra = 30;
            let inner = (WIDTH - first_extra) / n as u32;
            let mut areas = Vec::new();
            let mut remaining = rest;
            for i in 0..n {
                if i + 1 == n {
                    areas.push(remaining.clone());
                    break;
                }
                let w = inner + if i == 0 { first_extra } else { 0 };
                let (a, b) = remaining.split_horizontally(w);
                areas.push(a);
                remaining = b;
            }
            for (i, (panel, area)) in self.panels.iter().zip(&areas).enumerate() {
                let mut builder = ChartBuilder::on(area);
                builder
                    .margin_right(12)
                    .margin_top(4)
                    .caption(&panel.title, (FONT, 17))
                    .x_label_area_size(42)
                    .y_label_area_size(if i == 0 { 74 } else { 40 });
                let mut chart = builder
                    .build_cartesian_2d(sx.lo..sx.hi, sy.lo..sy.hi)
                    .map_err(err)?;
                let x_label = |x: &f64| sx.label(*x);
                let y_label = |y: &f64| sy.label(*y);
                let mut mesh = chart.configure_mesh();
                mesh.x_labels(if sx.log { sx.ticks() } else { 5 })
                    .y_labels(sy.ticks())
                    .x_label_formatter(&x_label)
                    .y_label_formatter(&y_label)
                    .x_desc(sx.describe(&self.x_axis))
                    .axis_desc_style((FONT, 15))
                    .label_style((FONT, 14))
                    .light_line_style(RGBColor(0xee, 0xee, 0xee));
                if i == 0 {
                    mesh.y_desc(sy.describe(&self.y_axis));
                }
                mesh.draw().map_err(err)?;
                if let Some((x, label)) = &panel.marker {
                    let x = sx.to_axis(*x);
                    chart
                        .draw_series([PathElement::new(
                            vec![(x, sy.lo), (x, sy.hi)],
                            RGBColor(0x55, 0x55, 0x55).stroke_width(1),
                        )])
                        .map_err(err)?;
                    let (px, py) = chart.backend_coord(&(x, sy.hi));
                    root.draw(&Text::new(
                        label.clone(),
                        (px + 3, py + 10),
                        TextStyle::from((FONT, 14).into_font())
                            .pos(Pos::new(HPos::Left, VPos::Center))
                            .color(&RGBColor(0x44, 0x44, 0x44)),
                    ))
                    .map_err(err)?;
                }
                for line in &panel.lines {
                    let pts: Vec<(f64, f64)> = line
                        .points
                        .iter()
                        .map(|(x, v)| (sx.to_axis(*x), sy.to_axis(v.v)))
                        .collect();
                    chart
                        .draw_series(LineSeries::new(
                            pts.clone(),
                            line.style.color.stroke_width(2),
                        ))
                        .map_err(err)?;
                    for (x, v) in &line.points {
                        if let Some((lo, hi)) = v.whisker() {
                            let x = sx.to_axis(*x);
                            chart
                                .draw_series([PathElement::new(
                                    vec![(x, sy.to_axis(lo)), (x, sy.to_axis(hi))],
                                    BLACK.stroke_width(1),
                                )])
                                .map_err(err)?;
                        }
                    }
                    for p in &pts {
                        let (px, py) = chart.backend_coord(p);
                        draw_mark(&root, &line.style, (px, py))?;
                    }
                }
            }
            root.present().map_err(err)?;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bars(log: bool) -> Bars {
        Bars {
            categories: vec!["echo-tokio".into(), "echo-mpsc".into()],
            series: vec![
                BarSeries {
                    name: "legacy".into(),
                    style: flavor_style("legacy"),
                    values: vec![Some(Value::spread(9.2, 8.0, 10.0)), None],
                },
                BarSeries {
                    name: "modern".into(),
                    style: flavor_style("modern"),
                    values: vec![Some(Value::exact(0.0039)), Some(Value::exact(5.6))],
                },
            ],
            axis: "epoll_wait per echo".into(),
            log,
            reference: Some((5.45, "raw epoll".into())),
            format: short,
        }
    }

    /// The text of every `<text>` element, trimmed.
    fn texts(svg: &str) -> Vec<String> {
        svg.split("<text")
            .skip(1)
            .filter_map(|t| Some(t[t.find('>')? + 1..t.find("</text>")?].trim().to_string()))
            .collect()
    }

    #[test]
    fn bars_say_everything_in_text() {
        let svg = bars(true).svg().unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        let all = texts(&svg).join("\n");
        for text in [
            "echo-tokio",
            "legacy",
            "modern",
            "lowest and highest round",
            "raw epoll",
            "log scale",
            "not measured",
            "0.0039",
            "\n0.001\n",
            "\n10\n",
        ] {
            assert!(
                all.contains(text),
                "{text:?} missing from the figure: {all}"
            );
        }
        let linear = bars(false).svg().unwrap();
        assert!(!linear.contains("log scale"));
    }

    #[test]
    fn panels_share_a_legend_with_markers() {
        let line = |name: &str, ys: &[f64]| Line {
            name: name.into(),
            style: flavor_style(name),
            points: ys
                .iter()
                .enumerate()
                .map(|(i, y)| ((i + 1) as f64, Value::exact(*y)))
                .collect(),
        };
        let figure = Lines {
            panels: vec![
                Panel {
                    title: "join".into(),
                    lines: vec![
                        line("legacy", &[1.0, 2.0, 3.0]),
                        line("modern", &[1.0, 2.0, 1.0]),
                    ],
                    marker: Some((2.5, "30 futures".into())),
                },
                Panel {
                    title: "spawn".into(),
                    lines: vec![line("legacy", &[1.0, 1.0, 1.0])],
                    marker: None,
                },
            ],
            x_axis: "sockets".into(),
            y_axis: "polls per datagram".into(),
            x_log: false,
            y_log: false,
        };
        let svg = figure.svg().unwrap();
        let all = texts(&svg);
        assert_eq!(
            all.iter().filter(|t| *t == "legacy").count(),
            1,
            "one legend entry per series: {all:?}"
        );
        assert!(all.iter().any(|t| t == "30 futures") && all.iter().any(|t| t == "spawn"));
        assert!(
            svg.contains("<polygon"),
            "triangles mark modern, in the legend too"
        );
        assert_eq!(short(0.00391), "0.0039");
        assert_eq!(short(1.97), "1.97");
        assert_eq!(short(12_345.0), "12,345");
        assert_eq!(short(2.0), "2");
    }
}
