//! What a TCP server does when `accept` fails: one policy, without I/O, that both eras
//! call the same way.
//!
//! `accept(2)` fails for two very different reasons:
//!
//! * **The server lacks resources** — `EMFILE` (this process is out of descriptors),
//!   `ENFILE` (the whole system is), `ENOBUFS`, `ENOMEM`. The connection stays in the
//!   listen backlog, the listener stays readable, and an accept tried again at once
//!   fails again: a loop that burns a core and prints the same error thousands of
//!   times a second, while the connections that hold the descriptors wait for the CPU
//!   to free them. The answer is to stop accepting for a short, growing pause (10 ms,
//!   doubling up to 1 s) and let the connections already accepted be served meanwhile.
//!   One line on stderr when such an episode starts, one when accepting works again
//!   (with how many attempts failed), and the episode counted in the summary
//!   (`accept_pauses=`).
//! * **One connection went wrong** — `ECONNABORTED` (the peer reset it before it was
//!   accepted), `EPROTO`, `EPERM` (a firewall rule refused it), and the network errors
//!   that Linux's accept(2) says to treat like `EAGAIN`. That connection is gone and
//!   the next one may be fine: skip it and accept again at once.
//!
//! Anything else (an error the server does not expect) is treated like a lack of
//! resources: pausing is never wrong, spinning is. `EINTR` is retried at once, silently.
//!
//! [`AcceptPolicy`] is that decision as a small state machine: an error goes in, and
//! out come [`Next`] — "retry now" or "pause for D" — and what to report. How a server
//! waits for D is the lesson of each era (a tokio-core `Timeout`, tokio's `sleep` in a
//! `select!`, a poll timeout on mio, a timed wait on a `Condvar` in a std thread).

use std::fmt;
use std::io;
use std::time::Duration;

/// The first pause after an accept failed for lack of resources.
pub const FIRST_PAUSE: Duration = Duration::from_millis(10);
/// The longest pause: a server out of descriptors retries once a second.
pub const MAX_PAUSE: Duration = Duration::from_secs(1);

/// `errno` values (Linux, every architecture but alpha, mips, parisc and sparc, which
/// this workspace does not target). std names few of them in `io::ErrorKind`, and this
/// crate uses no libc; a unit test checks each against the message std prints for it.
mod errno {
    pub const EPERM: i32 = 1;
    pub const EINTR: i32 = 4;
    pub const ENOMEM: i32 = 12;
    pub const ENFILE: i32 = 23;
    pub const EMFILE: i32 = 24;
    pub const ENONET: i32 = 64;
    pub const EPROTO: i32 = 71;
    pub const ENOPROTOOPT: i32 = 92;
    pub const EOPNOTSUPP: i32 = 95;
    pub const ENETDOWN: i32 = 100;
    pub const ENETUNREACH: i32 = 101;
    pub const ECONNABORTED: i32 = 103;
    pub const ECONNRESET: i32 = 104;
    pub const ENOBUFS: i32 = 105;
    pub const ETIMEDOUT: i32 = 110;
    pub const EHOSTDOWN: i32 = 112;
    pub const EHOSTUNREACH: i32 = 113;
}

/// What kind of failure an accept error is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The server is out of descriptors or memory: pause.
    Resources,
    /// One pending connection failed: skip it.
    Connection,
    /// A signal interrupted the call: retry.
    Interrupted,
    /// Not expected from `accept`: pause, as for resources.
    Other,
}

/// Sorts an accept error.
pub fn classify(err: &io::Error) -> Failure {
    use errno::*;
    match err.raw_os_error() {
        Some(EMFILE | ENFILE | ENOBUFS | ENOMEM) => Failure::Resources,
        Some(
            ECONNABORTED | ECONNRESET | EPROTO | EPERM | ENETDOWN | ENOPROTOOPT | EHOSTDOWN
            | ENONET | EHOSTUNREACH | EOPNOTSUPP | ENETUNREACH | ETIMEDOUT,
        ) => Failure::Connection,
        Some(EINTR) => Failure::Interrupted,
        _ => match err.kind() {
            io::ErrorKind::OutOfMemory => Failure::Resources,
            io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset => {
                Failure::Connection
            }
            io::ErrorKind::Interrupted => Failure::Interrupted,
            _ => Failure::Other,
        },
    }
}

