//! `cargo xtask bench`'s results: one entry per thing measured (a program of one
//! flavor, in one configuration), with its figures round by round, and the ratios
//! and targets taken between entries of the same run.
//!
//! The figures of each family are a struct whose fields the bench fills and the book
//! reads: a renamed figure is renamed for both.

use serde::{Deserialize, Serialize};

use super::stat::Stat;
use super::Kind;

/// A record of `bench.json`: an entry, or a ratio between entries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchRecord {
    Entry(Entry),
    Ratio(Ratio),
}

impl Kind for BenchRecord {
    const NAME: &'static str = "bench";
    fn key(&self) -> String {
        match self {
            BenchRecord::Entry(e) => format!("entry {}", e.key()),
            BenchRecord::Ratio(r) => format!("ratio {} {}", r.subject, r.figure),
        }
    }
}

/// One thing measured: a program of one flavor (or a baseline, or a reference server
/// of this machine), in its default configuration or a variant, at a socket count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The program's name (`echo-tokio`), or the baseline's (`baseline-blocking`).
    pub program: String,
    /// `baseline`, `reference`, `legacy`, `bridge-2`, `modern`, `next`.
    pub flavor: String,
    /// The options of a configuration other than the default (`--lookup proc`).
    pub variant: Option<String>,
    /// The socket count of a multi-socket entry.
    pub sockets: Option<usize>,
    /// Why it was not measured, if it was not.
    pub skipped: Option<String>,
    /// What went wrong, round by round.
    pub errors: Vec<String>,
    /// The loads it was measured with.
    pub settings: Settings,
    /// Its figures, round by round (`None` where that round failed).
    pub rounds: Rounds,
}

impl Entry {
    /// `echo-tokio modern`, `ident-tokio legacy --lookup proc`, `multisocket-join
    /// legacy ×100`: as tables name it, and the key of its record.
    pub fn key(&self) -> String {
        let mut title = format!("{} {}", self.program, self.flavor);
        if let Some(v) = &self.variant {
            title = format!("{title} {v}");
        }
        match self.sockets {
            Some(n) => format!("{title} ×{n}"),
            None => title,
        }
    }

    /// Whether this is `program` of `flavor` in its default configuration.
    pub fn is(&self, program: &str, flavor: &str) -> bool {
        self.program == program && self.flavor == flavor && self.variant.is_none()
    }

    /// The rounds of family `F`'s figures, if the entry is of that family.
    pub fn rounds_of<F: FamilyFigures>(&self) -> Option<&[Option<F>]> {
        F::rounds(&self.rounds)
    }

    /// One figure over the rounds that have it.
    pub fn stat<F: FamilyFigures>(&self, figure: impl Fn(&F) -> Option<f64>) -> Option<Stat> {
        let rounds = self.rounds_of::<F>()?;
        let values: Vec<f64> = rounds.iter().flatten().filter_map(figure).collect();
        Stat::of(&values)
    }
}

/// The figures of every round of an entry, by family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounds {
    UdpEcho(Vec<Option<UdpEchoFigures>>),
    Multisocket(Vec<Option<MultisocketFigures>>),
    Polls(Vec<Option<PollsFigures>>),
    TcpEcho(Vec<Option<TcpEchoFigures>>),
    Ident(Vec<Option<IdentFigures>>),
    Waiters(Vec<Option<WaitersFigures>>),
    Coop(Vec<Option<CoopFigures>>),
    /// Nothing: the entry was not measured (its `skipped` says why), and its family
    /// has no figures under load (future-notify, the mio demos).
    Unmeasured,
}

/// A family's figures, found in [`Rounds`].
pub trait FamilyFigures: Sized {
    fn rounds(r: &Rounds) -> Option<&[Option<Self>]>;
    fn wrap(rounds: Vec<Option<Self>>) -> Rounds;
}

