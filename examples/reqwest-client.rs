//! A reqwest client with the middleware: each request is a CLIENT span, child of the current
//! span, and carries `traceparent`, `tracestate` and `baggage` to the server.
//!
//! ```text
//! cargo run --example reqwest-client            # calls an echo server it starts on loopback
//! cargo run --example reqwest-client -- URL     # calls URL
//! ```

use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::routing::get;
use reqwest_middleware::ClientBuilder;
use tracecore::{Baggage, Context, FutureExt};
use tracecore_otlp::{ExporterKind, Setup};
use tracecore_reqwest::TraceMiddleware;

/// The echo server (not traced): answers with the trace headers it received.
async fn echo(headers: HeaderMap) -> String {
    ["traceparent", "tracestate", "baggage"]
        .iter()
        .map(|name| {
            let value = headers.get(*name).and_then(|v| v.to_str().ok());
            format!("{name}: {}\n", value.unwrap_or("(none)"))
        })
        .collect()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .with_service_name("checkout")
        .with_exporters([ExporterKind::Console])
        .build()?;
    let tracer = telemetry.tracer("checkout");
    let client = ClientBuilder::new(reqwest::Client::new())
        .with(TraceMiddleware::new(telemetry.instrumentation("checkout")))
        .build();

    let url = match std::env::args().nth(1) {
        Some(url) => url,
        None => {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            let url = format!("http://{}/echo", listener.local_addr()?);
            let app = Router::new().route("/echo", get(echo));
            tokio::spawn(axum::serve(listener, app).into_future());
            url
        }
    };

    // Some work of our own, with baggage for every service downstream.
    let work = tracer.start("place order");
    let mut baggage = Baggage::default();
    baggage.insert("tenant", "blue")?;
    let cx = work.context(&Context::current()).with_baggage(baggage);

    // Inside `cx`, the request's CLIENT span is a child of "place order".
    let reply = client.get(&url).send().with_context(cx).await?;
    println!("GET {url} -> {}", reply.status());
    print!("{}", reply.text().await?);
    work.end();

    telemetry.shutdown(Duration::from_secs(5))?;
    Ok(())
}
