//! Building program binaries with the `cargo` that runs us: once for all the packages
//! asked for, and, if that fails, one package at a time, so that one package that does
//! not build names itself and does not stop the others from being checked or measured.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::process::Stdio;
use std::str::FromStr;

use anyhow::{bail, Context, Result};
use serde_json::Value;

use crate::workspace::cargo;

/// The cargo profile to build with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// What `cargo test` builds anyway: checking behaviour.
    Dev,
    /// What is measured and traced.
    Release,
}

impl Profile {
    pub fn as_str(self) -> &'static str {
        match self {
            Profile::Dev => "dev",
            Profile::Release => "release",
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Profile, String> {
        match s {
            "dev" | "debug" => Ok(Profile::Dev),
            "release" => Ok(Profile::Release),
            _ => Err(format!("unknown profile {s:?}: dev or release")),
        }
    }
}

/// What a build produced: binary name → path, and the packages that did not build,
/// with cargo's reason.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub exes: BTreeMap<String, PathBuf>,
    pub failed: BTreeMap<String, String>,
}

impl Built {
    /// The binary of `name` (a program's binary is named as its package), or why
    /// there is none.
    pub fn exe(&self, name: &str) -> Result<&PathBuf> {
        if let Some(why) = self.failed.get(name) {
            bail!("{name} does not build: {why}");
        }
        self.exes
            .get(name)
            .with_context(|| format!("no binary named {name} was built"))
    }
}

/// Builds the binaries of `packages` with `profile`.
pub fn build(packages: &[&str], profile: Profile) -> Result<Built> {
    let mut built = Built::default();
    if packages.is_empty() {
        return Ok(built);
    }
    if let Ok(exes) = build_once(packages, profile) {
        built.exes = exes;
        return Ok(built);
    }
    // Something does not build: find out which, one package at a time.
    for p in packages {
        match build_once(&[p], profile) {
            Ok(exes) => built.exes.extend(exes),
            Err(e) => {
                built.failed.insert(p.to_string(), format!("{e:#}"));
            }
        }
    }
    Ok(built)
}

fn build_once(packages: &[&str], profile: Profile) -> Result<BTreeMap<String, PathBuf>> {
    let mut cmd = cargo();
    cmd.args(["build", "--quiet", "--profile", profile.as_str()])
        .args(["--message-format=json-render-diagnostics", "--bins"]);
    for p in packages {
        cmd.args(["-p", p]);
    }
    let out = cmd
        .stderr(Stdio::inherit())
        .output()
        .context("cannot run cargo build")?;
    if !out.status.success() {
        bail!("cargo build --profile {profile} failed");
    }
    Ok(executables(&out.stdout))
}

/// Binary name → path, from cargo's JSON messages.
fn executables(messages: &[u8]) -> BTreeMap<String, PathBuf> {
    let mut exes = BTreeMap::new();
    for line in messages.split(|b| *b == b'\n') {
        let Ok(msg) = serde_json::from_slice::<Value>(line) else {
            continue;
        };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        if let (Some(name), Some(exe)) =
            (msg["target"]["name"].as_str(), msg["executable"].as_str())
        {
            exes.insert(name.to_string(), PathBuf::from(exe));
        }
    }
    exes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_from_cargo_messages() {
        let msgs = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"shared"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"modern-echo-mpsc"},"executable":"/t/modern-echo-mpsc"}"#,
            "\nnot json\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        let exes = executables(msgs.as_bytes());
        assert_eq!(exes.len(), 1);
        assert_eq!(
            exes["modern-echo-mpsc"],
            PathBuf::from("/t/modern-echo-mpsc")
        );
        let built = Built {
            exes,
            failed: [("legacy-x".to_string(), "E0425".to_string())].into(),
        };
        assert!(built
            .exe("legacy-x")
            .unwrap_err()
            .to_string()
            .contains("does not build"));
        assert!(built.exe("modern-y").is_err());
        assert_eq!("release".parse::<Profile>(), Ok(Profile::Release));
        assert!("fast".parse::<Profile>().is_err());
    }
}
