//! Spans: what one operation did, from start to end.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use super::{SpanData, Tracer, clock};
use crate::{Context, KeyValue, SpanContext, SpanId, Value, semconv};

/// What kind of operation a span describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SpanKind {
    /// Work inside one process.
    #[default]
    Internal,
    /// The server side of a remote call.
    Server,
    /// The client side of a remote call.
    Client,
    /// The sender of an asynchronous message.
    Producer,
    /// The receiver of an asynchronous message.
    Consumer,
}

impl SpanKind {
    /// The name, upper case, as the waterfall shows it.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Internal => "INTERNAL",
            Self::Server => "SERVER",
            Self::Client => "CLIENT",
            Self::Producer => "PRODUCER",
            Self::Consumer => "CONSUMER",
        }
    }
}

/// The outcome of a span. `Ok` is final; `Error` replaces `Unset`; setting `Unset` does nothing.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Status {
    /// No outcome set (the default, and what instrumentation leaves on success).
    #[default]
    Unset,
    /// Marked successful by the application.
    Ok,
    /// Failed.
    Error {
        /// What went wrong.
        description: Cow<'static, str>,
    },
}

impl Status {
    /// An error with a description.
    pub fn error(description: impl Into<Cow<'static, str>>) -> Self {
        Self::Error {
            description: description.into(),
        }
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        matches!(self, Self::Error { .. })
    }

    /// Whether `new` may replace `self`: `Ok` is final, `Unset` never replaces.
    fn accepts(&self, new: &Self) -> bool {
        !matches!(self, Self::Ok) && !matches!(new, Self::Unset)
    }
}

/// Something that happened at a point in a span's life.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    /// The event name.
    pub name: Cow<'static, str>,
    /// When it happened.
    pub time: SystemTime,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limits.
    pub dropped_attributes_count: u32,
}

/// A reference from a span to another span, in this trace or another.
#[derive(Clone, Debug, PartialEq)]
pub struct Link {
    /// The linked span.
    pub span_context: SpanContext,
    /// Its attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limits.
    pub dropped_attributes_count: u32,
}

impl Link {
    /// A link to `span_context` with attributes.
    pub fn new(span_context: SpanContext, attributes: Vec<KeyValue>) -> Self {
        Self {
            span_context,
            attributes,
            dropped_attributes_count: 0,
        }
    }
}

/// The changing part of a recording span.
#[derive(Debug)]
pub(crate) struct SpanState {
    pub(crate) name: Cow<'static, str>,
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) dropped_attributes: u32,
    pub(crate) events: Vec<Event>,
    pub(crate) dropped_events: u32,
    pub(crate) links: Vec<Link>,
    pub(crate) dropped_links: u32,
    pub(crate) status: Status,
}

/// A recording span, shared by its owner [`Span`] and the contexts it is active in.
pub(crate) struct RecordingSpan {
    pub(crate) span_context: SpanContext,
    pub(crate) parent_span_id: Option<SpanId>,
    pub(crate) parent_is_remote: bool,
    pub(crate) kind: SpanKind,
    pub(crate) start: Instant,
    pub(crate) start_time: SystemTime,
    /// `None` only in an ended span's allocation kept for reuse, so that it keeps no provider
    /// alive (see `give_back_span`).
    pub(crate) tracer: Option<Tracer>,
    /// `None` once ended: ending takes it, so a span ends exactly once.
    pub(crate) state: Mutex<Option<SpanState>>,
}

