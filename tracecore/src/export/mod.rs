//! Getting finished spans out of the process: processors decide when, exporters decide where.
//!
//! Ending a span hands it to the provider's processors. The [`SimpleProcessor`] exports it on
//! the spot (tests, development); the [`BatchProcessor`] queues it for a dedicated export thread,
//! so a slow or unreachable backend never slows a request: a full queue drops the span and
//! counts it. Exporters are synchronous and run on that thread, needing no async runtime.
//!
//! Exporters here: [`InMemoryExporter`] for tests, with a small kit to find spans and check
//! parents, and [`ConsoleExporter`], which prints each trace as a waterfall. OTLP lives in
//! `tracecore-otlp`.
//!
//! ```
//! use std::time::Duration;
//! use tracecore::export::{BatchProcessor, InMemoryExporter};
//! use tracecore::trace::TracerProvider;
//!
//! let exporter = InMemoryExporter::new();
//! let provider = TracerProvider::builder()
//!     .with_span_processor(BatchProcessor::builder(exporter.clone()).with_max_queue_size(4096).build())
//!     .build();
//! provider.tracer("demo").start("queued").end();
//! provider.force_flush(Duration::from_secs(5)).unwrap();
//! assert_eq!(exporter.finished_spans().len(), 1);
//! ```

mod batch;
mod console;
mod in_memory;
pub(crate) mod queue;
mod simple;
mod waterfall;

pub use batch::{BatchConfig, BatchProcessor, BatchProcessorBuilder};
pub use console::{ColorMode, ConsoleExporter, ConsoleMode};
pub use in_memory::{FinishedSpans, InMemoryExporter};
pub use simple::SimpleProcessor;
pub use waterfall::{WaterfallOptions, render_waterfall};

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::Context;
use crate::trace::{SpanData, SpanRef};

/// Raised when the pipeline shuts down, so that an exporter waiting between retries stops
/// waiting. Cloning gives another handle on the same signal.
///
/// ```
/// use std::time::Duration;
/// use tracecore::export::Interrupt;
///
/// let interrupt = Interrupt::new();
/// let waiter = interrupt.clone();
/// std::thread::spawn(move || interrupt.raise());
/// assert!(!waiter.wait(Duration::from_secs(10)), "woken early: not waited out");
/// ```
#[derive(Clone, Debug, Default)]
pub struct Interrupt(std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>);

impl Interrupt {
    /// A signal not raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raises it: every wait returns now, and later ones at once.
    pub fn raise(&self) {
        let (raised, changed) = &*self.0;
        *raised.lock().unwrap_or_else(|e| e.into_inner()) = true;
        changed.notify_all();
    }

    /// Whether it was raised.
    pub fn is_raised(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits `duration` unless raised first; `true` if the whole time passed.
    pub fn wait(&self, duration: Duration) -> bool {
        let (raised, changed) = &*self.0;
        let deadline = std::time::Instant::now() + duration;
        let mut guard = raised.lock().unwrap_or_else(|e| e.into_inner());
        while !*guard {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return true;
            }
            guard = changed
                .wait_timeout(guard, left)
                .map_or_else(|e| e.into_inner().0, |(g, _)| g);
        }
        false
    }
}

/// Sends finished spans somewhere. Runs on one thread at a time (never concurrently).
pub trait SpanExporter: Send + fmt::Debug {
    /// Gives the exporter the signal its pipeline raises at shutdown, before the first export:
    /// an exporter that waits (between retries) waits on it, so shutdown does not wait it out.
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        let _ = interrupt;
    }

    /// Exports `batch`, giving up after `timeout`. Only sampled spans arrive here.
    fn export(&mut self, batch: &[SpanData], timeout: Duration) -> Result<(), ExportError>;

    /// Sends anything the exporter buffers.
    fn force_flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; nothing is exported afterwards.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

impl<E: SpanExporter + ?Sized> SpanExporter for Box<E> {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        (**self).set_interrupt(interrupt);
    }
    fn export(&mut self, batch: &[SpanData], timeout: Duration) -> Result<(), ExportError> {
        (**self).export(batch, timeout)
    }
    fn force_flush(&mut self) -> Result<(), ExportError> {
        (**self).force_flush()
    }
    fn shutdown(&mut self) -> Result<(), ExportError> {
        (**self).shutdown()
    }
}

