//! Both layers without axum: a bare hyper 1 server with the server layer, and hyper-util's
//! client with the client layer, over loopback.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client as HyperClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tower::{Service, ServiceBuilder, ServiceExt};
use tracecore::http_span::{CANCELLED, NoPropagation, NoSpan, UrlTemplate};
use tracecore::trace::{SpanKind, Status, TracerProvider};
use tracecore::{Context, Value};
use tracecore_tower::{Client, ClientLayer, PeerAddr, ServerLayer};

use support::{bounded, recording_provider, wait_for_spans};

type TracedClient = Client<HyperClient<HttpConnector, Full<Bytes>>>;

fn traced_client(provider: &TracerProvider) -> TracedClient {
    let client = HyperClient::builder(TokioExecutor::new()).build_http();
    ServiceBuilder::new()
        .layer(ClientLayer::new(provider.tracer("client")))
        .service(client)
}

/// Serves `handler` with a bare hyper 1 connection loop, the server layer, and the peer address
/// in the request extensions.
async fn serve_hyper<H, F>(provider: &TracerProvider, handler: H) -> SocketAddr
where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send + 'static,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer =
        ServerLayer::new(provider.tracer("server")).with_route(|request: &http::request::Parts| {
            // A bare hyper server has no router: the route comes from the application.
            request
                .uri
                .path()
                .starts_with("/items/")
                .then(|| "/items/{id}".to_owned())
        });
    tokio::spawn(async move {
        loop {
            let (stream, peer) = listener.accept().await.unwrap();
            let service = ServiceBuilder::new()
                .map_request(move |mut request: Request<Incoming>| {
                    request.extensions_mut().insert(PeerAddr(peer));
                    request
                })
                .layer(layer.clone())
                .service_fn(handler.clone());
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service))
                    .await;
            });
        }
    });
    addr
}

/// Answers `/items/{id}` like the demo's inventory, echoing the `traceparent` it received.
async fn inventory(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let id: u32 = request
        .uri()
        .path()
        .trim_start_matches("/items/")
        .parse()
        .unwrap_or(1000);
    let status = match id {
        0 => StatusCode::INTERNAL_SERVER_ERROR,
        1..=999 => StatusCode::OK,
        _ => StatusCode::NOT_FOUND,
    };
    let seen = request
        .headers()
        .get("traceparent")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    Ok(Response::builder()
        .status(status)
        .body(Full::new(Bytes::from(seen)))
        .unwrap())
}

