//! The command line every program accepts, with one error policy.
//!
//! Each program family has a [`Spec`] (which options it takes and their defaults);
//! `main` calls [`Spec::from_env`], which returns the parsed [`Args`], or prints the
//! usage and exits 0 on `--help`, or prints one line on stderr and exits 2 on bad
//! input. Options take their value as `--bind ADDR` or `--bind=ADDR`.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process;
use std::time::Duration;

use crate::ident::lookup::{self, Lookup};

/// Default port of the UDP programs, as in the originals (the command line's
/// default; the echo queue re-exports it).
pub const DEFAULT_PORT: u16 = 2000;
/// Default capacity of the outgoing echo queue.
pub const DEFAULT_QUEUE: usize = 8;

/// Exit status for bad command-line input (as with `getopt`-style tools).
pub const EXIT_USAGE: i32 = 2;
/// Exit status for an error at start-up (bind failed, …).
pub const EXIT_STARTUP: i32 = 1;

/// One option a program may accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opt {
    /// `--bind ADDR`: the (first) address to listen on.
    Bind,
    /// `--queue N`: capacity of the outgoing echo queue (≥ 1).
    Queue,
    /// `--quiet`: no per-datagram or per-request lines.
    Quiet,
    /// `--sockets N`: how many sockets a multi-socket program opens.
    Sockets,
    /// `--count N`: how many times a demo repeats its step.
    Count,
    /// `--interval-ms MS`: period of a demo's timer.
    IntervalMs,
    /// `--idle-timeout-secs S`: close a connection idle this long.
    IdleTimeoutSecs,
    /// `--max-connections N`: connections served at once; more wait in the backlog.
    MaxConnections,
    /// `--lookup auto|netlink|proc`: how an ident server finds a connection's owner.
    Lookup,
    /// `--tasks N`: how many tasks wait on one socket.
    Tasks,
    /// `--work-ms MS`: how long each datagram keeps the task that read it busy.
    WorkMs,
    /// `--loop KIND`: how a flooded reader reads (see [`ReadLoop`]).
    Loop,
    /// `--cost-us US`: CPU time each datagram costs the reader that reads it.
    CostUs,
    /// `--allow-any-source-port`: echo datagrams whatever their source port (the
    /// echo-loop rule of `echo::loop_risk` off, for local experiments).
    AllowAnySourcePort,
    /// `--threads N`: how many threads the server runs on (see [`Spec::with_threads`]).
    Threads,
}

impl Opt {
    fn flag(self) -> &'static str {
        match self {
            Opt::Bind => "--bind",
            Opt::Queue => "--queue",
            Opt::Quiet => "--quiet",
            Opt::Sockets => "--sockets",
            Opt::Count => "--count",
            Opt::IntervalMs => "--interval-ms",
            Opt::IdleTimeoutSecs => "--idle-timeout-secs",
            Opt::MaxConnections => "--max-connections",
            Opt::Lookup => "--lookup",
            Opt::Tasks => "--tasks",
            Opt::WorkMs => "--work-ms",
            Opt::Loop => "--loop",
            Opt::CostUs => "--cost-us",
            Opt::AllowAnySourcePort => "--allow-any-source-port",
            Opt::Threads => "--threads",
        }
    }

    fn value_name(self) -> Option<&'static str> {
        match self {
            Opt::Bind => Some("ADDR"),
            Opt::Quiet | Opt::AllowAnySourcePort => None,
            Opt::IntervalMs => Some("MS"),
            Opt::IdleTimeoutSecs => Some("SECS"),
            Opt::Lookup => Some(Lookup::CHOICES),
            Opt::Queue | Opt::Sockets | Opt::Count | Opt::Tasks | Opt::MaxConnections => Some("N"),
            Opt::Threads => Some("N"),
            Opt::WorkMs => Some("MS"),
            Opt::Loop => Some("KIND"),
            Opt::CostUs => Some("US"),
        }
    }

    const ALL: [Opt; 15] = [
        Opt::Bind,
        Opt::Queue,
        Opt::Quiet,
        Opt::Sockets,
        Opt::Count,
        Opt::IntervalMs,
        Opt::IdleTimeoutSecs,
        Opt::Lookup,
        Opt::Tasks,
        Opt::WorkMs,
        Opt::Loop,
        Opt::CostUs,
        Opt::MaxConnections,
        Opt::AllowAnySourcePort,
        Opt::Threads,
    ];
}

/// How the flooded reader of `coop-budget` reads its socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadLoop {
    /// `recv_from` until it would block (tokio 1: `recv_from().await`, which spends
    /// the task's cooperative budget).
    Recv,
    /// Wait for readiness, then `try_recv_from` (tokio 1: `ready()` +
    /// `try_recv_from`, which spend no budget).
    Ready,
    /// The readiness loop, fixed: it gives the other tasks their turn on its own.
    Fixed,
}

