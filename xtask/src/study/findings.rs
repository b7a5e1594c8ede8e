//! What was found: the handful of measured findings the book opens with, each one
//! sentence and one figure, linking to the pair it is about. Nothing here names a
//! program: which pair a finding is about is chosen from the data (the pair whose
//! sides differ most), so that the page stays true when programs come and go, and
//! every number in a sentence is read from the result files.

use std::fmt::Write as _;

use harness::{Chapter, Family};

use super::charts::{self, Made};
use super::figures::{self, flavor_style, short, BarSeries, Bars, Value};
use super::readiness::{self, Coop};
use super::results::{flavor_rank, Results};
use super::{Book, PairInfo};
use crate::bench::keys;
use crate::doc::escape;
use crate::trace;

/// One finding.
pub struct Finding {
    /// A few words: what was measured.
    pub title: String,
    /// The finding, one sentence (HTML).
    pub sentence: String,
    pub figure: Made,
    /// The page it is about (book path) and its name.
    pub link: Option<(String, String)>,
}

/// Every finding, in the order of the chapters.
pub fn all(book: &Book, results: &Results) -> Vec<Finding> {
    vec![
        syscalls_per_echo(book, results),
        cpu_per_echo(book, results),
        readiness_vs_completion(book, results),
        polls_per_datagram(book, results),
        cpu_against_sockets(book, results),
        wakeup_fds(book, results),
        tcp_and_ident(book, results),
        ticker_under_flood(book, results),
    ]
}

fn pairs_of<'a>(book: &'a Book, families: &[Family]) -> Vec<&'a PairInfo> {
    book.pairs()
        .filter(|p| families.contains(&p.family))
        .collect()
}

fn missing(title: &str, what: &str, why: String, command: &str) -> Finding {
    Finding {
        title: title.into(),
        sentence: format!("Not measured yet: {}.", escape(&why)),
        figure: Made::Missing {
            what: what.into(),
            why,
            command: command.into(),
        },
        link: None,
    }
}

/// `a`, `a and b`, `a, b and c`.
fn and_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

fn code(s: &str) -> String {
    format!("<code>{}</code>", escape(s))
}

