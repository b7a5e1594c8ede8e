//! The poll sweep of a multi-socket program: how many of its per-socket futures one
//! datagram makes it poll, at every socket count of the sweep (the counts around 30,
//! where futures 0.3's `join_all` changes its composition, closely). Measured by the
//! suite's own code (`conformance::measure::polls`), which the checks judge against
//! each program's declaration; here it is recorded round by round for the book.

use anyhow::Result;
use conformance::measure::polls;
use harness::results::bench::PollsFigures;
use harness::results::Stat;

use super::cells::{family_table, fmt_num, Cells, Column};
use super::entry::Job;
use super::settings::Settings;
use harness::measure::affinity::Placement;

pub fn run(job: &Job, s: &Settings, on: &Placement) -> Result<PollsFigures> {
    let exe = &job.subject.exe;
    let points = on.unpinned(|| polls::sweep(exe, &s.sweep_counts))?;
    Ok(PollsFigures { points })
}

pub fn section(jobs: &[&Job], s: &Settings) -> String {
    let polled = |c: &Cells<PollsFigures>| match sweep(c.job) {
        points if !points.is_empty() => runs(&points),
        _ if c.job.entry.errors.is_empty() => "—".into(),
        _ => "error".into(),
    };
    let columns: [Column<PollsFigures>; 1] =
        [("futures polled per datagram, by socket count", &polled)];
    let counts: Vec<String> = s.sweep_counts.iter().map(usize::to_string).collect();
    let title = format!("Multi-socket, poll sweep at {} sockets", counts.join(", "));
    family_table(&title, jobs, &columns)
}

/// Each socket count and the futures one datagram polled there (the median over the
/// rounds).
fn sweep(job: &Job) -> Vec<(usize, f64)> {
    let rounds: Vec<&PollsFigures> = job.rounds::<PollsFigures>().iter().flatten().collect();
    let Some(first) = rounds.first() else {
        return Vec::new();
    };
    let at = |n: usize| {
        let points = rounds
            .iter()
            .flat_map(|r| r.points.iter().find(|p| p.sockets == n));
        Stat::of(&points.map(|p| p.median()).collect::<Vec<_>>()).map(|s| (n, s.median))
    };
    first.points.iter().filter_map(|p| at(p.sockets)).collect()
}

/// `1–30: every future, 31–64: 1`: runs of socket counts at which a datagram polls
/// every future, or the same number of them.
fn runs(points: &[(usize, f64)]) -> String {
    // (first count, last count, the number polled at each if the same, every future)
    let mut runs: Vec<(usize, usize, Option<f64>, bool)> = Vec::new();
    for &(n, polled) in points {
        let every = polled == n as f64;
        if let Some((_, last, same, all)) = runs.last_mut() {
            let same_now = same.filter(|&k| k == polled);
            if same_now.is_some() || (*all && every) {
                (*last, *same, *all) = (n, same_now, *all && every);
                continue;
            }
        }
        runs.push((n, n, Some(polled), every));
    }
    let show = |&(first, last, same, all): &(usize, usize, Option<f64>, bool)| {
        let counts = match first == last {
            true => first.to_string(),
            false => format!("{first}–{last}"),
        };
        match (all && first != last, same) {
            (false, Some(k)) => format!("{counts}: {}", fmt_num(k).trim_end_matches(".00")),
            _ => format!("{counts}: every future"),
        }
    };
    runs.iter().map(show).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_reads_as_runs_of_counts() {
        let all = |ns: &[usize]| ns.iter().map(|&n| (n, n as f64)).collect::<Vec<_>>();
        let mut join = all(&[1, 2, 30]);
        join.extend([(31, 1.0), (64, 1.0)]);
        assert_eq!(runs(&join), "1–30: every future, 31–64: 1");
        assert_eq!(runs(&all(&[1, 2, 64])), "1–64: every future");
        assert_eq!(runs(&[(1, 1.0), (2, 1.0), (64, 1.0)]), "1–64: 1");
        assert_eq!(runs(&[(1, 1.0), (2, 1.5), (3, 1.5)]), "1: 1, 2–3: 1.50");
    }
}
