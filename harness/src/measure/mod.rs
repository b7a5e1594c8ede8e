//! What the bench measures a running server with: its CPU time and memory from
//! `/proc`, where it and the load run (CPU affinity), and the server itself, started,
//! probed and stopped; its UDP sockets' queues and drops; its memory over a soak; its
//! figures against the threads it runs on; where its CPU goes (perf's samples, in
//! buckets).

pub mod affinity;
pub mod cpu;
pub mod perf;
pub mod scaling;
pub mod server;
pub mod soak;
pub mod udp_table;