/// The UDP echo pair whose two sides make the most different system calls per echo,
/// and the call that differs most.
fn syscalls_per_echo(book: &Book, results: &Results) -> Finding {
    let title = "System calls per echo";
    let pairs = pairs_of(book, &[Family::UdpEcho]);
    let sides = |name: &str| -> Option<(&trace::FlavorTrace, &trace::FlavorTrace)> {
        Some((
            results.trace_side(name, "legacy")?,
            results.trace_side(name, "modern")?,
        ))
    };
    let per =
        |f: &trace::FlavorTrace, row: &str| f.workload.get(row) as f64 / f.units.max(1) as f64;
    let total = |f: &trace::FlavorTrace| f.workload.total as f64 / f.units.max(1) as f64;
    let traced: Vec<&PairInfo> = pairs
        .iter()
        .copied()
        .filter(|p| sides(&p.name).is_some())
        .collect();
    let Some(top) = traced.iter().copied().max_by(|a, b| {
        let gap = |p: &PairInfo| {
            let (l, m) = sides(&p.name).unwrap();
            (total(l) - total(m)).abs()
        };
        gap(a).total_cmp(&gap(b))
    }) else {
        return missing(
            title,
            "system calls per echo of the UDP echo pairs",
            format!(
                "no UDP echo pair traced on both sides under {}/trace/",
                harness::workspace::relative(&results.dir)
            ),
            "cargo xtask trace --all",
        );
    };
    let (l, m) = sides(&top.name).unwrap();
    let t = &results.traces.by_program[&top.name];
    let at = |label: &str| t.flavors.iter().position(|f| f.flavor == label);
    let (li, mi) = (at("legacy").unwrap_or(0), at("modern").unwrap_or(0));
    let row = trace::rows(t)
        .into_iter()
        .filter(|(n, _)| n != "total" && n != "other")
        .max_by(|a, b| {
            let gap = |v: &Vec<f64>| (v[li] - v[mi]).abs();
            gap(&a.1).total_cmp(&gap(&b.1))
        })
        .map(|(n, _)| n)
        .unwrap_or_else(|| "epoll_wait".into());
    let others: Vec<f64> = traced
        .iter()
        .filter(|p| p.name != top.name)
        .filter_map(|p| sides(&p.name))
        .map(|(l, m)| (total(m) / total(l).max(1e-9) - 1.0).abs() * 100.0)
        .collect();
    let rest = if others.is_empty() {
        String::new()
    } else {
        format!(
            "; in the other {} traced UDP echo pairs the two sides' totals are within {:.0}% of each other",
            others.len(),
            others.iter().fold(0.0f64, |a, b| a.max(*b)).ceil()
        )
    };
    let sentence = format!(
        "Per echoed datagram, legacy {} calls {} {} times and modern {} times ({} and {} system calls in all){rest}.",
        code(&top.name),
        code(&row),
        short(per(l, &row)),
        short(per(m, &row)),
        short(total(l)),
        short(total(m)),
    );
    // The figure: that call, per echo, in every traced UDP echo pair.
    let values = |label: &str| -> Vec<Option<Value>> {
        traced
            .iter()
            .map(|p| {
                results
                    .trace_side(&p.name, label)
                    .map(|f| Value::exact(per(f, &row)))
            })
            .collect()
    };
    let all: Vec<f64> = ["legacy", "modern"]
        .iter()
        .flat_map(|f| values(f))
        .flatten()
        .map(|v| v.v)
        .filter(|v| *v > 0.0)
        .collect();
    let spread = all.iter().fold(0.0f64, |a, b| a.max(*b))
        / all.iter().fold(f64::INFINITY, |a, b| a.min(*b));
    let figure = Bars {
        categories: traced.iter().map(|p| p.name.clone()).collect(),
        series: ["legacy", "modern"]
            .iter()
            .map(|f| BarSeries {
                name: f.to_string(),
                style: flavor_style(f),
                values: values(f),
            })
            .collect(),
        axis: format!("{row} calls per echoed datagram"),
        log: spread > 50.0,
        reference: None,
        format: short,
    };
    let sources: Vec<(String, &super::results::Source)> = traced
        .iter()
        .flat_map(|p| {
            ["legacy", "modern"].iter().filter_map(|f| {
                results
                    .traces
                    .sources
                    .get(&(p.name.clone(), f.to_string()))
                    .map(|s| (format!("{} {f}", p.name), s))
            })
        })
        .collect();
    Finding {
        title: title.into(),
        sentence,
        figure: charts::finish(
            figure.svg(),
            "finding-syscalls.svg".into(),
            format!("{row} calls per echo, legacy and modern, of every traced UDP echo pair"),
            format!(
                "{} per echoed datagram while the workload ran, under <code>strace -f</code>{}. {}",
                code(&row),
                if spread > 50.0 {
                    " (log scale: a bar at the left edge is 0 or less than its first tick)"
                } else {
                    ""
                },
                charts::provenance(&sources, results.now)
            ),
        ),
        link: Some((top.path.clone(), top.name.clone())),
    }
}

