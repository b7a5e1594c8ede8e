//! The tables of the book (`gen/table/NAME.md`): the bench's figures by family, its
//! ratios and targets, the system calls of every traced side, what each ladder rung
//! costs.

use harness::results::bench::{
    Entry, FamilyFigures, FloodFigures, IdentFigures, MultisocketFigures, TcpEchoFigures,
    UdpEchoFigures,
};
use harness::results::{Run, Stat};

use super::part::{md_table, num, runs_line, spread, Ctx, Part};
use crate::trace::format_per_unit;

pub fn parts(ctx: &Ctx) -> Vec<Part> {
    vec![
        udp_echo(ctx),
        flood(ctx),
        next_era(ctx),
        tcp_echo(ctx),
        ident(ctx),
        multisocket(ctx),
        ratios(ctx),
        syscalls(ctx),
        ladder_cost(ctx),
        soak(ctx),
    ]
}

/// A column of a table: its heading, and its cell of an entry.
type Column<'a> = (&'a str, &'a dyn Fn(&Entry) -> String);

/// A table of family `F`'s entries: the program, its flavor (and variant, socket
/// count), then one cell per column.
fn family<F: FamilyFigures>(
    ctx: &Ctx,
    name: &str,
    keep: impl Fn(&Entry) -> bool,
    columns: &[Column],
) -> Part {
    let path = format!("table/{name}.md");
    let of_family = |e: &Entry| e.rounds_of::<F>().is_some() && keep(e);
    let entries: Vec<(&Entry, &Run)> = ctx
        .results
        .entries()
        .filter(|(e, _)| of_family(e))
        .collect();
    if entries.is_empty() {
        let why = ctx
            .results
            .bench
            .error
            .clone()
            .unwrap_or_else(|| "nothing of that family has been measured".into());
        return Part::missing(&path, "This table", &why, "cargo xtask bench");
    }
    let mut header = vec!["program", "flavor"];
    header.extend(columns.iter().map(|(h, _)| *h));
    let rows: Vec<Vec<String>> = (entries.iter())
        .map(|(e, _)| {
            let mut flavor = e.flavor.clone();
            if let Some(v) = &e.variant {
                flavor = format!("{flavor} `{v}`");
            }
            if let Some(n) = e.sockets {
                flavor = format!("{flavor} ×{n}");
            }
            let mut row = vec![ctx.link(&e.program), flavor];
            match &e.skipped {
                Some(why) => row.push(format!("not measured: {why}")),
                None => row.extend(columns.iter().map(|(_, cell)| cell(e))),
            }
            row
        })
        .collect();
    let md = md_table(&header, &rows)
        + "Median over the rounds, with the lowest and highest round in brackets.\n\n"
        + &runs_line(
            "Measured by",
            entries.iter().map(|(_, r)| *r),
            ctx.results.now,
        );
    Part::new(&path, md)
}

/// A figure of family `F` as a cell, times `scale`.
fn cell<F: FamilyFigures>(
    get: impl Fn(&F) -> Option<f64>,
    scale: f64,
) -> impl Fn(&Entry) -> String {
    move |e: &Entry| e.stat(&get).map_or("—".into(), |s| spread(&s, scale))
}

/// A cell of each family's figure, times `scale`.
fn udp(get: fn(&UdpEchoFigures) -> Option<f64>, scale: f64) -> impl Fn(&Entry) -> String {
    cell(get, scale)
}
fn tcp(get: fn(&TcpEchoFigures) -> Option<f64>, scale: f64) -> impl Fn(&Entry) -> String {
    cell(get, scale)
}
fn ident_cell(get: fn(&IdentFigures) -> Option<f64>) -> impl Fn(&Entry) -> String {
    cell(get, 1.0)
}
fn ms(get: fn(&MultisocketFigures) -> Option<f64>, scale: f64) -> impl Fn(&Entry) -> String {
    cell(get, scale)
}
fn flood_cell(get: fn(&FloodFigures) -> Option<f64>) -> impl Fn(&Entry) -> String {
    cell(move |f: &UdpEchoFigures| get(&f.flood), 1.0)
}
fn udp_pct(get: fn(&UdpEchoFigures) -> Option<f64>) -> impl Fn(&Entry) -> String {
    pct(get)
}

fn pct<F: FamilyFigures>(get: impl Fn(&F) -> Option<f64>) -> impl Fn(&Entry) -> String {
    move |e: &Entry| {
        e.stat(&get)
            .map_or("—".into(), |s| format!("{:.0}%", s.median * 100.0))
    }
}

