//! A minimal axum server with the server layer; each trace prints as a waterfall.
//!
//! ```text
//! cargo run --example axum-server
//! curl -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' http://127.0.0.1:8000/items/7
//! ```
//!
//! `-- --once` sends itself that request, prints the trace and exits; `-- --listen ADDR` serves
//! elsewhere.

use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use tracecore::KeyValue;
use tracecore_otlp::{ExporterKind, Setup};
use tracecore_tower::{RequestContext, ServerLayer};

/// The handler runs inside the request's SERVER span: `RequestContext` is that span.
async fn item(Path(id): Path<u32>, cx: RequestContext) -> (StatusCode, String) {
    cx.span()
        .set_attribute(KeyValue::new("app.item.id", i64::from(id)));
    match id {
        1..=999 => (StatusCode::OK, format!("item {id}\n")),
        _ => (StatusCode::NOT_FOUND, "no such item\n".to_owned()),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Waterfalls on the terminal; without `with_exporters`, the OTEL_* variables decide
    // (OTLP to http://localhost:4318 by default).
    let telemetry = Setup::new()
        .with_service_name("inventory")
        .with_exporters([ExporterKind::Console])
        .build()?;
    let app = Router::new()
        .route("/items/{id}", get(item))
        .layer(ServerLayer::new(telemetry.instrumentation("inventory")));

    let args: Vec<String> = std::env::args().collect();
    let once = args.iter().any(|a| a == "--once");
    let addr = match args.iter().position(|a| a == "--listen") {
        Some(i) => args.get(i + 1).ok_or("--listen needs an address")?.as_str(),
        None if once => "127.0.0.1:0",
        None => "127.0.0.1:8000",
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!("inventory on http://{addr}");
    if !once {
        axum::serve(listener, app).await?;
        return Ok(());
    }

    tokio::spawn(axum::serve(listener, app).into_future());
    // A caller's request, as curl would send it: the SERVER span continues its trace.
    let reply = reqwest::Client::new()
        .get(format!("http://{addr}/items/7"))
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await?;
    println!("GET /items/7 -> {}", reply.status());
    reply.bytes().await?;
    // The span ends once the body is sent; shutting down exports what has ended.
    tokio::time::sleep(Duration::from_millis(20)).await;
    telemetry.shutdown(Duration::from_secs(5))?;
    Ok(())
}