/// Server CPU per echo: which UDP echo pairs' modern side is clearly cheaper.
fn cpu_per_echo(book: &Book, results: &Results) -> Finding {
    let title = "Server CPU per echo";
    let b = match &results.bench {
        Ok(b) => b,
        Err(why) => {
            return missing(
                title,
                "server CPU per echo",
                why.clone(),
                "cargo xtask bench",
            )
        }
    };
    let pairs = pairs_of(book, &[Family::UdpEcho]);
    let fig = |p: &str, f: &str| {
        b.data
            .entry(p, f, None)
            .and_then(|e| e.figure(keys::UDP_CPU_PER_ECHO))
    };
    let measured: Vec<&PairInfo> = pairs
        .iter()
        .copied()
        .filter(|p| fig(&p.name, "legacy").is_some() && fig(&p.name, "modern").is_some())
        .collect();
    if measured.is_empty() {
        return missing(
            title,
            "server CPU per echo",
            format!(
                "{} has no UDP echo pair measured on both sides",
                b.source.file
            ),
            "cargo xtask bench",
        );
    }
    let ratio = |p: &PairInfo| {
        fig(&p.name, "modern").unwrap().median / fig(&p.name, "legacy").unwrap().median
    };
    let (cheaper, same): (Vec<&PairInfo>, Vec<&PairInfo>) =
        measured.iter().copied().partition(|p| ratio(p) < 0.8);
    let us = |p: &PairInfo, f: &str| short(fig(&p.name, f).unwrap().median * 1e-3);
    let range = |ps: &[&PairInfo]| {
        let (lo, hi) = ps.iter().fold((f64::INFINITY, 0.0f64), |(a, b), p| {
            (a.min(ratio(p)), b.max(ratio(p)))
        });
        if (hi - lo).abs() < 0.005 {
            format!("{lo:.2}")
        } else {
            format!("{lo:.2}–{hi:.2}")
        }
    };
    let sentence = if cheaper.is_empty() {
        format!(
            "Legacy and modern spend about the same server CPU per echo in all {} measured UDP echo pairs (modern ÷ legacy, ratio of the medians: {}).",
            measured.len(),
            range(&measured)
        )
    } else {
        let names: Vec<String> = cheaper.iter().map(|p| code(&p.name)).collect();
        let modern: Vec<String> = cheaper.iter().map(|p| us(p, "modern")).collect();
        let legacy: Vec<String> = cheaper.iter().map(|p| us(p, "legacy")).collect();
        let ratios: Vec<String> = cheaper.iter().map(|p| format!("{:.2}", ratio(p))).collect();
        let rest = if same.is_empty() {
            String::new()
        } else {
            format!(
                "; in the other {} pairs modern ÷ legacy is {}",
                same.len(),
                range(&same)
            )
        };
        format!(
            "Modern {} spend{} {} µs of server CPU per echo where legacy spends {} µs (modern ÷ legacy {}, ratio of the medians){rest}.",
            and_list(&names),
            if cheaper.len() == 1 { "s" } else { "" },
            and_list(&modern),
            and_list(&legacy),
            and_list(&ratios),
        )
    };
    let raw = b.data.entries.iter().find(|e| e.raw_baseline);
    let figure = Bars {
        categories: measured.iter().map(|p| p.name.clone()).collect(),
        series: ["legacy", "modern"]
            .iter()
            .map(|f| BarSeries {
                name: f.to_string(),
                style: flavor_style(f),
                values: measured
                    .iter()
                    .map(|p| {
                        fig(&p.name, f)
                            .map(|s| Value::spread(s.median * 1e-3, s.min * 1e-3, s.max * 1e-3))
                    })
                    .collect(),
            })
            .collect(),
        axis: "µs of server CPU per echo".into(),
        log: false,
        reference: raw.and_then(|e| {
            let s = e.figure(keys::UDP_CPU_PER_ECHO)?;
            Some((
                s.median * 1e-3,
                format!("raw epoll ({} {}), median", e.flavor, e.program),
            ))
        }),
        format: short,
    };
    let link = cheaper
        .first()
        .or(measured.first())
        .map(|p| (p.path.clone(), p.name.clone()));
    Finding {
        title: title.into(),
        sentence,
        figure: charts::finish(
            figure.svg(),
            "finding-cpu-per-echo.svg".into(),
            "Server CPU per echo of every UDP echo pair, legacy and modern".into(),
            format!(
                "With {}, 64-byte datagrams. Bars: median over the rounds; whiskers: the lowest and highest round.{} {}",
                escape(&b.data.udp_load()),
                if b.data.is_rough() { " <b>A quick run</b>: figures to check the instrument with, not to read." } else { "" },
                charts::provenance(&[("bench".into(), &b.source)], results.now)
            ),
        ),
        link,
    }
}

