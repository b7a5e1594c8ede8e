//! The flood share: how much of a flood far past `--queue` a UDP echo server echoes,
//! and why.
//!
//! A flood is [`FLOOD`] datagrams sent from one socket as fast as the kernel takes
//! them, at the server's default queue (`--queue` 8). Where the datagrams go is
//! read from the server's own `summary`: the kernel drops what does not fit the
//! server socket's receive buffer (sent − `recv`), the server drops what finds its
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

use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use shared::event::Event;

use super::affinity::Placement;
use super::cpu::Cpu;
use super::loadgen::{self, FloodOutcome};
use super::server::Server;
use super::Settings;

/// Datagrams per flood.
pub const FLOOD: u64 = 5_000;
/// How long the server must stay idle (and the client without an echo) for a flood to
/// be over.
const QUIET: Duration = Duration::from_millis(50);

/// The figures of one flood.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FloodFigures {
    /// Datagrams sent, and echoes the client got back.
    pub flood_sent: f64,
    pub flood_echoed: f64,
    /// Echoed / sent.
    pub flood_share: f64,
    /// From the server's summary: datagrams it read, echoes it sent, and datagrams it
    /// dropped because its queue was full; sent − read is what the kernel dropped
    /// before the server read it (its socket's receive buffer was full).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_server_recv: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_server_sent: Option<f64>,
    /// The server's echoes / the datagrams it read: what its own scheduling of reads
    /// and writes lets through, whatever the kernel dropped before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_read_share: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_queue_dropped: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_kernel_dropped: Option<f64>,
    /// From the event lines of a second flood: datagrams read per reader turn, and
    /// echoes sent per writer turn (means over the flood).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_reads_per_turn: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flood_echoes_per_turn: Option<f64>,
}

/// Floods `exe` twice at its default queue (quiet, then printing its events) and
/// reads the figures. `extra`: the options of the entry's variant, if any (never
/// `--queue`: the default queue is the case measured).
pub fn run(
    exe: &std::path::Path,
    extra: &[&str],
    s: &Settings,
    placement: &Placement,
) -> Result<FloodFigures> {
    let flood = |server: &Server| {
        let pid = server.pid();
        let mut probe = || Cpu::read(pid);
        loadgen::flood(
            server.addrs[0],
            s.flood_datagrams,
            s.payload,
            QUIET,
            &mut probe,
        )
    };
    let server = Server::start(exe, extra, 1, placement)?;
    let outcome = flood(&server)?;
    let counts = server.stop()?;
    let server = Server::start_verbose(exe, extra, 1, placement)?;
    flood(&server)?;
    let (_, events) = server.stop_with_events()?;
    let turns = Turns::of(&events);
    let count = |key| counts.get(key);
    Ok(FloodFigures::of(
        outcome,
        [count("recv"), count("sent"), count("dropped")],
        turns,
    ))
}

impl FloodFigures {
    /// From what the client counted, the server's summary counts (`recv`, `sent`,
    /// `dropped`) and the turns of the second flood.
    fn of(o: FloodOutcome, [recv, sent, dropped]: [Option<u64>; 3], turns: Turns) -> Self {
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
        #[derive(PartialEq)]
        enum Side {
            None,
            Reader,
            Writer,
        }
        let mut t = Turns::default();
        let mut side = Side::None;
        for e in events {
            match e {
                Event::Recv { .. } => {
                    t.reads += 1;
                    if side != Side::Reader {
                        t.read_turns += 1;
                        side = Side::Reader;
                    }
                }
                Event::Sent { .. } => {
                    t.echoes += 1;
                    if side != Side::Writer {
                        t.write_turns += 1;
                        side = Side::Writer;
                    }
                }
                // A drop belongs to the read that it follows; other lines (listening,
                // summary) are outside the flood.
                _ => {}
            }
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

    fn parse(lines: &[&str]) -> Vec<Event> {
        lines.iter().map(|l| l.parse().unwrap()).collect()
    }

    #[test]
    fn turns_are_runs_of_reads_and_of_writes() {
        let peer = "127.0.0.1:40000";
        let recv = format!("recv 64 bytes from {peer}");
        let drop = format!("dropped 64 bytes from {peer}: queue full");
        let sent = format!("sent 64 bytes to {peer}");
        let mut lines = vec!["listening udp 127.0.0.1:2000".to_string()];
        // Turn 1: 4 reads (2 dropped); 2 echoes; turn 2: 2 reads; 2 echoes.
        for l in [&recv, &recv, &recv, &drop, &recv, &drop, &sent, &sent] {
            lines.push(l.clone());
        }
        for l in [&recv, &recv, &sent, &sent] {
            lines.push(l.clone());
        }
        lines.push("summary recv=6 sent=4 dropped=2".into());
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let t = Turns::of(&parse(&refs));
        assert_eq!(
            t,
            Turns {
                reads: 6,
                read_turns: 2,
                echoes: 4,
                write_turns: 2
            }
        );
        assert_eq!(t.reads_per_turn(), Some(3.0));
        assert_eq!(t.echoes_per_turn(), Some(2.0));
        assert_eq!(Turns::of(&[]).reads_per_turn(), None);
    }

    #[test]
    fn the_share_and_where_the_rest_went() {
        let o = FloodOutcome {
            sent: 5_000,
            echoed: 320,
        };
        let counts = [Some(4_000), Some(320), Some(3_680)];
        let f = FloodFigures::of(o, counts, Turns::default());
        assert_eq!(f.flood_share, 320.0 / 5_000.0);
        assert_eq!(f.flood_read_share, Some(320.0 / 4_000.0));
        assert_eq!(f.flood_kernel_dropped, Some(1_000.0));
        assert_eq!(f.flood_queue_dropped, Some(3_680.0));
        assert_eq!(f.flood_reads_per_turn, None);
    }
}
