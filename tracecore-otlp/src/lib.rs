//! tracecore-otlp: spans out of the process to any OTLP/HTTP receiver (the OpenTelemetry
//! Collector, Jaeger, Tempo), and one call that sets a service up from the `OTEL_*` environment.
//!
//! The [`OtlpExporter`] runs on the batch processor's export thread: protobuf by default, JSON
//! with `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`, gzip on request, retries for 429, 502, 503, 504
//! and failed connections (exponential backoff with jitter, `Retry-After` honoured, and held to
//! for the exports after it when it is longer than one export's time), all inside the export
//! timeout. A receiver that is down costs dropped spans, counted, never a slower
//! request.
//!
//! ```no_run
//! // OTEL_SERVICE_NAME=checkout OTEL_EXPORTER_OTLP_ENDPOINT=http://collector:4318 ./checkout
//! let telemetry = tracecore_otlp::Setup::new().build()?;
//! eprintln!("{telemetry}");
//! let tracer = telemetry.tracer("checkout");
//! // ... hand `tracer` to tracecore-tower's ServerLayer and tracecore-reqwest's TraceMiddleware.
//! telemetry.shutdown(std::time::Duration::from_secs(5)).ok();
//! # Ok::<(), tracecore_otlp::ConfigError>(())
//! ```
//!
//! | variable | default | |
//! |---|---|---|
//! | `OTEL_TRACES_EXPORTER` | `otlp` | `otlp`, `console` (waterfall on the terminal), `none` (propagation only); a list is allowed |
//! | `OTEL_EXPORTER_OTLP_ENDPOINT` | `http://localhost:4318` | base URL; `v1/traces` is appended |
//! | `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` | | the full URL, used as given |
//! | `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL` | `http/protobuf` | or `http/json` |
//! | `OTEL_EXPORTER_OTLP[_TRACES]_HEADERS` | | `key=value,...`, values percent-decoded |
//! | `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT` | `10000` | ms per export, retries included; `0`: no limit of its own |
//! | `OTEL_EXPORTER_OTLP[_TRACES]_COMPRESSION` | `none` | or `gzip` |
//! | `OTEL_EXPORTER_OTLP[_TRACES]_CERTIFICATE`, `_CLIENT_CERTIFICATE`, `_CLIENT_KEY` | | PEM files (feature `rustls`) |
//!
//! The provider's own variables (`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`,
//! `OTEL_TRACES_SAMPLER(_ARG)`, `OTEL_BSP_*`, span limits, `OTEL_SDK_DISABLED`) are read by
//! tracecore itself.

mod config;
mod encode;
mod exporter;
mod prometheus;
// The OTLP messages as prost types, for decoding in this workspace's tests and benchmarks only:
// not public API (hidden from the docs; it may change with any release).
#[doc(hidden)]
pub mod proto;
mod response;
mod retry;
mod setup;
mod tls;

pub use config::{Compression, ConfigError};
pub use encode::Protocol;
pub use exporter::{
    OtlpCounts, OtlpExporter, OtlpExporterBuilder, OtlpLogExporter, OtlpMetricExporter, OtlpStats,
};
pub use prometheus::PrometheusListener;
pub use retry::RetryPolicy;
pub use setup::{
    ExporterKind, Setup, Telemetry, exporters_from_env_value, init,
    metrics_exporters_from_env_value,
};