/// Readiness against completion: the `next` UDP echo programs beside raw epoll, in
/// system calls and server CPU per echo, from the bench's next-era loads.
fn readiness_vs_completion(book: &Book, results: &Results) -> Finding {
    let title = "Readiness against completion";
    let b = match &results.bench {
        Ok(b) => b,
        Err(why) => {
            return missing(
                title,
                "the next flavor beside raw epoll",
                why.clone(),
                "cargo xtask bench",
            )
        }
    };
    let raw = b.data.entries.iter().find(|e| e.raw_baseline);
    let nexts: Vec<&super::results::BenchEntry> = b
        .data
        .entries
        .iter()
        .filter(|e| e.flavor == "next" && e.figure(keys::UDP_CPU_PER_ECHO).is_some())
        .collect();
    let (Some(raw), false) = (raw, nexts.is_empty()) else {
        return missing(
            title,
            "the next flavor beside raw epoll",
            format!(
                "{} has no next program measured beside raw epoll",
                b.source.file
            ),
            "cargo xtask bench echo-uring echo-batch echo-compio",
        );
    };
    let cpu = |e: &super::results::BenchEntry| e.figure(keys::UDP_CPU_PER_ECHO).map(|s| s.median);
    let calls =
        |e: &super::results::BenchEntry| e.figure(keys::UDP_SYSCALLS_PER_ECHO).map(|s| s.median);
    let raw_cpu = cpu(raw).unwrap_or(f64::NAN);
    let each: Vec<String> = nexts
        .iter()
        .map(|e| {
            format!(
                "{} {} and {:.2}×",
                code(&e.program),
                calls(e).map_or("—".into(), short),
                cpu(e).unwrap_or(f64::NAN) / raw_cpu
            )
        })
        .collect();
    let sentence = format!(
        "Raw epoll makes {} system calls per echo; the next flavor's programs make (system calls per echo, and server CPU per echo ÷ raw epoll's, ratio of the medians) {}: far fewer entries into the kernel buy little CPU, because the kernel's work per datagram stays.",
        calls(raw).map_or("—".into(), short),
        and_list(&each),
    );
    let mut categories = vec![format!("{} (raw epoll)", raw.program)];
    categories.extend(nexts.iter().map(|e| e.program.clone()));
    let value = |e: &super::results::BenchEntry| {
        e.figure(keys::UDP_CPU_PER_ECHO)
            .map(|s| Value::spread(s.median * 1e-3, s.min * 1e-3, s.max * 1e-3))
    };
    let mut readiness = vec![value(raw)];
    readiness.extend(nexts.iter().map(|_| None));
    let mut completion = vec![None];
    completion.extend(nexts.iter().map(|e| value(e)));
    let figure = Bars {
        categories,
        series: vec![
            BarSeries {
                name: "readiness (modern)".into(),
                style: flavor_style("modern"),
                values: readiness,
            },
            BarSeries {
                name: "next".into(),
                style: flavor_style("next"),
                values: completion,
            },
        ],
        axis: "µs of server CPU per echo".into(),
        log: false,
        reference: None,
        format: short,
    };
    // The page of the program that enters the kernel least.
    let least = nexts
        .iter()
        .min_by(|a, b| {
            let c = |e: &&&super::results::BenchEntry| calls(e).unwrap_or(f64::INFINITY);
            c(a).total_cmp(&c(b))
        })
        .map(|e| e.program.clone());
    let link = book
        .pairs()
        .find(|p| least.as_deref() == Some(p.name.as_str()))
        .map(|p| (p.path.clone(), p.name.clone()));
    Finding {
        title: title.into(),
        sentence,
        figure: charts::finish(
            figure.svg(),
            "finding-next-era.svg".into(),
            "Server CPU per echo of raw epoll and of the next flavor's UDP echo programs".into(),
            format!(
                "With {}, 64-byte datagrams; system calls per echo with one socket and 32 in flight, under <code>strace -c</code>. Bars: median over the rounds; whiskers: the lowest and highest round.{} {}",
                escape(&b.data.udp_load()),
                if b.data.is_rough() { " <b>A quick run</b>: figures to check the instrument with, not to read." } else { "" },
                charts::provenance(&[("bench".into(), &b.source)], results.now)
            ),
        ),
        link,
    }
}

/// How each side's polls per datagram behave against the socket count.
#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// Every future, at every count.
    Every,
    /// Only the woken one, at every count.
    Woken,
    /// Every future up to this count, only the woken one above.
    Switch(usize),
    Irregular,
}

fn shape(points: &[super::polls::Point]) -> Shape {
    let every = |p: &super::polls::Point| p.median() == p.sockets as f64;
    let one = |p: &super::polls::Point| p.median() == 1.0;
    if points.iter().all(every) {
        return Shape::Every;
    }
    if points.iter().all(one) {
        return Shape::Woken;
    }
    let last_every = points.iter().rposition(every);
    match last_every {
        Some(i) if points[..=i].iter().all(every) && points[i + 1..].iter().all(one) => {
            Shape::Switch(points[i].sockets)
        }
        _ => Shape::Irregular,
    }
}

