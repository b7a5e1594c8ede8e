//! From results to figures: what each figure of the book shows, the data it is drawn
//! from, and the sentence under it that says which run that was. A figure whose data
//! is missing becomes a [`Made::Missing`] that says why and which command makes it.

use std::fmt::Write as _;

use anyhow::Result;
use harness::workspace::relative;
use harness::{Family, Polls};

use super::figures::{self, flavor_style, BarSeries, Bars, Line, Lines, Panel, Value};
use super::polls::Sweep;
use super::readiness::{self, Coop, Readiness, Waiters};
use super::results::{flavor_rank, Bench, Loaded, Results, Source, Spread};
use crate::bench::keys;
use crate::doc::escape;
use crate::pairs::Pair;
use crate::trace::{self, ProgramTrace};

/// A figure ready for a page: its file, its SVG, a description for `alt`, and the
/// caption (HTML) saying what it shows and which run it comes from.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File name under `figures/` (`echo-tokio-syscalls.svg`).
    pub file: String,
    pub svg: String,
    pub alt: String,
    pub caption: String,
}

/// A figure, or why there is none.
#[derive(Debug, Clone)]
pub enum Made {
    Figure(Figure),
    Missing {
        /// What the figure would show.
        what: String,
        /// Why it is not here.
        why: String,
        /// The command that makes its data.
        command: String,
    },
}

impl Made {
    fn missing(what: &str, why: impl Into<String>, command: impl Into<String>) -> Made {
        Made::Missing {
            what: what.to_string(),
            why: why.into(),
            command: command.into(),
        }
    }
}

/// `Measured with `cmd` on DATE (AGE), MACHINE. DETAIL. Data: FILE.` — once per
/// command and machine among `sources` (labelled by side when there are several).
pub fn provenance(sources: &[(String, &Source)], now: u64) -> String {
    struct Run<'a> {
        labels: Vec<&'a str>,
        command: Option<&'a str>,
        machine: String,
        times: Vec<u64>,
        details: Vec<&'a str>,
        files: Vec<&'a str>,
    }
    let mut runs: Vec<Run> = Vec::new();
    for (label, s) in sources {
        let machine = s.machine.as_ref().map(|m| m.describe()).unwrap_or_default();
        let command = s.command.as_deref();
        let at = match runs
            .iter()
            .position(|r| r.command == command && r.machine == machine)
        {
            Some(i) => i,
            None => {
                runs.push(Run {
                    labels: Vec::new(),
                    command,
                    machine,
                    times: Vec::new(),
                    details: Vec::new(),
                    files: Vec::new(),
                });
                runs.len() - 1
            }
        };
        let r = &mut runs[at];
        r.labels.push(label);
        r.times.extend(s.unix_time);
        if !r.details.contains(&s.detail.as_str()) {
            r.details.push(&s.detail);
        }
        if !r.files.contains(&s.file.as_str()) {
            r.files.push(&s.file);
        }
    }
    let several = runs.len() > 1;
    let mut out = String::new();
    for r in runs {
        if several {
            let names = if r.labels.len() > 4 {
                format!(
                    "{} and {} more",
                    r.labels[..3].join(", "),
                    r.labels.len() - 3
                )
            } else {
                r.labels.join(", ")
            };
            let _ = write!(out, "<b>{}</b>: ", escape(&names));
        }
        let command = r
            .command
            .map(|c| format!("<code>{}</code>", escape(c)))
            .unwrap_or_else(|| "an unrecorded command".into());
        let when = match (r.times.iter().min(), r.times.iter().max()) {
            (Some(&a), Some(&b)) if b - a >= 60 => format!(
                "between {} and {} ({})",
                crate::runinfo::utc(a),
                crate::runinfo::utc(b),
                crate::runinfo::age(b, now)
            ),
            (Some(&a), _) => format!(
                "{} ({})",
                crate::runinfo::utc(a),
                crate::runinfo::age(a, now)
            ),
            _ => "an unknown date".into(),
        };
        let _ = write!(out, "Measured with {command} on {}", escape(&when));
        if !r.machine.is_empty() {
            let _ = write!(out, ", {}", escape(&r.machine));
        }
        out.push('.');
        match r.details.as_slice() {
            [one] if !one.is_empty() => {
                let _ = write!(out, " {}.", escape(one.trim_end_matches('.')));
            }
            [] | [_] => {}
            _ => out.push_str(" Each with its family's workload (on its page)."),
        }
        match r.files.as_slice() {
            [one] => {
                let _ = write!(out, " Data: <code>{}</code>. ", escape(one));
            }
            many => {
                let dir = many[0].rsplit_once('/').map_or("", |(d, _)| d);
                let _ = write!(
                    out,
                    " Data: {} files under <code>{}/</code>. ",
                    many.len(),
                    escape(dir)
                );
            }
        }
    }
    out.trim_end().to_string()
}

