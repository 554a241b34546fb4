//! The middleware against a real local axum server that records the headers it received.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use reqwest_retry::RetryTransientMiddleware;
use reqwest_retry::policies::ExponentialBackoff;
use tracecore::http_span::{CANCELLED, NoPropagation, NoSpan, UrlTemplate};
use tracecore::trace::{SpanKind, Status, TracerProvider};
use tracecore::{Baggage, Context, Value};
use tracecore_reqwest::TraceMiddleware;
use tracecore_tower::ServerLayer;

use support::{bounded, recording_provider, serve, wait_for_spans};

/// The headers each request arrived with, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<HashMap<String, String>>>>);

impl Seen {
    fn record(&self, headers: &HeaderMap) {
        let map = headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or("<binary>").to_owned(),
                )
            })
            .collect();
        self.0.lock().unwrap().push(map);
    }

    fn all(&self) -> Vec<HashMap<String, String>> {
        self.0.lock().unwrap().clone()
    }

    fn last(&self) -> HashMap<String, String> {
        self.all().pop().expect("a request arrived")
    }
}

#[derive(Clone, Default)]
struct AppState {
    seen: Seen,
    flaky: Arc<AtomicU32>,
}

async fn status(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(code): Path<u16>,
) -> StatusCode {
    state.seen.record(&headers);
    StatusCode::from_u16(code).unwrap()
}

/// 503 twice, then 200.
async fn flaky(State(state): State<AppState>, headers: HeaderMap) -> StatusCode {
    state.seen.record(&headers);
    if state.flaky.fetch_add(1, Ordering::SeqCst) < 2 {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    }
}

async fn slow(State(state): State<AppState>, headers: HeaderMap) -> &'static str {
    state.seen.record(&headers);
    tokio::time::sleep(Duration::from_secs(30)).await;
    "late"
}

async fn upstream() -> (SocketAddrAndSeen, AppState) {
    let state = AppState::default();
    let router = Router::new()
        .route("/status/{code}", get(status))
        .route("/flaky", get(flaky))
        .route("/slow", get(slow))
        .with_state(state.clone());
    (serve(router).await, state)
}

type SocketAddrAndSeen = std::net::SocketAddr;

fn traced(provider: &TracerProvider) -> ClientWithMiddleware {
    ClientBuilder::new(support::http_client())
        .with(TraceMiddleware::new(provider.tracer("client")))
        .build()
}

