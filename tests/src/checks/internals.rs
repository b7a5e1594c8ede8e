//! Checks of the futures and mio internals demos: future-notify, mio-empty, mio-mixed
//! and mio-pipe.
//!
//! Where the eras differ on purpose (the descriptors mio creates, the steps of the
//! mio-785 scenario) the expected value is data here, per program and flavor
//! ([`FDS`], [`MIO_PIPE_STEPS`]), and each check's detail shows what was measured.

use std::collections::BTreeSet;
use std::fmt;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use nix::sys::signal::Signal;
use nix::unistd::Pid;
use shared::event::Event;
use shared::fds::{self, Kind, OpenFd};

use crate::check::{Check, Ctx, Outcome};
use crate::checks::common;
use harness::process::{run_to_end, Line, Running, START_TIMEOUT};
use harness::{Family, Flavor};

pub const FUTURE_NOTIFY: &[Check] = &[
    crate::check!("help", |ctx| help_lists(ctx, &["--count", "--interval-ms"])),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("bad-value", bad_value),
    crate::check!("polls-at-interval", polls_at_interval),
    crate::check!("count-0-and-1", count_zero_and_one),
    crate::check!("interval-0", interval_zero),
    crate::check!("sigterm-stops-it", |ctx| notify_stops(ctx, Signal::SIGTERM)),
    crate::check!("sigint-stops-it", |ctx| notify_stops(ctx, Signal::SIGINT)),
    crate::check!("era-purity", common::era_purity),
];

pub const MIO_EMPTY: &[Check] = &[
    crate::check!("help", help_demo),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("never-returns", never_returns),
    crate::check!("fds", mio_empty_fds),
    crate::check!("sigterm-ends-it", |ctx| empty_stops(ctx, Signal::SIGTERM)),
    crate::check!("sigint-ends-it", |ctx| empty_stops(ctx, Signal::SIGINT)),
    crate::check!("era-purity", common::era_purity),
];

pub const MIO_MIXED: &[Check] = &[
    crate::check!("help", common::help),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("bad-address", common::bad_address),
    crate::check!("port-in-use", common::udp_port_in_use),
    crate::check!("ticks-and-datagrams", ticks_and_datagrams),
    crate::check!("wake-up-fds", mio_mixed_fds),
    crate::check!("sigterm", |ctx| mixed_signal(ctx, Signal::SIGTERM)),
    crate::check!("sigint", |ctx| mixed_signal(ctx, Signal::SIGINT)),
    crate::check!("era-purity", common::era_purity),
];

pub const MIO_PIPE: &[Check] = &[
    crate::check!("help", help_demo),
    crate::check!("unknown-flag", common::unknown_flag),
    crate::check!("steps", mio_pipe_steps),
    crate::check!("era-purity", common::era_purity),
];

const QUICK: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(2);
const RECV_TIMEOUT: Duration = Duration::from_secs(5);
/// How late a timer event may be on a loaded two-core machine.
const LATE: Duration = Duration::from_millis(400);

// ---------------------------------------------------------------------------------
// Expectations

/// The descriptors a mio demo holds besides stdin, stdout, stderr and what it
/// inherited, by kind; and what its epoll instance watches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    pub epoll: usize,
    /// Pipe ends (a pipe has two: read and write).
    pub pipe_ends: usize,
    /// Distinct pipes those ends belong to.
    pub pipes: usize,
    pub eventfds: usize,
    pub signalfds: usize,
    pub sockets: usize,
    pub others: usize,
    /// Descriptors watched by the (single) epoll instance, by kind.
    pub watched: Watched,
}

/// What an epoll instance watches, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Watched {
    pub pipes: usize,
    pub eventfds: usize,
    pub signalfds: usize,
    pub sockets: usize,
    pub others: usize,
}

impl fmt::Display for Census {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let w = &self.watched;
        write!(
            f,
            "epoll {}, pipe ends {} ({} pipe(s)), eventfd {}, signalfd {}, socket {}, other {}; \
             epoll watches pipe {}, eventfd {}, signalfd {}, socket {}, other {}",
            self.epoll,
            self.pipe_ends,
            self.pipes,
            self.eventfds,
            self.signalfds,
            self.sockets,
            self.others,
            w.pipes,
            w.eventfds,
            w.signalfds,
            w.sockets,
            w.others
        )
    }
}