/// The sources of a trace's sides, labelled by side.
fn trace_sources<'a>(results: &'a Results, t: &ProgramTrace) -> Vec<(String, &'a Source)> {
    t.flavors
        .iter()
        .filter_map(|f| {
            results
                .traces
                .sources
                .get(&(t.program.clone(), f.flavor.clone()))
                .map(|s| (f.flavor.clone(), s))
        })
        .collect()
}

fn trace_of<'a>(results: &'a Results, pair: &Pair) -> Result<&'a ProgramTrace, Made> {
    results.traces.by_program.get(&pair.name).ok_or_else(|| {
        Made::missing(
            "system calls under strace",
            format!(
                "no trace of {} under {}/trace/",
                pair.name,
                relative(&results.dir)
            ),
            format!("cargo xtask trace {}", pair.name),
        )
    })
}

fn bench<'a>(results: &'a Results, what: &str) -> Result<&'a Loaded<Bench>, Made> {
    results.bench.as_ref().map_err(|why| {
        Made::missing(
            what,
            format!("{why} (cargo xtask study --run-missing makes a quick one)"),
            "cargo xtask bench",
        )
    })
}

fn sweep<'a>(results: &'a Results, what: &str) -> Result<&'a Loaded<Sweep>, Made> {
    results
        .polls
        .as_ref()
        .map_err(|why| Made::missing(what, why.clone(), "cargo xtask study --run-missing"))
}

/// A note for a `--quick` or dev-profile bench run.
fn rough_note(b: &Bench) -> &'static str {
    if b.is_rough() {
        " <b>A quick run</b> (short intervals, few rounds): figures to check the instrument \
         with, not to read; <code>cargo xtask bench</code> measures properly."
    } else {
        ""
    }
}

const WHISKERS: &str = "Bars: median over the rounds; whiskers: the lowest and highest round.";

/// System calls per unit of work, each side of the pair: the pair's trace table as a
/// chart.
pub fn syscalls_per_unit(results: &Results, pair: &Pair) -> Made {
    let t = match trace_of(results, pair) {
        Ok(t) => t,
        Err(m) => return m,
    };
    if t.unit == "run" {
        return whole_run(results, pair);
    }
    let rows: Vec<(String, Vec<f64>)> = trace::rows(t)
        .into_iter()
        .filter(|(name, values)| name == "total" || values.iter().any(|v| *v > 0.0))
        .collect();
    let series = t
        .flavors
        .iter()
        .enumerate()
        .map(|(k, f)| BarSeries {
            name: f.flavor.clone(),
            style: flavor_style(&f.flavor),
            values: rows.iter().map(|(_, v)| Some(Value::exact(v[k]))).collect(),
        })
        .collect();
    let figure = Bars {
        categories: rows.iter().map(|(n, _)| n.clone()).collect(),
        series,
        axis: format!("system calls per {}", t.unit),
        log: false,
        reference: None,
        format: figures::short,
    };
    finish(
        figure.svg(),
        format!("{}-syscalls.svg", pair.name),
        format!("System calls per {} of {}, by side", t.unit, pair.name),
        format!(
            "System calls per {} while the workload ran, counted under <code>strace -f</code>; \
             <i>other</i> sums the rarer calls. {}",
            escape(&t.unit),
            provenance(&trace_sources(results, t), results.now)
        ),
    )
}

