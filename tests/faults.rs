//! Faults around a traced service, over real sockets: the OTLP receiver down, answering 503 or
//! hanging while requests flow; handlers that panic; shutdown with spans still queued. Requests
//! must never notice, and every span must end up exported or counted as dropped.

#[path = "../tracecore-otlp/tests/support/mod.rs"]
mod receiver;
#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tracecore::export::{BatchProcessor, BatchProcessorBuilder};
use tracecore::trace::{SpanData, SpanKind, Status, TracerProvider};
use tracecore_otlp::{OtlpExporter, OtlpExporterBuilder, OtlpStats, RetryPolicy};
use tracecore_tower::ServerLayer;

use receiver::{Receiver, Reply, spans_of};
use support::{bounded, http_client, recording_provider, serve, wait_for_spans};

async fn item(Path(id): Path<String>) -> String {
    format!("item {id}")
}

async fn boom(Path(id): Path<String>) -> String {
    panic!("handler failed on {id}");
}

/// A loopback port with nothing listening on it.
fn free_port() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A served `GET /items/{id}` whose spans go to the OTLP receiver at `url` through a batch
/// processor configured by `batch`, the exporter by `exporter`.
async fn traced_service(
    url: String,
    exporter: impl FnOnce(OtlpExporterBuilder) -> OtlpExporterBuilder,
    batch: impl FnOnce(BatchProcessorBuilder) -> BatchProcessorBuilder,
) -> (TracerProvider, OtlpStats, SocketAddr) {
    let exporter = exporter(OtlpExporter::builder().without_env().with_endpoint(url))
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = TracerProvider::builder()
        .with_service_name("faults")
        .with_span_processor(batch(BatchProcessor::builder(exporter)).build())
        .build();
    let router = Router::new()
        .route("/items/{id}", get(item))
        .layer(ServerLayer::new(provider.tracer("faults")));
    (provider, stats, serve(router).await)
}

/// Sends `GET /items/{phase}-{i}` for each i in 0..n; every answer must be 200.
async fn requests(addr: SocketAddr, phase: &str, n: usize) {
    let client = http_client();
    for i in 0..n {
        let response = bounded(
            client
                .get(format!("http://{addr}/items/{phase}-{i}"))
                .send(),
        )
        .await
        .unwrap_or_else(|e| panic!("{phase}-{i}: {e}"));
        assert_eq!(response.status(), 200, "{phase}-{i}");
        assert_eq!(response.text().await.unwrap(), format!("item {phase}-{i}"));
    }
}

/// Spans exported plus spans counted as dropped.
fn accounted(provider: &TracerProvider, stats: &OtlpStats) -> u64 {
    stats.counts().spans_exported + provider.dropped_spans()
}