fn polls_per_datagram(book: &Book, results: &Results) -> Finding {
    let title = "Futures polled per datagram";
    let s = match &results.polls {
        Ok(s) => s,
        Err(why) => {
            return missing(
                title,
                "polls per datagram against the socket count",
                why.clone(),
                "cargo xtask study --run-missing",
            )
        }
    };
    let pairs = pairs_of(book, &[Family::Multisocket]);
    let panels: Vec<figures::Panel> = pairs
        .iter()
        .filter_map(|p| charts::polls_panel(&s.data, &p.pair))
        .collect();
    if panels.is_empty() {
        return missing(
            title,
            "polls per datagram",
            format!(
                "{} has no series of this workspace's programs",
                s.source.file
            ),
            "cargo xtask study --sweep-polls",
        );
    }
    let max = s
        .data
        .series
        .iter()
        .flat_map(|x| x.points.iter().map(|p| p.sockets))
        .max()
        .unwrap_or(0);
    let mut every = Vec::new();
    let mut woken = 0;
    let mut switches = Vec::new();
    let mut irregular = Vec::new();
    let mut link = None;
    for x in &s.data.series {
        let name = format!("{} {}", x.flavor, code(&x.program));
        match shape(&x.points) {
            Shape::Every => every.push(name),
            Shape::Woken => woken += 1,
            Shape::Switch(n) => {
                let above = x
                    .points
                    .iter()
                    .map(|p| p.sockets)
                    .find(|c| *c > n)
                    .unwrap_or(n + 1);
                switches.push(format!(
                    "{name} polls every future up to {n} sockets and only the woken one from {above}"
                ));
                link = pairs.iter().find(|p| p.name == x.program);
            }
            Shape::Irregular => irregular.push(name),
        }
    }
    let mut parts = Vec::new();
    if !every.is_empty() {
        parts.push(format!(
            "with {max} sockets one datagram makes {} poll all {max} futures",
            and_list(&every)
        ));
    }
    parts.extend(switches);
    if woken > 0 {
        parts.push(format!(
            "the other {woken} side{} poll{} only the woken future at every count",
            if woken == 1 { "" } else { "s" },
            if woken == 1 { "s" } else { "" }
        ));
    }
    if !irregular.is_empty() {
        parts.push(format!(
            "{} follow{} no simple pattern",
            and_list(&irregular),
            if irregular.len() == 1 { "s" } else { "" }
        ));
    }
    let mut sentence = and_list(&parts);
    if let Some(first) = sentence.get(..1) {
        sentence = format!("{}{}.", first.to_uppercase(), &sentence[1..]);
    }
    let link = link
        .or_else(|| pairs.first())
        .map(|p| (p.path.clone(), p.name.clone()));
    Finding {
        title: title.into(),
        sentence,
        figure: charts::finish(
            charts::polls_lines(panels).svg(),
            "finding-polls.svg".into(),
            "Futures polled per datagram against the socket count, every multi-socket program"
                .into(),
            charts::polls_caption(results, s),
        ),
        link,
    }
}

fn cpu_against_sockets(book: &Book, results: &Results) -> Finding {
    let title = "Server CPU per datagram against the socket count";
    let b = match &results.bench {
        Ok(b) => b,
        Err(why) => {
            return missing(
                title,
                "CPU per datagram against the socket count",
                why.clone(),
                "cargo xtask bench",
            )
        }
    };
    let pairs = pairs_of(book, &[Family::Multisocket]);
    let panels: Vec<figures::Panel> = pairs
        .iter()
        .filter_map(|p| charts::scaling_panel(&b.data, &p.name))
        .collect();
    // Growth from the fewest to the most sockets measured, per side.
    let mut growth: Vec<(String, &PairInfo, f64, usize, usize)> = Vec::new();
    for p in &pairs {
        for f in ["legacy", "modern"] {
            let mut pts: Vec<(usize, f64)> = b
                .data
                .entries
                .iter()
                .filter(|e| e.program == p.name && e.flavor == f)
                .filter_map(|e| {
                    Some((
                        e.sockets?,
                        e.figure(keys::MULTISOCKET_CPU_PER_DATAGRAM)?.median,
                    ))
                })
                .collect();
            pts.sort_by_key(|(n, _)| *n);
            if let (Some(first), Some(last)) = (pts.first(), pts.last()) {
                if last.0 > first.0 && first.1 > 0.0 {
                    growth.push((
                        format!("{f} {}", code(&p.name)),
                        p,
                        last.1 / first.1,
                        first.0,
                        last.0,
                    ));
                }
            }
        }
    }
    if panels.is_empty() || growth.is_empty() {
        return missing(
            title,
            "CPU per datagram against the socket count",
            format!(
                "{} has no multi-socket entry at two socket counts",
                b.source.file
            ),
            "cargo xtask bench",
        );
    }
    growth.sort_by(|a, b| b.2.total_cmp(&a.2));
    let (name, top, g, from, to) = &growth[0];
    let rest_max = growth[1..].iter().map(|x| x.2).fold(0.0f64, f64::max);
    let rest_min = growth[1..]
        .iter()
        .map(|x| x.2)
        .fold(f64::INFINITY, f64::min);
    let rest = if growth.len() > 1 {
        format!(
            "; for the other {} sides it changes {:.2}–{:.2}×",
            growth.len() - 1,
            rest_min,
            rest_max
        )
    } else {
        String::new()
    };
    let sentence = format!(
        "From {} to {} sockets, server CPU per datagram grows {:.1}× for {name}{rest}.",
        short(*from as f64),
        short(*to as f64),
        g
    );
    Finding {
        title: title.into(),
        sentence,
        figure: charts::finish(
            charts::scaling_lines(panels).svg(),
            "finding-cpu-per-datagram.svg".into(),
            "Server CPU per datagram against the socket count, every multi-socket program".into(),
            charts::scaling_caption(results, b),
        ),
        link: Some((top.path.clone(), top.name.clone())),
    }
}