/// What a whole run creates and calls (start-up included): threads, epoll instances,
/// wake-up fds — the lesson of the demos.
pub fn whole_run(results: &Results, pair: &Pair) -> Made {
    let t = match trace_of(results, pair) {
        Ok(t) => t,
        Err(m) => return m,
    };
    let rows: Vec<(&str, Vec<u64>)> = trace::whole_run_rows(t)
        .into_iter()
        .filter(|(name, _)| *name != "system calls")
        .collect();
    let totals: Vec<String> = t
        .flavors
        .iter()
        .map(|f| format!("{} {}", f.flavor, f.whole_run.total))
        .collect();
    let series = t
        .flavors
        .iter()
        .enumerate()
        .map(|(k, f)| BarSeries {
            name: f.flavor.clone(),
            style: flavor_style(&f.flavor),
            values: rows
                .iter()
                .map(|(_, v)| Some(Value::exact(v[k] as f64)))
                .collect(),
        })
        .collect();
    let figure = Bars {
        categories: rows.iter().map(|(n, _)| n.to_string()).collect(),
        series,
        axis: "count over the whole run, start-up included".into(),
        log: false,
        reference: None,
        format: figures::short,
    };
    finish(
        figure.svg(),
        format!("{}-whole-run.svg", pair.name),
        format!("What a whole run of {} creates, by side", pair.name),
        format!(
            "Threads, epoll instances and wake-up fds (pipes, eventfds and socket pairs made only \
             to wake a poller) over the whole run, start-up included. System calls in all: {}. {}",
            escape(&totals.join(", ")),
            provenance(&trace_sources(results, t), results.now)
        ),
    )
}

fn spread_value(s: Spread, scale: f64) -> Value {
    Value::spread(s.median * scale, s.min * scale, s.max * scale)
}

/// The bench's flavors of a program (`legacy`, `modern`), in story order.
fn bench_flavors(b: &Bench, program: &str) -> Vec<String> {
    let mut out: Vec<String> = b
        .entries
        .iter()
        .filter(|e| e.program == program && e.flavor != "baseline")
        .map(|e| e.flavor.clone())
        .collect();
    out.sort_by_key(|f| flavor_rank(f));
    out.dedup();
    out
}

/// A flavor's colour, paler, for a variant of its program.
fn variant_style(flavor: &str) -> figures::Style {
    let mut style = flavor_style(flavor);
    let pale = |c: u8| c + (255 - c) / 2;
    style.color = plotters::style::RGBColor(
        pale(style.color.0),
        pale(style.color.1),
        pale(style.color.2),
    );
    style
}

/// The value axis of a bar chart.
struct BarAxis {
    unit: &'static str,
    log: bool,
}

/// A bar chart of several figures (all in one unit) of one program's bench entries.
fn bench_bars(
    results: &Results,
    pair: &Pair,
    what: &str,
    rows: &[(&str, &str, f64)],
    axis: BarAxis,
    with_raw_baseline: bool,
    load: String,
) -> Made {
    let b = match bench(results, what) {
        Ok(b) => b,
        Err(m) => return m,
    };
    let flavors = bench_flavors(&b.data, &pair.name);
    if flavors.is_empty() {
        return Made::missing(
            what,
            format!("{} has no entry for {}", b.source.file, pair.name),
            format!("cargo xtask bench {}", pair.name),
        );
    }
    let mut series: Vec<BarSeries> = flavors
        .iter()
        .map(|f| BarSeries {
            name: f.clone(),
            style: flavor_style(f),
            values: rows
                .iter()
                .map(|(key, _, scale)| {
                    b.data
                        .entry(&pair.name, f, None)
                        .and_then(|e| e.figure(key))
                        .map(|s| spread_value(s, *scale))
                })
                .collect(),
        })
        .collect();
    // A second configuration of the program (`--lookup proc`), beside each side.
    let mut variants: Vec<&str> = b
        .data
        .entries
        .iter()
        .filter(|e| e.program == pair.name)
        .filter_map(|e| e.variant.as_deref())
        .collect();
    variants.sort();
    variants.dedup();
    for v in variants {
        for f in &flavors {
            if let Some(e) = b.data.variant(&pair.name, f, v) {
                series.push(BarSeries {
                    name: format!("{f} {v}"),
                    style: variant_style(f),
                    values: rows
                        .iter()
                        .map(|(key, _, scale)| e.figure(key).map(|s| spread_value(s, *scale)))
                        .collect(),
                });
            }
        }
    }
    if with_raw_baseline {
        if let Some(e) = b.data.entries.iter().find(|e| e.raw_baseline) {
            series.push(BarSeries {
                name: format!("raw epoll baseline ({} {})", e.flavor, e.program),
                style: flavor_style("baseline"),
                values: rows
                    .iter()
                    .map(|(key, _, scale)| e.figure(key).map(|s| spread_value(s, *scale)))
                    .collect(),
            });
        }
    }
    let figure = Bars {
        categories: rows.iter().map(|(_, label, _)| label.to_string()).collect(),
        series,
        axis: axis.unit.into(),
        log: axis.log,
        reference: None,
        format: figures::short,
    };
    let slug: String = what
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let log_note = if axis.log { " Log scale." } else { "" };
    finish(
        figure.svg(),
        format!("{}-bench-{slug}.svg", pair.name),
        format!("{what} of {}, by side", pair.name),
        format!(
            "{load}{log_note} {WHISKERS}{} {}",
            rough_note(&b.data),
            provenance(&[("bench".into(), &b.source)], results.now)
        ),
    )
}