macro_rules! family_figures {
    ($($variant:ident($t:ty)),*) => {$(
        impl FamilyFigures for $t {
            fn rounds(r: &Rounds) -> Option<&[Option<Self>]> {
                match r {
                    Rounds::$variant(v) => Some(v),
                    _ => None,
                }
            }
            fn wrap(rounds: Vec<Option<Self>>) -> Rounds {
                Rounds::$variant(rounds)
            }
        }
    )*};
}

family_figures!(
    UdpEcho(UdpEchoFigures),
    Multisocket(MultisocketFigures),
    Polls(PollsFigures),
    TcpEcho(TcpEchoFigures),
    Ident(IdentFigures),
    Waiters(WaitersFigures),
    Coop(CoopFigures)
);

/// The loads of a bench run: what a caption says the figures were measured with.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub rounds: usize,
    /// Seconds of each measured interval, and of the warm-up before it.
    pub measure_s: f64,
    pub warmup_s: f64,
    /// UDP echo: client sockets × datagrams in flight on each, the payload.
    pub udp_sockets: usize,
    pub window: usize,
    pub payload: usize,
    /// Datagrams of the flood each UDP echo program gets at its default queue.
    pub flood_datagrams: u64,
    /// Multi-socket: datagrams per second of the spray, and the poll sweep's counts.
    pub spray_rate: u64,
    pub sweep_counts: Vec<usize>,
    /// TCP echo: connections of the bulk load, bytes per write.
    pub tcp_connections: usize,
    pub tcp_chunk: usize,
    /// Ident: clients of the many-clients loads.
    pub ident_clients: usize,
    /// udp-waiters: tasks on the socket, datagrams sent one at a time to them idle,
    /// and what each datagram of the burst costs its task (`--work-ms`).
    pub waiter_tasks: usize,
    pub waiter_probes: usize,
    pub waiter_work_ms: u64,
    /// coop-budget: datagrams per second of the flood, and the reader CPU each costs
    /// (`--cost-us`).
    pub coop_rate: f64,
    pub coop_cost_us: u64,
}

/// The counts of the server's own `summary` line, where it has them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ServerCounts {
    pub server_recv: Option<f64>,
    pub server_sent: Option<f64>,
    pub server_dropped: Option<f64>,
}

/// One run of a UDP echo program.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UdpEchoFigures {
    /// Echoes received per second with W datagrams in flight on each client socket.
    pub echoes_per_s: f64,
    /// Server CPU over that interval per echo.
    pub cpu_per_echo_ns: f64,
    /// Server CPU over that interval / its length (1 = one core busy).
    pub server_cpu_util: f64,
    /// The load generator's CPU over that interval / its length.
    pub client_cpu_util: f64,
    /// The server's utime+stime clock ticks over that interval (a cross-check of the
    /// CPU clock, at 10 ms resolution).
    pub stat_ticks: f64,
    /// RTT p50 under the W=32 load, µs (none if no echo carried a sample).
    pub rtt_w32_p50_us: Option<f64>,
    /// RTT percentiles with W = 1 on one socket, µs.
    pub rtt_p50_us: f64,
    pub rtt_p99_us: f64,
    /// Server CPU per echo with W = 1.
    pub cpu_per_echo_w1_ns: f64,
    pub peak_rss_kib: f64,
    /// Over both loads: datagrams given up after the loss timeout, echoes that came
    /// after that, datagrams sent and echoes received.
    pub losses: f64,
    pub late: f64,
    pub client_sent: f64,
    pub client_received: f64,
    #[serde(flatten)]
    pub server: ServerCounts,
    /// A flood at the default queue.
    #[serde(flatten)]
    pub flood: FloodFigures,
    /// The next-era loads, on the entries that run them.
    #[serde(flatten)]
    pub next_era: NextEraFigures,
    /// The depth sweep, on the entries that run it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depth: Vec<DepthPoint>,
}

/// One load of the depth sweep: `in_flight` datagrams spread evenly over `sockets`
/// client sockets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DepthPoint {
    pub sockets: usize,
    pub in_flight: usize,
    pub echoes_per_s: f64,
    pub cpu_per_echo_ns: f64,
}