fn udp_echo(ctx: &Ctx) -> Part {
    family::<UdpEchoFigures>(
        ctx,
        "udp-echo",
        |_| true,
        &[
            ("echoes/s", &udp(|f| Some(f.echoes_per_s), 1.0)),
            ("CPU per echo µs", &udp(|f| Some(f.cpu_per_echo_ns), 1e-3)),
            ("RTT p50 µs", &udp(|f| Some(f.rtt_p50_us), 1.0)),
            ("RTT p99 µs", &udp(|f| Some(f.rtt_p99_us), 1.0)),
            ("peak RSS MiB", &udp(|f| Some(f.peak_rss_kib), 1.0 / 1024.0)),
            ("losses", &udp(|f| Some(f.losses), 1.0)),
        ],
    )
}

fn flood(ctx: &Ctx) -> Part {
    family::<UdpEchoFigures>(
        ctx,
        "flood",
        |_| true,
        &[
            ("echoed of sent", &udp_pct(|f| Some(f.flood.flood_share))),
            ("read", &flood_cell(|f| f.flood_server_recv)),
            ("echoed of read", &udp_pct(|f| f.flood.flood_read_share)),
            ("reads per turn", &flood_cell(|f| f.flood_reads_per_turn)),
            ("echoes per turn", &flood_cell(|f| f.flood_echoes_per_turn)),
        ],
    )
}

fn next_era(ctx: &Ctx) -> Part {
    // Only the entries that run the next-era loads: the rest have none of them.
    let next = |e: &Entry| e.flavor == "next" || e.is("echo-epoll-edge", "modern");
    family::<UdpEchoFigures>(
        ctx,
        "next-era",
        next,
        &[
            ("CPU per echo µs", &udp(|f| Some(f.cpu_per_echo_ns), 1e-3)),
            (
                "one socket µs",
                &udp(|f| f.next_era.cpu_per_echo_1sock_ns, 1e-3),
            ),
            (
                "system calls per echo",
                &udp(|f| f.next_era.syscalls_per_echo, 1.0),
            ),
            (
                "GSO peers µs per datagram",
                &udp(|f| f.next_era.gso_cpu_per_datagram_ns, 1e-3),
            ),
            (
                "the same, 1,200 B",
                &udp(|f| f.next_era.gso_cpu_per_datagram_1200_ns, 1e-3),
            ),
        ],
    )
}

fn tcp_echo(ctx: &Ctx) -> Part {
    family::<TcpEchoFigures>(
        ctx,
        "tcp-echo",
        |_| true,
        &[
            ("MB/s", &tcp(|f| Some(f.mb_per_s), 1.0)),
            ("CPU per MB µs", &tcp(|f| Some(f.cpu_per_mb_us), 1.0)),
            ("connections/s", &tcp(|f| Some(f.connections_per_s), 1.0)),
            (
                "CPU per connection µs",
                &tcp(|f| Some(f.cpu_per_connection_us), 1.0),
            ),
        ],
    )
}

fn ident(ctx: &Ctx) -> Part {
    family::<IdentFigures>(
        ctx,
        "ident",
        |_| true,
        &[
            (
                "open ×1 CPU/query µs",
                &ident_cell(|f| f.open_1.map(|q| q.cpu_per_query_us)),
            ),
            (
                "open ×1 p50 µs",
                &ident_cell(|f| f.open_1.map(|q| q.p50_us)),
            ),
            (
                "open, many, p99 µs",
                &ident_cell(|f| f.open_many.map(|q| q.p99_us)),
            ),
            (
                "fresh ×1 p50 µs",
                &ident_cell(|f| f.fresh_1.map(|q| q.p50_us)),
            ),
            (
                "fresh, many, CPU/query µs",
                &ident_cell(|f| f.fresh_many.map(|q| q.cpu_per_query_us)),
            ),
        ],
    )
}

fn multisocket(ctx: &Ctx) -> Part {
    family::<MultisocketFigures>(
        ctx,
        "multisocket",
        |_| true,
        &[
            (
                "CPU per datagram µs",
                &ms(|f| Some(f.cpu_per_datagram_ns), 1e-3),
            ),
            ("received", &ms(|f| Some(f.datagrams_received), 1.0)),
            ("sent", &ms(|f| Some(f.datagrams_sent), 1.0)),
        ],
    )
}

