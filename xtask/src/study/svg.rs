//! Every figure of the book, drawn with plotters' SVG backend (text stays SVG
//! `<text>`, so no font file is needed and the figures stay sharp at any zoom). The
//! one palette lives here: a flavor has the same colour and marker in every figure.
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
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

const FONT: &str = "sans-serif";
// Font sizes below are as plotters takes them: it writes SVG text at 0.806 of the
// size asked for (16 becomes 12.9 px).
const WIDTH: u32 = 760;
/// Rough width of one character of the 13 px label font, for layout.
const CHAR_W: f64 = 7.2;
/// Height of one bar, and the gap between two groups of bars, in pixels.
const BAR_H: f64 = 13.0;
const GAP: f64 = 12.0;

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

/// The style of a flavor label (`legacy`, `bridge-2`, `modern`, `next`, `baseline`,
/// `reference`): the same in every figure of the book. The steps of a ladder are
/// shades of one hue, darker the nearer they are to modern, each with its own
/// marker, so that `bridge-1` and `bridge-3` are never one swatch (tcp-echo's ladder
/// has four steps: the fourth, and any later one, is the darkest).
pub fn flavor_style(label: &str) -> Style {
    let (base, step) = label.split_once('-').unwrap_or((label, ""));
    let style = |r, g, b, mark| Style {
        color: RGBColor(r, g, b),
        mark,
    };
    match (base, step.parse::<u8>().unwrap_or(0)) {
        ("legacy", _) => style(0xd9, 0x5f, 0x02, Mark::Circle),
        ("bridge", 1) => style(0xb8, 0xa9, 0xd9, Mark::Square),
        ("bridge", 2) => style(0x8e, 0x7c, 0xc3, Mark::Diamond),
        ("bridge", 4..) => style(0x3f, 0x00, 0x7d, Mark::Triangle),
        ("bridge", _) => style(0x5e, 0x4f, 0xa2, Mark::Circle),
        ("modern", _) => style(0x1b, 0x9e, 0x77, Mark::Triangle),
        ("next", _) => style(0x1f, 0x78, 0xb4, Mark::Diamond),
        ("reference", _) => style(0xa6, 0x76, 0x1d, Mark::Square),
        _ => style(0x66, 0x66, 0x66, Mark::Square),
    }
}

