//! The flavors a program comes in. `legacy` and `modern` are the two eras every
//! program has; `bridge` (the steps of a migration, on the futures 0.3 compat layer)
//! and `next` (completion-based and batched I/O) exist where they teach.

use std::fmt;

/// The flavor of a package, from the prefix of its name (`legacy-echo-mpsc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Flavor {
    Legacy,
    Bridge,
    Modern,
    Next,
}

impl Flavor {
    /// In the order of the story: the old stack, the steps of the migration, today's
    /// stack, what comes next.
    pub const ALL: [Flavor; 4] = [Flavor::Legacy, Flavor::Bridge, Flavor::Modern, Flavor::Next];

    pub fn as_str(self) -> &'static str {
        match self {
            Flavor::Legacy => "legacy",
            Flavor::Bridge => "bridge",
            Flavor::Modern => "modern",
            Flavor::Next => "next",
        }
    }

    pub fn parse(s: &str) -> Option<Flavor> {
        Flavor::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The flavor and program name of a package name: `modern-echo-mpsc` →
    /// (modern, `echo-mpsc`); `None` for a package of no flavor (`shared`, `xtask`).
    pub fn of_package(package: &str) -> Option<(Flavor, &str)> {
        Flavor::ALL.into_iter().find_map(|f| {
            let name = package.strip_prefix(f.as_str())?.strip_prefix('-')?;
            (!name.is_empty()).then_some((f, name))
        })
    }
}

/// The label of a flavor run with `--threads n`: `modern×2`, `bridge-3×2`.
pub fn threads_label(label: &str, threads: u32) -> String {
    format!("{label}×{threads}")
}

/// A label without its threads, and the threads: `modern×2` → (`modern`, Some(2)),
/// `modern` → (`modern`, None).
pub fn split_threads(label: &str) -> (&str, Option<u32>) {
    match label.rsplit_once('×') {
        Some((base, n)) => match n.parse() {
            Ok(n) => (base, Some(n)),
            Err(_) => (label, None),
        },
        None => (label, None),
    }
}

/// Where a flavor label stands in the story: `legacy` < `bridge-1` < `bridge-2` <
/// `modern` < `next`, then anything else (`baseline`, `reference`); each flavor on one
/// thread before the same on several (`modern` < `modern×2` < `next`).
pub fn label_rank(label: &str) -> (u8, u32, u32) {
    let (label, threads) = split_threads(label);
    let (flavor, step) = label.split_once('-').unwrap_or((label, "0"));
    let rank = Flavor::parse(flavor).map_or(u8::MAX, |f| f as u8);
    (rank, step.parse().unwrap_or(0), threads.unwrap_or(0))
}

impl fmt::Display for Flavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavor_of_a_package_name() {
        assert_eq!(
            Flavor::of_package("legacy-echo-mpsc"),
            Some((Flavor::Legacy, "echo-mpsc"))
        );
        assert_eq!(
            Flavor::of_package("next-echo-uring"),
            Some((Flavor::Next, "echo-uring"))
        );
        assert_eq!(Flavor::of_package("modern-"), None);
        assert_eq!(Flavor::of_package("shared"), None);
        assert_eq!(Flavor::of_package("modernity"), None);
        for f in Flavor::ALL {
            assert_eq!(Flavor::parse(f.as_str()), Some(f));
        }
        let mut labels = vec![
            "next",
            "modern×2",
            "modern",
            "bridge-2",
            "legacy×2",
            "legacy",
            "bridge-1",
            "baseline",
            "next×2",
        ];
        labels.sort_by_key(|l| label_rank(l));
        assert_eq!(
            labels,
            [
                "legacy",
                "legacy×2",
                "bridge-1",
                "bridge-2",
                "modern",
                "modern×2",
                "next",
                "next×2",
                "baseline"
            ]
        );
        assert_eq!(split_threads("bridge-3×2"), ("bridge-3", Some(2)));
        assert_eq!(
            split_threads(&threads_label("modern", 4)),
            ("modern", Some(4))
        );
        assert_eq!(split_threads("modern"), ("modern", None));
    }
}
