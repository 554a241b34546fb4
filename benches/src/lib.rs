//! The operations the benchmarks measure, shared by the criterion benches (time) and the
//! `report` binary (allocations), so both measure exactly the same code.

pub mod client;
pub mod propagation;
pub mod server;
pub mod spans;