/// A sentence about the bench's method, as its file records it.
fn method_text(
    b: &Result<Loaded<Bench>, String>,
    f: impl Fn(&super::results::BenchMethod) -> String,
) -> String {
    b.as_ref()
        .map(|b| escape(&f(&b.data.method)))
        .unwrap_or_default()
}

/// What the bench measured of a pair, by family (the demos: nothing).
pub fn bench_figures(results: &Results, pair: &Pair, family: Family) -> Vec<Made> {
    let udp_load = match &results.bench {
        Ok(b) => escape(&b.data.udp_load()),
        Err(_) => String::new(),
    };
    match family {
        Family::UdpEcho => vec![
            bench_bars(
                results,
                pair,
                "Server CPU per echo",
                &[(keys::UDP_CPU_PER_ECHO, "per echo", 1e-3)],
                BarAxis {
                    unit: "µs of server CPU",
                    log: false,
                },
                true,
                format!("With {udp_load}, 64-byte datagrams."),
            ),
            bench_bars(
                results,
                pair,
                "Round-trip time",
                &[
                    ("rtt_p50_us", "median", 1.0),
                    ("rtt_p99_us", "99th percentile", 1.0),
                ],
                BarAxis {
                    unit: "µs from sending a datagram to its echo",
                    log: true,
                },
                true,
                "One 64-byte datagram in flight at a time (the latency load).".into(),
            ),
        ],
        Family::Multisocket => vec![multisocket_cpu(results, pair)],
        Family::TcpEcho => vec![bench_bars(
            results,
            pair,
            "Server CPU",
            &[
                (keys::TCP_CPU_PER_MB, "per MB echoed", 1.0),
                ("cpu_per_connection_us", "per connection", 1.0),
            ],
            BarAxis {
                unit: "µs of server CPU",
                log: false,
            },
            false,
            method_text(&results.bench, |m| {
                format!(
                    "Bulk: {}. Connections: {}.",
                    m.tcp_echo["bulk"]
                        .as_str()
                        .unwrap_or("the bench's bulk load"),
                    m.tcp_echo["connections"]
                        .as_str()
                        .unwrap_or("the bench's connection load")
                )
            }),
        )],
        Family::Ident => vec![bench_bars(
            results,
            pair,
            "Server CPU per query",
            &[(
                keys::IDENT_CPU_PER_QUERY,
                "per query, open connection, one client",
                1.0,
            )],
            BarAxis {
                unit: "µs of server CPU",
                log: false,
            },
            false,
            method_text(&results.bench, |m| {
                format!(
                    "Load: {}.",
                    m.ident.as_str().unwrap_or("the bench's ident load")
                )
            }),
        )],
        // The demos show one mechanism; the bench has nothing to measure there.
        Family::FutureNotify
        | Family::MioEmpty
        | Family::MioMixed
        | Family::MioPipe
        | Family::UdpWaiters
        | Family::CoopBudget => Vec::new(),
    }
}

/// Server CPU per datagram against the socket count (log–log), one line per side.
fn multisocket_cpu(results: &Results, pair: &Pair) -> Made {
    let what = "CPU per datagram against the socket count";
    let b = match bench(results, what) {
        Ok(b) => b,
        Err(m) => return m,
    };
    match scaling_panel(&b.data, &pair.name) {
        None => Made::missing(
            what,
            format!("{} has no entry for {}", b.source.file, pair.name),
            format!("cargo xtask bench {}", pair.name),
        ),
        Some(panel) => finish(
            scaling_lines(vec![panel]).svg(),
            format!("{}-bench-scaling.svg", pair.name),
            format!(
                "Server CPU per datagram of {} at each socket count",
                pair.name
            ),
            scaling_caption(results, b),
        ),
    }
}

pub fn scaling_caption(results: &Results, b: &Loaded<Bench>) -> String {
    let spray = b.data.method.multisocket["spray"]
        .as_str()
        .unwrap_or("a paced spray of datagrams over every socket");
    format!(
        "Server CPU from idle after start-up to idle after the last datagram, divided by the \
         datagrams received; load: {}. Points: median over the rounds; whiskers: the lowest and \
         highest round.{} {}",
        escape(spray),
        rough_note(&b.data),
        provenance(&[("bench".into(), &b.source)], results.now)
    )
}

