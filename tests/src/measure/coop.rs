//! `coop-budget`: a reader of a flooded UDP socket and a ticker on one thread. The
//! program prints `read N datagrams in one poll` each time the reader gives the thread
//! back, `tick N late US us` per tick, and the worst of both in its summary. One
//! [`flood`] measures what a flood does to the ticker with one `--loop`.

use std::net::UdpSocket;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use harness::load::flood::{self, Pace};
use harness::process::{Line, Running};
use harness::results::bench::CoopFigures;
use shared::cli::ReadLoop;
use shared::event::Event;

/// The flood: 20,000 datagrams/s for 1.5 s, at most 40,000 in all. Five times what
/// the reader can read at [`COST`] each, yet the sender sleeps between bursts, so the
/// machine keeps a CPU for the server and for whatever runs beside it. A burst is
/// a little more than a default receive buffer holds (about 256 small datagrams).
pub const PACE: Pace = Pace {
    rate: 20_000.0,
    count: 40_000,
    time: Duration::from_millis(1500),
    burst: 400,
};
const LEN: usize = 32;
/// `--cost-us`: CPU each datagram costs the reader. It makes the reader surely slower
/// than the flood, and makes a full receive buffer last the reader 64 ms, so that the
/// socket does not run dry whenever the sender waits for a CPU on a loaded machine.
pub const COST: Duration = Duration::from_micros(250);
const START_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

fn ticks(lines: &[Line]) -> usize {
    let ticks = lines
        .iter()
        .filter(|l| matches!(l.event(), Ok(Event::TickLate { .. })));
    ticks.count()
}

/// Starts the program with `--loop read_loop` and waits until the ticker runs.
pub fn start(exe: &Path, read_loop: ReadLoop) -> Result<(Running, std::net::SocketAddr)> {
    let cost = COST.as_micros().to_string();
    let args = [
        "--bind",
        "127.0.0.1:0",
        "--loop",
        read_loop.as_str(),
        "--cost-us",
        &cost,
    ];
    let (mut run, addrs) = Running::server(exe, &args, None, 1)?;
    run.wait_until(START_TIMEOUT, |lines| ticks(lines) >= 2)
        .with_context(|| format!("no tick lines: {}", run.stderr()))?;
    Ok((run, addrs[0]))
}

/// One flood with `--loop read_loop`: the summary's figures, checked against the
/// lines (a summary that disagrees with them is an error), and from the lines the
/// most datagrams read between two ticks — how much the reader did while the ticker
/// waited, counted in datagrams, so that a machine slow to schedule either task
/// changes nothing.
pub fn flood(exe: &Path, read_loop: ReadLoop) -> Result<CoopFigures> {
    let (mut run, server) = start(exe, read_loop)?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(server)?;
    let started = Instant::now();
    let sent = flood::paced(&sock, server, PACE, |_| vec![0x42; LEN], None)?;
    let flood_ms = started.elapsed().as_secs_f64() * 1e3;
    // After the flood the ticker runs again, whatever it went through.
    let before = ticks(&run.seen);
    run.wait_until(START_TIMEOUT, |lines| ticks(lines) >= before + 2)
        .context("the ticker did not run again after the flood")?;
    run.terminate(EXIT_TIMEOUT)?;
    let events = run.events()?;
    let Some(Event::Summary(c)) = events.last() else {
        bail!("the last line is not a summary: {:?}", events.last());
    };
    let get = |k: &str| {
        c.get(k)
            .with_context(|| format!("summary without {k}: {c:?}"))
    };
    let (mut line_most, mut line_worst, mut between, mut most_between) = (0, 0, 0, 0);
    for e in &events {
        match e {
            Event::ReadInPoll { datagrams } => {
                line_most = line_most.max(*datagrams);
                between += datagrams;
                most_between = most_between.max(between);
            }
            Event::TickLate { late_us, .. } => {
                line_worst = line_worst.max(*late_us);
                between = 0;
            }
            _ => {}
        }
    }
    let (most, worst) = (get("most_per_poll")?, get("worst_late_us")?);
    ensure!(
        (line_most, line_worst) == (most, worst),
        "summary most_per_poll={most} worst_late_us={worst}, but the lines say \
         {line_most} and {line_worst}"
    );
    Ok(CoopFigures {
        sent,
        flood_ms,
        recv: get("recv")?,
        polls: get("polls")?,
        most_per_poll: most,
        ticks: get("ticks")?,
        worst_late_us: worst,
        most_between_ticks: most_between,
    })
}
