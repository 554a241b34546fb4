//! The server layer on gRPC calls over loopback HTTP/2 (h2c): a handler that answers each status
//! path the wire allows (trailers, trailers-only, no `grpc-status`, an HTTP error, a stream the
//! client abandons), called by reqwest speaking HTTP/2 by prior knowledge.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Response, StatusCode};
use axum::routing::post;
use bytes::Bytes;
use http_body_util::StreamBody;
use hyper::body::Frame;
use tracecore::http_span::CANCELLED;
use tracecore::trace::{SpanData, SpanKind, Status};
use tracecore::{SpanId, TraceId, Value};
use tracecore_tower::ServerLayer;

use support::{bounded, recording_provider, serve, wait_for_spans};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const METHOD: &str = "inventory.v1.Inventory/GetItem";

/// One length-prefixed message (uncompressed), as a unary response carries.
fn message() -> Bytes {
    Bytes::from_static(&[0, 0, 0, 0, 2, 0x08, 0x07])
}

fn grpc_response(status: StatusCode, frames: Vec<Frame<Bytes>>) -> Response<Body> {
    let body = StreamBody::new(futures_util::stream::iter(
        frames.into_iter().map(Ok::<_, Infallible>),
    ));
    let mut response = Response::new(Body::new(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/grpc"));
    response
}

fn trailers(status: &'static str, message: Option<&'static str>) -> Frame<Bytes> {
    let mut t = HeaderMap::new();
    t.insert("grpc-status", HeaderValue::from_static(status));
    if let Some(m) = message {
        t.insert("grpc-message", HeaderValue::from_static(m));
    }
    Frame::trailers(t)
}

/// Answers as the `x-answer` request header asks.
async fn get_item(headers: HeaderMap) -> Response<Body> {
    let answer = headers
        .get("x-answer")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("ok");
    match answer {
        "ok" => grpc_response(
            StatusCode::OK,
            vec![Frame::data(message()), trailers("0", None)],
        ),
        "internal" => grpc_response(
            StatusCode::OK,
            vec![trailers("13", Some("storage%20failed: disk %E2%9C%97"))],
        ),
        "trailers-only" => {
            let mut response = grpc_response(StatusCode::OK, vec![]);
            let headers = response.headers_mut();
            headers.insert("grpc-status", HeaderValue::from_static("5"));
            headers.insert("grpc-message", HeaderValue::from_static("no item 1000"));
            response
        }
        "no-status" => grpc_response(StatusCode::OK, vec![Frame::data(message())]),
        "http-503" => grpc_response(StatusCode::SERVICE_UNAVAILABLE, vec![]),
        "body-error" => {
            // One message, then the stream breaks: no status ever comes.
            let frames = futures_util::stream::iter([
                Ok(Frame::data(message())),
                Err(std::io::Error::other("disk gone")),
            ]);
            let mut response = Response::new(Body::new(StreamBody::new(frames)));
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/grpc"));
            response
        }
        "three" => {
            // Three messages 50 ms apart, then the status: a server-streaming response.
            let frames = futures_util::stream::unfold(0, |n| async move {
                match n {
                    0..3 => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Some((Ok::<_, Infallible>(Frame::data(message())), n + 1))
                    }
                    3 => Some((Ok(trailers("0", None)), n + 1)),
                    _ => None,
                }
            });
            let mut response = Response::new(Body::new(StreamBody::new(frames)));
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/grpc"));
            response
        }
        "stream" => {
            // One message, then nothing until the caller goes away.
            let first = futures_util::stream::iter([Ok::<_, Infallible>(Frame::data(message()))]);
            let never = futures_util::stream::pending();
            let body = StreamBody::new(futures_util::StreamExt::chain(first, never));
            let mut response = Response::new(Body::new(body));
            response
                .headers_mut()
                .insert("content-type", HeaderValue::from_static("application/grpc"));
            response
        }
        other => panic!("unknown answer {other}"),
    }
}

fn app(provider: &tracecore::trace::TracerProvider) -> Router {
    app_with(provider.tracer("grpc-server").into())
}

fn app_with(instrumentation: tracecore::http_span::HttpInstrumentation) -> Router {
    Router::new()
        .route(&format!("/{METHOD}"), post(get_item))
        .route("/not-a-method", post(get_item))
        .layer(ServerLayer::new(instrumentation))
}

fn h2_client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .http2_prior_knowledge()
        .build()
        .unwrap()
}