pub fn scaling_panel(b: &Bench, program: &str) -> Option<Panel> {
    let lines: Vec<Line> = bench_flavors(b, program)
        .into_iter()
        .filter_map(|f| {
            let mut points: Vec<(f64, Value)> = b
                .entries
                .iter()
                .filter(|e| e.program == program && e.flavor == f)
                .filter_map(|e| {
                    Some((
                        e.sockets? as f64,
                        spread_value(e.figure(keys::MULTISOCKET_CPU_PER_DATAGRAM)?, 1e-3),
                    ))
                })
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            (!points.is_empty()).then(|| Line {
                name: f.clone(),
                style: flavor_style(&f),
                points,
            })
        })
        .collect();
    (!lines.is_empty()).then(|| Panel {
        title: program.to_string(),
        lines,
        marker: None,
    })
}

pub fn scaling_lines(panels: Vec<Panel>) -> Lines {
    Lines {
        panels,
        x_axis: "sockets".into(),
        y_axis: "µs of server CPU per datagram".into(),
        x_log: true,
        y_log: true,
    }
}

/// Polls per datagram against the socket count, one line per side.
pub fn polls_figure(results: &Results, pair: &Pair) -> Made {
    let what = "polls per datagram against the socket count";
    let s = match sweep(results, what) {
        Ok(s) => s,
        Err(m) => return m,
    };
    match polls_panel(&s.data, pair) {
        None => Made::missing(
            what,
            format!("{} has no series for {}", s.source.file, pair.name),
            "cargo xtask study --sweep-polls",
        ),
        Some(panel) => finish(
            polls_lines(vec![panel]).svg(),
            format!("{}-polls.svg", pair.name),
            format!(
                "Futures polled per datagram by {} at 1 to 64 sockets",
                pair.name
            ),
            polls_caption(results, s),
        ),
    }
}

pub fn polls_caption(results: &Results, s: &Loaded<Sweep>) -> String {
    format!(
        "How many per-socket futures one datagram makes the program poll (its <code>poll future #i</code> \
         lines), at each socket count; the median of {} datagrams sent one at a time to different \
         sockets. {}",
        s.data.probes,
        provenance(&[("sweep".into(), &s.source)], results.now)
    )
}

/// The sweep's lines of one program; a vertical line where a side declares the
/// 30-future switch of futures 0.3's `join_all`.
pub fn polls_panel(s: &Sweep, pair: &Pair) -> Option<Panel> {
    let mut series: Vec<&super::polls::Series> =
        s.series.iter().filter(|x| x.program == pair.name).collect();
    series.sort_by_key(|x| flavor_rank(&x.flavor));
    let lines: Vec<Line> = series
        .iter()
        .map(|x| Line {
            name: x.flavor.clone(),
            style: flavor_style(&x.flavor),
            points: x
                .points
                .iter()
                .map(|p| (p.sockets as f64, Value::exact(p.median())))
                .collect(),
        })
        .collect();
    if lines.is_empty() {
        return None;
    }
    let declared: Vec<Option<Polls>> = pair.programs().map(|p| p.polls().ok()).collect();
    // What each declared composition marks on the chart.
    let marker = declared.iter().flatten().find_map(|p| match p {
        Polls::EveryUpTo30 => Some((30.5, "30 futures: join_all switches".to_string())),
        Polls::Every | Polls::Woken => None,
    });
    Some(Panel {
        title: pair.name.clone(),
        lines,
        marker,
    })
}

pub fn polls_lines(panels: Vec<Panel>) -> Lines {
    Lines {
        panels,
        x_axis: "sockets".into(),
        y_axis: "futures polled per datagram".into(),
        x_log: false,
        y_log: false,
    }
}

/// The command that measures the readiness figures.
pub const MEASURE_READINESS: &str = "cargo xtask study --measure-readiness";

fn readiness_of<'a>(results: &'a Results, what: &str) -> Result<&'a Loaded<Readiness>, Made> {
    results
        .readiness
        .as_ref()
        .map_err(|why| Made::missing(what, why.clone(), MEASURE_READINESS))
}

/// The `udp-waiters` figures of a pair, one per side in story order.
pub fn waiters_of<'a>(r: &'a Readiness, program: &str) -> Vec<&'a Waiters> {
    let mut out: Vec<&Waiters> = r.waiters.iter().filter(|w| w.program == program).collect();
    out.sort_by_key(|w| flavor_rank(&w.flavor));
    out
}

