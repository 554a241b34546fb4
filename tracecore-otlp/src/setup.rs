//! One call that sets a service up from the environment: provider, batch processor and exporter
//! with the OpenTelemetry defaults.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tracecore::diag;
use tracecore::export::{BatchConfig, BatchProcessor, ConsoleExporter};
use tracecore::http_span::HttpInstrumentation;
use tracecore::integration::env;
use tracecore::logs::{ConsoleLogExporter, LoggerProvider};
use tracecore::metrics::{
    ConsoleMetricExporter, ManualReader, Meter, MeterProvider, MeterProviderBuilder, PeriodicReader,
};
use tracecore::propagation::{self, Propagator};
use tracecore::trace::{Tracer, TracerProvider, TracerProviderBuilder};

use crate::{ConfigError, OtlpExporterBuilder, OtlpStats, PrometheusListener};

/// The console exporter's schedule delay when `OTEL_BSP_SCHEDULE_DELAY` is unset: a developer
/// sees each waterfall promptly, and requests still never write to the terminal themselves.
const CONSOLE_DELAY: Duration = Duration::from_millis(100);

/// Where spans go (`OTEL_TRACES_EXPORTER`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExporterKind {
    /// OTLP/HTTP (the default).
    Otlp,
    /// The terminal, as a waterfall per trace (`console`; `logging` is its deprecated name).
    Console,
    /// Nowhere: spans are not recorded, but context still propagates.
    None,
    /// Metrics only: a listener of its own answering Prometheus scrapes
    /// (`OTEL_EXPORTER_PROMETHEUS_HOST`, `OTEL_EXPORTER_PROMETHEUS_PORT`).
    Prometheus,
}

impl ExporterKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Otlp => "otlp",
            Self::Console => "console",
            Self::None => "none",
            Self::Prometheus => "prometheus",
        }
    }
}

/// The exporters `OTEL_TRACES_EXPORTER` names: a comma-separated, case-insensitive list of
/// `otlp`, `console` (or the deprecated `logging`) and `none`. Unknown or unsupported values
/// (`zipkin`) are warned about and ignored; a list with nothing usable left means `otlp`; `none`
/// with others means none.
///
/// ```
/// use tracecore_otlp::{ExporterKind, exporters_from_env_value};
///
/// assert_eq!(exporters_from_env_value(None).0, [ExporterKind::Otlp]);
/// assert_eq!(exporters_from_env_value(Some("console, otlp")).0, [ExporterKind::Console, ExporterKind::Otlp]);
/// let (kinds, warnings) = exporters_from_env_value(Some("zipkin"));
/// assert_eq!(kinds, [ExporterKind::Otlp]);
/// assert_eq!(warnings, ["OTEL_TRACES_EXPORTER: \"zipkin\" is not supported by tracecore-otlp; ignored"]);
/// ```
pub fn exporters_from_env_value(value: Option<&str>) -> (Vec<ExporterKind>, Vec<String>) {
    kinds_from_env_value("OTEL_TRACES_EXPORTER", value, |name| match name {
        "logging" => Some(Ok((
            ExporterKind::Console,
            "\"logging\" is deprecated; use \"console\"",
        ))),
        "zipkin" | "jaeger" | "otlp_proto_grpc" => Some(Err("is not supported by tracecore-otlp")),
        _ => None,
    })
}

