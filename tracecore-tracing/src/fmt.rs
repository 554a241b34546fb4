//! Trace ids on tracing-subscriber's fmt lines: `trace_id=<32 hex> span_id=<16 hex>` on every
//! line written while a trace context is current.
//!
//! ```
//! use tracecore::export::InMemoryExporter;
//! use tracecore::trace::TracerProvider;
//! use tracecore_tracing::TracecoreLayer;
//! use tracecore_tracing::fmt::TraceIdFormat;
//! use tracing_subscriber::layer::SubscriberExt;
//! # use std::sync::{Arc, Mutex};
//! # #[derive(Clone, Default)] struct Lines(Arc<Mutex<Vec<u8>>>);
//! # impl std::io::Write for Lines {
//! #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().extend_from_slice(b); Ok(b.len()) }
//! #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
//! # }
//! # let lines = Lines::default();
//! # let writer = { let lines = lines.clone(); move || lines.clone() };
//!
//! let provider = TracerProvider::builder().with_simple_exporter(InMemoryExporter::new()).build();
//! let subscriber = tracing_subscriber::registry()
//!     .with(tracing_subscriber::fmt::layer().map_event_format(TraceIdFormat::new)
//! #       .with_writer(writer).with_ansi(false)
//!     )
//!     .with(TracecoreLayer::new(provider.tracer("app")));
//! tracing::subscriber::with_default(subscriber, || {
//!     let _span = tracing::info_span!("checkout").entered();
//!     tracing::info!("order accepted");
//! });
//! # let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
//! # assert!(text.trim_end().contains(" trace_id="), "{text}");
//! // 2026-12-01T19:41:07.118Z  INFO checkout: doc: order accepted trace_id=5b8e… span_id=a3f1…
//! ```
//!
//! Where the ids go: on text lines (the Full and Compact formats) at the end, after the
//! event's fields, where log pipelines look for `key=value` pairs; on a JSON line as the first
//! top-level keys `"trace_id"` and `"span_id"`, the names Grafana, Datadog and Elastic correlate
//! on. The place does not depend on colour. [`layer`] colours its lines only when standard
//! output is a terminal and `NO_COLOR` is unset or empty, so a file or a pipe gets plain text.
//! A line is formatted into a buffer before the ids are added: a format given to
//! [`TraceIdFormat::new`] keeps its colours when it was told to colour itself
//! (`Format::with_ansi(true)`, as [`layer`] does), since the buffer is not a terminal. Lines
//! written outside any trace are unchanged.
//!
//! The ids are read from tracecore's current [`Context`]: a line written in a
//! handler under `tracecore-tower`'s `ServerLayer` carries the SERVER span's ids even when no
//! `tracing` span is entered. An event with an explicit `parent:` carries that span's ids.

use std::cell::RefCell;
use std::fmt;

use tracecore::{Context, SpanId, TraceId};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::slot::SpanSlot;

/// An event formatter that adds the current trace and span ids to the lines of another (any of
/// tracing-subscriber's formats). Build it with
/// `fmt::layer().map_event_format(TraceIdFormat::new)`, after choosing the format
/// (`.compact()`, `.json()`), or take [`layer`].
#[derive(Debug, Clone, Default)]
pub struct TraceIdFormat<F> {
    inner: F,
}

impl<F> TraceIdFormat<F> {
    /// Adds trace ids to the lines `inner` writes.
    pub const fn new(inner: F) -> Self {
        Self { inner }
    }

    /// The wrapped formatter.
    pub fn get_ref(&self) -> &F {
        &self.inner
    }
}

/// tracing-subscriber's default fmt layer (the Full format, to standard output) with trace ids at
/// the end of its lines, coloured only when standard output is a terminal and `NO_COLOR` is
/// unset or empty.
pub fn layer<S>() -> tracing_subscriber::fmt::Layer<S, DefaultFields, TraceIdFormat<Format<Full>>>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let colour = colours(
        std::io::IsTerminal::is_terminal(&std::io::stdout()),
        std::env::var_os("NO_COLOR").as_deref(),
    );
    tracing_subscriber::fmt::layer()
        .with_ansi(colour)
        .event_format(TraceIdFormat::new(Format::default().with_ansi(colour)))
}

