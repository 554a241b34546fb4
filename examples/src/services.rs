//! The three services and the client.

use std::net::SocketAddr;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::json;
use tracecore::KeyValue;
use tracecore::trace::Tracer;
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
