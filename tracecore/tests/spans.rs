//! Span lifecycle, status, limits, sampling decisions and parents, as a user relies on them.

#[path = "../../tests/support/remote.rs"]
mod remote;

use std::time::{Duration, SystemTime};

use remote::remote_parent;
use tracecore::export::InMemoryExporter;
use tracecore::propagation::{Propagator, TraceContextPropagator};
use tracecore::trace::{
    AlwaysOff, AlwaysOn, Sampler, SamplingDecision, SamplingParameters, SamplingResult, SpanKind,
    SpanLimits, Status, TracerProvider,
};
use tracecore::{Context, KeyValue, SeededIdGenerator, SpanContext, TraceFlags, Value};

fn provider() -> (TracerProvider, InMemoryExporter) {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_service_name("test-service")
        .with_sampler(AlwaysOn)
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

#[test]
fn a_span_ends_exactly_once_on_end_drop_or_unwind() {
    let (provider, exporter) = provider();
    let tracer = provider.tracer("t");

    let span = tracer.start("ended");
    let cx = span.context(&Context::new());
    span.end();
    // Updates through a context after the end are ignored, and nothing is exported twice.
    cx.span().set_attribute(KeyValue::new("late", true));
    assert!(!cx.span().is_recording());

    drop(tracer.start("dropped"));

    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _span = tracer.start("unwound");
        panic!("handler failed");
    }));
    assert!(result.is_err());

    let spans = exporter.finished_spans();
    assert_eq!(spans.names(), ["ended", "dropped", "unwound"]);
    assert!(spans.named("ended").attribute("late").is_none());
}

#[test]
fn status_precedence_ok_is_final_and_unset_is_ignored() {
    let (provider, exporter) = provider();
    let tracer = provider.tracer("t");
    let rows: Vec<(&'static str, Vec<Status>, Status)> = vec![
        ("default", vec![], Status::Unset),
        (
            "error replaces unset",
            vec![Status::error("a")],
            Status::error("a"),
        ),
        (
            "unset is ignored",
            vec![Status::error("a"), Status::Unset],
            Status::error("a"),
        ),
        (
            "a later error replaces",
            vec![Status::error("a"), Status::error("b")],
            Status::error("b"),
        ),
        (
            "ok replaces error",
            vec![Status::error("a"), Status::Ok],
            Status::Ok,
        ),
        (
            "ok is final",
            vec![Status::Ok, Status::error("b"), Status::Unset],
            Status::Ok,
        ),
    ];
    for (name, sets, _) in &rows {
        let span = tracer.start(*name);
        for s in sets {
            span.set_status(s.clone());
        }
    }
    let spans = exporter.finished_spans();
    for (name, _, expected) in rows {
        assert_eq!(spans.named(name).status, expected, "{name}");
    }
}

#[test]
fn limits_drop_and_count_new_items_and_cut_long_values() {
    let exporter = InMemoryExporter::new();
    let mut limits = SpanLimits::default();
    limits.max_attributes_per_span = 3;
    limits.max_events_per_span = 1;
    limits.max_links_per_span = 1;
    limits.max_attributes_per_event = 1;
    limits.max_attribute_value_length = Some(4);
    let provider = TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_span_limits(limits)
        .with_simple_exporter(exporter.clone())
        .build();
    let span = provider.tracer("t").start("limited");
    span.set_attributes([
        KeyValue::new("a", 1),
        KeyValue::new("b", 2),
        KeyValue::new("c", "long value"),
    ]);
    span.set_attribute(KeyValue::new("a", 10)); // replacing does not count
    span.set_attribute(KeyValue::new("d", 4)); // dropped
    span.add_event("first", vec![KeyValue::new("x", 1), KeyValue::new("y", 2)]);
    span.add_event("second", vec![]);
    let other =
        SpanContext::from_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    span.add_link(other.clone(), vec![]);
    span.add_link(other, vec![]);
    span.end();

    let spans = exporter.finished_spans();
    let s = spans.named("limited");
    assert_eq!(s.attributes.len(), 3);
    assert_eq!(s.attribute("a"), Some(&Value::I64(10)));
    assert_eq!(s.attribute("c").unwrap().as_str(), Some("long"));
    assert!(s.attribute("d").is_none());
    assert_eq!(s.dropped_attributes_count, 1);
    assert_eq!((s.events.len(), s.dropped_events_count), (1, 1));
    assert_eq!(s.events[0].dropped_attributes_count, 1);
    assert_eq!((s.links.len(), s.dropped_links_count), (1, 1));
}

