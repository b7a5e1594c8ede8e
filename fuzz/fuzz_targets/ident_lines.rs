//! Fuzz target `ident_lines`: the byte stream of an ident connection, cut into reads. The properties are `fuzz::ident_lines::check`.
//!
//! `cargo +nightly fuzz run ident_lines` fuzzes it (libFuzzer). Built without libFuzzer
//! (stable), it replays the files named on its command line through the same check.

#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::ident_lines::check(data));

#[cfg(not(fuzzing))]
fn main() {
    fuzz::replay_main(fuzz::ident_lines::check);
}
