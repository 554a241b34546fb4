//! No feedback: with a `tracing` subscriber recording every level of every target as log
//! records (the process-wide default, so the export threads and the exporter's HTTP client
//! would reach it too), a collector answering 503 to everything gets exactly the records the
//! service wrote, retried, and nothing the exporting itself logged.

#[path = "../tracecore-otlp/tests/support/mod.rs"]
mod receiver;

use std::time::{Duration, Instant};

use prost::Message;
use tracecore::logs::LoggerProvider;
use tracecore_otlp::{OtlpExporter, RetryPolicy, proto};
use tracecore_tracing::LogLayer;
use tracing_subscriber::layer::SubscriberExt;

#[test]
fn exporting_logs_never_records_logs_of_its_own() {
    let collector = receiver::Receiver::start();
    for _ in 0..8 {
        collector.then(receiver::Reply::status(503));
    }
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(format!("http://{}/v1/logs", collector.addr()))
        .with_retry(RetryPolicy::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
            3,
        ))
        .build_logs()
        .unwrap();
    let stats = exporter.stats();
    let logs = LoggerProvider::builder()
        .with_batch_exporter(exporter)
        .build();
    tracing::subscriber::set_global_default(
        tracing_subscriber::registry().with(LogLayer::new(logs.clone())),
    )
    .unwrap();
    for i in 0..5 {
        tracing::info!(i, "written by the service");
    }
    logs.force_flush(Duration::from_secs(10)).ok();
    let deadline = Instant::now() + Duration::from_secs(10);
    while stats.counts().requests < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = logs.shutdown(Duration::from_secs(5));
    let counts = stats.counts();
    assert!(counts.retries >= 1, "503 answers were retried: {counts:?}");
    // Every request carried the service's five records, and nothing else.
    for request in collector.received().iter().filter(|r| r.path == "/v1/logs") {
        let decoded = proto::ExportLogsServiceRequest::decode(&request.body[..]).unwrap();
        let bodies: Vec<String> = decoded
            .resource_logs
            .iter()
            .flat_map(|r| &r.scope_logs)
            .flat_map(|s| &s.log_records)
            .map(|l| format!("{:?}", l.body))
            .collect();
        assert_eq!(bodies.len(), 5, "{bodies:?}");
        assert!(
            bodies.iter().all(|b| b.contains("written by the service")),
            "{bodies:?}"
        );
    }
    assert_eq!(
        logs.dropped_records() + counts.records_exported,
        5,
        "the five records are accounted for, no more"
    );
}
