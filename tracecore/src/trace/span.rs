//! Spans: what one operation did, from start to end.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};

use super::{SpanData, Tracer, clock, recycle};
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
    /// Set when the span ends: later updates are ignored. The state stays in place until its
    /// data is built (on the export thread, for a batch processor).
    pub(crate) ended: bool,
    /// Whether `attributes` is known to hold each key once. The start attributes are not checked
    /// when the span starts: a repeated key is merged when the data is built (the later value
    /// wins, in the first one's place), and until then updates and lookups go to the last one.
    pub(crate) repeats_checked: bool,
}

impl SpanState {
    /// Merges repeated attribute keys, once.
    fn merge_repeated_keys(&mut self) {
        if !self.repeats_checked {
            super::limits::merge_repeated_keys(&mut self.attributes);
            self.repeats_checked = true;
        }
    }
}

impl SpanState {
    /// What [`SpanData::estimated_size`] counts, for the span this is the state of.
    fn estimated_size(&self, span_context: &SpanContext) -> usize {
        super::span_data::estimated_size(
            &self.name,
            span_context,
            &self.attributes,
            &self.events,
            &self.links,
        )
    }
}

/// When a span ended: a monotonic reading (its duration runs from the start instant) or a
/// wall-clock time the application gave.
#[derive(Clone, Copy, Debug)]
pub(crate) enum End {
    At(Instant),
    Wall(SystemTime),
}

/// A recording span, shared by its owner [`Span`] and the contexts it is active in.
pub(crate) struct RecordingSpan {
    pub(crate) span_context: SpanContext,
    pub(crate) parent_span_id: Option<SpanId>,
    pub(crate) parent_is_remote: bool,
    pub(crate) kind: SpanKind,
    pub(crate) start: Instant,
    /// A wall-clock start the application gave; otherwise it is derived from `start` when the
    /// span's data is built.
    pub(crate) start_time: Option<SystemTime>,
    /// `None` only in an ended span's allocation kept for reuse, so that it keeps no provider
    /// alive (see `recycle::give_back_span`).
    pub(crate) tracer: Option<Tracer>,
    /// `None` once the span's data is built, and in a kept allocation.
    pub(crate) state: Mutex<Option<SpanState>>,
}

impl RecordingSpan {
    fn lock(&self) -> MutexGuard<'_, Option<SpanState>> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters more than losing the span: keep going.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends the span (once) and hands it to the processors. A batch processor alone receives
    /// it as it is (an [`EndedSpan`]): its data is built on the export thread. Under tail
    /// sampling a span the head sampler dropped is built here, for the tail's decision.
    fn finish(span: Arc<Self>, end: End) {
        let Some(tracer) = &span.tracer else {
            return;
        };
        if tracer.provider().tail().is_some() && !span.span_context.is_sampled() {
            let Some(state) = span.lock().take().filter(|s| !s.ended) else {
                return;
            };
            span.finish_tailed(state, end);
            recycle::give_back_span(span);
            return;
        }
        // The size the batch processor's byte budget counts, read under the same lock.
        let size = {
            let mut state = span.lock();
            match state.as_mut() {
                Some(state) if !state.ended => {
                    state.ended = true;
                    state.estimated_size(&span.span_context)
                }
                _ => return,
            }
        };
        let tracer = tracer.clone();
        tracer
            .provider()
            .on_ended(EndedSpan(Ended::Live { span, end, size }));
    }

