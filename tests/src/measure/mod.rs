//! What the suite measures of the readiness programs and of the multi-socket
//! programs, written once: the checks judge these figures against what each program
//! declares, and the bench records them, in rounds, for the book.

pub mod coop;
pub mod polls;
pub mod waiters;