async fn get(
    client: &mut TracedClient,
    url: String,
    parent: Option<Context>,
) -> (StatusCode, String) {
    let mut request = Request::get(url).body(Full::new(Bytes::new())).unwrap();
    if let Some(parent) = parent {
        request.extensions_mut().insert(parent);
    }
    let response = bounded(client.ready().await.unwrap().call(request))
        .await
        .unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn a_bare_hyper_server_continues_the_trace_of_the_client_layer() {
    let (provider, exporter) = recording_provider("inventory");
    let addr = serve_hyper(&provider, inventory).await;
    let mut client = traced_client(&provider);
    let (status, seen) = get(&mut client, format!("http://{addr}/items/7"), None).await;
    assert_eq!(status, 200);

    let spans = wait_for_spans(&exporter, 2).await;
    let client_span = spans.named("GET");
    let server_span = spans.named("GET /items/{id}");
    assert_eq!(client_span.kind, SpanKind::Client);
    assert_eq!(server_span.kind, SpanKind::Server);
    assert_eq!(client_span.parent_span_id, None, "no parent: a new trace");
    assert!(server_span.is_child_of(client_span));
    assert_eq!(
        seen,
        client_span.span_context.traceparent().to_string(),
        "the CLIENT span is injected"
    );
    assert_eq!(
        client_span.attribute("url.full").and_then(Value::as_str),
        Some(&*format!("http://{addr}/items/7"))
    );
    assert_eq!(
        client_span
            .attribute("server.address")
            .and_then(Value::as_str),
        Some("127.0.0.1")
    );
    assert_eq!(
        client_span.attribute("server.port").and_then(Value::as_i64),
        Some(i64::from(addr.port()))
    );
    assert_eq!(
        client_span
            .attribute("network.protocol.version")
            .and_then(Value::as_str),
        Some("1.1")
    );
    assert_eq!(
        server_span.attribute("http.route").and_then(Value::as_str),
        Some("/items/{id}")
    );
    assert_eq!(
        server_span
            .attribute("client.address")
            .and_then(Value::as_str),
        Some("127.0.0.1")
    );
    assert_eq!(
        server_span
            .attribute("server.address")
            .and_then(Value::as_str),
        Some("127.0.0.1")
    );
}

#[tokio::test]
async fn the_client_status_matrix() {
    let (provider, exporter) = recording_provider("client");
    let addr = serve_hyper(&TracerProvider::builder().build(), inventory).await;
    let mut client = traced_client(&provider);
    for (id, code) in [(42, 200), (4242, 404), (0, 500)] {
        let (status, _) = get(&mut client, format!("http://{addr}/items/{id}"), None).await;
        assert_eq!(status.as_u16(), code);
    }
    let spans = wait_for_spans(&exporter, 3).await;
    let by_code = |code: i64| support::with_status_code(&spans, code);
    assert_eq!(by_code(200).status, Status::Unset);
    assert_eq!(by_code(200).attribute("error.type"), None);
    for code in [404, 500] {
        assert!(by_code(code).status.is_error(), "client {code} is an error");
        assert_eq!(
            by_code(code)
                .attribute("error.type")
                .and_then(Value::as_str),
            Some(&*code.to_string())
        );
    }
}

#[tokio::test]
async fn connection_refused_is_an_error_with_a_low_cardinality_type() {
    let (provider, exporter) = recording_provider("client");
    // Bind then drop: the port is closed.
    let (_held, closed) = support::refusing_addr();
    let mut client = traced_client(&provider);
    let request = Request::get(format!("http://{closed}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let result = bounded(client.ready().await.unwrap().call(request)).await;
    assert!(result.is_err());
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET");
    assert!(span.status.is_error());
    assert_eq!(
        span.attribute("error.type").and_then(Value::as_str),
        Some("connection_error")
    );
    assert_eq!(span.events[0].name, "exception");
    assert_eq!(span.attribute("http.response.status_code"), None);
}

#[tokio::test]
async fn per_request_opt_outs_and_explicit_parents() {
    let (provider, exporter) = recording_provider("client");
    let addr = serve_hyper(&TracerProvider::builder().build(), inventory).await;
    let mut client = traced_client(&provider);

    // NoPropagation: a span, nothing injected.
    let mut request = Request::get(format!("http://{addr}/items/1"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    request.extensions_mut().insert(NoPropagation);
    request
        .extensions_mut()
        .insert(UrlTemplate("/items/{id}".into()));
    let response = bounded(client.ready().await.unwrap().call(request))
        .await
        .unwrap();
    let seen = response.into_body().collect().await.unwrap().to_bytes();
    assert!(seen.is_empty(), "nothing injected");
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET /items/{id}");
    assert_eq!(
        span.attribute("url.template").and_then(Value::as_str),
        Some("/items/{id}")
    );

    // NoSpan with an explicit parent: no span, the parent is injected as it is.
    let parent_span = provider.tracer("app").start("parent");
    let parent = parent_span.context(&Context::new());
    let mut request = Request::get(format!("http://{addr}/items/1"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    request.extensions_mut().insert(NoSpan);
    request.extensions_mut().insert(parent.clone());
    let response = bounded(client.ready().await.unwrap().call(request))
        .await
        .unwrap();
    let seen = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(seen, parent_span.span_context().traceparent().to_string());
    assert_eq!(
        exporter.finished_spans().len(),
        1,
        "no span for the NoSpan request"
    );

    // An explicit parent in the extensions wins over the ambient context.
    let (_, seen) = get(&mut client, format!("http://{addr}/items/1"), Some(parent)).await;
    let spans = wait_for_spans(&exporter, 2).await;
    let child = spans.all_named("GET")[0];
    assert_eq!(
        child.parent_span_id,
        Some(parent_span.span_context().span_id())
    );
    assert_eq!(seen, child.span_context.traceparent().to_string());
}

#[tokio::test]
async fn a_client_call_inside_a_handler_is_a_child_of_the_server_span() {
    let (provider, exporter) = recording_provider("gateway");
    let upstream = serve_hyper(&provider, inventory).await;
    let gateway_client = traced_client(&provider);
    let gateway = serve_hyper(&provider, move |_request: Request<Incoming>| {
        let mut client = gateway_client.clone();
        async move {
            // No context passed by hand: the ambient context is the SERVER span's.
            let (status, _) = get(&mut client, format!("http://{upstream}/items/9"), None).await;
            Ok(Response::builder()
                .status(status)
                .body(Full::new(Bytes::new()))
                .unwrap())
        }
    })
    .await;
    let mut client = traced_client(&provider);
    let (status, _) = get(&mut client, format!("http://{gateway}/items/9"), None).await;
    assert_eq!(status, 200);

    let spans = wait_for_spans(&exporter, 4).await;
    let clients = spans.of_kind(SpanKind::Client);
    let servers = spans.of_kind(SpanKind::Server);
    assert_eq!((clients.len(), servers.len()), (2, 2));
    let root = clients.iter().find(|s| s.parent_span_id.is_none()).unwrap();
    let gateway_server = spans.children_of(root)[0];
    assert_eq!(gateway_server.kind, SpanKind::Server);
    let gateway_client = spans.children_of(gateway_server)[0];
    assert_eq!(gateway_client.kind, SpanKind::Client);
    let upstream_server = spans.children_of(gateway_client)[0];
    assert_eq!(upstream_server.kind, SpanKind::Server);
    let trace = root.span_context.trace_id();
    assert!(spans.iter().all(|s| s.span_context.trace_id() == trace));
}

#[tokio::test]
async fn a_dropped_client_future_ends_its_span_as_cancelled() {
    let (provider, exporter) = recording_provider("client");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // Accepts and never answers.
    let _server = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let mut client = traced_client(&provider);
    let request = Request::get(format!("http://{addr}/"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let call = client.ready().await.unwrap().call(request);
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(100), call).await;
    assert!(timed_out.is_err());
    let spans = wait_for_spans(&exporter, 1).await;
    let span = spans.named("GET");
    assert_eq!(span.attribute(CANCELLED.as_str()), Some(&Value::Bool(true)));
    assert_eq!(span.status, Status::Unset, "cancellation is not an error");
    assert_eq!(span.attribute("error.type"), None);
}
