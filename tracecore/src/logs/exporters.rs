//! Where log records go: the exporter trait, and the in-memory and console exporters.

use std::fmt;
use std::io::Write as _;
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use super::LogRecord;
use crate::export::{ExportError, Interrupt};

/// Sends log records somewhere. Runs on one thread at a time (never concurrently).
pub trait LogExporter: Send + fmt::Debug {
    /// Gives the exporter the signal its pipeline raises at shutdown (see
    /// [`SpanExporter::set_interrupt`](crate::export::SpanExporter::set_interrupt)).
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        let _ = interrupt;
    }

    /// Exports `batch`, giving up after `timeout`.
    fn export(&mut self, batch: &[LogRecord], timeout: Duration) -> Result<(), ExportError>;

    /// Sends anything the exporter buffers.
    fn force_flush(&mut self) -> Result<(), ExportError> {
        Ok(())
    }

    /// Releases resources; nothing is exported afterwards.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

impl<E: LogExporter + ?Sized> LogExporter for Box<E> {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        (**self).set_interrupt(interrupt);
    }
    fn export(&mut self, batch: &[LogRecord], timeout: Duration) -> Result<(), ExportError> {
        (**self).export(batch, timeout)
    }
    fn force_flush(&mut self) -> Result<(), ExportError> {
        (**self).force_flush()
    }
    fn shutdown(&mut self) -> Result<(), ExportError> {
        (**self).shutdown()
    }
}

/// Keeps every record it is given, for tests. Clones share the records.
#[derive(Clone, Debug, Default)]
pub struct InMemoryLogExporter {
    records: Arc<Mutex<Vec<LogRecord>>>,
}

impl InMemoryLogExporter {
    /// An empty exporter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The records exported so far.
    pub fn finished_records(&self) -> Vec<LogRecord> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Forgets them.
    pub fn reset(&self) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

impl LogExporter for InMemoryLogExporter {
    fn export(&mut self, batch: &[LogRecord], _timeout: Duration) -> Result<(), ExportError> {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(batch);
        Ok(())
    }
}

/// Prints each record as a line on standard error: time, severity, scope, body, attributes,
/// and the trace and span ids when it has them.
#[derive(Debug, Default)]
pub struct ConsoleLogExporter;

impl ConsoleLogExporter {
    /// A console exporter.
    pub fn new() -> Self {
        Self
    }

    /// One record's line.
    pub fn line(record: &LogRecord) -> String {
        let time = record
            .timestamp
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or_else(
                || "-".to_owned(),
                |d| format!("{}.{:06}", d.as_secs(), d.subsec_micros()),
            );
        let mut line = format!(
            "{time} {:5} {}:",
            record.severity.text(),
            record.scope.name()
        );
        if let Some(body) = &record.body {
            line.push(' ');
            line.push_str(&body.to_string());
        }
        for kv in &record.attributes {
            line.push_str(&format!(" {}={}", kv.key.as_str(), kv.value));
        }
        if let (Some(trace), Some(span)) = (record.trace_id, record.span_id) {
            line.push_str(&format!(" trace_id={trace} span_id={span}"));
        }
        line
    }
}

impl LogExporter for ConsoleLogExporter {
    fn export(&mut self, batch: &[LogRecord], _timeout: Duration) -> Result<(), ExportError> {
        let mut out = std::io::stderr().lock();
        for record in batch {
            writeln!(out, "{}", Self::line(record))
                .map_err(|e| ExportError::new(format!("console: {e}")))?;
        }
        Ok(())
    }
}
