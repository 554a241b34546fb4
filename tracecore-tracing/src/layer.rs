//! [`TracecoreLayer`]: the `tracing_subscriber::Layer` that records `tracing` spans and events as
//! tracecore spans and span events.

use std::borrow::Cow;
use std::fmt;

use tracecore::trace::{SpanKind, SpanRef, Status, Tracer};
use tracecore::{Context, Key, KeyValue, diag, semconv};
use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Dispatch, Event, Level, LevelFilter, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::fields::{EventFields, SpanFields};
use crate::slot::SpanSlot;
use crate::stack;

/// Finds the slot of a span, or of its nearest recorded ancestor, in the subscriber the layer
/// was added to (the `bool` says whether it is the span's own). Set when the layer is added, as
/// only then is the subscriber's type known.
type Lookup = fn(&Dispatch, &Id, &mut dyn FnMut(&mut SpanSlot, bool));

/// Records `tracing` spans as tracecore spans and `tracing` events as span events, with
/// tracecore's [`Context`] as the one notion of "current".
///
/// - A `tracing` span's parent is its explicit `parent:` (`parent: None` starts a new trace),
///   else the current tracecore context: the innermost entered `tracing` span, or the SERVER
///   span a `tracecore-tower` layer made current. Entering a span makes its context current
///   (so a reqwest call made inside it is its child), exiting restores the previous one.
/// - Fields become attributes with their types, and the span's `target` one more (switch:
///   [`with_target`](Self::with_target)); `record` adds or replaces them later. The fields
///   `otel.name`, `otel.kind`, `otel.status_code` and `otel.status_description` mean what they
///   mean to tracing-opentelemetry and are not attributes.
/// - `follows_from` adds a link. The span ends once, when the `tracing` span closes.
/// - Events inside a recorded span (a `tracing` span's, or the current tracecore span's) become
///   span events named by their message, with their fields plus `level` and `target`. Errors
///   map as tracing-opentelemetry maps them: an ERROR event makes an unset status `Error`; an
///   event without a message whose `error` field is text (what `#[instrument(err)]` emits) puts
///   that text in the status description and is named `exception`; a `dyn Error` field gives
///   `<field>`, `<field>.chain`, `exception.message` and `exception.stacktrace` (on an event's
///   span too). Each mapping has its switch, with the same name and default as there.
/// - A span the sampler drops keeps its context (propagation goes on) and records nothing.
///
/// One `TracecoreLayer` per subscriber. See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct TracecoreLayer {
    tracer: Tracer,
    event_level: LevelFilter,
    errors: ErrorMapping,
    code_location: bool,
    span_target: bool,
    span_level: bool,
    event_level_and_target: bool,
    event_count: bool,
    lookup: Option<Lookup>,
}

/// How errors map onto spans: tracing-opentelemetry's four switches, with its defaults (all on).
#[derive(Clone, Copy, Debug)]
struct ErrorMapping {
    /// An `error` given as text on an event without a message sets the span's status
    /// description (else an ERROR event gives `Error` with no description).
    events_to_status: bool,
    /// Such an event is named `exception`, its text in `exception.message`.
    events_to_exceptions: bool,
    /// A `dyn Error` field gives `exception.message` and `exception.stacktrace` too.
    fields_to_exceptions: bool,
    /// A `dyn Error` on an event also puts `exception.message` and `exception.stacktrace` on
    /// its span.
    records_to_exceptions: bool,
}

impl TracecoreLayer {
    /// A layer that starts its spans with `tracer`.
    pub fn new(tracer: Tracer) -> Self {
        Self {
            tracer,
            event_level: LevelFilter::TRACE,
            errors: ErrorMapping {
                events_to_status: true,
                events_to_exceptions: true,
                fields_to_exceptions: true,
                records_to_exceptions: true,
            },
            code_location: false,
            span_target: true,
            span_level: false,
            event_level_and_target: true,
            event_count: false,
            lookup: None,
        }
    }

    /// Records as span events only the events at `level` or more severe (default: every event
    /// the subscriber's filters let through; `LevelFilter::OFF` records none). Spans are not
    /// affected.
    #[must_use]
    pub fn with_event_level(mut self, level: impl Into<LevelFilter>) -> Self {
        self.event_level = level.into();
        self
    }

