//! Logs, the third signal: log records tied to the span they were written in, through the same
//! kind of pipeline as spans (a bounded batch queue drained by an export thread, every drop
//! counted, flush and shutdown within their deadlines).
//!
//! A [`LoggerProvider`] owns the resource, the limits and the processors; a [`Logger`] (one per
//! instrumentation scope) emits [`LogRecord`]s. `tracecore-tracing`'s `LogLayer` turns `tracing`
//! events into records; `tracecore-otlp` sends them to `/v1/logs`.
//!
//! ```
//! use std::time::Duration;
//! use tracecore::logs::{InMemoryLogExporter, LogRecord, LoggerProvider, Severity};
//!
//! let exporter = InMemoryLogExporter::new();
//! let provider = LoggerProvider::builder()
//!     .with_service_name("checkout")
//!     .with_simple_exporter(exporter.clone())
//!     .build();
//! let logger = provider.logger("checkout::orders");
//! logger.emit(LogRecord::new(Severity::WARN).with_body("stock low").with_attribute(tracecore::KeyValue::new("item.id", 7)));
//! let records = exporter.finished_records();
//! assert_eq!(records[0].severity_text.as_deref(), Some("WARN"));
//! assert_eq!(records[0].resource.service_name(), "checkout");
//! ```

mod exporters;
mod processors;
mod provider;
mod record;

pub use exporters::{ConsoleLogExporter, InMemoryLogExporter, LogExporter};
pub use processors::{
    BatchLogProcessor, BatchLogProcessorBuilder, LogProcessor, SimpleLogProcessor,
};
pub use provider::{LogLimits, Logger, LoggerProvider, LoggerProviderBuilder};
pub use record::{LogRecord, Severity};