impl ReadLoop {
    pub const ALL: [ReadLoop; 3] = [ReadLoop::Recv, ReadLoop::Ready, ReadLoop::Fixed];

    pub fn as_str(self) -> &'static str {
        match self {
            ReadLoop::Recv => "recv",
            ReadLoop::Ready => "ready",
            ReadLoop::Fixed => "fixed",
        }
    }

    pub fn parse(s: &str) -> Option<ReadLoop> {
        ReadLoop::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

impl fmt::Display for ReadLoop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The options of one program and their defaults.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Binary name, for usage and error lines (`env!("CARGO_BIN_NAME")`).
    pub name: &'static str,
    /// One line on what the program is, printed by `--help`.
    pub about: &'static str,
    /// The options accepted, besides `--help`.
    pub options: &'static [Opt],
    /// The values an option takes when it is not given.
    pub defaults: Args,
    /// The smallest `--interval-ms`: 0 where a zero period makes sense (a wake-up at
    /// once), 1 where it would spin a timer thread.
    pub min_interval_ms: u64,
}

/// The parsed command line. Fields of options a program does not accept keep their
/// defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub bind: SocketAddr,
    pub queue: usize,
    pub quiet: bool,
    pub sockets: usize,
    pub count: u64,
    pub interval: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
    pub lookup: Lookup,
    pub tasks: usize,
    pub work: Duration,
    pub read_loop: ReadLoop,
    pub cost: Duration,
    pub allow_any_source_port: bool,
    pub threads: usize,
}

/// `127.0.0.1:PORT`.
pub const fn localhost(port: u16) -> SocketAddr {
    SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
}

impl Args {
    /// The defaults shared by every family; a [`Spec`] overrides what differs.
    pub const DEFAULT: Args = Args {
        bind: localhost(DEFAULT_PORT),
        queue: DEFAULT_QUEUE,
        quiet: false,
        sockets: 10,
        count: 10,
        interval: Duration::from_millis(1000),
        idle_timeout: Duration::from_secs(120),
        max_connections: DEFAULT_MAX_CONNECTIONS,
        lookup: Lookup::Auto,
        tasks: 4,
        work: Duration::ZERO,
        read_loop: ReadLoop::Recv,
        cost: Duration::ZERO,
        allow_any_source_port: false,
        threads: 1,
    };
}

/// What the command line asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    Run(Args),
    Help,
}

