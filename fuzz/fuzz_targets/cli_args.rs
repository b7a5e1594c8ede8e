//! Fuzz target `cli_args`: a command line, for every program family. The properties are `fuzz::cli_args::check`.
//!
//! `cargo +nightly fuzz run cli_args` fuzzes it (libFuzzer). Built without libFuzzer
//! (stable), it replays the files named on its command line through the same check.

#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::cli_args::check(data));

#[cfg(not(fuzzing))]
fn main() {
    fuzz::replay_main(fuzz::cli_args::check);
}
