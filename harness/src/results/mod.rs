//! The one format of every measured result: typed records that the producers
//! (`cargo xtask conformance`, `trace`, `bench`, `bench --soak`, `bench --scaling`)
//! write and the study only reads.
//!
//! Each kind of result is one file under `target/results/` (`conformance.json`,
//! `trace.json`, `bench.json`): a [`File`] with a format version and its records, each
//! record carrying the [`Run`] that made it. A run merges its records into the file
//! (a record of the same key is replaced; the others stay, with their own runs), so a
//! narrow run — one program, one flavor — never loses what a wider one measured.
//! Producer and renderer share these types: a figure renamed in one is renamed in
//! the other, by the compiler.

pub mod bench;
pub mod conformance;
pub mod profile;
pub mod run;
pub mod scaling;
pub mod soak;
pub mod stat;
pub mod trace;

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

pub use run::{Machine, Run};
pub use stat::Stat;

/// A kind of result: its file name, its format's version, and the key under which a
/// newer record replaces an older one.
pub trait Kind: Serialize + DeserializeOwned + Clone {
    /// `bench`, `trace`, `conformance`: the file is `NAME.json`.
    const NAME: &'static str;
    /// A file of another version is not read (the tools say so, to measure again):
    /// raise it when a change would misread older files.
    const VERSION: u32 = 1;
    /// Records of equal keys are measurements of the same thing.
    fn key(&self) -> String;
}

/// A record and the run that made it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record<R> {
    pub run: Run,
    #[serde(flatten)]
    pub data: R,
}

/// One results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct File<R> {
    pub version: u32,
    pub records: Vec<Record<R>>,
}

impl<R: Kind> Default for File<R> {
    fn default() -> Self {
        File {
            version: R::VERSION,
            records: Vec::new(),
        }
    }
}

/// Where the results are kept by default: `target/results/`.
pub fn default_dir() -> PathBuf {
    crate::project_root().join("target").join("results")
}

/// The file of kind `R` in `dir`.
pub fn path<R: Kind>(dir: &Path) -> PathBuf {
    dir.join(format!("{}.json", R::NAME))
}

impl<R: Kind> File<R> {
    /// The file of kind `R` in `dir`: empty when there is none yet; an error when it
    /// cannot be read or is of another version (with what to do about it).
    pub fn load(dir: &Path) -> Result<File<R>> {
        let path = path::<R>(dir);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(File::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let version: Versioned = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a results file", path.display()))?;
        if version.version != R::VERSION {
            bail!(
                "{} is of format version {}, this tool reads version {}: delete it and \
                 measure again",
                path.display(),
                version.version,
                R::VERSION
            );
        }
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{} does not read as {} results of version {}",
                path.display(),
                R::NAME,
                R::VERSION
            )
        })
    }

    /// Adds `records`, made by `run`, replacing the records of the same keys.
    pub fn merge(&mut self, run: &Run, records: Vec<R>) {
        for data in records {
            let key = data.key();
            self.records.retain(|r| r.data.key() != key);
            self.records.push(Record {
                run: run.clone(),
                data,
            });
        }
    }

    /// Writes the file into `dir` (made if needed), whole, through a temporary file,
    /// so that a reader never sees half of it.
    pub fn save(&self, dir: &Path) -> Result<PathBuf> {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let path = path::<R>(dir);
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_string_pretty(self)? + "\n")
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Merges `records` of `run` into the file in `dir` and saves it.
    pub fn merge_into(dir: &Path, run: &Run, records: Vec<R>) -> Result<PathBuf> {
        let mut file = File::<R>::load(dir)?;
        file.merge(run, records);
        file.save(dir)
    }

    /// The records' data, in file order.
    pub fn data(&self) -> impl Iterator<Item = &R> {
        self.records.iter().map(|r| &r.data)
    }

    /// The record of `key`, if any.
    pub fn get(&self, key: &str) -> Option<&Record<R>> {
        self.records.iter().find(|r| r.data.key() == key)
    }
}

/// Just the version of a results file, read before the rest.
#[derive(Deserialize)]
struct Versioned {
    version: u32,
}

#[cfg(test)]
mod tests;
