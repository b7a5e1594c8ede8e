//! The checks of each program family. A family is recognised by the program name;
//! a program of no known family gets a failing row, so that a new program cannot
//! land without checks.

pub mod common;
pub mod ident;
pub mod internals;
pub mod multisocket;
pub mod tcp_echo;
pub mod udp_echo;

use crate::check::Check;

/// The checks for `program`, or `None` if the suite does not know its family yet.
pub fn for_program(program: &str) -> Option<&'static [Check]> {
    if program.starts_with("echo-") {
        Some(udp_echo::CHECKS)
    } else if program == "tcp-echo" || program == "tcp-echo-mio" {
        Some(tcp_echo::CHECKS)
    } else if program.starts_with("ident-") {
        Some(ident::CHECKS)
    } else if program == "multisocket-join" {
        Some(multisocket::JOIN_CHECKS)
    } else if program.starts_with("multisocket-") {
        Some(multisocket::CHECKS)
    } else if program == "future-notify" {
        Some(internals::FUTURE_NOTIFY)
    } else if program == "mio-empty" {
        Some(internals::MIO_EMPTY)
    } else if program == "mio-mixed" {
        Some(internals::MIO_MIXED)
    } else if program == "mio-pipe" {
        Some(internals::MIO_PIPE)
    } else {
        None
    }
}
