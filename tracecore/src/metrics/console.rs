//! Metrics on the terminal: one line per point, for development.

use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Duration;

use super::data::{MetricData, ResourceMetrics};
use super::reader::MetricExporter;
use crate::KeyValue;
use crate::export::ExportError;

/// Prints each collection to standard output: a heading with the service, then one line per
/// point (sums and gauges with their value; histograms with count, sum, p50 and p99).
///
/// ```
/// use tracecore::metrics::ConsoleMetricExporter;
/// let text = ConsoleMetricExporter::render(&tracecore::metrics::ManualReader::new().collect());
/// assert!(text.is_empty(), "nothing collected, nothing printed");
/// ```
#[derive(Clone, Debug, Default)]
pub struct ConsoleMetricExporter;

impl ConsoleMetricExporter {
    /// An exporter printing to standard output.
    pub fn new() -> Self {
        Self
    }

    /// The text printed for `metrics` (empty when there is no point).
    pub fn render(metrics: &ResourceMetrics) -> String {
        let mut out = String::new();
        if metrics.point_count() == 0 {
            return out;
        }
        let _ = writeln!(out, "metrics {}", metrics.resource.service_name());
        for scope in &metrics.scopes {
            for metric in &scope.metrics {
                let unit = if metric.unit.is_empty() || metric.unit.starts_with('{') {
                    String::new()
                } else {
                    format!(" {}", metric.unit)
                };
                match &metric.data {
                    MetricData::Histogram { points, .. } => {
                        for p in points {
                            let q = |q: f64| {
                                p.quantile(q).map_or("-".to_owned(), |v| format!("{v:.6}"))
                            };
                            let _ = writeln!(
                                out,
                                "  {} {} count={} sum={:.6}{unit} p50={} p99={}",
                                metric.name,
                                labels(&p.attributes),
                                p.count,
                                p.sum,
                                q(0.5),
                                q(0.99),
                            );
                        }
                    }
                    data => {
                        for p in data.number_points() {
                            let _ = writeln!(
                                out,
                                "  {} {} {}{unit}",
                                metric.name,
                                labels(&p.attributes),
                                p.value.as_f64()
                            );
                        }
                    }
                }
            }
        }
        out
    }
}

fn labels(attributes: &[KeyValue]) -> String {
    let parts: Vec<String> = attributes
        .iter()
        .map(|kv| format!("{}={}", kv.key, kv.value))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

impl MetricExporter for ConsoleMetricExporter {
    fn export(&mut self, metrics: &ResourceMetrics, _: Duration) -> Result<(), ExportError> {
        let text = Self::render(metrics);
        std::io::stdout()
            .lock()
            .write_all(text.as_bytes())
            .map_err(|e| ExportError::new(format!("writing to standard output failed: {e}")))
    }
}