#[tokio::test]
async fn the_injected_traceparent_carries_the_client_span() {
    let (provider, exporter) = recording_provider("client");
    let (addr, state) = upstream().await;
    let client = traced(&provider);
    let response = bounded(client.get(format!("http://{addr}/status/200")).send())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET");
    assert_eq!(span.kind, SpanKind::Client);
    assert_eq!(span.parent_span_id, None, "no current context: a new trace");
    let seen = state.seen.last();
    assert_eq!(
        seen["traceparent"],
        span.span_context.traceparent().to_string()
    );
    let attr = |k| span.attribute(k).map(|v| v.to_string());
    assert_eq!(attr("http.request.method").as_deref(), Some("GET"));
    assert_eq!(attr("url.full"), Some(format!("http://{addr}/status/200")));
    assert_eq!(attr("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        span.attribute("server.port").and_then(Value::as_i64),
        Some(i64::from(addr.port()))
    );
    assert_eq!(attr("network.protocol.version").as_deref(), Some("1.1"));
    assert_eq!(
        span.attribute("http.response.status_code")
            .and_then(Value::as_i64),
        Some(200)
    );
    assert_eq!(span.attribute("http.request.resend_count"), None);
    assert_eq!(
        span.attribute("user_agent.original"),
        None,
        "opt-in on the client"
    );
    assert_eq!(span.status, Status::Unset);
}

#[tokio::test]
async fn an_explicit_parent_with_tracestate_and_baggage_travels_on() {
    let (provider, exporter) = recording_provider("client");
    let (addr, state) = upstream().await;
    let client = traced(&provider);
    let mut incoming = http::HeaderMap::new();
    incoming.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    incoming.insert("tracestate", "vendor=opaque".parse().unwrap());
    use tracecore::propagation::Propagator;
    let parent = tracecore::propagation::default().extract(&incoming);
    let mut baggage = Baggage::default();
    baggage.insert("user", "alice").unwrap();
    let parent = parent.with_baggage(baggage);
    bounded(
        client
            .get(format!("http://{addr}/status/204"))
            .with_extension(parent)
            .send(),
    )
    .await
    .unwrap();
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET");
    assert_eq!(
        span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(span.parent_span_id.unwrap().to_string(), "00f067aa0ba902b7");
    let seen = state.seen.last();
    assert_eq!(
        seen["traceparent"],
        span.span_context.traceparent().to_string()
    );
    assert_eq!(seen["tracestate"], "vendor=opaque");
    assert_eq!(seen["baggage"], "user=alice");
}

#[tokio::test]
async fn inside_a_traced_handler_the_call_continues_the_server_spans_trace() {
    let (provider, exporter) = recording_provider("gateway");
    let (upstream_addr, state) = upstream().await;
    let client = traced(&provider);
    let gateway = Router::new()
        .route(
            "/orders/{id}",
            get(move |Path(id): Path<u32>| {
                let client = client.clone();
                async move {
                    // No context passed by hand.
                    let code = if id == 0 { 500 } else { 200 };
                    let url = format!("http://{upstream_addr}/status/{code}");
                    let response = client.get(url).send().await.unwrap();
                    StatusCode::from_u16(response.status().as_u16()).unwrap()
                }
            }),
        )
        .layer(ServerLayer::new(provider.tracer("gateway")));
    let gateway_addr = serve(gateway).await;
    let response = bounded(
        support::http_client()
            .get(format!("http://{gateway_addr}/orders/42"))
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let spans = wait_for_spans(&exporter, 2).await;
    let server = spans.named("GET /orders/{id}");
    let client_span = spans.named("GET");
    assert!(client_span.is_child_of(server));
    assert_eq!(
        client_span.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        state.seen.last()["traceparent"],
        client_span.span_context.traceparent().to_string()
    );
}

#[tokio::test]
async fn the_status_matrix() {
    let (provider, exporter) = recording_provider("client");
    let (addr, _) = upstream().await;
    let client = traced(&provider);
    for code in [200, 404, 500] {
        let response = bounded(client.get(format!("http://{addr}/status/{code}")).send())
            .await
            .unwrap();
        assert_eq!(response.status().as_u16(), code);
    }
    let spans = wait_for_spans(&exporter, 3).await;
    let by_code = |code: i64| support::with_status_code(&spans, code);
    assert_eq!(by_code(200).status, Status::Unset);
    assert_eq!(by_code(200).attribute("error.type"), None);
    for code in [404, 500] {
        assert!(by_code(code).status.is_error(), "{code}");
        assert_eq!(
            by_code(code)
                .attribute("error.type")
                .and_then(Value::as_str),
            Some(&*code.to_string())
        );
        assert!(
            by_code(code).events.is_empty(),
            "a response is not an exception"
        );
    }
}

#[tokio::test]
async fn connection_refused_and_timeout_are_errors_with_their_types() {
    let (provider, exporter) = recording_provider("client");
    let (_held, closed) = support::refusing_addr();
    let (addr, _) = upstream().await;
    let client = ClientBuilder::new(
        reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_millis(200))
            .build()
            .unwrap(),
    )
    .with(TraceMiddleware::new(provider.tracer("client")))
    .build();
    assert!(
        bounded(client.get(format!("http://{closed}/")).send())
            .await
            .is_err()
    );
    assert!(
        bounded(client.get(format!("http://{addr}/slow")).send())
            .await
            .is_err()
    );
    let spans = wait_for_spans(&exporter, 2).await;
    let types: Vec<_> = spans
        .iter()
        .map(|s| {
            assert!(s.status.is_error());
            assert_eq!(s.events[0].name, "exception");
            assert_eq!(s.attribute("http.response.status_code"), None);
            s.attribute("error.type")
                .and_then(Value::as_str)
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(types, ["connection_error", "timeout"]);
}

#[tokio::test]
async fn each_retry_is_its_own_span_with_its_resend_count() {
    let (provider, exporter) = recording_provider("client");
    let (addr, state) = upstream().await;
    let policy = ExponentialBackoff::builder()
        .retry_bounds(Duration::from_millis(1), Duration::from_millis(5))
        .build_with_max_retries(3);
    let client = ClientBuilder::new(support::http_client())
        .with(RetryTransientMiddleware::new_with_policy(policy))
        .with(TraceMiddleware::new(provider.tracer("client")))
        .build();
    let parent_span = provider.tracer("app").start("place order");
    let parent = parent_span.context(&Context::new());
    let call = client
        .get(format!("http://{addr}/flaky"))
        .with_extension(parent)
        .send();
    let response = bounded(call).await.unwrap();
    assert_eq!(response.status(), 200);

    let spans = wait_for_spans(&exporter, 3).await;
    assert!(
        spans
            .iter()
            .all(|s| s.parent_span_id == Some(parent_span.span_context().span_id()))
    );
    let resend: Vec<_> = spans
        .iter()
        .map(|s| {
            s.attribute("http.request.resend_count")
                .and_then(Value::as_i64)
        })
        .collect();
    assert_eq!(resend, [None, Some(1), Some(2)]);
    let codes: Vec<_> = spans
        .iter()
        .map(|s| {
            s.attribute("http.response.status_code")
                .and_then(Value::as_i64)
                .unwrap()
        })
        .collect();
    assert_eq!(codes, [503, 503, 200]);
    let sent: Vec<String> = state
        .seen
        .all()
        .into_iter()
        .map(|h| h["traceparent"].clone())
        .collect();
    let spans_sent: Vec<String> = spans
        .iter()
        .map(|s| s.span_context.traceparent().to_string())
        .collect();
    assert_eq!(sent, spans_sent, "each attempt carries its own span");
    let ids: std::collections::HashSet<_> =
        spans.iter().map(|s| s.span_context.span_id()).collect();
    assert_eq!(ids.len(), 3, "three attempts, three spans");
}

#[tokio::test]
async fn url_credentials_and_sensitive_query_values_are_redacted() {
    let (provider, exporter) = recording_provider("client");
    let (addr, _) = upstream().await;
    let client = traced(&provider);
    let url = format!("http://user:secret@{addr}/status/200?color=blue&X-Amz-Signature=abc#frag");
    // The request builder moves URL credentials into an Authorization header before the
    // middleware runs; a request built by hand keeps them in the URL.
    bounded(client.get(&url).send()).await.unwrap();
    let request = reqwest::Request::new(reqwest::Method::GET, url.parse().unwrap());
    bounded(client.execute(request)).await.unwrap();

    let spans = wait_for_spans(&exporter, 2).await;
    let full: Vec<String> = spans
        .iter()
        .map(|s| s.attribute("url.full").unwrap().to_string())
        .collect();
    let path = "/status/200?color=blue&X-Amz-Signature=REDACTED#frag";
    assert_eq!(full[0], format!("http://{addr}{path}"));
    assert_eq!(full[1], format!("http://REDACTED:REDACTED@{addr}{path}"));
    assert!(spans.iter().all(|s| {
        s.attributes
            .iter()
            .all(|kv| !kv.value.to_string().contains("secret"))
    }));
}

#[tokio::test]
async fn per_request_opt_outs() {
    let (provider, exporter) = recording_provider("client");
    let (addr, state) = upstream().await;
    let client = traced(&provider);

    bounded(
        client
            .get(format!("http://{addr}/status/200"))
            .with_extension(NoPropagation)
            .with_extension(UrlTemplate("/status/{code}".into()))
            .send(),
    )
    .await
    .unwrap();
    let seen = state.seen.last();
    assert!(!seen.contains_key("traceparent") && !seen.contains_key("baggage"));
    let spans = wait_for_spans(&exporter, 1).await;
    assert_eq!(spans.names(), ["GET /status/{code}"]);

    let parent_span = provider.tracer("app").start("parent");
    let parent = parent_span.context(&Context::new());
    bounded(
        client
            .get(format!("http://{addr}/status/200"))
            .with_extension(NoSpan)
            .with_extension(parent)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(
        state.seen.last()["traceparent"],
        parent_span.span_context().traceparent().to_string()
    );
    assert_eq!(exporter.finished_spans().len(), 1, "no span for NoSpan");
}

#[tokio::test]
async fn a_cancelled_request_is_not_an_error() {
    let (provider, exporter) = recording_provider("client");
    let (addr, _) = upstream().await;
    let client = traced(&provider);
    let call = client.get(format!("http://{addr}/slow")).send();
    assert!(
        tokio::time::timeout(Duration::from_millis(100), call)
            .await
            .is_err()
    );
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET");
    assert_eq!(span.attribute(CANCELLED.as_str()), Some(&Value::Bool(true)));
    assert_eq!(span.status, Status::Unset);
    assert_eq!(span.attribute("error.type"), None);
}

#[tokio::test]
async fn with_body_the_span_covers_the_download() {
    use bytes::Bytes;
    let (provider, exporter) = recording_provider("client");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let router = Router::new().route(
        "/download",
        get(move || {
            let done_tx = done_tx.clone();
            async move {
                let chunks = futures_util::stream::unfold(0u32, move |i| {
                    let done_tx = done_tx.clone();
                    async move {
                        if i == 4 {
                            done_tx.send(std::time::SystemTime::now()).unwrap();
                            return None;
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Some((
                            Ok::<_, std::convert::Infallible>(Bytes::from_static(b"data;")),
                            i + 1,
                        ))
                    }
                });
                axum::body::Body::from_stream(chunks)
            }
        }),
    );
    let addr = serve(router).await;
    let client = ClientBuilder::new(support::http_client())
        .with(TraceMiddleware::new(provider.tracer("client")).with_body(true))
        .build();
    let response = bounded(client.get(format!("http://{addr}/download")).send())
        .await
        .unwrap();
    assert_eq!(
        response.url().as_str(),
        format!("http://{addr}/download"),
        "the URL survives"
    );
    assert!(
        exporter.finished_spans().is_empty(),
        "not ended at the headers"
    );
    let body = bounded(response.text()).await.unwrap();
    assert_eq!(body, "data;data;data;data;");
    let last_chunk_sent = done_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET");
    assert!(span.end_time >= last_chunk_sent);
    assert_eq!(span.attribute(CANCELLED.as_str()), None);
}

#[tokio::test]
async fn over_http2_both_sides_keep_the_http_rules_with_protocol_version_2() {
    let (provider, exporter) = recording_provider("h2");
    let app = Router::new()
        .route("/items/{id}", get(|| async { "an item" }))
        .layer(ServerLayer::new(provider.tracer("server")));
    let addr = serve(app).await;
    let inner = reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let client = ClientBuilder::new(inner)
        .with(TraceMiddleware::new(provider.tracer("client")))
        .build();
    let response = bounded(client.get(format!("http://{addr}/items/7")).send())
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.text().await.unwrap(), "an item");

    let spans = wait_for_spans(&exporter, 2).await;
    let server = spans.named("GET /items/{id}");
    let client = spans.named("GET");
    assert_eq!(server.kind, SpanKind::Server);
    assert_eq!(client.kind, SpanKind::Client);
    assert!(
        server.is_child_of(client),
        "the trace crosses the HTTP/2 hop"
    );
    for span in [server, client] {
        assert_eq!(
            span.attribute("network.protocol.version")
                .and_then(Value::as_str),
            Some("2"),
            "{}",
            span.name
        );
        assert_eq!(
            span.attribute("http.response.status_code")
                .and_then(Value::as_i64),
            Some(200)
        );
        assert_eq!(span.status, Status::Unset);
    }
}
