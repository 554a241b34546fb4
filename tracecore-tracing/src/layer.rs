//! [`TracecoreLayer`]: the `tracing_subscriber::Layer` that records `tracing` spans and events as
//! tracecore spans and span events.

use std::borrow::Cow;
use std::fmt;

use tracecore::trace::{SpanKind, SpanRef, Status, Tracer};
use tracecore::{Context, KeyValue, diag, semconv};
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
/// - Fields become attributes with their types; `record` adds or replaces them later. The
///   fields `otel.name`, `otel.kind`, `otel.status_code` and `otel.status_description` mean
///   what they mean to tracing-opentelemetry and are not attributes.
/// - `follows_from` adds a link. The span ends once, when the `tracing` span closes.
/// - Events inside a recorded span (a `tracing` span's, or the current tracecore span's) become
///   span events named by their message, with their fields plus `level` and `target`; an
///   ERROR event sets the status to Error; an event with an `error` field holding a
///   `dyn Error` is an `exception` event.
/// - A span the sampler drops keeps its context (propagation goes on) and records nothing.
///
/// One `TracecoreLayer` per subscriber. See the [crate docs](crate) for an example.
#[derive(Clone)]
pub struct TracecoreLayer {
    tracer: Tracer,
    event_level: LevelFilter,
    error_events_to_status: bool,
    code_location: bool,
    lookup: Option<Lookup>,
}

impl TracecoreLayer {
    /// A layer that starts its spans with `tracer`.
    pub fn new(tracer: Tracer) -> Self {
        Self {
            tracer,
            event_level: LevelFilter::TRACE,
            error_events_to_status: true,
            code_location: false,
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

    /// Whether an ERROR event sets its span's status to Error (default `true`, as
    /// tracing-opentelemetry does).
    #[must_use]
    pub fn with_error_events_to_status(mut self, on: bool) -> Self {
        self.error_events_to_status = on;
        self
    }

    /// Whether spans carry where they were declared: `code.file.path`, `code.line.number` and
    /// `code.function.name` (default `false`).
    #[must_use]
    pub fn with_code_location(mut self, on: bool) -> Self {
        self.code_location = on;
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
        let mut fields = EventFields::with_capacity(meta.fields().len() + 3);
        event.record(&mut fields);
        let level = *meta.level();
        let status = (level == Level::ERROR && self.error_events_to_status).then(|| {
            Status::error(
                fields
                    .message
                    .clone()
                    .or_else(|| fields.error.clone())
                    .unwrap_or_default(),
            )
        });
        let mut attributes = fields.attributes;
        let name = match fields.error {
            Some(error) => {
                attributes.push(KeyValue::new(semconv::EXCEPTION_MESSAGE, error));
                if let Some(message) = fields.message {
                    attributes.push(KeyValue::new("message", message));
                }
                Cow::Borrowed("exception")
            }
            None => fields
                .message
                .map_or(Cow::Borrowed(meta.name()), Cow::Owned),
        };
        attributes.push(KeyValue::new("level", level.as_str()));
        attributes.push(KeyValue::new("target", meta.target()));
        span.add_event(name, attributes);
        if let Some(status) = status {
            span.set_status(status);
        }
    }
}

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
        let location = if self.code_location { 3 } else { 0 };
        let mut fields = SpanFields::with_capacity(meta.fields().len() + location);
        attrs.record(&mut fields);
        if self.code_location {
            if let Some(file) = meta.file() {
                fields
                    .attributes
                    .push(KeyValue::new(semconv::CODE_FILE_PATH, file));
            }
            if let Some(line) = meta.line() {
                fields
                    .attributes
                    .push(KeyValue::new(semconv::CODE_LINE_NUMBER, i64::from(line)));
            }
            let function = match meta.module_path() {
                Some(module) => format!("{module}::{}", meta.name()),
                None => meta.name().to_owned(),
            };
            fields
                .attributes
                .push(KeyValue::new(semconv::CODE_FUNCTION_NAME, function));
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
        let mut fields = SpanFields::with_capacity(values.len());
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
            .and_then(|slot| slot.take_for_end(&self.tracer));
        // Ended outside the registry's lock: processors run here.
        if let Some(ended) = ended {
            ended.end();
        }
    }
}

impl fmt::Debug for TracecoreLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracecoreLayer")
            .field("tracer", &self.tracer)
            .field("event_level", &self.event_level)
            .field("error_events_to_status", &self.error_events_to_status)
            .field("code_location", &self.code_location)
            .finish_non_exhaustive()
    }
}
