//! How much of the legacy stack the map covers: per crate and per group (a module, or
//! a trait for its methods), the public items found, mapped, left out on purpose,
//! and not mapped.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::legacy::Model;
use crate::map::ApiMap;

/// The groups the map must cover at 95 % at least: tokio-core's `net` and `reactor`,
/// tokio-io's `io` and `codec`, and futures' `Future`, `Stream` and `Sink` with the
/// `future`, `stream` and `sync::mpsc` modules (a group counts with its sub-groups).
pub const REQUIRED: &[&str] = &[
    "tokio_core::net",
    "tokio_core::reactor",
    "tokio_io::io",
    "tokio_io::codec",
    "futures::future",
    "futures::stream",
    "futures::sink::Sink",
    "futures::sync::mpsc",
];

/// The counts of one group.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Counts {
    pub found: usize,
    pub mapped: usize,
    pub left_out: usize,
    /// Neither mapped nor left out on purpose.
    pub unmapped: Vec<String>,
}

impl Counts {
    /// Mapped items over items found.
    pub fn ratio(&self) -> f64 {
        if self.found == 0 {
            1.0
        } else {
            self.mapped as f64 / self.found as f64
        }
    }

    fn add(&mut self, other: &Counts) {
        self.found += other.found;
        self.mapped += other.mapped;
        self.left_out += other.left_out;
        self.unmapped.extend(other.unmapped.iter().cloned());
    }
}

/// The coverage of the whole legacy stack.
#[derive(Debug, Serialize)]
pub struct Coverage {
    /// (package, group) → counts.
    pub groups: BTreeMap<(String, String), Counts>,
}

impl Coverage {
    pub fn compute(model: &Model, map: &ApiMap) -> Coverage {
        let mut groups: BTreeMap<(String, String), Counts> = BTreeMap::new();
        for item in &model.items {
            let counts = groups
                .entry((item.package.clone(), item.group.clone()))
                .or_default();
            counts.found += 1;
            if map.row(&item.path).is_some() {
                counts.mapped += 1;
            } else if map.left_out(&item.path).is_some() {
                counts.left_out += 1;
            } else {
                counts.unmapped.push(item.path.clone());
            }
        }
        Coverage { groups }
    }

    /// The counts of a group and its sub-groups.
    pub fn under(&self, prefix: &str) -> Counts {
        let mut total = Counts::default();
        for ((_, group), counts) in &self.groups {
            if group == prefix || group.starts_with(&format!("{prefix}::")) {
                total.add(counts);
            }
        }
        total
    }

    /// The counts of a package.
    pub fn package(&self, package: &str) -> Counts {
        let mut total = Counts::default();
        for ((p, _), counts) in &self.groups {
            if p == package {
                total.add(counts);
            }
        }
        total
    }
}
