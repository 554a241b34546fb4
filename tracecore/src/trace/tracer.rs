//! Tracers start spans.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use super::provider::ProviderInner;
use super::span::{RecordingSpan, SpanState, now};
use super::{
    InstrumentationScope, Link, SamplingDecision, SamplingParameters, Span, SpanKind, Status,
    clock, limits,
};
use crate::{Context, KeyValue, SpanContext, TraceFlags};

/// Starts spans for one instrumentation scope of one provider. Cloning is cheap; hand it to
/// layers and middleware.
#[derive(Clone)]
pub struct Tracer {
    inner: Arc<TracerInner>,
}

struct TracerInner {
    provider: Arc<ProviderInner>,
    scope: InstrumentationScope,
}

impl Tracer {
    pub(crate) fn new(provider: Arc<ProviderInner>, scope: InstrumentationScope) -> Self {
        Self {
            inner: Arc::new(TracerInner { provider, scope }),
        }
    }

    /// The tail sampling rules of the tracer's provider, when tail sampling is on.
    pub fn tail_sampling(&self) -> Option<&super::TailSampling> {
        self.provider().tail().map(super::tail::TailStage::rules)
    }

    pub(crate) fn provider(&self) -> &ProviderInner {
        &self.inner.provider
    }

    /// The instrumentation scope.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.inner.scope
    }

    /// A builder for a span named `name`.
    pub fn span_builder(&self, name: impl Into<Cow<'static, str>>) -> SpanBuilder<'_> {
        SpanBuilder {
            tracer: self,
            name: name.into(),
            kind: SpanKind::Internal,
            links: Vec::new(),
            start_time: None,
            start_instant: None,
        }
    }

    /// Starts an internal span, child of the current context's span.
    pub fn start(&self, name: impl Into<Cow<'static, str>>) -> Span {
        self.span_builder(name).start()
    }

    /// Runs `f` inside a new internal span made current, and ends the span after.
    pub fn in_span<T>(
        &self,
        name: impl Into<Cow<'static, str>>,
        f: impl FnOnce(&Context) -> T,
    ) -> T {
        let span = self.start(name);
        let cx = span.context(&Context::current());
        let _guard = cx.clone().attach();
        f(&cx)
    }
}

impl fmt::Debug for Tracer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracer")
            .field("scope", &self.inner.scope)
            .field("service", &self.provider().resource().service_name())
            .finish()
    }
}

/// Describes a span before it starts: what the sampler sees.
///
/// ```
/// use tracecore::export::InMemoryExporter;
/// use tracecore::trace::{SpanKind, TracerProvider};
/// use tracecore::{Context, KeyValue};
///
/// let provider = TracerProvider::builder().with_simple_exporter(InMemoryExporter::new()).build();
/// let tracer = provider.tracer("example");
/// let span = tracer
///     .span_builder("GET /items/{id}")
///     .with_kind(SpanKind::Server)
///     .start_with_attributes(&Context::new(), [KeyValue::new("http.request.method", "GET")]);
/// assert!(span.is_recording());
/// ```
#[must_use = "a builder does nothing until a start method is called"]
pub struct SpanBuilder<'a> {
    tracer: &'a Tracer,
    name: Cow<'static, str>,
    kind: SpanKind,
    links: Vec<Link>,
    start_time: Option<SystemTime>,
    start_instant: Option<Instant>,
}

