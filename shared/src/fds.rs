//! The open descriptors of a process, as Linux names them in `/proc/PID/fd`.
//!
//! The mio demos and the conformance suite look at which kernel objects an event loop
//! creates: an epoll instance, a wake-up pipe, an eventfd. Each entry of
//! `/proc/PID/fd` is a symbolic link whose target names the object
//! (`anon_inode:[eventpoll]`, `pipe:[INODE]`, `anon_inode:[eventfd]`,
//! `anon_inode:[signalfd]`, `socket:[INODE]`, or a path), and `/proc/PID/fdinfo/FD`
//! holds its flags and, for some kinds, its state (`eventfd-count`). Linux only; std
//! only.

use std::fs;
use std::io;

/// What kind of kernel object a descriptor refers to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `anon_inode:[eventpoll]`: an epoll instance.
    Epoll,
    /// `pipe:[INODE]`: one end of a pipe; both ends share the inode.
    Pipe(u64),
    /// `anon_inode:[eventfd]`.
    EventFd,
    /// `anon_inode:[signalfd]`.
    SignalFd,
    /// `socket:[INODE]`.
    Socket,
    /// Anything else (a file, `/dev/null`, another anonymous inode…): the link target.
    Other(String),
}

impl Kind {
    /// Classifies the target of a `/proc/PID/fd/N` link.
    pub fn of_target(target: &str) -> Kind {
        let inode = |prefix: &str| {
            target
                .strip_prefix(prefix)
                .and_then(|rest| rest.strip_suffix(']'))
                .and_then(|n| n.parse::<u64>().ok())
        };
        match target {
            "anon_inode:[eventpoll]" => Kind::Epoll,
            "anon_inode:[eventfd]" => Kind::EventFd,
            "anon_inode:[signalfd]" => Kind::SignalFd,
            _ if target.starts_with("socket:[") => Kind::Socket,
            _ => match inode("pipe:[") {
                Some(inode) => Kind::Pipe(inode),
                None => Kind::Other(target.to_string()),
            },
        }
    }
}

/// One open descriptor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenFd {
    pub fd: i32,
    pub kind: Kind,
    /// The link target, as read.
    pub target: String,
}

/// The open descriptors of process `pid` (`"self"` for the caller), in increasing
/// order. Descriptors that close while the directory is read are left out.
pub fn open_fds(pid: &str) -> io::Result<Vec<OpenFd>> {
    let mut fds = Vec::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd"))? {
        let entry = entry?;
        let Some(fd) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
            continue;
        };
        let Ok(target) = fs::read_link(entry.path()) else {
            continue;
        };
        let target = target.to_string_lossy().into_owned();
        fds.push(OpenFd {
            fd,
            kind: Kind::of_target(&target),
            target,
        });
    }
    fds.sort_by_key(|f| f.fd);
    Ok(fds)
}

/// The value of `key` in `/proc/PID/fdinfo/FD` (`flags`, `eventfd-count`, …),
/// trimmed; `None` if the descriptor has no such line.
pub fn fdinfo(pid: &str, fd: i32, key: &str) -> io::Result<Option<String>> {
    let info = fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))?;
    Ok(info.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key).then(|| v.trim().to_string())
    }))
}

/// One descriptor an epoll instance watches (a `tfd:` line of its fdinfo).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Watched {
    /// The watched descriptor, in the process that registered it.
    pub fd: i32,
    /// The `epoll_event.events` mask (`EPOLLIN` 0x1, `EPOLLET` 0x80000000, …).
    pub events: u32,
    /// The `epoll_event.data` word: mio's token.
    pub data: u64,
}

/// The descriptors epoll instance `epfd` of `pid` watches, from
/// `tfd: FD events: HEX data: HEX …` lines of its fdinfo.
pub fn epoll_watched(pid: &str, epfd: i32) -> io::Result<Vec<Watched>> {
    parse_epoll_fdinfo(&fs::read_to_string(format!("/proc/{pid}/fdinfo/{epfd}"))?)
}

/// The `tfd:` lines of an epoll instance's fdinfo text.
pub fn parse_epoll_fdinfo(info: &str) -> io::Result<Vec<Watched>> {
    let mut watched = Vec::new();
    for line in info.lines().filter(|l| l.starts_with("tfd:")) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let after = |key: &str| {
            words
                .iter()
                .position(|w| *w == key)
                .and_then(|i| words.get(i + 1))
                .copied()
                .unwrap_or_default()
        };
        let bad = || io::Error::new(io::ErrorKind::InvalidData, format!("fdinfo line {line:?}"));
        watched.push(Watched {
            fd: after("tfd:").parse().map_err(|_| bad())?,
            events: u32::from_str_radix(after("events:"), 16).map_err(|_| bad())?,
            data: u64::from_str_radix(after("data:"), 16).map_err(|_| bad())?,
        });
    }
    Ok(watched)
}

