//! The soak's phases at a few seconds each (the ten-minute run is `benches/soak.sh`): a traced
//! service under load while its collector accepts, answers 503, hangs, resets connections,
//! answers slowly, refuses connections and accepts again. Every span, metric point and log record
//! is accounted for (drops by reason), memory stays flat, and a shutdown in any phase returns by its deadline.
//! Latency per phase is printed, not asserted (a shared machine's timings are not a test).

#[path = "support/soak.rs"]
mod soak;

use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_span_and_record_is_accounted_for_whatever_the_collector_does() {
    let (reports, totals) = soak::run(soak::Link::local(), Duration::from_secs(5), 4).await;
    println!("{}\n{totals:?}", soak::table(&reports));
    assert_eq!(reports.len(), 7);
    assert!(
        reports.iter().all(|r| r.requests > 0),
        "the service kept answering"
    );

    // Spans: created = exported + dropped (every drop counted), and the collector got every
    // exported span; what it got beyond that came in exports the exporter counted as failed
    // (a slow answer past the timeout, then retried: at-least-once), at most once per attempt.
    assert_eq!(
        totals.spans_created,
        totals.spans_exported + totals.spans_dropped,
        "{totals:?}"
    );
    assert!(totals.spans_received >= totals.spans_exported, "{totals:?}");
    assert!(
        totals.spans_received - totals.spans_exported <= 3 * totals.spans_failed,
        "duplicates only from failed exports: {totals:?}"
    );
    assert_eq!(
        totals.records_created,
        totals.records_exported + totals.records_dropped,
        "{totals:?}"
    );
    assert!(
        totals.records_received >= totals.records_exported,
        "{totals:?}"
    );
    // Every drop has its reason: the processors' export failures are the exporters' failures,
    // and the rest are the queue's (full in items or bytes) or shutdown's.
    assert_eq!(
        totals.span_drops.total(),
        totals.spans_dropped,
        "{totals:?}"
    );
    assert_eq!(
        totals.span_drops.export_failed, totals.spans_failed,
        "{totals:?}"
    );
    assert_eq!(
        totals.record_drops.total(),
        totals.records_dropped,
        "{totals:?}"
    );
    assert_eq!(
        totals.record_drops.export_failed, totals.records_failed,
        "{totals:?}"
    );
    assert!(
        totals.spans_failed > 0,
        "the failing phases failed exports: {totals:?}"
    );
    // Metric points: each collection's points are exported or failed, as the reader and the
    // exporter both counted; the collector got every exported point.
    assert!(totals.points_exported > 0, "{totals:?}");
    assert!(totals.points_failed > 0, "{totals:?}");
    assert_eq!(
        totals.points_exported, totals.points_exporter_exported,
        "{totals:?}"
    );
    assert_eq!(
        totals.points_failed, totals.points_exporter_failed,
        "{totals:?}"
    );
    assert!(
        totals.points_received >= totals.points_exported,
        "{totals:?}"
    );
    // Where the collector takes nothing, nothing is exported. (It counts a slow answer when it
    // gives it, so the phase after `Slow` sees some arrive.)
    for r in &reports {
        if matches!(
            r.phase,
            soak::Phase::Unavailable
                | soak::Phase::Hanging
                | soak::Phase::Resetting
                | soak::Phase::Refusing
        ) {
            assert_eq!(r.spans_exported, 0, "{:?}: {r:?}", r.phase);
            assert_eq!(r.points_exported, 0, "{:?}: {r:?}", r.phase);
        }
        if matches!(r.phase, soak::Phase::Hanging | soak::Phase::Resetting) {
            assert_eq!(r.spans_received, 0, "{:?}: {r:?}", r.phase);
        }
    }
    // Memory flat: within 64 MiB of the first phase's peak (the queues' byte budgets bound it).
    let first = reports[0].rss_max_kib;
    for r in &reports {
        assert!(
            r.rss_max_kib < first + 64 * 1024,
            "{:?}: {} KiB after {first} KiB",
            r.phase,
            r.rss_max_kib
        );
    }
    // A shutdown in each phase returns by its 2 s deadline (with room for a loaded machine).
    for r in &reports {
        assert!(
            r.shutdown < Duration::from_secs(4),
            "{:?}: {:?}",
            r.phase,
            r.shutdown
        );
    }
}