/// Calls `path` as a gRPC client would (POST, `application/grpc`, `te: trailers`, one request
/// message) and reads the response to its end.
async fn call(client: &reqwest::Client, url: &str, answer: &str) {
    let response = bounded(
        client
            .post(url)
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("traceparent", TRACEPARENT)
            .header("x-answer", answer)
            .body(message())
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    bounded(response.bytes()).await.unwrap();
}

fn str_attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a str> {
    span.attribute(key).and_then(Value::as_str)
}

#[tokio::test]
async fn each_status_path_ends_the_server_span_by_the_rpc_rules() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    let client = h2_client();
    // (answer, code, error)
    let cases = [
        ("ok", "OK", false),
        ("internal", "INTERNAL", true),
        ("trailers-only", "NOT_FOUND", false),
        ("no-status", "UNKNOWN", true),
        ("http-503", "UNAVAILABLE", true),
    ];
    for (i, (answer, _, _)) in cases.iter().enumerate() {
        call(&client, &format!("http://{addr}/{METHOD}"), answer).await;
        wait_for_spans(&exporter, i + 1).await;
    }
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), cases.len());
    for (span, (answer, code, error)) in spans.iter().zip(cases) {
        assert_eq!(span.name, METHOD, "{answer}");
        assert_eq!(span.kind, SpanKind::Server);
        assert_eq!(
            span.span_context.trace_id(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
                .parse::<TraceId>()
                .unwrap()
        );
        assert_eq!(
            span.parent_span_id,
            Some("00f067aa0ba902b7".parse::<SpanId>().unwrap())
        );
        assert_eq!(str_attr(span, "rpc.system.name"), Some("grpc"));
        assert_eq!(str_attr(span, "rpc.method"), Some(METHOD));
        assert_eq!(
            str_attr(span, "rpc.response.status_code"),
            Some(code),
            "{answer}"
        );
        assert_eq!(span.status.is_error(), error, "{answer}");
        assert_eq!(
            str_attr(span, "error.type"),
            error.then_some(code),
            "{answer}"
        );
        assert_eq!(str_attr(span, "server.address"), Some("127.0.0.1"));
        assert_eq!(
            span.attribute("server.port").and_then(Value::as_i64),
            Some(i64::from(addr.port()))
        );
        assert_eq!(str_attr(span, "network.peer.address"), Some("127.0.0.1"));
        // Not an HTTP request by the conventions: no HTTP method or status attributes.
        assert!(span.attribute("http.request.method").is_none(), "{answer}");
        assert!(
            span.attribute("http.response.status_code").is_none(),
            "{answer}"
        );
        assert!(span.attribute(CANCELLED.as_str()).is_none(), "{answer}");
    }
    assert_eq!(
        spans
            .iter()
            .find(|s| str_attr(s, "rpc.response.status_code") == Some("INTERNAL"))
            .unwrap()
            .status,
        Status::error("storage failed: disk \u{2717}"),
        "the description is the decoded grpc-message"
    );
}

#[tokio::test]
async fn a_stream_the_client_abandons_ends_as_cancelled() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    let client = h2_client();
    let mut response = bounded(
        client
            .post(format!("http://{addr}/{METHOD}"))
            .header("content-type", "application/grpc+proto")
            .header("x-answer", "stream")
            .body(message())
            .send(),
    )
    .await
    .unwrap();
    let first = bounded(response.chunk()).await.unwrap();
    assert_eq!(first, Some(message()), "the first message arrived");
    drop(response);
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named(METHOD);
    assert_eq!(
        str_attr(span, "rpc.response.status_code"),
        Some("CANCELLED")
    );
    assert_eq!(span.attribute(CANCELLED.as_str()), Some(&Value::Bool(true)));
    assert_eq!(
        span.status,
        Status::Unset,
        "CANCELLED is not a server error"
    );
    assert!(span.duration() < Duration::from_secs(10));
}

