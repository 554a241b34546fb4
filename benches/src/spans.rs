//! Span lifecycle: start with 6 attributes, end into a batch processor's queue. tracecore against
//! opentelemetry_sdk 0.33 (`SdkTracerProvider`, `BatchSpanProcessor`), both exporting to a
//! no-op exporter on their own background thread.

use std::time::Duration;

use opentelemetry::trace::{Tracer as _, TracerProvider as _};

/// A server span's attributes at start, the same six on both sides.
macro_rules! six_attributes {
    ($kv:path) => {
        [
            $kv("http.request.method", "GET"),
            $kv("url.path", "/items/42"),
            $kv("url.scheme", "http"),
            $kv("server.address", "inventory.local"),
            $kv("server.port", 8080_i64),
            $kv("network.protocol.version", "1.1"),
        ]
    };
}

#[derive(Debug)]
pub(crate) struct NoopExporter;

impl tracecore::export::SpanExporter for NoopExporter {
    fn export(
        &mut self,
        batch: &[tracecore::trace::SpanData],
        _: Duration,
    ) -> Result<(), tracecore::export::ExportError> {
        std::hint::black_box(batch);
        Ok(())
    }
}

impl opentelemetry_sdk::trace::SpanExporter for NoopExporter {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}

pub struct Tracecore {
    pub provider: tracecore::trace::TracerProvider,
    pub tracer: tracecore::trace::Tracer,
    /// The tracer, with the HTTP metrics when the provider was built with a meter provider.
    pub http: tracecore::http_span::HttpInstrumentation,
    parent: tracecore::Context,
}

impl Tracecore {
    /// `sampled`: AlwaysOn, or AlwaysOff for the same code on the unsampled path.
    pub fn new(sampled: bool) -> Self {
        Self::build(sampled, None)
    }

    /// The same, with the HTTP metrics recorded into a meter provider (read by a manual reader).
    pub fn with_metrics(sampled: bool) -> Self {
        let meters = tracecore::metrics::MeterProvider::builder()
            .with_reader(tracecore::metrics::ManualReader::new())
            .build();
        Self::build(sampled, Some(meters))
    }

    /// Sampled spans exported over OTLP to the endpoint `OTEL_EXPORTER_OTLP_*` name (default
    /// `http://localhost:4318`): for the throughput script's run against a real collector.
    pub fn otlp() -> (Self, tracecore_otlp::OtlpStats) {
        let exporter = tracecore_otlp::OtlpExporter::builder()
            .build()
            .unwrap_or_else(|e| panic!("OTLP exporter: {e}"));
        let stats = exporter.stats();
        (Self::build_with(true, None, exporter), stats)
    }

    fn build(sampled: bool, meters: Option<tracecore::metrics::MeterProvider>) -> Self {
        Self::build_with(sampled, meters, NoopExporter)
    }

    /// Nothing head-sampled and tail sampling keeping errors: an OK request is recorded, held
    /// until its root ends, then dropped by the rules.
    pub fn tail_dropped() -> Self {
        let provider = tracecore::trace::TracerProvider::builder()
            .with_service_name("bench")
            .with_sampler(tracecore::trace::AlwaysOff)
            .with_tail_sampling(tracecore::trace::TailSampling::new().keep_errors())
            .with_span_processor(
                tracecore::export::BatchProcessor::builder(NoopExporter)
                    .with_max_queue_size(4096)
                    .build(),
            )
            .build();
        let tracer = provider.tracer("bench");
        Self {
            http: tracecore::http_span::HttpInstrumentation::from(&tracer),
            provider,
            tracer,
            parent: tracecore::Context::new(),
        }
    }

    fn build_with(
        sampled: bool,
        meters: Option<tracecore::metrics::MeterProvider>,
        exporter: impl tracecore::export::SpanExporter + 'static,
    ) -> Self {
        let builder = tracecore::trace::TracerProvider::builder()
            .with_service_name("bench")
            .with_span_processor(
                tracecore::export::BatchProcessor::builder(exporter)
                    .with_max_queue_size(4096)
                    .build(),
            );
        let provider = if sampled {
            builder.with_sampler(tracecore::trace::AlwaysOn).build()
        } else {
            builder.with_sampler(tracecore::trace::AlwaysOff).build()
        };
        let tracer = provider.tracer("bench");
        let mut http = tracecore::http_span::HttpInstrumentation::from(&tracer);
        if let Some(meters) = &meters {
            http = http.with_meter_provider(meters);
        }
        Self {
            provider,
            tracer,
            http,
            parent: tracecore::Context::new(),
        }
    }

