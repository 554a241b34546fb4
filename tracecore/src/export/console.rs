//! The console exporter: traces as waterfalls (or one line per span) on a terminal.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::waterfall::format_duration;
use super::{ExportError, SpanExporter, WaterfallOptions, render_waterfall};
use crate::TraceId;
use crate::trace::SpanData;

/// What the console exporter prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ConsoleMode {
    /// A waterfall per trace, printed when the trace's local root span ends.
    #[default]
    Waterfall,
    /// One line per span, as it ends.
    Compact,
}

/// Whether to colour the output.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ColorMode {
    /// Colour when writing to a terminal and `NO_COLOR` is not set.
    #[default]
    Auto,
    /// Always colour.
    Always,
    /// Never colour.
    Never,
}

/// Spans buffered at most while waiting for their trace's local root; past it the oldest
/// trace is printed as it is.
const MAX_PENDING: usize = 10_000;

/// Prints spans for a developer: each trace as a waterfall when its local root ends (a span
/// with no parent in this process), or one line per span in [`ConsoleMode::Compact`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use tracecore::export::{ColorMode, ConsoleExporter};
/// use tracecore::trace::TracerProvider;
///
/// #[derive(Clone, Default)]
/// struct Buffer(Arc<Mutex<Vec<u8>>>);
/// impl std::io::Write for Buffer {
///     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
///     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
/// }
///
/// let out = Buffer::default();
/// let exporter = ConsoleExporter::new().with_writer(out.clone()).with_color(ColorMode::Never);
/// let provider = TracerProvider::builder().with_service_name("api").with_simple_exporter(exporter).build();
/// provider.tracer("doc").start("handle").end();
/// let printed = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
/// assert!(printed.contains("api  INTERNAL  handle"));
/// ```
pub struct ConsoleExporter {
    writer: Box<dyn Write + Send>,
    to_stdout: bool,
    mode: ConsoleMode,
    color: ColorMode,
    bar_width: usize,
    pending: HashMap<TraceId, Vec<SpanData>>,
    order: VecDeque<TraceId>,
    pending_spans: usize,
}

impl ConsoleExporter {
    /// Waterfalls on standard output, coloured on a terminal.
    pub fn new() -> Self {
        Self {
            writer: Box::new(std::io::stdout()),
            to_stdout: true,
            mode: ConsoleMode::Waterfall,
            color: ColorMode::Auto,
            bar_width: 40,
            pending: HashMap::new(),
            order: VecDeque::new(),
            pending_spans: 0,
        }
    }

    /// Writes to `writer` instead of standard output.
    #[must_use]
    pub fn with_writer(mut self, writer: impl Write + Send + 'static) -> Self {
        self.writer = Box::new(writer);
        self.to_stdout = false;
        self
    }

    /// Waterfall or compact.
    #[must_use]
    pub fn with_mode(mut self, mode: ConsoleMode) -> Self {
        self.mode = mode;
        self
    }

    /// Colour choice.
    #[must_use]
    pub fn with_color(mut self, color: ColorMode) -> Self {
        self.color = color;
        self
    }

    /// Width of the timing bar.
    #[must_use]
    pub fn with_bar_width(mut self, width: usize) -> Self {
        self.bar_width = width;
        self
    }

    fn colored(&self) -> bool {
        match self.color {
            ColorMode::Always => true,
            ColorMode::Never => false,
            ColorMode::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && self.to_stdout
                    && std::io::stdout().is_terminal()
            }
        }
    }

    fn options(&self) -> WaterfallOptions {
        WaterfallOptions::default()
            .with_bar_width(self.bar_width)
            .with_color(self.colored())
    }

    fn print_trace(&mut self, id: TraceId) -> std::io::Result<()> {
        if let Some(spans) = self.pending.remove(&id) {
            self.pending_spans -= spans.len();
            self.order.retain(|t| *t != id);
            let text = render_waterfall(&spans, &self.options());
            self.writer.write_all(text.as_bytes())?;
        }
        Ok(())
    }

    fn compact_line(span: &SpanData) -> String {
        let parent = span
            .parent_span_id
            .map_or_else(|| "-".to_owned(), |p| p.to_string());
        format!(
            "{} {} {} {:?} {} trace={} span={} parent={}\n",
            span.resource.service_name(),
            span.kind.as_str(),
            span.name,
            span.status,
            format_duration(span.duration()),
            span.span_context.trace_id(),
            span.span_context.span_id(),
            parent
        )
    }

    fn write_batch(&mut self, batch: &[SpanData]) -> std::io::Result<()> {
        for span in batch {
            if self.mode == ConsoleMode::Compact {
                self.writer.write_all(Self::compact_line(span).as_bytes())?;
                continue;
            }
            let id = span.span_context.trace_id();
            if !self.pending.contains_key(&id) {
                self.order.push_back(id);
            }
            self.pending.entry(id).or_default().push(span.clone());
            self.pending_spans += 1;
            if span.is_local_root() {
                self.print_trace(id)?;
            }
            while self.pending_spans > MAX_PENDING {
                match self.order.front().copied() {
                    Some(oldest) => self.print_trace(oldest)?,
                    None => break,
                }
            }
        }
        self.writer.flush()
    }

    fn print_all(&mut self) -> std::io::Result<()> {
        while let Some(id) = self.order.front().copied() {
            self.print_trace(id)?;
        }
        self.writer.flush()
    }
}

impl Default for ConsoleExporter {
    fn default() -> Self {
        Self::new()
    }
}

impl SpanExporter for ConsoleExporter {
    fn export(&mut self, batch: &[SpanData], _timeout: Duration) -> Result<(), ExportError> {
        self.write_batch(batch)
            .map_err(|e| ExportError::new(format!("console write failed: {e}")))
    }

    fn force_flush(&mut self) -> Result<(), ExportError> {
        self.print_all()
            .map_err(|e| ExportError::new(format!("console write failed: {e}")))
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.force_flush()
    }
}

impl fmt::Debug for ConsoleExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConsoleExporter")
            .field("mode", &self.mode)
            .field("color", &self.color)
            .field("pending_spans", &self.pending_spans)
            .finish_non_exhaustive()
    }
}
