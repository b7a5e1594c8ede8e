//! The flood share: how much of a flood far past `--queue` a UDP echo server echoes,
//! and why.
//!
//! A flood is 5,000 datagrams (`Settings::flood_datagrams`) sent from one socket as
//! fast as the kernel takes them, at the server's default queue (`--queue` 8). Where
//! they go is read from the server's own `summary`: the kernel drops what does not
//! fit the server socket's receive buffer (sent − `recv`), the server drops what finds its
//! queue full (`dropped`), and echoes the rest (`sent`). The client counts the
//! echoes that come back. How much the kernel drops depends on how fast the server
//! reads against the sender on this machine, and varies from run to run; the share of
//! what the server *read* that it echoes (`sent / recv`) depends only on how it
//! schedules its reads and writes.
//!
//! The reason is measured in a second flood, without `--quiet`: the event lines give
//! the order of the server's reads and writes. A *reader turn* is a run of `recv`
//! lines (with their `dropped` lines) between two `sent` lines, a *writer turn* a run
//! of `sent` lines. A server that reads 128 datagrams per turn and then lets its
//! writer send the 8 its queue holds echoes 8 of every 128 it reads, whatever the
//! machine: the share is set by who runs when, not by speed.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use harness::results::bench::{FloodFigures, UdpEchoFigures};
use shared::event::Event;

use super::cells::{family_table, fmt_num, Column};
use super::entry::Job;
use super::settings::Settings;
use harness::load::udp::{self, FloodOutcome};
use harness::measure::affinity::Placement;
use harness::measure::cpu::Cpu;
use harness::measure::server::Server;

/// How long the server must stay idle (and the client without an echo) for a flood to
/// be over.
const QUIET: Duration = Duration::from_millis(50);

/// Floods `exe` twice at its default queue (quiet, then printing its events) and
/// reads the figures. `extra`: the options of the entry's variant, if any (never
/// `--queue`: the default queue is the case measured).
pub fn run(exe: &Path, extra: &[&str], s: &Settings, on: &Placement) -> Result<FloodFigures> {
    let flood = |server: &Server| {
        let pid = server.pid();
        let mut probe = || Cpu::read(pid);
        udp::flood(
            server.addrs[0],
            s.flood_datagrams,
            s.payload,
            QUIET,
            &mut probe,
        )
    };
    let server = Server::start(exe, extra, 1, on)?;
    let outcome = flood(&server)?;
    let counts = server.stop()?;
    let server = Server::start_verbose(exe, extra, on)?;
    flood(&server)?;
    let (_, events) = server.stop_with_events()?;
    let turns = Turns::of(&events);
    let count = |key| counts.get(key);
    let counts = [count("recv"), count("sent"), count("dropped")];
    Ok(figures(outcome, counts, turns))
}

/// From what the client counted, the server's summary counts (`recv`, `sent`,
/// `dropped`) and the turns of the second flood.
fn figures(o: FloodOutcome, [recv, sent, dropped]: [Option<u64>; 3], turns: Turns) -> FloodFigures {
    let f = |v: u64| v as f64;
    FloodFigures {
        flood_sent: f(o.sent),
        flood_echoed: f(o.echoed),
        flood_share: f(o.echoed) / f(o.sent.max(1)),
        flood_server_recv: recv.map(f),
        flood_server_sent: sent.map(f),
        flood_read_share: match (sent, recv) {
            (Some(s), Some(r)) if r > 0 => Some(f(s) / f(r)),
            _ => None,
        },
        flood_queue_dropped: dropped.map(f),
        flood_kernel_dropped: recv.map(|r| f(o.sent.saturating_sub(r))),
        flood_reads_per_turn: turns.reads_per_turn(),
        flood_echoes_per_turn: turns.echoes_per_turn(),
    }
}