    /// Whether an event without a message whose `error` field is text (the event
    /// `#[instrument(err)]` emits: `error = %e`) puts that text, as its `Debug` form, in its
    /// span's status description (default `true`). Either way an ERROR event makes an unset
    /// status `Error` (with no description). As tracing-opentelemetry's switch of that name.
    #[must_use]
    pub fn with_error_events_to_status(mut self, on: bool) -> Self {
        self.errors.events_to_status = on;
        self
    }

    /// Whether that event is named `exception`, its text in `exception.message` (default
    /// `true`); else it keeps its name and the text stays in `error`.
    #[must_use]
    pub fn with_error_events_to_exceptions(mut self, on: bool) -> Self {
        self.errors.events_to_exceptions = on;
        self
    }

    /// Whether a `dyn Error` field (`error = &e as &dyn Error`) also gives `exception.message`
    /// and `exception.stacktrace` (its source chain) beside `<field>` and `<field>.chain`, on a
    /// span or an event (default `true`).
    #[must_use]
    pub fn with_error_fields_to_exceptions(mut self, on: bool) -> Self {
        self.errors.fields_to_exceptions = on;
        self
    }

    /// Whether a `dyn Error` field on an event also puts `exception.message` and
    /// `exception.stacktrace` on the event's span (default `true`).
    #[must_use]
    pub fn with_error_records_to_exceptions(mut self, on: bool) -> Self {
        self.errors.records_to_exceptions = on;
        self
    }

    /// Whether spans and events carry where they were declared: `code.file.path`,
    /// `code.module.name` and `code.line.number` (default `false`; tracing-opentelemetry's
    /// `with_location` is on by default).
    #[must_use]
    pub fn with_code_location(mut self, on: bool) -> Self {
        self.code_location = on;
        self
    }

    /// Whether spans carry their `tracing` target as the attribute `target` (default `true`, as
    /// in tracing-opentelemetry; it is not an OpenTelemetry convention).
    #[must_use]
    pub fn with_target(mut self, on: bool) -> Self {
        self.span_target = on;
        self
    }

    /// Whether spans carry their `tracing` level as the attribute `level` (default `false`, as
    /// in tracing-opentelemetry).
    #[must_use]
    pub fn with_level(mut self, on: bool) -> Self {
        self.span_level = on;
        self
    }

    /// Whether span events carry `level` and `target` (default `true`, as in
    /// tracing-opentelemetry, where they are always there; neither is an OpenTelemetry
    /// convention).
    #[must_use]
    pub fn with_event_level_and_target(mut self, on: bool) -> Self {
        self.event_level_and_target = on;
        self
    }

    /// Whether a span counts the events written in it, those [`with_event_level`](Self::with_event_level)
    /// leaves out included, in `otel.tracing_event_count` (default `false`): what
    /// tracing-opentelemetry's `with_counting_event_filter` records.
    #[must_use]
    pub fn with_event_count(mut self, on: bool) -> Self {
        self.event_count = on;
        self
    }

    /// The tracer the layer starts spans with.
    pub fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// Runs `f` on the slot of span `id` (or of its nearest recorded ancestor) in `dispatch`.
    pub(crate) fn with_slot(
        &self,
        dispatch: &Dispatch,
        id: &Id,
        f: &mut dyn FnMut(&mut SpanSlot, bool),
    ) {
        if let Some(lookup) = self.lookup {
            lookup(dispatch, id, f);
        }
    }

