//! The metric exporter.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracecore::export::{ExportError, Interrupt};
use tracecore::metrics::{MetricExporter, ResourceMetrics, Temporality};

use super::OtlpStats;
use super::transport::{MAX_REQUEST_SIZE, Transport};
use crate::Protocol;

/// Sends metrics to an OTLP/HTTP receiver's `v1/metrics`, from a
/// [`PeriodicReader`](tracecore::metrics::PeriodicReader)'s thread: the same formats, retries,
/// timeouts and TLS as [`OtlpExporter`](super::OtlpExporter), from the `OTEL_EXPORTER_OTLP_METRICS_*` variables over
/// the generic ones, and the temporality `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
/// asks for.
///
/// ```no_run
/// use tracecore::metrics::{MeterProvider, PeriodicReader};
/// use tracecore_otlp::OtlpExporter;
///
/// let exporter = OtlpExporter::builder().build_metrics()?; // http://localhost:4318/v1/metrics
/// let meters = MeterProvider::builder().with_reader(PeriodicReader::new(exporter)).build();
/// # Ok::<(), tracecore_otlp::ConfigError>(())
/// ```
pub struct OtlpMetricExporter {
    pub(super) transport: Transport,
    pub(super) temporality: Temporality,
    pub(super) failing: bool,
    pub(super) shut_down: bool,
}

impl OtlpMetricExporter {
    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.transport.endpoint
    }

    /// The body format.
    pub fn protocol(&self) -> Protocol {
        self.transport.protocol
    }

    /// A live view of this exporter's counters (`points_*`).
    pub fn stats(&self) -> OtlpStats {
        OtlpStats(self.transport.stats.clone())
    }
}

impl MetricExporter for OtlpMetricExporter {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.transport.interrupt = interrupt;
    }

    fn export(&mut self, metrics: &ResourceMetrics, timeout: Duration) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::new("the OTLP metric exporter is shut down"));
        }
        let t = &mut self.transport;
        // Held back by a `Retry-After`: not even encoded.
        let held = t.held();
        if held.is_none() {
            t.body.clear();
            t.protocol.encode_metrics(metrics, &mut t.body);
            if t.body.is_empty() {
                return Ok(());
            }
        }
        let n = metrics.point_count() as u64;
        if held.is_some() && n == 0 {
            return Ok(());
        }
        let result = if let Some(why) = held {
            Err(why)
        } else if t.body.len() > MAX_REQUEST_SIZE {
            Err(format!(
                "the metrics encode to {} bytes, past the {MAX_REQUEST_SIZE}-byte request limit",
                t.body.len()
            ))
        } else {
            let deadline = t.deadline(timeout);
            t.send(deadline)
        };
        let counter = match result {
            Ok(()) => &t.stats.points_exported,
            Err(_) => &t.stats.points_failed,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        t.report(&mut self.failing, result, "metric points")
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        Ok(())
    }
}

impl fmt::Debug for OtlpMetricExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpMetricExporter")
            .field("transport", &self.transport)
            .field("temporality", &self.temporality)
            .finish_non_exhaustive()
    }
}