#[test]
fn a_repeated_start_attribute_keeps_its_first_place_and_its_latest_value() {
    let exporter = InMemoryExporter::new();
    let mut limits = SpanLimits::default();
    limits.max_attributes_per_span = 3;
    let provider = TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_span_limits(limits)
        .with_span_processor(
            tracecore::export::BatchProcessor::builder(exporter.clone())
                .with_scheduled_delay(Duration::from_secs(3600))
                .build(),
        )
        .build();
    let tracer = provider.tracer("t");
    let span = tracer.span_builder("repeats").start_with_attributes(
        &Context::new(),
        [
            KeyValue::new("a", 1),
            KeyValue::new("b", 2),
            KeyValue::new("a", 3),
        ],
    );
    assert_eq!(span.span_ref().attribute("a"), Some(Value::I64(3)));
    // Two keys so far: a third fits under the limit of three.
    span.set_attribute(KeyValue::new("c", 4));
    span.set_attribute(KeyValue::new("a", 5));
    assert_eq!(span.span_ref().attribute("a"), Some(Value::I64(5)));
    span.set_attribute(KeyValue::new("d", 6)); // the fourth key: dropped
    span.end();
    provider.force_flush(Duration::from_secs(10)).unwrap();

    let spans = exporter.finished_spans();
    let s = spans.named("repeats");
    assert_eq!(
        s.attributes,
        [
            KeyValue::new("a", 5),
            KeyValue::new("b", 2),
            KeyValue::new("c", 4),
        ]
    );
    assert_eq!(s.dropped_attributes_count, 1);
}

#[derive(Debug)]
struct Outer(std::io::Error);
impl std::fmt::Display for Outer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("loading the item failed")
    }
}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn record_error_adds_an_exception_event_with_the_source_chain() {
    let (provider, exporter) = provider();
    let span = provider.tracer("t").start("failing");
    let err = Outer(std::io::Error::other("disk unplugged"));
    span.record_error(&err);
    span.record_error(&err as &dyn std::error::Error);
    span.end();
    let spans = exporter.finished_spans();
    let events = &spans.named("failing").events;
    assert_eq!(events.len(), 2);
    let attr = |i: usize, k: &str| {
        events[i]
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == k)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(events[0].name, "exception");
    assert_eq!(attr(0, "exception.type").as_deref(), Some("spans::Outer"));
    assert_eq!(
        attr(0, "exception.message").as_deref(),
        Some("loading the item failed: disk unplugged")
    );
    assert!(
        spans.named("failing").status == Status::Unset,
        "status is the caller's call"
    );
}

#[test]
fn parents_roots_and_remote_parents() {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_id_generator(SeededIdGenerator::new(7))
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("t");

    let remote = remote_parent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03",
        "vendor=1",
    );
    let server = tracer
        .span_builder("server")
        .with_kind(SpanKind::Server)
        .start_with_context(&remote);
    let server_cx = server.context(&remote);
    let child = tracer.span_builder("child").start_with_context(&server_cx);
    let root = tracer
        .span_builder("root")
        .start_with_context(&Context::new());
    let (child_cx, root_cx) = (child.span_context().clone(), root.span_context().clone());
    drop((child, root, server));

    let spans = exporter.finished_spans();
    let server = spans.named("server");
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "4bf92f3577b34da6a3ce929d0e0e4736"
    );
    assert_eq!(
        server.parent_span_id.unwrap().to_string(),
        "00f067aa0ba902b7"
    );
    assert!(server.parent_is_remote && server.is_local_root());
    assert_eq!(
        server.span_context.trace_state().as_str(),
        "vendor=1",
        "trace state carried"
    );
    assert!(
        server.span_context.flags().is_random(),
        "random flag copied from the caller"
    );
    assert!(!server.span_context.is_remote());
    spans.assert_parent("child", "server");
    assert!(!spans.named("child").parent_is_remote);
    assert_eq!(child_cx.trace_id(), server.span_context.trace_id());

    let root = spans.named("root");
    assert!(root.parent_span_id.is_none());
    assert_ne!(root.span_context.trace_id(), server.span_context.trace_id());
    assert_eq!(root_cx.flags(), TraceFlags::SAMPLED | TraceFlags::RANDOM);
}