/// What the server does after a failed accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Accept again now.
    Retry,
    /// Accept nothing for this long, then try again; keep serving the connections
    /// already accepted meanwhile.
    Pause(Duration),
}

/// A line for stderr, at most two per episode and one per skipped connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Report {
    /// An episode starts: accepting is paused.
    Paused { error: String, first: Duration },
    /// An accept worked again after `failed` attempts had failed.
    Resumed { failed: u64 },
    /// One connection failed before it could be accepted; the next is accepted.
    Skipped { error: String },
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Report::Paused { error, first } => write!(
                f,
                "accept: {error}: pausing accepts ({} ms, doubling up to {} ms) while \
                 the open connections are served",
                first.as_millis(),
                MAX_PAUSE.as_millis()
            ),
            Report::Resumed { failed } => {
                write!(f, "accept: accepting again, after {failed} failed attempts")
            }
            Report::Skipped { error } => write!(f, "accept: {error}: connection skipped"),
        }
    }
}

/// The accept-error policy of one listener, and what it counted.
#[derive(Debug, Clone)]
pub struct AcceptPolicy {
    /// Attempts failed in the episode under way; 0 when none is.
    failed: u64,
    /// The pause that the next failure of this episode gets.
    next_pause: Duration,
    /// Episodes so far.
    pauses: u64,
}

impl Default for AcceptPolicy {
    fn default() -> Self {
        AcceptPolicy::new()
    }
}

impl AcceptPolicy {
    pub fn new() -> AcceptPolicy {
        AcceptPolicy {
            failed: 0,
            next_pause: FIRST_PAUSE,
            pauses: 0,
        }
    }

    /// An accept failed with `err`: what to do next, and the line to report if there
    /// is one (the first failure of an episode, a skipped connection).
    pub fn on_error(&mut self, err: &io::Error) -> (Next, Option<Report>) {
        match classify(err) {
            Failure::Interrupted => (Next::Retry, None),
            Failure::Connection => (
                Next::Retry,
                Some(Report::Skipped {
                    error: err.to_string(),
                }),
            ),
            Failure::Resources | Failure::Other => {
                let pause = self.next_pause;
                self.next_pause = (pause * 2).min(MAX_PAUSE);
                self.failed += 1;
                let report = (self.failed == 1).then(|| {
                    self.pauses += 1;
                    Report::Paused {
                        error: err.to_string(),
                        first: pause,
                    }
                });
                (Next::Pause(pause), report)
            }
        }
    }

    /// An accept worked: ends the episode under way, if any, with its report.
    pub fn on_accepted(&mut self) -> Option<Report> {
        if self.failed == 0 {
            return None;
        }
        let failed = std::mem::take(&mut self.failed);
        self.next_pause = FIRST_PAUSE;
        Some(Report::Resumed { failed })
    }

    /// [`on_error`](Self::on_error), printing the report on stderr: what a server calls.
    pub fn failed(&mut self, err: &io::Error) -> Next {
        let (next, report) = self.on_error(err);
        if let Some(report) = report {
            eprintln!("{report}");
        }
        next
    }

    /// [`on_accepted`](Self::on_accepted), printing the report on stderr.
    pub fn accepted(&mut self) {
        if let Some(report) = self.on_accepted() {
            eprintln!("{report}");
        }
    }

    /// Whether an episode is under way (the last accept failed for lack of resources).
    pub fn pausing(&self) -> bool {
        self.failed > 0
    }

