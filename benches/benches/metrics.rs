//! One HTTP duration measurement with the server's five attributes: tracecore's HTTP
//! instrument, a tracecore histogram given the same `KeyValue`s, and opentelemetry_sdk 0.33's
//! histogram, in the same run.

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use tracecore_benches::metrics::{Otel, Tracecore};

fn record(c: &mut Criterion) {
    let (ours, theirs) = (Tracecore::new(), Otel::new());
    let end = Instant::now();
    let mut g = c.benchmark_group("metric_record");
    g.bench_function("tracecore_http", |b| b.iter(|| ours.http_record(end)));
    // The record alone: the measure (and its clock reading, which the span shares) made
    // outside the timed part.
    g.bench_function("tracecore_http_record_only", |b| {
        b.iter_batched(
            || ours.http_measure().unwrap(),
            |measure| Tracecore::http_finish(measure, end),
            criterion::BatchSize::SmallInput,
        )
    });
    let span = tracecore::SpanContext::new(
        tracecore::TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).unwrap(),
        tracecore::SpanId::from_u64(0x00f0_67aa_0ba9_02b7).unwrap(),
        tracecore::TraceFlags::SAMPLED,
        false,
        tracecore::TraceState::default(),
    );
    g.bench_function("tracecore_http_record_with_exemplar", |b| {
        b.iter_batched(
            || ours.http_measure().unwrap(),
            |measure| Tracecore::http_finish_in_span(measure, end, &span),
            criterion::BatchSize::SmallInput,
        )
    });
    g.bench_function("tracecore_histogram", |b| {
        b.iter(|| ours.histogram_record())
    });
    g.bench_function("opentelemetry", |b| b.iter(|| theirs.record()));
    g.finish();

    // A Prometheus scrape of 1000 histogram series: collect, then render OpenMetrics.
    let reader = tracecore::metrics::ManualReader::new();
    let provider = tracecore::metrics::MeterProvider::builder()
        .with_reader(reader.clone())
        .build();
    let h = provider
        .meter("bench")
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(tracecore::http_span::DURATION_BOUNDARIES.to_vec())
        .unwrap()
        .build();
    for i in 0..1000_i64 {
        h.record(
            0.01,
            &[tracecore::KeyValue::new("http.route", format!("/r/{i}"))],
        );
    }
    let mut g = c.benchmark_group("prometheus_scrape");
    g.bench_function("collect_and_render_1000_histograms", |b| {
        b.iter(|| {
            tracecore::metrics::prometheus::render(
                &reader.collect(),
                tracecore::metrics::prometheus::Format::OpenMetrics,
            )
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = record
}
criterion_main!(benches);