impl RecordingSpan {
    fn lock(&self) -> MutexGuard<'_, Option<SpanState>> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than losing the span: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the span (once) and hands its data to the processors.
    fn end(&self, end_time: Option<SystemTime>) {
        let Some(state) = self.lock().take() else {
            return;
        };
        let Some(tracer) = &self.tracer else {
            return;
        };
        let end_time = end_time
            .unwrap_or_else(|| self.start_time + Instant::now().duration_since(self.start))
            .max(self.start_time);
        let provider = tracer.provider();
        // A local root the head sampler dropped, under tail sampling: its trace is decided
        // first, and a dropped root never becomes span data.
        let mut kept = None;
        if let Some(tail) = provider.tail()
            && !self.span_context.is_sampled()
            && (self.parent_span_id.is_none() || self.parent_is_remote)
        {
            let duration = end_time.duration_since(self.start_time).unwrap_or_default();
            match tail.end_root(
                self.span_context.trace_id(),
                state.status.is_error(),
                duration,
            ) {
                super::tail::RootEnd::Dropped => {
                    super::recycle::give_back(state.attributes);
                    return;
                }
                super::tail::RootEnd::Kept { held, rule } => kept = Some((held, rule)),
            }
        }
        let data = SpanData {
            span_context: self.span_context.clone(),
            parent_span_id: self.parent_span_id,
            parent_is_remote: self.parent_is_remote,
            kind: self.kind,
            name: state.name,
            start_time: self.start_time,
            end_time,
            attributes: state.attributes,
            dropped_attributes_count: state.dropped_attributes,
            events: state.events,
            dropped_events_count: state.dropped_events,
            links: state.links,
            dropped_links_count: state.dropped_links,
            status: state.status,
            resource: provider.resource().clone(),
            scope: tracer.scope().clone(),
        };
        match kept {
            None => provider.on_end(data),
            Some((held, rule)) => {
                for span in held {
                    provider.dispatch(span);
                }
                provider.dispatch(super::tail::mark_sampled(data, rule));
            }
        }
    }
}

impl fmt::Debug for RecordingSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingSpan")
            .field("span_context", &self.span_context)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

/// A span being recorded, or a non-recording one (sampled out) that only carries its context.
///
/// The span ends when [`end`](Self::end) is called or when it is dropped, whichever comes first,
/// exactly once. A non-recording span allocates nothing and ignores every update.
#[must_use = "a span ends when dropped; keep it for as long as the operation runs"]
pub struct Span {
    inner: Inner,
}

enum Inner {
    NonRecording(SpanContext),
    Recording(Arc<RecordingSpan>),
    /// After `end`: only `Drop` sees this, and has nothing left to do.
    Ended,
}

impl Span {
    pub(crate) fn non_recording(span_context: SpanContext) -> Self {
        Self {
            inner: Inner::NonRecording(span_context),
        }
    }

    pub(crate) fn recording(span: Arc<RecordingSpan>) -> Self {
        Self {
            inner: Inner::Recording(span),
        }
    }

    /// Where a recording span's data lives (tests of its reuse).
    #[cfg(test)]
    pub(crate) fn allocation(&self) -> Option<*const RecordingSpan> {
        match &self.inner {
            Inner::Recording(span) => Some(Arc::as_ptr(span)),
            _ => None,
        }
    }

