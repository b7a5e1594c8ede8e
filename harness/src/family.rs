//! Program families: what a program is, as declared in its `Cargo.toml`
//! (`[package.metadata.study] family = "udp-echo"`). A family decides which checks the
//! suite runs, which workload `trace` drives, how `bench` measures, and which chapter of
//! the study a program belongs to. Every tool matches on [`Family`] exhaustively, so a
//! new family cannot be added without each tool saying what it does with it.

use std::fmt;

/// A program family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// RFC 862 over UDP: echo every datagram, bounded outgoing queue.
    UdpEcho,
    /// N UDP sockets, one future each: `recv … at` and `poll future #i` lines.
    Multisocket,
    /// A future that asks to be polled again from another thread.
    FutureNotify,
    /// mio polling with nothing registered.
    MioEmpty,
    /// One mio poll over a UDP socket and user-space timer events.
    MioMixed,
    /// mio issue 785 replayed: readiness set while nobody polls.
    MioPipe,
    /// RFC 862 over TCP.
    TcpEcho,
    /// RFC 1413 ident.
    Ident,
    /// Several tasks receiving on one UDP socket: who is woken.
    UdpWaiters,
    /// A flooded UDP reader beside a ticker on one thread: who gets to run.
    CoopBudget,
}

/// The study's chapters, in the order of the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Chapter {
    UdpEcho,
    Multisocket,
    Internals,
    TcpAndIdent,
    Readiness,
}

impl Chapter {
    pub const ALL: [Chapter; 5] = [
        Chapter::UdpEcho,
        Chapter::Multisocket,
        Chapter::Internals,
        Chapter::TcpAndIdent,
        Chapter::Readiness,
    ];

    /// Its folder in the book (`udp-echo/`), and the key by which the book's
    /// `SUMMARY.md` and chapters name it (`{{#pages udp-echo}}`).
    pub fn key(self) -> &'static str {
        match self {
            Chapter::UdpEcho => "udp-echo",
            Chapter::Multisocket => "multisocket",
            Chapter::Internals => "internals",
            Chapter::TcpAndIdent => "tcp-ident",
            Chapter::Readiness => "readiness",
        }
    }

    pub fn parse(key: &str) -> Option<Chapter> {
        Chapter::ALL.into_iter().find(|c| c.key() == key)
    }

    pub fn title(self) -> &'static str {
        match self {
            Chapter::UdpEcho => "UDP echo",
            Chapter::Multisocket => "Multiple sockets",
            Chapter::Internals => "Futures and mio internals",
            Chapter::TcpAndIdent => "TCP echo and RFC 1413 ident",
            Chapter::Readiness => "Waiting on readiness: waiters and the cooperative budget",
        }
    }
}

impl Family {
    pub const ALL: [Family; 10] = [
        Family::UdpEcho,
        Family::Multisocket,
        Family::FutureNotify,
        Family::MioEmpty,
        Family::MioMixed,
        Family::MioPipe,
        Family::TcpEcho,
        Family::Ident,
        Family::UdpWaiters,
        Family::CoopBudget,
    ];

    /// The name a `Cargo.toml` declares.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::UdpEcho => "udp-echo",
            Family::Multisocket => "multisocket",
            Family::FutureNotify => "future-notify",
            Family::MioEmpty => "mio-empty",
            Family::MioMixed => "mio-mixed",
            Family::MioPipe => "mio-pipe",
            Family::TcpEcho => "tcp-echo",
            Family::Ident => "ident",
            Family::UdpWaiters => "udp-waiters",
            Family::CoopBudget => "coop-budget",
        }
    }

    pub fn parse(s: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// Every family name, for error messages.
    pub fn names() -> String {
        Family::ALL.map(Family::as_str).join(", ")
    }

    pub fn chapter(self) -> Chapter {
        match self {
            Family::UdpEcho => Chapter::UdpEcho,
            Family::Multisocket => Chapter::Multisocket,
            Family::FutureNotify | Family::MioEmpty | Family::MioMixed | Family::MioPipe => {
                Chapter::Internals
            }
            Family::TcpEcho | Family::Ident => Chapter::TcpAndIdent,
            Family::UdpWaiters | Family::CoopBudget => Chapter::Readiness,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_chapters_follow_the_readme() {
        for f in Family::ALL {
            assert_eq!(Family::parse(f.as_str()), Some(f));
        }
        assert_eq!(Family::parse("udp_echo"), None);
        let mut chapters: Vec<Chapter> = Family::ALL.map(Family::chapter).to_vec();
        chapters.dedup();
        assert_eq!(chapters, Chapter::ALL, "families listed in chapter order");
    }
}