/// A bad command line, as the one line printed on stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError(pub String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Spec {
    /// The UDP echo family: `--bind` (default 127.0.0.1:2000), `--queue`, `--quiet`,
    /// `--allow-any-source-port`.
    pub const fn udp_echo(name: &'static str) -> Spec {
        Spec {
            name,
            about: "UDP echo server (RFC 862) with a bounded outgoing queue",
            options: &[Opt::Bind, Opt::Queue, Opt::Quiet, Opt::AllowAnySourcePort],
            defaults: Args::DEFAULT,
            min_interval_ms: 1,
        }
    }

    /// The multi-socket programs: `--bind` gives the first port (2000), each further
    /// socket the next port; port 0 gives each an ephemeral port. `--sockets`, `--quiet`.
    pub const fn multisocket(name: &'static str) -> Spec {
        Spec {
            name,
            about: "UDP sockets on consecutive ports, one future per socket",
            options: &[Opt::Bind, Opt::Sockets, Opt::Quiet],
            defaults: Args::DEFAULT,
            min_interval_ms: 1,
        }
    }

    /// future-notify: `--count` polls, `--interval-ms` apart (default 1000).
    pub const fn future_notify(name: &'static str) -> Spec {
        Spec {
            name,
            about: "a future woken from another thread, polled --count times",
            options: &[Opt::Count, Opt::IntervalMs],
            defaults: Args::DEFAULT,
            // --interval-ms 0: the notifier wakes the future at once.
            min_interval_ms: 0,
        }
    }

    /// A demo that takes no option but `--help` (mio-empty, mio-pipe).
    pub const fn demo(name: &'static str, about: &'static str) -> Spec {
        Spec {
            name,
            about,
            options: &[],
            defaults: Args::DEFAULT,
            min_interval_ms: 1,
        }
    }

    /// mio-mixed: one UDP socket (`--bind`, default 127.0.0.1:2000) and a timer thread
    /// (`--interval-ms`, default 3000) on one poll.
    pub const fn mio_mixed(name: &'static str) -> Spec {
        Spec {
            name,
            about: "one mio poll waiting on a UDP socket and on user-space timer events",
            options: &[Opt::Bind, Opt::IntervalMs, Opt::Quiet],
            defaults: Args {
                interval: Duration::from_millis(3000),
                ..Args::DEFAULT
            },
            min_interval_ms: 1,
        }
    }

    /// The TCP echo servers: `--bind` (default 127.0.0.1:8080, as in the tokio
    /// README), `--idle-timeout-secs` (default 300: no byte either way for that long),
    /// `--max-connections` (default 1024), `--quiet`.
    pub const fn tcp_echo(name: &'static str) -> Spec {
        Spec {
            name,
            about: "TCP echo server (RFC 862)",
            options: &[
                Opt::Bind,
                Opt::IdleTimeoutSecs,
                Opt::MaxConnections,
                Opt::Quiet,
            ],
            defaults: Args {
                bind: localhost(8080),
                idle_timeout: Duration::from_secs(300),
                ..Args::DEFAULT
            },
            min_interval_ms: 1,
        }
    }

    /// The ident servers: `--bind` (default 127.0.0.1:113, the RFC 1413 port),
    /// `--idle-timeout-secs` (default 120: the time a query line may take),
    /// `--lookup` (default auto), `--max-connections` (default 1024), `--quiet`.
    pub const fn ident(name: &'static str) -> Spec {
        Spec {
            name,
            about: "RFC 1413 ident server",
            options: &[
                Opt::Bind,
                Opt::IdleTimeoutSecs,
                Opt::Lookup,
                Opt::MaxConnections,
                Opt::Quiet,
            ],
            defaults: Args {
                bind: localhost(113),
                ..Args::DEFAULT
            },
            min_interval_ms: 1,
        }
    }

    /// udp-waiters: `--tasks N` tasks (default 4) receiving on one socket (`--bind`,
    /// default 127.0.0.1:2000), each kept busy `--work-ms` (default 1000) by every
    /// datagram it reads; `--quiet`.
    pub const fn udp_waiters(name: &'static str) -> Spec {
        Spec {
            name,
            about: "several tasks receiving on one UDP socket, each busy a while per datagram",
            options: &[Opt::Bind, Opt::Tasks, Opt::WorkMs, Opt::Quiet],
            defaults: Args {
                work: Duration::from_millis(1000),
                ..Args::DEFAULT
            },
            min_interval_ms: 1,
        }
    }

    /// coop-budget: a reader of a flooded UDP socket (`--bind`, default
    /// 127.0.0.1:2000; `--loop recv|ready|fixed`; `--cost-us`, default 0) beside a
    /// ticker (`--interval-ms`, default 10) on one thread; `--quiet`.
    pub const fn coop_budget(name: &'static str) -> Spec {
        Spec {
            name,
            about: "a flooded UDP reader and a ticker on one thread: who gets to run",
            options: &[
                Opt::Bind,
                Opt::Loop,
                Opt::CostUs,
                Opt::IntervalMs,
                Opt::Quiet,
            ],
            defaults: Args {
                interval: Duration::from_millis(10),
                ..Args::DEFAULT
            },
            min_interval_ms: 1,
        }
    }

    /// The same options and `--threads N` (default 1): for the servers that can run on
    /// several threads. What N threads are is each program's lesson (N event loops,
    /// one per thread, each with its own socket on the same port; or one runtime whose
    /// N worker threads share the work); its `Cargo.toml` declares which
    /// (`across-cores`), and the suite runs it with `--threads 2` beside its one-thread
    /// row.
    pub fn with_threads(self) -> Spec {
        let mut options = self.options.to_vec();
        options.push(Opt::Threads);
        Spec {
            // Made once per process, at start-up: a `'static` list like the others.
            options: Vec::leak(options),
            ..self
        }
    }

    /// Parses `std::env::args()`; on `--help` prints the usage and exits 0, on bad
    /// input prints one line on stderr and exits with [`EXIT_USAGE`].
    ///
    /// A program that takes `--lookup` (the ident servers) also gets its owner lookup
    /// chosen here, at start-up: one line on stderr says so when it is not netlink,
    /// and `--lookup netlink` where netlink is unavailable is a start-up error.
    pub fn from_env(&self) -> Args {
        // `args_os`: `std::env::args` panics on an argument that is not UTF-8.
        match self.parse(std::env::args_os().skip(1)) {
            Ok(Parsed::Run(args)) => {
                if self.options.contains(&Opt::Lookup) {
                    match lookup::select(args.lookup) {
                        Ok(selected) => {
                            if let Some(notice) = selected.notice() {
                                eprintln!("{}: {notice}", self.name);
                            }
                        }
                        Err(e) => exit_startup_error(self.name, e),
                    }
                }
                args
            }
            Ok(Parsed::Help) => {
                print!("{}", self.usage());
                process::exit(0);
            }
            Err(e) => {
                eprintln!("{}: {} (try --help)", self.name, e);
                process::exit(EXIT_USAGE);
            }
        }
    }

    /// Parses the arguments after the program name, as the operating system gives
    /// them: an argument that is not UTF-8 is an error like any bad input.
    pub fn parse<I, S>(&self, args: I) -> Result<Parsed, CliError>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut parsed = self.defaults.clone();
        let mut args = args.into_iter().map(|arg| {
            arg.into().into_string().map_err(|arg| {
                CliError(format!(
                    "argument '{}' is not valid UTF-8",
                    shown(&arg.to_string_lossy())
                ))
            })
        });
        while let Some(arg) = args.next() {
            let arg = arg?;
            if arg == "--help" || arg == "-h" {
                return Ok(Parsed::Help);
            }
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
                _ => (arg.clone(), None),
            };
            let opt = Opt::ALL
                .into_iter()
                .find(|o| o.flag() == flag && self.options.contains(o))
                .ok_or_else(|| {
                    if flag.starts_with('-') {
                        CliError(format!("unknown option '{}'", shown(&flag)))
                    } else {
                        CliError(format!("unexpected argument '{}'", shown(&arg)))
                    }
                })?;
            let value =
                match (opt.value_name(), inline) {
                    (None, None) => None,
                    (None, Some(_)) => {
                        return Err(CliError(format!("option '{flag}' takes no value")));
                    }
                    (Some(_), Some(v)) => Some(v),
                    (Some(name), None) => Some(args.next().ok_or_else(|| {
                        CliError(format!("option '{flag}' needs a value {name}"))
                    })??),
                };
            self.apply(&mut parsed, opt, value.as_deref())?;
        }
        if self.options.contains(&Opt::Sockets) {
            multisocket_addrs(parsed.bind, parsed.sockets).map_err(CliError)?;
        }
        Ok(Parsed::Run(parsed))
    }

    /// The text `--help` prints.
    pub fn usage(&self) -> String {
        let mut out = format!("{}: {}\n\nUsage: {}", self.name, self.about, self.name);
        for opt in self.options {
            match opt.value_name() {
                Some(v) => out.push_str(&format!(" [{} {}]", opt.flag(), v)),
                None => out.push_str(&format!(" [{}]", opt.flag())),
            }
        }
        out.push_str("\n\nOptions:\n");
        let heads: Vec<String> = self
            .options
            .iter()
            .map(|opt| match opt.value_name() {
                Some(v) => format!("{} {}", opt.flag(), v),
                None => opt.flag().to_string(),
            })
            .collect();
        // A column wide enough for the longest option, and a gap after it.
        let width = heads.iter().map(String::len).max().unwrap_or(0).max(22) + 2;
        for (opt, head) in self.options.iter().zip(&heads) {
            out.push_str(&format!("  {head:<width$}{}\n", self.describe(*opt)));
        }
        out.push_str(&format!("  {:<width$}print this help\n", "--help"));
        out
    }

    fn describe(&self, opt: Opt) -> String {
        let d = &self.defaults;
        match opt {
            Opt::Bind => format!("address to listen on, IPv4 or [IPv6] (default {})", d.bind),
            Opt::Queue => format!(
                "echoes queued before new datagrams are dropped (default {})",
                d.queue
            ),
            // Only the ident servers count idle time: they print per-connection lines.
            Opt::Quiet if self.options.contains(&Opt::IdleTimeoutSecs) => {
                "no per-connection or per-query lines (accepted, reply, closed)".to_string()
            }
            Opt::Quiet => "no per-datagram or per-request lines".to_string(),
            Opt::Sockets => format!(
                "number of sockets, on consecutive ports (default {})",
                d.sockets
            ),
            Opt::Count => format!("how many times to repeat (default {})", d.count),
            Opt::IntervalMs => format!(
                "timer period in milliseconds (default {})",
                d.interval.as_millis()
            ),
            Opt::IdleTimeoutSecs => {
                format!(
                    "close connections idle this long (default {})",
                    d.idle_timeout.as_secs()
                )
            }
            Opt::MaxConnections => format!(
                "connections served at once; more wait in the listen backlog (default {})",
                d.max_connections
            ),
            Opt::Lookup => format!(
                "how to find a connection's owner: netlink (one NETLINK_SOCK_DIAG \
                 request, microseconds), proc (read /proc/net/tcp*, milliseconds), \
                 auto (netlink where available, else proc) (default {})",
                d.lookup
            ),
            Opt::Tasks => format!(
                "number of tasks receiving on the socket (default {})",
                d.tasks
            ),
            Opt::WorkMs => format!(
                "milliseconds each datagram keeps its task busy, 0 for none (default {})",
                d.work.as_millis()
            ),
            Opt::Loop => format!(
                "how the reader reads: {} (default {})",
                ReadLoop::ALL.map(ReadLoop::as_str).join(", "),
                d.read_loop
            ),
            Opt::CostUs => format!(
                "microseconds of CPU each datagram costs the reader (default {})",
                d.cost.as_micros()
            ),
            Opt::AllowAnySourcePort => {
                "echo every source port (by default ports below 1024 and the server's own \
                 are refused: they could loop)"
                    .to_string()
            }
            Opt::Threads => format!("threads to serve on (default {})", d.threads),
        }
    }
}

