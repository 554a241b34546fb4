//! The HTTP metrics the layers record, over real sockets: the attribute sets of
//! `http.server.request.duration` and `http.client.request.duration` for 200, 404, 500, a
//! cancelled request and a refused connection; sampled-out requests measured; filtered ones not.

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;
use std::time::Duration;
use tracecore::http_span::HttpInstrumentation;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use reqwest_middleware::ClientBuilder;
use tracecore::KeyValue;
use tracecore::export::InMemoryExporter;
use tracecore::metrics::{HistogramPoint, ManualReader, MeterProvider, Number, ResourceMetrics};
use tracecore::trace::{AlwaysOff, TracerProvider};
use tracecore_reqwest::TraceMiddleware;
use tracecore_tower::ServerLayer;

use support::{bounded, http_client, serve, wait_for_spans};

struct Telemetry {
    traces: TracerProvider,
    meters: MeterProvider,
    spans: InMemoryExporter,
    reader: ManualReader,
}

impl Telemetry {
    /// The layers' instrumentation for scope `name`: spans and HTTP metrics.
    fn http(&self, name: &'static str) -> HttpInstrumentation {
        HttpInstrumentation::from(self.traces.tracer(name)).with_meter_provider(&self.meters)
    }
}

fn telemetry(sampled: bool) -> Telemetry {
    let reader = ManualReader::new();
    let meters = MeterProvider::builder()
        .with_service_name("shop")
        .with_reader(reader.clone())
        .build();
    let spans = InMemoryExporter::new();
    let mut builder = TracerProvider::builder()
        .with_service_name("shop")
        .with_simple_exporter(spans.clone());
    if !sampled {
        builder = builder.with_sampler(AlwaysOff);
    }
    Telemetry {
        traces: builder.build(),
        meters,
        spans,
        reader,
    }
}

async fn item(Path(id): Path<u32>) -> (StatusCode, &'static str) {
    match id {
        0 => (StatusCode::INTERNAL_SERVER_ERROR, "storage failed"),
        1..=999 => (StatusCode::OK, "an item"),
        _ => (StatusCode::NOT_FOUND, "no such item"),
    }
}

async fn server(t: &Telemetry) -> SocketAddr {
    let router = Router::new()
        .route("/items/{id}", get(item))
        .route("/health", get(|| async { "ok" }))
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(
            ServerLayer::new(t.http("tracecore-tower"))
                .with_filter(|request: &axum::http::request::Parts| request.uri.path() != "/health")
                .with_active_requests(true),
        );
    serve(router).await
}

/// The points of a histogram, as (attributes, point).
fn histogram<'a>(metrics: &'a ResourceMetrics, name: &str) -> Vec<&'a HistogramPoint> {
    metrics
        .metric(name)
        .map(|m| m.data.histogram_points().iter().collect())
        .unwrap_or_default()
}