#[test]
fn a_dropped_span_is_only_its_context_and_keeps_propagating() {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_sampler(AlwaysOff)
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("t");
    let parent =
        SpanContext::from_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
            .unwrap();
    let span = tracer.start_with_parent_for_test(&parent);
    assert!(!span.is_recording());
    span.set_attribute(KeyValue::new("ignored", 1));
    assert_eq!(span.span_context().trace_id(), parent.trace_id());
    assert_ne!(
        span.span_context().span_id(),
        parent.span_id(),
        "a new span id for the next hop"
    );
    assert!(!span.span_context().is_sampled());
    span.end();
    assert!(exporter.finished_spans().is_empty());
}

trait StartWithParent {
    fn start_with_parent_for_test(&self, parent: &SpanContext) -> tracecore::trace::Span;
}

impl StartWithParent for tracecore::trace::Tracer {
    fn start_with_parent_for_test(&self, parent: &SpanContext) -> tracecore::trace::Span {
        self.span_builder("op")
            .start_with_context(&Context::new().with_span_context(parent.clone()))
    }
}

#[derive(Debug)]
struct RecordOnly;
impl Sampler for RecordOnly {
    fn should_sample(&self, _params: &SamplingParameters<'_>) -> SamplingResult {
        let mut r = SamplingResult::new(SamplingDecision::RecordOnly);
        r.attributes
            .push(KeyValue::new("sampler.note", "record-only"));
        r
    }
    fn description(&self) -> String {
        "RecordOnly".into()
    }
}

#[test]
fn record_only_spans_record_but_are_not_exported() {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_sampler(RecordOnly)
        .with_simple_exporter(exporter.clone())
        .build();
    let span = provider.tracer("t").start("quiet");
    assert!(span.is_recording());
    assert!(!span.span_context().is_sampled());
    assert_eq!(
        span.span_ref()
            .attribute("sampler.note")
            .and_then(|v| v.as_str().map(str::to_owned)),
        Some("record-only".to_owned())
    );
    span.end();
    assert!(exporter.finished_spans().is_empty());
}

#[test]
fn the_current_span_is_reachable_from_deep_inside() {
    fn deep_inside() {
        let cx = Context::current();
        cx.span().set_attribute(KeyValue::new("found.me", true));
        cx.span().add_event("checkpoint", vec![]);
    }
    let (provider, exporter) = provider();
    let tracer = provider.tracer("t");
    tracer.in_span("outer", |_| deep_inside());
    let spans = exporter.finished_spans();
    let outer = spans.named("outer");
    assert_eq!(outer.attribute("found.me"), Some(&Value::Bool(true)));
    assert_eq!(outer.events[0].name, "checkpoint");
    assert!(outer.events[0].time >= outer.start_time && outer.events[0].time <= outer.end_time);
}

#[test]
fn times_rename_and_late_links() {
    let (provider, exporter) = provider();
    let tracer = provider.tracer("t");
    let span = tracer.start("before");
    span.update_name("after");
    span.add_link(
        SpanContext::from_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap(),
        vec![KeyValue::new("link.reason", "retry of")],
    );
    span.end();
    let fixed = tracer
        .span_builder("fixed")
        .with_start_time(SystemTime::UNIX_EPOCH + Duration::from_secs(100))
        .start();
    fixed.end_with_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(50));

    let spans = exporter.finished_spans();
    let after = spans.named("after");
    assert!(after.end_time >= after.start_time);
    assert_eq!(after.links.len(), 1);
    let fixed = spans.named("fixed");
    assert_eq!(
        fixed.end_time, fixed.start_time,
        "an end before the start is clamped"
    );
}