    /// Consistent probability sampling at ratio 1, parent-based, under a remote sampled parent
    /// whose `tracestate` is `tracestate`: a child reads the parent's `ot` entry to check its
    /// threshold.
    pub fn under_remote(tracestate: &str) -> Self {
        use tracecore::propagation::Propagator as _;
        let provider = tracecore::trace::TracerProvider::builder()
            .with_service_name("bench")
            .with_sampler(tracecore::trace::ParentBased::new(
                tracecore::trace::ProbabilitySampler::new(1.0),
            ))
            .with_span_processor(
                tracecore::export::BatchProcessor::builder(NoopExporter)
                    .with_max_queue_size(4096)
                    .build(),
            )
            .build();
        let tracer = provider.tracer("bench");
        let mut headers = http::HeaderMap::new();
        headers.insert(
            "traceparent",
            http::HeaderValue::from_static(crate::propagation::TRACEPARENT),
        );
        headers.insert("tracestate", tracestate.parse().unwrap());
        let parent = tracecore::propagation::TraceContextPropagator::new().extract(&headers);
        Self {
            http: tracecore::http_span::HttpInstrumentation::from(&tracer),
            provider,
            tracer,
            parent,
        }
    }

    pub fn span(&self) {
        use tracecore::KeyValue;
        let span = self
            .tracer
            .span_builder("GET /items/{id}")
            .with_kind(tracecore::trace::SpanKind::Server)
            .start_with_attributes(&self.parent, six_attributes!(KeyValue::new));
        span.end();
    }

    pub fn flush(&self) {
        let _ = self.provider.force_flush(Duration::from_secs(10));
    }

    pub fn dropped(&self) -> u64 {
        self.provider.dropped_spans()
    }
}

