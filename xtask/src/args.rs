//! Arguments several subcommands share, defined once.

use clap::ValueEnum;
use harness::Flavor;

/// `--format`: a table for people, JSON for scripts.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum Format {
    Table,
    Json,
}

/// `--flavor`: one flavor of the programs.
#[derive(Clone, Copy, ValueEnum, PartialEq, Eq, Debug)]
pub enum FlavorArg {
    Legacy,
    Bridge,
    Modern,
    Next,
}

impl From<FlavorArg> for Flavor {
    fn from(f: FlavorArg) -> Flavor {
        match f {
            FlavorArg::Legacy => Flavor::Legacy,
            FlavorArg::Bridge => Flavor::Bridge,
            FlavorArg::Modern => Flavor::Modern,
            FlavorArg::Next => Flavor::Next,
        }
    }
}

/// The flavors a `--flavor` option selects: the one given, or every flavor.
pub fn flavors(arg: Option<FlavorArg>) -> Vec<Flavor> {
    match arg {
        Some(f) => vec![f.into()],
        None => Flavor::ALL.to_vec(),
    }
}
