//! The logger provider (resource, limits, processors) and the loggers it hands out.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use super::{BatchLogProcessor, LogExporter, LogProcessor, LogRecord, SimpleLogProcessor};
use crate::export::FlushError;
use crate::trace::{InstrumentationScope, Resource};
use crate::{diag, env};

/// The limits on a record's attributes (`OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT`, default 128;
/// `OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT`, default none), with the generic
/// `OTEL_ATTRIBUTE_*` variables under them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LogLimits {
    /// Attributes kept per record; past it they are dropped and counted.
    pub max_attributes: usize,
    /// Characters kept per string value (and per array element).
    pub max_attribute_value_length: Option<usize>,
}

impl Default for LogLimits {
    fn default() -> Self {
        Self {
            max_attributes: 128,
            max_attribute_value_length: None,
        }
    }
}

impl LogLimits {
    /// The limits the variables give.
    pub fn from_env() -> Self {
        let d = Self::default();
        Self {
            max_attributes: env::usize_var("OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT")
                .or_else(|| env::usize_var("OTEL_ATTRIBUTE_COUNT_LIMIT"))
                .unwrap_or(d.max_attributes),
            max_attribute_value_length: env::usize_var(
                "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT",
            )
            .or_else(|| env::usize_var("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT")),
        }
    }

    /// With at most `n` attributes per record.
    #[must_use]
    pub const fn with_max_attributes(mut self, n: usize) -> Self {
        self.max_attributes = n;
        self
    }

    /// With string values cut to `n` characters.
    #[must_use]
    pub const fn with_max_attribute_value_length(mut self, n: usize) -> Self {
        self.max_attribute_value_length = Some(n);
        self
    }
}

/// Owns the log pipeline of one service. Cloning is cheap.
#[derive(Clone)]
pub struct LoggerProvider {
    inner: Arc<Inner>,
}

struct Inner {
    resource: Resource,
    processors: Vec<Box<dyn LogProcessor>>,
    limits: LogLimits,
    disabled: bool,
    shut_down: AtomicBool,
}

impl Inner {
    fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        if self.shut_down.swap(true, Ordering::AcqRel) {
            return Err(FlushError::shut_down());
        }
        let deadline = Instant::now() + timeout;
        let mut result = Ok(());
        for processor in &self.processors {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = processor.shutdown(left) {
                result = Err(e);
            }
        }
        result
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.shut_down.load(Ordering::Acquire) {
            let _ = self.shutdown(Duration::from_secs(5));
        }
    }
}

impl LoggerProvider {
    /// A builder reading the `OTEL_*` variables for what code does not set.
    pub fn builder() -> LoggerProviderBuilder {
        LoggerProviderBuilder::default()
    }

    /// A logger for the instrumentation scope `name` (for `tracing` events, their target).
    pub fn logger(&self, name: impl Into<Cow<'static, str>>) -> Logger {
        self.logger_with_scope(InstrumentationScope::new(name, None::<&'static str>))
    }

    /// A logger for `scope`.
    pub fn logger_with_scope(&self, scope: InstrumentationScope) -> Logger {
        Logger {
            provider: self.clone(),
            scope,
        }
    }

    /// Emits `record` with `scope` (set here, like the resource): for integrations that emit
    /// for many scopes without holding a logger for each.
    pub fn emit_with_scope(&self, mut record: LogRecord, scope: InstrumentationScope) {
        record.scope = scope;
        self.emit(record);
    }

    fn emit(&self, mut record: LogRecord) {
        let inner = &self.inner;
        if inner.disabled || inner.processors.is_empty() {
            return;
        }
        record.resource = inner.resource.clone();
        if record.observed_timestamp.is_none() {
            record.observed_timestamp = Some(SystemTime::now());
        }
        let limits = inner.limits;
        if record.attributes.len() > limits.max_attributes
            || limits.max_attribute_value_length.is_some()
            || crate::trace::limits::has_repeated_key(&record.attributes)
        {
            let (attributes, dropped) = crate::trace::limits::limit_attributes(
                std::mem::take(&mut record.attributes),
                limits.max_attributes,
                limits.max_attribute_value_length,
            );
            record.attributes = attributes;
            record.dropped_attributes_count += dropped;
            diag::add(&diag::ATTRIBUTES_DROPPED, u64::from(dropped));
        }
        if let (Some(max), Some(crate::Value::String(body))) =
            (limits.max_attribute_value_length, &mut record.body)
            && body.chars().count() > max
        {
            let mut value = crate::Value::String(std::mem::take(body));
            value.truncate(max);
            record.body = Some(value);
        }
        match inner.processors.split_last() {
            None => {}
            Some((last, rest)) => {
                for processor in rest {
                    processor.emit(record.clone());
                }
                last.emit(record);
            }
        }
    }

    /// The resource.
    pub fn resource(&self) -> &Resource {
        &self.inner.resource
    }

    /// Whether recording is off (`OTEL_SDK_DISABLED`, or the builder).
    pub fn is_disabled(&self) -> bool {
        self.inner.disabled
    }

    /// Records the processors dropped, by reason (the processors' [`Drops`] added up).
    ///
    /// [`Drops`]: crate::export::Drops
    pub fn record_drops(&self) -> crate::export::Drops {
        self.inner.processors.iter().map(|p| p.drops()).sum()
    }

    /// Records the processors had to drop.
    pub fn dropped_records(&self) -> u64 {
        self.inner
            .processors
            .iter()
            .map(|p| p.dropped_records())
            .sum()
    }

    /// Exports everything emitted so far, waiting at most `timeout`.
    pub fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let mut result = Ok(());
        for processor in &self.inner.processors {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Err(e) = processor.force_flush(left) {
                result = Err(e);
            }
        }
        result
    }

    /// Flushes and stops the processors, waiting at most `timeout`; a second call is an error.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        self.inner.shutdown(timeout)
    }
}

