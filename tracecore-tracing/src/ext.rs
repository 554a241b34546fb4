//! [`TracingSpanExt`]: a `tracing::Span`'s tracecore side.

use std::borrow::Cow;
use std::fmt;
use std::time::SystemTime;

use tracecore::trace::{Status, Tracer};
use tracecore::{Context, Key, KeyValue, SpanContext, Value};

use crate::layer::TracecoreLayer;
use crate::slot::SpanSlot;

/// The tracecore side of a `tracing` span: its context, its parent, and updates that have no
/// `tracing` field syntax.
///
/// ```
/// use tracecore::export::InMemoryExporter;
/// use tracecore::trace::TracerProvider;
/// use tracecore_tracing::{TracecoreLayer, TracingSpanExt};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let exporter = InMemoryExporter::new();
/// let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let subscriber = tracing_subscriber::registry().with(TracecoreLayer::new(provider.tracer("app")));
/// tracing::subscriber::with_default(subscriber, || {
///     // A server that extracted its caller's context itself:
///     let mut headers = http::HeaderMap::new();
///     headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
///     let caller = tracecore::propagation::Propagator::extract(&tracecore::propagation::default(), &headers);
///
///     let span = tracing::info_span!("handle request");
///     span.set_parent(caller).expect("not entered yet");
///     let _entered = span.enter();
///     assert!(span.set_parent(tracecore::Context::new()).is_err(), "too late: it started");
///     let trace_id = span.context().span_context().unwrap().trace_id();
///     assert_eq!(trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// });
/// ```
pub trait TracingSpanExt {
    /// The span's tracecore context: what its children and outgoing requests carry. Asking for it
    /// starts the tracecore span if nothing had (its ids are then fixed). For a span this layer
    /// does not record (filtered out), the context of its nearest recorded ancestor; for a
    /// disabled span, an empty context.
    fn context(&self) -> Context;

    /// Makes `parent` (typically a context extracted from a request) the span's parent. Works
    /// until the span starts (first entered, asked for its context, given an event); after that,
    /// and for a span no [`TracecoreLayer`] records, it is an error that says so.
    fn set_parent(&self, parent: Context) -> Result<(), SetParentError>;

    /// Adds a link to another span.
    fn add_link(&self, span_context: SpanContext);

    /// Adds a link to another span, with attributes.
    fn add_link_with_attributes(&self, span_context: SpanContext, attributes: Vec<KeyValue>);

    /// Sets an attribute of any key, also one the `tracing` span did not declare (a repeated key
    /// replaces the value).
    fn set_attribute(&self, key: impl Into<Key>, value: impl Into<Value>);

    /// Sets the status (`Ok` is final; `Unset` is ignored).
    fn set_status(&self, status: Status);

    /// Adds a span event now (as tracing-opentelemetry's `add_event`): without the `tracing`
    /// event's `level` and `target`, and without starting the span.
    fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>);

    /// Adds a span event that happened at `time`.
    fn add_event_with_timestamp(
        &self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        attributes: Vec<KeyValue>,
    );
}

impl TracingSpanExt for tracing::Span {
    fn context(&self) -> Context {
        with_slot(self, |slot, tracer, _| slot.start(tracer).clone()).unwrap_or_default()
    }

    fn set_parent(&self, parent: Context) -> Result<(), SetParentError> {
        with_slot(self, |slot, _, is_self| {
            if is_self {
                slot.set_parent(parent)
            } else {
                Err(SetParentError::not_recorded())
            }
        })
        .unwrap_or_else(|| Err(SetParentError::not_recorded()))
    }

    fn add_link(&self, span_context: SpanContext) {
        self.add_link_with_attributes(span_context, Vec::new());
    }

    fn add_link_with_attributes(&self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        with_own_slot(self, |slot| slot.add_link(span_context, attributes));
    }

    fn set_attribute(&self, key: impl Into<Key>, value: impl Into<Value>) {
        let attribute = KeyValue::new(key, value);
        with_own_slot(self, |slot| slot.set_attributes(vec![attribute]));
    }

