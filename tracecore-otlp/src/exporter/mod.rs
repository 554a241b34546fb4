//! The OTLP/HTTP exporters: spans, metric points and log records, over one transport.

mod builder;
mod counters;
mod logs;
mod metrics;
mod resolve;
mod spans;
mod transport;

pub use builder::OtlpExporterBuilder;
pub use counters::{OtlpCounts, OtlpStats};
pub use logs::OtlpLogExporter;
pub use metrics::OtlpMetricExporter;
pub use spans::OtlpExporter;
