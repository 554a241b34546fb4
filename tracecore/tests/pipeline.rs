//! The export pipeline under slow, blocked and failing exporters. Waits are bounded: a test that
//! would otherwise hang fails at its deadline instead.

use std::io::Write;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tracecore::Context;
use tracecore::export::{
    BatchProcessor, ColorMode, ConsoleExporter, ConsoleMode, ExportError, InMemoryExporter,
    SpanExporter,
};
use tracecore::trace::{AlwaysOn, SpanData, SpanKind, TracerProvider};

/// An exporter that blocks in `export` until the test lets it go, then records what it got.
#[derive(Debug, Clone)]
struct Gate {
    release: Arc<Mutex<mpsc::Receiver<()>>>,
    entered: mpsc::SyncSender<usize>,
    got: InMemoryExporter,
}

impl Gate {
    fn new() -> (Self, mpsc::Sender<()>, mpsc::Receiver<usize>) {
        let (open, release) = mpsc::channel();
        let (entered, entries) = mpsc::sync_channel(1024);
        let gate = Self {
            release: Arc::new(Mutex::new(release)),
            entered,
            got: InMemoryExporter::new(),
        };
        (gate, open, entries)
    }
}

impl SpanExporter for Gate {
    fn export(&mut self, batch: &[SpanData], timeout: Duration) -> Result<(), ExportError> {
        let _ = self.entered.try_send(batch.len());
        // Blocks until released (or the test process ends).
        let _ = self.release.lock().unwrap().recv();
        self.got.export(batch, timeout)
    }
}

fn batch_provider(
    exporter: impl SpanExporter + 'static,
    queue: usize,
    batch: usize,
) -> TracerProvider {
    TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_span_processor(
            BatchProcessor::builder(exporter)
                .with_max_queue_size(queue)
                .with_max_export_batch_size(batch)
                .with_scheduled_delay(Duration::from_secs(3600))
                .build(),
        )
        .build()
}

/// Polls `done` until it holds, failing after 10 s.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_blocked_exporter_never_blocks_callers_and_a_full_queue_drops_and_counts() {
    let (gate, open, entries) = Gate::new();
    let got = gate.got.clone();
    let provider = batch_provider(gate, 10, 5);
    let tracer = provider.tracer("t");
    // The first full batch goes to the exporter, which then blocks.
    for _ in 0..5 {
        tracer.start("first").end();
    }
    assert_eq!(entries.recv_timeout(Duration::from_secs(10)), Ok(5));
    // With the exporter stuck, 50 more spans. The bound covers the 5 being exported too, so 5
    // fit and 45 are dropped. Every end() returns: callers never wait for the exporter.
    for _ in 0..50 {
        tracer.start("more").end();
    }
    assert_eq!(provider.dropped_spans(), 45);
    let drops = provider.span_drops();
    assert_eq!((drops.queue_full, drops.total()), (45, 45), "{drops:?}");

    // Released, the exporter drains the queue: nothing else is lost.
    for _ in 0..10 {
        open.send(()).unwrap();
    }
    provider.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(got.finished_spans().len(), 10);
    assert_eq!(provider.dropped_spans(), 45);
}

#[test]
fn shutdown_with_a_blocked_exporter_returns_at_its_timeout() {
    let (gate, open, entries) = Gate::new();
    let provider = batch_provider(gate, 100, 1);
    provider.tracer("t").start("stuck").end();
    assert_eq!(entries.recv_timeout(Duration::from_secs(10)), Ok(1));
    let err = provider.shutdown(Duration::from_millis(200)).unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // Spans ending after shutdown are dropped and counted.
    let before = provider.dropped_spans();
    provider.tracer("t").start("late").end();
    assert_eq!(provider.dropped_spans(), before + 1);
    assert_eq!(provider.span_drops().shut_down, before + 1);
    assert_eq!(provider.span_drops().queue_full, 0);
    drop(open);
}

#[test]
fn a_full_batch_is_exported_without_waiting_for_the_delay() {
    let exporter = InMemoryExporter::new();
    let provider = batch_provider(exporter.clone(), 100, 5);
    for _ in 0..5 {
        provider.tracer("t").start("batched").end();
    }
    eventually("a full batch exported", || {
        exporter.finished_spans().len() == 5
    });
}