/// A comma-separated, case-insensitive list of `otlp`, `console` and `none` in `var`, with
/// `special` deciding other names first: a kind with a warning, or a reason to ignore the name.
/// Unknown names are warned about and ignored; nothing usable left means `otlp`; `none` with
/// others means none.
fn kinds_from_env_value(
    var: &'static str,
    value: Option<&str>,
    special: impl Fn(&str) -> Option<Result<(ExporterKind, &'static str), &'static str>>,
) -> (Vec<ExporterKind>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut kinds = Vec::new();
    for name in env::names(value.unwrap_or("")) {
        let kind = match (special(&name), name.as_str()) {
            (Some(Ok((kind, warning))), _) => {
                if !warning.is_empty() {
                    warnings.push(format!("{var}: {warning}"));
                }
                kind
            }
            (Some(Err(why)), _) => {
                warnings.push(format!("{var}: {name:?} {why}; ignored"));
                continue;
            }
            (None, "otlp") => ExporterKind::Otlp,
            (None, "console") => ExporterKind::Console,
            (None, "none") => ExporterKind::None,
            (None, _) => {
                warnings.push(format!("{var}: unknown exporter {name:?} ignored"));
                continue;
            }
        };
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.contains(&ExporterKind::None) {
        if kinds.len() > 1 {
            warnings.push(format!(
                "{var}: \"none\" is combined with other values in {:?}; export is off",
                value.unwrap_or("")
            ));
        }
        return (vec![ExporterKind::None], warnings);
    }
    if kinds.is_empty() {
        kinds.push(ExporterKind::Otlp);
    }
    (kinds, warnings)
}

/// The metrics exporters `OTEL_METRICS_EXPORTER` names: `otlp` (the default), `prometheus`,
/// `console`, `none`, like [`exporters_from_env_value`].
///
/// ```
/// use tracecore_otlp::{ExporterKind, metrics_exporters_from_env_value};
///
/// assert_eq!(metrics_exporters_from_env_value(None).0, [ExporterKind::Otlp]);
/// assert_eq!(metrics_exporters_from_env_value(Some("none")).0, [ExporterKind::None]);
/// assert_eq!(metrics_exporters_from_env_value(Some("prometheus")).0, [ExporterKind::Prometheus]);
/// ```
pub fn metrics_exporters_from_env_value(value: Option<&str>) -> (Vec<ExporterKind>, Vec<String>) {
    kinds_from_env_value("OTEL_METRICS_EXPORTER", value, |name| {
        (name == "prometheus").then_some(Ok((ExporterKind::Prometheus, "")))
    })
}

/// Sets a service up from the `OTEL_*` environment, code settings winning. See [`init`] for the
/// one-line version.
///
/// ```no_run
/// let telemetry = tracecore_otlp::Setup::new().with_service_name("gateway").build()?;
/// eprintln!("{telemetry}"); // one line: service, exporter, endpoint, sampler, propagation
/// let tracer = telemetry.tracer("gateway");
/// # Ok::<(), tracecore_otlp::ConfigError>(())
/// ```
#[derive(Default)]
pub struct Setup {
    provider: Option<TracerProviderBuilder>,
    service_name: Option<Cow<'static, str>>,
    exporters: Option<Vec<ExporterKind>>,
    metrics_exporters: Option<Vec<ExporterKind>>,
    metric_interval: Option<Duration>,
    metric_readers: Vec<ManualReader>,
    otlp: OtlpExporterBuilder,
    console: Option<ConsoleExporter>,
    logs_exporters: Option<Vec<ExporterKind>>,
}

impl Setup {
    /// A setup that reads the environment for everything code does not set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `service.name` (wins over `OTEL_SERVICE_NAME`).
    #[must_use]
    pub fn with_service_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.service_name = Some(name.into());
        self
    }

    /// Starts from `builder` (sampler, resource, id generator, limits, extra processors); the
    /// exporters are added to it.
    #[must_use]
    pub fn with_provider(mut self, builder: TracerProviderBuilder) -> Self {
        self.provider = Some(builder);
        self
    }

    /// Uses these exporters instead of `OTEL_TRACES_EXPORTER`.
    #[must_use]
    pub fn with_exporters(mut self, kinds: impl IntoIterator<Item = ExporterKind>) -> Self {
        self.exporters = Some(kinds.into_iter().collect());
        self
    }

    /// Uses these metrics exporters instead of `OTEL_METRICS_EXPORTER` (`None` alone: no
    /// metrics, and the layers pay nothing for them).
    #[must_use]
    pub fn with_metrics_exporters(mut self, kinds: impl IntoIterator<Item = ExporterKind>) -> Self {
        self.metrics_exporters = Some(kinds.into_iter().collect());
        self
    }

    /// Uses these log record exporters instead of `OTEL_LOGS_EXPORTER` (`otlp`, `console`,
    /// `none`; unset, the span exporters' kinds).
    #[must_use]
    pub fn with_logs_exporters(mut self, kinds: impl IntoIterator<Item = ExporterKind>) -> Self {
        self.logs_exporters = Some(kinds.into_iter().collect());
        self
    }

    /// Also lets `reader` collect the service's metrics on demand (a table at the end of a run,
    /// tests), whatever the exporters are.
    #[must_use]
    pub fn with_metric_reader(mut self, reader: ManualReader) -> Self {
        self.metric_readers.push(reader);
        self
    }

    /// Exports metrics every `interval` instead of `OTEL_METRIC_EXPORT_INTERVAL` (60 s).
    #[must_use]
    pub fn with_metric_interval(mut self, interval: Duration) -> Self {
        self.metric_interval = Some(interval);
        self
    }

    /// Configures the OTLP exporters (used when the exporters include `otlp`); the metrics one
    /// takes the same options, with the `OTEL_EXPORTER_OTLP_METRICS_*` variables.
    #[must_use]
    pub fn with_otlp(mut self, builder: OtlpExporterBuilder) -> Self {
        self.otlp = builder;
        self
    }

    /// Configures the console exporter (used when the exporters include `console`).
    #[must_use]
    pub fn with_console(mut self, exporter: ConsoleExporter) -> Self {
        self.console = Some(exporter);
        self
    }

    /// The provider with its processors; an error names the variable or option holding a bad
    /// value (other bad values are warned about once and replaced by their default).
    pub fn build(self) -> Result<Telemetry, ConfigError> {
        let span_kinds = match self.exporters {
            Some(kinds) => kinds,
            None => {
                let (kinds, warnings) =
                    exporters_from_env_value(env::var("OTEL_TRACES_EXPORTER").as_deref());
                for warning in warnings {
                    diag::warn_once(&warning);
                }
                kinds
            }
        };
        let mut builder = self.provider.unwrap_or_default();
        if let Some(name) = self.service_name {
            builder = builder.with_service_name(name);
        }
        // One resource for every signal.
        let resource = builder.resource();
        builder = builder.with_resource(resource.clone());
        // Metrics go where spans go unless code or `OTEL_METRICS_EXPORTER` says otherwise (with
        // nothing set, both are `otlp`, as the specification's defaults say).
        let metric_kinds = match (self.metrics_exporters, env::var("OTEL_METRICS_EXPORTER")) {
            (Some(kinds), _) => kinds,
            (None, Some(value)) => {
                let (kinds, warnings) = metrics_exporters_from_env_value(Some(&value));
                for warning in warnings {
                    diag::warn_once(&warning);
                }
                kinds
            }
            (None, None) => span_kinds.clone(),
        };
        let logs_kinds = match (self.logs_exporters, env::var("OTEL_LOGS_EXPORTER")) {
            (Some(kinds), _) => kinds,
            (None, Some(value)) => {
                let (kinds, warnings) = exporters_from_env_value(Some(&value));
                for warning in warnings {
                    diag::warn_once(&warning.replace("OTEL_TRACES_EXPORTER", "OTEL_LOGS_EXPORTER"));
                }
                kinds
            }
            (None, None) => span_kinds.clone(),
        };
        let metrics = build_metrics(
            &metric_kinds,
            MeterProvider::builder().with_resource(resource),
            &self.otlp,
            self.metric_interval,
            self.metric_readers,
        )?;
        let traces = build_traces(&span_kinds, builder, &self.otlp, self.console)?;
        let provider = traces.provider;
        // A disabled SDK starts no export thread, for logs either.
        let logs_kinds = if provider.is_disabled() {
            Vec::new()
        } else {
            logs_kinds
        };
        let logs = build_logs(&logs_kinds, provider.resource().clone(), &self.otlp)?;
        let propagation = propagation::from_env().fields().join(",");
        let summary = format!(
            "tracecore: service.name={} exporter={} metrics={} logs={} sampler={}{} propagation={}{}",
            provider.resource().service_name(),
            traces.described.join(" + "),
            metrics.described,
            logs.described,
            provider.sampler_description(),
            provider
                .tail_sampling()
                .map(|rules| format!(" tail_sampling={rules}"))
                .unwrap_or_default(),
            if propagation.is_empty() {
                "off"
            } else {
                &propagation
            },
            if provider.is_disabled() {
                " (OTEL_SDK_DISABLED: spans are not recorded)"
            } else {
                ""
            },
        );
        Ok(Telemetry {
            provider,
            meter_provider: metrics.provider,
            kinds: span_kinds,
            summary,
            otlp_stats: traces.stats,
            metric_stats: metrics.stats,
            prometheus: metrics.prometheus,
            logger_provider: logs.provider,
            log_stats: logs.stats,
        })
    }
}

/// The log pipeline, built.
struct Logs {
    provider: LoggerProvider,
    described: String,
    stats: Option<OtlpStats>,
}

/// A logger provider with a batch processor for each of `kinds`.
fn build_logs(
    kinds: &[ExporterKind],
    resource: tracecore::trace::Resource,
    otlp: &OtlpExporterBuilder,
) -> Result<Logs, ConfigError> {
    let mut builder = LoggerProvider::builder().with_resource(resource);
    let mut described = Vec::new();
    let mut stats = None;
    for kind in kinds {
        match kind {
            ExporterKind::Otlp => {
                let mut otlp = otlp.clone();
                otlp.signal = crate::config::Signal::Logs;
                let settings = otlp.resolve()?;
                described.push(format!("otlp ({})", settings.describe()));
                let exporter = settings.log_exporter();
                stats = Some(exporter.stats());
                builder = builder.with_batch_exporter(exporter);
            }
            ExporterKind::Console => {
                described.push("console".to_owned());
                builder = builder.with_batch_exporter(ConsoleLogExporter::new());
            }
            ExporterKind::None => {}
            ExporterKind::Prometheus => diag::warn_once(
                "OTEL_LOGS_EXPORTER: prometheus exports metrics, not log records; ignored",
            ),
        }
    }
    Ok(Logs {
        provider: builder.build(),
        described: if described.is_empty() {
            "none".to_owned()
        } else {
            described.join(" + ")
        },
        stats,
    })
}

/// The span pipeline, built: the provider and what its summary says of the exporters.
struct Traces {
    provider: TracerProvider,
    described: Vec<String>,
    stats: Option<OtlpStats>,
}

/// Adds the span exporters `kinds` name to `builder`, each behind a batch processor.
fn build_traces(
    kinds: &[ExporterKind],
    mut builder: TracerProviderBuilder,
    otlp: &OtlpExporterBuilder,
    mut console: Option<ConsoleExporter>,
) -> Result<Traces, ConfigError> {
    let mut described = Vec::new();
    let mut stats = None;
    for kind in kinds {
        match kind {
            ExporterKind::Otlp => {
                let settings = otlp.resolve()?;
                described.push(format!("otlp ({})", settings.describe()));
                let exporter = settings.exporter();
                stats = Some(exporter.stats());
                builder = builder.with_batch_exporter(exporter);
            }
            ExporterKind::Console => {
                described.push("console".to_owned());
                let mut config = BatchConfig::from_env();
                if env::var("OTEL_BSP_SCHEDULE_DELAY").is_none() {
                    config.scheduled_delay = CONSOLE_DELAY;
                }
                let exporter = console.take().unwrap_or_default();
                builder = builder
                    .with_batch_processor(BatchProcessor::builder(exporter).with_config(config));
            }
            ExporterKind::None => described.push("none".to_owned()),
            ExporterKind::Prometheus => diag::warn_once(
                "Setup::with_exporters: prometheus exports metrics, not spans; ignored for spans",
            ),
        }
    }
    Ok(Traces {
        provider: builder.build(),
        described,
        stats,
    })
}

/// The metric pipeline, built: the meter provider (none when nothing reads it) and what the
/// summary says of it.
struct Metrics {
    provider: Option<MeterProvider>,
    described: String,
    stats: Option<OtlpStats>,
    prometheus: Option<Arc<PrometheusListener>>,
}

/// A meter provider with a reader for each of `kinds` and each of `readers`.
fn build_metrics(
    kinds: &[ExporterKind],
    mut meters: MeterProviderBuilder,
    otlp: &OtlpExporterBuilder,
    every: Option<Duration>,
    readers: Vec<ManualReader>,
) -> Result<Metrics, ConfigError> {
    let mut described = Vec::new();
    let mut stats = None;
    let mut interval = None;
    let mut prometheus = None;
    for kind in kinds {
        let reader = match kind {
            ExporterKind::Otlp => {
                let mut otlp = otlp.clone();
                otlp.signal = crate::config::Signal::Metrics;
                let settings = otlp.resolve()?;
                described.push(format!("otlp ({})", settings.describe()));
                let exporter = otlp.build_metrics()?;
                stats = Some(exporter.stats());
                PeriodicReader::new(exporter)
            }
            ExporterKind::Console => {
                described.push("console".to_owned());
                PeriodicReader::new(ConsoleMetricExporter::new())
            }
            ExporterKind::Prometheus => {
                let reader = ManualReader::new();
                let listener = PrometheusListener::from_env(reader.clone())?;
                described.push(format!(
                    "prometheus (http://{}/metrics)",
                    listener.local_addr()
                ));
                prometheus = Some(Arc::new(listener));
                meters = meters.with_reader(reader);
                continue;
            }
            ExporterKind::None => continue,
        };
        let reader = match every {
            Some(i) => reader.with_interval(i),
            None => reader,
        };
        interval = reader.interval();
        meters = meters.with_reader(reader);
    }
    let any_reader = !described.is_empty() || !readers.is_empty();
    for reader in readers {
        meters = meters.with_reader(reader);
    }
    let described = match interval {
        _ if described.is_empty() => "none".to_owned(),
        Some(every) => format!("{} every {} ms", described.join(" + "), every.as_millis()),
        None => described.join(" + "),
    };
    Ok(Metrics {
        provider: any_reader.then(|| meters.build()),
        described,
        stats,
        prometheus,
    })
}

impl fmt::Debug for Setup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Setup")
            .field("service_name", &self.service_name)
            .field("exporters", &self.exporters)
            .field("otlp", &self.otlp)
            .finish_non_exhaustive()
    }
}

