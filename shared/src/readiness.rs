//! What the readiness pairs count and print, without any I/O: `udp-waiters` (several
//! tasks waiting on one socket) and `coop-budget` (a flooded reader beside a ticker).
//!
//! Both eras keep these figures the same way and print the same lines, so that the
//! two sources differ only in how their tasks wait and yield.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use crate::event::{Counts, Event};

/// Whole microseconds of `d`, saturating.
pub fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// Spends `cost` of CPU on this thread without yielding it: a stand-in for what a
/// real reader does with each datagram (parse it, decrypt it, look something up).
pub fn spend_cpu(cost: Duration) {
    if cost.is_zero() {
        return;
    }
    let until = Instant::now() + cost;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// `udp-waiters`: `summary recv=R woken=W`, the datagrams read by all tasks and the
/// polls of all tasks (the first poll of each included).
pub fn waiters_summary(recv: u64, woken: u64) -> Event {
    Event::Summary(Counts(vec![
        (Cow::Borrowed("recv"), recv),
        (Cow::Borrowed("woken"), woken),
    ]))
}

/// What a periodic ticker saw: how many ticks ran and how late the latest of them was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TickStats {
    pub ticks: u64,
    pub worst_late: Duration,
}

impl TickStats {
    /// Records a tick due at `due` that ran at `now`; returns its `tick N late US us`
    /// line.
    pub fn tick(&mut self, due: Instant, now: Instant) -> Event {
        let late = now.saturating_duration_since(due);
        self.ticks += 1;
        self.worst_late = self.worst_late.max(late);
        Event::TickLate {
            count: self.ticks,
            late_us: micros(late),
        }
    }
}

/// What a reader did, poll by poll: datagrams read in all, polls, and the most
/// datagrams read in one poll (between two returns to the scheduler).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    pub recv: u64,
    pub polls: u64,
    pub most_per_poll: u64,
}

impl ReadStats {
    /// Records one poll of the reader that read `datagrams`; returns its `read N
    /// datagrams in one poll` line.
    pub fn poll_done(&mut self, datagrams: u64) -> Event {
        self.recv += datagrams;
        self.polls += 1;
        self.most_per_poll = self.most_per_poll.max(datagrams);
        Event::ReadInPoll { datagrams }
    }
}

/// `coop-budget`: `summary recv=R polls=P most_per_poll=M ticks=T worst_late_us=W`.
pub fn coop_summary(read: &ReadStats, ticks: &TickStats) -> Event {
    Event::Summary(Counts(vec![
        (Cow::Borrowed("recv"), read.recv),
        (Cow::Borrowed("polls"), read.polls),
        (Cow::Borrowed("most_per_poll"), read.most_per_poll),
        (Cow::Borrowed("ticks"), ticks.ticks),
        (Cow::Borrowed("worst_late_us"), micros(ticks.worst_late)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_keep_the_worst_lateness() {
        let mut t = TickStats::default();
        let due = Instant::now();
        let line = t.tick(due, due + Duration::from_micros(1500));
        assert_eq!(line.to_string(), "tick 1 late 1500 us");
        t.tick(due, due + Duration::from_micros(200));
        // A tick that runs early (it cannot, but clocks are clocks) is 0 late.
        assert_eq!(
            t.tick(due + Duration::from_secs(1), due).to_string(),
            "tick 3 late 0 us"
        );
        assert_eq!(t.worst_late, Duration::from_micros(1500));
        assert_eq!(t.ticks, 3);
    }

    #[test]
    fn cpu_is_spent_on_the_spot() {
        let t = Instant::now();
        spend_cpu(Duration::from_micros(300));
        assert!(t.elapsed() >= Duration::from_micros(300));
        spend_cpu(Duration::ZERO);
    }

    #[test]
    fn reads_per_poll_and_the_summary() {
        let mut r = ReadStats::default();
        assert_eq!(
            r.poll_done(128).to_string(),
            "read 128 datagrams in one poll"
        );
        r.poll_done(0);
        r.poll_done(40);
        assert_eq!((r.recv, r.polls, r.most_per_poll), (168, 3, 128));
        let t = TickStats {
            ticks: 9,
            worst_late: Duration::from_millis(12),
        };
        assert_eq!(
            coop_summary(&r, &t).to_string(),
            "summary recv=168 polls=3 most_per_poll=128 ticks=9 worst_late_us=12000"
        );
        assert_eq!(waiters_summary(4, 9).to_string(), "summary recv=4 woken=9");
    }
}
