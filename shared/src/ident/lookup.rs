//! Finding the owner of a TCP connection on this host: with the kernel's
//! `NETLINK_SOCK_DIAG` ([`super::sock_diag`]), or by reading `/proc/net/tcp*`
//! ([`super::read_connections`]). Chosen once per process (`--lookup`, see
//! [`select`]); every ident program of both eras answers through [`owner`].
//!
//! # Why netlink, measured
//!
//! Per lookup on the development machine (2 cores shared with other builds, a TCP
//! hash table of 262,144 buckets, a handful of sockets), release build, CPU time of
//! the calling thread (its schedstat), from `cargo test -p shared --release --
//! --ignored --nocapture lookup_costs` (20,000 rounds for the hash hit, 200 for the
//! others; wall time was about twice as much, the machine being busy):
//!
//! | lookup | µs of CPU |
//! | --- | --- |
//! | netlink, the 4-tuple found by its hash (the usual case) | 3 |
//! | netlink, no hash hit: two dumps filtered by port | 440 |
//! | `/proc/net/tcp` and `tcp6`, read and parsed | 4,600 |
//!
//! Reading `/proc` walks the whole table and renders it as text, in 4 KiB reads
//! that each resume the walk: its cost grows with the table, not with the answer.
//! The filtered dump walks the table once, in the kernel, and renders nothing but
//! the matches.
//!
//! # The same answers either way
//!
//! Both lookups end in [`find_owner`], so the rule is written once: local port =
//! port-on-server, remote = the querier's address (an IPv4-mapped IPv6 address is
//! the IPv4 one) at port-on-client, any local address, not a listener, and still
//! owned by a file descriptor (inode ≠ 0). So TIME_WAIT sockets, request sockets
//! (SYN_RECV) and orphans (closed by their process, still finishing their FIN
//! exchange) are NO-USER on both paths, and every other state (ESTABLISHED,
//! SYN_SENT, CLOSE_WAIT, a FIN_WAIT after `shutdown`…) is the descriptor owner's.
//!
//! The kernel's hash lookup needs the local *address* too, which a query does not
//! give: netlink first asks about the address this host uses to reach the querier
//! (the kernel's own source-address choice, read from a connected UDP socket; it is
//! the local end of a connection between the two hosts in RFC 1413's use case, and
//! what oidentd asks about). Only when that finds no owned socket does it ask for
//! every socket with the two ports (IPv4 and, for dual-stack sockets, IPv6) and
//! match the remote address as `/proc` does — so a connection on another local
//! address (127.0.0.3, a secondary address) is still found, and a NO-USER costs
//! two filtered walks of the table instead of a `/proc` read.
//!
//! # When netlink fails
//!
//! `auto` falls back to `/proc` for the whole process when the netlink socket cannot
//! be opened or the kernel does not answer a first, empty request (no `AF_NETLINK`
//! in a sandbox: `EPERM`/`EACCES`; no `inet_diag`: `EPROTONOSUPPORT` or `ENOENT`). A
//! request that fails later is that query's UNKNOWN-ERROR, as an unreadable `/proc`
//! is, and the next query starts on a fresh socket.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::str::FromStr;
use std::sync::{Mutex, OnceLock, PoisonError};

use super::sock_diag::{Family, SockDiag};
use super::{canonical, find_owner, read_connections, Query};

/// The `--lookup` choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lookup {
    /// Netlink, or `/proc` where netlink is unavailable.
    #[default]
    Auto,
    /// Netlink only: a start-up error where it is unavailable.
    Netlink,
    /// `/proc/net/tcp*` only.
    Proc,
}

impl Lookup {
    pub const CHOICES: &'static str = "auto|netlink|proc";
}

impl FromStr for Lookup {
    type Err = ();

    fn from_str(s: &str) -> Result<Lookup, ()> {
        match s {
            "auto" => Ok(Lookup::Auto),
            "netlink" => Ok(Lookup::Netlink),
            "proc" => Ok(Lookup::Proc),
            _ => Err(()),
        }
    }
}

impl fmt::Display for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Lookup::Auto => "auto",
            Lookup::Netlink => "netlink",
            Lookup::Proc => "proc",
        })
    }
}

/// The lookup a process uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Netlink,
    Proc,
}