fn wakeup_fds(book: &Book, results: &Results) -> Finding {
    let title = "Wake-up file descriptors";
    let traced: Vec<&PairInfo> = book
        .pairs()
        .filter(|p| {
            results.trace_side(&p.name, "legacy").is_some()
                && results.trace_side(&p.name, "modern").is_some()
        })
        .collect();
    if traced.is_empty() {
        return missing(
            title,
            "wake-up fds per run",
            format!(
                "no pair traced on both sides under {}/trace/",
                harness::workspace::relative(&results.dir)
            ),
            "cargo xtask trace --all",
        );
    }
    let fds = |p: &PairInfo, f: &str| {
        results
            .trace_side(&p.name, f)
            .map_or(0, |t| t.whole_run.wakeup_fds)
    };
    let more: Vec<&PairInfo> = traced
        .iter()
        .copied()
        .filter(|p| fds(p, "legacy") > fds(p, "modern"))
        .collect();
    let fewer = traced
        .iter()
        .filter(|p| fds(p, "legacy") < fds(p, "modern"))
        .count();
    // The demo that shows it most plainly: the internals pair with the largest gap.
    let example = more
        .iter()
        .copied()
        .filter(|p| p.chapter == Chapter::Internals)
        .chain(more.iter().copied())
        .max_by_key(|p| {
            (
                p.chapter == Chapter::Internals,
                fds(p, "legacy") - fds(p, "modern"),
            )
        });
    let sentence = match example {
        Some(e) => format!(
            "Over a whole run, the legacy side creates more wake-up fds (pipes, eventfds and socket pairs made only to wake its own poller) than the modern side in {} of {} traced pairs and fewer in {fewer} — {} creates {} against {}.",
            more.len(),
            traced.len(),
            code(&e.name),
            fds(e, "legacy"),
            fds(e, "modern"),
        ),
        None => format!(
            "Over a whole run, no traced pair's legacy side creates more wake-up fds than its modern side ({} pairs traced).",
            traced.len()
        ),
    };
    let figure = Bars {
        categories: traced.iter().map(|p| p.name.clone()).collect(),
        series: ["legacy", "modern"]
            .iter()
            .map(|f| BarSeries {
                name: f.to_string(),
                style: flavor_style(f),
                values: traced
                    .iter()
                    .map(|p| {
                        results
                            .trace_side(&p.name, f)
                            .map(|t| Value::exact(t.whole_run.wakeup_fds as f64))
                    })
                    .collect(),
            })
            .collect(),
        axis: "wake-up fds created over the whole run".into(),
        log: false,
        reference: None,
        format: short,
    };
    let sources: Vec<(String, &super::results::Source)> = traced
        .iter()
        .flat_map(|p| {
            ["legacy", "modern"].iter().filter_map(|f| {
                results
                    .traces
                    .sources
                    .get(&(p.name.clone(), f.to_string()))
                    .map(|s| (format!("{} {f}", p.name), s))
            })
        })
        .collect();
    Finding {
        title: title.into(),
        sentence,
        figure: charts::finish(
            figure.svg(),
            "finding-wakeup-fds.svg".into(),
            "Wake-up fds created over a whole run, legacy and modern, of every traced pair".into(),
            format!(
                "Each end of a pipe or socket pair counts once; start-up included. {}",
                charts::provenance(&sources, results.now)
            ),
        ),
        link: example.map(|p| (p.path.clone(), p.name.clone())),
    }
}

