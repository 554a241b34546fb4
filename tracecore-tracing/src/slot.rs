//! What the layer keeps for each `tracing` span, in the registry's extensions.
//!
//! A `tracing` span becomes a tracecore span when it is first needed: entered, asked for its
//! context, given an event, or closed. Until then it is pending: its name, kind, attributes,
//! links, status and parent wait here, and its start is the instant the `tracing` span was
//! created, so its times still run from creation to close. Waiting is what lets
//! [`set_parent`](crate::TracingSpanExt::set_parent) change the parent (and so the trace) of a
//! span that was created before its caller's context was known.

use std::borrow::Cow;
use std::fmt;
use std::time::{Instant, SystemTime};

use tracecore::trace::{Link, Span, SpanKind, Status, Tracer};
use tracecore::{Context, KeyValue, SpanContext};

use crate::SetParentError;

/// The layer's data for one `tracing` span.
pub(crate) struct SpanSlot {
    state: State,
    /// Events written in the span (counted only when the layer counts them).
    events: u32,
}

enum State {
    Pending(Pending),
    Started {
        span: Span,
        cx: Context,
    },
    /// Ended (only while the registry drops the slot).
    Ended,
}

/// A span not started yet.
struct Pending {
    name: Cow<'static, str>,
    kind: SpanKind,
    attributes: Vec<KeyValue>,
    links: Vec<Link>,
    status: Status,
    start: Instant,
    parent: Context,
    /// Events added through the span extension before it started.
    events: Vec<PendingEvent>,
}

