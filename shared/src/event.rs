//! The stdout event grammar: one event per line, printed by the programs of both eras
//! and parsed by the conformance suite. This module is its only owner.
//!
//! ```text
//! listening udp 127.0.0.1:2000
//! recv 5 bytes from 127.0.0.1:40000
//! sent 5 bytes to 127.0.0.1:40000
//! dropped 5 bytes from 127.0.0.1:40000: queue full
//! refused 5 bytes from 127.0.0.1:19: source port 19 (chargen) could loop
//! recv 5 bytes from 127.0.0.1:40000 at 127.0.0.1:2004
//! poll future #4
//! poll 3 after 3002 ms
//! done 10 polls in 10004 ms
//! tick 2
//! step registration readiness set while the poller is not waiting
//! accepted from 127.0.0.1:40000
//! closed 127.0.0.1:40000 after 1024 bytes: eof
//! reply to 127.0.0.1:40000: 6193, 23 : USERID : UNIX : alice
//! task #2 woken
//! task #2 recv 5 bytes from 127.0.0.1:40000
//! read 128 datagrams in one poll
//! tick 7 late 1234 us
//! summary recv=10 sent=9 dropped=0 refused=1
//! ```
//!
//! Addresses are printed as `SocketAddr` prints them (`[::1]:2000` for IPv6), so every
//! line parses back to the same [`Event`].

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::str::FromStr;

/// Transport of a `listening` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// Why a datagram was dropped: the text after `: ` on a `dropped` line.
pub const QUEUE_FULL: &str = "queue full";

/// One line of a program's stdout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `listening udp ADDR`: a socket is bound, at its real address.
    Listening { proto: Proto, addr: SocketAddr },
    /// `recv N bytes from PEER` (single socket) or `… at LOCAL` (multi-socket).
    Recv {
        len: usize,
        from: SocketAddr,
        at: Option<SocketAddr>,
    },
    /// `sent N bytes to PEER`: an echo left the server.
    Sent { len: usize, to: SocketAddr },
    /// `dropped N bytes from PEER: REASON`: a received datagram that will get no echo.
    Dropped {
        len: usize,
        from: SocketAddr,
        reason: Cow<'static, str>,
    },
    /// `refused N bytes from PEER: REASON`: a received datagram that gets no echo
    /// because its source could start an echo loop (see `echo::loop_risk`).
    Refused {
        len: usize,
        from: SocketAddr,
        reason: Cow<'static, str>,
    },
    /// `poll future #I`: the per-socket future I was polled.
    PollFuture { index: usize },
    /// `poll N after MS ms`: a demo future polled for the Nth time, MS after start.
    Poll { count: u64, elapsed_ms: u64 },
    /// `done N polls in MS ms`: a demo future completed.
    Done { polls: u64, elapsed_ms: u64 },
    /// `tick N`: the Nth user-space timer event reached the poller.
    Tick { count: u64 },
    /// `step TEXT`: one step of a demo's documented sequence.
    Step(Cow<'static, str>),
    /// `accepted from PEER`: a TCP connection was accepted.
    Accepted { peer: SocketAddr },
    /// `closed PEER after N bytes: REASON`: a TCP connection ended (`eof`, `reset`,
    /// `idle timeout`, `line too long`, …).
    Closed {
        peer: SocketAddr,
        bytes: u64,
        reason: Cow<'static, str>,
    },
    /// `reply to PEER: TEXT`: a request/response server answered (TEXT without CRLF).
    Reply { peer: SocketAddr, text: String },
    /// `task #I woken`: task I, one of several waiting on the same socket, was
    /// polled (woken, or run for the first time).
    TaskWoken { task: usize },
    /// `task #I recv N bytes from PEER`: task I received a datagram.
    TaskRecv {
        task: usize,
        len: usize,
        from: SocketAddr,
    },
    /// `read N datagrams in one poll`: what a reader task read before it returned
    /// control to the scheduler.
    ReadInPoll { datagrams: u64 },
    /// `tick N late US us`: the Nth tick of a periodic timer ran US microseconds
    /// after it was due.
    TickLate { count: u64, late_us: u64 },
    /// `summary k=v …`: the counts printed once, at exit.
    Summary(Counts),
}

/// The `k=v` pairs of a summary line, in the order printed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts(pub Vec<(Cow<'static, str>, u64)>);