    /// A handle for updating the span through a shared reference.
    pub fn span_ref(&self) -> SpanRef<'_> {
        match &self.inner {
            Inner::NonRecording(cx) => SpanRef::new(Some(cx), None),
            Inner::Recording(span) => SpanRef::new(Some(&span.span_context), Some(span)),
            Inner::Ended => SpanRef::new(None, None),
        }
    }

    /// The span's context: what children and outgoing requests carry.
    pub fn span_context(&self) -> &SpanContext {
        match &self.inner {
            Inner::NonRecording(cx) => cx,
            Inner::Recording(span) => &span.span_context,
            // `end` consumes the span, so no caller can observe this state.
            Inner::Ended => unreachable!("a span is not used after end"),
        }
    }

    /// Whether updates are recorded.
    pub fn is_recording(&self) -> bool {
        self.span_ref().is_recording()
    }

    /// A context like `parent` with this span active: pass it on, or make it current.
    pub fn context(&self, parent: &Context) -> Context {
        match &self.inner {
            Inner::NonRecording(cx) => parent.with_span_context(cx.clone()),
            Inner::Recording(span) => parent.with_recording_span(span.clone()),
            Inner::Ended => parent.clone(),
        }
    }

    /// Sets an attribute (a repeated key replaces the value).
    pub fn set_attribute(&self, attribute: KeyValue) {
        self.span_ref().set_attribute(attribute);
    }

    /// Sets several attributes under one lock.
    pub fn set_attributes(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.span_ref().set_attributes(attributes);
    }

    /// Adds an event now.
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        self.span_ref().add_event(name, attributes);
    }

    /// Adds a link to another span.
    pub fn add_link(&self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        self.span_ref().add_link(span_context, attributes);
    }

    /// Sets the status (`Ok` is final; `Unset` is ignored).
    pub fn set_status(&self, status: Status) {
        self.span_ref().set_status(status);
    }

    /// Renames the span.
    pub fn update_name(&self, name: impl Into<Cow<'static, str>>) {
        self.span_ref().update_name(name);
    }

    /// Records an error as an `exception` event (see [`SpanRef::record_error`]).
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        self.span_ref().record_error(error);
    }

    /// Asks tail sampling to keep this process's spans of the span's trace (see
    /// [`SpanRef::keep_local_trace`]).
    pub fn keep_local_trace(&self) {
        self.span_ref().keep_local_trace();
    }

    /// Ends the span now.
    #[inline]
    pub fn end(mut self) {
        self.end_at(None);
    }

    /// Ends the span at `end_time` (never before its start).
    pub fn end_with_timestamp(mut self, end_time: SystemTime) {
        self.end_at(Some(end_time));
    }

    /// Ends the span at `at`, an instant read from the monotonic clock (for integrations that
    /// share one clock reading between the span and a duration metric).
    pub fn end_with_instant(mut self, at: Instant) {
        if let Inner::Recording(span) = std::mem::replace(&mut self.inner, Inner::Ended) {
            let end = span.start_time + at.saturating_duration_since(span.start);
            span.end(Some(end));
            give_back_span(span);
        }
    }

    /// Ends a recording span; the check is inlined, so a non-recording span's end costs nothing.
    #[inline]
    fn end_at(&mut self, end_time: Option<SystemTime>) {
        if matches!(self.inner, Inner::Recording(_)) {
            self.end_recording(end_time);
        }
    }

    fn end_recording(&mut self, end_time: Option<SystemTime>) {
        if let Inner::Recording(span) = std::mem::replace(&mut self.inner, Inner::Ended) {
            span.end(end_time);
            give_back_span(span);
        }
    }
}

impl Drop for Span {
    #[inline]
    fn drop(&mut self) {
        self.end_at(None);
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Span")
            .field("span_context", &self.span_ref().span_context())
            .field("recording", &self.is_recording())
            .finish()
    }
}

/// A borrowed handle on a span: the active span of a [`Context`] or a [`Span`]'s own.
///
/// It updates a recording span and ignores updates otherwise (no span, sampled out, or already
/// ended). It cannot end the span; only the [`Span`] that owns it does.
///
/// ```
/// use tracecore::Context;
/// use tracecore::trace::Status;
///
/// // Deep inside a handler, without being handed anything:
/// let cx = Context::current();
/// cx.span().set_attribute(tracecore::KeyValue::new("cache.hit", true));
/// cx.span().set_status(Status::error("upstream timed out"));
/// ```
#[derive(Clone, Copy)]
pub struct SpanRef<'a> {
    span_context: Option<&'a SpanContext>,
    recording: Option<&'a Arc<RecordingSpan>>,
}

impl<'a> SpanRef<'a> {
    pub(crate) fn new(
        span_context: Option<&'a SpanContext>,
        recording: Option<&'a Arc<RecordingSpan>>,
    ) -> Self {
        Self {
            span_context,
            recording,
        }
    }