/// Every ratio and value the bench holds to a target, and every ratio it took.
fn ratios(ctx: &Ctx) -> Part {
    let ratios: Vec<_> = ctx.results.ratios().collect();
    if ratios.is_empty() {
        return Part::missing(
            "table/ratios.md",
            "The bench's ratios",
            "the bench has not run",
            "cargo xtask bench",
        );
    }
    let rows: Vec<Vec<String>> = (ratios.iter())
        .map(|(r, _)| {
            let st = r.stat();
            let met = match (r.met(), &r.held_back_by) {
                (Some(true), _) => "met".into(),
                (Some(false), None) => "**not met**".into(),
                (Some(false), Some(h)) => format!("**not met**: held back by {h}"),
                (None, _) => String::new(),
            };
            vec![
                r.subject.clone(),
                format!("`{}`", r.figure),
                st.map_or("—".into(), |s| format!("{:.2}", s.median)),
                st.map_or("—".into(), |s| format!("{:.2}–{:.2}", s.min, s.max)),
                r.target
                    .as_ref()
                    .map_or(String::new(), |t| format!("{} ({})", t.text(), t.says)),
                met,
            ]
        })
        .collect();
    let md = md_table(
        &[
            "ratio",
            "figure",
            "median",
            "lowest–highest round",
            "target",
            "",
        ],
        &rows,
    )
        + "A ratio is taken round by round between entries of the same run, then summarised; \
           below 1, the first costs less.\n\n"
        + &runs_line(
            "Measured by",
            ratios.iter().map(|(_, r)| *r),
            ctx.results.now,
        );
    Part::new("table/ratios.md", md)
}

/// System calls per unit of work of every traced side.
fn syscalls(ctx: &Ctx) -> Part {
    let sides = ctx.results.trace.records();
    if sides.is_empty() {
        return Part::missing(
            "table/syscalls.md",
            "System calls per unit of work",
            "nothing has been traced",
            "cargo xtask trace --all",
        );
    }
    let rows: Vec<Vec<String>> = (sides.iter())
        .map(|r| {
            let t = &r.data;
            let traced = t
                .traced
                .as_ref()
                .map_or(String::new(), |p| format!(" ({p})"));
            let cpu = t.cpu_ns_per_unit.map_or("—".into(), |ns| num(ns / 1e3));
            vec![
                ctx.link(&t.program),
                format!("{}{traced}", t.flavor),
                t.unit.clone(),
                format_per_unit(t.total_per_unit()),
                format_per_unit(t.per_unit(harness::strace::EPOLL_WAIT)),
                format_per_unit(t.per_unit("futex")),
                cpu,
                t.whole_run.threads.to_string(),
                t.whole_run.wakeup_fds.to_string(),
            ]
        })
        .collect();
    let header = [
        "program",
        "side",
        "per",
        "system calls",
        "epoll_wait",
        "futex",
        "CPU µs (no strace)",
        "threads",
        "wake-up fds",
    ];
    let md = md_table(&header, &rows)
        + "Per unit of work while the workload ran; threads and wake-up descriptors over the whole \
           run, start-up included.\n\n"
        + &runs_line("Traced by", sides.iter().map(|r| &r.run), ctx.results.now);
    Part::new("table/syscalls.md", md)
}

