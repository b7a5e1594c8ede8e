//! Era purity: a legacy package's dependency tree holds no tokio 1, futures 0.3 or
//! mio ≥ 0.7; a modern one (and a `next` one, which builds on today's stack) holds no
//! tokio-core, futures 0.1, tokio 0.1 or mio 0.6. A `bridge` package is a step of a
//! migration: it may hold both eras, and then it must depend on the layer that joins
//! them, futures 0.3 with its `compat` feature. A late step that has ported the last
//! of the old stack (tcp-echo's step 4, whose last change is only the shape of its
//! runtime) has nothing left to join: without the compat layer, it is held to the
//! modern rule.
//!
//! A package's tree is the one `cargo build -p PACKAGE` builds: its own features, not
//! the workspace's. `cargo metadata` resolves features for every member at once, so a
//! bridge package turning on `futures/compat` would put futures 0.1 and tokio-io under
//! every modern package that uses futures 0.3, though building any of them alone
//! compiles neither.

use std::collections::BTreeSet;
use std::process::Stdio;

use anyhow::{bail, Context, Result};
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
        Flavor::Bridge if joins_the_eras(catalogue, package) => return Ok(Vec::new()),
        // No compat layer: nothing of the old stack may be left to join.
        Flavor::Bridge => MODERN_BANS,
    };
    let unjoined = match flavor {
        Flavor::Bridge => ", and no futures 0.3 with the `compat` feature to join it",
        _ => "",
    };
    let tree = package_tree(package)?;
    Ok(tree
        .iter()
        .flat_map(|(name, version)| {
            rules
                .iter()
                .filter(move |(n, bad, _)| n == name && bad(&Version::parse(version)))
                .map(move |(_, _, why)| format!("{name} {version} ({why}{unjoined})"))
        })
        .collect())
}

/// Name and version of every crate in `package`'s dependency tree (normal and build
/// dependencies, transitively), with the features `package` alone turns on: what
/// `cargo tree -p PACKAGE` shows.
pub fn package_tree(package: &str) -> Result<BTreeSet<(String, String)>> {
    let out = harness::cargo()
        .args(["tree", "--locked", "-p", package, "-e", "normal,build"])
        .args(["--prefix", "none", "--format", "{p}"])
        .stderr(Stdio::piped())
        .output()
        .context("cannot run cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree -p {package} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse_tree(&String::from_utf8_lossy(&out.stdout)))
}

/// The crates of `cargo tree --prefix none --format {p}` output, the root (first
/// line) left out: each line is `name vVERSION`, maybe followed by a path, `(*)` or
/// `(proc-macro)`.
fn parse_tree(text: &str) -> BTreeSet<(String, String)> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let version = words.next()?.strip_prefix('v')?;
            Some((name.to_string(), version.to_string()))
        })
        .collect()
}

/// Whether a bridge package declares `futures` 0.3 with the `compat` feature: the layer
/// that lets futures 0.1 and 0.3 code run on each other's executors. A bridge package
/// without it breaks the modern rule if anything of the old stack is left in its tree
/// (which then has no layer to reach it through).
fn joins_the_eras(catalogue: &Catalogue, package: &str) -> bool {
    catalogue.dependencies(package).into_iter().any(|d| {
        let version = d.resolved.as_deref().map(Version::parse);
        d.package == "futures"
            && version.is_some_and(|v| v >= Version(0, 3))
            && d.features.iter().any(|f| f == "compat")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_tree_lines_become_crates() {
        let text = "modern-x v0.1.0 (/w/modern/x)\nshared v0.1.0 (/w/shared)\n\
                    tokio v1.54.1\ntokio-macros v2.7.2 (proc-macro)\ntokio v1.54.1 (*)\n";
        let tree = parse_tree(text);
        let names: Vec<(&str, &str)> = tree.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        assert_eq!(
            names,
            [
                ("shared", "0.1.0"),
                ("tokio", "1.54.1"),
                ("tokio-macros", "2.7.2")
            ]
        );
    }

    #[test]
    fn a_package_tree_has_its_own_features_only() {
        // futures 0.3 with `compat` (a bridge package's) pulls futures 0.1 in;
        // modern-ident-service uses futures 0.3 without it.
        let tree = package_tree("modern-ident-service").unwrap();
        assert!(tree
            .iter()
            .any(|(n, v)| n == "futures" && v.starts_with("0.3")));
        assert!(
            !tree
                .iter()
                .any(|(n, v)| n == "futures" && v.starts_with("0.1")),
            "{tree:?}"
        );
    }

    #[test]
    fn a_bridge_without_the_compat_layer_is_held_to_the_modern_rule() {
        let catalogue = Catalogue::load().unwrap();
        assert!(joins_the_eras(&catalogue, "bridge-tcp-echo-step3"));
        // Step 4 ported the last of futures 0.1: no compat layer, and nothing old.
        assert!(!joins_the_eras(&catalogue, "bridge-tcp-echo-step4"));
        let step4 = violations(&catalogue, "bridge-tcp-echo-step4", Flavor::Bridge).unwrap();
        assert!(step4.is_empty(), "{step4:?}");
        // The old stack without the layer, as a bridge holding it would be, is caught.
        let old = violations(&catalogue, "legacy-tcp-echo", Flavor::Bridge).unwrap();
        assert!(
            old.iter()
                .any(|v| v.starts_with("tokio-core ") && v.contains("`compat` feature")),
            "{old:?}"
        );
    }

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
