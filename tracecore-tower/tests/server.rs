//! The server layer over real sockets: axum on 127.0.0.1, reqwest and raw TCP as the callers.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracecore::http_span::{CANCELLED, HeaderCapture};
use tracecore::trace::{SpanKind, Status, TracerProvider};
use tracecore::{Context, KeyValue, SpanId, TraceId, Value};
use tracecore_tower::{RequestContext, ResponseHeader, ServerLayer};

use support::{bounded, http_client, recording_provider, serve, wait_for_spans};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn item(Path(id): Path<u32>) -> (StatusCode, &'static str) {
    match id {
        0 => (StatusCode::INTERNAL_SERVER_ERROR, "storage failed"),
        1..=999 => (StatusCode::OK, "an item"),
        _ => (StatusCode::NOT_FOUND, "no such item"),
    }
}

/// Answers with what the handler sees: its span's ids, the number of baggage members, and
/// whether the ambient context is the request's.
async fn whoami(cx: RequestContext) -> String {
    let sc = cx.context().span_context().cloned();
    let ambient = Context::current().span_context().cloned();
    format!(
        "{} {} {} {}",
        sc.as_ref()
            .map(|s| s.trace_id().to_string())
            .unwrap_or_default(),
        sc.as_ref()
            .map(|s| s.span_id().to_string())
            .unwrap_or_default(),
        cx.context().baggage().len(),
        ambient == sc,
    )
}

fn app(provider: &TracerProvider) -> Router {
    Router::new()
        .route("/items/{id}", get(item))
        .route("/whoami", get(whoami))
        .route("/public/whoami", get(whoami))
        .route("/health", get(|| async { "ok" }))
        .layer(
            ServerLayer::new(provider.tracer("test-server"))
                .with_filter(|request: &http::request::Parts| request.uri.path() != "/health")
                .with_public_endpoint(|request: &http::request::Parts| {
                    request.uri.path().starts_with("/public/")
                })
                .with_request_headers(HeaderCapture::request(["x-tenant"]).unwrap())
                .with_response_headers(HeaderCapture::response(["content-type"]).unwrap()),
        )
}

fn string_attr(span: &tracecore::trace::SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(|v| match v {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    })
}