/// What the `coop-budget` figures hold of a pair: its sides in story order, and the
/// `--loop`s measured (in the order they were measured).
fn coop_of(r: &Readiness, program: &str) -> (Vec<String>, Vec<String>) {
    let mut flavors: Vec<String> = Vec::new();
    let mut loops: Vec<String> = Vec::new();
    for c in r.coop.iter().filter(|c| c.program == program) {
        if !flavors.contains(&c.flavor) {
            flavors.push(c.flavor.clone());
        }
        if !loops.contains(&c.read_loop) {
            loops.push(c.read_loop.clone());
        }
    }
    flavors.sort_by_key(|f| flavor_rank(f));
    (flavors, loops)
}

fn no_figures_of(what: &str, r: &Loaded<Readiness>, program: &str) -> Made {
    Made::missing(
        what,
        format!("{} has no figures of {program}", r.source.file),
        MEASURE_READINESS,
    )
}

fn readiness_provenance(results: &Results, r: &Loaded<Readiness>) -> String {
    provenance(&[("readiness".into(), &r.source)], results.now)
}

/// The figures of the readiness chapter, by family (the other families: none).
pub fn readiness_figures(results: &Results, pair: &Pair, family: Family) -> Vec<Made> {
    match family {
        Family::UdpWaiters => vec![waiters_woken(results, pair), waiters_burst(results, pair)],
        Family::CoopBudget => vec![
            coop_ticker_delay(results, pair),
            coop_per_poll(results, pair),
        ],
        Family::UdpEcho
        | Family::Multisocket
        | Family::FutureNotify
        | Family::MioEmpty
        | Family::MioMixed
        | Family::MioPipe
        | Family::TcpEcho
        | Family::Ident => Vec::new(),
    }
}

/// `udp-waiters`: who a datagram wakes — wake-ups per datagram and tasks ever woken,
/// each side.
pub fn waiters_woken(results: &Results, pair: &Pair) -> Made {
    let what = "wake-ups per datagram of tasks waiting on one socket";
    let r = match readiness_of(results, what) {
        Ok(r) => r,
        Err(m) => return m,
    };
    let sides = waiters_of(&r.data, &pair.name);
    if sides.is_empty() {
        return no_figures_of(what, r, &pair.name);
    }
    let tasks = r.data.method.tasks;
    let figure = Bars {
        categories: vec![
            "wake-ups per datagram".into(),
            format!("tasks ever woken (of {tasks})"),
        ],
        series: sides
            .iter()
            .map(|w| BarSeries {
                name: w.flavor.clone(),
                style: flavor_style(&w.flavor),
                values: vec![
                    Some(Value::exact(w.woken_per_datagram())),
                    Some(Value::exact(w.tasks_woken() as f64)),
                ],
            })
            .collect(),
        axis: "tasks".into(),
        log: false,
        reference: None,
        format: figures::short,
    };
    let reads: Vec<String> = sides
        .iter()
        .map(|w| {
            let per: Vec<String> = w.tasks.iter().map(|t| t.recv.to_string()).collect();
            format!("{} {}", w.flavor, per.join("/"))
        })
        .collect();
    finish(
        figure.svg(),
        format!("{}-woken.svg", pair.name),
        format!(
            "Wake-ups per datagram and tasks woken of {}, by side",
            pair.name
        ),
        format!(
            "{} datagrams sent one at a time to {tasks} idle tasks that share one socket \
             (<code>--work-ms 0</code>); a wake-up is a <code>task #i woken</code> line after \
             start-up, <i>tasks ever woken</i> how many of the {tasks} tasks printed one. \
             Datagrams read by task #0/#1/…: {}. {}",
            r.data.method.probes,
            escape(&reads.join("; ")),
            readiness_provenance(results, r)
        ),
    )
}