/// A flood far past `--queue`, and where its datagrams went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FloodFigures {
    /// Datagrams sent, and echoes the client got back.
    pub flood_sent: f64,
    pub flood_echoed: f64,
    /// Echoed / sent.
    pub flood_share: f64,
    /// From the server's summary: datagrams it read and echoes it sent.
    pub flood_server_recv: Option<f64>,
    pub flood_server_sent: Option<f64>,
    /// The server's echoes / the datagrams it read.
    pub flood_read_share: Option<f64>,
    /// Dropped by the server (its queue was full), and by the kernel (its socket's
    /// receive buffer was full): sent − read.
    pub flood_queue_dropped: Option<f64>,
    pub flood_kernel_dropped: Option<f64>,
    /// From the event lines of a second flood: datagrams read per reader turn, and
    /// echoes sent per writer turn.
    pub flood_reads_per_turn: Option<f64>,
    pub flood_echoes_per_turn: Option<f64>,
}

/// The loads the next programs and raw epoll run besides the common ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NextEraFigures {
    /// One client socket, W=32: echoes/s and server CPU per echo.
    pub echoes_per_s_1sock: Option<f64>,
    pub cpu_per_echo_1sock_ns: Option<f64>,
    /// Server system calls per echo, one socket, W=32 (under strace).
    pub syscalls_per_echo: Option<f64>,
    /// Peers sending GSO batches: datagrams echoed per second, server CPU per
    /// datagram.
    pub gso_datagrams_per_s: Option<f64>,
    pub gso_cpu_per_datagram_ns: Option<f64>,
    /// The same peers with datagrams of 1,200 bytes (a QUIC packet's size): server CPU
    /// per datagram.
    pub gso_cpu_per_datagram_1200_ns: Option<f64>,
}

/// One run of a multi-socket program at one socket count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultisocketFigures {
    /// Datagrams the spray sent, and those the server's summary says it received.
    pub datagrams_sent: f64,
    pub datagrams_received: f64,
    /// Server CPU from idle after start-up to idle after the last datagram, per
    /// datagram received.
    pub cpu_per_datagram_ns: f64,
    /// Whether the server went idle after the last datagram (1) or the wait for it
    /// ran out (0).
    pub went_idle: f64,
    pub peak_rss_kib: f64,
    #[serde(flatten)]
    pub server: ServerCounts,
}

/// One poll sweep of a multi-socket program: the futures polled per datagram at each
/// socket count.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PollsFigures {
    pub points: Vec<PollPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PollPoint {
    pub sockets: usize,
    /// Futures polled for each datagram sent.
    pub polls: Vec<usize>,
}

impl PollPoint {
    /// The middle of the counts (they agree but for a coalesced wake-up).
    pub fn median(&self) -> f64 {
        let v: Vec<f64> = self.polls.iter().map(|&p| p as f64).collect();
        Stat::of(&v).map_or(f64::NAN, |s| s.median)
    }
}

/// One run of a TCP echo program.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TcpEchoFigures {
    /// Bytes echoed per second over the bulk load, MB = 10^6 bytes.
    pub mb_per_s: f64,
    /// Server CPU per MB echoed.
    pub cpu_per_mb_us: f64,
    /// Connections completed per second, and the server CPU per connection.
    pub connections_per_s: f64,
    pub cpu_per_connection_us: f64,
    /// Connections that failed over the whole connection-rate run.
    pub connect_failures: f64,
    pub peak_rss_kib: f64,
}

/// One run of an ident server: per load (one client or many, queries on an open
/// connection or each on a fresh one), replies per second, server CPU per query and
/// wall time per query. `None` where the load does not apply (a reference server
/// that answers one query per connection has no open-connection figures).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentFigures {
    pub open_1: Option<QueryFigures>,
    pub open_many: Option<QueryFigures>,
    pub fresh_1: Option<QueryFigures>,
    pub fresh_many: Option<QueryFigures>,
    /// Over the whole run: queries that failed (no reply in time, a refused or reset
    /// connection), and replies that were not `USERID`.
    pub failures: f64,
    pub error_replies: f64,
    pub peak_rss_kib: f64,
}

