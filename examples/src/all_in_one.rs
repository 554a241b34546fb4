//! The demo in one process: the three services on ephemeral loopback ports, each with its own
//! provider and `service.name`, the client's three requests, then every span.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tracecore::export::{FinishedSpans, InMemoryExporter, WaterfallOptions, render_waterfall};
use tracecore::metrics::{HistogramPoint, ManualReader, ResourceMetrics};
use tracecore::trace::{SpanKind, TracerProvider};
use tracecore_otlp::{ExporterKind, OtlpCounts, Setup, Telemetry};

use crate::{CLIENT_PATHS, Logs, client, render_service_map, service_map, start_servers};

/// Whether the environment names an OTLP receiver (`OTEL_EXPORTER_OTLP_ENDPOINT` or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, not empty).
pub fn otlp_endpoint_set() -> bool {
    [
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var(v).is_ok_and(|v| !v.trim().is_empty()))
}

/// What one run of the demo did.
#[derive(Debug)]
pub struct Demo {
    /// The inventory's base URL.
    pub inventory_url: String,
    /// The gateway's base URL.
    pub gateway_url: String,
    /// Each path the client requested, with the status it got or the error.
    pub results: Vec<(String, Result<u16, String>)>,
    /// Every span of the three services.
    pub spans: FinishedSpans,
    /// When the spans also went over OTLP: the client's telemetry summary (the receiver, the
    /// protocol) and what the span and metric exporters of the three services counted.
    pub otlp: Option<(String, OtlpCounts)>,
    /// Each service's metrics, collected after the requests.
    pub metrics: Vec<ResourceMetrics>,
    /// The log lines the gateway and the inventory wrote, each with its trace and span ids.
    pub logs: Vec<String>,
    /// With tail sampling on (`TRACECORE_TAIL_SAMPLING`): what the three services decided.
    pub tail_sampling: Option<TailSummary>,
}

/// The late decisions of one demo run, local traces counted per service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TailSummary {
    /// Kept: a span ended with status Error.
    pub kept_errors: u64,
    /// Kept: the local root ran past `slower_than`.
    pub kept_slow: u64,
    /// Kept: a downstream service kept the trace.
    pub kept_downstream: u64,
    /// Dropped: no rule kept them.
    pub dropped: u64,
    /// The spans dropped with them.
    pub dropped_spans: u64,
}

impl TailSummary {
    fn since(before: tracecore::diag::Counts) -> Self {
        let now = tracecore::diag::counts();
        Self {
            kept_errors: now.tail_kept_errors - before.tail_kept_errors,
            kept_slow: now.tail_kept_slow - before.tail_kept_slow,
            kept_downstream: now.tail_kept_downstream - before.tail_kept_downstream,
            dropped: now.tail_dropped_traces - before.tail_dropped_traces,
            dropped_spans: now.tail_dropped_spans - before.tail_dropped_spans,
        }
    }
}

