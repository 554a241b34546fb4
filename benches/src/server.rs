//! The server layer on a hello-world axum Router, driven in process with `oneshot` (request in,
//! body collected): bare, with tracecore's `ServerLayer`, with tower-http's `TraceLayer` (a
//! tracing registry, nothing exported), and with axum-tracing-opentelemetry's `OtelAxumLayer`
//! (tracing-opentelemetry into opentelemetry_sdk 0.33, batch processor, no-op exporter), and with
//! fastrace-axum's `FastraceLayer` (fastrace's collector reporting to a reporter that drops what
//! it gets: a span per request with few properties, no kind or status, the floor of what a
//! tracing layer can cost).

use std::hint::black_box;

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use tower::ServiceExt;
use tracing_subscriber::layer::SubscriberExt;

use crate::spans;

pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Which stack handles the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    Bare,
    /// A pass-through layer: what any `Router::layer` costs before it does anything.
    EmptyLayer,
    Tracecore,
    /// tracecore's `ServerLayer` recording `http.server.request.duration` too.
    TracecoreMetrics,
    /// tracecore's `ServerLayer` with a provider that records nothing (exporter `none`):
    /// propagation only.
    TracecorePropagationOnly,
    /// tracecore's `ServerLayer` with nothing head-sampled and tail sampling on (`errors`): each
    /// OK request is recorded, then dropped by the rules.
    TracecoreTailDropped,
    /// tracecore's `ServerLayer` with its metrics, the head sampler dropping every span (the
    /// path most requests take under a 1 % sampler): the context propagates, the duration is
    /// recorded, nothing is exported.
    TracecoreSampledOut,
    TowerHttp,
    OtelAxum,
    FastraceAxum,
    /// tracecore's `ServerLayer` exporting over OTLP to the collector `OTEL_EXPORTER_OTLP_*`
    /// names: `serve` only (not in [`Stack::ALL`], whose stacks export nowhere).
    TracecoreOtlp,
    /// The `OtelAxumLayer` stack exporting over OTLP with opentelemetry-otlp 0.33 to the
    /// collector `OTEL_EXPORTER_OTLP_ENDPOINT` names: `serve` only.
    OtelAxumOtlp,
}

impl Stack {
    /// The stack named `name` (as [`Stack::name`] gives it).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .chain([Self::TracecoreOtlp, Self::OtelAxumOtlp])
            .find(|s| s.name() == name)
    }

    pub const ALL: [Self; 10] = [
        Self::Bare,
        Self::EmptyLayer,
        Self::Tracecore,
        Self::TracecoreMetrics,
        Self::TracecorePropagationOnly,
        Self::TracecoreTailDropped,
        Self::TracecoreSampledOut,
        Self::TowerHttp,
        Self::OtelAxum,
        Self::FastraceAxum,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Bare => "bare",
            Self::EmptyLayer => "empty_layer",
            Self::Tracecore => "tracecore",
            Self::TracecoreMetrics => "tracecore_with_metrics",
            Self::TracecorePropagationOnly => "tracecore_propagation_only",
            Self::TracecoreTailDropped => "tracecore_tail_dropped",
            Self::TracecoreSampledOut => "tracecore_sampled_out",
            Self::TowerHttp => "tower_http_trace",
            Self::OtelAxum => "otel_axum_layer",
            Self::FastraceAxum => "fastrace_axum",
            Self::TracecoreOtlp => "tracecore_otlp",
            Self::OtelAxumOtlp => "otel_axum_otlp",
        }
    }
}

pub struct Server {
    pub stack: Stack,
    router: Router,
    runtime: tokio::runtime::Runtime,
    pipelines: spans::Pipelines,
    /// The tracing subscriber the anchors record into (set as the default around each run).
    pub dispatch: tracing::Dispatch,
}

