//! The span exporter.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tracecore::export::{ExportError, Interrupt, SpanExporter};
use tracecore::trace::SpanData;

use super::transport::{MAX_REQUEST_SIZE, Transport};
use super::{OtlpExporterBuilder, OtlpStats};
use crate::Protocol;

/// Sends spans to an OTLP/HTTP receiver (an OpenTelemetry Collector, Jaeger, Tempo, ...).
///
/// Runs on the batch processor's export thread, with a blocking HTTP client of its own that is
/// not instrumented, so export requests never produce spans. A receiver that is down, slow or
/// refusing costs retries on that thread and then dropped spans, which the processor counts;
/// the request path never waits. Give it to a
/// [`BatchProcessor`](tracecore::export::BatchProcessor), not a `SimpleProcessor` (which would
/// export on the thread that ends the span).
///
/// ```no_run
/// use tracecore::trace::TracerProvider;
/// use tracecore_otlp::OtlpExporter;
///
/// let exporter = OtlpExporter::builder().build()?; // OTEL_EXPORTER_OTLP_* or http://localhost:4318
/// let provider = TracerProvider::builder().with_batch_exporter(exporter).build();
/// # Ok::<(), tracecore_otlp::ConfigError>(())
/// ```
pub struct OtlpExporter {
    pub(super) transport: Transport,
    pub(super) failing: bool,
    pub(super) shut_down: bool,
}

impl OtlpExporter {
    /// A builder reading `OTEL_EXPORTER_OTLP_*` for what code does not set.
    pub fn builder() -> OtlpExporterBuilder {
        OtlpExporterBuilder::default()
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.transport.endpoint
    }

    /// The body format.
    pub fn protocol(&self) -> Protocol {
        self.transport.protocol
    }

    /// A live view of this exporter's counters (take it before handing the exporter over).
    pub fn stats(&self) -> OtlpStats {
        OtlpStats(self.transport.stats.clone())
    }

    /// One export of `batch` (split in halves while it encodes past the request limit), all
    /// before `deadline`.
    fn send(&mut self, batch: &[SpanData], deadline: Option<Instant>) -> Result<(), String> {
        let t = &mut self.transport;
        t.body.clear();
        t.protocol.encode(batch, &mut t.body);
        if t.body.len() > MAX_REQUEST_SIZE {
            if batch.len() == 1 {
                return Err(format!(
                    "a span encodes to {} bytes, past the {MAX_REQUEST_SIZE}-byte request limit",
                    t.body.len()
                ));
            }
            let (a, b) = batch.split_at(batch.len() / 2);
            let first = self.send(a, deadline);
            let second = self.send(b, deadline);
            return first.and(second);
        }
        self.transport.send(deadline)
    }
}

impl SpanExporter for OtlpExporter {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.transport.interrupt = interrupt;
    }

    fn export(&mut self, batch: &[SpanData], timeout: Duration) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::new("the OTLP exporter is shut down"));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let deadline = self.transport.deadline(timeout);
        let n = batch.len() as u64;
        let result = match self.transport.held() {
            Some(why) => Err(why),
            None => self.send(batch, deadline),
        };
        let t = &self.transport;
        let counter = match result {
            Ok(()) => &t.stats.spans_exported,
            Err(_) => &t.stats.spans_failed,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        t.report(&mut self.failing, result, "spans")
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        Ok(())
    }
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}
