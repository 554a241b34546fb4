//! Time of a span's life: start with 6 attributes, end into the batch queue; sampled, and the
//! same code sampled out; fastrace's `Span` and `LocalSpan` with the same six properties as the
//! speed anchor; and the clock readings a span makes. The queues are flushed between timed chunks so that no span is
//! dropped while timing (a drop is cheaper than a real enqueue and would flatter either side).

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tracecore_benches::spans::{Fastrace, Otel, Tracecore};
use tracecore_benches::timed;

fn lifecycle(c: &mut Criterion) {
    for (group, sampled) in [("span_sampled", true), ("span_unsampled", false)] {
        let (ours, theirs) = (Tracecore::new(sampled), Otel::new(sampled));
        let mut g = c.benchmark_group(group);
        g.bench_function("tracecore", |b| {
            b.iter_custom(|n| timed(n, || ours.span(), || ours.flush()))
        });
        g.bench_function("opentelemetry", |b| {
            b.iter_custom(|n| timed(n, || theirs.span(), || theirs.flush()))
        });
        if sampled {
            // fastrace samples nothing out: it is an anchor for the recording path only.
            let fast = Fastrace::new();
            g.bench_function("fastrace_span", |b| {
                b.iter_custom(|n| timed(n, || fast.span(), || fast.flush()))
            });
            g.bench_function("fastrace_local_span", |b| {
                b.iter_custom(|n| timed(n, || fast.local_span(), || fast.flush()))
            });
        }
        g.finish();
        assert_eq!(ours.dropped(), 0, "no span dropped while timing");
    }
}

/// The clock a span reads twice (start and end): `std`'s monotonic and wall clocks, and the TSC
/// clock fastrace reads through fastant.
fn clock(c: &mut Criterion) {
    let mut g = c.benchmark_group("clock");
    g.bench_function("std_instant_now", |b| b.iter(std::time::Instant::now));
    g.bench_function("std_system_time_now", |b| {
        b.iter(std::time::SystemTime::now)
    });
    g.bench_function("fastant_instant_now", |b| b.iter(fastant::Instant::now));
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = lifecycle, clock
}
criterion_main!(benches);
