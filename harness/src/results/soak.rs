//! `cargo xtask bench --soak`'s results: each server at the highest rate it sustains
//! for a while, its resident set sampled every second. One record per server (a
//! program of one flavor), kept in `soak.json`: whether its memory stayed flat, and
//! whether anything was lost beyond the drops the program documents.

use serde::{Deserialize, Serialize};

use super::Kind;

/// One server soaked, or why not.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakEntry {
    /// The program's name (`echo-tokio`) and flavor label (`modern`, `bridge-2`).
    pub program: String,
    pub flavor: String,
    /// Why it was not soaked, if it was not.
    pub skipped: Option<String>,
    /// What went wrong while it was soaked.
    pub error: Option<String>,
    pub settings: SoakSettings,
    /// What the soak measured (none where it was skipped or failed).
    pub figures: Option<SoakFigures>,
}

impl Kind for SoakEntry {
    const NAME: &'static str = "soak";
    fn key(&self) -> String {
        format!("{} {}", self.program, self.flavor)
    }
}

impl SoakEntry {
    /// Soaked, flat, and nothing lost.
    pub fn ok(&self) -> bool {
        let good = |f: &SoakFigures| f.flat && f.lost == 0;
        self.skipped.is_some() || (self.error.is_none() && self.figures.as_ref().is_some_and(good))
    }
}

/// How a soak was run: what a caption says.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakSettings {
    /// Seconds of load per server; RSS is sampled every second of it.
    pub seconds: u64,
    /// The verdict is taken over the second half of the run: flat when the RSS slope
    /// (least squares) is within this many KiB per minute…
    pub flat_slope_kib_per_min: f64,
    /// …and RSS moves by no more than this over that half.
    pub flat_range_kib: u64,
    /// UDP echo: client sockets × datagrams in flight on each, the payload.
    pub udp_sockets: usize,
    pub window: usize,
    pub payload: usize,
    /// TCP echo: bulk connections and bytes per write, and the workers opening short
    /// connections beside them.
    pub tcp_connections: usize,
    pub tcp_chunk: usize,
    pub churn_workers: usize,
    /// Ident: clients, each asking again on every reply on its open connection.
    pub ident_clients: usize,
}

/// What one soak measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoakFigures {
    pub seconds: f64,
    pub samples: Vec<RssSample>,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
    pub peak_rss_kib: u64,
    /// Least-squares slope of RSS over the second half, KiB per minute.
    pub slope_kib_per_min: f64,
    /// Max − min of RSS over the second half.
    pub second_half_range_kib: u64,
    /// Both within the settings' bounds.
    pub flat: bool,
    /// Lost beyond the documented drops (see [`SoakLoad`]).
    pub lost: u64,
    pub load: SoakLoad,
}

/// One RSS reading, `t_s` seconds after the load started.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RssSample {
    pub t_s: f64,
    pub rss_kib: u64,
}

/// What the load counted, by family.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "family", rename_all = "snake_case")]
pub enum SoakLoad {
    UdpEcho(UdpSoak),
    TcpEcho(TcpSoak),
    Ident(IdentSoak),
}

impl SoakLoad {
    /// The rate the load ran at, its numbers written by `num`.
    pub fn rate(&self, num: fn(f64) -> String) -> String {
        match self {
            SoakLoad::UdpEcho(u) => format!("{} echoes/s", num(u.echoes_per_s)),
            SoakLoad::TcpEcho(t) => {
                let (mb, conn) = (num(t.mb_per_s), num(t.connections_per_s));
                format!("{mb} MB/s, {conn} conn/s")
            }
            SoakLoad::Ident(i) => format!("{} queries/s", num(i.queries_per_s)),
        }
    }
}

/// UDP echo. Lost: datagrams whose echo never came, beyond the server's own queue
/// drops and what the kernel dropped at its full socket buffer; plus any refused.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UdpSoak {
    pub echoes_per_s: f64,
    pub client_sent: u64,
    pub client_received: u64,
    /// Given up after the loss timeout, and of those, the echoes that came later.
    pub losses: u64,
    pub late: u64,
    /// The server's summary.
    pub server_recv: u64,
    pub server_sent: u64,
    pub server_dropped: u64,
    pub server_refused: u64,
    /// Datagrams the kernel dropped at the server's socket (`/proc/PID/net/udp`).
    pub kernel_drops: u64,
}

/// TCP echo. Lost: bytes written and not echoed by the time each connection closed,
/// and short connections that failed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TcpSoak {
    pub mb_per_s: f64,
    pub bytes_written: u64,
    pub bytes_echoed: u64,
    pub connections_per_s: f64,
    pub connections: u64,
    pub connect_failures: u64,
}

/// Ident. Lost: queries with no reply in time, and `ERROR` replies.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct IdentSoak {
    pub queries_per_s: f64,
    pub replies: u64,
    pub timeouts: u64,
    pub error_replies: u64,
}