/// Runs the demo: starts `inventory` and `gateway`, sends the client's three requests, waits
/// (at most 5 s) for the six spans of each and the two of each confirmed order's job, and
/// shuts the providers down, which flushes the OTLP exporters when [`otlp_endpoint_set`].
pub async fn all_in_one() -> Result<Demo, String> {
    let spans = InMemoryExporter::new();
    let otlp = otlp_endpoint_set();
    let readers = [
        ManualReader::new(),
        ManualReader::new(),
        ManualReader::new(),
    ];
    let telemetry = |name: &'static str, reader: &ManualReader| -> Result<Telemetry, String> {
        Setup::new()
            .with_service_name(name)
            .with_metric_reader(reader.clone())
            .with_provider(TracerProvider::builder().with_simple_exporter(spans.clone()))
            .with_exporters([if otlp {
                ExporterKind::Otlp
            } else {
                ExporterKind::None
            }])
            .build()
            .map_err(|e| e.to_string())
    };
    let services = [
        telemetry("inventory", &readers[0])?,
        telemetry("gateway", &readers[1])?,
        telemetry("client", &readers[2])?,
    ];
    let [inv, gw, cl] = &services;
    let tail = services
        .iter()
        .any(|t| t.provider().tail_sampling().is_some());
    let before = tracecore::diag::counts();

    let logs = Logs::buffer();
    let (gateway_url, inventory_url) = start_servers(
        (
            inv.instrumentation("inventory"),
            logs.clone().with_records(inv.logger_provider().clone()),
        ),
        (
            gw.instrumentation("gateway"),
            logs.clone().with_records(gw.logger_provider().clone()),
        ),
    )
    .await
    .map_err(|e| format!("cannot start the servers: {e}"))?;
    let results = client(cl.instrumentation("client"), &gateway_url, &CLIENT_PATHS).await;

    // Every request makes four HTTP spans (the servers end theirs when their bodies are sent)
    // and two INTERNAL ones (`validate_order`, `load_item`); an order the inventory confirmed
    // adds the job's PRODUCER and CONSUMER spans, the latter ending after the response.
    let confirmed = results.iter().filter(|(_, r)| *r == Ok(200)).count();
    let expected = CLIENT_PATHS.len() * 6 + confirmed * 2;
    // With tail sampling (or a head sampler that drops) fewer arrive: wait until none has
    // come for 300 ms instead.
    let deadline = Instant::now() + Duration::from_secs(5);
    let (mut seen, mut since) = (0, Instant::now());
    while spans.finished_spans().len() < expected && Instant::now() < deadline {
        let now = spans.finished_spans().len();
        if now != seen {
            (seen, since) = (now, Instant::now());
        } else if (tail || now > 0) && since.elapsed() > Duration::from_millis(300) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let metrics = readers.iter().map(ManualReader::collect).collect();
    // Side by side, so that a receiver that is down costs one shutdown timeout, not three.
    std::thread::scope(|scope| {
        for t in &services {
            scope.spawn(|| t.shutdown(Duration::from_secs(5)));
        }
    });
    let otlp = otlp.then(|| {
        let total = services
            .iter()
            .flat_map(|t| [t.otlp_stats(), t.metric_stats(), t.log_stats()])
            .flatten()
            .map(|s| s.counts())
            .sum();
        (cl.to_string(), total)
    });
    Ok(Demo {
        inventory_url,
        gateway_url,
        results,
        spans: spans.finished_spans(),
        otlp,
        metrics,
        logs: logs.lines(),
        tail_sampling: tail.then(|| TailSummary::since(before)),
    })
}

impl Demo {
    /// The demo's report: the requests and their statuses, the services' log lines, one
    /// waterfall per trace, the service map, and a summary line (with what went over OTLP).
    pub fn render(&self, color: bool) -> String {
        let mut out = format!(
            "inventory on {}, gateway on {}\n\n",
            self.inventory_url, self.gateway_url
        );
        for (path, result) in &self.results {
            let _ = match result {
                Ok(status) => writeln!(out, "client: GET {path} -> {status}"),
                Err(e) => writeln!(out, "client: GET {path} -> {e}"),
            };
        }
        out.push('\n');
        if !self.logs.is_empty() {
            out.push_str("logs\n");
            for line in &self.logs {
                let _ = writeln!(out, "  {line}");
            }
            out.push('\n');
        }
        let spans = self.spans.as_slice();
        out.push_str(&render_waterfall(
            spans,
            &WaterfallOptions::default().with_color(color),
        ));
        out.push('\n');
        out.push_str(&render_service_map(&service_map(spans)));
        let mut traces: Vec<_> = spans.iter().map(|s| s.span_context.trace_id()).collect();
        traces.sort_unstable();
        traces.dedup();
        let _ = writeln!(
            out,
            "\n{} spans in {} traces ({} SERVER, {} CLIENT, {} INTERNAL, {} PRODUCER, {} CONSUMER)",
            self.spans.len(),
            traces.len(),
            self.spans.of_kind(SpanKind::Server).len(),
            self.spans.of_kind(SpanKind::Client).len(),
            self.spans.of_kind(SpanKind::Internal).len(),
            self.spans.of_kind(SpanKind::Producer).len(),
            self.spans.of_kind(SpanKind::Consumer).len(),
        );
        if let Some(tail) = &self.tail_sampling {
            let _ = writeln!(
                out,
                "tail sampling: {} local traces kept ({} errors, {} slower_than, {} downstream), {} dropped ({} spans)",
                tail.kept_errors + tail.kept_slow + tail.kept_downstream,
                tail.kept_errors,
                tail.kept_slow,
                tail.kept_downstream,
                tail.dropped,
                tail.dropped_spans,
            );
        }
        out.push('\n');
        out.push_str(&render_metrics_table(&self.metrics));
        if let Some((summary, counts)) = &self.otlp {
            let _ = writeln!(
                out,
                "OTLP: {} spans exported, {} failed, {} rejected; {} metric points exported, {} failed; {} log records exported, {} failed ({})",
                counts.spans_exported,
                counts.spans_failed,
                counts.spans_rejected,
                counts.points_exported,
                counts.points_failed,
                counts.records_exported,
                counts.records_failed,
                summary
            );
        }
        out
    }
}