const NONE: Census = Census {
    epoll: 0,
    pipe_ends: 0,
    pipes: 0,
    eventfds: 0,
    signalfds: 0,
    sockets: 0,
    others: 0,
    watched: Watched {
        pipes: 0,
        eventfds: 0,
        signalfds: 0,
        sockets: 0,
        others: 0,
    },
};

/// The documented descriptors: (family, flavor, census, why).
pub const FDS: &[(Family, Flavor, Census, &str)] = &[
    (
        Family::MioEmpty,
        Flavor::Legacy,
        Census {
            epoll: 1,
            pipe_ends: 2,
            pipes: 1,
            watched: Watched {
                pipes: 1,
                ..NONE.watched
            },
            ..NONE
        },
        "mio 0.6 Poll::new creates a wake-up pipe for its user-space readiness queue and \
         registers the read end, registrations or not",
    ),
    (
        Family::MioEmpty,
        Flavor::Modern,
        Census { epoll: 1, ..NONE },
        "mio 0.8 Poll::new creates the epoll instance and nothing else",
    ),
    (
        Family::MioMixed,
        Flavor::Legacy,
        Census {
            epoll: 1,
            pipe_ends: 2,
            pipes: 1,
            signalfds: 1,
            sockets: 1,
            watched: Watched {
                pipes: 1,
                signalfds: 1,
                sockets: 1,
                ..NONE.watched
            },
            ..NONE
        },
        "Registration/SetReadiness wake the poller through mio 0.6's pipe",
    ),
    (
        Family::MioMixed,
        Flavor::Modern,
        Census {
            epoll: 1,
            eventfds: 1,
            signalfds: 1,
            sockets: 1,
            watched: Watched {
                eventfds: 1,
                signalfds: 1,
                sockets: 1,
                ..NONE.watched
            },
            ..NONE
        },
        "a mio 0.8 Waker is an eventfd, registered with the epoll instance",
    ),
];

/// The documented output of mio-pipe, per flavor.
pub const MIO_PIPE_STEPS: &[(Flavor, &[&str], &str)] = &[
    (
        Flavor::Legacy,
        &[
            "step created a poll: its epoll instance watches a pipe",
            "step registered a UDP socket (token 0) and a Registration (token 1): the epoll instance watches a pipe and a socket",
            "step sent 5 bytes to the socket",
            "step poll returned: token 0 (socket)",
            "step received 5 bytes from the socket",
            "step set_readiness(readable) while no thread is polling",
            "step wake-up pipe holds a byte: no",
            "step poll returned: token 1 (registration)",
            "step wake-up pipe holds a byte: no",
            "step poll returned: no event",
            "step done",
        ],
        "mio 0.6.16 fixed issue 785 (the sleep marker is cleared when a blocking poll \
         returns): no pipe write while nobody polls; the readiness is delivered once",
    ),
    (
        Flavor::Modern,
        &[
            "step created a poll: its epoll instance watches nothing",
            "step registered a UDP socket (token 0) and a Waker (token 1): the epoll instance watches a socket and an eventfd",
            "step sent 5 bytes to the socket",
            "step poll returned: token 0 (socket)",
            "step received 5 bytes from the socket",
            "step wake() while no thread is polling",
            "step eventfd counter: 1",
            "step poll returned: token 1 (waker)",
            "step eventfd counter: 1",
            "step poll returned: no event",
            "step done",
        ],
        "a mio 0.8 Waker writes its eventfd on every wake(), polling or not; the \
         edge-triggered eventfd is reported once and its counter is never read back",
    ),
];

fn expected_fds(ctx: &Ctx) -> Result<(Census, &'static str)> {
    let family = ctx.program.family()?;
    FDS.iter()
        .find(|(fam, f, _, _)| *fam == family && *f == ctx.program.flavor)
        .map(|(_, _, c, why)| (*c, *why))
        .with_context(|| {
            format!(
                "no documented descriptors for the {family} family, {}",
                ctx.program.flavor
            )
        })
}

// ---------------------------------------------------------------------------------
// Descriptors