impl SpanBuilder<'_> {
    /// The span kind (default internal).
    pub fn with_kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// A link, known at start (samplers see it).
    pub fn with_link(mut self, link: Link) -> Self {
        self.links.push(link);
        self
    }

    /// An explicit start time (default: now).
    pub fn with_start_time(mut self, time: SystemTime) -> Self {
        self.start_time = Some(time);
        self
    }

    /// A start time read earlier from the monotonic clock: the span's duration runs from it, and
    /// its wall-clock start is derived from it (for integrations that decide to record an
    /// operation after it began, such as the `tracing` bridge). An explicit
    /// [`with_start_time`](Self::with_start_time) still wins for the wall-clock start.
    pub fn with_start_instant(mut self, instant: Instant) -> Self {
        self.start_instant = Some(instant);
        self
    }

    /// Starts the span as a child of the current context's span.
    pub fn start(self) -> Span {
        self.start_with_attributes(&Context::current(), [])
    }

    /// Starts the span as a child of `parent`'s span (a new trace when it has none).
    pub fn start_with_context(self, parent: &Context) -> Span {
        self.start_with_attributes(parent, [])
    }

    /// Starts the span with attributes known at start (samplers see them). Pass an array to
    /// allocate only when the span records, or a `Vec` with spare capacity to have the span keep
    /// it as it is.
    #[inline]
    pub fn start_with_attributes<A: StartAttributes>(
        self,
        parent: &Context,
        attributes: A,
    ) -> Span {
        match self.decide(parent, attributes.as_ref()) {
            Decision::Skip(span) => {
                attributes.discard();
                span
            }
            Decision::Record(pending) => {
                let kept = attributes.into_vec(pending.extra.len());
                self.record(parent, pending, kept)
            }
        }
    }

    /// Starts the span with attributes made by `make` only if it will record (and samplers see
    /// them first when the provider's sampler [reads attributes](super::Sampler::reads_attributes)):
    /// a span sampled out, or a provider with no processors, pays for none of them.
    ///
    /// ```
    /// use tracecore::export::InMemoryExporter;
    /// use tracecore::trace::{AlwaysOff, TracerProvider};
    /// use tracecore::{Context, KeyValue};
    ///
    /// let provider = TracerProvider::builder().with_sampler(AlwaysOff).with_simple_exporter(InMemoryExporter::new()).build();
    /// let span = provider.tracer("t").span_builder("GET").start_with_lazy_attributes(&Context::new(), || -> [KeyValue; 1] {
    ///     unreachable!("a dropped span builds no attributes")
    /// });
    /// assert!(!span.is_recording());
    /// ```
    pub fn start_with_lazy_attributes<A: StartAttributes>(
        self,
        parent: &Context,
        make: impl FnOnce() -> A,
    ) -> Span {
        if self.tracer.provider().sampler_reads_attributes() {
            return self.start_with_attributes(parent, make());
        }
        match self.decide(parent, &[]) {
            Decision::Skip(span) => span,
            Decision::Record(pending) => {
                let kept = make().into_vec(pending.extra.len());
                self.record(parent, pending, kept)
            }
        }
    }

    /// Starts the span with its name and attributes both made by `describe`, only if it will
    /// record: the name given to the builder is replaced. For integrations whose span name
    /// costs work to make (the HTTP `{method} {route}`): a span sampled out, or a provider
    /// with no processors, pays for neither. A sampler that
    /// [reads attributes](super::Sampler::reads_attributes) sees both, made first.
    ///
    /// ```
    /// use tracecore::export::InMemoryExporter;
    /// use tracecore::trace::TracerProvider;
    /// use tracecore::{Context, KeyValue};
    ///
    /// let exporter = InMemoryExporter::new();
    /// let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
    /// provider.tracer("t").span_builder("HTTP").start_described(&Context::new(), || {
    ///     ("GET /items/{id}".into(), [KeyValue::new("http.route", "/items/{id}")])
    /// }).end();
    /// assert_eq!(exporter.finished_spans().names(), ["GET /items/{id}"]);
    /// ```
    pub fn start_described<A: StartAttributes>(
        mut self,
        parent: &Context,
        describe: impl FnOnce() -> (Cow<'static, str>, A),
    ) -> Span {
        if self.tracer.provider().sampler_reads_attributes() {
            let (name, attributes) = describe();
            self.name = name;
            return self.start_with_attributes(parent, attributes);
        }
        match self.decide(parent, &[]) {
            Decision::Skip(span) => span,
            Decision::Record(pending) => {
                let (name, attributes) = describe();
                self.name = name;
                let kept = attributes.into_vec(pending.extra.len());
                self.record(parent, pending, kept)
            }
        }
    }

    /// Samples the span: a span that will not record is returned whole; one that will is
    /// described by what [`record`](Self::record) needs. Not generic over the attribute type, so
    /// an attribute array stays where the caller made it until it is copied into the span.
    fn decide(&self, parent: &Context, attributes: &[KeyValue]) -> Decision {
        let provider = self.tracer.provider();
        let ids = provider.id_generator();
        let parent_span = parent.span_context();
        let trace_id = match parent_span {
            Some(p) => p.trace_id(),
            None => ids.new_trace_id(),
        };
        let span_id = ids.new_span_id();
        let inherited = match parent_span {
            Some(p) => p.flags().with_sampled(false),
            None => TraceFlags::NONE.with_random(ids.trace_ids_are_random()),
        };
        if provider.is_disabled() {
            // No recording, but propagation goes on: a new span id, the parent's flags as they came.
            let flags = parent_span.map_or(inherited, SpanContext::flags);
            let state = parent_span
                .map(|p| p.trace_state().clone())
                .unwrap_or_default();
            return Decision::Skip(Span::non_recording(SpanContext::new(
                trace_id, span_id, flags, false, state,
            )));
        }
        let result = provider.sampler().should_sample(
            &SamplingParameters::new(trace_id, &self.name)
                .with_parent(parent_span)
                .with_kind(self.kind)
                .with_attributes(attributes)
                .with_links(&self.links),
        );
        let sampled = result.decision == SamplingDecision::RecordAndSample;
        let trace_state = result
            .trace_state
            .or_else(|| parent_span.map(|p| p.trace_state().clone()))
            .unwrap_or_default();
        let span_context = SpanContext::new(
            trace_id,
            span_id,
            inherited.with_sampled(sampled),
            false,
            trace_state,
        );
        // Without processors nobody would see the span: keep only its context, which still
        // propagates with the sampler's decision. With tail sampling on, a dropped span is
        // recorded anyway, for a late decision.
        let dropped = result.decision == SamplingDecision::Drop && provider.tail().is_none();
        if dropped || !provider.has_processors() {
            return Decision::Skip(Span::non_recording(span_context));
        }
        Decision::Record(Pending {
            span_context,
            extra: result.attributes,
        })
    }

    /// Starts the recording span `decide` described, with its start attributes in `kept`.
    fn record(self, parent: &Context, pending: Pending, mut kept: Vec<KeyValue>) -> Span {
        let tracer = self.tracer;
        let provider = tracer.provider();
        let parent_span = parent.span_context();
        let limits = provider.limits();
        let max = limits.max_attributes_per_span;
        let max_len = limits.max_attribute_value_length;
        kept.extend(pending.extra);
        let mut dropped = 0;
        // The common case (unique keys within the limits) keeps the list as given; otherwise it
        // is rebuilt under the limit rules.
        if kept.len() > max || max_len.is_some() || limits::has_repeated_key(&kept) {
            let all = std::mem::take(&mut kept);
            for attribute in all {
                limits::push_attribute(&mut kept, &mut dropped, attribute, max, max_len);
            }
        }
        let mut links = Vec::new();
        let mut dropped_links = 0;
        for link in self.links {
            let Link {
                span_context,
                attributes,
                dropped_attributes_count,
            } = link;
            limits::push_limited(
                &mut links,
                &mut dropped_links,
                limits.max_links_per_span,
                attributes,
                limits.max_attributes_per_link,
                max_len,
                |attributes, dropped| Link {
                    span_context,
                    attributes,
                    dropped_attributes_count: dropped_attributes_count + dropped,
                },
            );
        }
        let (start, wall) = match self.start_instant {
            Some(instant) => (instant, clock::wall_time(instant)),
            None => now(),
        };
        let start_time = self.start_time.unwrap_or(wall);
        let recording = super::span::stocked(RecordingSpan {
            span_context: pending.span_context,
            parent_span_id: parent_span.map(SpanContext::span_id),
            parent_is_remote: parent_span.is_some_and(SpanContext::is_remote),
            kind: self.kind,
            start,
            start_time,
            tracer: Some(tracer.clone()),
            state: Mutex::new(Some(SpanState {
                name: self.name,
                attributes: kept,
                dropped_attributes: dropped,
                events: Vec::new(),
                dropped_events: 0,
                links,
                dropped_links,
                status: Status::Unset,
            })),
        });
        let span = Span::recording(recording);
        provider.on_start(&span, parent);
        span
    }
}