/// The most echoes a UDP server may keep queued (their bytes are bounded apart, by
/// `echo::queue_bytes`).
pub const MAX_QUEUE: u64 = 65_536;
/// The most sockets a multi-socket program opens (one port each).
pub const MAX_SOCKETS: u64 = 65_535;
/// Connections a TCP server serves at once unless `--max-connections` says otherwise.
/// Each holds a descriptor and its buffers (the suite bounds how much, per server,
/// with 1,000 peers): 1,024 of them cost a few tens of MiB at most, and a peer past the bound
/// waits in the listen backlog (it is not refused) until another connection closes.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// The largest `--max-connections`: as many as a process can have descriptors
/// (`/proc/sys/fs/nr_open` defaults to 2^20).
pub const MAX_CONNECTIONS: u64 = 1 << 20;
/// The most threads a server runs on: far more than cores on any machine this runs on,
/// few enough that a typo does not start a thread storm.
pub const MAX_THREADS: u64 = 1024;
/// The longest period or timeout an option takes: a day.
const DAY_SECS: u64 = 86_400;

impl Spec {
    /// The values a numeric option takes, inclusive.
    fn bounds(&self, opt: Opt) -> (u64, u64) {
        match opt {
            Opt::Queue => (1, MAX_QUEUE),
            Opt::Sockets => (1, MAX_SOCKETS),
            Opt::Count => (0, u64::from(u32::MAX)),
            Opt::IntervalMs => (self.min_interval_ms, DAY_SECS * 1000),
            Opt::IdleTimeoutSecs => (1, DAY_SECS),
            Opt::MaxConnections => (1, MAX_CONNECTIONS),
            Opt::Tasks => (1, 4096),
            Opt::WorkMs => (0, DAY_SECS * 1000),
            Opt::CostUs => (0, 1_000_000),
            Opt::Threads => (1, MAX_THREADS),
            Opt::Bind | Opt::Quiet | Opt::Lookup | Opt::Loop => (0, 0),
            Opt::AllowAnySourcePort => (0, 0),
        }
    }