/// Each rung's CPU per unit of work, against legacy's and modern's (the bench's
/// ratios), and its `epoll_wait` per unit under strace.
fn ladder_cost(ctx: &Ctx) -> Part {
    let mut rows = Vec::new();
    let mut runs = Vec::new();
    for pair in ctx.pairs.iter().filter(|p| p.has_ladder()) {
        for rung in pair.ladder() {
            let label = rung.flavor_label();
            let entry = ctx.results.entry(&pair.name, &label, None);
            let (cpu, unit) = match entry {
                Some((e, run)) => {
                    runs.push(run);
                    cpu_per_unit(e)
                }
                None => ("—".into(), String::new()),
            };
            let ratio = |end: &str| {
                let of = format!("{} {label}", pair.name);
                let to = format!("{} {end}", pair.name);
                let r = ctx.results.ratios().find(|(r, _)| {
                    r.of == of && r.to.as_deref() == Some(&to) && r.figure.contains("cpu")
                });
                r.and_then(|(r, _)| r.stat())
                    .map_or("—".into(), |s| ratio_cell(&s))
            };
            let wait = ctx
                .results
                .side(&pair.name, &label)
                .map(|s| format_per_unit(s.data.per_unit(harness::strace::EPOLL_WAIT)));
            let (to_legacy, to_modern) = (ratio("legacy"), ratio("modern"));
            rows.push(vec![
                ctx.link(&pair.name),
                label,
                cpu,
                unit,
                to_legacy,
                to_modern,
                wait.unwrap_or("—".into()),
            ]);
        }
    }
    if runs.is_empty() {
        return Part::missing(
            "table/ladder-cost.md",
            "What each step costs",
            "the bench has measured no ladder",
            "cargo xtask bench echo-mpsc tcp-echo ident-service",
        );
    }
    let header = [
        "ladder",
        "rung",
        "server CPU",
        "per",
        "÷ legacy",
        "÷ modern",
        "epoll_wait per unit",
    ];
    let md = md_table(&header, &rows)
        + "Ratios are the bench's, round by round within a run (median, lowest–highest); \
           `epoll_wait` from `cargo xtask trace`.\n\n"
        + &runs_line("Measured by", runs.into_iter(), ctx.results.now);
    Part::new("table/ladder-cost.md", md)
}

fn ratio_cell(s: &Stat) -> String {
    match s.max > s.min {
        true => format!("{:.2} ({:.2}–{:.2})", s.median, s.min, s.max),
        false => format!("{:.2}", s.median),
    }
}

/// The CPU figure of an entry's family, and its unit.
fn cpu_per_unit(e: &Entry) -> (String, String) {
    let show = |s: Option<Stat>, scale: f64, unit: &str| {
        (
            s.map_or("—".into(), |s| spread(&s, scale)),
            unit.to_string(),
        )
    };
    if e.rounds_of::<UdpEchoFigures>().is_some() {
        return show(
            e.stat(|f: &UdpEchoFigures| Some(f.cpu_per_echo_ns)),
            1e-3,
            "µs per echo",
        );
    }
    if e.rounds_of::<TcpEchoFigures>().is_some() {
        return show(
            e.stat(|f: &TcpEchoFigures| Some(f.cpu_per_mb_us)),
            1.0,
            "µs per MB",
        );
    }
    show(
        e.stat(|f: &IdentFigures| f.open_1.map(|q| q.cpu_per_query_us)),
        1.0,
        "µs per query",
    )
}

/// The soak: each server at its highest sustained rate for a while, whether its
/// memory stayed flat and whether anything was lost.
fn soak(ctx: &Ctx) -> Part {
    let records = ctx.results.soak.records();
    if records.is_empty() {
        return Part::missing(
            "table/soak.md",
            "The soak",
            "no soak has been run",
            "cargo xtask bench --soak",
        );
    }
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|r| {
            let e = &r.data;
            let (rate, rss, verdict) = match (&e.skipped, &e.error, &e.figures) {
                (Some(why), _, _) => ("—".into(), "—".into(), format!("skipped: {why}")),
                (_, Some(err), _) => ("—".into(), "—".into(), format!("failed: {err}")),
                (_, _, Some(f)) => (
                    f.load.rate(num),
                    format!(
                        "{} → {} (peak {}), {:+.0} KiB/min",
                        mib(f.rss_start_kib),
                        mib(f.rss_end_kib),
                        mib(f.peak_rss_kib),
                        f.slope_kib_per_min
                    ),
                    format!(
                        "{}{}",
                        if f.flat { "flat" } else { "GROWS" },
                        if f.lost > 0 {
                            format!(", {} lost", f.lost)
                        } else {
                            String::new()
                        }
                    ),
                ),
                _ => ("—".into(), "—".into(), "no figures".into()),
            };
            vec![ctx.link(&e.program), e.flavor.clone(), rate, rss, verdict]
        })
        .collect();
    let s = &records[0].data.settings;
    let md = format!(
        "Each server for {} s at the highest rate it sustains; its resident set sampled every \
         second. Flat: over the second half, a slope within {} KiB/min and a range within {} KiB.\n\n{}{}",
        s.seconds,
        s.flat_slope_kib_per_min,
        s.flat_range_kib,
        md_table(&["program", "flavor", "rate", "RSS, MiB: start → end", "verdict"], &rows),
        runs_line("soak", records.iter().map(|r| &r.run), ctx.results.now)
    );
    Part::new("table/soak.md", md)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}