#[test]
fn providers_side_by_side_keep_their_own_service_names() {
    let exporter = InMemoryExporter::new();
    let make = |name: &'static str| {
        TracerProvider::builder()
            .with_service_name(name)
            .with_sampler(AlwaysOn)
            .with_simple_exporter(exporter.clone())
            .build()
    };
    let (client, gateway) = (make("client"), make("gateway"));
    let outer = client.tracer("t").start("call");
    let inner = gateway
        .tracer("t")
        .span_builder("serve")
        .start_with_context(&outer.context(&Context::new()));
    drop((inner, outer));
    let spans = exporter.finished_spans();
    assert_eq!(spans.named("call").resource.service_name(), "client");
    assert_eq!(spans.named("serve").resource.service_name(), "gateway");
    spans.assert_parent("serve", "call");
}

#[test]
fn a_disabled_provider_records_nothing_but_propagation_continues() {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_disabled(true)
        .with_simple_exporter(exporter.clone())
        .build();
    let parent =
        SpanContext::from_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    let span = provider.tracer("t").start_with_parent_for_test(&parent);
    assert!(!span.is_recording());
    let mut out = http::HeaderMap::new();
    TraceContextPropagator::new().inject_context(&span.context(&Context::new()), &mut out);
    let sent = out["traceparent"].to_str().unwrap().to_owned();
    assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
    assert!(
        sent.ends_with("-01"),
        "the caller's sampled flag passes through: {sent}"
    );
    assert!(
        !sent.contains("00f067aa0ba902b7"),
        "a new parent-id: {sent}"
    );
    span.end();
    assert!(exporter.finished_spans().is_empty());
}

#[test]
fn without_processors_spans_do_not_record_but_their_context_propagates() {
    // What OTEL_TRACES_EXPORTER=none gives: nobody would see the span, so it is only a context.
    let provider = TracerProvider::builder().build();
    let tracer = provider.tracer("none");
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "traceparent",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            .parse()
            .unwrap(),
    );
    let parent = tracecore::propagation::default().extract(&headers);
    let span = tracer.span_builder("GET").start_with_context(&parent);
    assert!(!span.is_recording());
    let cx = span.span_context();
    assert_eq!(cx.trace_id(), parent.span_context().unwrap().trace_id());
    assert_ne!(cx.span_id(), parent.span_context().unwrap().span_id());
    assert!(cx.is_sampled(), "the sampler's decision still travels");
}

/// Samples by an attribute: only spans whose `http.route` is `/keep`.
#[derive(Debug)]
struct ByRoute;
impl Sampler for ByRoute {
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        let attributes = params.attributes;
        let keep = attributes
            .iter()
            .any(|kv| kv.key.as_str() == "http.route" && kv.value.as_str() == Some("/keep"));
        SamplingResult::new(if keep {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        })
    }
    fn description(&self) -> String {
        "ByRoute".into()
    }
}

#[test]
fn lazy_attributes_are_seen_by_a_sampler_that_reads_them_and_skipped_for_one_that_does_not() {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_sampler(ByRoute)
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("t");
    for route in ["/keep", "/drop"] {
        tracer
            .span_builder(route)
            .start_with_lazy_attributes(&Context::new(), || [KeyValue::new("http.route", route)])
            .end();
    }
    assert_eq!(
        exporter.finished_spans().names(),
        ["/keep"],
        "the sampler saw the attributes"
    );

    let built = std::cell::Cell::new(0);
    let off = TracerProvider::builder()
        .with_sampler(tracecore::trace::ParentBased::new(
            tracecore::trace::AlwaysOff,
        ))
        .with_simple_exporter(InMemoryExporter::new())
        .build();
    let span = off
        .tracer("t")
        .span_builder("x")
        .start_with_lazy_attributes(&Context::new(), || {
            built.set(built.get() + 1);
            [KeyValue::new("k", 1)]
        });
    assert!(!span.is_recording());
    assert_eq!(
        built.get(),
        0,
        "a built-in sampler does not read them: none were built"
    );
}

