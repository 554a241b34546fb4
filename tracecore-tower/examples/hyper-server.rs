//! A bare hyper 1 server (no framework) with the server layer, printing each trace as a
//! waterfall.
//!
//! `cargo run -p tracecore-tower --example hyper-server`, then `curl http://127.0.0.1:3001/hello`.

use std::convert::Infallible;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tower::ServiceBuilder;
use tracecore::export::ConsoleExporter;
use tracecore::trace::TracerProvider;
use tracecore_tower::{PeerAddr, ServerLayer};

async fn hello(_request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"hello\n"))))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let provider = TracerProvider::builder()
        .with_service_name("hello")
        .with_simple_exporter(ConsoleExporter::new())
        .build();
    // A bare hyper server has no router: name spans by route yourself, never by raw path.
    let layer = ServerLayer::new(provider.tracer("hello"))
        .with_route(|request| (request.uri.path() == "/hello").then(|| "/hello".to_owned()));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:3001").await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (stream, peer) = listener.accept().await?;
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
}
