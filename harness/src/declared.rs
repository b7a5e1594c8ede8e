//! What a program declares about itself, in its own `Cargo.toml`, under
//! `[package.metadata.study]`: what it is (its family, its place on a ladder) and what
//! the suite is to expect of it where the eras differ (documented failures, system
//! calls per echo, who a datagram wakes, what a flood does). A new program is one
//! package and nothing else: copy a pair, rename its packages, and every tool knows
//! what the copy is and what to expect of it.
//!
//! ```toml
//! [package.metadata.study]
//! family = "udp-echo"
//! order = 6
//!
//! [package.metadata.study.syscalls-per-echo]
//! load = "window"
//! epoll-wait = [0.0, 0.1]
//! why = "drains the socket before it sleeps"
//!
//! [[package.metadata.study.expected-failure]]
//! checks = ["split-query"]
//! why = "half a query is answered as a malformed one"
//! ```
//!
//! A server that runs on several threads with `--threads N` says how
//! (`across-cores`), and where its row with `--threads 2` is to differ from its row on
//! one thread (`[package.metadata.study.threaded]`, see [`Threaded`]):
//!
//! ```toml
//! [package.metadata.study]
//! family = "ident"
//! across-cores = "work-stealing"
//!
//! [package.metadata.study.threaded.during-lookup]
//! expect = "served"
//! why = "B's connection runs on another worker thread meanwhile"
//! ```
//!
//! Unknown keys are an error, so that a typo cannot silently leave a default in place.

use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;

/// `[package.metadata.study]` of one package, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Declared {
    /// The family (required): see [`crate::Family::as_str`].
    pub family: Option<String>,
    /// Multi-socket programs: which futures a datagram polls.
    pub polls: Option<Polls>,
    /// The program this package is a flavor of, when it is not the package name
    /// without its flavor prefix (the steps of a migration ladder).
    pub program: Option<String>,
    /// The step of a `bridge` package on its program's ladder (1, 2, …).
    pub step: Option<u32>,
    /// Its place among the programs of its family, as the book tells them (select
    /// before epoll before mio before tokio); programs without one come after, by name.
    pub order: Option<u32>,
    /// What the program needs from the machine (`needs = ["io-uring"]`).
    #[serde(default)]
    pub needs: Vec<Need>,
    /// A `next` package: the readiness program it is best read against.
    pub sibling: Option<String>,
    /// A `bridge` package that is a *pitfall*: its `step` of this program's ladder,
    /// done in the wrong order, kept so that the suite shows how it fails.
    pub pitfall_of: Option<String>,
    /// Checks documented to fail for this package, each group with the reason. A
    /// documented failure that passes is an unexpected result (`xpass`).
    #[serde(default)]
    pub expected_failure: Vec<ExpectedFailure>,
    /// UDP echo programs: the system calls per echo the suite holds them to.
    pub syscalls_per_echo: Option<SyscallsPerEcho>,
    /// `udp-waiters` programs: who a datagram wakes.
    pub woken: Option<Documented<Woken>>,
    /// `coop-budget` programs: what a flood does to the ticker, per `--loop`.
    #[serde(default)]
    pub under_flood: BTreeMap<String, Documented<FloodOutcome>>,
    /// Ident programs: what another client's reply does while one client's `/proc`
    /// lookups run.
    pub during_lookup: Option<Documented<DuringLookup>>,
    /// UDP echo programs: how the `recv` and `sent` lines of one client's datagrams
    /// are ordered (by cause, unless said otherwise).
    pub event_order: Option<Documented<EventOrder>>,
    /// TCP servers: the most memory (VmRSS, KiB) the server may hold with 1,000 idle
    /// or slow peers (the suite's `idle-1000`/`slow-1000`; 64 KiB a peer if unsaid).
    pub rss_at_1000_peers_kib: Option<u64>,
    /// A program written as a variation of another (ident-pool of ident-tokio): its
    /// migration is that program's, plus the one change it makes in each era; the
    /// tools set each side beside the same side of that program.
    pub variation_of: Option<String>,
    /// Further configurations the bench measures beside the default one, each the
    /// options it adds (`[["--lookup", "proc"]]`).
    #[serde(default)]
    pub bench_variants: Vec<Vec<String>>,
    /// A pitfall whose right way does not compile yet: what the compiler says to it
    /// (the suite's `compile-error` builds it and compares).
    pub compile_error: Option<CompileError>,
    /// A server that takes `--threads N`: how it runs on N threads. The suite runs it
    /// with `--threads 2` as a row of its own ([`crate::Program::on_threads`]).
    pub across_cores: Option<AcrossCores>,
    /// What that row is to expect where it differs from the one-thread row.
    #[serde(default)]
    pub threaded: Threaded,
}