    fn apply(&self, args: &mut Args, opt: Opt, value: Option<&str>) -> Result<(), CliError> {
        let value = value.unwrap_or_default();
        // What the messages quote: the value, its control characters escaped.
        let quoted = shown(value);
        let number = || -> Result<u64, CliError> {
            let (min, max) = self.bounds(opt);
            match value.parse::<u64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n),
                _ if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                    Err(CliError(format!(
                        "invalid value '{quoted}' for {}: out of range, {min} to {max}",
                        opt.flag()
                    )))
                }
                _ => Err(CliError(format!(
                    "invalid value '{quoted}' for {}: expected an integer from {min} to {max}",
                    opt.flag()
                ))),
            }
        };
        match opt {
            Opt::Bind => {
                args.bind = value.parse().map_err(|_| {
                    CliError(format!(
                        "invalid address '{quoted}' for --bind: expected IP:PORT, e.g. 127.0.0.1:2000 or [::1]:2000"
                    ))
                })?
            }
            Opt::Queue => args.queue = to_usize(number()?),
            Opt::Quiet => args.quiet = true,
            Opt::Sockets => args.sockets = to_usize(number()?),
            Opt::Count => args.count = number()?,
            Opt::IntervalMs => args.interval = Duration::from_millis(number()?),
            Opt::IdleTimeoutSecs => args.idle_timeout = Duration::from_secs(number()?),
            Opt::MaxConnections => args.max_connections = to_usize(number()?),
            Opt::Tasks => args.tasks = to_usize(number()?),
            Opt::WorkMs => args.work = Duration::from_millis(number()?),
            Opt::CostUs => args.cost = Duration::from_micros(number()?),
            Opt::Loop => {
                args.read_loop = ReadLoop::parse(value).ok_or_else(|| {
                    CliError(format!(
                        "invalid value '{quoted}' for --loop: expected one of {}",
                        ReadLoop::ALL.map(ReadLoop::as_str).join(", ")
                    ))
                })?
            }
            Opt::Lookup => {
                args.lookup = value.parse().map_err(|()| {
                    CliError(format!(
                        "invalid value '{quoted}' for --lookup: expected {}",
                        Lookup::CHOICES
                    ))
                })?
            }
            Opt::AllowAnySourcePort => args.allow_any_source_port = true,
            Opt::Threads => args.threads = to_usize(number()?),
        }
        Ok(())
    }
}

