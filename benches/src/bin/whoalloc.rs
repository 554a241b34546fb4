//! Prints a short backtrace for every allocation made by one operation (after a warm-up), to
//! find what allocates: `cargo run --release --bin whoalloc -- server` (or `server-bare`,
//! `server-propagation`, `server-metrics`, `grpc`, `grpc-bare`).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

struct Tracing;

thread_local! {
    static ON: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Tracing {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if ON.with(|on| on.replace(false)) {
            let bt = std::backtrace::Backtrace::force_capture().to_string();
            let frames: Vec<&str> = bt
                .lines()
                .filter(|l| !l.trim_start().starts_with("at "))
                .filter(|l| {
                    !l.contains("alloc::")
                        && !l.contains("std::backtrace")
                        && !l.contains("whoalloc::")
                })
                .take(6)
                .collect();
            eprintln!("--- {} bytes\n{}", layout.size(), frames.join("\n"));
            ON.with(|on| on.set(true));
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Tracing = Tracing;

fn main() {
    let op = std::env::args().nth(1).unwrap_or_else(|| "server".into());
    if let Some(stack) = op.strip_prefix("grpc") {
        // `grpc` (traced) or `grpc-bare`: one unary call, the client's allocations.
        use tracecore_benches::grpc::{Grpc, Stack};
        let mut g = Grpc::new(if stack == "-bare" {
            Stack::Bare
        } else {
            Stack::Tracecore
        });
        for _ in 0..1100 {
            g.call();
        }
        g.flush();
        ON.with(|on| on.set(true));
        g.call();
        ON.with(|on| on.set(false));
        return;
    }
    use tracecore_benches::server::Stack;
    let stack = match op.as_str() {
        "server-bare" => Stack::Bare,
        "server-propagation" => Stack::TracecorePropagationOnly,
        "server-metrics" => Stack::TracecoreMetrics,
        _ => Stack::Tracecore,
    };
    let s = tracecore_benches::server::Server::new(stack);
    for _ in 0..100 {
        s.request();
    }
    s.flush();
    ON.with(|on| on.set(true));
    s.request();
    ON.with(|on| on.set(false));
}