    /// How many episodes there were: the `accept_pauses=` of the summary.
    pub fn pauses(&self) -> u64 {
        self.pauses
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(code: i32) -> io::Error {
        io::Error::from_raw_os_error(code)
    }

    #[test]
    fn errno_values_are_the_ones_std_names() {
        // std prints strerror(code): the constants above name what they say.
        let named = [
            (errno::EPERM, "Operation not permitted"),
            (errno::EINTR, "Interrupted system call"),
            (errno::ENOMEM, "Cannot allocate memory"),
            (errno::ENFILE, "Too many open files in system"),
            (errno::EMFILE, "Too many open files"),
            (errno::EPROTO, "Protocol error"),
            (errno::ECONNABORTED, "Software caused connection abort"),
            (errno::ECONNRESET, "Connection reset by peer"),
            (errno::ENOBUFS, "No buffer space available"),
            (errno::ENETUNREACH, "Network is unreachable"),
            (errno::EHOSTUNREACH, "No route to host"),
        ];
        for (code, text) in named {
            let shown = os(code).to_string();
            assert!(
                shown.starts_with(&format!("{text} (os error {code})")),
                "{code}: {shown}"
            );
        }
    }

    #[test]
    fn resources_pause_connections_skip() {
        for code in [errno::EMFILE, errno::ENFILE, errno::ENOBUFS, errno::ENOMEM] {
            assert_eq!(classify(&os(code)), Failure::Resources, "{code}");
        }
        for code in [
            errno::ECONNABORTED,
            errno::ECONNRESET,
            errno::EPROTO,
            errno::EPERM,
            errno::ENETUNREACH,
        ] {
            assert_eq!(classify(&os(code)), Failure::Connection, "{code}");
        }
        assert_eq!(classify(&os(errno::EINTR)), Failure::Interrupted);
        assert_eq!(classify(&os(9)), Failure::Other, "EBADF");
        let kind_only = io::Error::from(io::ErrorKind::ConnectionAborted);
        assert_eq!(classify(&kind_only), Failure::Connection);
    }

    #[test]
    fn an_episode_backs_off_reports_twice_and_counts_once() {
        let mut p = AcceptPolicy::new();
        assert!(!p.pausing());
        let mut pauses = Vec::new();
        let mut reports = Vec::new();
        for _ in 0..10 {
            let (next, report) = p.on_error(&os(errno::EMFILE));
            let Next::Pause(d) = next else {
                panic!("EMFILE must pause, got {next:?}")
            };
            pauses.push(d.as_millis());
            reports.extend(report);
        }
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000, 1000]);
        assert!(p.pausing());
        assert_eq!(reports.len(), 1, "one line per episode: {reports:?}");
        assert!(
            reports[0]
                .to_string()
                .starts_with("accept: Too many open files (os error 24): pausing accepts"),
            "{}",
            reports[0]
        );
        let resumed = p.on_accepted().expect("the end of the episode is reported");
        assert_eq!(resumed, Report::Resumed { failed: 10 });
        assert_eq!(
            resumed.to_string(),
            "accept: accepting again, after 10 failed attempts"
        );
        assert!(!p.pausing());
        assert_eq!(
            p.on_accepted(),
            None,
            "nothing to report outside an episode"
        );
        assert_eq!(p.pauses(), 1);
        // A new episode starts from the first pause again, and counts.
        let (next, report) = p.on_error(&os(errno::ENFILE));
        assert_eq!(next, Next::Pause(FIRST_PAUSE));
        assert!(matches!(report, Some(Report::Paused { .. })));
        assert_eq!(p.pauses(), 2);
    }

    #[test]
    fn a_connection_error_is_skipped_at_once_and_keeps_the_episode() {
        let mut p = AcceptPolicy::new();
        let (next, report) = p.on_error(&os(errno::ECONNABORTED));
        assert_eq!(next, Next::Retry);
        assert_eq!(
            report.map(|r| r.to_string()),
            Some(
                "accept: Software caused connection abort (os error 103): connection skipped"
                    .into()
            )
        );
        assert_eq!(p.pauses(), 0);
        assert_eq!(p.on_error(&os(errno::EINTR)), (Next::Retry, None));
        // Inside an episode, a skipped connection neither ends it nor resets the pause.
        p.on_error(&os(errno::EMFILE));
        p.on_error(&os(errno::ECONNABORTED));
        assert!(p.pausing());
        assert_eq!(
            p.on_error(&os(errno::EMFILE)).0,
            Next::Pause(Duration::from_millis(20))
        );
    }

    #[test]
    fn an_unexpected_error_pauses_too() {
        let mut p = AcceptPolicy::new();
        let (next, report) = p.on_error(&io::Error::other("something odd"));
        assert_eq!(next, Next::Pause(FIRST_PAUSE));
        assert!(report.is_some());
    }
}
