//! `cargo xtask`: the workspace's own tooling (matklad's convention: a plain binary
//! in the workspace, run through a cargo alias; one module per subcommand).

mod args;
mod bench;
mod conformance;
mod diff;
mod doc;
mod scan;
mod study;
mod trace;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "cargo xtask",
    about = "Tooling of the async I/O, then and now workspace"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the programs and run the conformance suite: the program × flavor matrix.
    Conformance(conformance::Args),
    /// The migration diff of one pair (dependencies and sources); --stat: a table of all pairs.
    Diff(diff::Args),
    /// Run a pair under strace with a fixed workload: system calls per unit of work.
    Trace(trace::Args),
    /// The study as a book: the chapters of book/, every figure and table generated
    /// from the results, a page per program; measures what is missing first.
    Study(study::Args),
    /// Legacy against modern on loopback: throughput, CPU per echo, RTT, ratios; the records kept for the book.
    Bench(bench::Args),
    /// Every use of a legacy item in the Rust files under PATH, with its modern equivalent.
    Scan(scan::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Conformance(args) => conformance::main(args),
        Command::Diff(args) => diff::main(args),
        Command::Trace(args) => trace::main(args),
        Command::Study(args) => study::main(args),
        Command::Bench(args) => bench::main(args),
        Command::Scan(args) => scan::main(args),
    };
    match result {
        Ok(code) => std::process::exit(code),
        // What was asked for makes no sense: status 2, as clap gives for bad options.
        Err(e) if e.downcast_ref::<harness::UsageError>().is_some() => {
            eprintln!("error: {e:#}\n(try `cargo xtask --help`)");
            std::process::exit(2);
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::exit(1);
        }
    }
}
