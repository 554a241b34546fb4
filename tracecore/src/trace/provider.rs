//! The tracer provider: resource, sampler, id generator, limits and processors of one service.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::tail::{TailSampling, TailStage};
use super::{InstrumentationScope, Resource, Sampler, Span, SpanData, SpanLimits, Tracer};
use crate::export::{
    BatchProcessor, BatchProcessorBuilder, FlushError, SimpleProcessor, SpanExporter, SpanProcessor,
};
use crate::{Context, IdGenerator, RandomIdGenerator, env};

/// How long dropping the last handle on a provider waits for its processors to flush.
const DROP_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Owns the pipeline of one service: tracers it hands out share its resource, sampler and
/// processors. Cloning is cheap. Several providers live side by side in one process.
///
/// ```
/// use std::time::Duration;
/// use tracecore::export::InMemoryExporter;
/// use tracecore::trace::TracerProvider;
///
/// let exporter = InMemoryExporter::new();
/// let provider = TracerProvider::builder()
///     .with_service_name("checkout")
///     .with_simple_exporter(exporter.clone())
///     .build();
/// provider.tracer("example").start("work").end();
/// provider.force_flush(Duration::from_secs(1)).unwrap();
/// let spans = exporter.finished_spans();
/// assert_eq!(spans.named("work").resource.service_name(), "checkout");
/// ```
#[derive(Clone)]
pub struct TracerProvider {
    inner: Arc<ProviderInner>,
}

pub(crate) struct ProviderInner {
    resource: Resource,
    sampler: Arc<dyn Sampler>,
    /// Whether the sampler reads attributes (asked once: it does not change).
    sampler_reads_attributes: bool,
    id_generator: Arc<dyn IdGenerator>,
    processors: Vec<Box<dyn SpanProcessor>>,
    /// Whether any processor wants [`SpanProcessor::on_start`] (asked once).
    on_start: bool,
    limits: SpanLimits,
    disabled: bool,
    shut_down: AtomicBool,
    /// Late decisions, when tail sampling is on.
    tail: Option<TailStage>,
}

impl ProviderInner {
    pub(crate) fn resource(&self) -> &Resource {
        &self.resource
    }

    pub(crate) fn sampler(&self) -> &dyn Sampler {
        &*self.sampler
    }

    pub(crate) fn sampler_reads_attributes(&self) -> bool {
        self.sampler_reads_attributes
    }

    pub(crate) fn id_generator(&self) -> &dyn IdGenerator {
        &*self.id_generator
    }

    pub(crate) fn limits(&self) -> &SpanLimits {
        &self.limits
    }

    pub(crate) fn is_disabled(&self) -> bool {
        self.disabled
    }

    pub(crate) fn has_processors(&self) -> bool {
        !self.processors.is_empty()
    }

    pub(crate) fn on_start(&self, span: &Span, parent: &Context) {
        if !self.on_start {
            return;
        }
        for processor in &self.processors {
            processor.on_start(span.span_ref(), parent);
        }
    }

    pub(crate) fn tail(&self) -> Option<&TailStage> {
        self.tail.as_ref()
    }

    #[inline]
    pub(crate) fn on_end(&self, data: SpanData) {
        if let Some(tail) = &self.tail
            && !data.span_context.is_sampled()
        {
            for kept in tail.on_end(data) {
                self.dispatch(kept);
            }
            return;
        }
        self.dispatch(data);
    }

    /// Hands `data` to the processors, past tail sampling.
    #[inline]
    pub(crate) fn dispatch(&self, data: SpanData) {
        match self.processors.split_last() {
            None => {}
            Some((last, rest)) => {
                for processor in rest {
                    processor.on_end(data.clone());
                }
                last.on_end(data);
            }
        }
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(FlushError::shut_down());
        }
        let deadline = std::time::Instant::now() + timeout;
        // Local traces still held are decided on what they have: kept ones are exported.
        if let Some(tail) = &self.tail {
            for kept in tail.drain() {
                self.dispatch(kept);
            }
        }
        let mut result = Ok(());
        for processor in &self.processors {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if let Err(e) = processor.shutdown(left) {
                result = Err(e);
            }
        }
        result
    }
}

impl Drop for ProviderInner {
    fn drop(&mut self) {
        if !self.shut_down.load(Ordering::Acquire) {
            let _ = self.shutdown(DROP_SHUTDOWN_TIMEOUT);
        }
    }
}

