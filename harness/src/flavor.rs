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
    }
}