/// `udp-waiters`: a burst of one datagram per task to tasks that each work on a
/// datagram — when each datagram was read, each side.
pub fn waiters_burst(results: &Results, pair: &Pair) -> Made {
    let what = "when each datagram of a burst was read";
    let r = match readiness_of(results, what) {
        Ok(r) => r,
        Err(m) => return m,
    };
    let sides = waiters_of(&r.data, &pair.name);
    if sides.is_empty() {
        return no_figures_of(what, r, &pair.name);
    }
    let m = &r.data.method;
    let ordinal = |i: usize| match i {
        0 => "1st".to_string(),
        1 => "2nd".to_string(),
        2 => "3rd".to_string(),
        n => format!("{}th", n + 1),
    };
    let figure = Bars {
        categories: (0..m.tasks)
            .map(|i| format!("{} datagram read", ordinal(i)))
            .collect(),
        series: sides
            .iter()
            .map(|w| BarSeries {
                name: w.flavor.clone(),
                style: flavor_style(&w.flavor),
                values: (0..m.tasks)
                    .map(|i| w.burst.get(i).map(|b| Value::exact(b.after_ms)))
                    .collect(),
            })
            .collect(),
        axis: "ms after the burst was sent".into(),
        log: false,
        reference: Some((
            m.burst_work_ms as f64,
            format!("one datagram's work ({} ms)", m.burst_work_ms),
        )),
        format: figures::short,
    };
    let who: Vec<String> = sides
        .iter()
        .map(|w| {
            let tasks: Vec<String> = w.burst.iter().map(|b| format!("#{}", b.task)).collect();
            let last = w.burst_last_ms().map_or("none read".to_string(), |ms| {
                format!("last after {} ms", figures::short(ms))
            });
            let unread = m.tasks.saturating_sub(w.burst.len());
            let unread = if unread > 0 {
                format!(", {unread} never read: shown as <i>not measured</i>")
            } else {
                String::new()
            };
            format!(
                "{} by task{} {} ({last}{unread})",
                escape(&w.flavor),
                if tasks.len() == 1 { "" } else { "s" },
                tasks.join(", ")
            )
        })
        .collect();
    finish(
        figure.svg(),
        format!("{}-burst.svg", pair.name),
        format!(
            "When each of {} datagrams sent at once was read by {}, by side",
            m.tasks, pair.name
        ),
        format!(
            "{} datagrams sent at once to {} idle tasks sharing one socket, each task busy \
             <code>--work-ms {}</code> with a datagram it read; each bar is when a \
             <code>task #i recv</code> line arrived, in the order they came. Read: {}. {}",
            m.tasks,
            m.tasks,
            m.burst_work_ms,
            who.join("; "),
            readiness_provenance(results, r)
        ),
    )
}

/// A `coop-budget` figure: one group per `--loop`, one bar per side, the median over
/// the floods with the lowest and highest as whiskers.
fn coop_bars(
    r: &Loaded<Readiness>,
    program: &str,
    figure: impl Fn(&readiness::CoopRound) -> f64,
    axis: &str,
    reference: (f64, String),
) -> Option<Bars> {
    let (flavors, loops) = coop_of(&r.data, program);
    if flavors.is_empty() {
        return None;
    }
    let run = |f: &str, l: &str| -> Option<&Coop> {
        r.data
            .coop
            .iter()
            .find(|c| c.program == program && c.flavor == f && c.read_loop == l)
    };
    Some(Bars {
        categories: loops.iter().map(|l| format!("--loop {l}")).collect(),
        series: flavors
            .iter()
            .map(|f| BarSeries {
                name: f.clone(),
                style: flavor_style(f),
                values: loops
                    .iter()
                    .map(|l| {
                        let (median, lo, hi) = run(f, l)?.spread(&figure)?;
                        Some(Value::spread(median, lo, hi))
                    })
                    .collect(),
            })
            .collect(),
        axis: axis.into(),
        log: true,
        reference: Some(reference),
        format: figures::short,
    })
}

/// What the bars and whiskers of a `coop-budget` figure are (the load itself is in
/// the provenance that follows).
fn coop_caption(r: &Loaded<Readiness>) -> String {
    format!(
        "Log scale. Bars: the median over {} rounds per loop; whiskers: the lowest and highest \
         round (each round a fresh run of the program and one flood).",
        r.data.method.rounds
    )
}

/// `coop-budget`: how late the ticker beside the flooded reader ran, per `--loop`.
pub fn coop_ticker_delay(results: &Results, pair: &Pair) -> Made {
    let what = "the ticker's worst delay under a flood, per --loop";
    let r = match readiness_of(results, what) {
        Ok(r) => r,
        Err(m) => return m,
    };
    let flood = r.data.method.flood_ms as f64;
    let Some(figure) = coop_bars(
        r,
        &pair.name,
        |x| x.worst_late_us as f64 / 1e3,
        "ms the ticker ran late, at worst",
        (flood, format!("the flood's length ({} ms)", flood)),
    ) else {
        return no_figures_of(what, r, &pair.name);
    };
    finish(
        figure.svg(),
        format!("{}-ticker-delay.svg", pair.name),
        format!(
            "Worst delay of the ticker beside a flooded reader of {}, per --loop and side",
            pair.name
        ),
        format!(
            "How late the ticker (a task on the reader's thread that prints <code>tick N late US us</code>) ran at worst \
             while the socket was flooded: the summary's <code>worst_late_us</code>. A bar that \
             reaches the line: the ticker waited for the whole flood. {} {}",
            coop_caption(r),
            readiness_provenance(results, r)
        ),
    )
}