#[tokio::test]
async fn a_server_stream_ends_its_span_after_the_last_message() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    let mut response = bounded(
        h2_client()
            .post(format!("http://{addr}/{METHOD}"))
            .header("content-type", "application/grpc")
            .header("x-answer", "three")
            .body(message())
            .send(),
    )
    .await
    .unwrap();
    let mut messages = 0;
    while let Some(chunk) = bounded(response.chunk()).await.unwrap() {
        assert_eq!(chunk, message());
        messages += 1;
    }
    assert_eq!(messages, 3);
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named(METHOD);
    assert_eq!(str_attr(span, "rpc.response.status_code"), Some("OK"));
    assert!(span.attribute(CANCELLED.as_str()).is_none());
    assert!(
        span.duration() >= Duration::from_millis(150),
        "the span covers the three messages: {:?}",
        span.duration()
    );
}

#[tokio::test]
async fn a_method_the_server_does_not_have_is_other_and_named_grpc() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    // No route: axum answers 404, which stands for UNIMPLEMENTED.
    call(
        &h2_client(),
        &format!("http://{addr}/inventory.v1.Inventory/Missing"),
        "ok",
    )
    .await;
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("grpc");
    assert_eq!(str_attr(span, "rpc.method"), Some("_OTHER"));
    assert_eq!(
        str_attr(span, "rpc.method_original"),
        Some("inventory.v1.Inventory/Missing")
    );
    assert_eq!(
        str_attr(span, "rpc.response.status_code"),
        Some("UNIMPLEMENTED")
    );
    assert!(
        span.status.is_error(),
        "UNIMPLEMENTED is the server's error"
    );
}

#[tokio::test]
async fn metadata_is_captured_only_when_asked_for() {
    use tracecore::http_span::HeaderCapture;
    let (provider, exporter) = recording_provider("inventory");
    let app = Router::new()
        .route(&format!("/{METHOD}"), post(get_item))
        .layer(
            ServerLayer::new(provider.tracer("grpc-server"))
                .with_rpc_metadata(
                    HeaderCapture::rpc_request(["x-tenant"]).unwrap(),
                    HeaderCapture::rpc_response(["content-type"]).unwrap(),
                )
                .with_request_headers(HeaderCapture::request(["x-tenant"]).unwrap()),
        );
    let addr = serve(app).await;
    bounded(
        h2_client()
            .post(format!("http://{addr}/{METHOD}"))
            .header("content-type", "application/grpc")
            .header("x-tenant", "acme")
            .header("x-other", "not captured")
            .body(message())
            .send(),
    )
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named(METHOD);
    let value = |k: &str| span.attribute(k).map(|v| v.to_string());
    assert_eq!(
        value("rpc.request.metadata.x-tenant").as_deref(),
        Some(r#"["acme"]"#)
    );
    assert_eq!(
        value("rpc.response.metadata.content-type").as_deref(),
        Some(r#"["application/grpc"]"#)
    );
    assert_eq!(
        value("http.request.header.x-tenant"),
        None,
        "an HTTP capture is for HTTP"
    );
    assert!(
        span.attributes
            .iter()
            .all(|kv| !kv.key.as_str().contains("x-other"))
    );
}

#[tokio::test]
async fn a_response_stream_that_breaks_is_unknown_with_the_error() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    // The client sees the stream reset (at once, or while reading); the server span says why.
    let sent = bounded(
        h2_client()
            .post(format!("http://{addr}/{METHOD}"))
            .header("content-type", "application/grpc")
            .header("x-answer", "body-error")
            .body(message())
            .send(),
    )
    .await;
    if let Ok(response) = sent {
        let _ = bounded(response.bytes()).await;
    }
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named(METHOD);
    assert_eq!(str_attr(span, "rpc.response.status_code"), Some("UNKNOWN"));
    assert_eq!(str_attr(span, "error.type"), Some("UNKNOWN"));
    assert_eq!(span.status, Status::error("disk gone"));
}

#[tokio::test]
async fn a_path_that_is_no_method_is_other_and_named_grpc() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    call(&h2_client(), &format!("http://{addr}/not-a-method"), "ok").await;
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("grpc");
    assert_eq!(str_attr(span, "rpc.method"), Some("_OTHER"));
    assert_eq!(str_attr(span, "rpc.method_original"), Some("not-a-method"));
    assert_eq!(str_attr(span, "rpc.response.status_code"), Some("OK"));
}