    fn set_status(&self, status: Status) {
        with_own_slot(self, |slot| slot.set_status(status));
    }

    fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        self.add_event_with_timestamp(name, SystemTime::now(), attributes);
    }

    fn add_event_with_timestamp(
        &self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        attributes: Vec<KeyValue>,
    ) {
        let name = name.into();
        with_own_slot(self, |slot| slot.add_event(name, time, attributes));
    }
}

/// The tracecore context of the `tracing` span `id` (or of its nearest recorded ancestor) in
/// `dispatch`, starting the span if it was pending; `None` when no [`TracecoreLayer`] records it.
/// For another layer, or code holding a span id rather than a `tracing::Span`: what
/// tracing-opentelemetry's `get_otel_context` gives.
///
/// ```
/// use tracecore::export::InMemoryExporter;
/// use tracecore::trace::TracerProvider;
/// use tracecore_tracing::{TracecoreLayer, TracingSpanExt};
/// use tracing_subscriber::layer::SubscriberExt;
///
/// let provider = TracerProvider::builder().with_simple_exporter(InMemoryExporter::new()).build();
/// let subscriber = tracing_subscriber::registry().with(TracecoreLayer::new(provider.tracer("app")));
/// tracing::subscriber::with_default(subscriber, || {
///     let span = tracing::info_span!("work");
///     let by_id = tracing::dispatcher::get_default(|dispatch| {
///         tracecore_tracing::get_context(&span.id().unwrap(), dispatch)
///     });
///     assert_eq!(by_id.unwrap().span_context(), span.context().span_context());
/// });
/// ```
pub fn get_context(id: &tracing::Id, dispatch: &tracing::Dispatch) -> Option<Context> {
    let layer = dispatch.downcast_ref::<TracecoreLayer>()?;
    let mut out = None;
    layer.with_slot(dispatch, id, &mut |slot, _| {
        out = Some(slot.start(layer.tracer()).clone());
    });
    out
}

/// Runs `f` on the slot of `span`, or of its nearest recorded ancestor (`is_self` says which),
/// through the [`TracecoreLayer`] of the span's subscriber. `None` when the span is disabled or
/// no such layer records it.
fn with_slot<T>(
    span: &tracing::Span,
    f: impl FnOnce(&mut SpanSlot, &Tracer, bool) -> T,
) -> Option<T> {
    let mut f = Some(f);
    let mut out = None;
    span.with_subscriber(|(id, dispatch)| {
        let Some(layer) = dispatch.downcast_ref::<TracecoreLayer>() else {
            return;
        };
        layer.with_slot(dispatch, id, &mut |slot, is_self| {
            if let Some(f) = f.take() {
                out = Some(f(slot, layer.tracer(), is_self));
            }
        });
    });
    out
}

/// Runs `f` on the span's own slot; nothing when the span is not recorded.
fn with_own_slot(span: &tracing::Span, f: impl FnOnce(&mut SpanSlot)) {
    with_slot(span, |slot, _, is_self| {
        if is_self {
            f(slot);
        }
    });
}

/// Why [`TracingSpanExt::set_parent`] did not set the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetParentError {
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Started,
    NotRecorded,
}

impl SetParentError {
    pub(crate) fn started() -> Self {
        Self {
            kind: Kind::Started,
        }
    }

    pub(crate) fn not_recorded() -> Self {
        Self {
            kind: Kind::NotRecorded,
        }
    }

    /// Whether the span had already started (entered, asked for its context, or given an event),
    /// so its parent was fixed.
    pub fn is_started(&self) -> bool {
        self.kind == Kind::Started
    }
}

impl fmt::Display for SetParentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            Kind::Started => {
                "the span has already started (it was entered, asked for its context, or given \
                 an event), so its parent is fixed: call set_parent right after creating it"
            }
            Kind::NotRecorded => {
                "the span is not recorded by a TracecoreLayer (disabled, filtered out, or the \
                 subscriber has no TracecoreLayer)"
            }
        })
    }
}

impl std::error::Error for SetParentError {}