impl Counts {
    /// The value of `key`, if the summary has it.
    pub fn get(&self, key: &str) -> Option<u64> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Listening { proto, addr } => write!(f, "listening {} {addr}", proto.as_str()),
            Event::Recv {
                len,
                from,
                at: None,
            } => write!(f, "recv {len} bytes from {from}"),
            Event::Recv {
                len,
                from,
                at: Some(at),
            } => write!(f, "recv {len} bytes from {from} at {at}"),
            Event::Sent { len, to } => write!(f, "sent {len} bytes to {to}"),
            Event::Dropped { len, from, reason } => {
                write!(f, "dropped {len} bytes from {from}: {reason}")
            }
            Event::Refused { len, from, reason } => {
                write!(f, "refused {len} bytes from {from}: {reason}")
            }
            Event::PollFuture { index } => write!(f, "poll future #{index}"),
            Event::Poll { count, elapsed_ms } => write!(f, "poll {count} after {elapsed_ms} ms"),
            Event::Done { polls, elapsed_ms } => write!(f, "done {polls} polls in {elapsed_ms} ms"),
            Event::Tick { count } => write!(f, "tick {count}"),
            Event::Step(text) => write!(f, "step {text}"),
            Event::Accepted { peer } => write!(f, "accepted from {peer}"),
            Event::Closed {
                peer,
                bytes,
                reason,
            } => write!(f, "closed {peer} after {bytes} bytes: {reason}"),
            Event::Reply { peer, text } => write!(f, "reply to {peer}: {text}"),
            Event::TaskWoken { task } => write!(f, "task #{task} woken"),
            Event::TaskRecv { task, len, from } => {
                write!(f, "task #{task} recv {len} bytes from {from}")
            }
            Event::ReadInPoll { datagrams } => write!(f, "read {datagrams} datagrams in one poll"),
            Event::TickLate { count, late_us } => write!(f, "tick {count} late {late_us} us"),
            Event::Summary(counts) => {
                f.write_str("summary")?;
                for (k, v) in &counts.0 {
                    write!(f, " {k}={v}")?;
                }
                Ok(())
            }
        }
    }
}

/// Prints one event line on stdout. A closed or broken stdout is ignored: a server
/// never dies because its reader went away.
pub fn emit(event: &Event) {
    let _ = writeln!(io::stdout().lock(), "{event}");
}

/// A line that is not in the grammar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub line: String,
    pub why: &'static str,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {:?}", self.why, self.line)
    }
}

impl std::error::Error for ParseError {}

