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
use std::time::SystemTime;

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

/// Starts `inventory` and `gateway` (calling that inventory) on ephemeral loopback ports, in the
/// background; returns the gateway's and the inventory's base URLs.
pub async fn start_servers(
    inventory_tracer: Tracer,
    gateway_tracer: Tracer,
) -> std::io::Result<(String, String)> {
    let inv_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let inv_url = format!("http://{}", inv_listener.local_addr()?);
    let gw_url = format!("http://{}", gw_listener.local_addr()?);
    tokio::spawn(serve(inv_listener, inventory(inventory_tracer)));
    tokio::spawn(serve(gw_listener, gateway(gateway_tracer, inv_url.clone())));
    Ok((gw_url, inv_url))
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
/// with the number of calls and of calls that ended in Error; edges in the order of their first
/// call, so callers come before their callees.
pub fn service_map(spans: &[SpanData]) -> Vec<Edge> {
    // (from, to) -> (calls, errors, first call's start): callers call before their callees.
    let mut edges: BTreeMap<(String, String), (u64, u64, SystemTime)> = BTreeMap::new();
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
            .or_insert((0, 0, call.start_time));
        entry.0 += 1;
        entry.1 += u64::from(call.status.is_error());
        entry.2 = entry.2.min(call.start_time);
    }
    let mut out: Vec<_> = edges.into_iter().collect();
    out.sort_by_key(|(_, (_, _, first))| *first);
    out.into_iter()
        .map(|((from, to), (calls, errors, _))| Edge {
            from,
            to,
            calls,
            errors,
        })
        .collect()
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
