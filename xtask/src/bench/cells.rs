//! What the bench prints, whatever the family: compact cells (a median and how far
//! the farthest round lies from it, so that a row of figures fits 100 columns), the
//! tables of ratios and targets, and what was not measured or went wrong. Every table
//! goes through `harness::table`.

use harness::results::bench::{FamilyFigures, Ratio};
use harness::results::Stat;
use harness::table::{table, WIDTH};

use super::entry::Job;

/// A row of a table: program, flavor (with the variant's options), then `cells`.
pub fn row_of(job: &Job, cells: impl IntoIterator<Item = String>) -> Vec<String> {
    let flavor = match job.variant() {
        Some(v) => format!("{} {v}", job.flavor()),
        None => job.flavor().to_string(),
    };
    let head = [job.program().to_string(), flavor];
    head.into_iter().chain(cells).collect()
}

/// A table under its title (wrapped at the tables' width); `header`: the column
/// names, separated by ` | `.
pub fn titled(title: &str, header: &str, rows: Vec<Vec<String>>) -> String {
    let (mut out, mut line) = (String::from("\n"), String::new());
    for word in title.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > WIDTH.into() {
            out += &(std::mem::take(&mut line) + "\n");
        }
        line += &format!("{}{word}", if line.is_empty() { "" } else { " " });
    }
    let header: Vec<&str> = header.split(" | ").collect();
    out + &line + "\n" + &table(&header, rows)
}

/// A column of a family's table: its name, and its cell of an entry.
pub type Column<'a, F> = (&'a str, &'a dyn Fn(&Cells<F>) -> String);

/// A family's table of `jobs` under `title`: program, flavor, then `columns`.
pub fn family_table<F: FamilyFigures>(title: &str, jobs: &[&Job], columns: &[Column<F>]) -> String {
    let names = columns.iter().map(|(name, _)| *name);
    let header: Vec<&str> = ["program", "flavor"].into_iter().chain(names).collect();
    let row = |job: &&Job| {
        let cells = Cells {
            job,
            rounds: job.rounds(),
        };
        row_of(job, columns.iter().map(|(_, cell)| cell(&cells)))
    };
    titled(title, &header.join(" | "), jobs.iter().map(row).collect())
}

/// The figures of one entry of family `F`, as cells.
pub struct Cells<'a, F> {
    pub job: &'a Job,
    rounds: &'a [Option<F>],
}

impl<F: FamilyFigures> Cells<'_, F> {
    /// `figure` over the rounds that have it, shown by `show` (`—` where none has it,
    /// `error` where rounds failed).
    fn cell<V>(&self, figure: impl Fn(&F) -> V, show: impl Fn(Stat, &[f64]) -> String) -> String
    where
        V: Into<Option<f64>>,
    {
        let rounds = self.rounds.iter().flatten();
        let values: Vec<f64> = rounds.filter_map(|f| figure(f).into()).collect();
        match Stat::of(&values) {
            Some(s) => show(s, &values),
            None if self.job.entry.errors.is_empty() => "—".into(),
            None => "error".into(),
        }
    }

    /// `2,000 ±50%`: the median times `scale`, and the farthest round from it.
    pub fn num<V: Into<Option<f64>>>(&self, figure: impl Fn(&F) -> V, scale: f64) -> String {
        self.cell(figure, |s, _| compact(s.scaled(scale)))
    }

    /// `2,496 ±5%`: a count's median, as a whole number, and the farthest round.
    pub fn count<V: Into<Option<f64>>>(&self, figure: impl Fn(&F) -> V) -> String {
        let whole = |v: f64| fmt_num(v.round()).trim_end_matches(".00").to_string();
        self.cell(figure, |s, _| spread(s, whole))
    }

    /// `45% (33–56)`: a fraction's median and range, in per cent.
    pub fn pct<V: Into<Option<f64>>>(&self, figure: impl Fn(&F) -> V) -> String {
        let p = |v: f64| format!("{:.0}", v * 100.0);
        self.cell(figure, |s, _| match p(s.min) == p(s.max) {
            true => format!("{}%", p(s.median)),
            false => format!("{}% ({}–{})", p(s.median), p(s.min), p(s.max)),
        })
    }

    /// A count summed over the rounds.
    pub fn total<V: Into<Option<f64>>>(&self, figure: impl Fn(&F) -> V) -> String {
        self.cell(figure, |_, v| format!("{:.0}", v.iter().sum::<f64>()))
    }
}

