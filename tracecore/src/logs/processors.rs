//! Log processors: the batch processor (a bounded queue and an export thread, as for spans) and
//! the simple one (export inline).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{LogExporter, LogRecord};
use crate::export::queue::{BatchQueue, Queued, Sink};
use crate::export::{BatchConfig, Drops, ExportError, FlushError, Interrupt};
use crate::{diag, env};

/// Receives every record a logger emits.
pub trait LogProcessor: Send + Sync + fmt::Debug {
    /// A record was emitted. Must not block on an exporter.
    fn emit(&self, record: LogRecord);

    /// Exports everything emitted so far, waiting at most `timeout`.
    fn force_flush(&self, timeout: Duration) -> Result<(), FlushError>;

    /// Flushes and stops, waiting at most `timeout`.
    fn shutdown(&self, timeout: Duration) -> Result<(), FlushError>;

    /// Records it dropped so far, by reason. Default: none.
    fn drops(&self) -> Drops {
        Drops::default()
    }

    /// Records it had to drop (queue full, export failed, after shutdown). Default: the total
    /// of [`drops`](Self::drops).
    fn dropped_records(&self) -> u64 {
        self.drops().total()
    }
}

impl Queued for LogRecord {
    fn estimated_size(&self) -> usize {
        Self::estimated_size(self)
    }

    /// Their attribute lists and owned bodies go back for new spans and records.
    fn recycle(items: &mut VecDeque<Self>) {
        let bodies = items
            .iter_mut()
            .filter_map(|record| match record.body.take() {
                Some(crate::Value::String(std::borrow::Cow::Owned(body))) => Some(body),
                _ => None,
            })
            .collect();
        crate::trace::recycle::give_back_all_with(
            items
                .iter_mut()
                .map(|record| std::mem::take(&mut record.attributes)),
            bodies,
        );
    }
}

struct Records(Box<dyn LogExporter>);

impl Sink<LogRecord> for Records {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.0.set_interrupt(interrupt);
    }
    fn export(&mut self, batch: &[LogRecord], timeout: Duration) -> Result<(), ExportError> {
        self.0.export(batch, timeout)
    }
    fn force_flush(&mut self) -> Result<(), ExportError> {
        self.0.force_flush()
    }
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.0.shutdown()
    }
}

/// Queues records (bounded in records and in bytes) for one export thread; the caller never
/// waits for the exporter, and every record dropped is counted. Settings from `OTEL_BLRP_*`
/// (schedule delay 1000 ms, queue 2048, batch 512, export timeout 30000 ms) and
/// `TRACECORE_BLRP_MAX_QUEUE_BYTES` (32 MiB).
pub struct BatchLogProcessor {
    queue: BatchQueue<LogRecord>,
}

/// Builds a [`BatchLogProcessor`].
#[derive(Debug)]
pub struct BatchLogProcessorBuilder {
    exporter: Box<dyn LogExporter>,
    config: BatchConfig,
}

/// The batch settings the `OTEL_BLRP_*` variables give, the specification's log defaults for the
/// rest.
fn config_from_env() -> BatchConfig {
    let mut c = BatchConfig {
        scheduled_delay: Duration::from_millis(1000),
        ..BatchConfig::default()
    };
    let positive = |name: &str, default: usize| match env::usize_var(name) {
        Some(0) => {
            diag::warn_once(&format!("{name}: value 0 is not positive; using {default}"));
            default
        }
        Some(v) => v,
        None => default,
    };
    c.max_queue_size = positive("OTEL_BLRP_MAX_QUEUE_SIZE", c.max_queue_size);
    c.max_export_batch_size = positive("OTEL_BLRP_MAX_EXPORT_BATCH_SIZE", c.max_export_batch_size);
    c.max_queue_bytes = positive("TRACECORE_BLRP_MAX_QUEUE_BYTES", c.max_queue_bytes);
    if let Some(d) = env::millis_var("OTEL_BLRP_SCHEDULE_DELAY") {
        c.scheduled_delay = d;
    }
    if let Some(d) = env::millis_var("OTEL_BLRP_EXPORT_TIMEOUT") {
        c.export_timeout = d;
    }
    c
}