/// A service's tracing, set up: the provider and a one-line description of what it does
/// (its `Display`; header values are never shown).
#[derive(Debug, Clone)]
pub struct Telemetry {
    provider: TracerProvider,
    meter_provider: Option<MeterProvider>,
    kinds: Vec<ExporterKind>,
    summary: String,
    otlp_stats: Option<OtlpStats>,
    metric_stats: Option<OtlpStats>,
    prometheus: Option<Arc<PrometheusListener>>,
    logger_provider: LoggerProvider,
    log_stats: Option<OtlpStats>,
}

impl Telemetry {
    /// The logger provider: give it to `tracecore_tracing::LogLayer` for `tracing` events as
    /// log records (it records nothing when logs are off).
    pub fn logger_provider(&self) -> &LoggerProvider {
        &self.logger_provider
    }

    /// The OTLP log exporter's counters (`records_*`), when OTLP logs are in use.
    pub fn log_stats(&self) -> Option<&OtlpStats> {
        self.log_stats.as_ref()
    }

    /// The provider: hand its tracers to the layers and middleware.
    pub fn provider(&self) -> &TracerProvider {
        &self.provider
    }

    /// The provider, owned.
    pub fn into_provider(self) -> TracerProvider {
        self.provider
    }

    /// A tracer for the instrumentation scope `name`, for spans of the service's own.
    pub fn tracer(&self, name: impl Into<Cow<'static, str>>) -> Tracer {
        self.provider.tracer(name)
    }