#[test]
fn force_flush_and_shutdown_export_what_is_queued() {
    let exporter = InMemoryExporter::new();
    let provider = batch_provider(exporter.clone(), 100, 50);
    for _ in 0..3 {
        provider.tracer("t").start("queued").end();
    }
    assert!(exporter.finished_spans().is_empty(), "the delay is an hour");
    provider.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(exporter.finished_spans().len(), 3);

    for _ in 0..4 {
        provider.tracer("t").start("at-shutdown").end();
    }
    provider.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(exporter.finished_spans().all_named("at-shutdown").len(), 4);
    assert!(
        provider.shutdown(Duration::from_secs(1)).is_err(),
        "a second shutdown is an error"
    );
    assert!(provider.force_flush(Duration::from_secs(1)).is_err());
}

/// An exporter that is slow and fails every other export.
#[derive(Debug, Default)]
struct Flaky {
    calls: usize,
    got: InMemoryExporter,
}

impl SpanExporter for Flaky {
    fn export(&mut self, batch: &[SpanData], timeout: Duration) -> Result<(), ExportError> {
        std::thread::sleep(Duration::from_millis(2));
        self.calls += 1;
        if self.calls.is_multiple_of(2) {
            return Err(ExportError::new("collector said 500"));
        }
        self.got.export(batch, timeout)
    }
}

#[test]
fn spans_lost_to_failed_exports_are_counted() {
    let flaky = Flaky::default();
    let got = flaky.got.clone();
    let provider = batch_provider(flaky, 1000, 10);
    for _ in 0..100 {
        provider.tracer("t").start("s").end();
    }
    provider.force_flush(Duration::from_secs(10)).unwrap();
    let exported = got.finished_spans().len() as u64;
    assert!(exported > 0);
    assert_eq!(
        exported + provider.dropped_spans(),
        100,
        "every span exported or counted"
    );
    let drops = provider.span_drops();
    assert_eq!(drops.export_failed, 100 - exported, "{drops:?}");
    assert_eq!(drops.total(), drops.export_failed, "{drops:?}");
}

#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buffer {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[test]
fn the_console_prints_a_trace_when_its_local_root_ends() {
    let out = Buffer::default();
    let provider = TracerProvider::builder()
        .with_service_name("shop")
        .with_sampler(AlwaysOn)
        .with_simple_exporter(
            ConsoleExporter::new()
                .with_writer(out.clone())
                .with_color(ColorMode::Never),
        )
        .build();
    let tracer = provider.tracer("t");
    let root = tracer
        .span_builder("GET /cart")
        .with_kind(SpanKind::Server)
        .start_with_context(&Context::new());
    tracer
        .span_builder("load")
        .start_with_context(&root.context(&Context::new()))
        .end();
    assert_eq!(out.text(), "", "nothing printed before the root ends");
    root.end();
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].starts_with("trace ") && lines[0].contains("2 spans"));
    assert!(lines[1].starts_with("shop  SERVER    GET /cart"), "{text}");
    assert!(lines[2].starts_with("shop  INTERNAL  └─ load"), "{text}");
    assert!(!text.contains('\x1b'));
}

#[test]
fn the_compact_console_prints_one_line_per_span() {
    let out = Buffer::default();
    let provider = TracerProvider::builder()
        .with_service_name("shop")
        .with_sampler(AlwaysOn)
        .with_simple_exporter(
            ConsoleExporter::new()
                .with_writer(out.clone())
                .with_mode(ConsoleMode::Compact),
        )
        .build();
    let tracer = provider.tracer("t");
    let root = tracer.start("outer");
    let child = tracer
        .span_builder("inner")
        .start_with_context(&root.context(&Context::new()));
    let (root_id, child_id) = (
        root.span_context().span_id(),
        child.span_context().span_id(),
    );
    drop(child);
    drop(root);
    let text = out.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("shop INTERNAL inner Unset "));
    assert!(lines[0].contains(&format!("span={child_id} parent={root_id}")));
    assert!(lines[1].ends_with(&format!("span={root_id} parent=-")));
}