/// The descriptors `pid` opened itself: all but 0–2 and those it inherited from the
/// suite (which a child gets under the same number, pointing at the same object: the
/// suite's descriptors that are not close-on-exec, such as a jobserver pipe).
fn own_fds(pid: Pid) -> Result<Vec<OpenFd>> {
    let inherited: Vec<(i32, String)> = fds::open_fds("self")?
        .into_iter()
        .filter(|f| matches!(fds::is_cloexec("self", f.fd), Ok(false)))
        .map(|f| (f.fd, f.target))
        .collect();
    let pid = pid.as_raw().to_string();
    Ok(fds::open_fds(&pid)?
        .into_iter()
        .filter(|f| f.fd > 2 && !inherited.iter().any(|(n, t)| *n == f.fd && *t == f.target))
        .collect())
}

/// Counts `pid`'s own descriptors by kind and what its epoll instance watches.
fn census(pid: Pid) -> Result<(Census, Vec<OpenFd>)> {
    let own = own_fds(pid)?;
    let mut c = Census::default();
    let mut pipes = BTreeSet::new();
    for f in &own {
        match f.kind {
            Kind::Epoll => c.epoll += 1,
            Kind::Pipe(inode) => {
                c.pipe_ends += 1;
                pipes.insert(inode);
            }
            Kind::EventFd => c.eventfds += 1,
            Kind::SignalFd => c.signalfds += 1,
            Kind::Socket => c.sockets += 1,
            Kind::Other(_) => c.others += 1,
        }
    }
    c.pipes = pipes.len();
    if let [epoll] = own
        .iter()
        .filter(|f| f.kind == Kind::Epoll)
        .collect::<Vec<_>>()
        .as_slice()
    {
        let pid = pid.as_raw().to_string();
        for w in fds::epoll_watched(&pid, epoll.fd)? {
            let kind = own.iter().find(|f| f.fd == w.fd).map(|f| &f.kind);
            match kind {
                Some(Kind::Pipe(_)) => c.watched.pipes += 1,
                Some(Kind::EventFd) => c.watched.eventfds += 1,
                Some(Kind::SignalFd) => c.watched.signalfds += 1,
                Some(Kind::Socket) => c.watched.sockets += 1,
                _ => c.watched.others += 1,
            }
        }
    }
    Ok((c, own))
}

/// Compares `pid`'s descriptors with the documented ones.
fn check_fds(ctx: &Ctx, run: &Running) -> Outcome {
    let (expected, why) = expected_fds(ctx)?;
    let (measured, own) = census(run.pid())?;
    let listing: Vec<String> = own
        .iter()
        .map(|f| format!("{} -> {}", f.fd, f.target))
        .collect();
    ensure!(
        measured == expected,
        "/proc/PID/fd shows {measured} [{}]; expected {expected} ({why})",
        listing.join(", ")
    );
    Ok(format!("{} ({why})", listing.join(", ")))
}

// ---------------------------------------------------------------------------------
// Help and bad values for the programs without --bind

/// `--help` exits 0 with a usage that names each of `options`.
fn help_lists(ctx: &Ctx, options: &[&str]) -> Outcome {
    let (status, stdout, stderr) = run_to_end(ctx.exe, &["--help"], QUICK)?;
    ensure!(
        status.success(),
        "--help exited with {status}; stderr {stderr:?}"
    );
    ensure!(stdout.contains("Usage:"), "no usage on stdout: {stdout:?}");
    for o in options.iter().chain(&["--help"]) {
        ensure!(stdout.contains(o), "usage does not mention {o}: {stdout:?}");
    }
    Ok(format!("exit 0, {} lines of usage", stdout.lines().count()))
}

fn help_demo(ctx: &Ctx) -> Outcome {
    help_lists(ctx, &[])
}

fn bad_value(ctx: &Ctx) -> Outcome {
    let mut lines = Vec::new();
    let too_many = ["--count", "99999999999999999999"];
    for args in [
        &["--count", "many"][..],
        &["--interval-ms", "-1"],
        &too_many,
    ] {
        let (status, _, stderr) = run_to_end(ctx.exe, args, QUICK)?;
        ensure!(
            status.code() == Some(2),
            "{args:?}: exit status {status}, expected 2"
        );
        lines.push(common::one_line_error(&stderr)?);
    }
    Ok(format!("exit 2: {}", lines.join(" / ")))
}

// ---------------------------------------------------------------------------------
// future-notify

/// The `poll`/`done` events of a finished run, with their arrival times.
fn timed_events(run: &Running) -> Result<Vec<(Instant, Event)>> {
    run.seen
        .iter()
        .map(|l: &Line| Ok((l.at, l.event()?)))
        .collect()
}