/// What [`select`] settled on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selected {
    Netlink,
    /// `/proc`, and why (asked for, or netlink's error).
    Proc {
        why: String,
    },
}

impl Selected {
    /// The line a program prints at start-up when the lookup is not netlink.
    pub fn notice(&self) -> Option<String> {
        match self {
            Selected::Netlink => None,
            Selected::Proc { why } => Some(format!(
                "owner lookup: reading /proc/net/tcp and /proc/net/tcp6 on every query ({why})"
            )),
        }
    }
}

/// The method of this process, set once by [`select`] (or by the first query).
static METHOD: OnceLock<Method> = OnceLock::new();

/// The netlink state of this process: one socket, used by one query at a time
/// (a request and its answer take microseconds, so the threads of a pool or of
/// ident-blocking hardly ever wait for it). `None` until first used, and again
/// after an error, so that the next query starts on a fresh socket.
static NETLINK: Mutex<Option<Netlink>> = Mutex::new(None);

/// Chooses this process's lookup: opens the netlink socket now, so that a program
/// learns at start-up whether it works. Only the first choice counts.
pub fn select(choice: Lookup) -> Result<Selected, String> {
    let selected = match choice {
        Lookup::Proc => Selected::Proc {
            why: "--lookup proc".to_string(),
        },
        Lookup::Netlink | Lookup::Auto => match open_netlink() {
            Ok(()) => Selected::Netlink,
            Err(e) if choice == Lookup::Netlink => {
                return Err(format!(
                    "--lookup netlink: NETLINK_SOCK_DIAG unavailable: {e}"
                ))
            }
            Err(e) => Selected::Proc {
                why: format!("NETLINK_SOCK_DIAG unavailable: {e}"),
            },
        },
    };
    let method = match selected {
        Selected::Netlink => Method::Netlink,
        Selected::Proc { .. } => Method::Proc,
    };
    match METHOD.set(method) {
        Ok(()) => Ok(selected),
        Err(_) => Ok(match method_in_use() {
            Method::Netlink => Selected::Netlink,
            Method::Proc => Selected::Proc {
                why: "chosen before".to_string(),
            },
        }),
    }
}

/// The method in use; `auto`, silently, if nothing chose one.
pub fn method_in_use() -> Method {
    *METHOD.get_or_init(|| match open_netlink() {
        Ok(()) => Method::Netlink,
        Err(_) => Method::Proc,
    })
}

fn open_netlink() -> io::Result<()> {
    let mut state = NETLINK.lock().unwrap_or_else(PoisonError::into_inner);
    if state.is_none() {
        *state = Some(Netlink::open()?);
    }
    Ok(())
}

/// The uid owning the connection `query` names for a querier at `querier`, found
/// by this process's lookup. `Ok(None)`: no such connection (NO-USER); `Err`: the
/// lookup itself failed (UNKNOWN-ERROR).
pub fn owner(query: Query, querier: IpAddr) -> io::Result<Option<u32>> {
    owner_by(method_in_use(), query, querier)
}

/// [`owner`] with the method given, for comparing the two.
pub fn owner_by(method: Method, query: Query, querier: IpAddr) -> io::Result<Option<u32>> {
    match method {
        Method::Proc => Ok(find_owner(&read_connections()?, query, querier)),
        Method::Netlink => {
            let mut state = NETLINK.lock().unwrap_or_else(PoisonError::into_inner);
            let netlink = match &mut *state {
                Some(netlink) => netlink,
                None => state.insert(Netlink::open()?),
            };
            let found = netlink.owner(query, querier);
            if found.is_err() {
                *state = None;
            }
            found
        }
    }
}

/// How many threads a pool that runs lookups gets (ident-pool, both eras): one per
/// CPU, as `CpuPool::new_num_cpus` has (a `/proc` lookup is CPU time in the kernel,
/// and more threads than CPUs would only share them), and at least two, so that
/// one slow lookup never holds every thread of the pool.
pub fn pool_threads() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .max(2)
}

/// The sockets netlink needs: the sock_diag one, and a UDP socket per family that is
/// only ever `connect`ed, to learn the kernel's source address towards a querier.
struct Netlink {
    diag: SockDiag,
    route_v4: Option<UdpSocket>,
    route_v6: Option<UdpSocket>,
}

impl Netlink {
    fn open() -> io::Result<Netlink> {
        Ok(Netlink {
            diag: SockDiag::open()?,
            route_v4: None,
            route_v6: None,
        })
    }

