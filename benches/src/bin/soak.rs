//! A traced hello-world server whose spans go over OTLP to an endpoint, for the soak script
//! (`soak.sh`): `soak ENDPOINT [ADDR]`. `soak phases SECONDS [CPU]` runs the phased soak instead
//! (`tests/support/soak.rs`: a collector changing state every SECONDS, in a child process of its
//! own, `soak collector`, pinned to CPU with `taskset` when CPU is given) and prints its table and
//! totals. Point ENDPOINT at a port where nothing listens to see a
//! collector that is down. Serves `GET /items/{id}` on ADDR (default `127.0.0.1:0`) with one
//! worker thread, prints `listening on ADDR`, then every second a line
//! `rss_kib=N exported=N dropped=N requests=N`, until SIGTERM.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use tracecore::export::BatchProcessor;
use tracecore::trace::TracerProvider;
use tracecore_otlp::{OtlpExporter, RetryPolicy};

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

#[path = "../../../tests/support/soak.rs"]
mod phased;

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("collector") {
        phased::Collector::serve_parent();
        return;
    }
    if first.as_deref() == Some("phases") {
        let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(60);
        let me = std::env::current_exe().unwrap();
        let command = match args.next() {
            Some(cpu) => {
                let mut c = std::process::Command::new("taskset");
                c.args(["-c", &cpu]).arg(me).arg("collector");
                c
            }
            None => {
                let mut c = std::process::Command::new(me);
                c.arg("collector");
                c
            }
        };
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (reports, totals) = runtime.block_on(phased::run(
            phased::Link::process(command),
            Duration::from_secs(seconds),
            8,
        ));
        print!("{}", phased::table(&reports));
        println!("{totals:?}");
        return;
    }
    let mut args = std::env::args().skip(1);
    let Some(endpoint) = args.next() else {
        eprintln!("usage: soak ENDPOINT [ADDR]");
        std::process::exit(2);
    };
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(endpoint)
        .with_timeout(Duration::from_secs(1))
        .with_retry(RetryPolicy::new(
            Duration::from_millis(100),
            Duration::from_millis(500),
            3,
        ))
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = TracerProvider::builder()
        .with_service_name("soak")
        .with_span_processor(BatchProcessor::builder(exporter).build())
        .build();
    let router = Router::new()
        .route("/items/{id}", get(|| async { "an item" }))
        .layer(tracecore_tower::ServerLayer::new(provider.tracer("soak")));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await.unwrap();
        println!("listening on {}", listener.local_addr().unwrap());
        let report = {
            let provider = provider.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1));
                loop {
                    tick.tick().await;
                    let counts = stats.counts();
                    println!(
                        "rss_kib={} exported={} dropped={} requests={}",
                        rss_kib(),
                        counts.spans_exported,
                        provider.dropped_spans(),
                        counts.requests,
                    );
                }
            }
        };
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).unwrap();
        tokio::select! {
            result = axum::serve(listener, router) => result.unwrap(),
            _ = report => {}
            _ = term.recv() => {}
        }
    });
}