/// Receives spans as they start and end, and hands them to exporters.
pub trait SpanProcessor: Send + Sync + fmt::Debug {
    /// A recording span started.
    fn on_start(&self, _span: SpanRef<'_>, _parent: &Context) {}

    /// Whether [`on_start`](Self::on_start) does anything: a processor that only exports ended
    /// spans says `false`, and spans skip the call (asked once, when the provider is built).
    /// Default `true`.
    fn needs_on_start(&self) -> bool {
        true
    }

    /// A recording span ended (sampled or record-only). Must not block.
    fn on_end(&self, span: SpanData);

    /// Exports everything ended so far, waiting at most `timeout`.
    fn force_flush(&self, timeout: Duration) -> Result<(), FlushError>;

    /// Flushes and stops, waiting at most `timeout`.
    fn shutdown(&self, timeout: Duration) -> Result<(), FlushError>;

    /// Spans dropped so far, by reason. Default: none.
    fn drops(&self) -> Drops {
        Drops::default()
    }

    /// Spans dropped so far (queue full, export failed, after shutdown). Default: the total of
    /// [`drops`](Self::drops).
    fn dropped_spans(&self) -> u64 {
        self.drops().total()
    }
}

/// What a processor dropped, by reason: every span or log record it was given and did not
/// export is in exactly one of these. (An export that timed out is counted as failed even when
/// its receiver kept the data: OTLP delivery is at least once.)
///
/// ```
/// use tracecore::export::Drops;
///
/// let mut drops = Drops::default();
/// drops.queue_full = 2;
/// drops.export_failed = 3;
/// assert_eq!(drops.total(), 5);
/// assert_eq!((drops + drops).queue_full, 4);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Drops {
    /// The queue held its maximum number of items.
    pub queue_full: u64,
    /// The queue held its maximum of estimated bytes.
    pub bytes_full: u64,
    /// The exporter failed (after its own retries) or timed out.
    pub export_failed: u64,
    /// Arrived after shutdown, or still queued when shutdown ran out of time.
    pub shut_down: u64,
}

impl Drops {
    /// Every reason together.
    pub fn total(&self) -> u64 {
        self.queue_full + self.bytes_full + self.export_failed + self.shut_down
    }
}

/// Counts added reason by reason: the totals of several processors.
impl std::ops::Add for Drops {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            queue_full: self.queue_full + other.queue_full,
            bytes_full: self.bytes_full + other.bytes_full,
            export_failed: self.export_failed + other.export_failed,
            shut_down: self.shut_down + other.shut_down,
        }
    }
}

impl std::iter::Sum for Drops {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |total, drops| total + drops)
    }
}

/// The error an exporter returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportError {
    message: Cow<'static, str>,
}

impl ExportError {
    /// An export failure described by `message`.
    pub fn new(message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ExportError {}

/// Why a flush or shutdown did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlushError {
    kind: FlushErrorKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum FlushErrorKind {
    Timeout(Duration),
    ShutDown,
    Export(ExportError),
}

impl FlushError {
    pub(crate) fn timeout(after: Duration) -> Self {
        Self {
            kind: FlushErrorKind::Timeout(after),
        }
    }

    pub(crate) fn shut_down() -> Self {
        Self {
            kind: FlushErrorKind::ShutDown,
        }
    }

    pub(crate) fn export(error: ExportError) -> Self {
        Self {
            kind: FlushErrorKind::Export(error),
        }
    }

    /// Whether the wait ran out of time.
    pub fn is_timeout(&self) -> bool {
        matches!(self.kind, FlushErrorKind::Timeout(_))
    }
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FlushErrorKind::Timeout(d) => {
                write!(f, "timed out after {d:?} waiting for the exporter")
            }
            FlushErrorKind::ShutDown => f.write_str("the pipeline is already shut down"),
            FlushErrorKind::Export(e) => write!(f, "export failed: {e}"),
        }
    }
}

impl std::error::Error for FlushError {}
