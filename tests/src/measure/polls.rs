//! Multi-socket programs: how many per-socket futures one datagram makes a program
//! poll. After start-up (every future polled once), datagrams are sent one at a time
//! to chosen sockets, and the `poll future #i` lines each one causes are collected
//! until the program has printed nothing for a while.

use std::collections::BTreeSet;
use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use harness::process::{Line, Running};
use harness::results::bench::PollPoint;
use shared::event::Event;

const STEP_TIMEOUT: Duration = Duration::from_secs(5);
const EXIT_TIMEOUT: Duration = Duration::from_secs(5);

/// What one datagram caused.
#[derive(Debug, Clone, PartialEq)]
pub struct Probe {
    /// The socket it was sent to.
    pub target: usize,
    /// The indices of the futures it polled, in order.
    pub polls: Vec<usize>,
}

/// Starts the program with `sockets` sockets and waits until every future has been
/// polled once and the program is quiet for `quiet`.
pub fn start(exe: &Path, sockets: usize, quiet: Duration) -> Result<(Running, Vec<SocketAddr>)> {
    let n = sockets.to_string();
    let args = ["--bind", "127.0.0.1:0", "--sockets", &n];
    let (mut run, addrs) = Running::server(exe, &args, None, sockets)?;
    run.wait_until(STEP_TIMEOUT, |lines| polled(lines).len() == sockets)
        .context("not every future was polled once at start-up")?;
    run.settle(quiet, STEP_TIMEOUT)?;
    Ok((run, addrs))
}

fn polled(lines: &[Line]) -> BTreeSet<usize> {
    let polls = lines.iter().filter_map(|l| match l.event() {
        Ok(Event::PollFuture { index }) => Some(index),
        _ => None,
    });
    polls.collect()
}

/// Sends one datagram to each socket of `targets` in turn, each once the program is
/// quiet again, and returns what each caused; then stops the program (exit 0, and
/// nothing on stderr). Datagram `i` holds `i + 1` bytes, and must cause exactly one
/// `recv` line naming it, this client and its socket; a line outside `poll future`
/// and `recv` is an error.
pub fn probe(exe: &Path, sockets: usize, targets: &[usize], quiet: Duration) -> Result<Vec<Probe>> {
    let (mut run, addrs) = start(exe, sockets, quiet)?;
    let sock = UdpSocket::bind("127.0.0.1:0").context("client bind")?;
    let me = sock.local_addr()?;
    let mut out = Vec::new();
    for (i, &target) in targets.iter().enumerate() {
        let (from, at) = (run.seen.len(), addrs[target]);
        sock.send_to(&vec![b'p'; i + 1], at)?;
        run.wait_until(STEP_TIMEOUT, |lines| {
            let after = &lines[from.min(lines.len())..];
            after
                .iter()
                .any(|l| matches!(l.event(), Ok(Event::Recv { at: Some(a), .. }) if a == at))
        })
        .with_context(|| format!("no `recv … at {at}` line"))?;
        run.settle(quiet, STEP_TIMEOUT)?;
        let (mut polls, mut recvs) = (Vec::new(), Vec::new());
        for line in &run.seen[from..] {
            match line.event()? {
                Event::PollFuture { index } => polls.push(index),
                e @ Event::Recv { .. } => recvs.push(e),
                other => bail!("unexpected line `{other}`"),
            }
        }
        // One datagram, one `recv` line: its length, this client, the socket it came to.
        let want = Event::Recv {
            len: i + 1,
            from: me,
            at: Some(at),
        };
        ensure!(
            recvs == [want.clone()],
            "datagram {i} to socket #{target}: expected `{want}`, got {recvs:?}"
        );
        out.push(Probe { target, polls });
    }
    let err = run.stderr();
    ensure!(err.is_empty(), "unexpected stderr: {err:?}");
    run.terminate(EXIT_TIMEOUT)?;
    Ok(out)
}

/// The futures polled per datagram at each socket count of `counts`, three datagrams
/// each (to the last socket, the first and the middle one): one round of the bench.
pub fn sweep(exe: &Path, counts: &[usize]) -> Result<Vec<PollPoint>> {
    let quiet = Duration::from_millis(60);
    let point = |&n: &usize| -> Result<PollPoint> {
        let targets = [n - 1, 0, n / 2];
        let probes = probe(exe, n, &targets, quiet).with_context(|| format!("{n} sockets"))?;
        let polls = probes.iter().map(|p| p.polls.len()).collect();
        Ok(PollPoint { sockets: n, polls })
    };
    counts.iter().map(point).collect()
}