    /// The end of a span the head sampler dropped, under tail sampling: a local root decides
    /// its trace first, and a dropped root never becomes span data.
    fn finish_tailed(&self, state: SpanState, end: End) {
        let Some(tracer) = &self.tracer else {
            return;
        };
        let provider = tracer.provider();
        let tail = provider.tail().expect("called under tail sampling");
        if self.parent_span_id.is_some() && !self.parent_is_remote {
            return provider.on_end(self.data(state, end, tracer));
        }
        let duration = match end {
            End::At(at) => at.saturating_duration_since(self.start),
            End::Wall(time) => {
                let start = self
                    .start_time
                    .unwrap_or_else(|| clock::wall_time(self.start));
                time.duration_since(start).unwrap_or_default()
            }
        };
        let failed = state.status.is_error();
        match tail.end_root(self.span_context.trace_id(), failed, duration) {
            super::tail::RootEnd::Dropped => super::recycle::give_back(state.attributes),
            super::tail::RootEnd::Kept { held, rule } => {
                for span in held {
                    provider.dispatch(span);
                }
                let data = self.data(state, end, tracer);
                provider.dispatch(super::tail::mark_sampled(data, rule));
            }
        }
    }

    /// The span's data, from its ended state: the wall-clock start from this thread's clock
    /// anchor (unless given), the end that plus the monotonic duration.
    fn data(&self, state: SpanState, end: End, tracer: &Tracer) -> SpanData {
        let repeats_checked = state.repeats_checked;
        let start_time = self
            .start_time
            .unwrap_or_else(|| clock::wall_time(self.start));
        let end_time = match end {
            End::At(at) => start_time + at.saturating_duration_since(self.start),
            End::Wall(time) => time.max(start_time),
        };
        let mut data = SpanData {
            span_context: self.span_context.clone(),
            parent_span_id: self.parent_span_id,
            parent_is_remote: self.parent_is_remote,
            kind: self.kind,
            name: state.name,
            start_time,
            end_time,
            attributes: state.attributes,
            dropped_attributes_count: state.dropped_attributes,
            events: state.events,
            dropped_events_count: state.dropped_events,
            links: state.links,
            dropped_links_count: state.dropped_links,
            status: state.status,
            resource: tracer.provider().resource().clone(),
            scope: tracer.scope().clone(),
        };
        if !repeats_checked {
            super::limits::merge_repeated_keys(&mut data.attributes);
        }
        data
    }
}

/// A span that has ended, its data not built yet: what [`SpanProcessor::on_ended`] receives.
///
/// Ending a span only marks it ended and hands it on; [`into_span_data`](Self::into_span_data)
/// builds its [`SpanData`] (timestamps, resource, scope) where the processor chooses: the batch
/// processor does it on its export thread, off the request path.
///
/// [`SpanProcessor::on_ended`]: crate::export::SpanProcessor::on_ended
pub struct EndedSpan(Ended);

enum Ended {
    Live {
        span: Arc<RecordingSpan>,
        end: End,
        /// Its estimated size when it ended (see [`SpanData::estimated_size`]).
        size: usize,
    },
    Built(Box<SpanData>),
    /// Its data was taken.
    Taken,
}

impl EndedSpan {
    /// The span's context.
    pub fn span_context(&self) -> &SpanContext {
        match &self.0 {
            Ended::Live { span, .. } => &span.span_context,
            Ended::Built(data) => &data.span_context,
            Ended::Taken => unreachable!("an ended span is not used after its data is taken"),
        }
    }

    /// Builds the span's data; the span's allocation goes back for a later span started on
    /// this thread.
    pub fn into_span_data(mut self) -> SpanData {
        let taken = "an ended span's data is built once, by its owner";
        match std::mem::replace(&mut self.0, Ended::Taken) {
            Ended::Live { span, end, .. } => {
                let state = span.lock().take().expect(taken);
                let tracer = span.tracer.as_ref().expect(taken);
                let data = span.data(state, end, tracer);
                recycle::give_back_span(span);
                data
            }
            Ended::Built(data) => *data,
            Ended::Taken => unreachable!("{taken}"),
        }
    }