fn tcp_and_ident(book: &Book, results: &Results) -> Finding {
    let title = "TCP echo and ident";
    let b = match &results.bench {
        Ok(b) => b,
        Err(why) => {
            return missing(
                title,
                "server CPU of the TCP servers",
                why.clone(),
                "cargo xtask bench",
            )
        }
    };
    let pairs = pairs_of(book, &[Family::TcpEcho, Family::Ident]);
    let figure_of = |f: Family| match f {
        Family::TcpEcho => Some((keys::TCP_CPU_PER_MB, "per MB echoed")),
        Family::Ident => Some((keys::IDENT_CPU_PER_QUERY, "per query")),
        _ => None,
    };
    let mut rows: Vec<(&PairInfo, f64, &str)> = Vec::new();
    for p in &pairs {
        let Some((key, per)) = figure_of(p.family) else {
            continue;
        };
        let med = |f: &str| {
            b.data
                .entry(&p.name, f, None)
                .and_then(|e| e.figure(key))
                .map(|s| s.median)
        };
        if let (Some(l), Some(m)) = (med("legacy"), med("modern")) {
            if l > 0.0 {
                rows.push((p, m / l, per));
            }
        }
    }
    if rows.is_empty() {
        return missing(
            title,
            "server CPU of the TCP servers",
            format!(
                "{} has no TCP echo or ident pair measured on both sides",
                b.source.file
            ),
            "cargo xtask bench",
        );
    }
    let (lo, hi) = rows.iter().fold((f64::INFINITY, 0.0f64), |(a, c), r| {
        (a.min(r.1), c.max(r.1))
    });
    let query_cost: Vec<f64> = pairs
        .iter()
        .filter(|p| p.family == Family::Ident)
        .flat_map(|p| {
            ["legacy", "modern"].map(|f| {
                b.data
                    .entry(&p.name, f, None)
                    .and_then(|e| e.figure(keys::IDENT_CPU_PER_QUERY))
                    .map(|s| s.median)
            })
        })
        .flatten()
        .collect();
    let query = if query_cost.is_empty() {
        String::new()
    } else {
        let (a, c) = query_cost
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, c), v| (a.min(*v), c.max(*v)));
        format!(
            "; an ident query costs {}–{} µs of server CPU",
            short(a),
            short(c)
        )
    };
    let verdict = if lo >= 0.9 && hi <= 1.1 {
        "about the same in both eras"
    } else {
        "differently in the two eras"
    };
    let sentence = format!(
        "The TCP echo and ident servers cost {verdict}: modern ÷ legacy server CPU (per MB echoed, per query; ratio of the medians) is {:.2}–{:.2} over {} pairs{query}.",
        lo,
        hi,
        rows.len()
    );
    let figure = Bars {
        categories: rows
            .iter()
            .map(|(p, _, per)| format!("{} ({per})", p.name))
            .collect(),
        series: vec![BarSeries {
            name: "modern ÷ legacy".into(),
            style: flavor_style("modern"),
            values: rows.iter().map(|r| Some(Value::exact(r.1))).collect(),
        }],
        axis: "modern ÷ legacy, server CPU (ratio of the medians)".into(),
        log: false,
        reference: Some((1.0, "equal cost".into())),
        format: |v| format!("{v:.2}"),
    };
    let mut caption = String::from("A bar left of the line: modern costs less. ");
    let _ = write!(
        caption,
        "{}",
        charts::provenance(&[("bench".into(), &b.source)], results.now)
    );
    if b.data.is_rough() {
        caption.push_str(" <b>A quick run</b>: figures to check the instrument with, not to read.");
    }
    Finding {
        title: title.into(),
        sentence,
        figure: charts::finish(
            figure.svg(),
            "finding-tcp-ident.svg".into(),
            "Modern ÷ legacy server CPU of the TCP echo and ident pairs".into(),
            caption,
        ),
        link: book
            .chapter_of(Family::TcpEcho)
            .map(|c| (c.path.clone(), c.title.clone())),
    }
}

