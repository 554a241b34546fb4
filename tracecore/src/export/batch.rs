//! The batch processor: a bounded queue drained by one dedicated export thread.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::fmt;
use std::time::Duration;

use super::queue::{BatchQueue, Queued, Sink};
use super::{Drops, ExportError, FlushError, Interrupt, SpanExporter, SpanProcessor};
use crate::trace::SpanData;
use crate::{diag, env};

/// Batch processor settings, with the OpenTelemetry defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Spans queued at most; past it new spans are dropped and counted (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048).
    pub max_queue_size: usize,
    /// The longest a span waits before export (`OTEL_BSP_SCHEDULE_DELAY`, 5000 ms).
    pub scheduled_delay: Duration,
    /// Spans per export; a full batch is exported at once (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, 512).
    pub max_export_batch_size: usize,
    /// The time one export may take (`OTEL_BSP_EXPORT_TIMEOUT`, 30000 ms).
    pub export_timeout: Duration,
    /// The bytes the queued spans (and the batch being exported) may hold, as
    /// [`SpanData::estimated_size`] counts them; past it new spans are dropped and counted like
    /// on a full queue (`TRACECORE_BSP_MAX_QUEUE_BYTES`, 32 MiB: with the exporter's buffers, a
    /// service's tracing stays under 64 MiB whatever its spans carry).
    pub max_queue_bytes: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            scheduled_delay: Duration::from_millis(5000),
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
            max_queue_bytes: 32 * 1024 * 1024,
        }
    }
}

impl BatchConfig {
    /// The settings the `OTEL_BSP_*` variables give, defaults for the rest. A bad value is warned
    /// about once, naming the variable, and the default is used.
    pub fn from_env() -> Self {
        let d = Self::default();
        let positive = |name: &str, default: usize| match env::usize_var(name) {
            Some(0) => {
                diag::warn_once(&format!("{name}: value 0 is not positive; using {default}"));
                default
            }
            Some(v) => v,
            None => default,
        };
        Self {
            max_queue_size: positive("OTEL_BSP_MAX_QUEUE_SIZE", d.max_queue_size),
            scheduled_delay: env::millis_var("OTEL_BSP_SCHEDULE_DELAY")
                .unwrap_or(d.scheduled_delay),
            max_export_batch_size: positive(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                d.max_export_batch_size,
            ),
            export_timeout: env::millis_var("OTEL_BSP_EXPORT_TIMEOUT").unwrap_or(d.export_timeout),
            max_queue_bytes: positive("TRACECORE_BSP_MAX_QUEUE_BYTES", d.max_queue_bytes),
        }
        .validated()
    }

    /// Sizes at least 1, and a batch no larger than the queue.
    pub(crate) fn validated(mut self) -> Self {
        self.max_queue_size = self.max_queue_size.max(1);
        self.max_export_batch_size = self.max_export_batch_size.max(1);
        if self.max_export_batch_size > self.max_queue_size {
            diag::warn_once(&format!(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE: {} is larger than the queue ({}); using {}",
                self.max_export_batch_size, self.max_queue_size, self.max_queue_size
            ));
            self.max_export_batch_size = self.max_queue_size;
        }
        self
    }
}

/// Queues sampled spans (bounded) for one export thread; the caller never waits for the exporter.
///
/// The thread exports when a batch is full, when the scheduled delay has passed, on
/// [`force_flush`](SpanProcessor::force_flush), and on shutdown (which drains the queue first).
/// A full queue drops the newest span and counts it; so does an export that fails.
pub struct BatchProcessor {
    queue: BatchQueue<SpanData>,
}

impl Queued for SpanData {
    fn estimated_size(&self) -> usize {
        Self::estimated_size(self)
    }

    /// Their attribute lists (and their events', with the events' owned names) go back for
    /// new spans.
    fn recycle(items: &mut VecDeque<Self>) {
        let mut names = Vec::new();
        let mut lists = Vec::with_capacity(items.len());
        for span in items.iter_mut() {
            lists.push(std::mem::take(&mut span.attributes));
            for event in &mut span.events {
                lists.push(std::mem::take(&mut event.attributes));
                if let Cow::Owned(name) = std::mem::take(&mut event.name) {
                    names.push(name);
                }
            }
        }
        crate::trace::recycle::give_back_all_with(lists.into_iter(), names);
    }
}

/// A span exporter as the queue's sink.
struct Spans(Box<dyn SpanExporter>);

impl Sink<SpanData> for Spans {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.0.set_interrupt(interrupt);
    }
    fn export(&mut self, batch: &[SpanData], timeout: Duration) -> Result<(), ExportError> {
        self.0.export(batch, timeout)
    }
    fn force_flush(&mut self) -> Result<(), ExportError> {
        self.0.force_flush()
    }
    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.0.shutdown()
    }
}

/// Builds a [`BatchProcessor`].
#[derive(Debug)]
pub struct BatchProcessorBuilder {
    exporter: Box<dyn SpanExporter>,
    config: BatchConfig,
}

impl BatchProcessorBuilder {
    /// Uses `config` as a whole.
    #[must_use]
    pub fn with_config(mut self, config: BatchConfig) -> Self {
        self.config = config;
        self
    }

    /// Queue capacity.
    #[must_use]
    pub fn with_max_queue_size(mut self, size: usize) -> Self {
        self.config.max_queue_size = size;
        self
    }

    /// Scheduled delay.
    #[must_use]
    pub fn with_scheduled_delay(mut self, delay: Duration) -> Self {
        self.config.scheduled_delay = delay;
        self
    }

    /// Bytes the queued spans may hold (estimated), instead of `TRACECORE_BSP_MAX_QUEUE_BYTES`.
    #[must_use]
    pub fn with_max_queue_bytes(mut self, bytes: usize) -> Self {
        self.config.max_queue_bytes = bytes.max(1);
        self
    }

    /// Spans per export.
    #[must_use]
    pub fn with_max_export_batch_size(mut self, size: usize) -> Self {
        self.config.max_export_batch_size = size;
        self
    }

    /// Time one export may take.
    #[must_use]
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.config.export_timeout = timeout;
        self
    }

    /// Starts the export thread.
    pub fn build(self) -> BatchProcessor {
        BatchProcessor {
            queue: BatchQueue::start(
                self.config,
                Box::new(Spans(self.exporter)),
                "tracecore-export",
                "spans",
            ),
        }
    }
}

impl BatchProcessor {
    /// A builder with settings from `OTEL_BSP_*` (or the defaults).
    pub fn builder(exporter: impl SpanExporter + 'static) -> BatchProcessorBuilder {
        BatchProcessorBuilder {
            exporter: Box::new(exporter),
            config: BatchConfig::from_env(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &BatchConfig {
        self.queue.config()
    }

    /// Spans exported successfully so far.
    pub fn exported_spans(&self) -> u64 {
        self.queue.exported()
    }

    /// Spans waiting in the queue or being exported now.
    pub fn queued_spans(&self) -> usize {
        self.queue.queued()
    }
}

impl SpanProcessor for BatchProcessor {
    fn needs_on_start(&self) -> bool {
        false
    }

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() {
            self.queue.push(span);
        }
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

impl fmt::Debug for BatchProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchProcessor")
            .field("config", self.config())
            .field("exported", &self.exported_spans())
            .field("dropped", &self.dropped_spans())
            .finish()
    }
}
