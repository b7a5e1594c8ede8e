//! The bench's loads: the settings every entry's record keeps (a nonsense value is a
//! usage error, checked before anything runs), the durations drawn from them, and
//! the bounds that are the same in every run.

use std::ops::Deref;
use std::time::Duration;

use anyhow::Result;
use conformance::measure::coop;
use harness::results::bench;
use harness::{Profile, UsageError};

/// The socket counts each multi-socket program is measured at.
pub const SIZES: [usize; 3] = [10, 100, 1_000];
/// The poll sweep's socket counts: every count up to 8, then around 30 (where futures
/// 0.3's `join_all` changes its composition) closely, and on to 64.
const SWEEP: [usize; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 27, 28, 29, 30, 31, 32, 33, 36, 40, 48, 56, 64,
];
/// The same, briefly (`--quick`): the ends and both sides of 30.
const QUICK_SWEEP: [usize; 6] = [1, 2, 16, 30, 31, 64];
/// Datagrams one UDP echo load sends at most, and connections one TCP load opens.
pub const MAX_DATAGRAMS: u64 = 20_000_000;
pub const MAX_CONNECTIONS: u64 = 20_000;
/// Threads of the connection-rate load.
pub const CONNECT_WORKERS: usize = 8;
/// Datagrams per burst of the multi-socket spray.
pub const SPRAY_BURST: usize = 5;

/// The run's settings, as recorded (and dereferenced to), and the profile.
#[derive(Debug, Clone)]
pub struct Settings {
    pub profile: Profile,
    pub record: bench::Settings,
}

impl Deref for Settings {
    type Target = bench::Settings;
    fn deref(&self) -> &bench::Settings {
        &self.record
    }
}

impl Settings {
    /// The settings of `--duration`, `--rounds` and `--quick`, or a usage error.
    pub fn new(
        duration: Option<f64>,
        rounds: Option<usize>,
        quick: bool,
        profile: Profile,
    ) -> Result<Settings> {
        let seconds = duration.unwrap_or(if quick { 0.2 } else { 1.0 });
        if !(0.05..=60.0).contains(&seconds) {
            let e = format!("--duration {seconds}: give 0.05 to 60 seconds");
            return Err(UsageError(e).into());
        }
        let rounds = rounds.unwrap_or(if quick { 2 } else { 3 });
        if !(1..=50).contains(&rounds) {
            return Err(UsageError(format!("--rounds {rounds}: give 1 to 50 rounds")).into());
        }
        let record = bench::Settings {
            rounds,
            measure_s: seconds,
            warmup_s: seconds / 5.0,
            udp_sockets: 4,
            window: 32,
            payload: 64,
            flood_datagrams: 5_000,
            spray_rate: 5_000,
            sweep_counts: if quick {
                QUICK_SWEEP.to_vec()
            } else {
                SWEEP.to_vec()
            },
            tcp_connections: 8,
            tcp_chunk: 64 * 1024,
            ident_clients: 32,
            waiter_tasks: 4,
            waiter_probes: if quick { 10 } else { 40 },
            waiter_work_ms: if quick { 100 } else { 300 },
            coop_rate: coop::PACE.rate,
            coop_cost_us: coop::COST.as_micros() as u64,
        };
        Ok(Settings { profile, record })
    }

    /// The warm-up and the measured interval of the throughput loads.
    pub fn span(&self) -> (Duration, Duration) {
        (
            Duration::from_secs_f64(self.warmup_s),
            Duration::from_secs_f64(self.measure_s),
        )
    }

    /// The same, of the latency loads (and of every ident load).
    pub fn latency_span(&self) -> (Duration, Duration) {
        let measure = Duration::from_secs_f64(self.measure_s);
        (measure / 10, measure / 2)
    }

    /// The settings of `--quick`, for tests.
    #[cfg(test)]
    pub fn quick() -> Settings {
        Settings::new(None, None, true, Profile::Dev).expect("the quick settings are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonsense_is_a_usage_error() {
        for (d, r) in [(Some(-1.0), None), (Some(0.0), None), (None, Some(0))] {
            let e = Settings::new(d, r, false, Profile::Release).unwrap_err();
            assert!(e.downcast_ref::<UsageError>().is_some(), "{e}");
        }
        let s = Settings::quick();
        assert_eq!(
            (s.rounds, s.sweep_counts.len(), s.span().1.as_millis()),
            (2, 6, 200)
        );
        assert!(SWEEP.windows(2).all(|w| w[0] < w[1]) && SWEEP.contains(&31));
    }
}
