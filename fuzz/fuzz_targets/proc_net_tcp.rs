//! Fuzz target `proc_net_tcp`: the text of /proc/net/tcp and /proc/net/tcp6. The properties are `fuzz::proc_net_tcp::check`.
//!
//! `cargo +nightly fuzz run proc_net_tcp` fuzzes it (libFuzzer). Built without libFuzzer
//! (stable), it replays the files named on its command line through the same check.

#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::proc_net_tcp::check(data));

#[cfg(not(fuzzing))]
fn main() {
    fuzz::replay_main(fuzz::proc_net_tcp::check);
}
