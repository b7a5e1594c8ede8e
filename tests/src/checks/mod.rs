//! The checks of each program family. The family is what the program declares in its
//! own `Cargo.toml` (`[package.metadata.study] family = …`); the match below is
//! exhaustive, so a new family cannot land without checks.

pub mod common;
pub mod compile;
pub mod coop;
pub mod faults;
pub mod ident;
pub mod internals;
pub mod multisocket;
pub mod syscalls;
pub mod tcp_echo;
pub mod threads;
pub mod udp_echo;
pub mod waiters;

use harness::Family;

use crate::check::Check;

/// The checks every program of `family` gets.
pub fn for_family(family: Family) -> Vec<Check> {
    let checks: &[&[Check]] = match family {
        Family::UdpEcho => &[udp_echo::CHECKS, syscalls::CHECKS],
        Family::Multisocket => &[multisocket::CHECKS],
        Family::FutureNotify => &[internals::FUTURE_NOTIFY],
        Family::MioEmpty => &[internals::MIO_EMPTY],
        Family::MioMixed => &[internals::MIO_MIXED],
        Family::MioPipe => &[internals::MIO_PIPE],
        Family::TcpEcho => &[tcp_echo::CHECKS],
        Family::Ident => &[ident::CHECKS],
        Family::UdpWaiters => &[waiters::CHECKS],
        Family::CoopBudget => &[coop::CHECKS],
    };
    checks.concat()
}