#[tokio::test]
async fn plain_http_over_http2_keeps_the_http_rules() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve(app(&provider)).await;
    // The same route, called without the gRPC content type: an HTTP request.
    let response = bounded(
        h2_client()
            .post(format!("http://{addr}/{METHOD}"))
            .header("x-answer", "http-503")
            .send(),
    )
    .await
    .unwrap();
    assert_eq!(response.status(), 503);
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named(&format!("POST /{METHOD}"));
    assert_eq!(str_attr(span, "network.protocol.version"), Some("2"));
    assert_eq!(
        span.attribute("http.response.status_code")
            .and_then(Value::as_i64),
        Some(503)
    );
    assert_eq!(str_attr(span, "error.type"), Some("503"));
    assert!(span.attribute("rpc.system.name").is_none());
}

/// A real tonic server (the gRPC health service) behind the layer, and tonic's client.
mod tonic_health_service {
    use super::*;
    use tonic::transport::{Channel, Server};
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    /// Serves `routes` behind the server layer on a loopback port; a channel to them.
    async fn serve_routes(
        provider: &tracecore::trace::TracerProvider,
        routes: tonic::service::Routes,
    ) -> (Channel, std::net::SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let layer = ServerLayer::new(provider.tracer("health"));
        tokio::spawn(async move {
            Server::builder()
                .layer(layer)
                .add_routes(routes)
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await
                .unwrap();
        });
        let channel = bounded(
            Channel::from_shared(format!("http://{addr}"))
                .unwrap()
                .connect(),
        )
        .await
        .unwrap();
        (channel, addr)
    }

    /// Serves the health service behind the server layer; a channel to it.
    async fn serve_health(
        provider: &tracecore::trace::TracerProvider,
    ) -> (Channel, std::net::SocketAddr) {
        let (_reporter, service) = tonic_health::server::health_reporter();
        serve_routes(provider, tonic::service::Routes::new(service)).await
    }

    async fn start(provider: &tracecore::trace::TracerProvider) -> HealthClient<Channel> {
        HealthClient::new(serve_health(provider).await.0)
    }

