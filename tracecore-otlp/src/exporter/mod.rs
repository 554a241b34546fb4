//! The OTLP/HTTP exporters: spans and metric points, over one transport.

mod builder;
mod counters;
mod metrics;
mod spans;
mod transport;

pub use builder::OtlpExporterBuilder;
pub use counters::{OtlpCounts, OtlpStats};
pub use metrics::OtlpMetricExporter;
pub use spans::OtlpExporter;