impl FromStr for Event {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Event, ParseError> {
        let err = |why| ParseError {
            line: line.to_string(),
            why,
        };
        let addr = |s: &str| s.parse::<SocketAddr>().map_err(|_| err("bad address"));
        let len = |s: &str| s.parse::<usize>().map_err(|_| err("bad length"));
        let num = |s: &str| s.parse::<u64>().map_err(|_| err("bad number"));
        let task = |s: &str| {
            s.strip_prefix('#')
                .and_then(|i| i.parse::<usize>().ok())
                .ok_or_else(|| err("bad task number"))
        };
        // Free text after the first ": " of the line.
        let rest = || {
            line.split_once(": ")
                .map(|(_, r)| r.to_string())
                .ok_or_else(|| err("line without `: TEXT`"))
        };
        let words: Vec<&str> = line.split(' ').collect();
        match words.as_slice() {
            ["listening", proto, a] => {
                let proto = match *proto {
                    "udp" => Proto::Udp,
                    "tcp" => Proto::Tcp,
                    _ => return Err(err("unknown transport")),
                };
                Ok(Event::Listening {
                    proto,
                    addr: addr(a)?,
                })
            }
            ["recv", n, "bytes", "from", from] => Ok(Event::Recv {
                len: len(n)?,
                from: addr(from)?,
                at: None,
            }),
            ["recv", n, "bytes", "from", from, "at", at] => Ok(Event::Recv {
                len: len(n)?,
                from: addr(from)?,
                at: Some(addr(at)?),
            }),
            ["sent", n, "bytes", "to", to] => Ok(Event::Sent {
                len: len(n)?,
                to: addr(to)?,
            }),
            ["dropped", n, "bytes", "from", from, ..] => {
                let from = from
                    .strip_suffix(':')
                    .ok_or_else(|| err("bad dropped line"))?;
                Ok(Event::Dropped {
                    len: len(n)?,
                    from: addr(from)?,
                    reason: Cow::Owned(rest()?),
                })
            }
            ["refused", n, "bytes", "from", from, ..] => {
                let from = from
                    .strip_suffix(':')
                    .ok_or_else(|| err("bad refused line"))?;
                Ok(Event::Refused {
                    len: len(n)?,
                    from: addr(from)?,
                    reason: Cow::Owned(rest()?),
                })
            }
            ["poll", n, "after", ms, "ms"] => Ok(Event::Poll {
                count: num(n)?,
                elapsed_ms: num(ms)?,
            }),
            ["done", n, "polls", "in", ms, "ms"] => Ok(Event::Done {
                polls: num(n)?,
                elapsed_ms: num(ms)?,
            }),
            ["tick", n] => Ok(Event::Tick { count: num(n)? }),
            ["step", _, ..] => Ok(Event::Step(Cow::Owned(line["step ".len()..].to_string()))),
            ["accepted", "from", peer] => Ok(Event::Accepted { peer: addr(peer)? }),
            ["closed", peer, "after", n, "bytes:", ..] => Ok(Event::Closed {
                peer: addr(peer)?,
                bytes: num(n)?,
                reason: Cow::Owned(rest()?),
            }),
            ["reply", "to", peer, ..] => {
                let peer = peer
                    .strip_suffix(':')
                    .ok_or_else(|| err("bad reply line"))?;
                Ok(Event::Reply {
                    peer: addr(peer)?,
                    text: rest()?,
                })
            }
            ["poll", "future", i] => {
                let index = i
                    .strip_prefix('#')
                    .and_then(|i| i.parse().ok())
                    .ok_or_else(|| err("bad future index"))?;
                Ok(Event::PollFuture { index })
            }
            ["task", t, "woken"] => Ok(Event::TaskWoken { task: task(t)? }),
            ["task", t, "recv", n, "bytes", "from", from] => Ok(Event::TaskRecv {
                task: task(t)?,
                len: len(n)?,
                from: addr(from)?,
            }),
            ["read", n, "datagrams", "in", "one", "poll"] => {
                Ok(Event::ReadInPoll { datagrams: num(n)? })
            }
            ["tick", n, "late", us, "us"] => Ok(Event::TickLate {
                count: num(n)?,
                late_us: num(us)?,
            }),
            ["summary", pairs @ ..] => {
                let mut counts = Counts::default();
                for pair in pairs {
                    let (k, v) = pair
                        .split_once('=')
                        .ok_or_else(|| err("bad summary pair"))?;
                    let v = v.parse().map_err(|_| err("bad summary count"))?;
                    counts.0.push((Cow::Owned(k.to_string()), v));
                }
                Ok(Event::Summary(counts))
            }
            _ => Err(err("not an event line")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::vectors::events::{LINES, NOT_LINES};

    #[test]
    fn every_example_round_trips() {
        for line in LINES {
            let event: Event = line.parse().unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(event.to_string(), *line);
        }
    }

    #[test]
    fn fields_are_parsed() {
        let e: Event = "dropped 7 bytes from [::1]:9: queue full".parse().unwrap();
        assert_eq!(
            e,
            Event::Dropped {
                len: 7,
                from: "[::1]:9".parse().unwrap(),
                reason: QUEUE_FULL.into()
            }
        );
        let Event::Summary(c) = "summary recv=10 sent=7 dropped=3".parse().unwrap() else {
            panic!()
        };
        assert_eq!(
            (c.get("recv"), c.get("sent"), c.get("dropped")),
            (Some(10), Some(7), Some(3))
        );
        assert_eq!(c.get("nope"), None);
    }

    #[test]
    fn readiness_lines_carry_their_fields() {
        let e: Event = "task #3 recv 7 bytes from 127.0.0.1:9".parse().unwrap();
        assert_eq!(
            e,
            Event::TaskRecv {
                task: 3,
                len: 7,
                from: "127.0.0.1:9".parse().unwrap()
            }
        );
        let e: Event = "tick 12 late 40500 us".parse().unwrap();
        assert_eq!(
            e,
            Event::TickLate {
                count: 12,
                late_us: 40_500
            }
        );
        let e: Event = "read 128 datagrams in one poll".parse().unwrap();
        assert_eq!(e, Event::ReadInPoll { datagrams: 128 });
        assert_eq!(Event::TaskWoken { task: 0 }.to_string(), "task #0 woken");
    }

    #[test]
    fn lines_outside_the_grammar_are_rejected() {
        for bad in NOT_LINES {
            assert!(bad.parse::<Event>().is_err(), "{bad:?} parsed");
        }
    }
}
