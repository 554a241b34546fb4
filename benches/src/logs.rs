//! One `info!` with five fields inside a recorded span, as a log record through each logs bridge
//! into its batch processor (a no-op exporter behind it): tracecore's `LogLayer`, and
//! opentelemetry-appender-tracing 0.33 into opentelemetry_sdk's batch log processor. The span is
//! each SDK's own, made current the way its bridge reads it (tracecore's context; OpenTelemetry's
//! context), so that only the record's path is compared.

use std::time::Duration;

use tracing::Dispatch;
use tracing_subscriber::layer::SubscriberExt;

#[derive(Debug)]
struct NoopLogs;

impl tracecore::logs::LogExporter for NoopLogs {
    fn export(
        &mut self,
        batch: &[tracecore::logs::LogRecord],
        _: Duration,
    ) -> Result<(), tracecore::export::ExportError> {
        std::hint::black_box(batch);
        Ok(())
    }
}

impl opentelemetry_sdk::logs::LogExporter for NoopLogs {
    async fn export(
        &self,
        batch: opentelemetry_sdk::logs::LogBatch<'_>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        std::hint::black_box(batch.iter().count());
        Ok(())
    }
}

/// A stack: the subscriber, and a way to flush its pipeline between timed chunks.
pub struct Logs {
    pub dispatch: Dispatch,
    flush: Box<dyn Fn()>,
    /// Keeps the span current for the stack's whole life.
    enter: Box<dyn Fn() -> Box<dyn std::any::Any>>,
}

impl Logs {
    pub fn tracecore() -> Self {
        let provider = tracecore::logs::LoggerProvider::builder()
            .with_service_name("bench")
            .with_processor(
                tracecore::logs::BatchLogProcessor::builder(NoopLogs)
                    .with_max_queue_size(4096)
                    .build(),
            )
            .build();
        let spans = crate::spans::Tracecore::new(true);
        let span = spans.tracer.start("parent");
        let cx = span.context(&tracecore::Context::new());
        let flushing = provider.clone();
        Self {
            dispatch: Dispatch::new(
                tracing_subscriber::registry().with(tracecore_tracing::LogLayer::new(provider)),
            ),
            flush: Box::new(move || {
                let _ = flushing.force_flush(Duration::from_secs(10));
            }),
            enter: Box::new(move || Box::new(cx.clone().attach())),
        }
    }

    pub fn otel() -> Self {
        use opentelemetry::trace::{TraceContextExt as _, Tracer as _, TracerProvider as _};
        let provider = opentelemetry_sdk::logs::SdkLoggerProvider::builder()
            .with_log_processor(
                opentelemetry_sdk::logs::BatchLogProcessor::builder(NoopLogs)
                    .with_batch_config(
                        opentelemetry_sdk::logs::BatchConfigBuilder::default()
                            .with_max_queue_size(4096)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let spans = crate::spans::Otel::new(true);
        let span = spans.provider.tracer("bench").start("parent");
        let cx = opentelemetry::Context::current_with_span(span);
        let bridge =
            opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge::new(&provider);
        let flushing = provider.clone();
        Self {
            dispatch: Dispatch::new(tracing_subscriber::registry().with(bridge)),
            flush: Box::new(move || {
                let _ = flushing.force_flush();
            }),
            enter: Box::new(move || Box::new(cx.clone().attach())),
        }
    }

    /// Runs `f` with the stack's span current and its subscriber the default.
    pub fn in_span<T>(&self, f: impl FnOnce() -> T) -> T {
        let _guard = (self.enter)();
        tracing::dispatcher::with_default(&self.dispatch, f)
    }

    pub fn flush(&self) {
        (self.flush)();
    }
}

/// The measured event.
#[inline(never)]
pub fn event() {
    tracing::info!(
        order.id = 42,
        items = 3,
        customer = "c-17",
        express = true,
        total = 99.5,
        "order accepted"
    );
}
