//! A reader of `strace -f -ttt` output: one [`Call`] per system call (an
//! `<unfinished ...>` line and its `<... resumed>` line joined), and a [`Tally`] that
//! sorts the calls into the rows the trace table shows.
//!
//! The lines it reads look like this (`-f` puts the thread id first, `-ttt` the wall
//! clock time in seconds):
//!
//! ```text
//! 22702 1795237767.348389 pipe2([4, 5], O_NONBLOCK|O_CLOEXEC) = 0
//! 22703 1795237768.662938 epoll_wait(9,  <unfinished ...>
//! 22702 1795237768.662970 recvfrom(13, 0x56063dd15ae0, 65536, 0, 0x7ffe4fc37b90, [128]) = -1 EAGAIN (Resource temporarily unavailable)
//! 22703 1795237768.720259 <... epoll_wait resumed>[{events=EPOLLIN, data={u32=1, u64=1}}], 1024, -1) = 1
//! 22702 1795237768.719925 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=22694, si_uid=0} ---
//! ```
//!
//! Wake-up fds are the file descriptors a runtime creates only to wake its own poller:
//! pipes (`pipe`, `pipe2`), eventfds (`eventfd`, `eventfd2`) and socket pairs (the
//! self-pipe through which the signal handlers of tokio and tokio-signal reach the
//! reactor). They are followed through `dup*`/`fcntl(F_DUPFD*)` and forgotten on
//! `close`, so reads and writes on them can be told from socket I/O.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

/// One system call, as strace reported it.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// Thread id (the first column with `-f`; 0 without it).
    pub tid: u32,
    /// Entry time in seconds since the epoch (`-ttt`), if printed.
    pub time: Option<f64>,
    pub name: String,
    /// The argument text between the parentheses (strings abbreviated by strace).
    pub args: String,
    /// The return value; `None` for `?` (the call never returned, e.g. `exit_group`).
    pub ret: Option<i64>,
}

impl Call {
    /// The first argument as a file descriptor, for calls whose first argument is one.
    fn first_fd(&self) -> Option<i32> {
        let first = self.args.split(',').next()?.trim();
        first.parse().ok()
    }

    /// The two fds of `pipe2([4, 5], …)` or `socketpair(…, [6, 7])`.
    fn fd_pair(&self) -> Option<(i32, i32)> {
        let (start, end) = if self.name.starts_with("pipe") {
            let start = self.args.find('[')?;
            (start, start + self.args[start..].find(']')?)
        } else {
            let end = self.args.rfind(']')?;
            (self.args[..end].rfind('[')?, end)
        };
        let (a, b) = self.args[start + 1..end].split_once(',')?;
        Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
    }
}

/// What one line of strace output is.
#[derive(Debug, Clone, PartialEq)]
enum Line {
    /// A complete call.
    Call(Call),
    /// `name(args <unfinished ...>`: the call continues on a later line.
    Unfinished(Call),
    /// `<... name resumed>rest) = ret`.
    Resumed {
        tid: u32,
        name: String,
        rest: String,
        ret: Option<i64>,
    },
    /// Signals (`--- SIGTERM … ---`), exits (`+++ exited with 0 +++`), and anything
    /// else that is not a system call.
    Other,
}

/// Splits `TID TIME rest` (both prefixes optional) into its parts.
fn prefix(line: &str) -> (u32, Option<f64>, &str) {
    let mut rest = line.trim_start();
    let mut tid = 0;
    let mut time = None;
    if let Some((word, after)) = rest.split_once(char::is_whitespace) {
        if !word.is_empty() && word.bytes().all(|b| b.is_ascii_digit()) {
            tid = word.parse().unwrap_or(0);
            rest = after.trim_start();
        }
    }
    if let Some((word, after)) = rest.split_once(char::is_whitespace) {
        if word.contains('.') && word.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
            time = word.parse().ok();
            rest = after.trim_start();
        }
    }
    (tid, time, rest)
}