    /// What the layers and middleware record into for the instrumentation scope `name`: its
    /// tracer, and the HTTP metrics when metrics are on. Hand it to `ServerLayer::new`,
    /// `TraceMiddleware::new` and `ClientLayer::new` (a [`Tracer`] alone records no metrics).
    pub fn instrumentation(&self, name: impl Into<Cow<'static, str>>) -> HttpInstrumentation {
        let instrumentation = HttpInstrumentation::new(self.provider.tracer(name));
        match &self.meter_provider {
            Some(meters) => instrumentation.with_meter_provider(meters),
            None => instrumentation,
        }
    }

    /// The exporters in use.
    pub fn exporters(&self) -> &[ExporterKind] {
        &self.kinds
    }

    /// The OTLP exporter's counters, when OTLP is in use.
    pub fn otlp_stats(&self) -> Option<&OtlpStats> {
        self.otlp_stats.as_ref()
    }

    /// The OTLP metric exporter's counters (`points_*`), when OTLP metrics are in use.
    pub fn metric_stats(&self) -> Option<&OtlpStats> {
        self.metric_stats.as_ref()
    }

    /// The Prometheus listener, with `OTEL_METRICS_EXPORTER=prometheus`.
    pub fn prometheus_listener(&self) -> Option<&PrometheusListener> {
        self.prometheus.as_deref()
    }