/// `[package.metadata.study.compile-error]`: what the compiler says to a pitfall's
/// code built with `--cfg CFG` (`cargo rustc -p PACKAGE -- --cfg CFG`): the way the
/// program would go, kept where it does not compile.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompileError {
    /// The configuration that turns the refused code on.
    pub cfg: String,
    /// The first error's message, as the compiler prints it after `error: `.
    pub message: String,
    /// Part of a `help` line of that error: what it names as the cause.
    pub help: String,
}

/// How a server uses several cores when given `--threads N`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AcrossCores {
    /// N event loops, one per thread, each a whole server with its own socket on the
    /// same port (`SO_REUSEPORT`): the kernel hands each client to one of them. How
    /// 2017 used several cores with tokio-core, whose `Core` and `Handle` stay on one
    /// thread (`shared::cores`).
    Reuseport,
    /// One runtime whose N worker threads run the tasks and steal them from each
    /// other; one socket, whose readiness any worker may handle (tokio 1's
    /// multi-thread runtime).
    WorkStealing,
    /// A runtime or ring per thread, each with its own socket on the same port
    /// (`SO_REUSEPORT`), nothing shared between them: the completion runtimes' model
    /// (compio, monoio, glommio), and the raw io_uring servers'.
    ThreadPerCore,
}

impl AcrossCores {
    /// As `Cargo.toml` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            AcrossCores::Reuseport => "reuseport",
            AcrossCores::WorkStealing => "work-stealing",
            AcrossCores::ThreadPerCore => "thread-per-core",
        }
    }

    /// How many sockets the server binds on its port with `--threads n`.
    pub fn sockets(self, threads: u32) -> u32 {
        match self {
            AcrossCores::Reuseport | AcrossCores::ThreadPerCore => threads,
            AcrossCores::WorkStealing => 1,
        }
    }
}

