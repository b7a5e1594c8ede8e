//! Fuzz target `ident_query`: one ident query line. The properties are `fuzz::ident_query::check`.
//!
//! `cargo +nightly fuzz run ident_query` fuzzes it (libFuzzer). Built without libFuzzer
//! (stable), it replays the files named on its command line through the same check.

#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::ident_query::check(data));

#[cfg(not(fuzzing))]
fn main() {
    fuzz::replay_main(fuzz::ident_query::check);
}