#[tokio::test]
async fn continues_the_callers_trace_with_a_server_span() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    let response = bounded(
        http_client()
            .get(format!("http://{addr}/items/7?color=blue&sig=secret"))
            .header("traceparent", TRACEPARENT)
            .header("tracestate", "vendor=opaque")
            .header("user-agent", "tests/1.0")
            .header("x-tenant", "acme")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "an item");

    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET /items/{id}");
    assert_eq!(span.kind, SpanKind::Server);
    assert_eq!(
        span.span_context.trace_id(),
        CALLER_TRACE.parse::<TraceId>().unwrap()
    );
    assert_eq!(
        span.parent_span_id,
        Some(CALLER_SPAN.parse::<SpanId>().unwrap())
    );
    assert!(span.parent_is_remote);
    assert!(span.span_context.is_sampled());
    assert_eq!(span.span_context.trace_state().to_string(), "vendor=opaque");
    assert_eq!(span.status, Status::Unset);
    let attr = |k| string_attr(span, k);
    assert_eq!(attr("http.request.method").as_deref(), Some("GET"));
    assert_eq!(attr("http.route").as_deref(), Some("/items/{id}"));
    assert_eq!(attr("url.path").as_deref(), Some("/items/7"));
    assert_eq!(
        attr("url.query").as_deref(),
        Some("color=blue&sig=REDACTED")
    );
    assert_eq!(attr("url.scheme").as_deref(), Some("http"));
    assert_eq!(attr("server.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(
        span.attribute("server.port").and_then(Value::as_i64),
        Some(i64::from(addr.port()))
    );
    assert_eq!(attr("client.address").as_deref(), Some("127.0.0.1"));
    assert_eq!(attr("network.peer.address").as_deref(), Some("127.0.0.1"));
    assert!(
        span.attribute("network.peer.port")
            .and_then(Value::as_i64)
            .is_some()
    );
    assert_eq!(attr("network.protocol.version").as_deref(), Some("1.1"));
    assert_eq!(attr("user_agent.original").as_deref(), Some("tests/1.0"));
    assert_eq!(
        span.attribute("http.response.status_code")
            .and_then(Value::as_i64),
        Some(200)
    );
    assert_eq!(
        attr("http.request.header.x-tenant").as_deref(),
        Some(r#"["acme"]"#)
    );
    assert_eq!(
        attr("http.response.header.content-type").as_deref(),
        Some(r#"["text/plain; charset=utf-8"]"#)
    );
    assert_eq!(span.attribute("error.type"), None);
    assert_eq!(span.attribute(CANCELLED.as_str()), None);
    assert_eq!(
        span.resource.get("service.name").and_then(Value::as_str),
        Some("inventory")
    );
}

#[tokio::test]
async fn without_a_valid_traceparent_a_new_trace_starts() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    let client = http_client();
    let invalid = [
        None,
        // Each row breaks one rule of W3C Trace Context Level 2.
        Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"), // all-zero trace id
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"), // all-zero parent id
        Some("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"), // upper-case hex
        Some("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"), // version ff
        Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-"), // v00 with extra
        Some("garbage"),
    ];
    for header in invalid {
        let mut request = client.get(format!("http://{addr}/whoami"));
        if let Some(h) = header {
            request = request.header("traceparent", h);
        }
        let body = bounded(request.send()).await.unwrap().text().await.unwrap();
        let trace_id = body.split(' ').next().unwrap().to_owned();
        assert_eq!(trace_id.len(), 32, "{header:?}: {body}");
        assert_ne!(trace_id, CALLER_TRACE, "{header:?}");
    }
    let spans = wait_for_spans(&exporter, invalid.len()).await;
    let mut traces = std::collections::HashSet::new();
    for span in spans.iter() {
        assert_eq!(span.parent_span_id, None, "a new root");
        assert_eq!(span.name, "GET /whoami");
        traces.insert(span.span_context.trace_id());
    }
    assert_eq!(traces.len(), invalid.len(), "each request is its own trace");
}

#[tokio::test]
async fn status_follows_the_server_rules() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    let client = http_client();
    for (id, code) in [(42, 200), (4242, 404), (0, 500)] {
        let response = bounded(client.get(format!("http://{addr}/items/{id}")).send())
            .await
            .unwrap();
        assert_eq!(response.status(), code);
        response.bytes().await.unwrap();
    }
    let spans = wait_for_spans(&exporter, 3).await;
    let by_code = |code: i64| support::with_status_code(&spans, code);
    assert_eq!(by_code(200).status, Status::Unset);
    assert_eq!(by_code(200).attribute("error.type"), None);
    assert_eq!(
        by_code(404).status,
        Status::Unset,
        "4xx is the caller's error"
    );
    assert_eq!(by_code(404).attribute("error.type"), None);
    assert!(by_code(500).status.is_error());
    assert_eq!(
        by_code(500).attribute("error.type").and_then(Value::as_str),
        Some("500")
    );
}

#[tokio::test]
async fn filtered_requests_have_no_span_and_public_endpoints_start_new_traces() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    let client = http_client();
    let health = bounded(
        client
            .get(format!("http://{addr}/health"))
            .header("traceparent", TRACEPARENT)
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(health.text().await.unwrap(), "ok");

    let body = bounded(
        client
            .get(format!("http://{addr}/public/whoami"))
            .header("traceparent", TRACEPARENT)
            .header("baggage", "user=alice,tenant=acme")
            .send(),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let fields: Vec<&str> = body.split(' ').collect();
    assert_ne!(
        fields[0], CALLER_TRACE,
        "a public endpoint does not adopt the caller's trace"
    );
    assert_eq!(fields[2], "0", "incoming baggage is dropped");

    let spans = wait_for_spans(&exporter, 1).await;
    assert_eq!(spans.names(), ["GET /public/whoami"], "no span for /health");
    let span = spans.named("GET /public/whoami");
    assert_eq!(span.parent_span_id, None);
    assert_eq!(span.links.len(), 1);
    assert_eq!(
        span.links[0].span_context.trace_id().to_string(),
        CALLER_TRACE
    );
    assert_eq!(
        span.links[0].span_context.span_id().to_string(),
        CALLER_SPAN
    );
}

#[tokio::test]
async fn the_handler_runs_in_the_request_context_and_can_read_its_span() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    let body = bounded(
        http_client()
            .get(format!("http://{addr}/whoami"))
            .header("traceparent", TRACEPARENT)
            .header("baggage", "user=alice")
            .send(),
    )
    .await
    .unwrap()
    .text()
    .await
    .unwrap();
    let fields: Vec<&str> = body.split(' ').collect();
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET /whoami");
    assert_eq!(fields[0], CALLER_TRACE);
    assert_eq!(
        fields[1],
        span.span_context.span_id().to_string(),
        "the extractor gives the SERVER span"
    );
    assert_eq!(fields[2], "1", "baggage arrives in the context");
    assert_eq!(fields[3], "true", "the ambient context is the request's");
}