/// What sampling decided for a span about to start.
enum Decision {
    /// It does not record: it only carries its context.
    Skip(Span),
    /// It records.
    Record(Pending),
}

/// A span that will record, between sampling and start.
struct Pending {
    span_context: SpanContext,
    /// Attributes the sampler added.
    extra: Vec<KeyValue>,
}

/// The attributes a span starts with: an array (copied into the span only when it records) or a
/// `Vec` (kept as the span's own list).
pub trait StartAttributes: AsRef<[KeyValue]> {
    /// The list the span keeps, with room for `extra` more.
    fn into_vec(self, extra: usize) -> Vec<KeyValue>;

    /// Disposes of the attributes of a span that does not record.
    fn discard(self)
    where
        Self: Sized,
    {
        drop(self);
    }
}

impl<const N: usize> StartAttributes for [KeyValue; N] {
    /// The pairs go into a recycled list in one move.
    #[inline]
    fn into_vec(self, extra: usize) -> Vec<KeyValue> {
        let mut kept = super::recycle::take(N + extra);
        kept.extend(self);
        kept
    }

    /// The usual start attributes (static keys, numbers, static strings) own nothing: checking
    /// that costs a few instructions each, their drop glue a call each.
    #[inline(always)]
    fn discard(self) {
        if self.iter().all(KeyValue::owns_nothing) {
            std::mem::forget(self);
        }
    }
}

impl StartAttributes for Vec<KeyValue> {
    fn into_vec(mut self, extra: usize) -> Vec<KeyValue> {
        self.reserve(extra);
        self
    }
}

impl fmt::Debug for SpanBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanBuilder")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}