    /// The context of span `id` (or of its nearest recorded ancestor), started if it was pending.
    fn context_of<S>(&self, id: &Id, ctx: &LayerContext<'_, S>) -> Option<Context>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        ctx.span_scope(id)?.find_map(|span| {
            let mut extensions = span.extensions_mut();
            let slot = extensions.get_mut::<SpanSlot>()?;
            Some(slot.start(&self.tracer).clone())
        })
    }

    fn record_event(&self, span: SpanRef<'_>, event: &Event<'_>) {
        let meta = event.metadata();
        let extra =
            2 * usize::from(self.event_level_and_target) + 3 * usize::from(self.code_location);
        let mut fields = EventFields::with_capacity(
            meta.fields().len() + extra,
            self.errors.fields_to_exceptions,
        );
        event.record(&mut fields);
        let level = *meta.level();
        let mut attributes = fields.attributes;
        let exception = fields.error_text.is_some() && self.errors.events_to_exceptions;
        if let Some(text) = &fields.error_text {
            let key = if exception {
                semconv::EXCEPTION_MESSAGE
            } else {
                Key::from_static("error")
            };
            attributes.push(KeyValue::new(key, text.clone()));
        }
        if self.event_level_and_target {
            attributes.push(KeyValue::new("level", level.as_str()));
            attributes.push(KeyValue::new("target", meta.target()));
        }
        if self.code_location {
            push_location(&mut attributes, meta);
        }
        let name = if exception {
            Cow::Borrowed("exception")
        } else {
            fields
                .message
                .map_or(Cow::Borrowed(meta.name()), Cow::Owned)
        };
        span.add_event(name, attributes);
        if level == Level::ERROR && span.status().is_some_and(|s| s == Status::Unset) {
            span.set_status(Status::error(""));
        }
        if let Some(text) = fields.error_text
            && self.errors.events_to_status
        {
            span.set_status(Status::error(text));
        }
        if let Some(error) = fields.error
            && self.errors.records_to_exceptions
        {
            span.set_attributes(error.exception());
        }
    }
}

/// `code.file.path`, `code.module.name` and `code.line.number` of a callsite.
pub(crate) fn push_location(attributes: &mut Vec<KeyValue>, meta: &tracing_core::Metadata<'_>) {
    if let Some(file) = meta.file() {
        attributes.push(KeyValue::new(semconv::CODE_FILE_PATH, file.to_owned()));
    }
    if let Some(module) = meta.module_path() {
        attributes.push(KeyValue::new(CODE_MODULE_NAME, module.to_owned()));
    }
    if let Some(line) = meta.line() {
        attributes.push(KeyValue::new(semconv::CODE_LINE_NUMBER, i64::from(line)));
    }
}

/// The module a callsite is in (semantic conventions 1.33+).
const CODE_MODULE_NAME: &str = "code.module.name";

fn lookup<S>(dispatch: &Dispatch, id: &Id, f: &mut dyn FnMut(&mut SpanSlot, bool))
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    let Some(span) = dispatch.downcast_ref::<S>().and_then(|s| s.span(id)) else {
        return;
    };
    for (depth, span) in span.scope().enumerate() {
        if let Some(slot) = span.extensions_mut().get_mut::<SpanSlot>() {
            f(slot, depth == 0);
            return;
        }
    }
}

