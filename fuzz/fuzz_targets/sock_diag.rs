//! Fuzz target `sock_diag`: a datagram of a NETLINK_SOCK_DIAG answer. The properties are `fuzz::sock_diag::check`.
//!
//! `cargo +nightly fuzz run sock_diag` fuzzes it (libFuzzer). Built without libFuzzer
//! (stable), it replays the files named on its command line through the same check.

#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz::sock_diag::check(data));

#[cfg(not(fuzzing))]
fn main() {
    fuzz::replay_main(fuzz::sock_diag::check);
}