/// One row per service and route (server) or per service and peer (client): requests, errors,
/// p50 and p99, read from the `http.*.request.duration` histograms.
pub fn render_metrics_table(services: &[ResourceMetrics]) -> String {
    let mut rows: Vec<[String; 6]> = Vec::new();
    for metrics in services {
        let service = metrics.resource.service_name().to_owned();
        for (name, side, by) in [
            ("http.server.request.duration", "SERVER", "http.route"),
            ("http.client.request.duration", "CLIENT", "server.address"),
        ] {
            let mut groups: Vec<(String, Vec<&HistogramPoint>)> = Vec::new();
            for metric in metrics.metrics_named(name) {
                for point in metric.data.histogram_points() {
                    let attr =
                        |key: &str| point.attributes.iter().find(|kv| kv.key.as_str() == key);
                    let mut target = attr(by).map_or("-".to_owned(), |kv| kv.value.to_string());
                    if let Some(port) = attr("server.port") {
                        target = format!("{target}:{}", port.value);
                    }
                    match groups.iter_mut().find(|(t, _)| *t == target) {
                        Some((_, points)) => points.push(point),
                        None => groups.push((target, vec![point])),
                    }
                }
            }
            for (target, points) in groups {
                let merged = merge(&points);
                let errors: u64 = points
                    .iter()
                    .filter(|p| {
                        p.attributes
                            .iter()
                            .any(|kv| kv.key.as_str() == "error.type")
                    })
                    .map(|p| p.count)
                    .sum();
                let q = |q: f64| merged.quantile(q).map_or("-".to_owned(), format_seconds);
                rows.push([
                    service.clone(),
                    side.to_owned(),
                    target,
                    merged.count.to_string(),
                    errors.to_string(),
                    format!("{} / {}", q(0.5), q(0.99)),
                ]);
            }
        }
    }
    if rows.is_empty() {
        return String::new();
    }
    let header = [
        "service",
        "kind",
        "route / peer",
        "requests",
        "errors",
        "p50 / p99",
    ];
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::from("metrics (http.*.request.duration)\n");
    for row in std::iter::once(header.map(str::to_owned)).chain(rows) {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i >= 3 {
                    format!("{c:>w$}", w = widths[i])
                } else {
                    format!("{c:<w$}", w = widths[i])
                }
            })
            .collect();
        let _ = writeln!(out, "  {}", cells.join("  ").trim_end());
    }
    out
}

/// The points of one group added up (same bounds: the HTTP durations').
fn merge(points: &[&HistogramPoint]) -> HistogramPoint {
    let mut merged = points[0].clone();
    for p in &points[1..] {
        merged.count += p.count;
        merged.sum += p.sum;
        for (m, c) in merged.bucket_counts.iter_mut().zip(&p.bucket_counts) {
            *m += c;
        }
        merged.min = merged.min.zip(p.min).map(|(a, b)| a.min(b));
        merged.max = merged.max.zip(p.max).map(|(a, b)| a.max(b));
    }
    merged
}

/// `s` seconds for a reader: µs under a millisecond, ms under a second.
pub(crate) fn format_seconds(s: f64) -> String {
    if s < 1e-3 {
        format!("{:.0} µs", s * 1e6)
    } else if s < 1.0 {
        format!("{:.1} ms", s * 1e3)
    } else {
        format!("{s:.2} s")
    }
}
