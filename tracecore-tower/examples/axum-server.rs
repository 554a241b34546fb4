//! A minimal axum server with the server layer, printing each trace as a waterfall.
//!
//! `cargo run -p tracecore-tower --features axum --example axum-server`, then
//! `curl -H 'traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' http://127.0.0.1:3000/items/7`
//! (`-- --once` answers one request to itself and exits).

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::get;
use tracecore::KeyValue;
use tracecore::export::ConsoleExporter;
use tracecore::trace::TracerProvider;
use tracecore_tower::{RequestContext, ServerLayer};

async fn item(Path(id): Path<u32>, cx: RequestContext) -> (StatusCode, String) {
    cx.span()
        .set_attribute(KeyValue::new("app.item.id", i64::from(id)));
    match id {
        1..=999 => (StatusCode::OK, format!("item {id}\n")),
        _ => (StatusCode::NOT_FOUND, "no such item\n".to_owned()),
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let provider = TracerProvider::builder()
        .with_service_name("inventory")
        .with_simple_exporter(ConsoleExporter::new())
        .build();
    let app = Router::new()
        .route("/items/{id}", get(item))
        .layer(ServerLayer::new(provider.tracer("inventory")));

    let once = std::env::args().any(|a| a == "--once");
    let addr = if once {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3000"
    };
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}");
    if once {
        tokio::spawn(axum::serve(listener, app).into_future());
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /items/7 HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            .await?;
        let mut response = String::new();
        stream.read_to_string(&mut response).await?;
        println!("{}", response.lines().next().unwrap_or_default());
        // The span ends after the body is sent; give the server a moment, then flush.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let _ = provider.force_flush(std::time::Duration::from_secs(1));
        return Ok(());
    }
    axum::serve(listener, app).await
}