    fn request(service: &str) -> tonic::Request<HealthCheckRequest> {
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: service.into(),
        });
        request
            .metadata_mut()
            .insert("traceparent", TRACEPARENT.parse().unwrap());
        request
    }

    #[tokio::test]
    async fn unary_calls_continue_the_trace_with_their_status() {
        let (provider, exporter) = recording_provider("health");
        let mut client = start(&provider).await;
        let ok = bounded(client.check(request(""))).await;
        assert!(ok.is_ok(), "{ok:?}");
        let missing = bounded(client.check(request("inventory.v1.Inventory"))).await;
        assert_eq!(missing.unwrap_err().code(), tonic::Code::NotFound);

        let spans = wait_for_spans(&exporter, 2).await;
        assert_eq!(spans.len(), 2);
        for (span, code) in spans.iter().zip(["OK", "NOT_FOUND"]) {
            assert_eq!(span.name, "grpc.health.v1.Health/Check");
            assert_eq!(span.kind, SpanKind::Server);
            assert_eq!(
                span.parent_span_id,
                Some("00f067aa0ba902b7".parse::<SpanId>().unwrap())
            );
            assert_eq!(str_attr(span, "rpc.system.name"), Some("grpc"));
            assert_eq!(str_attr(span, "rpc.response.status_code"), Some(code));
            assert_eq!(span.status, Status::Unset, "neither is a server error");
            assert!(span.attribute(CANCELLED.as_str()).is_none());
        }
    }

    #[tokio::test]
    async fn a_watch_the_client_drops_ends_as_cancelled() {
        let (provider, exporter) = recording_provider("health");
        let mut client = start(&provider).await;
        let mut stream = bounded(client.watch(request("")))
            .await
            .unwrap()
            .into_inner();
        let first = bounded(stream.message()).await.unwrap();
        assert!(first.is_some(), "the current status arrives first");
        drop(stream);
        let spans = wait_for_spans(&exporter, 1).await;
        let span = spans.named("grpc.health.v1.Health/Watch");
        assert_eq!(
            str_attr(span, "rpc.response.status_code"),
            Some("CANCELLED")
        );
        assert_eq!(span.attribute(CANCELLED.as_str()), Some(&Value::Bool(true)));
    }

    /// tonic's client over a channel wrapped by the client layer.
    async fn traced_client(
        provider: &tracecore::trace::TracerProvider,
    ) -> HealthClient<tracecore_tower::Client<Channel>> {
        let (channel, addr) = serve_health(provider).await;
        let traced = tower::ServiceBuilder::new()
            .layer(tracecore_tower::ClientLayer::new(provider.tracer("caller")))
            .service(channel);
        // With the origin, requests reach the layer with the server's address in their URI.
        HealthClient::with_origin(traced, format!("http://{addr}").parse().unwrap())
    }

    #[tokio::test]
    async fn the_client_layer_traces_calls_by_the_rpc_rules_across_the_hop() {
        let (provider, exporter) = recording_provider("caller");
        let mut client = traced_client(&provider).await;
        let root = provider.tracer("test").start("request");
        let cx = root.context(&tracecore::Context::new());
        let ok = tracecore::FutureExt::with_context(
            client.check(HealthCheckRequest { service: "".into() }),
            cx.clone(),
        );
        assert!(bounded(ok).await.is_ok());
        let missing = tracecore::FutureExt::with_context(
            client.check(HealthCheckRequest {
                service: "inventory.v1.Inventory".into(),
            }),
            cx,
        );
        assert_eq!(
            bounded(missing).await.unwrap_err().code(),
            tonic::Code::NotFound
        );
        root.end();

        // Two CLIENT and two SERVER spans, and the root.
        let spans = wait_for_spans(&exporter, 5).await;
        let root = spans.named("request");
        let calls: Vec<_> = spans
            .iter()
            .filter(|s| s.kind == SpanKind::Client)
            .collect();
        let served: Vec<_> = spans
            .iter()
            .filter(|s| s.kind == SpanKind::Server)
            .collect();
        assert_eq!((calls.len(), served.len()), (2, 2));
        let expected = [("OK", false), ("NOT_FOUND", true)];
        for ((call, server), (code, error)) in calls.iter().zip(&served).zip(expected) {
            assert_eq!(call.name, "grpc.health.v1.Health/Check");
            assert!(call.is_child_of(root));
            assert!(
                server.is_child_of(call),
                "the server continues the client's span"
            );
            assert_eq!(str_attr(call, "rpc.system.name"), Some("grpc"));
            assert_eq!(
                str_attr(call, "rpc.method"),
                Some("grpc.health.v1.Health/Check")
            );
            assert_eq!(str_attr(call, "server.address"), Some("127.0.0.1"));
            assert_eq!(str_attr(call, "rpc.response.status_code"), Some(code));
            assert_eq!(str_attr(server, "rpc.response.status_code"), Some(code));
            // NOT_FOUND: an error for the client, not for the server.
            assert_eq!(call.status.is_error(), error, "{code}");
            assert_eq!(str_attr(call, "error.type"), error.then_some(code));
            assert_eq!(server.status, Status::Unset);
            assert!(call.attribute("http.response.status_code").is_none());
        }
        assert_eq!(
            calls[1].status,
            Status::error("service not registered"),
            "the description is the grpc-message"
        );
    }

    #[tokio::test]
    async fn a_call_to_nobody_is_unavailable_and_a_dropped_stream_cancelled() {
        let (provider, exporter) = recording_provider("caller");
        // A port nothing listens on (bound, then closed).
        let (_held, addr) = support::refusing_addr();
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect_lazy();
        let mut client = HealthClient::with_origin(
            tower::ServiceBuilder::new()
                .layer(tracecore_tower::ClientLayer::new(provider.tracer("caller")))
                .service(channel),
            format!("http://{addr}").parse().unwrap(),
        );
        let refused = bounded(client.check(HealthCheckRequest { service: "".into() })).await;
        assert_eq!(refused.unwrap_err().code(), tonic::Code::Unavailable);
        let spans = wait_for_spans(&exporter, 1).await;
        let span = spans.named("grpc.health.v1.Health/Check");
        assert_eq!(
            str_attr(span, "rpc.response.status_code"),
            Some("UNAVAILABLE")
        );
        assert_eq!(str_attr(span, "error.type"), Some("UNAVAILABLE"));
        assert!(span.status.is_error());

        let (provider, exporter) = recording_provider("caller");
        let mut client = traced_client(&provider).await;
        let mut stream = bounded(client.watch(HealthCheckRequest { service: "".into() }))
            .await
            .unwrap()
            .into_inner();
        assert!(bounded(stream.message()).await.unwrap().is_some());
        drop(stream);
        let spans = wait_for_spans(&exporter, 2).await;
        for kind in [SpanKind::Client, SpanKind::Server] {
            let span = spans.iter().find(|s| s.kind == kind).unwrap();
            assert_eq!(span.name, "grpc.health.v1.Health/Watch");
            assert_eq!(
                str_attr(span, "rpc.response.status_code"),
                Some("CANCELLED"),
                "{kind:?}"
            );
            // A client's own cancel is an error by the client rule; the server's is not.
            assert_eq!(span.status.is_error(), kind == SpanKind::Client, "{kind:?}");
        }
    }

    #[tokio::test]
    async fn the_client_measures_its_calls_with_the_server_address() {
        let reader = tracecore::metrics::ManualReader::new();
        let meters = tracecore::metrics::MeterProvider::builder()
            .with_reader(reader.clone())
            .build();
        let provider = tracecore::trace::TracerProvider::builder()
            .with_simple_exporter(tracecore::export::InMemoryExporter::new())
            .build();
        let (channel, addr) = serve_health(&provider).await;
        let caller = tracecore::http_span::HttpInstrumentation::from(provider.tracer("caller"))
            .with_meter_provider(&meters);
        let mut client = HealthClient::with_origin(
            tower::ServiceBuilder::new()
                .layer(tracecore_tower::ClientLayer::new(caller))
                .service(channel),
            format!("http://{addr}").parse().unwrap(),
        );
        bounded(client.check(HealthCheckRequest { service: "".into() }))
            .await
            .unwrap();
        let collected = reader.collect();
        let point = &collected
            .metric("rpc.client.call.duration")
            .unwrap()
            .data
            .histogram_points()[0];
        let attributes: Vec<(String, String)> = point
            .attributes
            .iter()
            .map(|kv| (kv.key.as_str().to_owned(), kv.value.to_string()))
            .collect();
        let port = addr.port().to_string();
        let expected = [
            ("rpc.method", "grpc.health.v1.Health/Check"),
            ("rpc.response.status_code", "OK"),
            ("rpc.system.name", "grpc"),
            ("server.address", "127.0.0.1"),
            ("server.port", port.as_str()),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(attributes, expected);
        assert_eq!(point.count, 1);
        assert!(collected.metric("http.client.request.duration").is_none());
    }

    /// A health service whose `Check` takes 500 ms, written as tonic's generated code would be.
    #[derive(Clone)]
    struct SlowHealth;

    impl tonic::server::NamedService for SlowHealth {
        const NAME: &'static str = "grpc.health.v1.Health";
    }

    type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

    struct SlowCheck;

    impl tonic::server::UnaryService<HealthCheckRequest> for SlowCheck {
        type Response = tonic_health::pb::HealthCheckResponse;
        type Future = BoxFuture<Result<tonic::Response<Self::Response>, tonic::Status>>;

        fn call(&mut self, _: tonic::Request<HealthCheckRequest>) -> Self::Future {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(500)).await;
                Ok(tonic::Response::new(Default::default()))
            })
        }
    }

    impl tower::Service<http::Request<tonic::body::Body>> for SlowHealth {
        type Response = http::Response<tonic::body::Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Self::Response, Infallible>>;

        fn poll_ready(
            &mut self,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Infallible>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
            Box::pin(async move {
                let mut grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default());
                Ok(grpc.unary(SlowCheck, request).await)
            })
        }
    }

    #[tokio::test]
    async fn a_call_past_its_deadline_ends_deadline_exceeded_on_the_server() {
        let (provider, exporter) = recording_provider("health");
        let (_, addr) = serve_routes(&provider, tonic::service::Routes::new(SlowHealth)).await;
        // A caller that sends `grpc-timeout: 100m` and waits for the answer: only the server's
        // clock runs the deadline. (A tonic channel would also give up at its own deadline,
        // counted from before the request left, and reset the stream; arriving before the
        // server's deadline, that reset is a cancellation, as on the wire.)
        let response = bounded(
            h2_client()
                .post(format!("http://{addr}/grpc.health.v1.Health/Check"))
                .header("content-type", "application/grpc")
                .header("te", "trailers")
                .header("traceparent", TRACEPARENT)
                .header("grpc-timeout", "100m")
                // One empty `HealthCheckRequest`.
                .body(Bytes::from_static(&[0, 0, 0, 0, 0]))
                .send(),
        )
        .await
        .unwrap();
        // What tonic answers when its deadline runs out: CANCELLED, trailers-only.
        assert_eq!(
            response.headers().get("grpc-status").map(|v| v.as_bytes()),
            Some(&b"1"[..])
        );
        let spans = wait_for_spans(&exporter, 1).await;
        let span = spans.named("grpc.health.v1.Health/Check");
        // Abandoned past its deadline: expired, not cancelled; a server error by the rules.
        assert_eq!(
            str_attr(span, "rpc.response.status_code"),
            Some("DEADLINE_EXCEEDED")
        );
        assert_eq!(str_attr(span, "error.type"), Some("DEADLINE_EXCEEDED"));
        assert!(span.status.is_error());
        assert!(span.duration() >= Duration::from_millis(100));
    }

    #[tokio::test]
    async fn the_client_captures_metadata_only_when_asked_for() {
        use tracecore::http_span::{ClientTracing, HeaderCapture};
        let (provider, exporter) = recording_provider("caller");
        let (channel, addr) = serve_health(&provider).await;
        let tracing = ClientTracing::new(provider.tracer("caller")).with_rpc_metadata(
            HeaderCapture::rpc_request(["x-tenant"]).unwrap(),
            HeaderCapture::rpc_response(["content-type"]).unwrap(),
        );
        let mut client = HealthClient::with_origin(
            tower::ServiceBuilder::new()
                .layer(tracecore_tower::ClientLayer::from_tracing(tracing))
                .service(channel),
            format!("http://{addr}").parse().unwrap(),
        );
        let mut request = tonic::Request::new(HealthCheckRequest { service: "".into() });
        request
            .metadata_mut()
            .insert("x-tenant", "acme".parse().unwrap());
        request
            .metadata_mut()
            .insert("x-other", "no".parse().unwrap());
        bounded(client.check(request)).await.unwrap();
        let spans = wait_for_spans(&exporter, 2).await;
        let call = spans.iter().find(|s| s.kind == SpanKind::Client).unwrap();
        let value = |k: &str| call.attribute(k).map(|v| v.to_string());
        assert_eq!(
            value("rpc.request.metadata.x-tenant").as_deref(),
            Some(r#"["acme"]"#)
        );
        assert_eq!(
            value("rpc.response.metadata.content-type").as_deref(),
            Some(r#"["application/grpc"]"#)
        );
        assert!(
            call.attributes
                .iter()
                .all(|kv| !kv.key.as_str().contains("x-other"))
        );
    }
}

/// The RPC duration histograms, recorded by the same layers instead of the HTTP ones.
mod metrics {
    use super::*;
    use tracecore::KeyValue;
    use tracecore::metrics::{ManualReader, MeterProvider};

    fn attributes(point: &tracecore::metrics::HistogramPoint) -> Vec<(String, String)> {
        point
            .attributes
            .iter()
            .map(|KeyValue { key, value }| (key.as_str().to_owned(), value.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn calls_are_measured_by_method_and_code_and_unknown_methods_are_other() {
        let reader = ManualReader::new();
        let meters = MeterProvider::builder().with_reader(reader.clone()).build();
        let exporter = tracecore::export::InMemoryExporter::new();
        let provider = tracecore::trace::TracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let server =
            tracecore::http_span::HttpInstrumentation::from(provider.tracer("grpc-server"))
                .with_meter_provider(&meters);
        let addr = serve(app_with(server)).await;
        let client = h2_client();
        for answer in ["ok", "ok", "internal"] {
            call(&client, &format!("http://{addr}/{METHOD}"), answer).await;
        }
        // A method the server has no route for: 404, so UNIMPLEMENTED.
        call(
            &client,
            &format!("http://{addr}/inventory.v1.Inventory/Missing"),
            "ok",
        )
        .await;
        wait_for_spans(&exporter, 4).await;

        let collected = reader.collect();
        assert!(
            collected.metric("http.server.request.duration").is_none(),
            "gRPC calls are not HTTP requests here"
        );
        let metric = collected.metric("rpc.server.call.duration").unwrap();
        assert_eq!(metric.unit, "s");
        let mut points: Vec<_> = metric
            .data
            .histogram_points()
            .iter()
            .map(|p| (attributes(p), p.count))
            .collect();
        points.sort();
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            points,
            [
                (
                    pairs(&[
                        ("error.type", "INTERNAL"),
                        ("rpc.method", METHOD),
                        ("rpc.response.status_code", "INTERNAL"),
                        ("rpc.system.name", "grpc"),
                    ]),
                    1
                ),
                (
                    pairs(&[
                        ("error.type", "UNIMPLEMENTED"),
                        ("rpc.method", "_OTHER"),
                        ("rpc.response.status_code", "UNIMPLEMENTED"),
                        ("rpc.system.name", "grpc"),
                    ]),
                    1
                ),
                (
                    pairs(&[
                        ("rpc.method", METHOD),
                        ("rpc.response.status_code", "OK"),
                        ("rpc.system.name", "grpc"),
                    ]),
                    2
                ),
            ]
        );
        // The histogram's durations are the spans' (one clock reading each end).
        let spans = exporter.finished_spans();
        let sum: f64 = spans
            .iter()
            .filter(|s| str_attr(s, "rpc.response.status_code") == Some("OK"))
            .map(|s| s.duration().as_secs_f64())
            .sum();
        let ok = metric
            .data
            .histogram_points()
            .iter()
            .find(|p| p.count == 2)
            .unwrap();
        assert!((ok.sum - sum).abs() < 1e-9, "{} vs {sum}", ok.sum);
    }
}
