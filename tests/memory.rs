//! Memory stays bounded whatever the requests carry: 3000 requests with a 200 KB `User-Agent`
//! to a traced service whose collector accepts connections and never answers. (A test binary of
//! its own, so that resident memory is this test's.)

#[path = "support/mod.rs"]
mod support;

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tracecore::export::BatchProcessor;
use tracecore::trace::TracerProvider;
use tracecore_otlp::OtlpExporter;
use tracecore_tower::ServerLayer;

use support::{bounded, http_client, serve};

/// Resident memory of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_user_agents_with_a_hanging_collector_keep_memory_flat() {
    if !std::path::Path::new("/proc/self/statm").exists() {
        return; // resident memory is read from /proc (Linux)
    }
    // A collector that accepts connections and never reads or answers (held at most 150 s).
    let collector = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let collector_url = format!("http://{}/v1/traces", collector.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        let until = std::time::Instant::now() + Duration::from_secs(150);
        collector.set_nonblocking(true).unwrap();
        while std::time::Instant::now() < until {
            match collector.accept() {
                Ok((stream, _)) => held.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(collector_url)
        .with_timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let provider = TracerProvider::builder()
        .with_service_name("memory")
        .with_span_processor(BatchProcessor::builder(exporter).build())
        .build();
    let app = Router::new()
        .route("/", get(|| async { "ok" }))
        .layer(ServerLayer::new(provider.tracer("memory")));
    let url = format!("http://{}/", serve(app).await);
    let client = http_client();
    let user_agent = "u".repeat(200 * 1024);
    let send = |n: usize| {
        let (client, url, user_agent) = (client.clone(), url.clone(), user_agent.clone());
        async move {
            for _ in 0..n {
                let reply = client
                    .get(&url)
                    .header("user-agent", &user_agent)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(reply.status(), 200, "every request is answered");
            }
        }
    };
    bounded(send(200)).await;
    let before = rss();
    tokio::time::timeout(Duration::from_secs(120), send(2800))
        .await
        .expect("3000 requests within 120 s");
    let grown = rss().saturating_sub(before);
    eprintln!(
        "resident memory grew {} MiB over 2800 requests",
        grown >> 20
    );
    // Keeping each User-Agent whole would hold 2048 queued spans × 200 KB = 400 MB.
    assert!(grown < 64 << 20, "resident memory grew {} MiB", grown >> 20);
    assert!(
        provider.dropped_spans() > 0,
        "the full queue drops and counts"
    );
    drop(provider);
}
