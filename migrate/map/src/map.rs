//! The map as data: `api-map.toml`, read into typed rows. One row per legacy public
//! item: its modern equivalent, the kind of change, the checklist step it belongs to,
//! a legacy and a modern snippet (compiled by api-map-legacy and api-map-modern),
//! and where one exists, the line of a program of this workspace that shows it.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// The TOML, as built into this crate.
pub const SOURCE: &str = include_str!("../api-map.toml");

/// The whole map.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ApiMap {
    /// The steps of the migration checklist, in order.
    pub step: Vec<Step>,
    pub row: Vec<Row>,
    /// Items (or whole modules) left out on purpose, each with its reason.
    #[serde(default)]
    pub left_out: Vec<LeftOut>,
}

/// One step of the migration checklist.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Short and stable: rows name it.
    pub key: String,
    /// Where it falls: "before step 1", "step 1", …
    pub phase: String,
    pub title: String,
    /// The numbers of the checklist's items it covers.
    pub checklist: Vec<u32>,
}

/// One legacy item and its modern equivalent.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The legacy item's canonical path (as the enumeration names it).
    pub item: String,
    /// What replaces it: a path, or a short phrase where no one item does.
    pub modern: String,
    pub change: Change,
    /// The key of its checklist step.
    pub step: String,
    /// What to know beyond the name: a changed argument, a trap.
    #[serde(default)]
    pub note: Option<String>,
    pub legacy_code: String,
    pub modern_code: String,
    /// A line of a program of this workspace that shows the item or its equivalent.
    #[serde(default)]
    pub shown_in: Option<Shown>,
}

/// The kind of change from the legacy item to its equivalent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The same name and use.
    Same,
    /// The same thing under another name or path.
    Rename,
    /// The same role with other arguments, types or receiver.
    Signature,
    /// A combinator or a blocking wait that becomes `.await` in an async block.
    Await,
    /// A recursion of futures or a `for_each` that becomes a `loop`/`while let`.
    Loop,
    /// No equivalent: the note says why and the modern snippet what takes its place.
    Gone,
}

impl Change {
    pub fn label(self) -> &'static str {
        match self {
            Change::Same => "same",
            Change::Rename => "rename",
            Change::Signature => "signature",
            Change::Await => "becomes `.await`",
            Change::Loop => "becomes a loop",
            Change::Gone => "gone",
        }
    }
}

/// A line that shows a row's item: the first line of `file` (from the workspace
/// root) containing `pattern`; a test keeps it there.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Shown {
    pub file: String,
    pub pattern: String,
}

/// What the map leaves out on purpose: one item, or every item under a path.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LeftOut {
    /// An item's path, or a module's or type's path with `::*`.
    pub item: String,
    pub reason: String,
}

impl LeftOut {
    /// Whether this entry leaves out the item at `path`.
    pub fn covers(&self, path: &str) -> bool {
        match self.item.strip_suffix("::*") {
            Some(prefix) => path
                .strip_prefix(prefix)
                .is_some_and(|r| r.starts_with("::")),
            None => self.item == path,
        }
    }
}

impl ApiMap {
    /// The map built into this crate.
    pub fn load() -> Result<ApiMap> {
        ApiMap::parse(SOURCE)
    }

    /// Parses and checks a map: unique items, steps that exist.
    pub fn parse(text: &str) -> Result<ApiMap> {
        let map: ApiMap = toml::from_str(text).context("api-map.toml")?;
        let mut seen = BTreeMap::new();
        for row in &map.row {
            if seen.insert(row.item.as_str(), ()).is_some() {
                bail!("api-map.toml: {} has two rows", row.item);
            }
            if map.step(&row.step).is_none() {
                bail!("api-map.toml: {}: no step {:?}", row.item, row.step);
            }
        }
        Ok(map)
    }

    pub fn step(&self, key: &str) -> Option<&Step> {
        self.step.iter().find(|s| s.key == key)
    }

    /// The row of an item.
    pub fn row(&self, item: &str) -> Option<&Row> {
        self.row.iter().find(|r| r.item == item)
    }

    /// The entry that leaves an item out, if one does.
    pub fn left_out(&self, item: &str) -> Option<&LeftOut> {
        self.left_out.iter().find(|l| l.covers(item))
    }
}

/// The anchor of a row in the book, stable as long as its item's path is.
pub fn anchor(item: &str) -> String {
    format!("row-{}", item.replace("::", "-"))
}