fn polls_at_interval(ctx: &Ctx) -> Outcome {
    const COUNT: u64 = 5;
    const INTERVAL: Duration = Duration::from_millis(200);
    let interval_ms = INTERVAL.as_millis() as u64;
    let late_ms = LATE.as_millis() as u64;
    let mut run = Running::spawn(
        ctx.exe,
        &[
            "--count",
            &COUNT.to_string(),
            "--interval-ms",
            &interval_ms.to_string(),
        ],
        None,
    )?;
    let status = run.wait_exit(INTERVAL * COUNT as u32 + QUICK)?;
    ensure!(
        status.success(),
        "{status}; stderr: {}",
        run.stderr_excerpt()
    );
    let events = timed_events(&run)?;
    ensure!(
        events.len() == COUNT as usize + 1,
        "expected {COUNT} poll lines and a done line, got {:?}",
        run.seen.iter().map(|l| &l.text).collect::<Vec<_>>()
    );
    let mut reported = Vec::new();
    for (i, (_, e)) in events[..COUNT as usize].iter().enumerate() {
        match e {
            Event::Poll { count, elapsed_ms } if *count == i as u64 + 1 => {
                reported.push(*elapsed_ms)
            }
            other => bail!(
                "line {}: expected `poll {} after …`, got `{other}`",
                i + 1,
                i + 1
            ),
        }
    }
    let Event::Done { polls, elapsed_ms } = events[COUNT as usize].1 else {
        bail!("last line is not `done …`: {}", events[COUNT as usize].1);
    };
    ensure!(polls == COUNT, "done after {polls} polls, expected {COUNT}");
    ensure!(
        reported[0] <= late_ms,
        "first poll reported {} ms after start",
        reported[0]
    );
    // The program's own times: each poll at least one interval after the previous
    // one (the notifier sleeps that long first), and not much more.
    for w in reported.windows(2) {
        let gap = w[1] - w[0];
        ensure!(
            (interval_ms..=interval_ms + late_ms).contains(&gap),
            "polls reported at {reported:?} ms: a gap of {gap} ms, expected {interval_ms}..={} ms",
            interval_ms + late_ms
        );
    }
    ensure!(
        elapsed_ms >= *reported.last().unwrap_or(&0),
        "done at {elapsed_ms} ms, before the last poll"
    );
    // The suite's clock: lines arrive about one interval apart too (the lower bound
    // allows for a line read late and the next read on time).
    let arrivals: Vec<u64> = events[..COUNT as usize]
        .windows(2)
        .map(|w| w[1].0.duration_since(w[0].0).as_millis() as u64)
        .collect();
    for gap in &arrivals {
        ensure!(
            (interval_ms / 2..=interval_ms + late_ms).contains(gap),
            "poll lines arrived {arrivals:?} ms apart, expected about {interval_ms}"
        );
    }
    Ok(format!(
        "--count {COUNT} --interval-ms {interval_ms}: {COUNT} polls reported at {reported:?} ms, \
         arriving {arrivals:?} ms apart; done {polls} polls in {elapsed_ms} ms; exit 0"
    ))
}

fn count_zero_and_one(ctx: &Ctx) -> Outcome {
    let mut shown = Vec::new();
    for (count, expected) in [
        ("0", &["done 0 polls in"][..]),
        ("1", &["poll 1 after", "done 1 polls in"]),
    ] {
        let (status, stdout, stderr) = run_to_end(ctx.exe, &["--count", count], QUICK)?;
        ensure!(
            status.success(),
            "--count {count}: exit status {status}; stderr {stderr:?}"
        );
        let lines: Vec<&str> = stdout.lines().collect();
        ensure!(
            lines.len() == expected.len()
                && lines.iter().zip(expected).all(|(l, e)| l.starts_with(e))
                && lines.iter().all(|l| l.parse::<Event>().is_ok()),
            "--count {count}: expected lines starting {expected:?}, got {lines:?}"
        );
        shown.push(format!("--count {count}: {}", lines.join(" / ")));
    }
    Ok(shown.join("; "))
}

