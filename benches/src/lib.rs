//! The operations the benchmarks measure, shared by the criterion benches (time) and the
//! `report` binary (allocations), so both measure exactly the same code.

pub mod bridge;
pub mod client;
pub mod grpc;
pub mod logs;
pub mod metrics;
pub mod otlp;
pub mod propagation;
pub mod server;
pub mod spans;

use std::time::Duration;

/// Runs `op` `iters` times in chunks, flushing between chunks outside the timed part.
pub fn timed(iters: u64, mut op: impl FnMut(), flush: impl Fn()) -> Duration {
    const CHUNK: u64 = 1024;
    let mut total = Duration::ZERO;
    let mut done = 0;
    while done < iters {
        let n = CHUNK.min(iters - done);
        let start = std::time::Instant::now();
        for _ in 0..n {
            op();
        }
        total += start.elapsed();
        done += n;
        flush();
    }
    total
}