/// `coop-budget`: the most datagrams the reader read in one poll, per `--loop`.
pub fn coop_per_poll(results: &Results, pair: &Pair) -> Made {
    let what = "the most datagrams read in one poll under a flood, per --loop";
    let r = match readiness_of(results, what) {
        Ok(r) => r,
        Err(m) => return m,
    };
    let Some(figure) = coop_bars(
        r,
        &pair.name,
        |x| x.most_per_poll as f64,
        "datagrams read in one poll of the reader, at most",
        (
            readiness::BUDGET as f64,
            format!("the budget ({} datagrams)", readiness::BUDGET),
        ),
    ) else {
        return no_figures_of(what, r, &pair.name);
    };
    finish(
        figure.svg(),
        format!("{}-per-poll.svg", pair.name),
        format!(
            "Most datagrams read in one poll by {}, per --loop and side",
            pair.name
        ),
        format!(
            "The most datagrams the reader read before it gave the thread back (the summary's \
             <code>most_per_poll</code>). The line: tokio 1's cooperative budget, {} units per \
             poll of a task, which <code>legacy --loop fixed</code> copies by hand; a reader that \
             yields stops there, one that does not reads on while the flood lasts. {} {}",
            readiness::BUDGET,
            coop_caption(r),
            readiness_provenance(results, r)
        ),
    )
}

/// Wraps a drawn figure, or says why it could not be drawn.
pub fn finish(svg: Result<String>, file: String, alt: String, caption: String) -> Made {
    match svg {
        Ok(svg) => Made::Figure(Figure {
            file,
            svg,
            alt,
            caption,
        }),
        Err(e) => Made::missing(&alt, format!("the figure could not be drawn: {e:#}"), ""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::study::results::{Conformance, Files};

    #[test]
    fn a_variant_is_drawn_beside_its_side() {
        let dir = std::env::temp_dir().join(format!(
            "xtask-charts-variant-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let entry = |flavor: &str, variant: Option<&str>, us: f64| {
            serde_json::json!({
                "program": "ident-pool", "flavor": flavor, "variant": variant,
                "median": {keys::IDENT_CPU_PER_QUERY: us},
                "min": {keys::IDENT_CPU_PER_QUERY: us * 0.9},
                "max": {keys::IDENT_CPU_PER_QUERY: us * 1.1},
            })
        };
        let bench = serde_json::json!({
            "command": "cargo xtask bench",
            "method": {"profile": "release", "rounds": 3},
            "entries": [
                entry("legacy", None, 40.0),
                entry("modern", None, 30.0),
                entry("modern", Some("--lookup proc"), 70.0),
            ],
        });
        let file = dir.join("bench.json");
        std::fs::write(&file, bench.to_string()).unwrap();
        let results = Results::load(
            &dir,
            &[],
            Files {
                bench: Some(file),
                ..Default::default()
            },
            Conformance {
                source: "not run".into(),
                rows: None,
            },
        );
        let pair = Pair {
            name: "ident-pool".into(),
            legacy: None,
            modern: None,
            others: Vec::new(),
        };
        let made = bench_figures(&results, &pair, Family::Ident);
        let [Made::Figure(f)] = made.as_slice() else {
            panic!("one figure: {made:?}")
        };
        assert!(f.svg.contains("modern --lookup proc"), "the variant's bar");
        assert!(
            !f.svg.contains("legacy --lookup proc"),
            "only where measured"
        );
        assert!(f.svg.contains("\n70\n</text>"), "its median beside it");
        // Its own entry, not the default one.
        let b = results.bench.as_ref().unwrap();
        assert_eq!(
            b.data
                .variant("ident-pool", "modern", "--lookup proc")
                .and_then(|e| e.figure(keys::IDENT_CPU_PER_QUERY))
                .map(|s| s.median),
            Some(70.0)
        );
        assert_eq!(
            b.data
                .entry("ident-pool", "modern", None)
                .map(|e| e.median[keys::IDENT_CPU_PER_QUERY]),
            Some(30.0)
        );
        std::fs::remove_dir_all(&dir).ok();
    }
}