/// `text` as an error line quotes it: a control character (a line feed, a carriage
/// return, an escape sequence's ESC) written as an escape, so that bad input always
/// makes one line of error, whatever it holds.
fn shown(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn to_usize(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// Prints `NAME: MESSAGE` on stderr and exits with [`EXIT_STARTUP`]: the one way a
/// program reports that it cannot start.
pub fn exit_startup_error(name: &str, message: impl fmt::Display) -> ! {
    eprintln!("{name}: {message}");
    process::exit(EXIT_STARTUP)
}

/// The addresses of a multi-socket program: `count` sockets on consecutive ports from
/// `first` (port 0: each socket gets an ephemeral port of its own). An error if the
/// ports would run past 65535.
pub fn multisocket_addrs(first: SocketAddr, count: usize) -> Result<Vec<SocketAddr>, String> {
    (0..count)
        .map(|i| {
            let mut addr = first;
            if first.port() != 0 {
                let port = u16::try_from(i)
                    .ok()
                    .and_then(|i| first.port().checked_add(i))
                    .ok_or_else(|| {
                        format!(
                            "{count} sockets from port {} would run past port 65535",
                            first.port()
                        )
                    })?;
                addr.set_port(port);
            }
            Ok(addr)
        })
        .collect()
}

/// The message for a failed bind, with a hint where the cause is a privileged port.
pub fn bind_error(addr: SocketAddr, err: &io::Error) -> String {
    let mut msg = format!("cannot bind {addr}: {err}");
    if err.kind() == io::ErrorKind::PermissionDenied && addr.port() < 1024 {
        let mut hint = addr;
        hint.set_port(addr.port() + 1000);
        msg.push_str(&format!(
            " (ports below 1024 need privilege; try --bind {hint})"
        ));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> Spec {
        Spec::udp_echo("echo-test")
    }

    fn run(args: &[&str]) -> Result<Args, CliError> {
        match spec().parse(args.iter().copied())? {
            Parsed::Run(a) => Ok(a),
            Parsed::Help => panic!("unexpected help"),
        }
    }

    #[test]
    fn defaults_follow_the_originals() {
        let a = run(&[]).unwrap();
        assert_eq!(a.bind, "127.0.0.1:2000".parse().unwrap());
        assert_eq!(a.queue, 8);
        assert!(!a.quiet);
    }

    #[test]
    fn values_separate_or_inline_and_ipv6() {
        let a = run(&["--bind", "[::1]:0", "--queue=3", "--quiet"]).unwrap();
        assert_eq!(a.bind, "[::1]:0".parse().unwrap());
        assert_eq!(a.queue, 3);
        assert!(a.quiet);
    }

    #[test]
    fn bad_input_is_one_clear_line() {
        let e = run(&["--frobnicate"]).unwrap_err();
        assert_eq!(e.0, "unknown option '--frobnicate'");
        let e = run(&["--bind", "localhost"]).unwrap_err();
        assert!(e.0.starts_with("invalid address 'localhost'"), "{e}");
        let e = run(&["--queue", "0"]).unwrap_err();
        assert!(e.0.contains("out of range, 1 to 65536"), "{e}");
        let e = run(&["--queue", "99999999999999999999"]).unwrap_err();
        assert!(
            e.0.contains("out of range, 1 to 65536"),
            "too large, not 'expected ≥ 1': {e}"
        );
        let e = run(&["--queue", "-3"]).unwrap_err();
        assert!(e.0.contains("expected an integer from 1 to 65536"), "{e}");
        let e = run(&["--queue"]).unwrap_err();
        assert_eq!(e.0, "option '--queue' needs a value N");
        let e = run(&["--quiet=yes"]).unwrap_err();
        assert_eq!(e.0, "option '--quiet' takes no value");
        let e = run(&["stray"]).unwrap_err();
        assert_eq!(e.0, "unexpected argument 'stray'");
        // An option of another family is unknown here.
        let e = run(&["--sockets", "4"]).unwrap_err();
        assert_eq!(e.0, "unknown option '--sockets'");
        for e in [run(&["--x"]), run(&["--bind", "1.2.3.4"])] {
            assert!(!e.unwrap_err().0.contains('\n'));
        }
        // Found by fuzzing (`fuzz/regressions/cli_args/`): the argument went into the
        // message as it was, a line feed included.
        assert_eq!(run(&["\n"]).unwrap_err().0, "unexpected argument '\\n'");
        assert_eq!(
            run(&["--queue", "1\r\n2"]).unwrap_err().0,
            "invalid value '1\\r\\n2' for --queue: expected an integer from 1 to 65536"
        );
        assert_eq!(
            run(&["--\u{1b}[2J"]).unwrap_err().0,
            "unknown option '--\\u{1b}[2J'"
        );
    }

    /// The operating system passes bytes: one that is not UTF-8 is bad input (exit
    /// status 2 and one line), not a panic, wherever it stands.
    #[test]
    fn an_argument_that_is_not_utf8_is_bad_input() {
        use std::os::unix::ffi::OsStringExt;
        let not_utf8 = || OsString::from_vec(b"127.0.0.1:\xff".to_vec());
        for args in [
            vec![not_utf8()],
            vec!["--bind".into(), not_utf8()],
            vec!["--queue".into(), "2".into(), not_utf8()],
        ] {
            let e = spec().parse(args).unwrap_err();
            assert_eq!(e.0, "argument '127.0.0.1:\u{FFFD}' is not valid UTF-8");
        }
        // Help asked for before the bad argument is still help.
        assert_eq!(
            spec().parse([OsString::from("--help"), not_utf8()]),
            Ok(Parsed::Help)
        );
    }

    #[test]
    fn help_lists_every_option_with_its_default() {
        assert_eq!(spec().parse(["--queue", "2", "--help"]), Ok(Parsed::Help));
        let u = spec().usage();
        assert!(
            u.contains(
                "Usage: echo-test [--bind ADDR] [--queue N] [--quiet] [--allow-any-source-port]"
            ),
            "{u}"
        );
        assert!(u.contains("(default 127.0.0.1:2000)"), "{u}");
        assert!(u.contains("(default 8)"), "{u}");
    }

    #[test]
    fn ident_help_and_lookup() {
        let ident = Spec::ident("ident-test");
        let u = ident.usage();
        assert!(
            u.contains(
                "Usage: ident-test [--bind ADDR] [--idle-timeout-secs SECS] \
                 [--lookup auto|netlink|proc] [--max-connections N] [--quiet]"
            ),
            "{u}"
        );
        assert!(!u.contains("per-datagram"), "{u}");
        // Every description is apart from its option, however long the option.
        for line in u.lines().filter(|l| l.starts_with("  --")) {
            assert!(line.trim_start().contains("  "), "{line:?}");
        }
        assert!(u.contains("(default auto)"), "{u}");
        let lookup = |args: &[&str]| match ident.parse(args.iter().copied()) {
            Ok(Parsed::Run(a)) => Ok(a.lookup),
            Ok(Parsed::Help) => panic!("unexpected help"),
            Err(e) => Err(e.0),
        };
        assert_eq!(lookup(&[]), Ok(Lookup::Auto));
        assert_eq!(lookup(&["--lookup", "proc"]), Ok(Lookup::Proc));
        assert_eq!(lookup(&["--lookup=netlink"]), Ok(Lookup::Netlink));
        assert_eq!(
            lookup(&["--lookup", "dns"]),
            Err("invalid value 'dns' for --lookup: expected auto|netlink|proc".to_string())
        );
        // Only the ident servers take it.
        let e = run(&["--lookup", "proc"]).unwrap_err();
        assert_eq!(e.0, "unknown option '--lookup'");
    }

    #[test]
    fn waiters_and_budget_options() {
        let parse = |spec: Spec, args: &[&str]| match spec.parse(args.iter().copied()) {
            Ok(Parsed::Run(a)) => Ok(a),
            Ok(Parsed::Help) => panic!("unexpected help"),
            Err(e) => Err(e),
        };
        let waiters = Spec::udp_waiters("udp-waiters-test");
        let a = parse(waiters.clone(), &[]).unwrap();
        assert_eq!((a.tasks, a.work), (4, Duration::from_millis(1000)));
        let a = parse(waiters.clone(), &["--tasks", "16", "--work-ms=0"]).unwrap();
        assert_eq!((a.tasks, a.work), (16, Duration::ZERO));
        let e = parse(waiters.clone(), &["--tasks", "0"]).unwrap_err();
        assert!(e.0.contains("out of range, 1 to 4096"), "{e}");
        let e = parse(waiters.clone(), &["--loop", "recv"]).unwrap_err();
        assert_eq!(e.0, "unknown option '--loop'");
        assert!(waiters.usage().contains("[--tasks N] [--work-ms MS]"));

        let budget = Spec::coop_budget("coop-budget-test");
        let a = parse(budget.clone(), &[]).unwrap();
        assert_eq!(
            (a.read_loop, a.interval),
            (ReadLoop::Recv, Duration::from_millis(10))
        );
        for l in ReadLoop::ALL {
            let a = parse(budget.clone(), &["--loop", l.as_str()]).unwrap();
            assert_eq!(a.read_loop, l);
        }
        let a = parse(budget.clone(), &["--cost-us", "50"]).unwrap();
        assert_eq!(a.cost, Duration::from_micros(50));
        let e = parse(budget.clone(), &["--loop", "spin"]).unwrap_err();
        assert_eq!(
            e.0,
            "invalid value 'spin' for --loop: expected one of recv, ready, fixed"
        );
        assert!(budget.usage().contains("recv, ready, fixed (default recv)"));
    }

    #[test]
    fn multisocket_ports_are_consecutive_or_all_ephemeral() {
        let ports = |first: SocketAddr, n| -> Vec<u16> {
            multisocket_addrs(first, n)
                .unwrap()
                .iter()
                .map(|a| a.port())
                .collect()
        };
        assert_eq!(ports(localhost(2000), 3), [2000, 2001, 2002]);
        assert_eq!(ports(localhost(0), 3), [0, 0, 0]);
        assert_eq!(ports(localhost(65534), 2), [65534, 65535]);
        let e = multisocket_addrs(localhost(65535), 2).unwrap_err();
        assert!(e.contains("past port 65535"), "{e}");
    }

    #[test]
    fn sockets_past_the_last_port_are_a_usage_error() {
        let spec = Spec::multisocket("ms");
        let e = spec.parse(["--sockets", "100000"]).unwrap_err();
        assert!(e.0.contains("out of range, 1 to 65535"), "{e}");
        let e = spec
            .parse(["--bind", "127.0.0.1:65000", "--sockets", "600"])
            .unwrap_err();
        assert!(e.0.contains("past port 65535"), "{e}");
        assert!(spec
            .parse(["--bind", "127.0.0.1:0", "--sockets", "600"])
            .is_ok());
    }

    #[test]
    fn a_zero_interval_where_it_makes_sense() {
        let ok = Spec::future_notify("fn").parse(["--interval-ms", "0", "--count", "0"]);
        assert!(matches!(ok, Ok(Parsed::Run(a)) if a.interval.is_zero() && a.count == 0));
        let e = Spec::mio_mixed("mm")
            .parse(["--interval-ms", "0"])
            .unwrap_err();
        assert!(e.0.contains("1 to 86400000"), "{e}");
    }

    #[test]
    fn tcp_servers_take_a_connection_bound_and_an_idle_timeout() {
        for spec in [Spec::tcp_echo("te"), Spec::ident("id")] {
            let Ok(Parsed::Run(a)) = spec.parse(["--max-connections", "5"]) else {
                panic!("{} refused --max-connections", spec.name);
            };
            assert_eq!(a.max_connections, 5);
            let e = spec.parse(["--max-connections", "0"]).unwrap_err();
            assert!(e.0.contains("out of range, 1 to 1048576"), "{e}");
            assert!(spec.usage().contains("(default 1024)"), "{}", spec.usage());
            assert!(matches!(
                spec.parse(["--idle-timeout-secs", "2"]),
                Ok(Parsed::Run(a)) if a.idle_timeout == Duration::from_secs(2)
            ));
        }
        let Ok(Parsed::Run(echo)) = Spec::tcp_echo("te").parse(Vec::<String>::new()) else {
            panic!("defaults");
        };
        assert_eq!(echo.idle_timeout, Duration::from_secs(300));
        assert_eq!(echo.max_connections, DEFAULT_MAX_CONNECTIONS);
        let e = spec().parse(["--max-connections", "5"]).unwrap_err();
        assert_eq!(
            e.0, "unknown option '--max-connections'",
            "UDP has no connections"
        );
    }

    #[test]
    fn threads_only_where_a_server_takes_them() {
        for spec in [
            Spec::udp_echo("ue").with_threads(),
            Spec::tcp_echo("te").with_threads(),
            Spec::ident("id").with_threads(),
        ] {
            let Ok(Parsed::Run(a)) = spec.parse(Vec::<String>::new()) else {
                panic!("defaults");
            };
            assert_eq!(a.threads, 1, "{}: one thread unless asked", spec.name);
            assert!(matches!(
                spec.parse(["--threads", "2"]),
                Ok(Parsed::Run(a)) if a.threads == 2
            ));
            let e = spec.parse(["--threads", "0"]).unwrap_err();
            assert_eq!(
                e.0, "invalid value '0' for --threads: out of range, 1 to 1024",
                "{}",
                spec.name
            );
            assert!(spec.usage().contains("[--threads N]"), "{}", spec.usage());
            assert!(spec.usage().contains("threads to serve on (default 1)"));
        }
        let e = spec().parse(["--threads", "2"]).unwrap_err();
        assert_eq!(
            e.0, "unknown option '--threads'",
            "not without with_threads"
        );
    }

    #[test]
    fn privileged_port_error_suggests_another() {
        let err = io::Error::from(io::ErrorKind::PermissionDenied);
        let msg = bind_error(localhost(113), &err);
        assert!(msg.ends_with("try --bind 127.0.0.1:1113)"), "{msg}");
        let msg = bind_error(localhost(2000), &err);
        assert!(!msg.contains("try"), "{msg}");
    }
}
