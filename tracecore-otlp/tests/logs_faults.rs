//! Log records into a collector that accepts connections and never answers: the caller never
//! waits, the queue stays within its bound, memory stays flat, and every record is accounted for
//! (exported or dropped and counted).

use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracecore::KeyValue;
use tracecore::logs::{BatchLogProcessor, LogRecord, LoggerProvider, Severity};
use tracecore_otlp::OtlpExporter;

/// Resident memory of this process, in KiB (Linux).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn a_million_records_into_a_hanging_collector_stay_bounded_and_are_counted() {
    // A collector that takes connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
    let holding = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(200).flatten() {
            holding.lock().unwrap().push(stream);
        }
    });
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(format!("http://{addr}/v1/logs"))
        .with_timeout(Duration::from_millis(200))
        .build_logs()
        .unwrap();
    let stats = exporter.stats();
    let logs = LoggerProvider::builder()
        .with_processor(
            BatchLogProcessor::builder(exporter)
                .with_max_queue_size(2048)
                .with_scheduled_delay(Duration::from_millis(20))
                .build(),
        )
        .build();
    let logger = logs.logger("app");

    let before = rss_kib();
    let n: u64 = 1_000_000;
    for i in 0..n {
        logger.emit(
            LogRecord::new(Severity::INFO)
                .with_body("order accepted")
                .with_attribute(KeyValue::new("order.id", i as i64)),
        );
    }
    let grown = rss_kib().saturating_sub(before);
    assert!(grown < 64 * 1024, "resident memory grew by {grown} KiB");

    // Shutdown cannot complete (the collector never answers): what is left is dropped and
    // counted; the export under way fails within its timeout and is counted too.
    assert!(logs.shutdown(Duration::from_millis(300)).is_err());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let counted = logs.dropped_records() + stats.counts().records_exported;
        if counted == n {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{counted} of {n} records accounted for ({} dropped)",
            logs.dropped_records()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        stats.counts().records_exported,
        0,
        "the collector took nothing"
    );
    assert!(
        !held.lock().unwrap().is_empty(),
        "the exporter did reach the collector"
    );
    // By reason: the queue was full while the first export hung; the export under way failed at
    // its timeout; what was queued at the shutdown's deadline was dropped there.
    let drops = logs.record_drops();
    assert!(drops.queue_full > n / 2, "{drops:?}");
    assert!(drops.export_failed > 0, "{drops:?}");
    assert!(drops.shut_down > 0, "{drops:?}");
    assert_eq!(
        drops.export_failed,
        stats.counts().records_failed,
        "{drops:?}"
    );
    assert_eq!(drops.total(), n, "{drops:?}");
}
