//! Runs one operation many times, for instruction counts that do not depend on machine noise:
//!
//! ```sh
//! cargo build --release --bin ops
//! valgrind --tool=callgrind target/release/ops extract   # and `none`, to subtract the loop
//! ```
//!
//! (`benches/instructions.sh` does this for a set of operations and prints the table.)
//!
//! Operations: `none`, `extract`, `extract-ot` (`extract-scanned` with an `ot` entry in front of
//! the same tracestate), `extract-vendor` (another vendor's member of the same length in its
//! place), `span-under-ot` and `span-under-vendor` (a sampled span under a remote parent whose
//! tracestate is either of those, sampled by `ParentBased(ProbabilitySampler)`), `inject`, `parse` (traceparent), `tracestate`,
//! `tracestate-long` (8 members, 479 characters), `span`,
//! `span-otel`, `span-fastrace`, `span-fastrace-local`, `span-unsampled`, `server-bare`, `server` (the server layer on a hello-world
//! axum Router, in process), `otlp-protobuf`, `otlp-json` (one 512-span batch encoded),
//! `bridge-bare_registry`, `bridge-tracecore`, `bridge-tracing_opentelemetry` (an
//! `#[instrument]` fn with 2 fields inside a sampled parent, through each `tracing` stack), and
//! `bridge-event-…` (the same with one `info!` inside), `metric-http`, `metric-histogram`,
//! `metric-otel` (one HTTP duration record with the server's five attributes), `log-tracecore`
//! and `log-otel` (an `info!` with five fields in a recorded span, as a log record into each
//! SDK's batch log processor), and
//! `server-metrics` (the server layer recording its metrics too), `server-propagation` (the
//! layer with a provider that records nothing), `server-tail-dropped` (nothing head-sampled,
//! tail sampling on: each request recorded, then dropped by the rules), and `server:<stack>` for any stack of the
//! `http` bench by name (`server:tower_http_trace`, `server:empty_layer`, `server:otel_axum_layer`,
//! ...), its tracing subscriber set as the default.

use std::hint::black_box;

use tracecore::propagation::Propagator;
use tracecore_benches::propagation::{TRACEPARENT, TRACESTATE, Tracecore, incoming_headers};

fn main() {
    let op = std::env::args().nth(1).unwrap_or_else(|| "none".into());
    let n: u64 = std::env::args()
        .nth(2)
        .and_then(|n| n.parse().ok())
        .unwrap_or(100_000);
    if let Some(name) = op.strip_prefix("bridge-event-") {
        return bridge(name, n, true);
    }
    if let Some(name) = op.strip_prefix("bridge-") {
        return bridge(name, n, false);
    }
    if let Some(name) = op.strip_prefix("metric-") {
        return metric(name, n);
    }
    if let Some(name) = op.strip_prefix("log-") {
        return log(name, n);
    }
    if let Some(name) = op.strip_prefix("server:") {
        return server(name, n);
    }
    let headers = incoming_headers();
    let mut headers_ot = incoming_headers();
    headers_ot.insert(
        "tracestate",
        http::HeaderValue::from_static(tracecore_benches::propagation::TRACESTATE_OT),
    );
    let mut headers_vendor = incoming_headers();
    headers_vendor.insert(
        "tracestate",
        http::HeaderValue::from_static(tracecore_benches::propagation::TRACESTATE_VENDOR),
    );
    let tracestate_long = tracecore_benches::propagation::long_tracestate();
    let ours = Tracecore::new();
    let mut out = http::HeaderMap::with_capacity(8);
    let sampled = tracecore_benches::spans::Tracecore::new(true);
    let sampled_otel = tracecore_benches::spans::Otel::new(true);
    let unsampled = tracecore_benches::spans::Tracecore::new(false);
    let under_ot = tracecore_benches::spans::Tracecore::under_remote(
        tracecore_benches::propagation::TRACESTATE_OT,
    );
    let under_vendor = tracecore_benches::spans::Tracecore::under_remote(
        tracecore_benches::propagation::TRACESTATE_VENDOR,
    );
    // Only for its own operations: it starts a collector thread.
    let fast = op
        .starts_with("span-fastrace")
        .then(tracecore_benches::spans::Fastrace::new);
    let server_bare =
        tracecore_benches::server::Server::new(tracecore_benches::server::Stack::Bare);
    let server =
        tracecore_benches::server::Server::new(tracecore_benches::server::Stack::Tracecore);
    let server_metrics =
        tracecore_benches::server::Server::new(tracecore_benches::server::Stack::TracecoreMetrics);
    let server_propagation = tracecore_benches::server::Server::new(
        tracecore_benches::server::Stack::TracecorePropagationOnly,
    );
    let server_tail_dropped = tracecore_benches::server::Server::new(
        tracecore_benches::server::Stack::TracecoreTailDropped,
    );
    let batch = tracecore_benches::otlp::tracecore_spans(tracecore_benches::otlp::BATCH);
    let mut body = Vec::new();
    for i in 0..n {
        // Only the operation's own pipeline: a flush waits for an export thread, and what a
        // thread does while it waits depends on scheduling, so it stays out of other counts.
        if i % 1024 == 0 {
            match op.as_str() {
                "span" => sampled.flush(),
                "span-under-ot" => under_ot.flush(),
                "span-under-vendor" => under_vendor.flush(),
                "span-otel" => sampled_otel.flush(),
                "server" => server.flush(),
                "server-metrics" => server_metrics.flush(),
                "server-tail-dropped" => server_tail_dropped.flush(),
                _ => {}
            }
            if let Some(fast) = &fast {
                fast.flush();
            }
        }
        match op.as_str() {
            "none" => {}
            "extract" => drop(black_box(ours.propagator.extract(black_box(&headers)))),
            "extract-scanned" => drop(black_box(ours.extract_scanned(black_box(&headers)))),
            "extract-ot" => drop(black_box(ours.extract_scanned(black_box(&headers_ot)))),
            "extract-vendor" => drop(black_box(ours.extract_scanned(black_box(&headers_vendor)))),
            "inject" => {
                out.clear();
                ours.inject(black_box(&mut out));
            }
            "parse" => drop(black_box(tracecore::SpanContext::from_traceparent(
                black_box(TRACEPARENT.as_bytes()),
            ))),
            "tracestate" => drop(black_box(tracecore::TraceState::from_header_values([
                black_box(TRACESTATE.as_bytes()),
            ]))),
            "tracestate-long" => drop(black_box(tracecore::TraceState::from_header_values([
                black_box(tracestate_long.as_bytes()),
            ]))),
            "span" => sampled.span(),
            "span-otel" => sampled_otel.span(),
            "span-fastrace" => fast.as_ref().map_or((), |f| f.span()),
            "span-fastrace-local" => fast.as_ref().map_or((), |f| f.local_span()),
            "span-unsampled" => unsampled.span(),
            "span-under-ot" => under_ot.span(),
            "span-under-vendor" => under_vendor.span(),
            "server-bare" => server_bare.request(),
            "server" => server.request(),
            "server-metrics" => server_metrics.request(),
            "server-propagation" => server_propagation.request(),
            "server-tail-dropped" => server_tail_dropped.request(),
            // One batch of 512 spans per operation.
            "otlp-protobuf" | "otlp-json" => {
                let protocol = if op == "otlp-json" {
                    tracecore_otlp::Protocol::HttpJson
                } else {
                    tracecore_otlp::Protocol::HttpProtobuf
                };
                body.clear();
                protocol.encode(black_box(&batch), &mut body);
                black_box(body.len());
            }
            other => {
                eprintln!("unknown operation {other:?}: see the list at the top of ops.rs");
                std::process::exit(2);
            }
        }
    }
}