    /// Builds the span's data into `out`, leaving the span empty; `allocation` receives the
    /// span's allocation for [`recycle::give_back_spans`].
    pub(crate) fn build_into(
        &mut self,
        out: &mut Vec<SpanData>,
        allocation: &mut Vec<Arc<RecordingSpan>>,
    ) {
        match std::mem::replace(&mut self.0, Ended::Taken) {
            Ended::Live { span, end, .. } => {
                let state = span.lock().take();
                if let (Some(state), Some(tracer)) = (state, &span.tracer) {
                    out.push(span.data(state, end, tracer));
                }
                allocation.push(span);
            }
            Ended::Built(data) => out.push(*data),
            Ended::Taken => {}
        }
    }

    /// Drops the span without building its data, keeping its storage for new spans.
    pub(crate) fn discard(mut self) {
        if let Ended::Live { span, .. } = std::mem::replace(&mut self.0, Ended::Taken) {
            if let Some(state) = span.lock().take() {
                recycle::give_back(state.attributes);
            }
            recycle::give_back_span(span);
        }
    }

    /// About how many bytes the span holds (see [`SpanData::estimated_size`]).
    pub(crate) fn estimated_size(&self) -> usize {
        match &self.0 {
            Ended::Live { size, .. } => *size,
            Ended::Built(data) => data.estimated_size(),
            Ended::Taken => 0,
        }
    }
}

impl From<SpanData> for EndedSpan {
    fn from(data: SpanData) -> Self {
        Self(Ended::Built(Box::new(data)))
    }
}

impl fmt::Debug for EndedSpan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Ended::Taken => f.write_str("EndedSpan(taken)"),
            _ => f
                .debug_struct("EndedSpan")
                .field("span_context", self.span_context())
                .finish_non_exhaustive(),
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
        self.end_at(Some(End::Wall(end_time)));
    }

    /// Ends the span at `at`, an instant read from the monotonic clock (for integrations that
    /// share one clock reading between the span and a duration metric).
    pub fn end_with_instant(mut self, at: Instant) {
        self.end_at(Some(End::At(at)));
    }

    /// Ends a recording span (`None`: now); the check is inlined, so a non-recording span's end
    /// costs nothing.
    #[inline]
    fn end_at(&mut self, end: Option<End>) {
        if matches!(self.inner, Inner::Recording(_)) {
            self.end_recording(end);
        }
    }

    fn end_recording(&mut self, end: Option<End>) {
        if let Inner::Recording(span) = std::mem::replace(&mut self.inner, Inner::Ended) {
            let end = end.unwrap_or_else(|| End::At(Instant::now()));
            RecordingSpan::finish(span, end);
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
        self.recording
            .is_some_and(|s| s.lock().as_ref().is_some_and(|state| !state.ended))
    }

    fn update(&self, f: impl FnOnce(&mut SpanState, &super::SpanLimits)) {
        if let Some(span) = self.recording
            && let Some(tracer) = &span.tracer
            && let Some(state) = span.lock().as_mut()
            && !state.ended
        {
            f(state, tracer.provider().limits());
        }
    }

    /// Sets an attribute (a repeated key replaces the value; past the limit it is dropped and
    /// counted).
    pub fn set_attribute(&self, attribute: KeyValue) {
        self.update(|state, limits| {
            if state.attributes.len() >= limits.max_attributes_per_span {
                state.merge_repeated_keys();
            }
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
                if state.attributes.len() >= limits.max_attributes_per_span {
                    state.merge_repeated_keys();
                }
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
        span.lock()
            .as_ref()
            .filter(|state| !state.ended)
            .map(|state| state.status.clone())
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
            .as_ref()
            .filter(|state| !state.ended)?
            .attributes
            .iter()
            // The last: start attributes may repeat a key until the span's data is built.
            .rev()
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

/// `span` in the allocation of a span ended earlier when there is one.
pub(crate) fn stocked(span: RecordingSpan) -> Arc<RecordingSpan> {
    match recycle::take_span() {
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
                recycle::LOCAL_SPANS.with(|s| !s.borrow().is_empty()),
                "the allocation is kept"
            );
            drop(provider);
            assert!(weak.upgrade().is_none(), "the provider is gone");
        })
        .join()
        .unwrap();
    }
}
