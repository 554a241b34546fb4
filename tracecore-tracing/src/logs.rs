//! [`LogLayer`]: `tracing` events as OpenTelemetry log records, tied to the span they were
//! written in.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;
use std::time::SystemTime;

use tracecore::logs::{LogRecord, LoggerProvider, Severity};
use tracecore::trace::InstrumentationScope;
use tracecore::{Context, KeyValue, SpanContext, SpanId, TraceFlags, TraceId, Value};
use tracing_core::{Event, Level, LevelFilter, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::fields::EventFields;
use crate::slot::SpanSlot;

/// Turns each `tracing` event into a log record of `provider`: time = when the event happened,
/// severity from the level (TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, with its text), body =
/// the message, the other fields as typed attributes (the span bridge's mapping: a `dyn Error`
/// field gives `exception.message` and `exception.stacktrace`), the trace id, span id and flags
/// of the span it was written in (its explicit `parent:`, else tracecore's current context: the
/// ids the `fmt` lines print), scope name = the event's target, and an event name only when the
/// event was given one (`name:`). Records of the `log` crate (through `tracing-log`) keep their
/// own target as the scope, and their file and line for the code location.
///
/// A layer of its own rather than an option of [`TracecoreLayer`](crate::TracecoreLayer): it
/// works without the span bridge, has its own level filter ([`with_level`](Self::with_level))
/// apart from which events become span events, and composes with per-layer filters. Events
/// written on tracecore's own threads (`tracecore-*`: the export threads and the HTTP client of
/// the exporters) are never recorded, so exporting cannot feed itself.
///
/// ```
/// use tracecore::logs::{InMemoryLogExporter, LoggerProvider};
/// use tracecore_tracing::LogLayer;
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let exporter = InMemoryLogExporter::new();
/// let logs = LoggerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let subscriber = tracing_subscriber::registry().with(LogLayer::new(logs));
/// tracing::subscriber::with_default(subscriber, || tracing::warn!(item.id = 7, "stock low"));
/// let record = &exporter.finished_records()[0];
/// assert_eq!(record.severity_text.as_deref(), Some("WARN"));
/// assert_eq!(record.body, Some("stock low".into()));
/// ```
pub struct LogLayer {
    provider: LoggerProvider,
    level: LevelFilter,
    code_location: bool,
    /// One scope per target, made once.
    scopes: RwLock<HashMap<&'static str, InstrumentationScope>>,
    /// The same for the targets of `log` records, which are not `'static`.
    log_scopes: RwLock<HashMap<String, InstrumentationScope>>,
}

impl LogLayer {
    /// A layer emitting into `provider`.
    pub fn new(provider: LoggerProvider) -> Self {
        Self {
            provider,
            level: LevelFilter::TRACE,
            code_location: false,
            scopes: RwLock::new(HashMap::new()),
            log_scopes: RwLock::new(HashMap::new()),
        }
    }

    /// Records only events at `level` or more severe (default: every event the subscriber's
    /// filters let through).
    #[must_use]
    pub fn with_level(mut self, level: impl Into<LevelFilter>) -> Self {
        self.level = level.into();
        self
    }

    /// Whether records carry `code.file.path`, `code.module.name` and `code.line.number`
    /// (default `false`).
    #[must_use]
    pub fn with_code_location(mut self, on: bool) -> Self {
        self.code_location = on;
        self
    }

    /// The provider records go to.
    pub fn provider(&self) -> &LoggerProvider {
        &self.provider
    }

    fn scope(&self, target: &'static str) -> InstrumentationScope {
        // Most events of a thread share their target: the last one is kept at hand.
        let cached = LAST_SCOPE.with(|last| {
            let last = last.borrow();
            last.as_ref()
                .filter(|(t, _)| std::ptr::eq(*t, target))
                .map(|(_, scope)| scope.clone())
        });
        if let Some(scope) = cached {
            return scope;
        }
        let scope = self.scope_slow(target);
        LAST_SCOPE.with(|last| *last.borrow_mut() = Some((target, scope.clone())));
        scope
    }

    fn owned_scope(&self, target: &str) -> InstrumentationScope {
        if let Some(scope) = self
            .log_scopes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(target)
        {
            return scope.clone();
        }
        self.log_scopes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(target.to_owned())
            .or_insert_with(|| InstrumentationScope::new(target.to_owned(), None::<&'static str>))
            .clone()
    }

    fn scope_slow(&self, target: &'static str) -> InstrumentationScope {
        if let Some(scope) = self
            .scopes
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(target)
        {
            return scope.clone();
        }
        self.scopes
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(target)
            .or_insert_with(|| InstrumentationScope::new(target, None::<&'static str>))
            .clone()
    }
}

thread_local! {
    /// The scope of the last target an event had on this thread.
    static LAST_SCOPE: std::cell::RefCell<Option<(&'static str, InstrumentationScope)>> =
        const { std::cell::RefCell::new(None) };
}

/// The severity of a `tracing` level.
pub(crate) fn severity(level: Level) -> Severity {
    match level {
        Level::TRACE => Severity::TRACE,
        Level::DEBUG => Severity::DEBUG,
        Level::INFO => Severity::INFO,
        Level::WARN => Severity::WARN,
        _ => Severity::ERROR,
    }
}

/// Whether this thread is one of tracecore's own.
fn on_own_thread() -> bool {
    std::thread::current()
        .name()
        .is_some_and(|name| name.starts_with("tracecore-"))
}

impl<S> Layer<S> for LogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        if *event.metadata().level() > self.level || on_own_thread() {
            return;
        }
        // A `log` crate record (through `tracing-log`) carries its own target, module, file and
        // line in fields: they are its metadata, not attributes.
        let normalized = tracing_log::NormalizeEvent::normalized_metadata(event);
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let time = SystemTime::now();
        let location = 3 * usize::from(self.code_location);
        let mut fields = EventFields::with_capacity(meta.fields().len() + location, true);
        event.record(&mut fields);
        let mut attributes = fields.attributes;
        if let Some(text) = fields.error_text {
            attributes.push(KeyValue::new("error", text));
        }
        if self.code_location {
            crate::layer::push_location(&mut attributes, meta);
        }
        // Observed as it happened: one clock reading. Filled in place: a record is large.
        let mut record = LogRecord::at(severity(*meta.level()), time);
        record.attributes = attributes;
        if let Some(message) = fields.message {
            record.body = Some(Value::from(message));
        }
        let own = event.metadata();
        // tracing names an unnamed event `event <file>:<line>`; a `log` record has no name.
        let implicit = normalized.is_some()
            || own.name().strip_prefix("event ").is_some_and(|rest| {
                own.file()
                    .is_some_and(|file| rest.as_bytes().starts_with(file.as_bytes()))
            });
        if !implicit {
            record.event_name = Some(own.name().into());
        }
        if normalized.is_some() {
            record
                .attributes
                .retain(|kv| !kv.key.as_str().starts_with("log."));
        }
        if let Some((trace_id, span_id, flags)) = span_of(event, &ctx) {
            record.trace_id = Some(trace_id);
            record.span_id = Some(span_id);
            record.trace_flags = flags;
        }
        let scope = match &normalized {
            Some(log) => self.owned_scope(log.target()),
            None => self.scope(own.target()),
        };
        self.provider.emit_with_scope(record, scope);
    }
}

/// The ids and flags of the span an event was written in: its explicit parent's (once
/// started), else the current context's; none for `parent: None` or outside any trace.
fn span_of<S>(event: &Event<'_>, ctx: &LayerContext<'_, S>) -> Option<(TraceId, SpanId, TraceFlags)>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let ids = |sc: &SpanContext| (sc.trace_id(), sc.span_id(), sc.flags());
    if let Some(parent) = event.parent() {
        let explicit = ctx.span_scope(parent).and_then(|mut scope| {
            scope.find_map(|span| {
                span.extensions()
                    .get::<SpanSlot>()
                    .map(|slot| slot.span_context().map(ids))
            })
        });
        if let Some(Some(found)) = explicit {
            return Some(found);
        }
    } else if event.is_root() {
        return None;
    }
    Context::map_current(|cx| cx.span_context().map(ids))
}

impl fmt::Debug for LogLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogLayer")
            .field("provider", &self.provider)
            .field("level", &self.level)
            .field("code_location", &self.code_location)
            .finish_non_exhaustive()
    }
}