/// Splits `… = RET [ERRNO (text)]` at its last ` = `; `RET` is decimal, hex or `?`.
fn split_return(text: &str) -> Option<(&str, Option<i64>)> {
    let at = text.rfind(" = ")?;
    let word = text[at + 3..].split_whitespace().next()?;
    let ret = if word == "?" {
        None
    } else if let Some(hex) = word.strip_prefix("0x") {
        Some(i64::from_str_radix(hex, 16).ok()?)
    } else {
        Some(word.parse().ok()?)
    };
    Some((text[..at].trim_end(), ret))
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

fn parse_line(line: &str) -> Line {
    let (tid, time, rest) = prefix(line);
    if let Some(resumed) = rest.strip_prefix("<... ") {
        let Some((name, after)) = resumed.split_once(" resumed>") else {
            return Line::Other;
        };
        let Some((body, ret)) = split_return(after) else {
            return Line::Other;
        };
        let body = body.strip_suffix(')').unwrap_or(body);
        // `<... epoll_wait resumed> <unfinished ...>) = ?`: the thread exited mid-call.
        let body = body.replace("<unfinished ...>", "");
        return Line::Resumed {
            tid,
            name: name.to_string(),
            rest: body.trim().to_string(),
            ret,
        };
    }
    let Some(open) = rest.find('(') else {
        return Line::Other;
    };
    let name = &rest[..open];
    if !is_name(name) {
        return Line::Other;
    }
    let after = &rest[open + 1..];
    if let Some(args) = after.strip_suffix("<unfinished ...>") {
        return Line::Unfinished(Call {
            tid,
            time,
            name: name.to_string(),
            args: args.trim_end().to_string(),
            ret: None,
        });
    }
    let Some((body, ret)) = split_return(after) else {
        return Line::Other;
    };
    let args = body.strip_suffix(')').unwrap_or(body);
    Line::Call(Call {
        tid,
        time,
        name: name.to_string(),
        args: args.to_string(),
        ret,
    })
}

/// Every system call in `text`, in the order they completed; calls left unfinished at
/// the end (a thread that never returned) come last, with no return value.
pub fn parse(text: &str) -> Vec<Call> {
    let mut calls = Vec::new();
    let mut pending: HashMap<u32, Call> = HashMap::new();
    for line in text.lines() {
        match parse_line(line) {
            Line::Call(call) => calls.push(call),
            Line::Unfinished(call) => {
                if let Some(earlier) = pending.insert(call.tid, call) {
                    calls.push(earlier);
                }
            }
            Line::Resumed {
                tid,
                name,
                rest,
                ret,
            } => match pending.remove(&tid) {
                Some(mut call) if call.name == name => {
                    if !call.args.is_empty() && !rest.is_empty() {
                        call.args.push(' ');
                    }
                    call.args.push_str(&rest);
                    call.ret = ret;
                    calls.push(call);
                }
                other => {
                    // A resumed line without its start (a trimmed trace): the call
                    // still happened once.
                    calls.extend(other);
                    calls.push(Call {
                        tid,
                        time: None,
                        name,
                        args: rest,
                        ret,
                    });
                }
            },
            Line::Other => {}
        }
    }
    let mut rest: Vec<Call> = pending.into_values().collect();
    rest.sort_by(|a, b| {
        a.time
            .partial_cmp(&b.time)
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    calls.extend(rest);
    calls
}

/// Row names of the trace table, in the order shown.
pub const EPOLL_WAIT: &str = "epoll_wait";
pub const WAKE_READ: &str = "wake-up fd read";
pub const WAKE_WRITE: &str = "wake-up fd write";
pub const PIPE: &str = "pipe2";
pub const EVENTFD: &str = "eventfd2";

pub const IO_URING_ENTER: &str = "io_uring_enter";

/// The rows every trace table shows, whether or not they occurred. `io_uring_enter`
/// is the one system call of a completion-based server's turn (it submits and waits
/// at once), so it sits beside `epoll_wait`: the two rows compare per echo.
pub const MAIN_ROWS: [&str; 10] = [
    EPOLL_WAIT,
    IO_URING_ENTER,
    "recvfrom",
    "sendto",
    "epoll_ctl",
    WAKE_READ,
    WAKE_WRITE,
    PIPE,
    EVENTFD,
    "futex",
];

const READS: [&str; 5] = ["read", "readv", "recvfrom", "recvmsg", "recv"];
const WRITES: [&str; 5] = ["write", "writev", "sendto", "sendmsg", "send"];

/// The calls of one run sorted into rows, with what the run created.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    /// Calls per row: the rows of [`MAIN_ROWS`] plus one per other syscall name.
    pub rows: BTreeMap<String, u64>,
    /// Of those, the calls that returned an error (`EAGAIN` mostly), per row.
    #[serde(default)]
    pub failed: BTreeMap<String, u64>,
    pub total: u64,
    /// Distinct thread ids seen.
    pub threads: usize,
    /// Wake-up fds created (each end of a pipe or socket pair counts once).
    pub wakeup_fds: u64,
    /// `epoll_create`/`epoll_create1` calls.
    pub epoll_instances: u64,
}

impl Tally {
    pub fn get(&self, row: &str) -> u64 {
        self.rows.get(row).copied().unwrap_or(0)
    }

    /// Calls of `row` that returned an error.
    pub fn failed(&self, row: &str) -> u64 {
        self.failed.get(row).copied().unwrap_or(0)
    }

    /// Calls of `row` that succeeded (a `recvfrom` that returned a datagram).
    pub fn succeeded(&self, row: &str) -> u64 {
        self.get(row) - self.failed(row)
    }
}

/// Sorts `calls` into rows, counting only those whose entry time lies in `window`
/// (all of them when `None`; a call without a time counts). Wake-up fds are tracked
/// over every call, inside the window or not.
pub fn tally(calls: &[Call], window: Option<(f64, f64)>) -> Tally {
    let mut wake: HashSet<i32> = HashSet::new();
    let mut tally = Tally::default();
    let mut tids = BTreeSet::new();
    for call in calls {
        let counted = match (window, call.time) {
            (Some((from, to)), Some(t)) => t >= from && t <= to,
            _ => true,
        };
        let ok = call.ret.is_some_and(|r| r >= 0);
        let name = call.name.as_str();
        let on_wake_fd = call.first_fd().is_some_and(|fd| wake.contains(&fd));
        let row = match name {
            "epoll_wait" | "epoll_pwait" | "epoll_pwait2" => EPOLL_WAIT,
            _ if on_wake_fd && READS.contains(&name) => WAKE_READ,
            _ if on_wake_fd && WRITES.contains(&name) => WAKE_WRITE,
            "pipe" | "pipe2" => PIPE,
            "eventfd" | "eventfd2" => EVENTFD,
            _ => name,
        };
        // Follow the wake-up fds, whether or not the call is counted.
        let mut created = 0;
        match name {
            "pipe" | "pipe2" | "socketpair" if ok => {
                if let Some((a, b)) = call.fd_pair() {
                    wake.insert(a);
                    wake.insert(b);
                    created = 2;
                }
            }
            "eventfd" | "eventfd2" if ok => {
                if let Some(fd) = call.ret {
                    wake.insert(fd as i32);
                    created = 1;
                }
            }
            "dup" | "dup2" | "dup3" | "fcntl" if ok => {
                let dups = name != "fcntl" || call.args.contains("F_DUPFD");
                if let (true, Some(fd)) = (dups, call.ret) {
                    // dup2/dup3 may replace an fd: it is a wake-up fd now only if
                    // the original was one.
                    if on_wake_fd {
                        wake.insert(fd as i32);
                    } else {
                        wake.remove(&(fd as i32));
                    }
                }
            }
            "close" if ok => {
                if let Some(fd) = call.first_fd() {
                    wake.remove(&fd);
                }
            }
            _ => {}
        }
        if !counted {
            continue;
        }
        *tally.rows.entry(row.to_string()).or_insert(0) += 1;
        if call.ret.is_some_and(|r| r < 0) {
            *tally.failed.entry(row.to_string()).or_insert(0) += 1;
        }
        tally.total += 1;
        tally.wakeup_fds += created;
        if name.starts_with("epoll_create") {
            tally.epoll_instances += 1;
        }
        tids.insert(call.tid);
    }
    tally.threads = tids.len();
    tally
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEGACY: &str = include_str!("../tests/fixtures/strace/legacy-echo-tokio.txt");
    const MODERN: &str = include_str!("../tests/fixtures/strace/modern-echo-tokio.txt");

    #[test]
    fn complete_lines() {
        let calls = parse(
            "22702 1795237767.348389 pipe2([4, 5], O_NONBLOCK|O_CLOEXEC) = 0\n\
             22702 1795237768.721007 close(6)        = 0\n\
             22702 1795237768.662970 recvfrom(13, 0x5606, 65536, 0, 0x7ffe, [128]) = -1 EAGAIN (Resource temporarily unavailable)\n\
             22702 1795237768.721297 exit_group(0)   = ?\n\
             22702 1795237768.719925 --- SIGTERM {si_signo=SIGTERM, si_code=SI_USER} ---\n\
             brk(NULL) = 0x55a27f051000\n",
        );
        assert_eq!(calls.len(), 5);
        assert_eq!(calls[0].name, "pipe2");
        assert_eq!(calls[0].tid, 22702);
        assert_eq!(calls[0].time, Some(1795237767.348389));
        assert_eq!(calls[0].fd_pair(), Some((4, 5)));
        assert_eq!((calls[1].first_fd(), calls[1].ret), (Some(6), Some(0)));
        assert_eq!(calls[2].ret, Some(-1));
        assert_eq!((calls[3].name.as_str(), calls[3].ret), ("exit_group", None));
        assert_eq!((calls[4].tid, calls[4].time), (0, None));
        assert_eq!(calls[4].ret, Some(0x55a27f051000));
    }

    #[test]
    fn a_string_holding_equals_signs_keeps_the_real_return() {
        let calls = parse(r#"7 write(1, "a = b) = 3", 10) = 10"#);
        assert_eq!(calls[0].ret, Some(10));
        assert_eq!(calls[0].first_fd(), Some(1));
    }

    #[test]
    fn unfinished_and_resumed_make_one_call() {
        let calls = parse(
            "1 10.0 socketpair(AF_UNIX, SOCK_STREAM, 0,  <unfinished ...>\n\
             2 10.1 epoll_wait(9,  <unfinished ...>\n\
             1 10.2 <... socketpair resumed>[14, 15]) = 0\n\
             2 10.3 <... epoll_wait resumed> <unfinished ...>) = ?\n\
             3 10.4 futex(0x5606, FUTEX_WAIT_BITSET_PRIVATE, 1, NULL <unfinished ...>\n",
        );
        let names: Vec<&str> = calls.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["socketpair", "epoll_wait", "futex"]);
        assert_eq!(calls[0].fd_pair(), Some((14, 15)));
        assert_eq!(calls[0].time, Some(10.0), "the entry time is kept");
        assert_eq!(calls[1].ret, None);
        assert_eq!(calls[2].ret, None, "still unfinished at the end");
    }

    #[test]
    fn wake_up_fds_are_followed_through_dup_and_close() {
        let calls = parse(
            "1 eventfd2(0, EFD_CLOEXEC|EFD_NONBLOCK) = 4\n\
             1 socketpair(AF_UNIX, SOCK_STREAM, 0, [6, 7]) = 0\n\
             1 fcntl(6, F_DUPFD_CLOEXEC, 3) = 8\n\
             1 read(4, \"\\1\\0\\0\\0\\0\\0\\0\\0\", 8) = 8\n\
             1 recvfrom(8, \"\\1\", 128, 0, NULL, NULL) = 1\n\
             1 sendto(7, \"\\1\", 1, MSG_NOSIGNAL, NULL, 0) = 1\n\
             1 recvfrom(9, \"x\", 65536, 0, NULL, NULL) = 1\n\
             1 close(4) = 0\n\
             1 read(4, \"x\", 8) = 1\n",
        );
        let t = tally(&calls, None);
        assert_eq!(t.get(WAKE_READ), 2, "eventfd and the dup of the pair");
        assert_eq!(t.get(WAKE_WRITE), 1);
        assert_eq!(t.get("recvfrom"), 1, "socket I/O stays in its own row");
        assert_eq!(t.get("read"), 1, "fd 4 was closed: a plain read");
        assert_eq!(t.get(EVENTFD), 1);
        assert_eq!(t.wakeup_fds, 3);
        assert_eq!(t.total, 9);
    }

    #[test]
    fn legacy_fixture() {
        // tokio-core 0.1.18 on this machine: 5 echoes of 64 bytes, then SIGTERM.
        let calls = parse(LEGACY);
        let t = tally(&calls, None);
        assert_eq!(
            t.threads, 2,
            "tokio-core runs its reactor on a thread of its own"
        );
        assert_eq!(t.epoll_instances, 3);
        assert_eq!(t.get(PIPE), 3, "mio 0.6 makes a wake-up pipe per poll");
        assert_eq!(t.get(EVENTFD), 0);
        assert_eq!(t.wakeup_fds, 8, "three pipes and the signal socket pair");
        assert_eq!(t.get("recvfrom"), 6, "5 datagrams and one WouldBlock");
        assert_eq!(t.succeeded("recvfrom"), 5);
        assert_eq!(t.failed("recvfrom"), 1);
        assert_eq!(t.get("sendto"), 5);
        assert_eq!(t.get(WAKE_WRITE), 1, "the signal handler's byte");
        assert_eq!(t.get(WAKE_READ), 2, "the byte, then WouldBlock");
        assert_eq!(t.get(EPOLL_WAIT), 12, "as `grep -c` counts them");
        assert!(t.get("futex") >= 4, "wake-ups between the two threads");
        assert_eq!(t.total, calls.len() as u64);
    }

    #[test]
    fn modern_fixture() {
        // tokio 1, current-thread runtime: the same 5 echoes.
        let calls = parse(MODERN);
        let t = tally(&calls, None);
        assert_eq!(t.threads, 1);
        assert_eq!(t.epoll_instances, 1);
        assert_eq!(t.get(PIPE), 0);
        assert_eq!(t.get(EVENTFD), 1, "mio 0.8's Waker");
        assert_eq!(t.wakeup_fds, 3, "the eventfd and the signal socket pair");
        assert_eq!(t.get("recvfrom"), 6);
        assert_eq!(t.get("sendto"), 5);
        assert_eq!(t.get(WAKE_READ), 2, "read through the dup of the pair");
        assert_eq!(t.get(WAKE_WRITE), 1);
        assert_eq!(t.get(EPOLL_WAIT), 5, "as `grep -c` counts them");
        assert_eq!(t.get("futex"), 1);
    }

    #[test]
    fn a_window_counts_only_what_entered_inside_it() {
        let calls = parse(LEGACY);
        let first_recv = calls
            .iter()
            .find(|c| c.name == "recvfrom")
            .and_then(|c| c.time)
            .unwrap();
        let signal = 1795237768.719925;
        let t = tally(&calls, Some((first_recv, signal)));
        assert_eq!(t.get("recvfrom"), 6);
        assert_eq!(t.get("sendto"), 5);
        assert_eq!(t.get(PIPE), 0, "the pipes were made at start-up");
        assert_eq!(t.get(WAKE_WRITE), 0, "the signal came after the window");
        assert!(t.total < calls.len() as u64 / 2);
    }
}
