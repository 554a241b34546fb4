//! `OTEL_*` variables. Each case runs this test binary again as a child process with the
//! variables set (changing the environment of a running multi-threaded test is not sound), and
//! the child checks the behaviour and prints the warnings it received.

use std::time::Duration;

use tracecore::export::{BatchConfig, InMemoryExporter};
use tracecore::propagation::Propagator;
use tracecore::trace::{SpanLimits, TracerProvider};
use tracecore::{Context, KeyValue, SpanContext};

#[path = "../../tests/support/child_env.rs"]
mod child_env;

use child_env::{child_warnings, report, run_child};

#[test]
fn sdk_disabled_stops_recording_but_not_propagation() {
    run_child("child_sdk_disabled", &[("OTEL_SDK_DISABLED", "TRUE")]);
    let err = run_child(
        "child_sdk_disabled_other_values",
        &[("OTEL_SDK_DISABLED", "yes")],
    );
    assert!(
        err.contains("WARNING OTEL_SDK_DISABLED: value \"yes\" is not true or false; using false"),
        "{err}"
    );
}

#[test]
#[ignore = "run by sdk_disabled_stops_recording_but_not_propagation in a child process"]
fn child_sdk_disabled() {
    let Some(_w) = child_warnings() else { return };
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    assert!(provider.is_disabled());
    let parent =
        SpanContext::from_traceparent(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
            .unwrap();
    let span = provider
        .tracer("t")
        .span_builder("s")
        .start_with_context(&Context::new().with_span_context(parent.clone()));
    assert!(!span.is_recording());
    assert_eq!(span.span_context().trace_id(), parent.trace_id());
    assert_ne!(span.span_context().span_id(), parent.span_id());
    span.end();
    assert!(exporter.finished_spans().is_empty());
    // Propagators are not affected by OTEL_SDK_DISABLED.
    assert_eq!(
        tracecore::propagation::from_env().fields(),
        ["traceparent", "tracestate", "baggage"]
    );
}

#[test]
#[ignore = "run by sdk_disabled_stops_recording_but_not_propagation in a child process"]
fn child_sdk_disabled_other_values() {
    let Some(w) = child_warnings() else { return };
    assert!(!TracerProvider::builder().build().is_disabled());
    report(&w);
}

#[test]
fn service_name_and_resource_attributes() {
    run_child(
        "child_service_name",
        &[
            ("OTEL_SERVICE_NAME", "from-service-name"),
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attributes,team=payments%20core",
            ),
        ],
    );
    let err = run_child(
        "child_bad_resource_attributes",
        &[("OTEL_RESOURCE_ATTRIBUTES", "team=ok,broken")],
    );
    assert!(
        err.contains("WARNING OTEL_RESOURCE_ATTRIBUTES: member \"broken\" has no `=`; the whole variable is ignored"),
        "{err}"
    );
}

#[test]
#[ignore = "run by service_name_and_resource_attributes in a child process"]
fn child_service_name() {
    let Some(_w) = child_warnings() else { return };
    let provider = TracerProvider::builder().build();
    assert_eq!(provider.resource().service_name(), "from-service-name");
    assert_eq!(
        provider.resource().get("team").unwrap().as_str(),
        Some("payments core")
    );
    let coded = TracerProvider::builder()
        .with_service_name("from-code")
        .build();
    assert_eq!(coded.resource().service_name(), "from-code", "code wins");
}

#[test]
#[ignore = "run by service_name_and_resource_attributes in a child process"]
fn child_bad_resource_attributes() {
    let Some(w) = child_warnings() else { return };
    let provider = TracerProvider::builder().build();
    assert!(
        provider.resource().get("team").is_none(),
        "the whole variable is discarded"
    );
    assert!(
        provider
            .resource()
            .service_name()
            .starts_with("unknown_service:")
    );
    report(&w);
}

#[test]
fn sampler_from_the_environment() {
    run_child("child_sampler", &[("OTEL_TRACES_SAMPLER", "always_off")]);
    let err = run_child(
        "child_sampler_bad_arg",
        &[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ],
    );
    assert!(
        err.contains(
            "WARNING OTEL_TRACES_SAMPLER_ARG: value \"2\" is not a ratio between 0 and 1; using 1.0"
        ),
        "{err}"
    );
}

#[test]
#[ignore = "run by sampler_from_the_environment in a child process"]
fn child_sampler() {
    let Some(_w) = child_warnings() else { return };
    let provider = TracerProvider::builder().build();
    assert_eq!(provider.sampler_description(), "AlwaysOffSampler");
    assert!(!provider.tracer("t").start("s").is_recording());
}

#[test]
#[ignore = "run by sampler_from_the_environment in a child process"]
fn child_sampler_bad_arg() {
    let Some(w) = child_warnings() else { return };
    let provider = TracerProvider::builder().build();
    assert_eq!(provider.sampler_description(), "ProbabilitySampler{1}");
    report(&w);
}

#[test]
fn batch_and_limit_variables() {
    let err = run_child(
        "child_batch_and_limits",
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "abc"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
            ("OTEL_BSP_SCHEDULE_DELAY", "250"),
            ("OTEL_BSP_EXPORT_TIMEOUT", "-5"),
            ("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "2"),
            ("OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "3"),
        ],
    );
    assert!(err.contains("WARNING OTEL_BSP_MAX_QUEUE_SIZE: value \"abc\" is not a non-negative integer; using the default"), "{err}");
    assert!(err.contains("WARNING OTEL_BSP_EXPORT_TIMEOUT: value \"-5\" is not a whole number of milliseconds; using the default"), "{err}");
}

#[test]
#[ignore = "run by batch_and_limit_variables in a child process"]
fn child_batch_and_limits() {
    let Some(w) = child_warnings() else { return };
    let config = BatchConfig::from_env();
    assert_eq!(config.max_queue_size, 2048);
    assert_eq!(config.max_export_batch_size, 64);
    assert_eq!(config.scheduled_delay, Duration::from_millis(250));
    assert_eq!(config.export_timeout, Duration::from_secs(30));
    let limits = SpanLimits::from_env();
    assert_eq!(limits.max_attributes_per_span, 2);
    assert_eq!(limits.max_attribute_value_length, Some(3));

    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let span = provider.tracer("t").start("limited");
    span.set_attributes([
        KeyValue::new("a", "abcdef"),
        KeyValue::new("b", 1),
        KeyValue::new("c", 2),
    ]);
    span.end();
    let spans = exporter.finished_spans();
    let s = spans.named("limited");
    assert_eq!(s.attribute("a").unwrap().as_str(), Some("abc"));
    assert_eq!(s.dropped_attributes_count, 1);
    report(&w);
}
