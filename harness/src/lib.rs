//! The tooling's one model of a program, used by the conformance suite and by every
//! `cargo xtask` subcommand.
//!
//! A program says what it is once, in its own `Cargo.toml`:
//!
//! ```toml
//! [package.metadata.study]
//! family = "udp-echo"
//! ```
//!
//! [`Catalogue::load`] reads that from `cargo metadata` for every package whose name
//! starts with a [`Flavor`] (`legacy-`, `modern-`, `bridge-`, `next-`). A program whose
//! family is missing or unknown is kept in the catalogue with the reason
//! ([`Program::family`] is an `Err`), so that every tool can name it and refuse it
//! instead of skipping it silently. A server that takes `--threads N` declares how it
//! runs on several cores (`across-cores`, see [`declared::AcrossCores`]);
//! [`Program::on_threads`] gives it as a row on threads runs it ([`OnThreads`]: its
//! options and flavor label, `modern×2`, which [`flavor::split_threads`] reads back). Nothing here, nor in any tool, lists programs by
//! hand: copying a pair under a new name and renaming its packages is enough for it to
//! be checked, traced, measured and studied.

pub mod build;
pub mod catalogue;
pub mod declared;
pub mod diff;
pub mod doc;
pub mod family;
pub mod flavor;
pub mod load;
pub mod measure;
pub mod needs;
pub mod pairs;
pub mod process;
pub mod results;
pub mod strace;
pub mod table;
pub mod traced;
pub mod workspace;

pub use build::{build, Built, Profile};
pub use catalogue::{Catalogue, OnThreads, Program, UsageError};
pub use declared::{AcrossCores, Declared, Need, Polls};
pub use family::{Chapter, Family};
pub use flavor::Flavor;
pub use process::Running;
pub use table::{note, table};
pub use workspace::{cargo, project_root};