/// `--interval-ms 0`: the notifier wakes the future at once; every poll happens and
/// the future completes.
fn interval_zero(ctx: &Ctx) -> Outcome {
    let (status, stdout, stderr) =
        run_to_end(ctx.exe, &["--count", "50", "--interval-ms", "0"], QUICK)?;
    ensure!(status.success(), "{status}; stderr {stderr:?}");
    let events: Vec<Event> = stdout
        .lines()
        .map(|l| l.parse().map_err(|e| anyhow::anyhow!("{e}")))
        .collect::<Result<_>>()?;
    let polls = events
        .iter()
        .filter(|e| matches!(e, Event::Poll { .. }))
        .count();
    let done = events.last();
    ensure!(
        polls == 50 && matches!(done, Some(Event::Done { polls: 50, .. })),
        "expected 50 poll lines and `done 50 polls`, got {polls} and {done:?}"
    );
    Ok(format!(
        "50 polls, then `{}`",
        done.map(|d| d.to_string()).unwrap_or_default()
    ))
}

/// A signal in the middle of the polls: `summary polls=N` with the polls printed so
/// far, and exit 0.
fn notify_stops(ctx: &Ctx, sig: Signal) -> Outcome {
    let mut run = Running::spawn(ctx.exe, &["--count", "1000", "--interval-ms", "50"], None)?;
    run.wait_until(QUICK, |lines| lines.len() >= 2)
        .context("waiting for two poll lines")?;
    run.signal(sig)?;
    let status = run
        .wait_exit(EXIT_TIMEOUT)
        .with_context(|| format!("after {sig}"))?;
    ensure!(status.success(), "after {sig}: {status}, expected exit 0");
    let events = run.events()?;
    let polls = events
        .iter()
        .filter(|e| matches!(e, Event::Poll { .. }))
        .count() as u64;
    match events.last() {
        Some(Event::Summary(c)) if c.get("polls") == Some(polls) => {
            Ok(format!("{polls} polls, then `summary polls={polls}` and exit 0 after {sig}"))
        }
        other => bail!("after {sig} and {polls} poll lines: last line {other:?}, expected `summary polls={polls}`"),
    }
}

// ---------------------------------------------------------------------------------
// mio-empty

const ABOUT_TO_POLL: &str = "about to poll with nothing registered";
const STOPPED: &str = "step stopped by a signal: the poll never returned";

/// Starts mio-empty and waits for its one line.
fn start_empty(ctx: &Ctx) -> Result<Running> {
    let mut run = Running::spawn(ctx.exe, &[], None)?;
    let line = run
        .next_line(START_TIMEOUT)
        .with_context(|| format!("waiting for its line (stderr: {})", run.stderr()))?;
    ensure!(
        line.event()? == Event::Step(ABOUT_TO_POLL.into()),
        "first line `{}`, expected `step {ABOUT_TO_POLL}`",
        line.text
    );
    Ok(run)
}

fn never_returns(ctx: &Ctx) -> Outcome {
    const STILL: Duration = Duration::from_millis(500);
    let mut run = start_empty(ctx)?;
    if let Ok(status) = run.wait_exit(STILL) {
        bail!("exited ({status}) within {STILL:?} of its line");
    }
    run.collect();
    ensure!(
        run.seen.len() == 1,
        "printed more: {:?}",
        run.seen.iter().map(|l| &l.text).collect::<Vec<_>>()
    );
    Ok(format!(
        "`step {ABOUT_TO_POLL}`, then still polling {STILL:?} later"
    ))
}

fn mio_empty_fds(ctx: &Ctx) -> Outcome {
    let run = start_empty(ctx)?;
    check_fds(ctx, &run)
}

/// A signal ends mio-empty with its line and exit 0, while its poll still never
/// returned.
fn empty_stops(ctx: &Ctx, sig: Signal) -> Outcome {
    let mut run = start_empty(ctx)?;
    run.signal(sig)?;
    let t0 = Instant::now();
    let status = run
        .wait_exit(EXIT_TIMEOUT)
        .with_context(|| format!("after {sig}"))?;
    let took = t0.elapsed();
    ensure!(
        status.success(),
        "after {sig}: {status}, expected exit 0; stderr {:?}",
        run.stderr()
    );
    let last = run.seen.last().map(|l| l.text.as_str());
    ensure!(
        last == Some(STOPPED),
        "after {sig}: last line {last:?}, expected `{STOPPED}`"
    );
    Ok(format!("`{STOPPED}` and exit 0, {took:?} after {sig}"))
}

// ---------------------------------------------------------------------------------
// mio-mixed

