//! The API map: how each public item of the legacy async stack (tokio-core 0.1,
//! tokio-io 0.1, futures 0.1, futures-cpupool, tokio-signal 0.1, tokio-timer 0.2,
//! mio 0.6, tokio-proto/tokio-service) maps to tokio 1, futures 0.3, tokio-util or
//! std; the enumeration of those items from the crates' own sources; and the
//! scanner behind `cargo xtask scan`.

mod cfg;
pub mod coverage;
pub mod legacy;
pub mod map;

pub use coverage::Coverage;
pub use map::{ApiMap, Change, Row};
pub mod markdown;
pub mod scan;

pub use markdown::{markdown, scan_echo_mpsc};