impl fmt::Debug for LoggerProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggerProvider")
            .field("service", &self.inner.resource.service_name())
            .field("processors", &self.inner.processors)
            .field("disabled", &self.inner.disabled)
            .finish()
    }
}

/// Builds a [`LoggerProvider`]. What code sets wins over the environment.
#[derive(Default)]
pub struct LoggerProviderBuilder {
    service_name: Option<Cow<'static, str>>,
    resource: Option<Resource>,
    processors: Vec<Box<dyn LogProcessor>>,
    limits: Option<LogLimits>,
    disabled: Option<bool>,
}

impl LoggerProviderBuilder {
    /// Sets `service.name` (wins over `OTEL_SERVICE_NAME`).
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Uses `resource` (the one the tracer provider has, so both signals name one service).
    #[must_use]
    pub fn with_resource(mut self, resource: Resource) -> Self {
        self.resource = Some(resource);
        self
    }

    /// Adds a processor.
    #[must_use]
    pub fn with_processor(mut self, processor: impl LogProcessor + 'static) -> Self {
        self.processors.push(Box::new(processor));
        self
    }

    /// Exports in batches from a dedicated thread (`OTEL_BLRP_*`).
    #[must_use]
    pub fn with_batch_exporter(self, exporter: impl LogExporter + 'static) -> Self {
        self.with_processor(BatchLogProcessor::builder(exporter).build())
    }

    /// Exports each record as it is emitted, on the emitting thread (tests, development).
    #[must_use]
    pub fn with_simple_exporter(self, exporter: impl LogExporter + 'static) -> Self {
        self.with_processor(SimpleLogProcessor::new(exporter))
    }

    /// Uses `limits` instead of the `OTEL_LOGRECORD_*` variables.
    #[must_use]
    pub fn with_limits(mut self, limits: LogLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Turns recording off (or on) regardless of `OTEL_SDK_DISABLED`.
    #[must_use]
    pub fn with_disabled(mut self, disabled: bool) -> Self {
        self.disabled = Some(disabled);
        self
    }

    /// The provider.
    pub fn build(self) -> LoggerProvider {
        let disabled = self
            .disabled
            .unwrap_or_else(|| env::bool_var("OTEL_SDK_DISABLED"));
        LoggerProvider {
            inner: Arc::new(Inner {
                resource: crate::trace::resource::resolve(
                    self.resource.as_ref(),
                    self.service_name.as_ref(),
                ),
                processors: self.processors,
                limits: self.limits.unwrap_or_else(LogLimits::from_env),
                disabled,
                shut_down: AtomicBool::new(false),
            }),
        }
    }
}

impl fmt::Debug for LoggerProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoggerProviderBuilder")
            .finish_non_exhaustive()
    }
}

/// Emits log records for one instrumentation scope. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Logger {
    provider: LoggerProvider,
    scope: InstrumentationScope,
}

impl Logger {
    /// Emits `record`: its scope and resource are set, the limits applied, and each processor
    /// given it.
    pub fn emit(&self, mut record: LogRecord) {
        record.scope = self.scope.clone();
        self.provider.emit(record);
    }

    /// Whether emitting records anything (a provider with processors, not disabled).
    pub fn is_enabled(&self) -> bool {
        !self.provider.inner.disabled && !self.provider.inner.processors.is_empty()
    }

    /// The scope.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.scope
    }

    /// The provider.
    pub fn provider(&self) -> &LoggerProvider {
        &self.provider
    }
}