/// Whether to colour: on a terminal, unless `NO_COLOR` is set to something (no-color.org).
fn colours(terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

/// A line buffer per thread, reused: lines longer than this give their memory back.
const KEEP_BUFFER: usize = 16 * 1024;

thread_local! {
    static LINE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl<S, N, F> FormatEvent<S, N> for TraceIdFormat<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some((trace_id, span_id)) = ids(ctx, event) else {
            return self.inner.format_event(ctx, writer, event);
        };
        let mut format = |line: &mut String| {
            line.clear();
            self.inner.format_event(ctx, Writer::new(line), event)?;
            write_with_ids(&mut writer, line, trace_id, span_id)
        };
        let reused = LINE.try_with(|line| {
            let mut line = line.try_borrow_mut().ok()?;
            let result = format(&mut line);
            if line.capacity() > KEEP_BUFFER {
                *line = String::new();
            }
            Some(result)
        });
        match reused {
            Ok(Some(result)) => result,
            // Formatting inside formatting, or the thread is being torn down.
            _ => format(&mut String::new()),
        }
    }
}

/// Writes `line` (as the inner formatter wrote it) with the ids added.
fn write_with_ids(
    writer: &mut Writer<'_>,
    line: &str,
    trace_id: TraceId,
    span_id: SpanId,
) -> fmt::Result {
    if let Some(object) = line.strip_prefix('{') {
        write!(
            writer,
            "{{\"trace_id\":\"{trace_id}\",\"span_id\":\"{span_id}\""
        )?;
        if !object.trim_start().starts_with('}') {
            writer.write_char(',')?;
        }
        return writer.write_str(object);
    }
    let (text, end) = match line.strip_suffix('\n') {
        Some(text) => (text, "\n"),
        None => (line, ""),
    };
    writer.write_str(text)?;
    write!(writer, " trace_id={trace_id} span_id={span_id}{end}")
}

/// The ids a line carries: the explicit parent's when it has started, else the current context's;
/// none for an event with `parent: None` or outside any trace.
fn ids<S, N>(ctx: &FmtContext<'_, S, N>, event: &Event<'_>) -> Option<(TraceId, SpanId)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'w> FormatFields<'w> + 'static,
{
    if let Some(parent) = event.parent() {
        let explicit = ctx.span_scope(parent).and_then(|mut scope| {
            scope.find_map(|span| span.extensions().get::<SpanSlot>().map(SpanSlot::ids))
        });
        if let Some(Some(ids)) = explicit {
            return Some(ids);
        }
    } else if event.is_root() {
        return None;
    }
    Context::map_current(|cx| cx.span_context().map(|sc| (sc.trace_id(), sc.span_id())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(line: &str) -> String {
        let mut out = String::new();
        let trace_id = TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).unwrap();
        let span_id = SpanId::from_u64(0x00f0_67aa_0ba9_02b7).unwrap();
        write_with_ids(&mut Writer::new(&mut out), line, trace_id, span_id).unwrap();
        out
    }

    #[test]
    fn colour_follows_the_terminal_and_no_color() {
        use std::ffi::OsStr;
        assert!(colours(true, None));
        assert!(colours(true, Some(OsStr::new(""))));
        assert!(!colours(true, Some(OsStr::new("1"))));
        assert!(!colours(false, None));
    }

    #[test]
    fn text_lines_end_with_the_ids() {
        assert_eq!(
            written("INFO app: order accepted id=42\n"),
            "INFO app: order accepted id=42 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7\n"
        );
        assert_eq!(
            written("no newline"),
            "no newline trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7"
        );
    }

    #[test]
    fn json_lines_start_with_the_ids() {
        let out = written("{\"level\":\"INFO\",\"fields\":{\"message\":\"hi\"}}\n");
        let parsed: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(parsed["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed["span_id"], "00f067aa0ba902b7");
        assert_eq!(parsed["fields"]["message"], "hi");
        let empty: serde_json::Value = serde_json::from_str(&written("{}\n")).unwrap();
        assert_eq!(empty["span_id"], "00f067aa0ba902b7");
    }
}
