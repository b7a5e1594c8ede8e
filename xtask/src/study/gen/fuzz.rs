//! The fuzzing table of the book (`gen/fuzz.md`): each target's long run and every
//! finding, from the records `fuzz::runs` reads out of libFuzzer's logs.

use std::fmt::Write as _;

use fuzz::runs::{self, Finding};
use harness::project_root;

use super::part::{Ctx, Part};

pub fn part(_: &Ctx) -> Part {
    match markdown() {
        Ok(md) => Part::new("fuzz.md", md),
        Err(e) => Part::missing("fuzz.md", "The fuzzing runs", &e, ""),
    }
}

/// `12345678` → `12,345,678`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// `1800` → `30 min 0 s`.
fn duration(seconds: Option<u64>) -> String {
    match seconds {
        Some(s) if s >= 60 => format!("{} min {} s", s / 60, s % 60),
        Some(s) => format!("{s} s"),
        None => "—".to_string(),
    }
}

/// `text` as code in a table cell: HTML, so that the backticks of a panic message
/// stay text, with no `|` (a cell's end) or line end of its own.
fn code(text: &str) -> String {
    let text = crate::doc::escape(text).replace('|', "&#124;");
    format!("<code>{}</code>", text.replace(['\n', '\r'], " "))
}

/// The table of the runs (one row per target: its long run, and its findings), then
/// the findings, one row each.
fn markdown() -> Result<String, String> {
    let logs = runs::logs(&project_root())?;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| target | executions | run time | edges (cov) | features (ft) | corpus at the end | findings | command |"
    );
    let _ = writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
    );
    for log in &logs {
        let Some(run) = log.last() else { continue };
        let corpus = run
            .corpus
            .as_ref()
            .map_or("—".to_string(), |(units, size)| {
                format!("{units} inputs, {size}")
            });
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            log.target,
            thousands(run.executions),
            duration(run.seconds),
            match run.instrumented {
                Some(all) => format!("{} of {}", thousands(run.edges), thousands(all)),
                None => thousands(run.edges),
            },
            thousands(run.features),
            corpus,
            log.findings().count(),
            code(&run.command),
        );
    }
    let findings: Vec<(&str, &Finding)> = logs
        .iter()
        .flat_map(|log| log.findings().map(|f| (log.target.as_str(), f)))
        .collect();
    let _ = writeln!(out);
    if findings.is_empty() {
        let _ = writeln!(out, "No run ended on a finding.");
    } else {
        let _ = writeln!(out, "| target | libFuzzer reported | the failed property |");
        let _ = writeln!(out, "| --- | --- | --- |");
        for (target, f) in findings {
            let _ = writeln!(out, "| `{target}` | {} | {} |", f.kind, code(&f.panic));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_and_code_stays_in_its_cell() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(10_000_000), "10,000,000");
        assert_eq!(duration(Some(1801)), "30 min 1 s");
        assert_eq!(duration(Some(59)), "59 s");
        assert_eq!(
            code("`a` | <b> & c\n"),
            "<code>`a` &#124; &lt;b&gt; &amp; c </code>"
        );
        let md = markdown().unwrap();
        assert!(md.contains("| `sock_diag` |"), "{md}");
    }
}