/// Waits (bounded) until every one of `total` spans is exported or counted as dropped.
async fn all_accounted(provider: &TracerProvider, stats: &OtlpStats, total: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while accounted(provider, stats) < total {
        assert!(
            Instant::now() < deadline,
            "{} of {total} spans exported or dropped",
            accounted(provider, stats)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(accounted(provider, stats), total, "no span counted twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_succeed_while_the_collector_is_down_failing_or_slow_and_export_resumes() {
    let collector = free_port();
    // A small queue (64 spans, batches of 16), short timeouts and retries, so the test runs fast.
    let (provider, stats, addr) = traced_service(
        format!("http://{collector}/v1/traces"),
        |e| {
            e.with_timeout(Duration::from_millis(300))
                .with_retry(RetryPolicy::new(
                    Duration::from_millis(5),
                    Duration::from_millis(10),
                    2,
                ))
        },
        |b| {
            b.with_max_queue_size(64)
                .with_max_export_batch_size(16)
                .with_scheduled_delay(Duration::from_millis(20))
        },
    )
    .await;
    let mut total = 0;

    // Down: nothing listens. Every request succeeds; every span is counted as dropped.
    requests(addr, "down", 100).await;
    total += 100;
    all_accounted(&provider, &stats, total).await;
    assert_eq!(stats.counts().spans_exported, 0);
    assert_eq!(provider.dropped_spans(), 100);

    // Failing: the collector is back but answers 503 to its first 4 requests (two batches, each
    // tried twice), then 200.
    let receiver = Receiver::start_on(collector);
    for _ in 0..4 {
        receiver.then(Reply::status(503).with_header("retry-after", "0"));
    }
    requests(addr, "failing", 80).await;
    total += 80;
    all_accounted(&provider, &stats, total).await;
    let answered_200: Vec<_> = receiver.wait_for(4).split_off(4);
    let exported: usize = answered_200
        .iter()
        .map(|r| spans_of(&r.request()).len())
        .sum();
    assert_eq!(exported as u64, stats.counts().spans_exported);
    assert!(
        provider.dropped_spans() > 100,
        "the failed batches are counted: {}",
        provider.dropped_spans()
    );

    // Slow: the next export hangs past the exporter's timeout. Requests keep succeeding while
    // the queue fills, and what does not fit is dropped and counted, not waited for.
    for _ in 0..4 {
        receiver.then(Reply::Hang(Duration::from_secs(3)));
    }
    let dropped_before = provider.dropped_spans();
    let seen_before = receiver.received().len();
    requests(addr, "slow-first", 16).await;
    receiver.wait_for(seen_before + 1);
    let mut slow = 16;
    while provider.dropped_spans() == dropped_before && slow < 2000 {
        requests(addr, &format!("slow-{slow}"), 1).await;
        slow += 1;
    }
    assert!(
        provider.dropped_spans() > dropped_before,
        "spans that could not be exported while the collector hung are counted"
    );
    total += slow as u64;
    all_accounted(&provider, &stats, total).await;

    // Back to normal: the next requests' spans all arrive, as SERVER spans of their route.
    let exported_before = stats.counts().spans_exported;
    let seen_before = receiver.received().len();
    requests(addr, "back", 20).await;
    total += 20;
    provider.force_flush(Duration::from_secs(10)).unwrap();
    all_accounted(&provider, &stats, total).await;
    assert_eq!(stats.counts().spans_exported, exported_before + 20);
    let back: Vec<_> = receiver.received()[seen_before..]
        .iter()
        .flat_map(|r| spans_of(&r.request()))
        .collect();
    assert_eq!(back.len(), 20);
    for (i, span) in back.iter().enumerate() {
        assert_eq!(span.name, "GET /items/{id}");
        assert_eq!(span.kind, 2, "SERVER");
        let path = span.attributes.iter().find(|kv| kv.key == "url.path");
        let path = path
            .and_then(|kv| kv.value.as_ref())
            .and_then(|v| v.value.as_ref());
        assert_eq!(
            path,
            Some(&tracecore_otlp::proto::any_value::Value::StringValue(
                format!("/items/back-{i}")
            ))
        );
    }
    provider.shutdown(Duration::from_secs(5)).unwrap();
}

fn server_span(spans: &tracecore::export::FinishedSpans) -> &SpanData {
    spans
        .iter()
        .find(|s| s.kind == SpanKind::Server)
        .expect("a SERVER span")
}

fn error_type(span: &SpanData) -> Option<&str> {
    span.attribute("error.type").and_then(|v| v.as_str())
}

#[tokio::test]
async fn a_handler_that_panics_ends_its_server_span_with_error() {
    // Catch-panic inside the server layer: the layer sees the 500 it makes.
    let (provider, exporter) = recording_provider("panics");
    let inner = serve(
        Router::new()
            .route("/boom/{id}", get(boom))
            .layer(CatchPanicLayer::new())
            .layer(ServerLayer::new(provider.tracer("panics"))),
    )
    .await;
    let response = bounded(http_client().get(format!("http://{inner}/boom/1")).send())
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let spans = wait_for_spans(&exporter, 1).await;
    let span = server_span(&spans);
    assert!(
        matches!(span.status, Status::Error { .. }),
        "{:?}",
        span.status
    );
    assert_eq!(error_type(span), Some("500"));

    // Catch-panic outside it: the panic unwinds through the layer, which ends the span.
    let (provider, exporter) = recording_provider("panics");
    let outer = serve(
        Router::new()
            .route("/boom/{id}", get(boom))
            .layer(ServerLayer::new(provider.tracer("panics")))
            .layer(CatchPanicLayer::new()),
    )
    .await;
    let response = bounded(http_client().get(format!("http://{outer}/boom/2")).send())
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let spans = wait_for_spans(&exporter, 1).await;
    let span = server_span(&spans);
    assert_eq!(
        span.status,
        Status::error("the handler panicked"),
        "{:?}",
        span.attributes
    );
    assert_eq!(error_type(span), Some("panic"));
    assert_eq!(span.attribute("tracecore.cancelled"), None);

    // No catch-panic at all: the connection's task dies, the caller sees the connection close,
    // and the span still ends with Error.
    let (provider, exporter) = recording_provider("panics");
    let bare = serve(
        Router::new()
            .route("/boom/{id}", get(boom))
            .layer(ServerLayer::new(provider.tracer("panics"))),
    )
    .await;
    let result = bounded(http_client().get(format!("http://{bare}/boom/3")).send()).await;
    assert!(result.is_err(), "{result:?}");
    let spans = wait_for_spans(&exporter, 1).await;
    assert_eq!(error_type(server_span(&spans)), Some("panic"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_queued_spans_within_its_timeout() {
    let receiver = Receiver::start();
    // A long delay and a large batch: the spans wait in the queue until shutdown.
    let (provider, stats, addr) = traced_service(
        receiver.url(),
        |e| e,
        |b| b.with_scheduled_delay(Duration::from_secs(60)),
    )
    .await;
    requests(addr, "queued", 50).await;
    assert!(receiver.received().is_empty());
    provider.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(receiver.wait_for_spans(50).len(), 50);
    assert_eq!(
        (stats.counts().spans_exported, provider.dropped_spans()),
        (50, 0)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_past_its_timeout_counts_what_it_could_not_send() {
    let receiver = Receiver::start();
    receiver.then(Reply::Hang(Duration::from_secs(5)));
    let (provider, stats, addr) = traced_service(
        receiver.url(),
        |e| {
            e.with_timeout(Duration::from_secs(2))
                .with_retry(RetryPolicy::none())
        },
        |b| {
            b.with_max_export_batch_size(10)
                .with_scheduled_delay(Duration::from_secs(60))
        },
    )
    .await;
    requests(addr, "stuck", 100).await;

    // The first batch hangs at the receiver; shutdown gives up after 200 ms...
    let result = provider.shutdown(Duration::from_millis(200));
    assert!(result.is_err(), "{result:?}");
    // ...and within the export's own timeout every span is exported or counted: the hung batch
    // fails, the nine batches behind it are counted without being sent.
    all_accounted(&provider, &stats, 100).await;
    assert_eq!(provider.dropped_spans(), 100);
    assert_eq!(receiver.received().len(), 1, "nothing sent after giving up");
}