#[test]
fn the_queue_is_bounded_in_bytes_and_what_does_not_fit_is_counted() {
    let (gate, open, entries) = Gate::new();
    let got = gate.got.clone();
    let provider = TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_span_processor(
            BatchProcessor::builder(gate)
                .with_max_queue_size(1000)
                .with_max_export_batch_size(1)
                // Room for eight 1 MiB spans with their bookkeeping.
                .with_max_queue_bytes(8 * ((1 << 20) + 4096))
                .with_scheduled_delay(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let tracer = provider.tracer("t");
    let blob = "x".repeat(1 << 20);
    // The first span goes to the exporter, which blocks with it (its bytes still count).
    let span = tracer.start("big");
    span.set_attribute(tracecore::KeyValue::new("blob", blob.clone()));
    span.end();
    assert_eq!(entries.recv_timeout(Duration::from_secs(10)), Ok(1));
    for _ in 0..49 {
        let span = tracer.start("big");
        span.set_attribute(tracecore::KeyValue::new("blob", blob.clone()));
        span.end();
    }
    // Seven more fit beside the one in flight.
    let dropped = provider.dropped_spans();
    assert_eq!(
        dropped, 42,
        "the spans past the byte budget are dropped and counted"
    );
    assert_eq!(provider.span_drops().bytes_full, 42);
    for _ in 0..50 {
        let _ = open.send(());
    }
    provider.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(
        got.finished_spans().len() as u64 + provider.dropped_spans(),
        50
    );
    assert_eq!(got.finished_spans().len(), 8);
    // Small spans are still welcome once the big ones have gone.
    tracer.start("small").end();
    provider.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(got.finished_spans().len(), 9);
}

#[test]
fn spans_ended_on_other_threads_carry_wall_clock_times_within_their_run() {
    use std::time::SystemTime;
    let exporter = InMemoryExporter::new();
    let provider = batch_provider(exporter.clone(), 100, 50);
    let before = SystemTime::now();
    let workers: Vec<_> = (0..3)
        .map(|i| {
            let tracer = provider.tracer("t");
            std::thread::spawn(move || {
                let span = tracer.start(format!("worker-{i}"));
                std::thread::sleep(Duration::from_millis(20));
                span.end();
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    let after = SystemTime::now();
    provider.force_flush(Duration::from_secs(10)).unwrap();
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 3);
    for span in spans.iter() {
        // Wall-clock times are derived from each thread's monotonic readings and clock anchor.
        let slack = Duration::from_millis(5);
        assert!(span.start_time + slack >= before, "{:?}", span.name);
        assert!(span.end_time <= after + slack, "{:?}", span.name);
        assert!(span.duration() >= Duration::from_millis(20));
    }
}

#[test]
fn with_several_processors_each_gets_the_spans_data() {
    let queued = InMemoryExporter::new();
    let direct = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_span_processor(
            BatchProcessor::builder(queued.clone())
                .with_scheduled_delay(Duration::from_secs(3600))
                .build(),
        )
        .with_simple_exporter(direct.clone())
        .build();
    provider
        .tracer("t")
        .span_builder("both")
        .with_kind(SpanKind::Server)
        .start_with_context(&Context::new())
        .end();
    provider.force_flush(Duration::from_secs(10)).unwrap();
    let (a, b) = (queued.finished_spans(), direct.finished_spans());
    assert_eq!(a.names(), ["both"]);
    assert_eq!(a.as_slice(), b.as_slice());
}

#[test]
fn a_queued_span_ignores_late_updates_and_keeps_the_times_it_ended_with() {
    use std::time::SystemTime;
    let exporter = InMemoryExporter::new();
    let provider = batch_provider(exporter.clone(), 100, 50);
    let tracer = provider.tracer("t");

    // Ended, then updated through a context that still holds it: the update comes too late.
    let span = tracer.start("ended");
    let cx = span.context(&Context::new());
    span.set_attribute(tracecore::KeyValue::new("before", 1_i64));
    span.end();
    assert!(!cx.span().is_recording(), "not recording once ended");
    cx.span()
        .set_attribute(tracecore::KeyValue::new("after", 2_i64));
    cx.span()
        .set_status(tracecore::trace::Status::error("late"));
    assert_eq!(cx.span().status(), None);

    // Explicit wall-clock times, and an end read from the monotonic clock.
    let start = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
    tracer
        .span_builder("given")
        .with_start_time(start)
        .start_with_context(&Context::new())
        .end_with_timestamp(start + Duration::from_millis(250));
    tracer
        .span_builder("before its start")
        .with_start_time(start)
        .start_with_context(&Context::new())
        .end_with_timestamp(start - Duration::from_secs(1));
    let at = Instant::now();
    tracer
        .span_builder("measured")
        .with_start_instant(at)
        .start_with_context(&Context::new())
        .end_with_instant(at + Duration::from_millis(30));

    provider.force_flush(Duration::from_secs(10)).unwrap();
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 4);
    let ended = spans.named("ended");
    assert_eq!(ended.attribute("before"), Some(&tracecore::Value::I64(1)));
    assert_eq!(ended.attribute("after"), None);
    assert!(!ended.status.is_error());
    let given = spans.named("given");
    assert_eq!(given.start_time, start);
    assert_eq!(given.duration(), Duration::from_millis(250));
    let clamped = spans.named("before its start");
    assert_eq!(
        (clamped.start_time, clamped.end_time),
        (start, start),
        "an end before the start is the start"
    );
    assert_eq!(
        spans.named("measured").duration(),
        Duration::from_millis(30),
        "the monotonic duration, exactly"
    );
}
