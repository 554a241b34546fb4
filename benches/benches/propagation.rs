//! Time of extract and inject, tracecore against opentelemetry 0.33, and `traceparent` parsing
//! against a hand-written lookup-table parser.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use http::HeaderMap;
use tracecore_benches::propagation::{Otel, TRACEPARENT, Tracecore, incoming_headers, lut_parse};

fn extract(c: &mut Criterion) {
    let headers = incoming_headers();
    let (ours, theirs) = (Tracecore::new(), Otel::new());
    let mut g = c.benchmark_group("extract");
    g.bench_function("tracecore", |b| {
        b.iter(|| ours.extract(black_box(&headers)))
    });
    g.bench_function("opentelemetry", |b| {
        b.iter(|| theirs.extract(black_box(&headers)))
    });
    g.finish();
    // What the server layer does: one pass over the header names, no hashed lookup per field.
    let mut g = c.benchmark_group("extract_scanned");
    g.bench_function("tracecore", |b| {
        b.iter(|| ours.extract_scanned(black_box(&headers)))
    });
    g.bench_function("opentelemetry", |b| {
        b.iter(|| theirs.extract(black_box(&headers)))
    });
    g.finish();
}

fn inject(c: &mut Criterion) {
    let (ours, theirs) = (Tracecore::new(), Otel::new());
    let mut g = c.benchmark_group("inject");
    // A request's header map exists already: reuse one, cleared, so only the injection counts.
    let mut headers = HeaderMap::with_capacity(8);
    g.bench_function("tracecore", |b| {
        b.iter(|| {
            headers.clear();
            ours.inject(black_box(&mut headers));
        })
    });
    g.bench_function("opentelemetry", |b| {
        b.iter(|| {
            headers.clear();
            theirs.inject(black_box(&mut headers));
        })
    });
    g.finish();
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("traceparent_parse");
    g.bench_function("tracecore", |b| {
        b.iter(|| tracecore::SpanContext::from_traceparent(black_box(TRACEPARENT.as_bytes())))
    });
    g.bench_function("lookup_table_baseline", |b| {
        b.iter(|| lut_parse(black_box(TRACEPARENT.as_bytes())))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = extract, inject, parse
}
criterion_main!(benches);
