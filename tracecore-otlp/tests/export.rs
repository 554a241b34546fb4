//! The exporter against a scripted receiver on 127.0.0.1: what goes on the wire, which replies
//! are retried, how long it keeps trying, and that the request path never waits for any of it.

mod support;

use std::net::TcpListener;
use std::time::Duration;

use prost::Message;
use support::{Receiver, Reply, some_spans};
use tracecore::export::{BatchProcessor, SpanExporter};
use tracecore::trace::TracerProvider;
use tracecore_otlp::proto::{ExportTracePartialSuccess, ExportTraceServiceResponse, RpcStatus};
use tracecore_otlp::{Compression, OtlpExporter, Protocol, RetryPolicy};

const EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// An exporter for `receiver`, not reading the environment, retrying quickly.
fn exporter(receiver: &Receiver) -> OtlpExporter {
    OtlpExporter::builder()
        .without_env()
        .with_endpoint(receiver.url())
        .with_retry(RetryPolicy::new(
            Duration::from_millis(10),
            Duration::from_millis(50),
            4,
        ))
        .build()
        .unwrap()
}

#[test]
fn a_protobuf_export_carries_the_otlp_headers_and_every_span() {
    let receiver = Receiver::start();
    let mut exporter = exporter(&receiver);
    exporter.export(&some_spans(3), EXPORT_TIMEOUT).unwrap();
    let [request] = &receiver.wait_for(1)[..] else {
        panic!("one request")
    };
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/traces");
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(request.header("content-encoding"), None);
    assert!(
        request
            .header("user-agent")
            .unwrap()
            .contains("OTel-OTLP-Exporter-Rust/")
    );
    assert_eq!(request.span_names(), ["span-0", "span-1", "span-2"]);
    let counts = exporter.stats().counts();
    assert_eq!(
        (counts.requests, counts.spans_exported, counts.retries),
        (1, 3, 0)
    );
}

#[test]
fn gzip_and_json_are_what_the_headers_say() {
    let receiver = Receiver::start();
    let mut gz = OtlpExporter::builder()
        .without_env()
        .with_endpoint(receiver.url())
        .with_compression(Compression::Gzip)
        .build()
        .unwrap();
    let mut json = OtlpExporter::builder()
        .without_env()
        .with_endpoint(receiver.url())
        .with_protocol(Protocol::HttpJson)
        .with_compression(Compression::Gzip)
        .build()
        .unwrap();
    let spans = some_spans(2);
    gz.export(&spans, EXPORT_TIMEOUT).unwrap();
    json.export(&spans, EXPORT_TIMEOUT).unwrap();
    let received = receiver.wait_for(2);
    assert_eq!(received[0].header("content-encoding"), Some("gzip"));
    assert_ne!(received[0].raw, received[0].body, "the body was compressed");
    assert_eq!(received[0].span_names(), ["span-0", "span-1"]);
    assert_eq!(received[1].header("content-type"), Some("application/json"));
    assert_eq!(received[1].header("content-encoding"), Some("gzip"));
    let body: serde_json::Value = serde_json::from_slice(&received[1].body).unwrap();
    let spans = &body["resourceSpans"][0]["scopeSpans"][0]["spans"];
    assert_eq!(spans[1]["name"], "span-1");
    assert_eq!(spans[1]["attributes"][0]["value"]["intValue"], "1");
}

#[test]
fn headers_set_in_code_are_sent_and_never_shown() {
    let receiver = Receiver::start();
    let mut exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(receiver.url())
        .with_header("api-key", "s3cret")
        .build()
        .unwrap();
    assert!(!format!("{exporter:?}").contains("s3cret"));
    exporter.export(&some_spans(1), EXPORT_TIMEOUT).unwrap();
    assert_eq!(receiver.wait_for(1)[0].header("api-key"), Some("s3cret"));
}

#[test]
fn retry_after_on_503_is_honoured_then_the_export_succeeds() {
    let receiver = Receiver::start();
    receiver.then(Reply::status(503).with_header("retry-after", "1"));
    let mut exporter = exporter(&receiver);
    exporter.export(&some_spans(2), EXPORT_TIMEOUT).unwrap();
    let received = receiver.wait_for(2);
    // The policy's own backoff is at most 50 ms: a wait of a second can only be Retry-After.
    assert!(received[1].at.duration_since(received[0].at) >= Duration::from_secs(1));
    assert_eq!(received[0].body, received[1].body, "the same batch again");
    let counts = exporter.stats().counts();
    assert_eq!(
        (counts.requests, counts.retries, counts.spans_exported),
        (2, 1, 2)
    );
}

