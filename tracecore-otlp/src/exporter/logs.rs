//! The log record exporter.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tracecore::export::{ExportError, Interrupt};
use tracecore::logs::{LogExporter, LogRecord};

use super::OtlpStats;
use super::transport::{MAX_REQUEST_SIZE, Transport};
use crate::Protocol;

/// Sends log records to an OTLP/HTTP receiver's `v1/logs`, from a
/// [`BatchLogProcessor`](tracecore::logs::BatchLogProcessor)'s thread: the same formats,
/// retries, timeouts and TLS as [`OtlpExporter`](super::OtlpExporter), from the
/// `OTEL_EXPORTER_OTLP_LOGS_*` variables over the generic ones.
///
/// ```no_run
/// use tracecore::logs::LoggerProvider;
/// use tracecore_otlp::OtlpExporter;
///
/// let exporter = OtlpExporter::builder().build_logs()?; // http://localhost:4318/v1/logs
/// let logs = LoggerProvider::builder().with_batch_exporter(exporter).build();
/// # Ok::<(), tracecore_otlp::ConfigError>(())
/// ```
pub struct OtlpLogExporter {
    pub(super) transport: Transport,
    pub(super) failing: bool,
    pub(super) shut_down: bool,
}

impl OtlpLogExporter {
    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.transport.endpoint
    }

    /// The body format.
    pub fn protocol(&self) -> Protocol {
        self.transport.protocol
    }

    /// A live view of this exporter's counters (`records_*`).
    pub fn stats(&self) -> OtlpStats {
        OtlpStats(self.transport.stats.clone())
    }
}

impl LogExporter for OtlpLogExporter {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.transport.interrupt = interrupt;
    }

    fn export(&mut self, batch: &[LogRecord], timeout: Duration) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::new("the OTLP log exporter is shut down"));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let t = &mut self.transport;
        let n = batch.len() as u64;
        let held = t.held();
        if held.is_none() {
            t.body.clear();
            t.protocol.encode_logs(batch, &mut t.body);
        }
        let result = if let Some(why) = held {
            Err(why)
        } else if t.body.len() > MAX_REQUEST_SIZE {
            Err(format!(
                "the log records encode to {} bytes, past the {MAX_REQUEST_SIZE}-byte request limit",
                t.body.len()
            ))
        } else {
            let deadline = t.deadline(timeout);
            t.send(deadline)
        };
        let counter = match result {
            Ok(()) => &t.stats.records_exported,
            Err(_) => &t.stats.records_failed,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        t.report(&mut self.failing, result, "log records")
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        Ok(())
    }
}

impl fmt::Debug for OtlpLogExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpLogExporter")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}