fn start_mixed(ctx: &Ctx, interval: Duration) -> Result<(Running, SocketAddr)> {
    let ms = interval.as_millis().to_string();
    let (run, addrs) = Running::server(
        ctx.exe,
        &["--bind", "127.0.0.1:0", "--interval-ms", &ms],
        None,
        1,
    )?;
    Ok((run, addrs[0]))
}

fn tick_count(lines: &[Line]) -> u64 {
    lines
        .iter()
        .filter(|l| matches!(l.event(), Ok(Event::Tick { .. })))
        .count() as u64
}

fn recv_count(lines: &[Line]) -> u64 {
    lines
        .iter()
        .filter(|l| matches!(l.event(), Ok(Event::Recv { .. })))
        .count() as u64
}

/// Stops mio-mixed with `sig`: exit 0 within 2 s, a last line `summary recv=R
/// ticks=T` that agrees with the lines. Returns (R, T).
fn stop_mixed(run: &mut Running, sig: Signal) -> Result<(u64, u64)> {
    let (_, c) = run.stop_with_summary(sig, EXIT_TIMEOUT)?;
    let (Some(recv), Some(ticks)) = (c.get("recv"), c.get("ticks")) else {
        bail!("summary lacks recv/ticks: {c:?}");
    };
    let (lines_recv, lines_ticks) = (recv_count(&run.seen), tick_count(&run.seen));
    ensure!(
        (recv, ticks) == (lines_recv, lines_ticks),
        "summary recv={recv} ticks={ticks}, but the lines count {lines_recv} recv, {lines_ticks} ticks"
    );
    Ok((recv, ticks))
}

fn ticks_and_datagrams(ctx: &Ctx) -> Outcome {
    const INTERVAL: Duration = Duration::from_millis(300);
    const TICKS: u64 = 5;
    let (mut run, server) = start_mixed(ctx, INTERVAL)?;
    let listening_at = run.seen[0].at;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    let me = sock.local_addr()?;
    let mut sent = 0u64;
    // After tick k, send k datagrams (lengths 100k + j) and wait for their lines.
    for k in 1..TICKS {
        run.wait_until(INTERVAL + RECV_TIMEOUT, |lines| tick_count(lines) >= k)
            .with_context(|| format!("waiting for tick {k}"))?;
        for j in 0..k {
            sock.send_to(&vec![b't'; (100 * k + j) as usize], server)?;
        }
        sent += k;
        run.wait_until(RECV_TIMEOUT, |lines| recv_count(lines) >= sent)
            .with_context(|| format!("waiting for the datagrams sent after tick {k}"))?;
    }
    run.wait_until(INTERVAL + RECV_TIMEOUT, |lines| tick_count(lines) >= TICKS)
        .with_context(|| format!("waiting for tick {TICKS}"))?;
    let (recv, ticks) = stop_mixed(&mut run, Signal::SIGTERM)?;

    // Ticks: numbered 1, 2, 3… in order, one line each, about one interval apart.
    let mut tick_times = vec![listening_at];
    let mut batch_of_tick = 0u64;
    for line in &run.seen[1..] {
        match line.event()? {
            Event::Tick { count } => {
                ensure!(
                    count == batch_of_tick + 1,
                    "`tick {count}` after tick {batch_of_tick}"
                );
                batch_of_tick = count;
                tick_times.push(line.at);
            }
            Event::Recv { len, from, at } => {
                // A datagram of batch k is reported after tick k.
                ensure!(
                    from == me && at.is_none(),
                    "unexpected recv line `{}`",
                    line.text
                );
                let batch = len as u64 / 100;
                ensure!(
                    batch >= 1 && batch <= batch_of_tick,
                    "a datagram sent after tick {batch} reported after tick {batch_of_tick}"
                );
            }
            Event::Summary(_) => {}
            other => bail!("unexpected line `{other}`"),
        }
    }
    let gaps: Vec<u64> = tick_times
        .windows(2)
        .map(|w| w[1].duration_since(w[0]).as_millis() as u64)
        .collect();
    let (lo, hi) = (
        INTERVAL.as_millis() as u64 / 2,
        (INTERVAL + LATE).as_millis() as u64,
    );
    ensure!(
        gaps.iter().all(|g| (lo..=hi).contains(g)),
        "ticks arrived {gaps:?} ms apart (the first after `listening`), expected {lo}..={hi}"
    );
    let expected_recv = (1..TICKS).sum::<u64>();
    ensure!(
        recv == expected_recv,
        "summary recv={recv}, expected {expected_recv}"
    );
    Ok(format!(
        "--interval-ms {}: ticks 1..{ticks} arrived {gaps:?} ms apart; {recv} datagrams sent \
         between ticks all reported in between; summary recv={recv} ticks={ticks}",
        INTERVAL.as_millis()
    ))
}