impl Kind {
    /// `a pipe`, `an eventfd`, …, for a sentence.
    pub fn noun(&self) -> &'static str {
        match self {
            Kind::Epoll => "an epoll instance",
            Kind::Pipe(_) => "a pipe",
            Kind::EventFd => "an eventfd",
            Kind::SignalFd => "a signalfd",
            Kind::Socket => "a socket",
            Kind::Other(_) => "another descriptor",
        }
    }
}

/// What epoll instance `epfd` of `pid` watches, in descriptor order, as a phrase:
/// `nothing`, `a pipe`, `a pipe and a socket`, …
pub fn describe_watched(pid: &str, epfd: i32) -> io::Result<String> {
    let open = open_fds(pid)?;
    let mut watched = epoll_watched(pid, epfd)?;
    watched.sort_by_key(|w| w.fd);
    let nouns: Vec<&str> = watched
        .iter()
        .map(|w| {
            open.iter()
                .find(|o| o.fd == w.fd)
                .map_or("a closed descriptor", |o| o.kind.noun())
        })
        .collect();
    Ok(match nouns.as_slice() {
        [] => "nothing".to_string(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    })
}

/// Whether descriptor `fd` of `pid` is closed on exec (`O_CLOEXEC`): if not, a child
/// process inherits it under the same number.
pub fn is_cloexec(pid: &str, fd: i32) -> io::Result<bool> {
    const O_CLOEXEC: u32 = 0o2_000_000;
    Ok(flags(pid, fd)? & O_CLOEXEC != 0)
}

fn flags(pid: &str, fd: i32) -> io::Result<u32> {
    fdinfo(pid, fd, "flags")?
        .and_then(|f| u32::from_str_radix(&f, 8).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "no flags in fdinfo"))
}

/// Whether descriptor `fd` of `pid` was opened read-only (`O_RDONLY`): for a pipe,
/// whether it is the read end.
pub fn is_read_only(pid: &str, fd: i32) -> io::Result<bool> {
    // The access mode is the low two bits: O_RDONLY 0, O_WRONLY 1, O_RDWR 2.
    Ok(flags(pid, fd)? & 0o3 == 0)
}

/// The counter of an eventfd (`eventfd-count`, printed by the kernel in hex).
pub fn eventfd_count(pid: &str, fd: i32) -> io::Result<u64> {
    fdinfo(pid, fd, "eventfd-count")?
        .and_then(|c| u64::from_str_radix(&c, 16).ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "not an eventfd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_are_classified() {
        assert_eq!(Kind::of_target("anon_inode:[eventpoll]"), Kind::Epoll);
        assert_eq!(Kind::of_target("pipe:[4242]"), Kind::Pipe(4242));
        assert_eq!(Kind::of_target("anon_inode:[eventfd]"), Kind::EventFd);
        assert_eq!(Kind::of_target("anon_inode:[signalfd]"), Kind::SignalFd);
        assert_eq!(Kind::of_target("socket:[77]"), Kind::Socket);
        assert_eq!(
            Kind::of_target("/dev/null"),
            Kind::Other("/dev/null".into())
        );
        assert_eq!(Kind::of_target("pipe:[x]"), Kind::Other("pipe:[x]".into()));
    }

    #[test]
    fn own_descriptors_are_listed() {
        let (reader, _writer) = std::io::pipe().unwrap();
        let fds = open_fds("self").unwrap();
        use std::os::fd::AsRawFd;
        let fd = reader.as_raw_fd();
        let found = fds.iter().find(|f| f.fd == fd).unwrap();
        assert!(matches!(found.kind, Kind::Pipe(_)), "{found:?}");
        assert!(is_read_only("self", fd).unwrap());
        // std opens everything close-on-exec.
        assert!(is_cloexec("self", fd).unwrap());
    }

    #[test]
    fn epoll_fdinfo_lines_are_parsed() {
        // What `cat /proc/PID/fdinfo/EPFD` shows for mio 0.6's wake-up pipe.
        let info = "pos:\t0\nflags:\t02000002\nmnt_id:\t17\nino:\t1038\n\
             tfd:        4 events: 80000019 data: ffffffffffffffff  pos:0 ino:d60e sdev:f\n";
        let w = parse_epoll_fdinfo(info).unwrap();
        assert_eq!(
            w,
            [Watched {
                fd: 4,
                events: 0x8000_0019,
                data: u64::MAX
            }]
        );
    }
}
