//! The soak's instrument: a server's resident set sampled every second while a load
//! runs, and the verdict on it — is the second half flat, and was anything lost
//! beyond the drops the program documents?
//!
//! The verdict is taken over the second half of the run (the first holds the
//! warm-up: arenas, rings and buffers reaching their working size): the least-squares
//! slope of RSS against time, and its range.

use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use super::cpu;
use super::server::Server;
use crate::results::soak::{RssSample, SoakFigures, SoakLoad};

/// Flat: a second-half slope no steeper than this — well under what a leak of one
/// small allocation per unit of work makes at the soak's rates (at 50,000 echoes/s it
/// is 0.09 bytes an echo; at 300 connections/s, 14 bytes a connection; at 100 ident
/// queries/s, 44 bytes a query), and above the noise of a page or two moving in a
/// 10 s half…
pub const FLAT_SLOPE_KIB_PER_MIN: f64 = 256.0;
/// …and a second half whose RSS moves by no more than this (an allocator arena
/// trimmed or grown once, not a trend).
pub const FLAT_RANGE_KIB: u64 = 1024;

/// Runs `load` on another thread for up to `secs` while this one samples `server`'s
/// RSS every second; the samples and what the load returned.
pub fn sample_rss_while<L>(
    server: &Server,
    secs: u64,
    load: L,
) -> Result<(Vec<RssSample>, SoakLoad)>
where
    L: FnOnce() -> Result<SoakLoad> + Send,
{
    let (pid, start) = (server.pid(), Instant::now());
    let sample = || -> Result<RssSample> {
        Ok(RssSample {
            t_s: start.elapsed().as_secs_f64(),
            rss_kib: cpu::rss_kib(pid)?,
        })
    };
    let mut samples = vec![sample()?];
    let load = thread::scope(|scope| {
        let load = scope.spawn(load);
        for second in 1..=secs {
            let due = start + Duration::from_secs(second);
            while !load.is_finished() && Instant::now() < due {
                thread::sleep(Duration::from_millis(10));
            }
            if load.is_finished() {
                break;
            }
            samples.push(sample()?);
        }
        load.join()
            .map_err(|_| anyhow!("the load thread panicked"))?
    })?;
    Ok((samples, load))
}

/// The verdict on `samples`, and what `load` lost.
pub fn figures(samples: Vec<RssSample>, peak_rss_kib: u64, load: SoakLoad) -> SoakFigures {
    let (slope_kib_per_min, second_half_range_kib) = second_half(&samples);
    let flat = slope_kib_per_min.abs() <= FLAT_SLOPE_KIB_PER_MIN
        && second_half_range_kib <= FLAT_RANGE_KIB;
    let (first, last) = (samples.first().copied(), samples.last().copied());
    SoakFigures {
        seconds: last.map_or(0.0, |s| s.t_s),
        rss_start_kib: first.map_or(0, |s| s.rss_kib),
        rss_end_kib: last.map_or(0, |s| s.rss_kib),
        peak_rss_kib,
        slope_kib_per_min,
        second_half_range_kib,
        flat,
        lost: lost(&load),
        samples,
        load,
    }
}

/// What was lost beyond the documented drops: UDP echoes that never came (late ones
/// came), less the server's queue drops and the kernel's drops at its full receive
/// buffer, plus any refused; TCP bytes written and not echoed, plus failed connects;
/// ident queries with no reply in time, and `ERROR` replies.
pub fn lost(load: &SoakLoad) -> u64 {
    match load {
        SoakLoad::UdpEcho(u) => (u.losses.saturating_sub(u.late))
            .saturating_sub(u.server_dropped + u.kernel_drops)
            .saturating_add(u.server_refused),
        SoakLoad::TcpEcho(t) => t.bytes_written.saturating_sub(t.bytes_echoed) + t.connect_failures,
        SoakLoad::Ident(i) => i.timeouts + i.error_replies,
    }
}

/// The slope (KiB/min, least squares) and the max − min of the samples of the second
/// half of the run.
pub fn second_half(samples: &[RssSample]) -> (f64, u64) {
    let end = samples.last().map_or(0.0, |s| s.t_s);
    let half: Vec<(f64, f64)> = (samples.iter())
        .filter(|s| s.t_s >= end / 2.0)
        .map(|s| (s.t_s, s.rss_kib as f64))
        .collect();
    let rss = half.iter().map(|&(_, r)| r);
    let range = rss.clone().reduce(f64::max).unwrap_or(0.0) - rss.reduce(f64::min).unwrap_or(0.0);
    let n = half.len().max(1) as f64;
    let sum = half
        .iter()
        .fold((0.0, 0.0), |(t, r), &(ti, ri)| (t + ti, r + ri));
    let (mean_t, mean_r) = (sum.0 / n, sum.1 / n);
    let cov: f64 = half.iter().map(|&(t, r)| (t - mean_t) * (r - mean_r)).sum();
    let var: f64 = half.iter().map(|&(t, _)| (t - mean_t).powi(2)).sum();
    let per_s = if var > 0.0 { cov / var } else { 0.0 };
    (per_s * 60.0, range as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::soak::{IdentSoak, TcpSoak, UdpSoak};

    fn samples(rss: impl Fn(u64) -> u64, secs: u64) -> Vec<RssSample> {
        let sample = |t: u64| RssSample {
            t_s: t as f64,
            rss_kib: rss(t),
        };
        (0..=secs).map(sample).collect()
    }

    #[test]
    fn a_steady_leak_has_its_slope_and_a_plateau_none() {
        // 10 KiB a second: 600 KiB a minute, over the whole run.
        let (slope, range) = second_half(&samples(|t| 4000 + 10 * t, 60));
        assert!(
            (slope - 600.0).abs() < 1e-6 && range == 300,
            "{slope} {range}"
        );
        // Growth in the first half only (a warm-up), then flat.
        assert_eq!(
            second_half(&samples(|t| 4000 + 100 * t.min(20), 60)),
            (0.0, 0)
        );
    }

    #[test]
    fn the_verdict_needs_both_flat_and_nothing_lost() {
        let ident = || SoakLoad::Ident(IdentSoak::default());
        let flat = figures(samples(|t| 5000 + (t % 2) * 4, 20), 5004, ident());
        assert!(flat.flat && flat.lost == 0);
        assert_eq!(
            (flat.rss_start_kib, flat.rss_end_kib, flat.seconds),
            (5000, 5000, 20.0)
        );
        assert!(!figures(samples(|t| 5000 + 20 * t, 20), 9000, ident()).flat);
        let (losses, late, server_dropped, kernel_drops) = (10, 3, 4, 1);
        let udp = UdpSoak {
            losses,
            late,
            server_dropped,
            kernel_drops,
            ..Default::default()
        };
        assert_eq!(
            lost(&SoakLoad::UdpEcho(udp)),
            2,
            "7 never came back, 5 documented drops"
        );
        let tcp = TcpSoak {
            bytes_written: 100,
            bytes_echoed: 90,
            connect_failures: 1,
            ..Default::default()
        };
        assert_eq!(lost(&SoakLoad::TcpEcho(tcp)), 11);
    }
}