/// Requests the hello-world handler answered, in this process (every stack's spans are counted
/// against it).
pub static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn hello() -> Router {
    // `with_state` readies the routes once, as `axum::serve` does.
    Router::new()
        .route(
            "/items/{id}",
            get(|| async {
                REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                "an item"
            }),
        )
        .with_state(())
}

impl Server {
    pub fn new(stack: Stack) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut pipelines = spans::Pipelines::default();
        let mut dispatch = tracing::Dispatch::none();
        let router = match stack {
            Stack::Bare => hello(),
            Stack::EmptyLayer => hello().layer(tower::layer::layer_fn(|inner| {
                tower::util::MapRequest::new(inner, |r: http::Request<Body>| r)
            })),
            Stack::Tracecore
            | Stack::TracecoreMetrics
            | Stack::TracecoreOtlp
            | Stack::TracecoreTailDropped
            | Stack::TracecoreSampledOut => {
                let t = match stack {
                    Stack::Tracecore => spans::Tracecore::new(true),
                    Stack::TracecoreOtlp => {
                        let (t, stats) = spans::Tracecore::otlp();
                        pipelines.otlp_stats = Some(stats);
                        t
                    }
                    Stack::TracecoreTailDropped => spans::Tracecore::tail_dropped(),
                    Stack::TracecoreSampledOut => spans::Tracecore::with_metrics(false),
                    _ => spans::Tracecore::with_metrics(true),
                };
                let layer = tracecore_tower::ServerLayer::new(t.http.clone());
                pipelines.tracecore = Some(t);
                hello().layer(layer)
            }
            Stack::TracecorePropagationOnly => {
                let provider = tracecore::trace::TracerProvider::builder().build();
                hello().layer(tracecore_tower::ServerLayer::new(provider.tracer("bench")))
            }
            Stack::TowerHttp => {
                dispatch = tracing::Dispatch::new(tracing_subscriber::registry());
                hello().layer(tower_http::trace::TraceLayer::new_for_http())
            }
            Stack::OtelAxum | Stack::OtelAxumOtlp => {
                use opentelemetry::trace::TracerProvider as _;
                opentelemetry::global::set_text_map_propagator(
                    opentelemetry_sdk::propagation::TraceContextPropagator::new(),
                );
                let o = if stack == Stack::OtelAxumOtlp {
                    spans::Otel::otlp()
                } else {
                    spans::Otel::new(true)
                };
                let layer = tracing_opentelemetry::layer().with_tracer(o.provider.tracer("bench"));
                dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
                pipelines.otel = Some(o);
                hello().layer(axum_tracing_opentelemetry::middleware::OtelAxumLayer::default())
            }
            Stack::FastraceAxum => {
                pipelines.fastrace = Some(spans::Fastrace::new());
                hello().layer(fastrace_axum::FastraceLayer::default())
            }
        };
        Self {
            stack,
            router,
            runtime,
            pipelines,
            dispatch,
        }
    }

    /// The stack's Router, to serve over sockets (the `serve` binary).
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// One request through the stack, its body collected.
    pub fn request(&self) {
        let request = http::Request::get("/items/42")
            .header("traceparent", TRACEPARENT)
            .body(Body::empty())
            .unwrap();
        self.runtime.block_on(async {
            let response = self.router.clone().oneshot(request).await.unwrap();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            black_box(body);
        });
    }

    /// Lets the export threads catch up, so that no span is dropped while timing.
    pub fn flush(&self) {
        self.pipelines.flush();
    }

    /// Spans dropped by tracecore's queue (none may be while timing).
    pub fn dropped(&self) -> u64 {
        self.pipelines.dropped()
    }

    /// Spans in exports the collector accepted, for the stacks that export over OTLP.
    pub fn exported(&self) -> Option<u64> {
        self.pipelines.exported()
    }

    /// Shuts the stack's pipelines down, exporting what is queued.
    pub fn shutdown(&self) {
        self.pipelines.shutdown();
    }
}