    fn owner(&mut self, query: Query, querier: IpAddr) -> io::Result<Option<u32>> {
        let querier = canonical(querier);
        // The usual case: one hash lookup in the kernel.
        if let Some(local) = self.source_towards(querier) {
            let found = self.diag.exact(
                SocketAddr::new(local, query.server_port),
                SocketAddr::new(querier, query.client_port),
            )?;
            if let Some(uid) = find_owner(found.as_slice(), query, querier) {
                return Ok(Some(uid));
            }
        }
        // Any local address, as /proc: every socket with the two ports. An IPv4
        // querier may be the peer of a dual-stack IPv6 socket too.
        let (server, client) = (query.server_port, query.client_port);
        let mut candidates = Vec::new();
        if querier.is_ipv4() {
            candidates.extend(self.diag.with_ports(Family::V4, server, client)?);
        }
        candidates.extend(self.diag.with_ports(Family::V6, server, client)?);
        Ok(find_owner(&candidates, query, querier))
    }

    /// The address this host sends from to reach `to`: a UDP `connect` makes the
    /// kernel choose it (no packet is sent), `getsockname` reads it. `None` where
    /// the kernel has no route (then only the filtered dump can answer).
    fn source_towards(&mut self, to: IpAddr) -> Option<IpAddr> {
        let (socket, any) = match to {
            IpAddr::V4(_) => (&mut self.route_v4, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            IpAddr::V6(_) => (&mut self.route_v6, IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
        };
        if socket.is_none() {
            *socket = UdpSocket::bind(SocketAddr::new(any, 0)).ok();
        }
        let socket = socket.as_ref()?;
        // Port 9 (discard): any port will do, nothing is sent.
        socket.connect(SocketAddr::new(to, 9)).ok()?;
        socket.local_addr().ok().map(|a| a.ip())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Shutdown, TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    fn q(server_port: u16, client_port: u16) -> Query {
        Query {
            server_port,
            client_port,
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// A live connection: listener on `server`, client bound to `client`.
    struct Pair {
        client: TcpStream,
        accepted: TcpStream,
    }

    impl Pair {
        fn open(server: &str, client: &str) -> Option<Pair> {
            let listener = TcpListener::bind(SocketAddr::new(ip(server), 0)).ok()?;
            let client = connect_from(ip(client), listener.local_addr().ok()?)?;
            let (accepted, _) = listener.accept().ok()?;
            Some(Pair { client, accepted })
        }

        /// The query about the accepted end: (its local port, the client's port).
        fn query(&self) -> Query {
            q(
                self.accepted.local_addr().unwrap().port(),
                self.client.local_addr().unwrap().port(),
            )
        }
    }

    /// A connection to `dst` whose source address is `src`. std cannot bind a
    /// client socket, but on loopback the kernel connects from 127.0.0.1 (or ::1)
    /// to any local address, which is what the pairs here ask for.
    fn connect_from(src: IpAddr, dst: SocketAddr) -> Option<TcpStream> {
        let s = TcpStream::connect(dst).ok()?;
        (s.local_addr().ok()?.ip() == src).then_some(s)
    }

    /// Netlink available here? (`None`: the test has nothing to compare.)
    fn netlink() -> Option<()> {
        match SockDiag::open() {
            Ok(_) => Some(()),
            Err(e) => {
                eprintln!("skipped: NETLINK_SOCK_DIAG unavailable here: {e}");
                None
            }
        }
    }

    fn both(query: Query, querier: IpAddr) -> (Option<u32>, Option<u32>) {
        let by_netlink = owner_by(Method::Netlink, query, querier).unwrap();
        let by_proc = owner_by(Method::Proc, query, querier).unwrap();
        (by_netlink, by_proc)
    }

    /// Both lookups give the same answer on live connections: IPv4, IPv6,
    /// dual-stack, a local address other than the querier's, the reversed pair,
    /// another host's connection, a listener, TIME_WAIT and CLOSE_WAIT.
    #[test]
    fn netlink_and_proc_agree_on_live_connections() {
        let Some(()) = netlink() else { return };
        let me = Some(current_uid());
        let v4 = ip("127.0.0.1");

        let same_address = Pair::open("127.0.0.1", "127.0.0.1").unwrap();
        let query = same_address.query();
        assert_eq!(both(query, v4), (me, me), "127.0.0.1 ↔ 127.0.0.1");
        let mapped = ip("::ffff:127.0.0.1");
        assert_eq!(both(query, mapped), (me, me), "querier seen as ::ffff:…");
        let reversed = q(query.client_port, query.server_port);
        assert_eq!(both(reversed, v4), (me, me), "the client end");
        assert_eq!(
            both(query, ip("127.0.0.2")),
            (None, None),
            "another querier"
        );
        let unknown = q(query.server_port, 1);
        assert_eq!(both(unknown, v4), (None, None), "no such client port");

        // The server end on 127.0.0.3: not the address the querier is reached on.
        let other = Pair::open("127.0.0.3", "127.0.0.1").unwrap();
        assert_eq!(both(other.query(), v4), (me, me), "local 127.0.0.3");
        assert_eq!(
            both(other.query(), ip("127.0.0.3")),
            (None, None),
            "the querier must be the remote end"
        );

        // A dual-stack listener: the accepted socket is IPv6 with a mapped peer.
        if let Ok(listener) = TcpListener::bind("[::]:0") {
            let port = listener.local_addr().unwrap().port();
            let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (accepted, _) = listener.accept().unwrap();
            let query = q(port, client.local_addr().unwrap().port());
            assert_eq!(both(query, v4), (me, me), "dual-stack socket");
            drop(accepted);
        }

        if let Some(v6) = Pair::open("::1", "::1") {
            let query = v6.query();
            assert_eq!(both(query, ip("::1")), (me, me), "IPv6");
            assert_eq!(
                both(query, v4),
                (None, None),
                "IPv6 connection, IPv4 querier"
            );
        }

        // The client closes first: its end goes to TIME_WAIT (no owner), the
        // accepted end to CLOSE_WAIT (still owned until it is closed too).
        let closing = Pair::open("127.0.0.1", "127.0.0.1").unwrap();
        let query = closing.query();
        let client_end = q(query.client_port, query.server_port);
        closing.client.shutdown(Shutdown::Both).unwrap();
        drop(closing.client);
        wait_for(|| both(query, v4) == (me, me), "CLOSE_WAIT owned");
        drop(closing.accepted);
        wait_for(
            || both(client_end, v4) == (None, None),
            "TIME_WAIT not owned",
        );
    }

    fn wait_for(mut ok: impl FnMut() -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while !ok() {
            assert!(Instant::now() < deadline, "{what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// This process's uid, from `/proc/self/status` (std has no getuid).
    fn current_uid() -> u32 {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    }

    /// Per-lookup cost of each method on this machine (run it with
    /// `cargo test -p shared --release -- --ignored --nocapture lookup_costs`): wall
    /// time, and this thread's CPU time (user and kernel, from its schedstat), which
    /// other processes on a busy machine do not inflate.
    #[test]
    #[ignore = "a measurement, not a check"]
    fn lookup_costs() {
        let Some(()) = netlink() else { return };
        let v4 = ip("127.0.0.1");
        let hit = Pair::open("127.0.0.1", "127.0.0.1").unwrap();
        let other = Pair::open("127.0.0.3", "127.0.0.1").unwrap();
        let cpu_ns = || -> f64 {
            let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
            stat.split_whitespace().next().unwrap().parse().unwrap()
        };
        let time = |what: &str, method, query, rounds: u32| {
            assert_eq!(owner_by(method, query, v4).unwrap(), Some(current_uid()));
            let (t0, c0) = (Instant::now(), cpu_ns());
            for _ in 0..rounds {
                std::hint::black_box(owner_by(method, query, v4).unwrap());
            }
            let (wall, cpu) = (t0.elapsed().as_secs_f64() * 1e6, (cpu_ns() - c0) / 1e3);
            let per = f64::from(rounds);
            println!(
                "{what:<32} {:>9.1} µs wall, {:>9.1} µs CPU per lookup ({rounds} rounds)",
                wall / per,
                cpu / per
            );
        };
        time("netlink, hash hit:", Method::Netlink, hit.query(), 20_000);
        time(
            "netlink, two filtered dumps:",
            Method::Netlink,
            other.query(),
            200,
        );
        time("/proc/net/tcp and tcp6:", Method::Proc, hit.query(), 200);
    }
}
