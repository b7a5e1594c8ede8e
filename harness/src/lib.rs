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
//! instead of skipping it silently. Nothing here, nor in any tool, lists programs by
//! hand: copying a pair under a new name and renaming its packages is enough for it to
//! be checked, traced, measured and studied.

pub mod build;
pub mod catalogue;
pub mod declared;
pub mod family;
pub mod flavor;
pub mod needs;
pub mod process;
pub mod strace;
pub mod traced;
pub mod workspace;

pub use build::{build, Built, Profile};
pub use catalogue::{Catalogue, Program, UsageError};
pub use declared::{Declared, Need, Polls};
pub use family::{Chapter, Family};
pub use flavor::Flavor;
pub use process::Running;
pub use workspace::{cargo, project_root};