#[test]
fn retryable_statuses_are_retried_with_backoff_until_the_attempts_run_out() {
    let receiver = Receiver::start();
    for code in [429, 502, 503, 504] {
        receiver.then(Reply::status(code));
    }
    let mut exporter = exporter(&receiver);
    let error = exporter.export(&some_spans(1), EXPORT_TIMEOUT).unwrap_err();
    assert_eq!(
        receiver.wait_for(4).len(),
        4,
        "4 attempts, the policy's maximum"
    );
    assert!(error.to_string().contains("HTTP 504"), "{error}");
    assert!(
        error.to_string().contains("gave up after 4 attempts"),
        "{error}"
    );
    let counts = exporter.stats().counts();
    assert_eq!((counts.retries, counts.spans_failed), (3, 1));

    // The next export starts afresh and succeeds.
    exporter.export(&some_spans(1), EXPORT_TIMEOUT).unwrap();
    assert_eq!(receiver.wait_for(5).len(), 5);
}

#[test]
fn other_statuses_fail_at_once_with_the_receivers_message() {
    for code in [400, 401, 404, 413, 500] {
        let receiver = Receiver::start();
        let status = RpcStatus {
            code: 3,
            message: format!("refused with {code}"),
        };
        receiver
            .then(Reply::status(code).with_body("application/x-protobuf", &status.encode_to_vec()));
        let mut exporter = exporter(&receiver);
        let error = exporter.export(&some_spans(1), EXPORT_TIMEOUT).unwrap_err();
        assert!(
            error
                .to_string()
                .contains(&format!("HTTP {code}: refused with {code}")),
            "{error}"
        );
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(receiver.received().len(), 1, "{code} is not retried");
    }
}

#[test]
fn a_connection_closed_without_a_reply_is_retried() {
    let receiver = Receiver::start();
    receiver.then(Reply::Close);
    let mut exporter = exporter(&receiver);
    exporter.export(&some_spans(1), EXPORT_TIMEOUT).unwrap();
    assert_eq!(receiver.wait_for(2).len(), 2);
    assert_eq!(exporter.stats().counts().retries, 1);
}

#[test]
fn a_receiver_that_hangs_is_given_up_on_at_the_timeout() {
    let receiver = Receiver::start();
    receiver.then(Reply::Hang(Duration::from_secs(20)));
    let mut exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(receiver.url())
        .with_timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let error = exporter.export(&some_spans(1), EXPORT_TIMEOUT).unwrap_err();
    assert!(error.to_string().contains("timed out"), "{error}");
    assert_eq!(receiver.received().len(), 1, "no retry once the time is up");
}

#[test]
fn a_retry_after_past_the_deadline_gives_up_instead_of_sleeping() {
    let receiver = Receiver::start();
    receiver.then(Reply::status(429).with_header("retry-after", "3600"));
    let mut exporter = exporter(&receiver);
    let error = exporter
        .export(&some_spans(1), Duration::from_secs(5))
        .unwrap_err();
    assert!(
        error.to_string().contains("would pass the export timeout"),
        "{error}"
    );
    assert_eq!(receiver.received().len(), 1);
}