/// Where each entry's flood went, and why: two tables, so that each fits.
pub fn section(jobs: &[&Job], s: &Settings) -> String {
    let went: [Column<UdpEchoFigures>; 4] = [
        ("echoed", &|c| c.pct(|f| f.flood.flood_share)),
        ("kernel drops", &|c| {
            c.count(|f| f.flood.flood_kernel_dropped)
        }),
        ("read", &|c| c.count(|f| f.flood.flood_server_recv)),
        ("queue drops", &|c| c.count(|f| f.flood.flood_queue_dropped)),
    ];
    let why: [Column<UdpEchoFigures>; 3] = [
        ("echoed of read", &|c| c.pct(|f| f.flood.flood_read_share)),
        ("reads/turn", &|c| {
            c.num(|f| f.flood.flood_reads_per_turn, 1.0)
        }),
        ("echoes/turn", &|c| {
            c.num(|f| f.flood.flood_echoes_per_turn, 1.0)
        }),
    ];
    let (n, queue) = (
        fmt_num(s.flood_datagrams as f64),
        shared::echo::DEFAULT_QUEUE,
    );
    let title = format!(
        "UDP echo, a flood of {n} datagrams as fast as the kernel takes them, at the default \
         --queue {queue}: echoed of sent; kernel drops (the server socket's buffer was full); \
         read by the server; queue drops (read, but its queue was full)"
    );
    let why_title = "UDP echo, the same flood: why (from the event lines of a second flood)";
    family_table(&title, jobs, &went) + &family_table(why_title, jobs, &why)
}

/// The reader and writer turns of a run of event lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Turns {
    pub reads: u64,
    pub read_turns: u64,
    pub echoes: u64,
    pub write_turns: u64,
}

impl Turns {
    pub fn of(events: &[Event]) -> Turns {
        let (mut t, mut reading) = (Turns::default(), None);
        for e in events {
            // A drop belongs to the read that it follows; other lines (listening,
            // summary) are outside the flood.
            let read = match e {
                Event::Recv { .. } => true,
                Event::Sent { .. } => false,
                _ => continue,
            };
            let (count, turns) = match read {
                true => (&mut t.reads, &mut t.read_turns),
                false => (&mut t.echoes, &mut t.write_turns),
            };
            *count += 1;
            *turns += u64::from(reading != Some(read));
            reading = Some(read);
        }
        t
    }

    fn reads_per_turn(&self) -> Option<f64> {
        (self.read_turns > 0).then(|| self.reads as f64 / self.read_turns as f64)
    }

    fn echoes_per_turn(&self) -> Option<f64> {
        (self.write_turns > 0).then(|| self.echoes as f64 / self.write_turns as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_runs_of_reads_and_of_writes() {
        let peer = "127.0.0.1:40000";
        let (recv, sent) = (
            format!("recv 64 bytes from {peer}"),
            format!("sent 64 bytes to {peer}"),
        );
        let drop = format!("dropped 64 bytes from {peer}: queue full");
        // Turn 1: 4 reads (2 dropped); 2 echoes; turn 2: 2 reads; 2 echoes.
        let turns = [
            &recv, &recv, &recv, &drop, &recv, &drop, &sent, &sent, &recv, &recv, &sent, &sent,
        ];
        let mut lines = vec!["listening udp 127.0.0.1:2000".to_string()];
        lines.extend(turns.map(String::clone));
        lines.push("summary recv=6 sent=4 dropped=2".into());
        let t = Turns::of(
            &lines
                .iter()
                .map(|l| l.parse().unwrap())
                .collect::<Vec<Event>>(),
        );
        let want = Turns {
            reads: 6,
            read_turns: 2,
            echoes: 4,
            write_turns: 2,
        };
        assert_eq!(
            (t, t.reads_per_turn(), t.echoes_per_turn()),
            (want, Some(3.0), Some(2.0))
        );
        assert_eq!(Turns::of(&[]).reads_per_turn(), None);
    }

    #[test]
    fn the_share_and_where_the_rest_went() {
        let o = FloodOutcome {
            sent: 5_000,
            echoed: 320,
        };
        let f = figures(o, [Some(4_000), Some(320), Some(3_680)], Turns::default());
        assert_eq!(
            (f.flood_share, f.flood_read_share),
            (320.0 / 5_000.0, Some(320.0 / 4_000.0))
        );
        assert_eq!(
            (f.flood_kernel_dropped, f.flood_queue_dropped),
            (Some(1_000.0), Some(3_680.0))
        );
        assert_eq!(f.flood_reads_per_turn, None);
    }
}