/// An event added before its span started: name, time, attributes.
type PendingEvent = (Cow<'static, str>, SystemTime, Vec<KeyValue>);

impl SpanSlot {
    pub(crate) fn pending(
        name: Cow<'static, str>,
        kind: SpanKind,
        attributes: Vec<KeyValue>,
        status: Option<Status>,
        parent: Context,
    ) -> Self {
        Self {
            events: 0,
            state: State::Pending(Pending {
                name,
                kind,
                attributes,
                links: Vec::new(),
                status: status.unwrap_or_default(),
                start: Instant::now(),
                parent,
                events: Vec::new(),
            }),
        }
    }

    /// One more event written in the span.
    pub(crate) fn count_event(&mut self) {
        self.events = self.events.saturating_add(1);
    }

    /// The events written in the span.
    pub(crate) fn event_count(&self) -> u32 {
        self.events
    }

    /// Starts the tracecore span if it is still pending; then its context.
    pub(crate) fn start(&mut self, tracer: &Tracer) -> &Context {
        if self.is_pending() {
            self.state = match std::mem::replace(&mut self.state, State::Ended) {
                State::Pending(pending) => pending.start(tracer),
                other => other,
            };
        }
        match &self.state {
            State::Started { cx, .. } => cx,
            // A slot is only reached through the registry while its span is open.
            State::Pending(_) | State::Ended => &EMPTY,
        }
    }

    /// The span, started, for an update that only a started span takes (an event).
    pub(crate) fn started(&mut self, tracer: &Tracer) -> Option<&Span> {
        self.start(tracer);
        match &self.state {
            State::Started { span, .. } => Some(span),
            State::Pending(_) | State::Ended => None,
        }
    }

    /// The span's trace and span ids, once it has started.
    #[cfg(feature = "fmt")]
    pub(crate) fn ids(&self) -> Option<(tracecore::TraceId, tracecore::SpanId)> {
        self.span_context().map(|sc| (sc.trace_id(), sc.span_id()))
    }

    /// The span's context, once it has started.
    pub(crate) fn span_context(&self) -> Option<&SpanContext> {
        match &self.state {
            State::Started { cx, .. } => cx.span_context(),
            State::Pending(_) | State::Ended => None,
        }
    }

    /// Whether the span is still pending (its parent can change).
    pub(crate) fn is_pending(&self) -> bool {
        matches!(self.state, State::Pending(_))
    }

    pub(crate) fn set_parent(&mut self, parent: Context) -> Result<(), SetParentError> {
        match &mut self.state {
            State::Pending(pending) => {
                pending.parent = parent;
                Ok(())
            }
            State::Started { .. } | State::Ended => Err(SetParentError::started()),
        }
    }

    /// Sets attributes (a repeated key replaces the value).
    pub(crate) fn set_attributes(&mut self, attributes: Vec<KeyValue>) {
        match &mut self.state {
            State::Pending(pending) => {
                for attribute in attributes {
                    match pending
                        .attributes
                        .iter_mut()
                        .find(|kv| kv.key == attribute.key)
                    {
                        Some(existing) => *existing = attribute,
                        None => pending.attributes.push(attribute),
                    }
                }
            }
            State::Started { span, .. } => span.set_attributes(attributes),
            State::Ended => {}
        }
    }

    pub(crate) fn set_status(&mut self, status: Status) {
        match &mut self.state {
            State::Pending(pending) => {
                if !matches!(pending.status, Status::Ok) && !matches!(status, Status::Unset) {
                    pending.status = status;
                }
            }
            State::Started { span, .. } => span.set_status(status),
            State::Ended => {}
        }
    }

    pub(crate) fn update_name(&mut self, name: String) {
        match &mut self.state {
            State::Pending(pending) => pending.name = Cow::Owned(name),
            State::Started { span, .. } => span.update_name(name),
            State::Ended => {}
        }
    }

    /// Sets the kind; `false` once the span has started (a kind is fixed at start).
    pub(crate) fn set_kind(&mut self, kind: SpanKind) -> bool {
        match &mut self.state {
            State::Pending(pending) => {
                pending.kind = kind;
                true
            }
            State::Started { .. } | State::Ended => false,
        }
    }

    /// Adds an event that happened at `time` (kept until the span starts, if it has not).
    pub(crate) fn add_event(
        &mut self,
        name: Cow<'static, str>,
        time: SystemTime,
        attributes: Vec<KeyValue>,
    ) {
        match &mut self.state {
            State::Pending(pending) => pending.events.push((name, time, attributes)),
            State::Started { span, .. } => {
                span.span_ref()
                    .add_event_with_timestamp(name, time, attributes);
            }
            State::Ended => {}
        }
    }

    pub(crate) fn add_link(&mut self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        match &mut self.state {
            State::Pending(pending) => pending.links.push(Link::new(span_context, attributes)),
            State::Started { span, .. } => span.add_link(span_context, attributes),
            State::Ended => {}
        }
    }

    /// Takes the span out to end it (after the registry's lock is released), starting it first
    /// if it never was, so that a span never entered is still recorded.
    pub(crate) fn take_for_end(&mut self, tracer: &Tracer) -> Option<Span> {
        self.start(tracer);
        match std::mem::replace(&mut self.state, State::Ended) {
            State::Started { span, .. } => Some(span),
            State::Pending(_) | State::Ended => None,
        }
    }
}

static EMPTY: Context = Context::new();

impl Pending {
    fn start(self, tracer: &Tracer) -> State {
        let mut builder = tracer
            .span_builder(self.name)
            .with_kind(self.kind)
            .with_start_instant(self.start);
        for link in self.links {
            builder = builder.with_link(link);
        }
        let span = builder.start_with_attributes(&self.parent, self.attributes);
        if self.status != Status::Unset {
            span.set_status(self.status);
        }
        for (name, time, attributes) in self.events {
            span.span_ref()
                .add_event_with_timestamp(name, time, attributes);
        }
        let cx = span.context(&self.parent);
        State::Started { span, cx }
    }
}

impl fmt::Debug for SpanSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.state {
            State::Pending(pending) => f
                .debug_struct("SpanSlot::Pending")
                .field("name", &pending.name)
                .field("kind", &pending.kind)
                .finish_non_exhaustive(),
            State::Started { span, .. } => f
                .debug_struct("SpanSlot::Started")
                .field("span", span)
                .finish(),
            State::Ended => f.write_str("SpanSlot::Ended"),
        }
    }
}
