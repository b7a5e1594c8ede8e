//! Era purity: a legacy package's dependency tree holds no tokio 1, futures 0.3 or
//! mio ≥ 0.7; a modern one (and a `next` one, which builds on today's stack) holds no
//! tokio-core, futures 0.1, tokio 0.1 or mio 0.6. A `bridge` package is a step of a
//! migration: it may hold both eras, and it must depend on the layer that joins them,
//! futures 0.3 with its `compat` feature.

use anyhow::Result;
use harness::{Catalogue, Flavor};

/// Crates and version ranges an era must not contain: (crate, predicate, why).
type Rule = (&'static str, fn(&Version) -> bool, &'static str);

/// `major.minor` of a semver string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u64, pub u64);

impl Version {
    pub fn parse(s: &str) -> Version {
        let mut it = s.split(['.', '-', '+']).map(|p| p.parse().unwrap_or(0));
        Version(it.next().unwrap_or(0), it.next().unwrap_or(0))
    }
}

const LEGACY_BANS: &[Rule] = &[
    ("tokio", |v| v.0 >= 1, "tokio 1"),
    ("futures", |v| *v >= Version(0, 2), "futures 0.3"),
    ("futures-util", |v| *v >= Version(0, 2), "futures 0.3"),
    ("futures-core", |v| *v >= Version(0, 2), "futures 0.3"),
    ("mio", |v| *v >= Version(0, 7), "mio ≥ 0.7"),
];

const MODERN_BANS: &[Rule] = &[
    ("tokio-core", |_| true, "tokio-core"),
    ("futures", |v| *v < Version(0, 2), "futures 0.1"),
    ("tokio", |v| v.0 == 0, "tokio 0.x"),
    ("mio", |v| *v < Version(0, 7), "mio 0.6"),
    ("tokio-proto", |_| true, "tokio-proto"),
    ("tokio-service", |_| true, "tokio-service"),
];

/// What breaks `package`'s era rule, as `name version (why)`.
pub fn violations(catalogue: &Catalogue, package: &str, flavor: Flavor) -> Result<Vec<String>> {
    let rules = match flavor {
        Flavor::Legacy => LEGACY_BANS,
        Flavor::Modern | Flavor::Next => MODERN_BANS,
        Flavor::Bridge => return Ok(bridge_violations(catalogue, package)),
    };
    let tree = catalogue.dependency_tree(package)?;
    Ok(tree
        .iter()
        .flat_map(|(name, version)| {
            rules
                .iter()
                .filter(move |(n, bad, _)| n == name && bad(&Version::parse(version)))
                .map(move |(_, _, why)| format!("{name} {version} ({why})"))
        })
        .collect())
}

/// A bridge package must declare `futures` 0.3 with the `compat` feature: the layer
/// that lets futures 0.1 and 0.3 code run on each other's executors.
fn bridge_violations(catalogue: &Catalogue, package: &str) -> Vec<String> {
    let declared = catalogue.json["packages"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == package)
        .and_then(|p| p["dependencies"].as_array())
        .into_iter()
        .flatten()
        .any(|d| {
            let req = d["req"]
                .as_str()
                .unwrap_or_default()
                .trim_start_matches(['^', '=']);
            let compat = d["features"].as_array().into_iter().flatten();
            d["name"] == "futures"
                && Version::parse(req) >= Version(0, 3)
                && compat.clone().any(|f| f == "compat")
        });
    match declared {
        true => Vec::new(),
        false => vec![
            "no futures 0.3 with the `compat` feature (a bridge step runs on the \
                       compat layer)"
                .to_string(),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_catch_each_era_mixing() {
        let hits = |rules: &[Rule], name: &str, v: &str| {
            rules
                .iter()
                .any(|(n, bad, _)| *n == name && bad(&Version::parse(v)))
        };
        assert!(hits(LEGACY_BANS, "tokio", "1.48.0"));
        assert!(
            !hits(LEGACY_BANS, "tokio", "0.1.22"),
            "tokio-core 0.1.18 sits on tokio 0.1"
        );
        assert!(hits(LEGACY_BANS, "futures", "0.3.31"));
        assert!(!hits(LEGACY_BANS, "futures", "0.1.31"));
        assert!(hits(LEGACY_BANS, "mio", "0.8.11"));
        assert!(hits(LEGACY_BANS, "mio", "1.0.0"));
        assert!(!hits(LEGACY_BANS, "mio", "0.6.23"));
        assert!(hits(MODERN_BANS, "tokio-core", "0.1.18"));
        assert!(hits(MODERN_BANS, "futures", "0.1.31"));
        assert!(hits(MODERN_BANS, "tokio", "0.1.22"));
        assert!(!hits(MODERN_BANS, "tokio", "1.48.0"));
        assert!(hits(MODERN_BANS, "mio", "0.6.23"));
        assert!(!hits(MODERN_BANS, "mio", "0.8.11"));
    }
}