    /// The span's context, if there is a span.
    pub fn span_context(&self) -> Option<&'a SpanContext> {
        self.span_context
    }

    /// Whether updates are recorded (a recording span that has not ended).
    pub fn is_recording(&self) -> bool {
        self.recording.is_some_and(|s| s.lock().is_some())
    }

    fn update(&self, f: impl FnOnce(&mut SpanState, &super::SpanLimits)) {
        if let Some(span) = self.recording
            && let Some(tracer) = &span.tracer
            && let Some(state) = span.lock().as_mut()
        {
            f(state, tracer.provider().limits());
        }
    }

    /// Sets an attribute (a repeated key replaces the value; past the limit it is dropped and
    /// counted).
    pub fn set_attribute(&self, attribute: KeyValue) {
        self.update(|state, limits| {
            super::limits::push_attribute(
                &mut state.attributes,
                &mut state.dropped_attributes,
                attribute,
                limits.max_attributes_per_span,
                limits.max_attribute_value_length,
            );
        });
    }

    /// Sets several attributes under one lock.
    pub fn set_attributes(&self, attributes: impl IntoIterator<Item = KeyValue>) {
        self.update(|state, limits| {
            for attribute in attributes {
                super::limits::push_attribute(
                    &mut state.attributes,
                    &mut state.dropped_attributes,
                    attribute,
                    limits.max_attributes_per_span,
                    limits.max_attribute_value_length,
                );
            }
        });
    }

    /// Adds an event now.
    pub fn add_event(&self, name: impl Into<Cow<'static, str>>, attributes: Vec<KeyValue>) {
        self.add_event_with_timestamp(name, SystemTime::now(), attributes);
    }

    /// Adds an event that happened at `time`.
    pub fn add_event_with_timestamp(
        &self,
        name: impl Into<Cow<'static, str>>,
        time: SystemTime,
        attributes: Vec<KeyValue>,
    ) {
        self.update(|state, limits| {
            super::limits::push_limited(
                &mut state.events,
                &mut state.dropped_events,
                limits.max_events_per_span,
                attributes,
                limits.max_attributes_per_event,
                limits.max_attribute_value_length,
                |attributes, dropped| Event {
                    name: name.into(),
                    time,
                    attributes,
                    dropped_attributes_count: dropped,
                },
            );
        });
    }

    /// Adds a link to another span.
    pub fn add_link(&self, span_context: SpanContext, attributes: Vec<KeyValue>) {
        self.update(|state, limits| {
            super::limits::push_limited(
                &mut state.links,
                &mut state.dropped_links,
                limits.max_links_per_span,
                attributes,
                limits.max_attributes_per_link,
                limits.max_attribute_value_length,
                |attributes, dropped| Link {
                    span_context,
                    attributes,
                    dropped_attributes_count: dropped,
                },
            );
        });
    }

    /// Asks tail sampling ([`TailSampling`](super::TailSampling)) to keep this process's spans
    /// of the span's trace, as when a downstream service said it kept the trace: the local trace
    /// is exported when its root ends (rule `downstream`). Nothing when tail sampling is off,
    /// the span is head-sampled (exported anyway) or not recording, or the trace was decided
    /// already.
    pub fn keep_local_trace(&self) {
        if let Some(span) = self.recording
            && !span.span_context.is_sampled()
            && let Some(tracer) = &span.tracer
            && let Some(tail) = tracer.provider().tail()
        {
            tail.keep_downstream(span.span_context.trace_id());
        }
    }

    /// Whether this process will export its spans of the span's trace, were the trace to end
    /// now (`failing`: with an error): head-sampled, or kept by a tail sampling rule.
    pub(crate) fn local_trace_kept(&self, failing: bool) -> bool {
        let Some(sc) = self.span_context else {
            return false;
        };
        if sc.is_sampled() {
            return true;
        }
        match self.recording {
            Some(span) => span
                .tracer
                .as_ref()
                .and_then(|t| t.provider().tail())
                .is_some_and(|tail| tail.will_keep(sc, span.start, failing)),
            None => false,
        }
    }

    /// The status set so far; `None` when the span does not record (or has ended).
    pub fn status(&self) -> Option<Status> {
        let span = self.recording?;
        span.lock().as_ref().map(|state| state.status.clone())
    }

    /// Sets the status: `Ok` is final, `Error` replaces `Unset` or an earlier error, `Unset` is
    /// ignored.
    pub fn set_status(&self, status: Status) {
        self.update(|state, _| {
            if state.status.accepts(&status) {
                state.status = status;
            }
        });
    }

    /// Renames the span.
    pub fn update_name(&self, name: impl Into<Cow<'static, str>>) {
        self.update(|state, _| state.name = name.into());
    }

    /// Records `error` as an `exception` event: `exception.type` is the error's Rust type,
    /// `exception.message` its message followed by its source chain (`outer: inner: root`).
    /// The status is not changed: set it when the error decides the outcome.
    pub fn record_error<E: std::error::Error + ?Sized>(&self, error: &E) {
        if self.recording.is_none() {
            return;
        }
        let mut message = error.to_string();
        let mut source = error.source();
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        self.add_event(
            "exception",
            vec![
                KeyValue::new(semconv::EXCEPTION_TYPE, std::any::type_name::<E>()),
                KeyValue::new(semconv::EXCEPTION_MESSAGE, message),
            ],
        );
    }

    /// The value of an attribute set so far (for tests and decisions late in a request).
    pub fn attribute(&self, key: &str) -> Option<Value> {
        let span = self.recording?;
        let state = span.lock();
        state
            .as_ref()?
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.clone())
    }
}

