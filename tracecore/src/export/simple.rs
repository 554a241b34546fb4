//! The simple processor: exports each span as it ends, on the ending thread.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{Drops, FlushError, SpanExporter, SpanProcessor};
use crate::trace::SpanData;

/// How long one inline export may take.
const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// Exports each sampled span as it ends, inline. Meant for tests and development: the ending
/// thread waits for the exporter.
pub struct SimpleProcessor {
    exporter: Mutex<Box<dyn SpanExporter>>,
    shut_down: AtomicBool,
    /// Dropped after shutdown.
    late: AtomicU64,
    /// Dropped by a failed export.
    failed: AtomicU64,
}

impl SimpleProcessor {
    /// A processor exporting to `exporter`.
    pub fn new(exporter: impl SpanExporter + 'static) -> Self {
        Self {
            exporter: Mutex::new(Box::new(exporter)),
            shut_down: AtomicBool::new(false),
            late: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }

    fn exporter(&self) -> std::sync::MutexGuard<'_, Box<dyn SpanExporter>> {
        self.exporter.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SpanProcessor for SimpleProcessor {
    fn needs_on_start(&self) -> bool {
        false
    }

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        if self.shut_down.load(Ordering::Acquire) {
            self.late.fetch_add(1, Ordering::Relaxed);
            return;
        }
        if self
            .exporter()
            .export(std::slice::from_ref(&span), EXPORT_TIMEOUT)
            .is_err()
        {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        crate::trace::recycle::give_back(span.attributes);
    }

    fn force_flush(&self, _timeout: Duration) -> Result<(), FlushError> {
        self.exporter().force_flush().map_err(FlushError::export)
    }

    fn shutdown(&self, _timeout: Duration) -> Result<(), FlushError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(FlushError::shut_down());
        }
        let mut exporter = self.exporter();
        let flushed = exporter.force_flush();
        let stopped = exporter.shutdown();
        flushed.and(stopped).map_err(FlushError::export)
    }

    fn drops(&self) -> Drops {
        Drops {
            export_failed: self.failed.load(Ordering::Relaxed),
            shut_down: self.late.load(Ordering::Relaxed),
            ..Drops::default()
        }
    }
}

impl fmt::Debug for SimpleProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleProcessor")
            .field("dropped", &self.dropped_spans())
            .finish_non_exhaustive()
    }
}