#[test]
fn partial_success_and_odd_reply_bodies_are_successes_not_retried() {
    let receiver = Receiver::start();
    let partial = ExportTraceServiceResponse {
        partial_success: Some(ExportTracePartialSuccess {
            rejected_spans: 1,
            error_message: "span too old".into(),
        }),
    };
    receiver
        .then(Reply::status(200).with_body("application/x-protobuf", &partial.encode_to_vec()))
        .then(Reply::status(200).with_body("application/json", br#"{"partialSuccess":null}"#))
        .then(Reply::status(200).with_body("text/plain", b"OK"))
        .then(Reply::status(202));
    let mut exporter = exporter(&receiver);
    for _ in 0..4 {
        exporter.export(&some_spans(2), EXPORT_TIMEOUT).unwrap();
    }
    assert_eq!(receiver.wait_for(4).len(), 4);
    let counts = exporter.stats().counts();
    assert_eq!(
        (counts.retries, counts.spans_rejected, counts.spans_exported),
        (0, 1, 8)
    );
}

#[test]
fn a_collector_that_is_down_costs_counted_drops_and_export_resumes_when_it_returns() {
    // A port with nothing listening on it.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(format!("http://{addr}/v1/traces"))
        .with_retry(RetryPolicy::new(
            Duration::from_millis(5),
            Duration::from_millis(10),
            2,
        ))
        .build()
        .unwrap();
    let stats = exporter.stats();
    let provider = TracerProvider::builder()
        .with_span_processor(
            BatchProcessor::builder(exporter)
                .with_scheduled_delay(Duration::from_millis(50))
                .build(),
        )
        .build();
    let tracer = provider.tracer("test");
    for i in 0..10 {
        tracer.start(format!("lost-{i}")).end();
    }
    provider.force_flush(Duration::from_secs(10)).unwrap();
    assert_eq!(
        provider.dropped_spans(),
        10,
        "every span of the failed export is counted"
    );
    let counts = stats.counts();
    assert_eq!(
        (counts.requests, counts.spans_failed),
        (2, 10),
        "one retry, then given up"
    );

    let receiver = Receiver::start_on(addr);
    for i in 0..3 {
        tracer.start(format!("kept-{i}")).end();
    }
    provider.force_flush(Duration::from_secs(10)).unwrap();
    let names: Vec<String> = receiver
        .wait_for_spans(3)
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["kept-0", "kept-1", "kept-2"]);
    assert_eq!(provider.dropped_spans(), 10);
}

#[test]
fn ending_spans_never_waits_for_a_receiver_that_hangs() {
    let receiver = Receiver::start();
    receiver.then(Reply::Hang(Duration::from_secs(15)));
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(receiver.url())
        .with_timeout(Duration::from_secs(15))
        .with_retry(RetryPolicy::none())
        .build()
        .unwrap();
    let provider = TracerProvider::builder()
        .with_span_processor(
            BatchProcessor::builder(exporter)
                .with_max_queue_size(100)
                .with_max_export_batch_size(10)
                .build(),
        )
        .build();
    let tracer = provider.tracer("test");
    for i in 0..10 {
        tracer.start(format!("first-{i}")).end();
    }
    // The export thread is now inside a request the receiver will not answer for 15 s...
    receiver.wait_for(1);
    // ...and ending spans still returns at once: 90 more fill the queue, the rest are dropped.
    for i in 0..1000 {
        tracer.start(format!("more-{i}")).end();
    }
    assert_eq!(provider.dropped_spans(), 1000 - 90);
    drop(receiver);
}

#[test]
fn exports_are_never_traced_even_inside_a_span() {
    let receiver = Receiver::start();
    let exporter = exporter(&receiver);
    // A simple processor exports on the thread that ends the span, inside the caller's context.
    let provider = TracerProvider::builder()
        .with_simple_exporter(exporter)
        .build();
    let tracer = provider.tracer("test");
    let outer = tracer.start("outer");
    let _guard = outer.context(&tracecore::Context::new()).attach();
    tracer.start("inner").end();
    let request = &receiver.wait_for(1)[0];
    assert_eq!(request.header("traceparent"), None);
    assert_eq!(request.span_names(), ["inner"]);
}

#[test]
fn after_shutdown_nothing_is_sent() {
    let receiver = Receiver::start();
    let mut exporter = exporter(&receiver);
    exporter.shutdown().unwrap();
    assert!(exporter.export(&some_spans(1), EXPORT_TIMEOUT).is_err());
    std::thread::sleep(Duration::from_millis(100));
    assert!(receiver.received().is_empty());
}

#[test]
fn a_shutdown_that_runs_out_of_time_cuts_a_retry_wait_short() {
    let receiver = Receiver::start();
    // Retry in 20 s, well within the export's 60 s: the export thread waits.
    receiver.then(Reply::status(503).with_header("retry-after", "20"));
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(receiver.url())
        .with_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let provider = TracerProvider::builder()
        .with_span_processor(
            BatchProcessor::builder(exporter)
                .with_max_export_batch_size(1)
                .with_export_timeout(Duration::from_secs(60))
                .build(),
        )
        .build();
    provider.tracer("test").start("waiting").end();
    receiver.wait_for(1);
    std::thread::sleep(Duration::from_millis(100));

    let start = std::time::Instant::now();
    let shutdown = provider.shutdown(Duration::from_millis(500));
    assert!(shutdown.unwrap_err().is_timeout());
    // The export gives up at once instead of sleeping out its 20 s: its span is counted soon.
    while provider.dropped_spans() < 1 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the retry wait was waited out"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(receiver.received().len(), 1, "no second attempt");
}

#[test]
fn a_retry_after_that_did_not_fit_holds_later_exports_back_until_it_passes() {
    let receiver = Receiver::start();
    receiver.then(Reply::status(503).with_header("retry-after", "1"));
    let mut exporter = exporter(&receiver);
    // The wait (1 s) does not fit this export's time: it fails, and the receiver's wish is kept.
    let first = exporter
        .export(&some_spans(2), Duration::from_millis(300))
        .unwrap_err();
    assert!(
        first.to_string().contains("would pass the export timeout"),
        "{first}"
    );
    // The next export within that second is not sent at all: failed and counted.
    let second = exporter.export(&some_spans(3), EXPORT_TIMEOUT).unwrap_err();
    assert!(second.to_string().contains("Retry-After"), "{second}");
    assert_eq!(receiver.received().len(), 1, "nothing sent while held");
    let counts = exporter.stats().counts();
    assert_eq!((counts.requests, counts.spans_failed), (1, 5));
    // Once it has passed, exports go out again.
    std::thread::sleep(Duration::from_millis(1100));
    exporter.export(&some_spans(1), EXPORT_TIMEOUT).unwrap();
    assert_eq!(receiver.wait_for(2)[1].span_names(), ["span-0"]);
    assert_eq!(exporter.stats().counts().spans_exported, 1);
}