/// `2,000 ±50%`: the median, and how far the farthest round lies from it (left out
/// below 1 %); `0.00 (0.00–4.00)` where the median is zero.
pub fn compact(s: Stat) -> String {
    spread(s, fmt_num)
}

fn spread(s: Stat, show: impl Fn(f64) -> String) -> String {
    let far = (s.max - s.median).max(s.median - s.min);
    let p = if far > 0.0 {
        far / s.median.abs() * 100.0
    } else {
        0.0
    };
    match p.round() {
        p if p < 1.0 => show(s.median),
        p if p.is_finite() => format!("{} ±{p:.0}%", show(s.median)),
        _ => format!("{} ({}–{})", show(s.median), show(s.min), show(s.max)),
    }
}

/// A number for a person: three significant digits, thousands grouped.
pub fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if !v.is_finite() {
        return "—".into();
    }
    if a < 1000.0 {
        let decimals = if a >= 100.0 {
            0
        } else if a >= 10.0 {
            1
        } else {
            2
        };
        return format!("{v:.decimals$}");
    }
    let digits = format!("{a:.0}");
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    if v < 0.0 {
        grouped.insert(0, '-');
    }
    grouped
}

/// The ratios, and the figures held to a target themselves, with how many targets
/// are met.
pub fn ratio_tables(ratios: &[Ratio]) -> String {
    if ratios.is_empty() {
        return String::new();
    }
    let row = |r: &&Ratio| {
        let met = match (r.met(), &r.held_back_by) {
            (Some(true), _) => "yes".into(),
            (Some(false), held) => held.as_ref().map_or("NO".into(), |h| format!("NO: {h}")),
            (None, _) => String::new(),
        };
        let target = r.target.as_ref().map(|t| t.text()).unwrap_or_default();
        let median = r.stat().map_or("—".into(), compact);
        vec![r.subject.clone(), r.figure.clone(), median, target, met]
    };
    let (met, missed) = target_counts(ratios);
    let (ratios, values): (Vec<&Ratio>, Vec<&Ratio>) = ratios.iter().partition(|r| r.to.is_some());
    let mut out = String::new();
    if !ratios.is_empty() {
        let title = "Ratios, round by round within the run (< 1: the first is smaller)";
        let header = "ratio | figure | median | target | met";
        out += &titled(title, header, ratios.iter().map(row).collect());
    }
    if !values.is_empty() {
        let (title, header) = (
            "Figures held to a target, round by round",
            "entry | figure | median | target | met",
        );
        out += &titled(title, header, values.iter().map(row).collect());
    }
    out + &format!("targets: {met} met, {missed} not met\n")
}

/// How many targets are met, and how many not.
pub fn target_counts(ratios: &[Ratio]) -> (usize, usize) {
    let count = |met| ratios.iter().filter(|r| r.met() == Some(met)).count();
    (count(true), count(false))
}

/// What was not measured, and why; what went wrong, round by round.
pub fn notes(jobs: &[Job]) -> String {
    let skipped = jobs
        .iter()
        .filter_map(|j| Some(vec![j.title(), j.entry.skipped.clone()?]));
    let skipped: Vec<Vec<String>> = skipped.collect();
    let errors = jobs
        .iter()
        .flat_map(|j| j.entry.errors.iter().map(|e| vec![j.title(), e.clone()]));
    let errors: Vec<Vec<String>> = errors.collect();
    let mut out = String::new();
    if !skipped.is_empty() {
        out += &titled("Not measured", "entry | why", skipped);
    }
    if !errors.is_empty() {
        out += &titled("Errors", "entry | error", errors);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_for_people() {
        let s = |v: &[f64]| Stat::of(v).unwrap();
        assert_eq!(compact(s(&[1_000.0, 2_000.0, 3_000.0])), "2,000 ±50%");
        assert_eq!(compact(s(&[4.0, 4.01])), "4.00");
        assert_eq!(compact(s(&[0.0, 0.0, 4.0])), "0.00 (0.00–4.00)");
        assert_eq!(fmt_num(1_234_567.0), "1,234,567");
        assert_eq!(fmt_num(-1_234.0), "-1,234");
        assert_eq!(
            (fmt_num(123.4), fmt_num(12.34), fmt_num(1.234)),
            ("123".into(), "12.3".into(), "1.23".into())
        );
    }
}