impl TracerProvider {
    /// The provider's state, weakly (tests that nothing keeps it alive).
    #[cfg(test)]
    pub(crate) fn downgrade(&self) -> std::sync::Weak<ProviderInner> {
        Arc::downgrade(&self.inner)
    }

    /// A builder reading the `OTEL_*` variables for what code does not set.
    pub fn builder() -> TracerProviderBuilder {
        TracerProviderBuilder::default()
    }

    /// A tracer for the instrumentation scope `name`.
    pub fn tracer(&self, name: impl Into<Cow<'static, str>>) -> Tracer {
        self.tracer_with_scope(InstrumentationScope::new(name, None::<&'static str>))
    }

    /// A tracer for `scope`.
    pub fn tracer_with_scope(&self, scope: InstrumentationScope) -> Tracer {
        Tracer::new(self.inner.clone(), scope)
    }

    /// The resource.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// The sampler's description.
    pub fn sampler_description(&self) -> String {
        self.inner.sampler.description()
    }

    /// Whether `OTEL_SDK_DISABLED` (or the builder) turned recording off.
    pub fn is_disabled(&self) -> bool {
        self.inner.disabled
    }

    /// The tail sampling rules, when tail sampling is on.
    pub fn tail_sampling(&self) -> Option<&TailSampling> {
        self.inner.tail.as_ref().map(TailStage::rules)
    }

    /// About how many bytes of spans tail sampling holds now, waiting for their traces' roots.
    pub fn tail_sampling_held_bytes(&self) -> usize {
        self.inner.tail.as_ref().map_or(0, TailStage::held_bytes)
    }

    /// Spans the processors dropped, by reason (the processors' [`Drops`] added up).
    ///
    /// [`Drops`]: crate::export::Drops
    pub fn span_drops(&self) -> crate::export::Drops {
        self.inner.processors.iter().map(|p| p.drops()).sum()
    }

    /// Spans the processors had to drop (queue full, export failed, after shutdown).
    pub fn dropped_spans(&self) -> u64 {
        self.inner
            .processors
            .iter()
            .map(|p| p.dropped_spans())
            .sum()
    }

    /// Exports everything ended so far, waiting at most `timeout`.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = std::time::Instant::now() + timeout;
        let mut result = Ok(());
        for processor in &self.inner.processors {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if let Err(e) = processor.force_flush(left) {
                result = Err(e);
            }
        }
        result
    }

    /// Flushes and stops the processors, waiting at most `timeout`; spans ending afterwards are
    /// dropped and counted. On timeout the batch processor drops and counts what it has not yet
    /// handed to its exporter; the export under way ends within the exporter's own timeout, so
    /// soon after, every span is either exported or counted in [`dropped_spans`](Self::dropped_spans).
    /// A second call is an error.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        self.inner.shutdown(timeout)
    }
}

impl fmt::Debug for TracerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracerProvider")
            .field("service", &self.inner.resource.service_name())
            .field("sampler", &self.inner.sampler.description())
            .field("processors", &self.inner.processors)
            .field("tail_sampling", &self.tail_sampling())
            .field("disabled", &self.inner.disabled)
            .finish()
    }
}

/// Builds a [`TracerProvider`]. What code sets wins over the environment.
#[derive(Default)]
pub struct TracerProviderBuilder {
    service_name: Option<Cow<'static, str>>,
    resource: Option<Resource>,
    sampler: Option<Arc<dyn Sampler>>,
    id_generator: Option<Arc<dyn IdGenerator>>,
    processors: Vec<Processor>,
    limits: Option<SpanLimits>,
    disabled: Option<bool>,
    tail: Option<Option<TailSampling>>,
}

impl TracerProviderBuilder {
    /// Sets `service.name` (wins over `OTEL_SERVICE_NAME`).
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Uses `resource` (its `service.name` is still overridden by [`with_service_name`](Self::with_service_name)).
    #[must_use]
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Uses `sampler` instead of `OTEL_TRACES_SAMPLER`.
    #[must_use]
    pub fn with_sampler(mut self, sampler: impl Sampler + 'static) -> Self {
        self.sampler = Some(Arc::new(sampler));
        self
    }

    /// Uses `generator` for ids (for example a [`crate::SeededIdGenerator`] in tests).
    #[must_use]
    pub fn with_id_generator(mut self, generator: impl IdGenerator + 'static) -> Self {
        self.id_generator = Some(Arc::new(generator));
        self
    }