fn attrs(pairs: &[(&'static str, tracecore::Value)]) -> Vec<KeyValue> {
    pairs
        .iter()
        .map(|(k, v)| KeyValue::new(*k, v.clone()))
        .collect()
}

fn s(v: &'static str) -> tracecore::Value {
    tracecore::Value::from(v)
}

fn i(v: i64) -> tracecore::Value {
    tracecore::Value::I64(v)
}

#[tokio::test]
async fn server_durations_have_exactly_the_conventions_attributes() {
    let t = telemetry(true);
    let addr = server(&t).await;
    let client = http_client();
    for path in ["/items/1", "/items/2", "/items/4242", "/items/0", "/health"] {
        bounded(client.get(format!("http://{addr}{path}")).send())
            .await
            .unwrap();
    }
    let spans = wait_for_spans(&t.spans, 4).await;
    let metrics = t.reader.collect();
    let points = histogram(&metrics, "http.server.request.duration");
    let series = |status: i64| {
        points
            .iter()
            .find(|p| {
                p.attributes.iter().any(|kv| {
                    kv.key.as_str() == "http.response.status_code" && kv.value == i(status)
                })
            })
            .unwrap_or_else(|| panic!("no series for {status}: {points:?}"))
    };
    let base = |status: i64| {
        vec![
            ("http.request.method", s("GET")),
            ("http.response.status_code", i(status)),
            ("http.route", s("/items/{id}")),
            ("network.protocol.version", s("1.1")),
            ("url.scheme", s("http")),
        ]
    };
    assert_eq!(series(200).attributes, attrs(&base(200)));
    assert_eq!(series(200).count, 2);
    assert_eq!(
        series(404).attributes,
        attrs(&base(404)),
        "4xx is not a server error"
    );
    let mut five = vec![("error.type", s("500"))];
    five.extend(base(500));
    assert_eq!(series(500).attributes, attrs(&five));
    assert_eq!(
        points.len(),
        3,
        "the filtered /health is not measured: {points:?}"
    );
    assert_eq!(
        &*series(200).bounds,
        &tracecore::http_span::DURATION_BOUNDARIES
    );

    // The duration is the span's, to the nanosecond.
    let span_500 = support::with_status_code(&spans, 500);
    assert_eq!(series(500).sum, span_500.duration().as_secs_f64());

    // Nothing of high cardinality anywhere.
    for p in &points {
        for kv in &p.attributes {
            assert!(
                ![
                    "url.path",
                    "url.full",
                    "client.address",
                    "user_agent.original",
                    "server.address"
                ]
                .contains(&kv.key.as_str()),
                "{kv:?}"
            );
        }
    }
    // The opt-in active requests are back to zero.
    let active = metrics.metric("http.server.active_requests").unwrap();
    let p = &active.data.number_points()[0];
    assert_eq!(p.value, Number::I64(0));
    assert_eq!(
        p.attributes,
        attrs(&[("http.request.method", s("GET")), ("url.scheme", s("http"))])
    );
}

#[tokio::test]
async fn a_cancelled_request_is_measured_without_error_type_or_status() {
    let t = telemetry(true);
    let addr = server(&t).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = bounded(client.get(format!("http://{addr}/slow")).send())
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    wait_for_spans(&t.spans, 1).await;
    let metrics = t.reader.collect();
    let points = histogram(&metrics, "http.server.request.duration");
    assert_eq!(points.len(), 1);
    assert_eq!(
        points[0].attributes,
        attrs(&[
            ("http.request.method", s("GET")),
            ("http.route", s("/slow")),
            ("network.protocol.version", s("1.1")),
            ("url.scheme", s("http")),
        ])
    );
    assert!(
        points[0].sum >= 0.15,
        "it ran until the client gave up: {}",
        points[0].sum
    );
}

#[tokio::test]
async fn sampled_out_requests_are_measured() {
    let t = telemetry(false);
    let addr = server(&t).await;
    for _ in 0..3 {
        bounded(http_client().get(format!("http://{addr}/items/5")).send())
            .await
            .unwrap();
    }
    assert!(t.spans.finished_spans().is_empty());
    let metrics = t.reader.collect();
    let points = histogram(&metrics, "http.server.request.duration");
    assert_eq!(points[0].count, 3);
}

#[tokio::test]
async fn client_durations_per_outcome_including_a_refused_connection() {
    let t = telemetry(true);
    let addr = server(&t).await;
    let client = ClientBuilder::new(http_client())
        .with(TraceMiddleware::new(t.http("tracecore-reqwest")))
        .build();
    for path in ["/items/1", "/items/4242", "/items/0"] {
        bounded(client.get(format!("http://{addr}{path}")).send())
            .await
            .unwrap();
    }
    let (_held, closed) = support::refusing_addr();
    let refused = bounded(client.get(format!("http://{closed}/")).send()).await;
    assert!(refused.is_err());

    let metrics = t.reader.collect();
    let points = histogram(&metrics, "http.client.request.duration");
    let port = i64::from(addr.port());
    let with = |extra: Vec<(&'static str, tracecore::Value)>, status: Option<i64>, port: i64| {
        let mut v = extra;
        v.push(("http.request.method", s("GET")));
        if let Some(code) = status {
            v.push(("http.response.status_code", i(code)));
            v.push(("network.protocol.version", s("1.1")));
        }
        v.push(("server.address", s("127.0.0.1")));
        v.push(("server.port", i(port)));
        attrs(&v)
    };
    let expected = [
        with(vec![], Some(200), port),
        with(vec![("error.type", s("404"))], Some(404), port),
        with(vec![("error.type", s("500"))], Some(500), port),
        with(
            vec![("error.type", s("connection_error"))],
            None,
            i64::from(closed.port()),
        ),
    ];
    for want in &expected {
        assert!(
            points.iter().any(|p| &p.attributes == want && p.count == 1),
            "no point {want:?} in {points:?}"
        );
    }
    assert_eq!(points.len(), 4);
    // The server side of the same calls, in the same provider, under its own scope.
    assert_eq!(histogram(&metrics, "http.server.request.duration").len(), 3);
}

#[tokio::test]
async fn body_sizes_are_opt_in_and_measured_on_both_sides() {
    let t = telemetry(true);
    let router = Router::new()
        .route(
            "/echo",
            axum::routing::post(|body: String| async move { format!("{body}{body}") }),
        )
        .layer(ServerLayer::new(t.http("tracecore-tower")).with_body_sizes(true));
    let addr = serve(router).await;
    let client = ClientBuilder::new(http_client())
        .with(TraceMiddleware::from_tracing(
            tracecore::http_span::ClientTracing::new(t.http("tracecore-reqwest"))
                .with_body_sizes(true),
        ))
        .build();
    let reply = bounded(
        client
            .post(format!("http://{addr}/echo"))
            .body("0123456789")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(reply.text().await.unwrap().len(), 20);
    wait_for_spans(&t.spans, 2).await;
    let metrics = t.reader.collect();
    let size = |name: &str| {
        let points = histogram(&metrics, name);
        assert_eq!(points.len(), 1, "{name}: {points:?}");
        (points[0].count, points[0].sum)
    };
    assert_eq!(size("http.server.request.body.size"), (1, 10.0));
    assert_eq!(size("http.server.response.body.size"), (1, 20.0));
    assert_eq!(size("http.client.request.body.size"), (1, 10.0));
    assert_eq!(size("http.client.response.body.size"), (1, 20.0));
    let point = histogram(&metrics, "http.server.response.body.size")[0];
    assert!(
        point
            .attributes
            .iter()
            .any(|kv| kv.key.as_str() == "http.route"),
        "the same attributes as the duration: {point:?}"
    );

    // Off by default.
    let plain = telemetry(true);
    let addr = server(&plain).await;
    bounded(http_client().get(format!("http://{addr}/items/1")).send())
        .await
        .unwrap();
    wait_for_spans(&plain.spans, 1).await;
    assert!(
        plain
            .reader
            .collect()
            .metric("http.server.response.body.size")
            .is_none()
    );
}

/// A server whose `/stream` answers 3 chunks of 7 bytes with no `Content-Length`.
async fn streaming_server() -> SocketAddr {
    let router = Router::new().route(
        "/stream",
        get(|| async {
            let chunks =
                (0..3).map(|_| Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"chunk!\n")));
            axum::body::Body::from_stream(futures_util::stream::iter(chunks))
        }),
    );
    serve(router).await
}

/// The one point of `http.client.response.body.size`: (count, sum).
fn client_response_size(t: &Telemetry) -> (u64, f64) {
    let metrics = t.reader.collect();
    let points = histogram(&metrics, "http.client.response.body.size");
    assert_eq!(points.len(), 1, "{points:?}");
    (points[0].count, points[0].sum)
}

#[tokio::test]
async fn a_streamed_response_without_content_length_is_measured_by_the_reqwest_middleware() {
    let addr = streaming_server().await;
    for cover_body in [false, true] {
        let t = telemetry(true);
        let client = ClientBuilder::new(http_client())
            .with(
                TraceMiddleware::from_tracing(
                    tracecore::http_span::ClientTracing::new(t.http("tracecore-reqwest"))
                        .with_body_sizes(true),
                )
                .with_body(cover_body),
            )
            .build();
        let reply = bounded(client.get(format!("http://{addr}/stream")).send())
            .await
            .unwrap();
        assert!(reply.headers().get("content-length").is_none());
        assert_eq!(reply.bytes().await.unwrap().len(), 21);
        let spans = wait_for_spans(&t.spans, 1).await;
        assert_eq!(spans.len(), 1, "one CLIENT span, ended once");
        assert_eq!(
            client_response_size(&t),
            (1, 21.0),
            "with_body({cover_body})"
        );
        let durations = histogram(&t.reader.collect(), "http.client.request.duration").len();
        assert_eq!(durations, 1, "the duration is recorded once");
    }
}

#[tokio::test]
async fn a_streamed_response_without_content_length_is_measured_by_the_tower_client_layer() {
    use http_body_util::{BodyExt, Empty};
    use tower::{Service, ServiceBuilder, ServiceExt};

    let addr = streaming_server().await;
    let t = telemetry(true);
    let hyper = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<bytes::Bytes>>();
    let mut client = ServiceBuilder::new()
        .layer(tracecore_tower::ClientLayer::from_tracing(
            tracecore::http_span::ClientTracing::new(t.http("tracecore-tower-client"))
                .with_body_sizes(true),
        ))
        .service(hyper);
    let request = axum::http::Request::get(format!("http://{addr}/stream"))
        .body(Empty::new())
        .unwrap();
    let response = bounded(client.ready().await.unwrap().call(request))
        .await
        .unwrap();
    assert!(response.headers().get("content-length").is_none());
    let body = bounded(response.into_body().collect()).await.unwrap();
    assert_eq!(body.to_bytes().len(), 21);
    let spans = wait_for_spans(&t.spans, 1).await;
    assert_eq!(spans.len(), 1);
    assert_eq!(client_response_size(&t), (1, 21.0));
}

#[tokio::test]
async fn each_duration_bucket_links_to_a_trace_of_the_requests_made() {
    use prost::Message;
    let t = telemetry(true);
    let addr = server(&t).await;
    let traces = [
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "0af7651916cd43dd8448eb211c80319c",
    ];
    for (trace, path) in traces.iter().zip(["/items/1", "/items/0"]) {
        bounded(
            http_client()
                .get(format!("http://{addr}{path}"))
                .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
                .send(),
        )
        .await
        .unwrap();
    }
    let spans = wait_for_spans(&t.spans, 2).await;
    let metrics = t.reader.collect();
    let points = histogram(&metrics, "http.server.request.duration");
    assert_eq!(points.len(), 2);
    for p in &points {
        assert_eq!(p.exemplars.len(), 1, "{p:?}");
        let e = &p.exemplars[0];
        let span = spans
            .iter()
            .find(|s| s.span_context.span_id() == e.span_id)
            .expect("the exemplar names a SERVER span of this service");
        assert_eq!(span.span_context.trace_id(), e.trace_id);
        assert!(traces.contains(&e.trace_id.to_string().as_str()));
        assert_eq!(
            e.value,
            span.duration().as_secs_f64(),
            "the span's own duration"
        );
    }
    // And over OTLP: the exemplar's ids as bytes.
    let mut body = Vec::new();
    tracecore_otlp::Protocol::HttpProtobuf.encode_metrics(&metrics, &mut body);
    let request = tracecore_otlp::proto::ExportMetricsServiceRequest::decode(&body[..]).unwrap();
    let exemplar_traces: Vec<Vec<u8>> = request.resource_metrics[0]
        .scope_metrics
        .iter()
        .flat_map(|s| &s.metrics)
        .filter(|m| m.name == "http.server.request.duration")
        .filter_map(|m| match &m.data {
            Some(tracecore_otlp::proto::MetricData::Histogram(h)) => Some(h),
            _ => None,
        })
        .flat_map(|h| &h.data_points)
        .flat_map(|p| p.exemplars.iter().map(|e| e.trace_id.clone()))
        .collect();
    assert_eq!(exemplar_traces.len(), 2);
    for trace in traces {
        let bytes = trace
            .parse::<tracecore::TraceId>()
            .unwrap()
            .to_bytes()
            .to_vec();
        assert!(exemplar_traces.contains(&bytes), "{trace}");
    }
}