/// `n` calls of the `#[instrument]` function through the `tracing` stack `name`.
fn bridge(name: &str, n: u64, with_event: bool) {
    use tracecore_benches::bridge::{Bridge, Stack, instrumented, instrumented_with_event};
    let Some(stack) = Stack::ALL.into_iter().find(|s| s.name() == name) else {
        eprintln!("unknown bridge stack {name:?}: bare_registry, tracecore, tracing_opentelemetry");
        std::process::exit(2);
    };
    let b = Bridge::new(stack);
    b.in_parent(|| {
        for i in 0..n {
            if i % 1024 == 0 {
                b.flush();
            }
            if with_event {
                instrumented_with_event(black_box(42), black_box("eu"));
            } else {
                instrumented(black_box(42), black_box("eu"));
            }
        }
    });
    b.flush();
}

/// `n` HTTP duration records through recorder `name`.
fn metric(name: &str, n: u64) {
    use tracecore_benches::metrics::{Otel, Tracecore};
    let ours = Tracecore::new();
    let theirs = Otel::new();
    let end = std::time::Instant::now();
    for _ in 0..n {
        match name {
            "http" => ours.http_record(end),
            "histogram" => ours.histogram_record(),
            "otel" => theirs.record(),
            other => {
                eprintln!("unknown metric recorder {other:?}: http, histogram, otel");
                std::process::exit(2);
            }
        }
    }
}

/// `n` events as log records through the logs stack `name` (`tracecore`, `otel`).
fn log(name: &str, n: u64) {
    let stack = match name {
        "tracecore" => tracecore_benches::logs::Logs::tracecore(),
        "otel" => tracecore_benches::logs::Logs::otel(),
        other => {
            eprintln!("unknown logs stack {other:?}: tracecore, otel");
            std::process::exit(2);
        }
    };
    stack.in_span(|| {
        for i in 0..n {
            if i % 1024 == 0 {
                stack.flush();
            }
            tracecore_benches::logs::event();
        }
    });
    stack.flush();
}

/// `n` requests through the server stack `name`, its subscriber the default.
fn server(name: &str, n: u64) {
    use tracecore_benches::server::{Server, Stack};
    let Some(stack) = Stack::from_name(name) else {
        let names: Vec<_> = Stack::ALL.iter().map(|s| s.name()).collect();
        eprintln!("unknown server stack {name:?}: {}", names.join(", "));
        std::process::exit(2);
    };
    let s = Server::new(stack);
    let _subscriber = tracing::dispatcher::set_default(&s.dispatch);
    for i in 0..n {
        if i % 1024 == 0 {
            s.flush();
        }
        s.request();
    }
    s.flush();
}