    /// Adds a processor; processors see spans in the order they were added.
    #[must_use]
    pub fn with_span_processor(mut self, processor: impl SpanProcessor + 'static) -> Self {
        self.processors.push(Processor::Ready(Box::new(processor)));
        self
    }

    /// Adds a batch processor, built (and its export thread started) by [`build`](Self::build)
    /// unless the provider is disabled (`OTEL_SDK_DISABLED=true`): a disabled provider starts no
    /// thread.
    #[must_use]
    pub fn with_batch_processor(mut self, builder: BatchProcessorBuilder) -> Self {
        self.processors.push(Processor::Batch(builder));
        self
    }

    /// Exports each span as it ends, on the thread that ends it (tests, development).
    #[must_use]
    pub fn with_simple_exporter(self, exporter: impl SpanExporter + 'static) -> Self {
        self.with_span_processor(SimpleProcessor::new(exporter))
    }

    /// Exports in batches from a dedicated thread, configured by `OTEL_BSP_*`.
    #[must_use]
    pub fn with_batch_exporter(self, exporter: impl SpanExporter + 'static) -> Self {
        self.with_batch_processor(BatchProcessor::builder(exporter))
    }

    /// Uses `limits` instead of the `OTEL_*_LIMIT` variables.
    #[must_use]
    pub fn with_span_limits(mut self, limits: SpanLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Turns late decisions on with `rules` (or off with `None`) instead of
    /// `TRACECORE_TAIL_SAMPLING`: spans the sampler drops are recorded and held until their
    /// local trace's root ends, and kept when a rule matches ([`TailSampling`]).
    #[must_use]
    pub fn with_tail_sampling(mut self, rules: impl Into<Option<TailSampling>>) -> Self {
        self.tail = Some(rules.into());
        self
    }

    /// Turns recording off (or on) regardless of `OTEL_SDK_DISABLED`. Propagation keeps working.
    #[must_use]
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// The resource the provider will have: the one given (or built from `OTEL_SERVICE_NAME`
    /// and `OTEL_RESOURCE_ATTRIBUTES`), with the service name set in code. Give it to a
    /// `MeterProvider` so that spans and metrics name the same service.
    pub fn resource(&self) -> Resource {
        super::resource::resolve(self.resource.as_ref(), self.service_name.as_ref())
    }

    /// The provider.
    pub fn build(self) -> TracerProvider {
        let resource = self.resource();
        let sampler = self.sampler.unwrap_or_else(super::sampler_from_env);
        let disabled = self
            .disabled
            .unwrap_or_else(|| env::bool_var("OTEL_SDK_DISABLED"));
        let processors = self
            .processors
            .into_iter()
            .filter_map(|p| match p {
                Processor::Ready(p) => Some(p),
                // Nothing will reach it: no export thread for a disabled provider.
                Processor::Batch(_) if disabled => None,
                Processor::Batch(b) => Some(Box::new(b.build()) as Box<dyn SpanProcessor>),
            })
            .collect::<Vec<_>>();
        let on_start = processors.iter().any(|p| p.needs_on_start());
        let tail = self.tail.unwrap_or_else(|| {
            let (rules, warnings) =
                TailSampling::from_env_value(env::var("TRACECORE_TAIL_SAMPLING").as_deref());
            for warning in warnings {
                crate::diag::warn_once(&warning);
            }
            rules
        });
        TracerProvider {
            inner: Arc::new(ProviderInner {
                resource,
                sampler_reads_attributes: sampler.reads_attributes(),
                sampler,
                id_generator: self
                    .id_generator
                    .unwrap_or_else(|| Arc::new(RandomIdGenerator::new())),
                processors,
                on_start,
                limits: self.limits.unwrap_or_else(SpanLimits::from_env),
                disabled,
                shut_down: AtomicBool::new(false),
                tail: tail.filter(|_| !disabled).map(TailStage::new),
            }),
        }
    }
}

/// A processor given to the builder: built already, or a batch processor built with the
/// provider (so that a disabled provider starts no thread).
enum Processor {
    Ready(Box<dyn SpanProcessor>),
    Batch(BatchProcessorBuilder),
}

impl fmt::Debug for TracerProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracerProviderBuilder")
            .finish_non_exhaustive()
    }
}
