//! Prints the benchmark table: time from criterion's last run (`cargo bench`), allocations per
//! operation counted here with a counting global allocator, tracecore and its anchor side by side.
//!
//! Run `./run.sh` (in this folder) to measure and print in one go.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use http::HeaderMap;
use tracecore_benches::propagation::{Otel, TRACEPARENT, Tracecore, incoming_headers, lut_parse};
use tracecore_benches::spans;

struct Counting;

thread_local! {
    /// Allocations made by this thread: background threads (export) are not charged to the caller.
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

fn allocs() -> u64 {
    ALLOCS.try_with(Cell::get).unwrap_or(0)
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations per call of `op` on this thread, over many calls; `between` runs untimed and
/// uncounted every 1024 calls (to flush queues).
fn allocs_per_op_with(mut op: impl FnMut(), between: impl Fn()) -> f64 {
    const N: u64 = 10_240;
    // First-use work (lazy statics, thread-local seeding, stocks of recycled storage filling
    // up) is not per-operation: one untimed chunk first, then the steady state is counted.
    for _ in 0..1024 {
        op();
    }
    between();
    let mut counted = 0;
    for chunk in 0..N / 1024 {
        let before = allocs();
        for _ in 0..1024 {
            op();
        }
        counted += allocs() - before;
        let _ = chunk;
        between();
    }
    counted as f64 / N as f64
}

fn allocs_per_op(op: impl FnMut()) -> f64 {
    allocs_per_op_with(op, || {})
}

/// Allocations per call of `op` over exactly `n` calls (for operations that consume an input).
fn allocs_per_op_n(n: u64, mut op: impl FnMut()) -> f64 {
    let before = allocs();
    for _ in 0..n {
        op();
    }
    (allocs() - before) as f64 / n as f64
}

/// Criterion's median for `group/function`, in nanoseconds.
fn median_ns(group: &str, function: &str) -> Option<f64> {
    let dir = std::env::var("CRITERION_HOME").unwrap_or_else(|_| "target/criterion".into());
    let path = Path::new(&dir)
        .join(group)
        .join(function)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["median"]["point_estimate"].as_f64()
}

struct Row {
    name: &'static str,
    group: &'static str,
    anchor: &'static str,
    ours_allocs: f64,
    anchor_allocs: f64,
    target: &'static str,
}

fn main() {
    let headers = incoming_headers();
    let (ours, theirs) = (Tracecore::new(), Otel::new());
    let mut out = HeaderMap::with_capacity(8);
    let (sampled, sampled_otel) = (spans::Tracecore::new(true), spans::Otel::new(true));
    let (unsampled, unsampled_otel) = (spans::Tracecore::new(false), spans::Otel::new(false));

    let rows = [
        Row {
            name: "extract traceparent + 2-member tracestate",
            group: "extract",
            anchor: "opentelemetry",
            ours_allocs: allocs_per_op(|| drop(black_box(ours.extract(&headers)))),
            anchor_allocs: allocs_per_op(|| drop(black_box(theirs.extract(&headers)))),
            target: "≤ 60 ns, ≤ 1 alloc",
        },
        Row {
            name: "the same, headers read in one pass (`ScannedHeaders`, as the server layer does)",
            group: "extract_scanned",
            anchor: "opentelemetry",
            ours_allocs: allocs_per_op(|| drop(black_box(ours.extract_scanned(&headers)))),
            anchor_allocs: allocs_per_op(|| drop(black_box(theirs.extract(&headers)))),
            target: "≤ 60 ns, ≤ 1 alloc",
        },
        Row {
            name: "inject into a HeaderMap",
            group: "inject",
            anchor: "opentelemetry",
            ours_allocs: allocs_per_op(|| {
                out.clear();
                ours.inject(&mut out);
            }),
            anchor_allocs: allocs_per_op(|| {
                out.clear();
                theirs.inject(&mut out);
            }),
            target: "≤ 80 ns, ≤ 3 allocs",
        },
        Row {
            name: "parse traceparent",
            group: "traceparent_parse",
            anchor: "lookup_table_baseline",
            ours_allocs: allocs_per_op(|| {
                let _ = black_box(tracecore::SpanContext::from_traceparent(
                    TRACEPARENT.as_bytes(),
                ));
            }),
            anchor_allocs: allocs_per_op(|| {
                black_box(lut_parse(TRACEPARENT.as_bytes()));
            }),
            target: "≤ 1.5× the baseline",
        },
        Row {
            name: "sampled span: start, 6 attributes, end into the batch queue",
            group: "span_sampled",
            anchor: "opentelemetry",
            ours_allocs: allocs_per_op_with(|| sampled.span(), || sampled.flush()),
            anchor_allocs: allocs_per_op_with(|| sampled_otel.span(), || sampled_otel.flush()),
            target: "≤ 100 ns, ≤ 1 alloc (≥ 5× otel, ≤ 3× fastrace LocalSpan)",
        },
        Row {
            name: "unsampled span, same code",
            group: "span_unsampled",
            anchor: "opentelemetry",
            ours_allocs: allocs_per_op(|| unsampled.span()),
            anchor_allocs: allocs_per_op(|| unsampled_otel.span()),
            target: "≤ 15 ns, 0 allocs",
        },
    ];

    println!(
        "| benchmark | tracecore | anchor | anchor time | ratio (anchor / tracecore) | allocs tracecore | allocs anchor | target |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|---|");
    for row in &rows {
        let ours = median_ns(row.group, "tracecore");
        let theirs = median_ns(row.group, row.anchor);
        let fmt = |v: Option<f64>| v.map_or("not run".to_owned(), |ns| format!("{ns:.1} ns"));
        let ratio = match (ours, theirs) {
            (Some(a), Some(b)) => format!("{:.2}×", b / a),
            _ => "–".to_owned(),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.name,
            fmt(ours),
            row.anchor,
            fmt(theirs),
            ratio,
            row.ours_allocs,
            row.anchor_allocs,
            row.target
        );
    }

    span_anchor_table();
    clock_line();
    overhead_tables();
    grpc_table();
    metrics_table();
    bridge_table();
    logs_table();
    otlp_table();

    let (offered, dropped) = spans::offer_at_rate(1_000_000, Duration::from_secs(1));
    println!();
    println!(
        "batch processor at 1 M spans/s offered for 1 s: {offered} offered, {} exported, {dropped} dropped (and counted)",
        offered - dropped
    );
}

/// The sampled span beside fastrace 0.7's `Span` and `LocalSpan` (same six properties), the
/// speed anchor: time, allocations on the calling thread, and tracecore's time as a multiple.
fn span_anchor_table() {
    let ours = spans::Tracecore::new(true);
    let fast = spans::Fastrace::new();
    println!();
    println!(
        "| sampled span, 6 attributes, into the export pipeline | time | allocs (calling thread) | tracecore's time ÷ this |"
    );
    println!("|---|---:|---:|---:|");
    let rows: [(&str, &str, f64); 4] = [
        (
            "tracecore (batch processor)",
            "tracecore",
            allocs_per_op_with(|| ours.span(), || ours.flush()),
        ),
        (
            "opentelemetry_sdk 0.33 (batch processor)",
            "opentelemetry",
            {
                let otel = spans::Otel::new(true);
                allocs_per_op_with(|| otel.span(), || otel.flush())
            },
        ),
        (
            "fastrace 0.7 `Span` (a root)",
            "fastrace_span",
            allocs_per_op_with(|| fast.span(), || fast.flush()),
        ),
        (
            "fastrace 0.7 `LocalSpan` (64 per root)",
            "fastrace_local_span",
            allocs_per_op_with(|| fast.local_span(), || fast.flush()),
        ),
    ];
    let ours_ns = median_ns("span_sampled", "tracecore");
    for (name, function, allocs) in rows {
        let ns = median_ns("span_sampled", function);
        let ratio = match (ours_ns, ns) {
            (Some(a), Some(b)) => format!("{:.2}×", a / b),
            _ => "–".to_owned(),
        };
        println!(
            "| {name} | {} | {allocs:.2} | {ratio} |",
            ns.map_or("not run".to_owned(), |ns| format!("{ns:.1} ns"))
        );
    }
}

/// The clock a span reads twice: std's monotonic and wall clocks, and fastrace's TSC clock.
fn clock_line() {
    let ns = |function| {
        median_ns("clock", function)
            .map_or_else(|| "not run".to_owned(), |ns| format!("{ns:.1} ns"))
    };
    println!();
    println!(
        "clock readings (a span makes two monotonic ones): std `Instant::now` {}, `SystemTime::now` {}, fastant `Instant::now` (fastrace's TSC clock) {}",
        ns("std_instant_now"),
        ns("std_system_time_now"),
        ns("fastant_instant_now")
    );
}

/// A unary gRPC call on loopback, bare tonic and behind both layers: time, and allocations on
/// the calling (client) thread.
fn grpc_table() {
    use tracecore_benches::grpc::{Grpc, Stack};

    println!();
    println!(
        "A unary gRPC call on loopback (tonic health `Check`; client on this thread, server on its own):"
    );
    println!();
    println!("| stack | time per call | added | client allocs per call | added allocs |");
    println!("|---|---:|---:|---:|---:|");
    let mut bare = (None, 0.0);
    for stack in Stack::ALL {
        let mut grpc = Grpc::new(stack);
        let allocs = {
            let cell = std::cell::RefCell::new(&mut grpc);
            allocs_per_op_with(|| cell.borrow_mut().call(), || cell.borrow().flush())
        };
        let ns = median_ns("grpc_unary", stack.name());
        if stack == Stack::Bare {
            bare = (ns, allocs);
        }
        overhead_row(stack.name(), ns, allocs, bare);
    }
}

/// OTLP encoding of a 512-span batch, both formats, and the export thread's CPU at 10 k spans/s.
fn otlp_table() {
    use tracecore_benches::otlp::{self, BATCH};
    use tracecore_otlp::{Compression, Protocol};

    let ours = otlp::tracecore_spans(BATCH);
    let (theirs, resource) = otlp::otel_spans(BATCH);
    println!();
    println!(
        "| OTLP encoding, {BATCH} HTTP server spans (10 attributes) | tracecore | spans/s | opentelemetry-proto 0.33 (group + encode) | spans/s | ratio | encode only (prost / serde_json) | allocs per batch tracecore | allocs per batch anchor |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (name, group, protocol) in [
        (
            "http/protobuf",
            "otlp_encode_protobuf",
            Protocol::HttpProtobuf,
        ),
        ("http/json", "otlp_encode_json", Protocol::HttpJson),
    ] {
        let mut buf = Vec::new();
        protocol.encode(&ours, &mut buf);
        let ours_allocs = allocs_per_op(|| {
            buf.clear();
            protocol.encode(black_box(&ours), &mut buf);
        });
        let mut batches: Vec<_> = (0..64).map(|_| theirs.clone()).collect();
        let anchor_allocs = allocs_per_op_n(64, || {
            let batch = batches.pop().unwrap();
            black_box(otlp::otel_encode(batch, &resource, protocol));
        });
        let t = median_ns(group, "tracecore");
        let a = median_ns(group, "opentelemetry");
        let only = median_ns(group, "opentelemetry_encode_only");
        let us =
            |v: Option<f64>| v.map_or("not run".to_owned(), |ns| format!("{:.1} µs", ns / 1000.0));
        let rate = |v: Option<f64>| {
            v.map_or("–".to_owned(), |ns| {
                format!("{:.2} M", BATCH as f64 / ns * 1000.0)
            })
        };
        let ratio = match (t, a) {
            (Some(t), Some(a)) => format!("{:.1}×", a / t),
            _ => "–".to_owned(),
        };
        println!(
            "| {name} | {} | {} | {} | {} | {ratio} | {} | {ours_allocs:.0} | {anchor_allocs:.0} |",
            us(t),
            rate(t),
            us(a),
            rate(a),
            us(only),
        );
    }
    println!();
    for (name, protocol, compression) in [
        ("http/protobuf", Protocol::HttpProtobuf, Compression::None),
        (
            "http/protobuf + gzip",
            Protocol::HttpProtobuf,
            Compression::Gzip,
        ),
        ("http/json", Protocol::HttpJson, Compression::None),
    ] {
        let share = otlp::export_cpu_share(10_000, protocol, compression);
        println!(
            "export thread at 10 k spans/s, {name}, to a local receiver: {:.2} % of a core (target < 5 %)",
            share * 100.0
        );
    }
}

/// One HTTP duration measurement with the server's five attributes: time, allocations, and
/// time with two threads recording into the same series at once.
fn metrics_table() {
    use tracecore_benches::metrics::{Otel, Tracecore, ns_per_record};

    let (ours, theirs) = (Tracecore::new(), Otel::new());
    let end = std::time::Instant::now();
    println!();
    println!(
        "One `http.server.request.duration` record with the server's five attributes (series exists):"
    );
    println!();
    println!(
        "| recorder | time | allocs | 1 thread, ns/record | 2 threads at once, ns/record per thread |"
    );
    println!("|---|---:|---:|---:|---:|");
    const N: u64 = 2_000_000;
    let rows: [(&str, &str, &(dyn Fn() + Sync)); 3] = [
        (
            "tracecore HTTP instrument (fixed key)",
            "tracecore_http",
            &|| ours.http_record(end),
        ),
        (
            "tracecore histogram, 5 KeyValues",
            "tracecore_histogram",
            &|| ours.histogram_record(),
        ),
        (
            "opentelemetry_sdk 0.33 histogram, 5 KeyValues",
            "opentelemetry",
            &|| theirs.record(),
        ),
    ];
    for (name, function, op) in rows {
        let allocs = allocs_per_op(op);
        let one = ns_per_record(1, N, op);
        let two = ns_per_record(2, N, op);
        let ns = median_ns("metric_record", function);
        println!(
            "| {name} | {} | {allocs:.1} | {one:.1} | {two:.1} |",
            ns.map_or("not run".to_owned(), |ns| format!("{ns:.1} ns"))
        );
    }
    let collected = ours.reader.collect();
    let p = &collected
        .metric("http.server.request.duration")
        .unwrap()
        .data
        .histogram_points()[0];
    assert!(p.count > 0, "the records landed");
}

/// The `tracing` bridge: time and allocations added over the bare registry per `#[instrument]`
/// span (and per event), tracecore-tracing beside tracing-opentelemetry; and the fmt line's ids.
fn bridge_table() {
    use tracecore_benches::bridge::{
        Bridge, Stack, fmt_dispatch, instrumented, instrumented_with_event, log_line,
    };

    println!();
    println!(
        "`tracing` bridge: an `#[instrument]` fn with 2 fields inside a sampled parent, ended into the batch queue; then the same with one `info!` inside:"
    );
    println!();
    println!(
        "| stack | span | added over bare | allocs added | span + event | event alone (difference) | allocs added by the event |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let mut bare: Option<(Option<f64>, f64, Option<f64>, f64)> = None;
    for stack in Stack::ALL {
        let b = Bridge::new(stack);
        let span_allocs = b.in_parent(|| {
            allocs_per_op_with(
                || instrumented(black_box(42), black_box("eu")),
                || b.flush(),
            )
        });
        let event_allocs = b.in_parent(|| {
            allocs_per_op_with(
                || instrumented_with_event(black_box(42), black_box("eu")),
                || b.flush(),
            )
        });
        let span_ns = median_ns("bridge_span", stack.name());
        let event_ns = median_ns("bridge_span_event", stack.name());
        let base = *bare.get_or_insert((span_ns, span_allocs, event_ns, event_allocs));
        let ns = |v: Option<f64>| v.map_or("not run".to_owned(), |ns| format!("{ns:.0} ns"));
        let diff = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:+.0} ns", a - b),
            _ => "–".to_owned(),
        };
        println!(
            "| {} | {} | {} | {:+.1} | {} | {} | {:+.1} |",
            stack.name(),
            ns(span_ns),
            diff(span_ns, base.0),
            span_allocs - base.1,
            ns(event_ns),
            diff(event_ns, span_ns),
            (event_allocs - span_allocs) - (base.3 - base.1),
        );
    }

    let t = spans::Tracecore::new(true);
    println!();
    println!("| fmt line (Compact, to a sink) inside a recorded span | time | allocs |");
    println!("|---|---:|---:|");
    for (name, with_ids) in [("without_ids", false), ("with_ids", true)] {
        let dispatch = fmt_dispatch(with_ids, t.tracer.clone());
        let allocs = tracing::dispatcher::with_default(&dispatch, || {
            let _span = tracing::info_span!("request").entered();
            allocs_per_op(log_line)
        });
        let ns = median_ns("fmt_line", name);
        println!(
            "| {name} | {} | {allocs:.1} |",
            ns.map_or("not run".to_owned(), |ns| format!("{ns:.0} ns"))
        );
    }
}

/// An `info!` with five fields in a recorded span, as a log record into each logs bridge's batch
/// processor: time and allocations per event on the calling thread.
fn logs_table() {
    use tracecore_benches::logs::{Logs, event};

    println!();
    println!("Logs: an `info!` with five fields in a recorded span, into the batch processor:");
    println!();
    println!("| stack | time per event | ÷ anchor | allocs per event |");
    println!("|---|---:|---:|---:|");
    let anchor = median_ns("log_event", "otel");
    for (name, stack) in [("tracecore", Logs::tracecore()), ("otel", Logs::otel())] {
        let allocs = stack.in_span(|| allocs_per_op_with(event, || stack.flush()));
        let ns = median_ns("log_event", name);
        let ratio = match (ns, anchor) {
            (Some(ns), Some(a)) => format!("{:.2}×", ns / a),
            _ => "–".to_owned(),
        };
        println!(
            "| {name} | {} | {ratio} | {allocs:.2} |",
            ns.map_or("not run".to_owned(), |ns| format!("{ns:.0} ns"))
        );
    }
}

/// Added time and allocations per request over the bare stack, for the server layer and the
/// reqwest middleware.
fn overhead_tables() {
    use tracecore_benches::{client, server};

    println!();
    println!("Server layer on a hello-world axum Router, in process (`oneshot`, body collected):");
    println!();
    println!("| stack | time per request | added over bare | allocs per request | added allocs |");
    println!("|---|---:|---:|---:|---:|");
    let mut bare = (None, 0.0);
    for stack in server::Stack::ALL {
        let s = server::Server::new(stack);
        let allocs = tracing::dispatcher::with_default(&s.dispatch, || {
            allocs_per_op_with(|| s.request(), || s.flush())
        });
        let ns = median_ns("server_layer", stack.name());
        if stack == server::Stack::Bare {
            bare = (ns, allocs);
        }
        overhead_row(stack.name(), ns, allocs, bare);
    }

    println!();
    println!("reqwest middleware, GET to a hello-world axum server on loopback (body read):");
    println!();
    println!("| stack | time per request | added over bare | allocs per request | added allocs |");
    println!("|---|---:|---:|---:|---:|");
    let addr = client::start_server();
    let mut bare = (None, 0.0);
    for stack in client::Stack::ALL {
        let c = client::Client::new(stack, addr);
        let allocs = tracing::dispatcher::with_default(&c.dispatch, || {
            allocs_per_op_with(|| c.request(), || c.flush())
        });
        let ns = median_ns("reqwest_middleware", stack.name());
        if stack == client::Stack::Bare {
            bare = (ns, allocs);
        }
        overhead_row(stack.name(), ns, allocs, bare);
    }
}

fn overhead_row(name: &str, ns: Option<f64>, allocs: f64, bare: (Option<f64>, f64)) {
    let time = ns.map_or("not run".to_owned(), |ns| format!("{ns:.0} ns"));
    let added = match (ns, bare.0) {
        (Some(a), Some(b)) => format!("{:+.0} ns", a - b),
        _ => "–".to_owned(),
    };
    println!(
        "| {name} | {time} | {added} | {allocs:.1} | {:+.1} |",
        allocs - bare.1
    );
}