/// What a task spawned by the handler gets from the request extensions: the span id there, or
/// `none`.
async fn span_in_extension(cx: Option<axum::Extension<Context>>) -> String {
    tokio::spawn(async move {
        cx.and_then(|cx| cx.0.span_context().map(|s| s.span_id().to_string()))
            .unwrap_or_else(|| "none".into())
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn the_context_goes_into_the_extensions_only_when_asked() {
    let (provider, exporter) = recording_provider("inventory");
    for (on, path) in [(false, "/default"), (true, "/with-extension")] {
        let app = Router::new()
            .route(path, get(span_in_extension))
            .layer(ServerLayer::new(provider.tracer("test-server")).with_context_extension(on));
        let addr = serve(app).await;
        let body = bounded(http_client().get(format!("http://{addr}{path}")).send())
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let spans = wait_for_spans(&exporter, if on { 2 } else { 1 }).await;
        let span = spans.named(&format!("GET {path}"));
        if on {
            assert_eq!(body, span.span_context.span_id().to_string());
        } else {
            assert_eq!(body, "none", "no extension unless asked for");
        }
    }
}

#[tokio::test]
async fn response_header_carries_only_the_server_span() {
    for (mode, name) in [
        (ResponseHeader::Traceparent, "traceparent"),
        (ResponseHeader::ServerTiming, "server-timing"),
    ] {
        let (provider, exporter) = recording_provider("inventory");
        let router = Router::new()
            .route("/", get(|| async { "hi" }))
            .layer(ServerLayer::new(provider.tracer("t")).with_response_header(mode));
        let addr = serve(router).await;
        let response = bounded(
            http_client()
                .get(format!("http://{addr}/"))
                .header("traceparent", TRACEPARENT)
                .header("baggage", "secret=1")
                .send(),
        )
        .await
        .unwrap();
        let headers = response.headers().clone();
        response.bytes().await.unwrap();
        let span_id = wait_for_spans(&exporter, 1)
            .await
            .named("GET /")
            .span_context
            .span_id();
        let expected = format!("00-{CALLER_TRACE}-{span_id}-01");
        let value = headers[name].to_str().unwrap();
        match mode {
            ResponseHeader::Traceparent => assert_eq!(value, expected),
            _ => assert_eq!(value, format!("trace;desc={expected}")),
        }
        assert!(headers.get("baggage").is_none());
        assert!(headers.get("tracestate").is_none());
        let other = if name == "traceparent" {
            "server-timing"
        } else {
            "traceparent"
        };
        assert!(headers.get(other).is_none());
    }
}

#[tokio::test]
async fn unknown_methods_are_other_and_named_http() {
    let (provider, exporter) = recording_provider("inventory");
    let router = Router::new()
        .route("/purge", axum::routing::any(|| async { "purged" }))
        .layer(ServerLayer::new(provider.tracer("t")));
    let addr = serve(router).await;
    let method = reqwest::Method::from_bytes(b"PURGE").unwrap();
    let response = bounded(
        http_client()
            .request(method, format!("http://{addr}/purge"))
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 200);
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("HTTP /purge");
    assert_eq!(
        span.attribute("http.request.method")
            .and_then(Value::as_str),
        Some("_OTHER")
    );
    assert_eq!(
        span.attribute("http.request.method_original")
            .and_then(Value::as_str),
        Some("PURGE")
    );
}

#[tokio::test]
async fn a_streaming_body_ends_the_span_after_its_last_chunk() {
    let (provider, exporter) = recording_provider("inventory");
    let (last_tx, last_rx) = std::sync::mpsc::channel::<SystemTime>();
    let router = Router::new()
        .route(
            "/stream",
            get(move || {
                let last_tx = last_tx.clone();
                async move {
                    let chunks = futures_util::stream::unfold(0u32, move |i| {
                        let last_tx = last_tx.clone();
                        async move {
                            if i == 5 {
                                return None;
                            }
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            if i == 4 {
                                last_tx.send(SystemTime::now()).unwrap();
                            }
                            Some((
                                Ok::<_, Infallible>(Bytes::from(format!("chunk{i};"))),
                                i + 1,
                            ))
                        }
                    });
                    Body::from_stream(chunks)
                }
            }),
        )
        .layer(ServerLayer::new(provider.tracer("t")));
    let addr = serve(router).await;
    let body = bounded(async {
        http_client()
            .get(format!("http://{addr}/stream"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    })
    .await;
    assert_eq!(body, "chunk0;chunk1;chunk2;chunk3;chunk4;");
    let last_chunk_at = last_rx.recv_timeout(Duration::from_secs(5)).unwrap();
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET /stream");
    assert!(
        span.end_time >= last_chunk_at,
        "the span covers the whole body"
    );
    assert_eq!(span.attribute(CANCELLED.as_str()), None);
    assert_eq!(span.status, Status::Unset);
}

#[tokio::test]
async fn a_client_that_disconnects_mid_body_ends_the_span_as_cancelled() {
    let (provider, exporter) = recording_provider("inventory");
    let router = Router::new()
        .route(
            "/endless",
            get(|| async {
                // At most 1000 chunks: bounded even if the disconnect went unnoticed.
                let chunks = futures_util::stream::unfold(0u32, |i| async move {
                    if i == 1000 {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    Some((Ok::<_, Infallible>(Bytes::from_static(b"tick\n")), i + 1))
                });
                Body::from_stream(chunks)
            }),
        )
        .layer(ServerLayer::new(provider.tracer("t")));
    let addr = serve(router).await;
    bounded(async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(b"GET /endless HTTP/1.1\r\nhost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 512];
        let mut seen = Vec::new();
        while !String::from_utf8_lossy(&seen).contains("tick") {
            let n = stream.read(&mut buf).await.unwrap();
            assert!(n > 0, "server closed early");
            seen.extend_from_slice(&buf[..n]);
        }
        drop(stream);
    })
    .await;
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET /endless");
    assert_eq!(span.attribute(CANCELLED.as_str()), Some(&Value::Bool(true)));
    assert_eq!(
        span.attribute("http.response.status_code")
            .and_then(Value::as_i64),
        Some(200)
    );
    assert_eq!(
        span.status,
        Status::Unset,
        "a client going away is not the server's error"
    );
}

#[tokio::test]
async fn a_request_abandoned_before_the_response_ends_its_span_as_cancelled() {
    let (provider, exporter) = recording_provider("inventory");
    let router = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                "late"
            }),
        )
        .layer(ServerLayer::new(provider.tracer("t")));
    let addr = serve(router).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(200))
        .build()
        .unwrap();
    let error = bounded(client.get(format!("http://{addr}/slow")).send())
        .await
        .unwrap_err();
    assert!(error.is_timeout());
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET /slow");
    assert_eq!(span.attribute(CANCELLED.as_str()), Some(&Value::Bool(true)));
    assert_eq!(span.attribute("http.response.status_code"), None);
    assert_eq!(span.status, Status::Unset);
}

#[tokio::test]
async fn concurrent_requests_never_cross_contexts() {
    let (provider, exporter) = recording_provider("inventory");
    let router = Router::new()
        .route(
            "/check",
            get(|cx: RequestContext| async move {
                // Interleave with other requests on the same worker threads, then compare the
                // ambient context with the request's at every step.
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                    let ambient = Context::current().span_context().cloned();
                    if ambient.as_ref() != cx.context().span_context() {
                        return "crossed".to_owned();
                    }
                }
                cx.trace_id().unwrap().to_string()
            }),
        )
        .layer(ServerLayer::new(provider.tracer("t")));
    let addr = serve(router).await;
    let client = http_client();
    let tasks: Vec<_> = (0..1000u32)
        .map(|i| {
            let client = client.clone();
            let url = format!("http://{addr}/check");
            tokio::spawn(async move {
                let trace = format!("{:032x}", 0xabc0_0000u128 + u128::from(i) + 1);
                let header = format!("00-{trace}-00f067aa0ba902b7-01");
                let body = client
                    .get(url)
                    .header("traceparent", header)
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                (trace, body)
            })
        })
        .collect();
    for task in tasks {
        let (trace, body) = bounded(task).await.unwrap();
        assert_eq!(body, trace);
    }
    let spans = wait_for_spans(&exporter, 1000).await;
    let traces: std::collections::HashSet<_> =
        spans.iter().map(|s| s.span_context.trace_id()).collect();
    assert_eq!(traces.len(), 1000);
}

#[tokio::test]
async fn an_inner_service_error_sets_error_and_an_exception_event() {
    use tower::ServiceExt;
    let (provider, exporter) = recording_provider("inventory");
    let service = tower::ServiceBuilder::new()
        .layer(ServerLayer::new(provider.tracer("t")))
        .service_fn(|_request: http::Request<Body>| async {
            Err::<http::Response<Body>, _>(std::io::Error::other("backend unavailable"))
        });
    let request = http::Request::get("/x").body(Body::empty()).unwrap();
    let error = bounded(service.oneshot(request)).await.unwrap_err();
    assert_eq!(error.to_string(), "backend unavailable");
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET");
    assert_eq!(span.status, Status::error("backend unavailable"));
    assert_eq!(
        span.attribute("error.type").and_then(Value::as_str),
        Some("std::io::error::Error")
    );
    let event = &span.events[0];
    assert_eq!(event.name, "exception");
    assert!(
        event
            .attributes
            .contains(&KeyValue::new("exception.message", "backend unavailable"))
    );
    assert_eq!(span.attribute("http.response.status_code"), None);
}

#[tokio::test]
async fn forwarded_headers_count_only_behind_a_trusted_proxy() {
    for trusted in [false, true] {
        let (provider, exporter) = recording_provider("inventory");
        let router = Router::new()
            .route("/", get(|| async { "hi" }))
            .layer(ServerLayer::new(provider.tracer("t")).with_trusted_proxy(trusted));
        let addr = serve(router).await;
        bounded(
            http_client()
                .get(format!("http://{addr}/"))
                .header("x-forwarded-for", "203.0.113.9, 10.0.0.1")
                .header("x-forwarded-host", "shop.example")
                .header("x-forwarded-proto", "https")
                .send(),
        )
        .await
        .unwrap();
        let spans = wait_for_spans(&exporter, 1).await;
        let span = spans.named("GET /");
        let attr = |k| span.attribute(k).and_then(Value::as_str).map(str::to_owned);
        if trusted {
            assert_eq!(attr("client.address").as_deref(), Some("203.0.113.9"));
            assert_eq!(attr("server.address").as_deref(), Some("shop.example"));
            assert_eq!(attr("url.scheme").as_deref(), Some("https"));
            assert_eq!(
                span.attribute("server.port").and_then(Value::as_i64),
                Some(443)
            );
        } else {
            assert_eq!(attr("client.address").as_deref(), Some("127.0.0.1"));
            assert_eq!(attr("server.address").as_deref(), Some("127.0.0.1"));
            assert_eq!(attr("url.scheme").as_deref(), Some("http"));
        }
        assert_eq!(attr("network.peer.address").as_deref(), Some("127.0.0.1"));
    }
}

#[tokio::test]
async fn a_body_that_panics_mid_stream_ends_the_span_as_an_error_not_as_cancelled() {
    let (provider, exporter) = recording_provider("inventory");
    let router = Router::new()
        .route(
            "/breaks",
            get(|| async {
                let chunks = futures_util::stream::unfold(0u32, |i| async move {
                    assert!(i < 1, "the body generator broke");
                    Some((Ok::<_, Infallible>(Bytes::from_static(b"first\n")), i + 1))
                });
                Body::from_stream(chunks)
            }),
        )
        .layer(ServerLayer::new(provider.tracer("t")));
    let addr = serve(router).await;
    // The panic takes the connection down: the client gets no complete response.
    let outcome = bounded(async {
        let reply = http_client()
            .get(format!("http://{addr}/breaks"))
            .send()
            .await?;
        reply.text().await
    })
    .await;
    assert!(outcome.is_err(), "{outcome:?}");
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET /breaks");
    assert!(span.status.is_error(), "{:?}", span.status);
    assert_eq!(string_attr(span, "error.type").as_deref(), Some("panic"));
    assert!(
        span.events.iter().any(|e| e.name == "exception"),
        "{:?}",
        span.events
    );
    assert_eq!(
        span.attribute(CANCELLED.as_str()),
        None,
        "not marked cancelled"
    );
}
