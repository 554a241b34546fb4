//! One `info!` with five fields inside a recorded span, as a log record into each logs bridge's
//! batch processor: tracecore's `LogLayer` beside opentelemetry-appender-tracing 0.33, same run.

use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tracecore_benches::logs::{Logs, event};
use tracecore_benches::timed;

fn logs(c: &mut Criterion) {
    let mut g = c.benchmark_group("log_event");
    for (name, stack) in [("tracecore", Logs::tracecore()), ("otel", Logs::otel())] {
        g.bench_function(name, |bench| {
            stack.in_span(|| bench.iter_custom(|n| timed(n, event, || stack.flush())))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = logs
}
criterion_main!(benches);