impl fmt::Debug for SpanRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanRef")
            .field("span_context", &self.span_context)
            .field("recording", &self.is_recording())
            .finish()
    }
}

pub(crate) fn now() -> (Instant, SystemTime) {
    let start = Instant::now();
    (start, clock::wall_time(start))
}

/// Ended spans' allocations a thread keeps for the next spans started on it.
const LOCAL_SPANS_MAX: usize = 64;

thread_local! {
    static LOCAL_SPANS: std::cell::RefCell<Vec<Arc<RecordingSpan>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `span` in the allocation of a span ended on this thread when there is one.
pub(crate) fn stocked(span: RecordingSpan) -> Arc<RecordingSpan> {
    let kept = LOCAL_SPANS
        .try_with(|spans| spans.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten();
    match kept {
        // Nothing else holds a kept allocation: it was unique when it was kept.
        Some(mut kept) => match Arc::get_mut(&mut kept) {
            Some(slot) => {
                *slot = span;
                kept
            }
            None => Arc::new(span),
        },
        None => Arc::new(span),
    }
}

/// Keeps an ended span's allocation for a later [`stocked`] on this thread, when nothing else
/// holds it (a context may still), without its tracer.
pub(crate) fn give_back_span(mut span: Arc<RecordingSpan>) {
    let Some(slot) = Arc::get_mut(&mut span) else {
        return;
    };
    slot.tracer = None;
    let _ = LOCAL_SPANS.try_with(|spans| {
        if let Ok(mut spans) = spans.try_borrow_mut()
            && spans.len() < LOCAL_SPANS_MAX
        {
            spans.push(span);
        }
    });
}

#[cfg(test)]
mod stock_tests {
    use super::*;

    #[test]
    fn an_ended_span_gives_its_allocation_to_the_next_span_started_on_its_thread() {
        use crate::export::InMemoryExporter;
        use crate::trace::TracerProvider;
        std::thread::spawn(|| {
            let exporter = InMemoryExporter::new();
            let provider = TracerProvider::builder()
                .with_simple_exporter(exporter.clone())
                .build();
            let tracer = provider.tracer("t");
            let first = tracer.start("first");
            let at = first.allocation().unwrap();
            let first_id = first.span_context().span_id();
            first.end();
            let second = tracer.start("second");
            assert_eq!(second.allocation(), Some(at), "the same allocation");
            assert_ne!(second.span_context().span_id(), first_id);
            second.end();
            let spans = exporter.finished_spans();
            assert_eq!(spans.len(), 2);
            assert_eq!(spans.named("first").span_context.span_id(), first_id);
            assert_eq!(spans.named("second").name, "second");
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_span_a_context_still_holds_is_not_reused() {
        use crate::Context;
        use crate::export::InMemoryExporter;
        use crate::trace::TracerProvider;
        std::thread::spawn(|| {
            let provider = TracerProvider::builder()
                .with_simple_exporter(InMemoryExporter::new())
                .build();
            let tracer = provider.tracer("t");
            let first = tracer.start("first");
            let at = first.allocation().unwrap();
            let first_id = first.span_context().span_id();
            let cx = first.context(&Context::new());
            first.end();
            let second = tracer.start("second");
            assert_ne!(second.allocation(), Some(at));
            assert_eq!(cx.span_context().unwrap().span_id(), first_id);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn a_kept_span_allocation_does_not_keep_its_provider_alive() {
        use crate::export::InMemoryExporter;
        use crate::trace::TracerProvider;
        std::thread::spawn(|| {
            let provider = TracerProvider::builder()
                .with_simple_exporter(InMemoryExporter::new())
                .build();
            let weak = provider.downgrade();
            let span = provider.tracer("t").start("kept");
            span.end();
            assert!(
                LOCAL_SPANS.with(|s| !s.borrow().is_empty()),
                "the allocation is kept"
            );
            drop(provider);
            assert!(weak.upgrade().is_none(), "the provider is gone");
        })
        .join()
        .unwrap();
    }
}
