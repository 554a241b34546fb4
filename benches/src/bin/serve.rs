//! One of the server stacks over real sockets, for the loopback throughput script
//! (`throughput.sh`): `serve STACK [ADDR]`, STACK one of `bare`, `empty_layer`, `tracecore`,
//! `tower_http_trace`, `otel_axum_layer`, `tracecore_otlp` (spans exported over OTLP to the
//! collector `OTEL_EXPORTER_OTLP_ENDPOINT` names). Serves `GET /items/{id}` on ADDR (default
//! `127.0.0.1:0`) with one worker thread, prints `listening on ADDR`, and on SIGTERM or Ctrl-C
//! prints `dropped N` (spans tracecore's queue dropped) and exits.

use tracecore_benches::server::{Server, Stack};

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(stack) = args.next().as_deref().and_then(Stack::from_name) else {
        eprintln!(
            "usage: serve bare|empty_layer|tracecore|tower_http_trace|otel_axum_layer|tracecore_otlp|otel_axum_otlp [ADDR]"
        );
        std::process::exit(2);
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let server = Server::new(stack);
    // The anchors record into their tracing subscriber from every thread.
    tracing::dispatcher::set_global_default(server.dispatch.clone()).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        println!("listening on {}", listener.local_addr().unwrap());
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        tokio::select! {
            result = axum::serve(listener, server.router()) => result.unwrap(),
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    });
    // What is still queued goes to the collector before the count.
    server.flush();
    server.shutdown();
    let requests = tracecore_benches::server::REQUESTS.load(std::sync::atomic::Ordering::Relaxed);
    if stack == Stack::TracecoreOtlp {
        // An export still retrying when shutdown's deadline passed is counted when it gives up:
        // wait for every span to be exported or dropped (bounded).
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while server.exported().unwrap_or(0) + server.dropped() < requests
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    println!("dropped {}", server.dropped());
    println!("requests {requests}");
    if let Some(exported) = server.exported() {
        println!("exported {exported}");
    }
}