impl BatchLogProcessorBuilder {
    /// Uses `config` as a whole.
    #[must_use]
    pub fn with_config(mut self, config: BatchConfig) -> Self {
        self.config = config;
        self
    }

    /// Records queued at most.
    #[must_use]
    pub fn with_max_queue_size(mut self, size: usize) -> Self {
        self.config.max_queue_size = size;
        self
    }

    /// Bytes the queued records may hold (estimated).
    #[must_use]
    pub fn with_max_queue_bytes(mut self, bytes: usize) -> Self {
        self.config.max_queue_bytes = bytes.max(1);
        self
    }

    /// The longest a record waits before export.
    #[must_use]
    pub fn with_scheduled_delay(mut self, delay: Duration) -> Self {
        self.config.scheduled_delay = delay;
        self
    }

    /// Starts the export thread.
    pub fn build(self) -> BatchLogProcessor {
        BatchLogProcessor {
            queue: BatchQueue::start(
                self.config,
                Box::new(Records(self.exporter)),
                "tracecore-log-export",
                "log records",
            ),
        }
    }
}

impl BatchLogProcessor {
    /// A builder with settings from `OTEL_BLRP_*` (or the defaults).
    pub fn builder(exporter: impl LogExporter + 'static) -> BatchLogProcessorBuilder {
        BatchLogProcessorBuilder {
            exporter: Box::new(exporter),
            config: config_from_env(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &BatchConfig {
        self.queue.config()
    }

    /// Records exported successfully so far.
    pub fn exported_records(&self) -> u64 {
        self.queue.exported()
    }

    /// Records waiting in the queue or being exported now.
    pub fn queued_records(&self) -> usize {
        self.queue.queued()
    }
}

impl LogProcessor for BatchLogProcessor {
    fn emit(&self, record: LogRecord) {
        self.queue.push(record);
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        self.queue.force_flush(timeout)
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        self.queue.shutdown(timeout)
    }

    fn drops(&self) -> Drops {
        self.queue.drops()
    }
}

impl fmt::Debug for BatchLogProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchLogProcessor")
            .field("config", self.config())
            .field("exported", &self.exported_records())
            .field("dropped", &self.dropped_records())
            .finish()
    }
}

/// Exports each record as it is emitted, on the emitting thread (tests, development).
pub struct SimpleLogProcessor {
    exporter: Mutex<Box<dyn LogExporter>>,
    shut_down: AtomicBool,
    /// Dropped after shutdown.
    late: AtomicU64,
    /// Dropped by a failed export.
    failed: AtomicU64,
}

impl SimpleLogProcessor {
    /// A processor exporting to `exporter`.
    pub fn new(exporter: impl LogExporter + 'static) -> Self {
        Self {
            exporter: Mutex::new(Box::new(exporter)),
            shut_down: AtomicBool::new(false),
            late: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        }
    }
}

impl LogProcessor for SimpleLogProcessor {
    fn emit(&self, record: LogRecord) {
        if self.shut_down.load(Ordering::Acquire) {
            self.late.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let mut exporter = self.exporter.lock().unwrap_or_else(|e| e.into_inner());
        if exporter
            .export(std::slice::from_ref(&record), Duration::from_secs(30))
            .is_err()
        {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn force_flush(&self, _timeout: Duration) -> Result<(), FlushError> {
        let _ = self
            .exporter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .force_flush();
        Ok(())
    }

    fn shutdown(&self, _timeout: Duration) -> Result<(), FlushError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(FlushError::shut_down());
        }
        let _ = self
            .exporter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .shutdown();
        Ok(())
    }

    fn drops(&self) -> Drops {
        Drops {
            export_failed: self.failed.load(Ordering::Relaxed),
            shut_down: self.late.load(Ordering::Relaxed),
            ..Drops::default()
        }
    }
}

impl fmt::Debug for SimpleLogProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleLogProcessor").finish_non_exhaustive()
    }
}
