//! What the bench measures a running server with: its CPU time and memory from
//! `/proc`, where it and the load run (CPU affinity), and the server itself, started,
//! probed and stopped.

pub mod affinity;
pub mod cpu;
pub mod server;
