//! The demo in one process: the three services on ephemeral loopback ports, each with its own
//! provider and `service.name`, the client's three requests, then every span.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use tracecore::export::{FinishedSpans, InMemoryExporter, WaterfallOptions, render_waterfall};
use tracecore::trace::{SpanKind, TracerProvider};
use tracecore_otlp::{ExporterKind, OtlpCounts, Setup, Telemetry};

use crate::{CLIENT_PATHS, client, render_service_map, service_map, start_servers};

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
    /// protocol) and what the three exporters counted.
    pub otlp: Option<(String, OtlpCounts)>,
}

/// Runs the demo: starts `inventory` and `gateway`, sends the client's three requests, waits
/// (at most 5 s) for the four spans of each, and shuts the providers down, which flushes the
/// OTLP exporters when [`otlp_endpoint_set`].
pub async fn all_in_one() -> Result<Demo, String> {
    let spans = InMemoryExporter::new();
    let otlp = otlp_endpoint_set();
    let telemetry = |name: &'static str| -> Result<Telemetry, String> {
        Setup::new()
            .with_service_name(name)
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
        telemetry("inventory")?,
        telemetry("gateway")?,
        telemetry("client")?,
    ];
    let [inv, gw, cl] = &services;

    let (gateway_url, inventory_url) = start_servers(inv.tracer("inventory"), gw.tracer("gateway"))
        .await
        .map_err(|e| format!("cannot start the servers: {e}"))?;
    let results = client(cl.tracer("client"), &gateway_url, &CLIENT_PATHS).await;

    // Every request makes four spans; the servers end theirs when their bodies are sent.
    let expected = CLIENT_PATHS.len() * 4;
    let deadline = Instant::now() + Duration::from_secs(5);
    while spans.finished_spans().len() < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Side by side, so that a receiver that is down costs one shutdown timeout, not three.
    std::thread::scope(|scope| {
        for t in &services {
            scope.spawn(|| t.shutdown(Duration::from_secs(5)));
        }
    });
    let otlp = otlp.then(|| {
        let total = services
            .iter()
            .filter_map(|t| t.otlp_stats())
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
    })
}

impl Demo {
    /// The demo's report: the requests and their statuses, one waterfall per trace, the service
    /// map, and a summary line (with what went over OTLP).
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
        let spans = self.spans.as_slice();
        out.push_str(&render_waterfall(
            spans,
            &WaterfallOptions::default().with_color(color),
        ));
        out.push('\n');
        out.push_str(&render_service_map(&service_map(spans)));
        let _ = writeln!(
            out,
            "\n{} spans in {} traces ({} SERVER, {} CLIENT)",
            self.spans.len(),
            self.results.len(),
            self.spans.of_kind(SpanKind::Server).len(),
            self.spans.of_kind(SpanKind::Client).len(),
        );
        if let Some((summary, counts)) = &self.otlp {
            let _ = writeln!(
                out,
                "OTLP: {} spans exported, {} failed, {} rejected ({})",
                counts.spans_exported, counts.spans_failed, counts.spans_rejected, summary
            );
        }
        out
    }
}
