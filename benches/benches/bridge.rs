//! The `tracing` bridge, each stack in the same run: an `#[instrument]` function with 2 fields
//! inside a sampled parent (span), the same with one event (span + event), and a fmt line with
//! and without trace ids.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tracecore_benches::bridge::{
    Bridge, Stack, fmt_dispatch, instrumented, instrumented_with_event, log_line,
};
use tracecore_benches::{spans, timed};

fn bridge(c: &mut Criterion) {
    for (group, with_event) in [("bridge_span", false), ("bridge_span_event", true)] {
        let mut g = c.benchmark_group(group);
        for stack in Stack::ALL {
            let b = Bridge::new(stack);
            g.bench_function(stack.name(), |bench| {
                b.in_parent(|| {
                    bench.iter_custom(|n| {
                        timed(
                            n,
                            || {
                                if with_event {
                                    instrumented_with_event(black_box(42), black_box("eu"));
                                } else {
                                    instrumented(black_box(42), black_box("eu"));
                                }
                            },
                            || b.flush(),
                        )
                    })
                })
            });
            assert_eq!(b.dropped(), 0, "no span dropped while timing");
        }
        g.finish();
    }

    let t = spans::Tracecore::new(true);
    let mut g = c.benchmark_group("fmt_line");
    for (name, with_ids) in [("without_ids", false), ("with_ids", true)] {
        let dispatch = fmt_dispatch(with_ids, t.tracer.clone());
        g.bench_function(name, |bench| {
            tracing::dispatcher::with_default(&dispatch, || {
                let _span = tracing::info_span!("request").entered();
                bench.iter(log_line);
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = bridge
}
criterion_main!(benches);