/// The `coop-budget` pair: how late the ticker beside a flooded reader ran, where the
/// reader gave the thread back after a budget's worth of datagrams and where it read on.
fn ticker_under_flood(book: &Book, results: &Results) -> Finding {
    let title = "A ticker beside a flooded reader";
    let what = "the ticker's worst delay under a flood";
    let r = match &results.readiness {
        Ok(r) => r,
        Err(why) => return missing(title, what, why.clone(), charts::MEASURE_READINESS),
    };
    let pairs = pairs_of(book, &[Family::CoopBudget]);
    let Some(pair) = pairs
        .iter()
        .copied()
        .find(|p| r.data.coop.iter().any(|c| c.program == p.name))
    else {
        return missing(
            title,
            what,
            format!("{} has no figures of a coop-budget program", r.source.file),
            charts::MEASURE_READINESS,
        );
    };
    // Per side and loop: the median worst delay (ms) and most read in one poll.
    let mut runs: Vec<(&Coop, f64, f64)> = r
        .data
        .coop
        .iter()
        .filter(|c| c.program == pair.name)
        .filter_map(|c| {
            let late = c.spread(|x| x.worst_late_us as f64 / 1e3)?.0;
            let most = c.spread(|x| x.most_per_poll as f64)?.0;
            Some((c, late, most))
        })
        .collect();
    runs.sort_by_key(|(c, _, _)| flavor_rank(&c.flavor));
    let (yields, reads_on): (Vec<_>, Vec<_>) = runs
        .iter()
        .partition(|(_, _, most)| *most <= readiness::BUDGET as f64);
    // `legacy --loop recv and --loop ready; modern --loop ready`
    let loops = |group: &[&(&Coop, f64, f64)]| -> String {
        let mut flavors: Vec<&str> = group.iter().map(|(c, _, _)| c.flavor.as_str()).collect();
        flavors.dedup();
        let sides: Vec<String> = flavors
            .into_iter()
            .map(|f| {
                let l: Vec<String> = group
                    .iter()
                    .filter(|(c, _, _)| c.flavor == f)
                    .map(|(c, _, _)| code(&format!("--loop {}", c.read_loop)))
                    .collect();
                format!("{} {}", escape(f), and_list(&l))
            })
            .collect();
        sides.join("; ")
    };
    let range = |group: &[&(&Coop, f64, f64)]| -> (f64, f64) {
        group
            .iter()
            .fold((f64::INFINITY, 0.0f64), |(a, b), (_, late, _)| {
                (a.min(*late), b.max(*late))
            })
    };
    let mut parts = Vec::new();
    if !yields.is_empty() {
        parts.push(format!(
            "at most {} ms where the reader gave the thread back after at most {} datagrams ({})",
            short(range(&yields).1),
            readiness::BUDGET,
            loops(&yields)
        ));
    }
    if !reads_on.is_empty() {
        let (lo, hi) = range(&reads_on);
        parts.push(format!(
            "{}–{} ms where it read on ({})",
            short(lo),
            short(hi),
            loops(&reads_on)
        ));
    }
    let sentence = format!(
        "Beside a UDP reader flooded for {} ms on the same thread, a ticker task ran late \
         by {}; medians over {} rounds.",
        short(r.data.method.flood_ms as f64),
        parts.join(", and by "),
        r.data.method.rounds
    );
    Finding {
        title: title.into(),
        sentence,
        figure: charts::coop_ticker_delay(results, &pair.pair),
        link: Some((pair.path.clone(), pair.name.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::super::polls::Point;
    use super::*;

    fn pts(v: &[(usize, usize)]) -> Vec<Point> {
        v.iter()
            .map(|(s, p)| Point {
                sockets: *s,
                polls: vec![*p, *p, *p],
            })
            .collect()
    }

    #[test]
    fn poll_shapes() {
        assert_eq!(shape(&pts(&[(1, 1), (10, 10), (64, 64)])), Shape::Every);
        assert_eq!(shape(&pts(&[(1, 1), (10, 1), (64, 1)])), Shape::Woken);
        assert_eq!(
            shape(&pts(&[(1, 1), (30, 30), (31, 1), (64, 1)])),
            Shape::Switch(30)
        );
        assert_eq!(
            shape(&pts(&[(10, 10), (20, 3), (30, 30)])),
            Shape::Irregular
        );
        assert_eq!(
            and_list(&["a".into(), "b".into(), "c".into()]),
            "a, b and c"
        );
    }
}