    /// The meter provider (the HTTP metrics of [`instrumentation`](Self::instrumentation) go
    /// to it), unless metrics are off.
    pub fn meter_provider(&self) -> Option<&MeterProvider> {
        self.meter_provider.as_ref()
    }

    /// A meter for the instrumentation scope `name`, for the service's own instruments (they
    /// record nothing when metrics are off).
    pub fn meter(&self, name: impl Into<Cow<'static, str>>) -> Meter {
        match &self.meter_provider {
            Some(meters) => meters.meter(name),
            None => MeterProvider::builder()
                .with_disabled(true)
                .build()
                .meter(name),
        }
    }

    /// Exports what is queued (spans, log records, then a last collection of metrics) and
    /// stops, waiting at most `timeout` in all; what is still queued then is counted as dropped.
    pub fn shutdown(&self, timeout: Duration) -> Result<(), tracecore::export::FlushError> {
        let deadline = std::time::Instant::now() + timeout;
        let spans = self.provider.shutdown(timeout);
        let logs = self
            .logger_provider
            .shutdown(deadline.saturating_duration_since(std::time::Instant::now()));
        let metrics = match &self.meter_provider {
            Some(meters) => {
                meters.shutdown(deadline.saturating_duration_since(std::time::Instant::now()))
            }
            None => Ok(()),
        };
        spans.and(logs).and(metrics)
    }
}

impl fmt::Display for Telemetry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary)
    }
}

/// Sets the service up from the environment alone and returns its provider: `OTEL_SERVICE_NAME`
/// and `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_TRACES_EXPORTER` (`otlp`,
/// `console`, `none`), `OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`, the span limits and
/// `OTEL_SDK_DISABLED`.
///
/// ```no_run
/// let provider = tracecore_otlp::init()?;
/// let tracer = provider.tracer("my-service");
/// # Ok::<(), tracecore_otlp::ConfigError>(())
/// ```
pub fn init() -> Result<TracerProvider, ConfigError> {
    Setup::new().build().map(Telemetry::into_provider)
}

/// A describing word for each kind, for messages.
impl fmt::Display for ExporterKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
