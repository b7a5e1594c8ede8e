//! Ratios of one figure between two entries of the same run, taken round by round
//! (never across runs: a slow minute of the machine touches both sides of a round
//! alike), and the targets the project holds some of them to. Generic: each family
//! names its figures ([`Figure`]) and says which ratios it takes.

use harness::results::bench::{FamilyFigures, Op, Ratio, Target};
use harness::Flavor;

use super::entry::{Job, LEGACY, MODERN};

/// A figure a ratio is taken of: its name in the records (the field, with the path
/// of a nested one: `open_many.p50_us`) and how to read it (`None` where a round did
/// not measure it).
pub type Figure<F> = (&'static str, fn(&F) -> Option<f64>);

pub fn at_most(bound: f64, says: &str) -> Target {
    Target::new(Op::AtMost, bound, says)
}

pub fn below(bound: f64, says: &str) -> Target {
    Target::new(Op::Below, bound, says)
}

pub fn above(bound: f64, says: &str) -> Target {
    Target::new(Op::Above, bound, says)
}

/// `num / den` of `figure`, for every round where both have it.
pub fn ratio<F: FamilyFigures>(
    subject: String,
    figure: Figure<F>,
    (num, den): (&Job, &Job),
    target: Option<Target>,
) -> Ratio {
    let (name, get) = figure;
    let pairs = num.rounds::<F>().iter().zip(den.rounds::<F>());
    let rounds = pairs.filter_map(|(a, b)| {
        let (a, b) = (get(a.as_ref()?)?, get(b.as_ref()?)?);
        (b > 0.0).then(|| a / b)
    });
    Ratio {
        subject,
        figure: name.to_string(),
        of: num.title(),
        to: Some(den.title()),
        rounds: rounds.collect(),
        target,
        held_back_by: None,
    }
}

/// `figure` of `job` itself, round by round, held to `target`.
pub fn value<F: FamilyFigures>(figure: Figure<F>, job: &Job, target: Target) -> Ratio {
    Ratio {
        subject: job.title(),
        figure: figure.0.to_string(),
        of: job.title(),
        to: None,
        rounds: job.values(figure.1),
        target: Some(target),
        held_back_by: None,
    }
}

/// The entry of the same program, configuration and socket count as `of`, in flavor
/// `label`.
pub fn twin<'a>(jobs: &[&'a Job], of: &Job, flavor: &str) -> Option<&'a Job> {
    jobs.iter().copied().find(|j| {
        j.program() == of.program()
            && j.flavor() == flavor
            && j.variant() == of.variant()
            && j.entry.sockets == of.entry.sockets
    })
}

/// Modern / legacy of each of `figures`, for every modern entry with a legacy twin;
/// `target` says what a program's figure is held to, if anything.
pub fn modern_vs_legacy<F: FamilyFigures>(
    jobs: &[&Job],
    figures: &[Figure<F>],
    target: impl Fn(&Job, &str) -> Option<Target>,
) -> Vec<Ratio> {
    let mut out = Vec::new();
    for m in jobs.iter().filter(|j| j.flavor() == MODERN) {
        let Some(l) = twin(jobs, m, LEGACY) else {
            continue;
        };
        for &figure in figures {
            let subject = format!("{} / legacy", m.title());
            out.push(ratio(subject, figure, (m, l), target(m, figure.0)));
        }
    }
    out
}

/// What the bridge costs: every step of a migration ladder against both ends of its
/// ladder (the legacy and the modern twin), the end it has left and the end it is
/// heading for, for each of `figures`; without targets.
pub fn ladder<F: FamilyFigures>(jobs: &[&Job], figures: &[Figure<F>]) -> Vec<Ratio> {
    let mut out = Vec::new();
    let steps = jobs
        .iter()
        .filter(|j| j.flavor().starts_with(Flavor::Bridge.as_str()));
    for step in steps {
        for end in [LEGACY, MODERN] {
            let Some(end) = twin(jobs, step, end) else {
                continue;
            };
            let subject = format!("{} / {}", step.title(), end.flavor());
            for &figure in figures {
                out.push(ratio(subject.clone(), figure, (step, end), None));
            }
        }
    }
    out
}

#[cfg(test)]
pub mod tests {
    use harness::results::bench::{Rounds, TcpEchoFigures};

    use super::*;
    use crate::bench::entry::tests::job;

    /// A ratio on one line: `subject: figure [rounds] target met`.
    pub fn line(r: &Ratio) -> String {
        let met = |met| if met { "met" } else { "missed" };
        let target =
            (r.target.as_ref()).map(|t| format!(" {} {}", t.text(), met(r.met() == Some(true))));
        format!(
            "{}: {} {:?}{}",
            r.subject,
            r.figure,
            r.rounds,
            target.unwrap_or_default()
        )
    }

    /// The ratio of `subject` and `figure` among `ratios`.
    pub fn find<'a>(ratios: &'a [Ratio], subject: &str, figure: &str) -> &'a Ratio {
        let r = (ratios.iter()).find(|r| r.subject == subject && r.figure == figure);
        r.unwrap_or_else(|| panic!("no {subject} {figure} in {ratios:#?}"))
    }

    const MB: Figure<TcpEchoFigures> = ("mb_per_s", |f| Some(f.mb_per_s));

    fn mb(mb_per_s: f64) -> TcpEchoFigures {
        TcpEchoFigures {
            mb_per_s,
            ..Default::default()
        }
    }

    #[test]
    fn a_step_is_read_against_both_ends_of_its_ladder() {
        let (legacy, step) = (job("p", LEGACY, [mb(2.0)]), job("p", "bridge-2", [mb(1.5)]));
        let (modern, other) = (job("p", MODERN, [mb(1.0)]), job("q", LEGACY, [mb(9.0)]));
        let ratios = ladder(&[&legacy, &step, &modern, &other], &[MB]);
        let shown: Vec<String> = ratios.iter().map(line).collect();
        let want = [
            "p bridge-2 / legacy: mb_per_s [0.75]",
            "p bridge-2 / modern: mb_per_s [1.5]",
        ];
        assert_eq!(shown, want);
        let ends: Vec<_> = ratios
            .iter()
            .map(|r| (r.of.as_str(), r.to.as_deref()))
            .collect();
        assert_eq!(
            ends,
            [
                ("p bridge-2", Some("p legacy")),
                ("p bridge-2", Some("p modern"))
            ]
        );
    }

    #[test]
    fn a_failed_round_gives_no_ratio_for_that_round() {
        let mut legacy = job("p", LEGACY, [mb(2.0)]);
        legacy.entry.rounds = Rounds::TcpEcho(vec![None, Some(mb(2.0)), Some(mb(0.0))]);
        let modern = job("p", MODERN, [mb(1.0), mb(3.0), mb(1.0)]);
        let alone = job("q", MODERN, [mb(1.0)]);
        let target = |j: &Job, _: &str| (j.program() == "p").then(|| at_most(1.05, "no worse"));
        let r = modern_vs_legacy(&[&legacy, &modern, &alone], &[MB], target);
        // Only where both flavors ran; round 1 failed on one side, round 3 divides by
        // zero: round 2 only.
        let shown: Vec<String> = r.iter().map(line).collect();
        assert_eq!(shown, ["p modern / legacy: mb_per_s [1.5] ≤ 1.05 missed"]);
        let v = value(MB, &modern, below(2.0, "small"));
        assert_eq!(
            (line(&v), v.to),
            ("p modern: mb_per_s [1.0, 3.0, 1.0] < 2.00 met".into(), None)
        );
        assert!(above(1.2, "").holds(1.3) && !above(1.2, "").holds(1.2));
    }
}
