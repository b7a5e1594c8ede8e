//! Fuzz target `event_line`: a line of a program's stdout (the event grammar). The properties are `fuzz::event_line::check`.
//!
//! `cargo +nightly fuzz run event_line` fuzzes it (libFuzzer). Built without libFuzzer
//! (stable), it replays the files named on its command line through the same check.

#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::event_line::check(data));

#[cfg(not(fuzzing))]
fn main() {
    fuzz::replay_main(fuzz::event_line::check);
}
