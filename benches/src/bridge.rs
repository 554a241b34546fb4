//! The `tracing` bridge: an `#[instrument]` function with 2 fields, called inside a sampled
//! parent, entered and exited once, ended into the batch queue; an event inside a recording
//! span; and the trace ids on a fmt line. tracecore-tracing's `TracecoreLayer` against
//! tracing-opentelemetry 0.34 over opentelemetry_sdk 0.33, and the bare registry (no layer).

use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

use crate::spans;

/// The function every stack runs: what `#[instrument]` generates for a 2-field function.
#[tracing::instrument]
#[inline(never)]
pub fn instrumented(order_id: u64, region: &str) {
    std::hint::black_box((order_id, region));
}

/// The same function, with one event inside it.
#[tracing::instrument]
#[inline(never)]
pub fn instrumented_with_event(order_id: u64, region: &str) {
    tracing::info!(items = 3, "order accepted");
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// A bare registry: `tracing`'s own cost, nothing recorded.
    Bare,
    /// tracecore-tracing's layer, spans into tracecore's batch processor.
    Tracecore,
    /// tracing-opentelemetry 0.34 over opentelemetry_sdk 0.33's batch processor.
    Otel,
}

impl Stack {
    pub const ALL: [Self; 3] = [Self::Bare, Self::Tracecore, Self::Otel];

    pub fn name(self) -> &'static str {
        match self {
            Self::Bare => "bare_registry",
            Self::Tracecore => "tracecore",
            Self::Otel => "tracing_opentelemetry",
        }
    }
}

/// A subscriber for one stack, and the pipeline behind it (to flush between timed chunks).
pub struct Bridge {
    pub dispatch: Dispatch,
    pipelines: spans::Pipelines,
}

impl Bridge {
    pub fn new(stack: Stack) -> Self {
        let mut pipelines = spans::Pipelines::default();
        let dispatch = match stack {
            Stack::Bare => Dispatch::new(tracing_subscriber::registry()),
            Stack::Tracecore => {
                let t = spans::Tracecore::new(true);
                let layer = tracecore_tracing::TracecoreLayer::new(t.tracer.clone());
                pipelines.tracecore = Some(t);
                Dispatch::new(tracing_subscriber::registry().with(layer))
            }
            Stack::Otel => {
                use opentelemetry::trace::TracerProvider as _;
                let o = spans::Otel::new(true);
                let layer = tracing_opentelemetry::layer().with_tracer(o.provider.tracer("bench"));
                pipelines.otel = Some(o);
                Dispatch::new(tracing_subscriber::registry().with(layer))
            }
        };
        Self {
            dispatch,
            pipelines,
        }
    }

    /// Runs `f` inside an entered sampled parent span, with this stack as the default subscriber.
    pub fn in_parent<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::dispatcher::with_default(&self.dispatch, || {
            let parent = tracing::info_span!("parent");
            let _entered = parent.enter();
            f()
        })
    }

    pub fn flush(&self) {
        self.pipelines.flush();
    }

    pub fn dropped(&self) -> u64 {
        self.pipelines.dropped()
    }
}

/// The fmt layer (Compact, to a sink) over a registry with tracecore's layer, with or without the
/// trace ids: the difference is what the ids cost. Events are not recorded as span events here,
/// so that only the line's cost is compared.
pub fn fmt_dispatch(with_ids: bool, tracer: tracecore::trace::Tracer) -> Dispatch {
    let layer = tracecore_tracing::TracecoreLayer::new(tracer)
        .with_event_level(tracing_subscriber::filter::LevelFilter::OFF);
    let fmt = tracing_subscriber::fmt::layer()
        .compact()
        .with_ansi(false)
        .with_writer(std::io::sink);
    if with_ids {
        let fmt = fmt.map_event_format(tracecore_tracing::fmt::TraceIdFormat::new);
        Dispatch::new(tracing_subscriber::registry().with(layer).with(fmt))
    } else {
        Dispatch::new(tracing_subscriber::registry().with(layer).with(fmt))
    }
}

/// One fmt line inside a recording span.
#[inline(never)]
pub fn log_line() {
    tracing::info!(items = 3, "order accepted");
}