/// Samples by name: only spans named `GET /keep`.
#[derive(Debug)]
struct ByName;
impl Sampler for ByName {
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        let name = params.name;
        SamplingResult::new(if name == "GET /keep" {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        })
    }
    fn description(&self) -> String {
        "ByName".into()
    }
}

#[test]
fn a_described_span_shows_its_name_to_a_sampler_that_reads_and_is_not_described_otherwise() {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_sampler(ByName)
        .with_simple_exporter(exporter.clone())
        .build();
    for route in ["/keep", "/drop"] {
        provider
            .tracer("t")
            .span_builder("GET")
            .start_described(&Context::new(), || {
                (
                    format!("GET {route}").into(),
                    [KeyValue::new("http.route", route)],
                )
            })
            .end();
    }
    let spans = exporter.finished_spans();
    assert_eq!(spans.names(), ["GET /keep"], "the sampler saw the name");
    assert_eq!(
        spans
            .named("GET /keep")
            .attribute("http.route")
            .and_then(|v| v.as_str()),
        Some("/keep")
    );

    let described = std::cell::Cell::new(0);
    let on = InMemoryExporter::new();
    let built_in = TracerProvider::builder()
        .with_sampler(tracecore::trace::TraceIdRatioBased::new(0.0))
        .with_simple_exporter(on.clone())
        .build();
    let tracer = built_in.tracer("t");
    let span = tracer
        .span_builder("GET")
        .start_described(&Context::new(), || {
            described.set(described.get() + 1);
            ("GET /items/{id}".into(), [KeyValue::new("k", 1)])
        });
    assert!(!span.is_recording());
    assert_eq!(
        described.get(),
        0,
        "sampled out: neither name nor attributes made"
    );
    drop(span);
    let always = TracerProvider::builder()
        .with_simple_exporter(on.clone())
        .build();
    always
        .tracer("t")
        .span_builder("GET")
        .start_described(&Context::new(), || {
            described.set(described.get() + 1);
            ("GET /items/{id}".into(), [KeyValue::new("k", 1)])
        })
        .end();
    assert_eq!(described.get(), 1, "made once for a span that records");
    assert_eq!(on.finished_spans().names(), ["GET /items/{id}"]);
}

/// Copies the parent context's baggage onto each span as it starts: what `on_start` is for.
#[derive(Debug)]
struct BaggageOnStart;

impl tracecore::export::SpanProcessor for BaggageOnStart {
    fn on_start(&self, span: tracecore::trace::SpanRef<'_>, parent: &Context) {
        for entry in parent.baggage().iter() {
            span.set_attribute(KeyValue::new(
                format!("baggage.{}", entry.key()),
                entry.value().to_owned(),
            ));
        }
    }
    fn on_end(&self, _: tracecore::trace::SpanData) {}
    fn force_flush(&self, _: std::time::Duration) -> Result<(), tracecore::export::FlushError> {
        Ok(())
    }
    fn shutdown(&self, _: std::time::Duration) -> Result<(), tracecore::export::FlushError> {
        Ok(())
    }
}

#[test]
fn a_processor_that_needs_on_start_sees_every_span_start() {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_span_processor(BaggageOnStart)
        .with_simple_exporter(exporter.clone())
        .build();
    let mut baggage = tracecore::Baggage::default();
    baggage.insert("tenant", "acme").unwrap();
    let parent = Context::new().with_baggage(baggage);
    provider
        .tracer("t")
        .span_builder("work")
        .start_with_context(&parent)
        .end();
    let spans = exporter.finished_spans();
    assert_eq!(
        spans
            .named("work")
            .attribute("baggage.tenant")
            .and_then(|v| v.as_str()),
        Some("acme")
    );
}