fn mio_mixed_fds(ctx: &Ctx) -> Outcome {
    let (run, _) = start_mixed(ctx, Duration::from_millis(3000))?;
    check_fds(ctx, &run)
}

fn mixed_signal(ctx: &Ctx, sig: Signal) -> Outcome {
    let (mut run, server) = start_mixed(ctx, Duration::from_millis(100))?;
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    for i in 1..=5 {
        sock.send_to(&vec![b's'; i], server)?;
    }
    run.wait_until(RECV_TIMEOUT, |lines| {
        recv_count(lines) >= 5 && tick_count(lines) >= 1
    })?;
    let t0 = Instant::now();
    let (recv, ticks) = stop_mixed(&mut run, sig)?;
    ensure!(recv == 5, "summary recv={recv}, expected 5");
    Ok(format!(
        "exit 0 {:?} after {sig:?}, summary recv=5 ticks={ticks}",
        t0.elapsed()
    ))
}

// ---------------------------------------------------------------------------------
// mio-pipe

fn mio_pipe_steps(ctx: &Ctx) -> Outcome {
    let Some((_, expected, why)) = MIO_PIPE_STEPS
        .iter()
        .find(|(f, _, _)| *f == ctx.program.flavor)
    else {
        bail!("no documented steps for {:?}", ctx.program.flavor);
    };
    let t0 = Instant::now();
    let (status, stdout, stderr) = run_to_end(ctx.exe, &[], EXIT_TIMEOUT)?;
    let took = t0.elapsed();
    ensure!(status.success(), "{status}; stderr {stderr:?}");
    ensure!(stderr.is_empty(), "unexpected stderr: {stderr:?}");
    let lines: Vec<&str> = stdout.lines().collect();
    for l in &lines {
        l.parse::<Event>()
            .map_err(|e| anyhow::anyhow!("line outside the grammar: {e}"))?;
    }
    if lines != *expected {
        let first = lines
            .iter()
            .zip(expected.iter())
            .position(|(a, b)| a != b)
            .unwrap_or(lines.len().min(expected.len()));
        bail!(
            "output differs from the documented steps at line {}: got {:?}, expected {:?} ({why})",
            first + 1,
            lines.get(first),
            expected.get(first)
        );
    }
    Ok(format!(
        "exit 0 in {took:?}, {} documented steps ({why})",
        lines.len()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_mio_demo_has_documented_fds_and_steps() {
        for program in [Family::MioEmpty, Family::MioMixed] {
            for flavor in [Flavor::Legacy, Flavor::Modern] {
                let n = FDS
                    .iter()
                    .filter(|(p, f, _, _)| *p == program && *f == flavor)
                    .count();
                assert_eq!(n, 1, "{program} {flavor:?}");
            }
        }
        for flavor in [Flavor::Legacy, Flavor::Modern] {
            let steps = MIO_PIPE_STEPS
                .iter()
                .find(|(f, _, _)| *f == flavor)
                .unwrap();
            for s in steps.1 {
                assert!(s.parse::<Event>().is_ok(), "{s}");
            }
        }
    }

    #[test]
    fn the_eras_differ_where_documented() {
        let get = |p: Family, f: Flavor| FDS.iter().find(|e| e.0 == p && e.1 == f).unwrap().2;
        // The lesson of mio-empty: a pipe pair in mio 0.6, none in mio 0.8.
        assert_eq!(get(Family::MioEmpty, Flavor::Legacy).pipe_ends, 2);
        assert_eq!(get(Family::MioEmpty, Flavor::Modern).pipe_ends, 0);
        // The lesson of mio-mixed: the wake-up is a pipe, then an eventfd.
        assert_eq!(get(Family::MioMixed, Flavor::Legacy).watched.pipes, 1);
        assert_eq!(get(Family::MioMixed, Flavor::Modern).watched.eventfds, 1);
    }
}