/// The style of the `i`-th part of a stacked bar (ColorBrewer's Dark2, then grey).
pub fn part_style(i: usize) -> Style {
    const PARTS: [u32; 8] = [
        0x1b9e77, 0xd95f02, 0x7570b3, 0xe7298a, 0x66a61e, 0xe6ab02, 0xa6761d, 0x999999,
    ];
    let [_, r, g, b] = PARTS[i % PARTS.len()].to_be_bytes();
    let (color, mark) = (RGBColor(r, g, b), Mark::Square);
    Style { color, mark }
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

    /// The same, moved to end after `start` (which it moves on to its end).
    fn after(self, start: &mut f64) -> Value {
        *start += self.v;
        Value { v: *start, ..self }
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
    /// One bar per group, the series' values laid end to end (the whiskers of the
    /// last are the whole bar's, and only the whole is written).
    pub stacked: bool,
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

/// The style of a tick label drawn by hand (a log axis's 1-2-5 labels).
fn tick_text() -> TextStyle<'static> {
    TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Center, VPos::Center))
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

    /// The labelled values of a log axis: 1, 2 and 5 of every decade in range (a
    /// decade alone would leave 1–64 labelled at 1 and 10 only).
    fn log_ticks(self) -> Vec<f64> {
        let decades = (self.lo as i32)..=(self.hi as i32);
        let values = decades.flat_map(|d| [1.0, 2.0, 5.0].map(|m| m * 10f64.powi(d)));
        values
            .filter(|v| (self.lo..=self.hi).contains(&v.log10()))
            .collect()
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
    // Places an entry's text, on a new row if it does not fit; where its glyph goes.
    let mut item = |what: &str| -> Result<(i32, i32)> {
        let w = 26 + (what.chars().count() as f64 * CHAR_W) as i32;
        if x + w > width - 10 && x > 10 {
            (x, y) = (10, y + 20);
        }
        let at = (x, y);
        x += w + 18;
        area.draw(&Text::new(
            what.to_string(),
            (at.0 + 26, at.1),
            text.clone(),
        ))
        .map_err(err)?;
        Ok(at)
    };
    for (name, style) in entries {
        let (x0, y0) = item(name)?;
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
    }
    if let Some(what) = whiskers {
        let (x0, y0) = item(what)?;
        for seg in [
            vec![(x0 + 2, y0), (x0 + 18, y0)],
            vec![(x0 + 2, y0 - 5), (x0 + 2, y0 + 5)],
            vec![(x0 + 18, y0 - 5), (x0 + 18, y0 + 5)],
        ] {
            area.draw(&PathElement::new(seg, BLACK.stroke_width(1)))
                .map_err(err)?;
        }
    }
    if let Some(what) = reference {
        let (x0, y0) = item(what)?;
        area.draw(&PathElement::new(
            vec![(x0 + 9, y0 - 7), (x0 + 9, y0 + 7)],
            ShapeStyle::from(&BLACK).stroke_width(2),
        ))
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

/// A chart of plotters on the SVG backend, with plain `f64` axes.
type Chart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

const WHISKER_TEXT: &str = "lowest and highest round";

impl Bars {
    /// Every drawn value, whiskers and the reference line included.
    fn values(&self) -> impl Iterator<Item = f64> + '_ {
        let bars = self.series.iter().flat_map(|s| s.values.iter().flatten());
        let ends = bars.flat_map(|v| [Some(v.v), v.lo, v.hi]).flatten();
        ends.chain(self.reference.as_ref().map(|(r, _)| *r))
    }

    fn whiskers(&self) -> bool {
        let mut bars = self.series.iter().flat_map(|s| s.values.iter().flatten());
        bars.any(|v| v.whisker().is_some())
    }

    /// The value axis: from zero, with room for the value written after the longest bar.
    fn scale(&self) -> Scale {
        let mut scale = Scale::fit(self.values(), self.log, true);
        if scale.counts {
            scale.hi += 1.0;
        } else if !scale.log {
            scale.hi *= 1.18;
        }
        scale
    }

    /// The bars of each group: the series that have a value there (a program
    /// without a bridge side has no bridge bar, rather than an empty one).
    fn rows(&self) -> Vec<Vec<(Style, Value)>> {
        let bar = |g: usize| -> Vec<(Style, Value)> {
            let present = self
                .series
                .iter()
                .filter_map(|s| Some((s.style, s.values.get(g).copied().flatten()?)));
            if !self.stacked {
                return present.collect();
            }
            // Each part's bar runs from zero to where it ends; drawn longest first.
            let mut end = 0.0;
            let mut ends: Vec<(Style, Value)> =
                present.map(|(s, v)| (s, v.after(&mut end))).collect();
            ends.reverse();
            ends
        };
        (0..self.categories.len()).map(bar).collect()
    }

    /// The figure as an SVG document: each group a bar per series present, in pixels
    /// rows of [`BAR_H`], groups [`GAP`] apart.
    pub fn svg(&self) -> Result<String> {
        let rows = self.rows();
        let groups = rows.len().max(1);
        // Rows of bars a group takes.
        let bars_in = |r: &Vec<_>| (if self.stacked { 1 } else { r.len().max(1) }) as f64;
        let plot_h: f64 = rows
            .iter()
            .map(|r| BAR_H * bars_in(r) + GAP)
            .sum::<f64>()
            .max(BAR_H + GAP);
        let longest = self
            .categories
            .iter()
            .map(|c| c.chars().count())
            .max()
            .unwrap_or(4);
        let label_w = longest as f64 * CHAR_W + 14.0;
        let whiskers = self.whiskers();
        let mut items: Vec<usize> = self.series.iter().map(|s| s.name.chars().count()).collect();
        items.extend(whiskers.then_some(WHISKER_TEXT.len()));
        items.extend(self.reference.as_ref().map(|(_, r)| r.chars().count()));
        let legend_h = legend_height(&items);
        let height = legend_h + plot_h as u32 + 56;
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
            let reference = self.reference.as_ref().map(|(_, r)| r.as_str());
            legend(
                &top,
                &entries,
                true,
                whiskers.then_some(WHISKER_TEXT),
                reference,
            )?;
            let scale = self.scale();
            let mut chart = ChartBuilder::on(&plot)
                .margin_right(24)
                .margin_top(4)
                .x_label_area_size(44)
                .y_label_area_size(label_w as u32)
                .build_cartesian_2d(scale.lo..scale.hi, 0f64..plot_h)
                .map_err(err)?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .y_labels(0)
                .x_labels(if scale.log { 0 } else { scale.ticks() })
                .x_label_formatter(&|x| scale.label(*x))
                .x_desc(scale.describe(&self.axis))
                .axis_desc_style((FONT, 16))
                .label_style((FONT, 15))
                .light_line_style(RGBColor(0xee, 0xee, 0xee))
                .draw()
                .map_err(err)?;
            // Groups from the top down, in the order given; the y axis counts pixels.
            let mut top = plot_h - GAP / 2.0;
            let mut middles = Vec::with_capacity(groups);
            for row in &rows {
                for (k, (style, value)) in row.iter().enumerate() {
                    let y1 = top - BAR_H * if self.stacked { 0.0 } else { k as f64 };
                    let y = (y1 - BAR_H + 2.0, y1);
                    let labelled = !self.stacked || k == 0;
                    self.bar(&mut chart, &root, scale, *value, (*style, labelled), y)?;
                }
                let h = BAR_H * bars_in(row);
                middles.push(top - h / 2.0);
                top -= h + GAP;
            }
            self.axis_labels(&mut chart, &root, scale, &middles, plot_h)?;
            root.present().map_err(err)?;
        }
        Ok(out)
    }

    /// One bar between `y0` and `y1`, with its whisker and (if `labelled`) its value.
    fn bar(
        &self,
        chart: &mut Chart,
        root: &DrawingArea<SVGBackend, Shift>,
        scale: Scale,
        v: Value,
        (style, labelled): (Style, bool),
        (y0, y1): (f64, f64),
    ) -> Result<()> {
        let text = TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
        let ym = (y0 + y1) / 2.0;
        let x = scale.to_axis(v.v);
        let bar = Rectangle::new([(scale.lo, y0), (x, y1)], style.color.filled());
        chart.draw_series([bar]).map_err(err)?;
        let mut end = x;
        if let Some((lo, hi)) = v.whisker() {
            let (a, b) = (scale.to_axis(lo), scale.to_axis(hi));
            let h = (y1 - y0) * 0.35;
            let line = |p: Vec<(f64, f64)>| PathElement::new(p, BLACK.stroke_width(1));
            let whisker = [
                line(vec![(a, ym), (b, ym)]),
                line(vec![(a, ym - h), (a, ym + h)]),
                line(vec![(b, ym - h), (b, ym + h)]),
            ];
            chart.draw_series(whisker).map_err(err)?;
            end = end.max(b);
        }
        let (px, py) = chart.backend_coord(&(end, ym));
        if !labelled {
            return Ok(());
        }
        root.draw(&Text::new((self.format)(v.v), (px + 4, py), text))
            .map_err(err)
    }

    /// The 1-2-5 labels of a log axis, the reference line, the category labels.
    fn axis_labels(
        &self,
        chart: &mut Chart,
        root: &DrawingArea<SVGBackend, Shift>,
        scale: Scale,
        middles: &[f64],
        plot_h: f64,
    ) -> Result<()> {
        if scale.log {
            for v in scale.log_ticks() {
                let (px, py) = chart.backend_coord(&(v.log10(), 0.0));
                root.draw(&Text::new(short(v), (px, py + 12), tick_text()))
                    .map_err(err)?;
            }
        }
        if let Some((r, _)) = &self.reference {
            let x = scale.to_axis(*r);
            let line = PathElement::new(
                vec![(x, 0.0), (x, plot_h)],
                ShapeStyle::from(&BLACK).stroke_width(2),
            );
            chart.draw_series([line]).map_err(err)?;
        }
        let label =
            TextStyle::from((FONT, 16).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
        for (name, y) in self.categories.iter().zip(middles) {
            let (px, py) = chart.backend_coord(&(scale.lo, *y));
            root.draw(&Text::new(name.clone(), (px - 8, py), label.clone()))
                .map_err(err)?;
        }
        Ok(())
    }
}

impl Lines {
    fn lines(&self) -> impl Iterator<Item = &Line> {
        self.panels.iter().flat_map(|p| &p.lines)
    }

    /// The two axes, shared by every panel.
    fn scales(&self) -> (Scale, Scale) {
        let xs = self.lines().flat_map(|l| l.points.iter().map(|(x, _)| *x));
        let mut sx = Scale::fit(xs, self.x_log, !self.x_log);
        if !sx.log && !sx.counts {
            sx.hi = sx.hi / 1.08 * 1.03;
        }
        let ys = self
            .lines()
            .flat_map(|l| l.points.iter())
            .flat_map(|(_, v)| [Some(v.v), v.lo, v.hi]);
        (sx, Scale::fit(ys.flatten(), self.y_log, true))
    }

    /// The figure as an SVG document.
    pub fn svg(&self) -> Result<String> {
        let n = self.panels.len().max(1);
        let mut entries: Vec<(String, Style)> = Vec::new();
        for l in self.lines() {
            if !entries.iter().any(|(name, _)| *name == l.name) {
                entries.push((l.name.clone(), l.style));
            }
        }
        let whiskers = self
            .lines()
            .flat_map(|l| &l.points)
            .any(|(_, v)| v.whisker().is_some());
        let mut items: Vec<usize> = entries.iter().map(|(n, _)| n.chars().count()).collect();
        items.extend(whiskers.then_some(WHISKER_TEXT.len()));
        let legend_h = legend_height(&items);
        let scales = self.scales();
        let mut out = String::new();
        {
            let root =
                SVGBackend::with_string(&mut out, (WIDTH, legend_h + 300)).into_drawing_area();
            root.fill(&WHITE).map_err(err)?;
            let (top, rest) = root.split_vertically(legend_h);
            legend(
                &top,
                &entries,
                false,
                whiskers.then_some(WHISKER_TEXT),
                None,
            )?;
            // The first panel carries the y axis description.
            let first_extra = 30;
            let inner = (WIDTH - first_extra) / n as u32;
            let mut remaining = rest;
            for (i, panel) in self.panels.iter().enumerate() {
                let area = match i + 1 == n {
                    true => remaining.clone(),
                    false => {
                        let (a, b) = remaining
                            .split_horizontally(inner + if i == 0 { first_extra } else { 0 });
                        remaining = b;
                        a
                    }
                };
                self.panel(&root, &area, panel, i == 0, scales)?;
            }
            root.present().map_err(err)?;
        }
        Ok(out)
    }

    /// One panel: its axes, its marker, its lines with their whiskers and marks.
    fn panel(
        &self,
        root: &DrawingArea<SVGBackend, Shift>,
        area: &DrawingArea<SVGBackend, Shift>,
        panel: &Panel,
        first: bool,
        (sx, sy): (Scale, Scale),
    ) -> Result<()> {
        let mut builder = ChartBuilder::on(area);
        builder
            .margin_right(12)
            .margin_top(4)
            .caption(&panel.title, (FONT, 17))
            .x_label_area_size(42)
            .y_label_area_size(if first { 74 } else { 40 });
        let mut chart = builder
            .build_cartesian_2d(sx.lo..sx.hi, sy.lo..sy.hi)
            .map_err(err)?;
        let (x_label, y_label) = (|x: &f64| sx.label(*x), |y: &f64| sy.label(*y));
        let mut mesh = chart.configure_mesh();
        mesh.x_labels(if sx.log { 0 } else { sx.ticks().min(5) })
            .y_labels(sy.ticks())
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .x_desc(sx.describe(&self.x_axis))
            .axis_desc_style((FONT, 15))
            .label_style((FONT, 14))
            .light_line_style(RGBColor(0xee, 0xee, 0xee));
        if first {
            mesh.y_desc(sy.describe(&self.y_axis));
        }
        mesh.draw().map_err(err)?;
        if sx.log {
            for v in sx.log_ticks() {
                let (px, py) = chart.backend_coord(&(v.log10(), sy.lo));
                root.draw(&Text::new(short(v), (px, py + 12), tick_text()))
                    .map_err(err)?;
            }
        }
        if let Some((x, label)) = &panel.marker {
            let x = sx.to_axis(*x);
            let grey = RGBColor(0x55, 0x55, 0x55);
            chart
                .draw_series([PathElement::new(
                    vec![(x, sy.lo), (x, sy.hi)],
                    grey.stroke_width(1),
                )])
                .map_err(err)?;
            let (px, py) = chart.backend_coord(&(x, sy.hi));
            let text =
                TextStyle::from((FONT, 14).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(
                label.clone(),
                (px + 3, py + 10),
                text.color(&grey),
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
                    let (x, a, b) = (sx.to_axis(*x), sy.to_axis(lo), sy.to_axis(hi));
                    chart
                        .draw_series([PathElement::new(
                            vec![(x, a), (x, b)],
                            BLACK.stroke_width(1),
                        )])
                        .map_err(err)?;
                }
            }
            for p in &pts {
                draw_mark(root, &line.style, chart.backend_coord(p))?;
            }
        }
        Ok(())
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
            stacked: false,
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