/// One ident load's figures: replies per second and server CPU per reply over the
/// measured interval, wall time per query (µs), and the queries of the load that
/// failed (in or out of the measured interval).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct QueryFigures {
    pub queries_per_s: f64,
    pub cpu_per_query_us: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub failures: f64,
}

/// One round of `udp-waiters`: datagrams sent one at a time to idle tasks, then a
/// burst to busy ones.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WaitersFigures {
    /// Datagrams sent one at a time.
    pub probes: usize,
    /// Per task (in task order): its wake-ups and the datagrams it read.
    pub tasks: Vec<TaskCounts>,
    /// `--work-ms` of the burst.
    pub burst_work_ms: u64,
    /// The burst's datagrams in the order they were read: which task, how long after
    /// the burst.
    pub burst: Vec<BurstRead>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskCounts {
    pub woken: u64,
    pub recv: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BurstRead {
    pub task: usize,
    pub after_ms: f64,
}

impl WaitersFigures {
    /// Wake-ups per datagram sent, summed over the tasks.
    pub fn woken_per_datagram(&self) -> f64 {
        let woken: u64 = self.tasks.iter().map(|t| t.woken).sum();
        woken as f64 / self.probes.max(1) as f64
    }

    /// The last datagram of the burst: how long after the burst it was read.
    pub fn burst_last_ms(&self) -> Option<f64> {
        self.burst.iter().map(|b| b.after_ms).reduce(f64::max)
    }
}

/// One flood of `coop-budget` with one `--loop`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct CoopFigures {
    /// Datagrams sent, and for how long (ms).
    pub sent: u64,
    pub flood_ms: f64,
    /// From the summary: datagrams read, polls of the reader, the most read in one
    /// poll, ticks, the ticker's worst delay (µs).
    pub recv: u64,
    pub polls: u64,
    pub most_per_poll: u64,
    pub ticks: u64,
    pub worst_late_us: u64,
    /// From the lines: the most datagrams read between two ticks.
    pub most_between_ticks: u64,
}

/// A ratio of one figure between two entries of the same run, round by round; or,
/// where a target holds a figure itself, that figure round by round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ratio {
    /// `echo-tokio modern / legacy`, `echo-uring next / raw epoll-edge`; for a
    /// value, the entry (`echo-uring next`).
    pub subject: String,
    /// The figure, by its field name (`cpu_per_echo_ns`; a field of a nested struct
    /// with its path, `open_many.p50_us`).
    pub figure: String,
    /// The entry measured, and the one it is divided by (none for a value): keys
    /// of their records.
    pub of: String,
    pub to: Option<String>,
    pub rounds: Vec<f64>,
    pub target: Option<Target>,
    /// Where a profiled target is missed: the bucket that holds it back, with what
    /// it costs beyond what the target allows (`runtime +554 ns per echo`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_back_by: Option<String>,
}

impl Ratio {
    pub fn stat(&self) -> Option<Stat> {
        Stat::of(&self.rounds)
    }

    /// Whether the median meets the target (`None` without a target or a value).
    pub fn met(&self) -> Option<bool> {
        Some(self.target.as_ref()?.holds(self.stat()?.median))
    }
}

/// What a figure or ratio is held to: a claim the project makes, checked by the
/// bench on every run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Target {
    pub op: Op,
    pub bound: f64,
    /// What the target says, in words.
    pub says: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Op {
    AtMost,
    Below,
    Above,
}

impl Target {
    pub fn new(op: Op, bound: f64, says: &str) -> Target {
        Target {
            op,
            bound,
            says: says.to_string(),
        }
    }

    /// `≤ 1.15`
    pub fn text(&self) -> String {
        let op = match self.op {
            Op::AtMost => "≤",
            Op::Below => "<",
            Op::Above => ">",
        };
        format!("{op} {:.2}", self.bound)
    }

    pub fn holds(&self, v: f64) -> bool {
        match self.op {
            Op::AtMost => v <= self.bound,
            Op::Below => v < self.bound,
            Op::Above => v > self.bound,
        }
    }
}
