//! Which crates are the legacy stack, and where their sources are: found through
//! `cargo metadata` of this workspace (the registry sources cargo fetched for the
//! legacy programs), never through a path of one machine.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The crates of the legacy stack the map covers: package, the version the workspace
/// resolves (its first digits), and the name code of the time wrote in `use` paths.
pub const LEGACY: &[(&str, &str, &str)] = &[
    ("futures", "0.1.", "futures"),
    ("tokio-io", "0.1.", "tokio_io"),
    ("tokio-core", "0.1.", "tokio_core"),
    ("futures-cpupool", "0.1.", "futures_cpupool"),
    ("tokio-signal", "0.1.", "tokio_signal"),
    ("tokio-timer", "0.2.", "tokio_timer"),
    ("mio", "0.6.", "mio"),
    ("tokio-proto", "0.1.", "tokio_proto"),
    ("tokio-service", "0.1.", "tokio_service"),
];

/// One legacy crate as cargo resolved it.
#[derive(Debug, Clone)]
pub struct LegacyCrate {
    pub package: String,
    pub version: String,
    /// The name in paths: `tokio_core`.
    pub name: String,
    /// Its `src/lib.rs`.
    pub root: PathBuf,
    /// The features cargo enabled for it in this workspace.
    pub features: BTreeSet<String>,
}

/// The legacy crates of the workspace's `cargo metadata`; every crate of [`LEGACY`]
/// must be there.
pub fn locate() -> Result<Vec<LegacyCrate>> {
    let out = harness::cargo()
        .args(["metadata", "--format-version", "1", "--locked"])
        .output()
        .context("cannot run cargo metadata")?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let json: Value = serde_json::from_slice(&out.stdout).context("cargo metadata output")?;
    LEGACY
        .iter()
        .map(|&(package, version, name)| find(&json, package, version, name))
        .collect()
}

fn find(json: &Value, package: &str, version: &str, name: &str) -> Result<LegacyCrate> {
    let packages = json["packages"].as_array().into_iter().flatten();
    let Some(p) = packages.filter(|p| p["name"] == package).find(|p| {
        p["version"]
            .as_str()
            .is_some_and(|v| v.starts_with(version))
    }) else {
        bail!("{package} {version}x is not in the workspace's dependency graph");
    };
    let lib = p["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| {
            t["kind"]
                .as_array()
                .is_some_and(|k| k.iter().any(|k| k == "lib"))
        })
        .with_context(|| format!("{package} has no library target"))?;
    let features = json["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["id"] == p["id"])
        .and_then(|n| n["features"].as_array())
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(str::to_owned))
        .collect();
    Ok(LegacyCrate {
        package: package.to_owned(),
        version: p["version"].as_str().unwrap_or_default().to_owned(),
        name: name.to_owned(),
        root: PathBuf::from(lib["src_path"].as_str().unwrap_or_default()),
        features,
    })
}