impl<S> Layer<S> for TracecoreLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_layer(&mut self, _subscriber: &mut S) {
        self.lookup = Some(lookup::<S>);
    }

    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let parent = match attrs.parent() {
            Some(parent) => self
                .context_of(parent, &ctx)
                .unwrap_or_else(Context::current),
            None if attrs.is_root() => Context::current().without_span_context(),
            None => Context::current(),
        };
        let meta = attrs.metadata();
        let extra = 3 * usize::from(self.code_location)
            + usize::from(self.span_target)
            + usize::from(self.span_level);
        let mut fields = SpanFields::with_capacity(
            meta.fields().len() + extra,
            self.errors.fields_to_exceptions,
        );
        attrs.record(&mut fields);
        if self.code_location {
            push_location(&mut fields.attributes, meta);
        }
        if self.span_level {
            fields
                .attributes
                .push(KeyValue::new("level", meta.level().as_str()));
        }
        if self.span_target {
            fields
                .attributes
                .push(KeyValue::new("target", meta.target()));
        }
        let status = fields.status();
        let name = fields
            .name
            .take()
            .map_or(Cow::Borrowed(meta.name()), Cow::Owned);
        let kind = fields.kind.unwrap_or(SpanKind::Internal);
        span.extensions_mut().insert(SpanSlot::pending(
            name,
            kind,
            fields.attributes,
            status,
            parent,
        ));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let mut fields = SpanFields::with_capacity(values.len(), self.errors.fields_to_exceptions);
        values.record(&mut fields);
        let status = fields.status();
        let mut extensions = span.extensions_mut();
        let Some(slot) = extensions.get_mut::<SpanSlot>() else {
            return;
        };
        if !fields.attributes.is_empty() {
            slot.set_attributes(fields.attributes);
        }
        if let Some(name) = fields.name {
            slot.update_name(name);
        }
        if let Some(status) = status {
            slot.set_status(status);
        }
        let kind_refused = fields.kind.is_some_and(|kind| !slot.set_kind(kind));
        drop(extensions);
        if kind_refused {
            diag::warn_once(
                "tracecore-tracing: otel.kind was recorded after its span started (a kind is \
                 fixed at start); ignored: declare it when the span is created",
            );
        }
    }

    fn on_follows_from(&self, id: &Id, follows: &Id, ctx: LayerContext<'_, S>) {
        let Some(target) = ctx.span(follows) else {
            return;
        };
        let followed = {
            let mut extensions = target.extensions_mut();
            let Some(slot) = extensions.get_mut::<SpanSlot>() else {
                return;
            };
            slot.start(&self.tracer).span_context().cloned()
        };
        let (Some(followed), Some(span)) = (followed, ctx.span(id)) else {
            return;
        };
        if let Some(slot) = span.extensions_mut().get_mut::<SpanSlot>() {
            slot.add_link(followed, Vec::new());
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        if self.event_count {
            let span = match event.parent() {
                Some(parent) => ctx.span(parent),
                None if event.is_contextual() => ctx.lookup_current(),
                None => None,
            };
            if let Some(span) = span
                && let Some(slot) = span.extensions_mut().get_mut::<SpanSlot>()
            {
                slot.count_event();
            }
        }
        if *event.metadata().level() > self.event_level {
            return;
        }
        if let Some(parent) = event.parent() {
            let Some(scope) = ctx.span_scope(parent) else {
                return;
            };
            for span in scope {
                let mut extensions = span.extensions_mut();
                if let Some(slot) = extensions.get_mut::<SpanSlot>() {
                    if let Some(span) = slot.started(&self.tracer).filter(|s| s.is_recording()) {
                        self.record_event(span.span_ref(), event);
                    }
                    return;
                }
            }
        } else if event.is_contextual() {
            // No clone (and nothing else) unless the current span records.
            let current = Context::map_current(|cx| cx.span().is_recording().then(|| cx.clone()));
            if let Some(cx) = current {
                self.record_event(cx.span(), event);
            }
        }
    }

    fn on_enter(&self, id: &Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(id) else {
            return;
        };
        let cx = match span.extensions_mut().get_mut::<SpanSlot>() {
            Some(slot) => slot.start(&self.tracer).clone(),
            None => return,
        };
        stack::enter(id, cx);
    }

    fn on_exit(&self, id: &Id, _ctx: LayerContext<'_, S>) {
        stack::exit(id);
    }

    fn on_close(&self, id: Id, ctx: LayerContext<'_, S>) {
        let Some(span) = ctx.span(&id) else {
            return;
        };
        let ended = span
            .extensions_mut()
            .get_mut::<SpanSlot>()
            .and_then(|slot| {
                if self.event_count {
                    let count = KeyValue::new(EVENT_COUNT, i64::from(slot.event_count()));
                    slot.set_attributes(vec![count]);
                }
                slot.take_for_end(&self.tracer)
            });
        // Ended outside the registry's lock: processors run here.
        if let Some(ended) = ended {
            ended.end();
        }
    }
}

/// The span attribute [`TracecoreLayer::with_event_count`] records.
const EVENT_COUNT: &str = "otel.tracing_event_count";

impl fmt::Debug for TracecoreLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracecoreLayer")
            .field("tracer", &self.tracer)
            .field("event_level", &self.event_level)
            .field("errors", &self.errors)
            .field("code_location", &self.code_location)
            .field("target", &self.span_target)
            .field("level", &self.span_level)
            .field("event_level_and_target", &self.event_level_and_target)
            .field("event_count", &self.event_count)
            .finish_non_exhaustive()
    }
}