/// opentelemetry-otlp's HTTP/protobuf exporter, counting the spans in exports the receiver
/// accepted (the SDK keeps no such count).
#[derive(Debug)]
struct CountingOtlp {
    inner: opentelemetry_otlp::SpanExporter,
    exported: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl opentelemetry_sdk::trace::SpanExporter for CountingOtlp {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        let n = batch.len() as u64;
        let result = self.inner.export(batch).await;
        if result.is_ok() {
            self.exported
                .fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> opentelemetry_sdk::error::OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.inner.set_resource(resource);
    }
}

pub struct Otel {
    pub provider: opentelemetry_sdk::trace::SdkTracerProvider,
    pub tracer: opentelemetry_sdk::trace::SdkTracer,
    parent: opentelemetry::Context,
    /// Spans in exports the receiver accepted, when exporting over OTLP.
    pub exported: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
}

impl Otel {
    /// Spans exported over OTLP/HTTP (protobuf) by opentelemetry-otlp 0.33 to the collector
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` names, through the SDK's batch processor (queue 4,096, as
    /// tracecore's in these benches).
    pub fn otlp() -> Self {
        use opentelemetry_otlp::WithExportConfig as _;
        let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT")
            .unwrap_or_else(|_| "http://127.0.0.1:4318".to_owned());
        let inner = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(format!("{}/v1/traces", endpoint.trim_end_matches('/')))
            .build()
            .unwrap_or_else(|e| panic!("opentelemetry-otlp exporter: {e}"));
        let exported = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let exporter = CountingOtlp {
            inner,
            exported: exported.clone(),
        };
        Self::with_exporter(true, exporter, Some(exported))
    }

    pub fn new(sampled: bool) -> Self {
        Self::with_exporter(sampled, NoopExporter, None)
    }

    /// The SDK's batch processor (queue 4,096, as tracecore's in these benches) to `exporter`.
    fn with_exporter(
        sampled: bool,
        exporter: impl opentelemetry_sdk::trace::SpanExporter + 'static,
        exported: Option<std::sync::Arc<std::sync::atomic::AtomicU64>>,
    ) -> Self {
        use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, Sampler};
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_max_queue_size(4096)
                    .build(),
            )
            .build();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
            .with_sampler(if sampled {
                Sampler::AlwaysOn
            } else {
                Sampler::AlwaysOff
            })
            .with_span_processor(processor)
            .build();
        let tracer = provider.tracer("bench");
        Self {
            provider,
            tracer,
            parent: opentelemetry::Context::new(),
            exported,
        }
    }

    pub fn span(&self) {
        use opentelemetry::KeyValue;
        use opentelemetry::trace::Span as _;
        let mut span = self
            .tracer
            .span_builder("GET /items/{id}")
            .with_kind(opentelemetry::trace::SpanKind::Server)
            .with_attributes(six_attributes!(KeyValue::new))
            .start_with_context(&self.tracer, &self.parent);
        span.end();
    }

    pub fn flush(&self) {
        let _ = self.provider.force_flush();
    }
}

/// fastrace 0.7, the speed anchor, with the same six properties (as strings: it has no other
/// kind), its global collector reporting to a reporter that drops what it gets. No span kinds,
/// no status, no sampling, no trace state: what it does per span is what tracecore does minus
/// the OpenTelemetry semantics.
pub struct Fastrace {
    /// The root the `LocalSpan`s run under, replaced every [`Fastrace::LOCAL_PER_ROOT`] spans.
    root: std::cell::RefCell<Option<(fastrace::local::LocalParentGuard, fastrace::Span)>>,
    count: std::cell::Cell<u32>,
}

struct DropReporter;

impl fastrace::collector::Reporter for DropReporter {
    fn report(&mut self, spans: Vec<fastrace::collector::SpanRecord>) {
        std::hint::black_box(spans);
    }
}

macro_rules! six_properties {
    () => {
        || {
            [
                ("http.request.method", "GET"),
                ("url.path", "/items/42"),
                ("url.scheme", "http"),
                ("server.address", "inventory.local"),
                ("server.port", "8080"),
                ("network.protocol.version", "1.1"),
            ]
        }
    };
}

impl Fastrace {
    /// Local spans per root: a request's worth of work under one local parent.
    pub const LOCAL_PER_ROOT: u32 = 64;

    pub fn new() -> Self {
        static REPORTER: std::sync::Once = std::sync::Once::new();
        REPORTER.call_once(|| {
            fastrace::set_reporter(DropReporter, fastrace::collector::Config::default())
        });
        Self {
            root: std::cell::RefCell::new(None),
            count: std::cell::Cell::new(0),
        }
    }

    /// A `Span` (a root, which leaves its thread when it ends): start, six properties, end.
    pub fn span(&self) {
        let span = fastrace::Span::root(
            "GET /items/{id}",
            fastrace::collector::SpanContext::random(),
        )
        .with_properties(six_properties!());
        drop(span);
    }

    /// A `LocalSpan` (kept in a thread-local buffer, handed over when its root ends), under a
    /// root replaced every [`Self::LOCAL_PER_ROOT`] spans (that cost is shared among them).
    pub fn local_span(&self) {
        let n = self.count.get();
        self.count.set(n.wrapping_add(1));
        if n.is_multiple_of(Self::LOCAL_PER_ROOT) {
            let mut root = self.root.borrow_mut();
            // The guard goes before its root.
            drop(root.take());
            let span = fastrace::Span::root("request", fastrace::collector::SpanContext::random());
            *root = Some((span.set_local_parent(), span));
        }
        let span = fastrace::local::LocalSpan::enter_with_local_parent("GET /items/{id}")
            .with_properties(six_properties!());
        drop(span);
    }

    pub fn flush(&self) {
        drop(self.root.borrow_mut().take());
        fastrace::flush();
    }
}

impl Default for Fastrace {
    fn default() -> Self {
        Self::new()
    }
}

/// Offers `rate` spans per second for `duration` from this thread, then flushes; returns
/// (offered, exported or still counted as dropped).
pub fn offer_at_rate(rate: u64, duration: Duration) -> (u64, u64) {
    let t = Tracecore::new(true);
    let start = std::time::Instant::now();
    let mut offered = 0u64;
    while start.elapsed() < duration {
        let due = (start.elapsed().as_secs_f64() * rate as f64) as u64;
        while offered < due {
            t.span();
            offered += 1;
        }
    }
    t.flush();
    (offered, t.dropped())
}

/// The pipelines behind a stack under test (either, both or none), flushed between timed chunks
/// so that no span is dropped while timing.
#[derive(Default)]
pub struct Pipelines {
    pub tracecore: Option<Tracecore>,
    pub otel: Option<Otel>,
    pub fastrace: Option<Fastrace>,
    /// tracecore's OTLP exporter's counters, when it exports over OTLP.
    pub otlp_stats: Option<tracecore_otlp::OtlpStats>,
}

impl Pipelines {
    /// Lets the export threads catch up.
    pub fn flush(&self) {
        if let Some(t) = &self.tracecore {
            t.flush();
        }
        if let Some(o) = &self.otel {
            o.flush();
        }
        if let Some(f) = &self.fastrace {
            f.flush();
        }
    }

    /// Spans dropped by tracecore's queue (none may be while timing).
    pub fn dropped(&self) -> u64 {
        self.tracecore.as_ref().map_or(0, Tracecore::dropped)
    }

    /// Spans in exports the collector accepted, when the stack exports over OTLP.
    pub fn exported(&self) -> Option<u64> {
        if let Some(stats) = &self.otlp_stats {
            return Some(stats.counts().spans_exported);
        }
        let otel = self.otel.as_ref()?.exported.as_ref()?;
        Some(otel.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// Shuts the pipelines down (exporting what is queued, within 10 s).
    pub fn shutdown(&self) {
        if let Some(t) = &self.tracecore {
            let _ = t.provider.shutdown(Duration::from_secs(10));
        }
        if let Some(o) = &self.otel {
            let _ = o.provider.shutdown();
        }
    }
}
