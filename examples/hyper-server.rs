//! A bare hyper 1 server (no framework) with the server layer; each trace prints as a waterfall.
//!
//! ```text
//! cargo run --example hyper-server
//! curl http://127.0.0.1:3001/hello
//! ```
//!
//! `-- --once` sends itself that request, prints the trace and exits.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tracecore_otlp::{ExporterKind, Setup};
use tracecore_tower::{PeerAddr, ServerLayer};

async fn hello(request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"hello\n")));
    if request.uri().path() != "/hello" {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(response)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let telemetry = Setup::new()
        .with_service_name("hello")
        .with_exporters([ExporterKind::Console])
        .build()?;
    // A bare hyper server has no router: name spans by route yourself, never by the raw path
    // (which would make every URL a span name of its own). Other paths are named `GET`.
    let layer = ServerLayer::new(telemetry.instrumentation("hello")).with_route(
        |request: &http::request::Parts| {
            (request.uri.path() == "/hello").then(|| "/hello".to_owned())
        },
    );

    let once = std::env::args().any(|a| a == "--once");
    let listener = tokio::net::TcpListener::bind(if once {
        "127.0.0.1:0"
    } else {
        "127.0.0.1:3001"
    })
    .await?;
    let addr = listener.local_addr()?;
    println!("hello on http://{addr}");
    let server = async move {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, say: wait instead of spinning.
                    eprintln!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let service = ServiceBuilder::new()
                // The peer address gives the span its `client.address`.
                .map_request(move |mut request: Request<Incoming>| {
                    request.extensions_mut().insert(PeerAddr(peer));
                    request
                })
                .layer(layer.clone())
                .service_fn(hello);
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), TowerToHyperService::new(service));
                if let Err(error) = connection.await {
                    eprintln!("connection error: {error}");
                }
            });
        }
    };
    if !once {
        server.await;
        return Ok(());
    }

    tokio::spawn(server);
    let reply = reqwest::get(format!("http://{addr}/hello")).await?;
    println!("GET /hello -> {}", reply.status());
    reply.bytes().await?;
    tokio::time::sleep(Duration::from_millis(20)).await;
    telemetry.shutdown(Duration::from_secs(5))?;
    Ok(())
}