impl fmt::Display for AcrossCores {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[package.metadata.study.threaded]`: what the row run with `--threads` expects
/// where it differs from the one-thread row. That row expects everything the
/// one-thread row does, but what is given here: the documented failures, when there
/// are any here, are that row's (a second thread may mend what one thread breaks,
/// and break what it did not), and each figure replaces the program's.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Threaded {
    /// Checks documented to fail on that row, each group with the reason: in place of
    /// the program's own, when there is any.
    #[serde(default)]
    pub expected_failure: Vec<ExpectedFailure>,
    /// UDP echo programs: the system calls per echo on several threads.
    pub syscalls_per_echo: Option<SyscallsPerEcho>,
    /// Ident programs: what another client's reply does, on several threads.
    pub during_lookup: Option<Documented<DuringLookup>>,
    /// UDP echo programs: how their event lines are ordered, on several threads.
    pub event_order: Option<Documented<EventOrder>>,
    /// TCP servers: the memory bound with 1,000 peers, on several threads.
    pub rss_at_1000_peers_kib: Option<u64>,
}

impl Threaded {
    /// Whether it declares anything.
    pub fn is_empty(&self) -> bool {
        self.expected_failure.is_empty()
            && self.syscalls_per_echo.is_none()
            && self.during_lookup.is_none()
            && self.event_order.is_none()
            && self.rss_at_1000_peers_kib.is_none()
    }
}

/// How many of its per-socket futures a multi-socket program polls when one socket
/// becomes readable: the composition it uses, checked by the suite, measured by the
/// bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Polls {
    /// Every future, whichever socket was woken (futures 0.1 `join_all`).
    #[serde(rename = "every")]
    Every,
    /// Every future while there are at most 30, only the woken one above (futures
    /// 0.3 `join_all`, which switches to `FuturesOrdered`).
    #[serde(rename = "every-up-to-30")]
    EveryUpTo30,
    /// Only the woken socket's future (a task per socket, or `FuturesUnordered`).
    #[serde(rename = "woken")]
    Woken,
}

impl Polls {
    /// As `Cargo.toml` writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Polls::Every => "every",
            Polls::EveryUpTo30 => "every-up-to-30",
            Polls::Woken => "woken",
        }
    }
}

/// Something a program needs from the machine beyond a Linux kernel with sockets.
/// The tools probe each once and report what needs it as skipped, with the reason,
/// never as passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
pub enum Need {
    /// The `io_uring_setup` system call works (it may be disabled by the sysctl
    /// `kernel.io_uring_disabled`, or refused by a seccomp filter).
    #[serde(rename = "io-uring")]
    IoUring,
}

impl Need {
    pub fn as_str(self) -> &'static str {
        match self {
            Need::IoUring => "io-uring",
        }
    }
}

/// Checks documented to fail, and why.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedFailure {
    pub checks: Vec<String>,
    pub why: String,
}

/// An expectation with its reason.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Documented<T> {
    pub expect: T,
    pub why: String,
}

/// Which of the idle tasks waiting on one socket a readiness event wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Woken {
    /// One task, the same for every datagram; the others are never woken again
    /// after their first poll.
    OneTask,
    /// Every waiting task, for every datagram; one of them reads it.
    EveryTask,
}

impl fmt::Display for Woken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Woken::OneTask => "one task, always the same, woken per datagram",
            Woken::EveryTask => "every task woken per datagram",
        })
    }
}

/// What one client's reply does while another client's lookups run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuringLookup {
    /// It waits for them: it comes after every lookup queued before it.
    Waits,
    /// It is served meanwhile.
    Served,
}

impl fmt::Display for DuringLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DuringLookup::Waits => "waits for A's lookups",
            DuringLookup::Served => "is served meanwhile",
        })
    }
}

/// How a UDP echo server's `recv` and `sent` lines for one client are ordered, when
/// the client sends each datagram once it has the echo of the one before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventOrder {
    /// In the order of cause: `recv`, `sent`, `recv`, `sent`, … One task, or one
    /// thread, prints both.
    Causal,
    /// Each task's lines in order (every `recv`, every `sent`, each `sent` after its
    /// `recv`), but a `recv` may come before the `sent` of the echo before: a reader
    /// and a writer task that run at the same time, on two threads, each print their
    /// own.
    PerTask,
}

impl fmt::Display for EventOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventOrder::Causal => "in the order of cause",
            EventOrder::PerTask => "each task's in order",
        })
    }
}

/// What a flood does to a ticker beside the reader of the flooded socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FloodOutcome {
    /// The reader gives the thread back once a budget is spent, and the ticker stays
    /// on time.
    Yields,
    /// The reader keeps the thread while the flood lasts.
    Starves,
}

/// The system calls per echo a UDP echo program is documented to make under strace.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct SyscallsPerEcho {
    /// The workload the figures are for.
    pub load: EchoLoadKind,
    /// The calls that read datagrams and send echoes.
    #[serde(default)]
    pub io: Io,
    /// `epoll_wait` per echo.
    pub epoll_wait: Range,
    /// `epoll_ctl`, per echo or per turn of the event loop.
    #[serde(default)]
    pub epoll_ctl: Ctl,
    pub why: String,
}

/// The two workloads of the `syscalls-per-echo` check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EchoLoadKind {
    /// Echoes kept in flight by one client: the server rarely finds the socket empty.
    Window,
    /// One echo at a time, a pause between them: the server sleeps after every echo,
    /// where level- and edge-triggered registrations differ.
    PingPong,
}

/// How a program moves datagrams.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Io {
    /// One call reads a datagram and one sends its echo (`[recv, send]`): exactly
    /// one of each returns data per echo.
    OnePerEcho([String; 2]),
    /// Calls that each move many datagrams (`recvmmsg`, GSO `sendmsg`, one
    /// `io_uring_enter` completing several operations): each within its range.
    Batched(BTreeMap<String, Range>),
}

impl Default for Io {
    fn default() -> Io {
        Io::OnePerEcho(["recvfrom".into(), "sendto".into()])
    }
}

/// How `epoll_ctl` calls are counted.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ctl {
    PerEcho(Range),
    /// Per turn of the event loop (per `epoll_wait`).
    PerTurn(Range),
}

impl Default for Ctl {
    /// The registration never changes.
    fn default() -> Ctl {
        Ctl::PerEcho(Range([0.0, 0.0]))
    }
}

/// An inclusive range `[low, high]` of a figure per unit.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(try_from = "[f64; 2]")]
pub struct Range(pub [f64; 2]);

impl TryFrom<[f64; 2]> for Range {
    type Error = String;
    fn try_from(v: [f64; 2]) -> Result<Range, String> {
        match v[0] <= v[1] {
            true => Ok(Range(v)),
            false => Err(format!("a range [low, high] with low ≤ high, not {v:?}")),
        }
    }
}

impl Range {
    /// Whether `v` lies in the range, with a hair of slack for the decimal bounds of
    /// figures that are ratios of counts.
    pub fn holds(&self, v: f64) -> bool {
        v >= self.0[0] - 1e-9 && v <= self.0[1] + 1e-9
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}–{}", self.0[0], self.0[1])
    }
}
