//! The meter provider: one service's meters, their resource and the readers that collect them.

use std::borrow::Cow;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::aggregate::ExemplarFilter;
use super::meter::{Meter, MeterInner};
use super::pipeline::Pipeline;
use super::reader::{PeriodicReader, Reader};
use crate::env;
use crate::export::FlushError;
use crate::trace::{InstrumentationScope, Resource};

/// Series per instrument before measurements go to the overflow series.
pub const DEFAULT_CARDINALITY_LIMIT: usize = 2000;

/// How long dropping the last handle on a provider waits for its readers to export.
const DROP_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Owns the metrics of one service: meters it hands out share its resource and readers.
/// Cloning is cheap. Several providers live side by side in one process.
///
/// A provider without readers still hands out instruments; a disabled one
/// (`OTEL_SDK_DISABLED=true`) hands out instruments that record nothing.
#[derive(Clone)]
pub struct MeterProvider {
    inner: Arc<ProviderInner>,
}

struct ProviderInner {
    pipeline: Arc<Pipeline>,
    periodic: Vec<PeriodicReader>,
    shut_down: AtomicBool,
}

impl ProviderInner {
    fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(FlushError::shut_down());
        }
        let deadline = Instant::now() + timeout;
        let mut result = Ok(());
        for reader in &self.periodic {
            if let Err(e) = reader.shutdown(deadline.saturating_duration_since(Instant::now())) {
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

impl MeterProvider {
    /// A builder reading the `OTEL_*` variables for what code does not set.
    pub fn builder() -> MeterProviderBuilder {
        MeterProviderBuilder::default()
    }

    /// The meter of the instrumentation scope `name` (the same meter for the same name).
    pub fn meter(&self, name: impl Into<Cow<'static, str>>) -> Meter {
        self.meter_with_scope(InstrumentationScope::new(name, None::<&'static str>))
    }

    /// The meter of `scope`.
    pub fn meter_with_scope(&self, scope: InstrumentationScope) -> Meter {
        let pipeline = &self.inner.pipeline;
        let mut meters = pipeline.meters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = meters.iter().find(|m| m.scope == scope) {
            return Meter::new(existing.clone());
        }
        let inner = Arc::new(MeterInner::new(
            scope,
            pipeline.limit,
            pipeline.enabled,
            pipeline.exemplar_filter,
        ));
        meters.push(inner.clone());
        Meter::new(inner)
    }

    /// The resource.
    pub fn resource(&self) -> &Resource {
        &self.inner.pipeline.resource
    }

    /// Whether `OTEL_SDK_DISABLED` (or the builder) turned metrics off.
    pub fn is_disabled(&self) -> bool {
        !self.inner.pipeline.enabled
    }

    /// Collections the periodic readers could not export (each failure counted once).
    pub fn failed_exports(&self) -> u64 {
        self.inner
            .periodic
            .iter()
            .map(PeriodicReader::failed_exports)
            .sum()
    }

    /// Points the periodic readers exported.
    pub fn exported_points(&self) -> u64 {
        self.inner
            .periodic
            .iter()
            .map(PeriodicReader::exported_points)
            .sum()
    }

    /// Points in the collections the periodic readers could not export: every point collected
    /// is in this count or in [`exported_points`](Self::exported_points). (A cumulative
    /// series' next collection carries its total again, so a failure loses no sum.)
    pub fn failed_points(&self) -> u64 {
        self.inner
            .periodic
            .iter()
            .map(PeriodicReader::failed_points)
            .sum()
    }

    /// Has every periodic reader collect and export now, waiting at most `timeout`.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let mut result = Ok(());
        for reader in &self.inner.periodic {
            if let Err(e) = reader.force_flush(deadline.saturating_duration_since(Instant::now())) {
                result = Err(e);
            }
        }
        result
    }

    /// Exports a last time and stops the periodic readers, waiting at most `timeout`. A second
    /// call is an error.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        self.inner.shutdown(timeout)
    }
}

impl fmt::Debug for MeterProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeterProvider")
            .field("service", &self.inner.pipeline.resource.service_name())
            .field("readers", &self.inner.periodic)
            .field("disabled", &self.is_disabled())
            .finish()
    }
}

/// Builds a [`MeterProvider`]. What code sets wins over the environment.
#[derive(Default)]
pub struct MeterProviderBuilder {
    service_name: Option<Cow<'static, str>>,
    resource: Option<Resource>,
    readers: Vec<Reader>,
    limit: Option<usize>,
    disabled: Option<bool>,
    exemplar_filter: Option<ExemplarFilter>,
}

impl MeterProviderBuilder {
    /// Sets `service.name` (wins over `OTEL_SERVICE_NAME`).
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Uses `resource` (share the tracer provider's: `tracer_provider.resource().clone()`).
    #[must_use]
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Adds a reader: a [`PeriodicReader`] that exports on its own thread, or a
    /// [`ManualReader`](super::ManualReader) collected on demand.
    #[must_use]
    pub fn with_reader(mut self, reader: impl Into<Reader>) -> Self {
        self.readers.push(reader.into());
        self
    }

    /// Series per instrument before the overflow series (default 2000).
    #[must_use]
    pub fn with_cardinality_limit(mut self, limit: usize) -> Self {
        self.limit = Some(limit.max(1));
        self
    }

    /// Which measurements histograms keep as exemplars, instead of
    /// `OTEL_METRICS_EXEMPLAR_FILTER` (default: those made in a sampled span).
    #[must_use]
    pub fn with_exemplar_filter(mut self, filter: ExemplarFilter) -> Self {
        self.exemplar_filter = Some(filter);
        self
    }

    /// Turns metrics off (or on) regardless of `OTEL_SDK_DISABLED`.
    #[must_use]
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// The provider; its periodic readers' threads start now.
    pub fn build(self) -> MeterProvider {
        let resource =
            crate::trace::resource::resolve(self.resource.as_ref(), self.service_name.as_ref());
        let disabled = self
            .disabled
            .unwrap_or_else(|| env::bool_var("OTEL_SDK_DISABLED"));
        let pipeline = Arc::new(Pipeline {
            resource,
            meters: Mutex::new(Vec::new()),
            limit: self.limit.unwrap_or(DEFAULT_CARDINALITY_LIMIT),
            enabled: !disabled,
            exemplar_filter: self
                .exemplar_filter
                .unwrap_or_else(ExemplarFilter::from_env),
        });
        let mut periodic = Vec::new();
        for reader in self.readers {
            match reader {
                // A disabled provider exports nothing: no thread is started.
                Reader::Periodic(r) if !disabled => periodic.push(r.start(pipeline.clone())),
                Reader::Periodic(_) => {}
                Reader::Manual(r) => r.attach(pipeline.clone()),
            }
        }
        MeterProvider {
            inner: Arc::new(ProviderInner {
                pipeline,
                periodic,
                shut_down: AtomicBool::new(false),
            }),
        }
    }
}

impl fmt::Debug for MeterProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MeterProviderBuilder")
            .finish_non_exhaustive()
    }
}
