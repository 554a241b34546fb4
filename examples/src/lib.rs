//! The services of the client-gateway-server demo, as a library so that the example binary and
//! the workspace's end-to-end tests run the same code.
//!
//! - `inventory`: `GET /items/{id}` answers 200 with a small JSON item for ids 1-999, 404 for
//!   other numbers, 500 for id 0 (a simulated storage failure).
//! - `gateway`: `GET /orders/{id}` calls `GET {upstream}/items/{id}`; 200 with an order when the
//!   item is there, 404 when the upstream says 404, 502 when it fails or cannot be reached.
//! - `client`: requests `/orders/42`, `/orders/4242` and `/orders/0` from the gateway.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::json;
use tracecore::KeyValue;
use tracecore::trace::{SpanData, SpanKind, Tracer};
use tracecore_reqwest::TraceMiddleware;
use tracecore_tower::{RequestContext, ServerLayer};

/// The paths the client requests, one of each outcome.
pub const CLIENT_PATHS: [&str; 3] = ["/orders/42", "/orders/4242", "/orders/0"];

/// The inventory service.
pub fn inventory(tracer: Tracer) -> Router {
    Router::new()
        .route("/items/{id}", get(item))
        .layer(ServerLayer::new(tracer))
}

async fn item(Path(id): Path<u64>, cx: RequestContext) -> (StatusCode, Json<serde_json::Value>) {
    cx.span()
        .set_attribute(KeyValue::new("app.item.id", id as i64));
    match id {
        0 => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": "storage unavailable" })),
        ),
        1..=999 => (
            StatusCode::OK,
            Json(json!({ "id": id, "name": format!("item {id}"), "stock": id % 7 })),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no item {id}") })),
        ),
    }
}

/// A reqwest client whose requests are CLIENT spans with `traceparent` injected.
pub fn traced_client(tracer: Tracer) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(TraceMiddleware::new(tracer))
        .build()
}

#[derive(Clone)]
struct Gateway {
    client: ClientWithMiddleware,
    upstream: String,
}

/// The gateway service, calling the inventory at `upstream` (`http://host:port`).
pub fn gateway(tracer: Tracer, upstream: impl Into<String>) -> Router {
    let state = Gateway {
        client: traced_client(tracer.clone()),
        upstream: upstream.into().trim_end_matches('/').to_owned(),
    };
    Router::new()
        .route("/orders/{id}", get(order))
        .with_state(state)
        .layer(ServerLayer::new(tracer))
}

async fn order(
    State(gateway): State<Gateway>,
    Path(id): Path<u64>,
) -> (StatusCode, Json<serde_json::Value>) {
    // Runs inside the SERVER span: this call's CLIENT span is its child.
    let url = format!("{}/items/{id}", gateway.upstream);
    let reply = match gateway.client.get(&url).send().await {
        Ok(reply) => reply,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                Json(json!({ "error": format!("inventory unreachable: {e}") })),
            );
        }
    };
    match reply.status() {
        StatusCode::OK => match reply
            .bytes()
            .await
            .map(|b| serde_json::from_slice::<serde_json::Value>(&b))
        {
            Ok(Ok(item)) => (StatusCode::OK, Json(json!({ "order": id, "item": item }))),
            Ok(Err(e)) => (
                StatusCode::BAD_GATEWAY,
                Json(json!({ "error": format!("bad inventory reply: {e}") })),
            ),
            Err(e) => (
                StatusCode::BAD_GATEWAY,
                Json(json!({ "error": format!("bad inventory reply: {e}") })),
            ),
        },
        StatusCode::NOT_FOUND => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no item {id}") })),
        ),
        other => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": format!("inventory answered {other}") })),
        ),
    }
}

/// Serves `app` on `listener` (with the peer address known to the server layer).
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// The client: requests each of `paths` from the gateway at `gateway` (`http://host:port`);
/// returns each path with the status it got (or the error).
pub async fn client(
    tracer: Tracer,
    gateway: &str,
    paths: &[&str],
) -> Vec<(String, Result<u16, String>)> {
    let http = traced_client(tracer);
    let base = gateway.trim_end_matches('/');
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let result = match http.get(format!("{base}{path}")).send().await {
            // Reading the body lets the server finish (and end) its span first.
            Ok(reply) => {
                let status = reply.status().as_u16();
                let _ = reply.bytes().await;
                Ok(status)
            }
            Err(e) => Err(e.to_string()),
        };
        out.push(((*path).to_owned(), result));
    }
    out
}

/// Calls between services, from the spans: each CLIENT span is an edge from its service to the
/// service whose SERVER span is its child (or to its `server.address` if no server answered),
/// with the number of calls and of calls that ended in Error.
pub fn service_map(spans: &[SpanData]) -> Vec<Edge> {
    let mut edges: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
    for call in spans.iter().filter(|s| s.kind == SpanKind::Client) {
        let to = spans
            .iter()
            .find(|s| s.kind == SpanKind::Server && s.is_child_of(call))
            .map(|s| s.resource.service_name().to_owned())
            .or_else(|| {
                call.attribute("server.address")
                    .and_then(|v| v.as_str().map(str::to_owned))
            })
            .unwrap_or_else(|| "?".to_owned());
        let entry = edges
            .entry((call.resource.service_name().to_owned(), to))
            .or_default();
        entry.0 += 1;
        if call.status.is_error() {
            entry.1 += 1;
        }
    }
    let mut out: Vec<Edge> = edges
        .into_iter()
        .map(|((from, to), (calls, errors))| Edge {
            from,
            to,
            calls,
            errors,
        })
        .collect();
    // Callers first: an edge whose source nobody calls comes before the edges it leads to.
    out.sort_by_key(|e| {
        let depth = (0..8)
            .scan(e.from.clone(), |at, _| {
                let caller = spans
                    .iter()
                    .filter(|s| s.kind == SpanKind::Client)
                    .find(|c| {
                        spans.iter().any(|s| {
                            s.kind == SpanKind::Server
                                && s.is_child_of(c)
                                && s.resource.service_name() == at
                        })
                    })?;
                *at = caller.resource.service_name().to_owned();
                Some(())
            })
            .count();
        (depth, e.from.clone(), e.to.clone())
    });
    out
}

/// One edge of the service map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The calling service.
    pub from: String,
    /// The called service.
    pub to: String,
    /// Calls made.
    pub calls: u64,
    /// Calls whose CLIENT span ended in Error.
    pub errors: u64,
}

/// The service map as text: one line per edge.
pub fn render_service_map(edges: &[Edge]) -> String {
    let width = edges
        .iter()
        .map(|e| e.from.len() + e.to.len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("service map\n");
    for e in edges {
        let pad = width - e.from.len() - e.to.len();
        out.push_str(&format!(
            "  {} ──▶ {}{}  {} {}, {} {}\n",
            e.from,
            e.to,
            " ".repeat(pad),
            e.calls,
            if e.calls == 1 { "request" } else { "requests" },
            e.errors,
            if e.errors == 1 { "error" } else { "errors" },
        ));
    }
    out
}
