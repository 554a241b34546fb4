//! The same `tracing` code under `TracecoreLayer` and under tracing-opentelemetry 0.34 (with
//! opentelemetry_sdk 0.33), and what each exports compared: span names, statuses, attributes,
//! span events. Every row of the README's migration table that says "the same" is a scenario
//! here. The peer runs without its thread and busy/idle attributes (not offered by tracecore),
//! and with its location only where tracecore's is on (off by default in tracecore).

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt;

use opentelemetry::trace::TracerProvider as _;
use tracecore::export::InMemoryExporter;
use tracecore::trace::{Status, TracerProvider};
use tracecore_tracing::{TracecoreLayer, TracingSpanExt};
use tracing::Level;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

/// One exported span, as both sides can say it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    name: String,
    kind: String,
    status: String,
    attributes: BTreeMap<String, String>,
    events: Vec<(String, BTreeMap<String, String>)>,
}

/// The switches both layers have.
#[derive(Clone, Copy, Default)]
struct Options {
    events_to_status: Option<bool>,
    events_to_exceptions: Option<bool>,
    fields_to_exceptions: Option<bool>,
    records_to_exceptions: Option<bool>,
    location: bool,
    target: Option<bool>,
    level: Option<bool>,
    /// Events recorded at this level or more severe, all of them counted.
    counted_from: Option<Level>,
}

fn ours(options: Options, f: impl FnOnce()) -> Vec<Seen> {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let mut layer =
        TracecoreLayer::new(provider.tracer("parity")).with_code_location(options.location);
    if let Some(on) = options.events_to_status {
        layer = layer.with_error_events_to_status(on);
    }
    if let Some(on) = options.events_to_exceptions {
        layer = layer.with_error_events_to_exceptions(on);
    }
    if let Some(on) = options.fields_to_exceptions {
        layer = layer.with_error_fields_to_exceptions(on);
    }
    if let Some(on) = options.records_to_exceptions {
        layer = layer.with_error_records_to_exceptions(on);
    }
    if let Some(on) = options.target {
        layer = layer.with_target(on);
    }
    if let Some(on) = options.level {
        layer = layer.with_level(on);
    }
    if let Some(level) = options.counted_from {
        layer = layer.with_event_level(level).with_event_count(true);
    }
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f);
    exporter
        .finished_spans()
        .iter()
        .map(|span| Seen {
            name: span.name.to_string(),
            kind: format!("{:?}", span.kind),
            status: match &span.status {
                Status::Unset => "Unset".to_owned(),
                Status::Ok => "Ok".to_owned(),
                Status::Error { description } => format!("Error({description})"),
            },
            attributes: ours_map(&span.attributes),
            events: span
                .events
                .iter()
                .map(|e| (e.name.to_string(), ours_map(&e.attributes)))
                .collect(),
        })
        .collect()
}

fn ours_map(attributes: &[tracecore::KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = match &kv.value {
                tracecore::Value::String(s) => s.to_string(),
                tracecore::Value::Array(tracecore::Array::String(items)) => format!("{items:?}"),
                other => other.to_string(),
            };
            (kv.key.as_str().to_owned(), value)
        })
        .collect()
}

fn theirs(options: Options, f: impl FnOnce()) -> Vec<Seen> {
    let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let mut layer = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer("parity"))
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_location(options.location);
    if let Some(on) = options.events_to_status {
        layer = layer.with_error_events_to_status(on);
    }
    if let Some(on) = options.events_to_exceptions {
        layer = layer.with_error_events_to_exceptions(on);
    }
    if let Some(on) = options.fields_to_exceptions {
        layer = layer.with_error_fields_to_exceptions(on);
    }
    if let Some(on) = options.records_to_exceptions {
        layer = layer.with_error_records_to_exceptions(on);
    }
    if let Some(on) = options.target {
        layer = layer.with_target(on);
    }
    if let Some(on) = options.level {
        layer = layer.with_level(on);
    }
    match options.counted_from {
        Some(level) => tracing::subscriber::with_default(
            tracing_subscriber::registry()
                .with(layer.with_counting_event_filter(LevelFilter::from_level(level))),
            f,
        ),
        None => tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), f),
    }
    exporter
        .get_finished_spans()
        .unwrap()
        .iter()
        .map(|span| Seen {
            name: span.name.to_string(),
            kind: format!("{:?}", span.span_kind),
            status: match &span.status {
                opentelemetry::trace::Status::Unset => "Unset".to_owned(),
                opentelemetry::trace::Status::Ok => "Ok".to_owned(),
                opentelemetry::trace::Status::Error { description } => {
                    format!("Error({description})")
                }
            },
            attributes: theirs_map(&span.attributes),
            events: span
                .events
                .iter()
                .map(|e| (e.name.to_string(), theirs_map(&e.attributes)))
                .collect(),
        })
        .collect()
}

fn theirs_map(attributes: &[opentelemetry::KeyValue]) -> BTreeMap<String, String> {
    attributes
        .iter()
        .map(|kv| {
            let value = match &kv.value {
                opentelemetry::Value::String(s) => s.as_str().to_owned(),
                opentelemetry::Value::Array(opentelemetry::Array::String(items)) => {
                    format!("{:?}", items.iter().map(|s| s.as_str()).collect::<Vec<_>>())
                }
                other => other.to_string(),
            };
            (kv.key.as_str().to_owned(), value)
        })
        .collect()
}

/// Runs `f` under both layers and asserts they export the same spans; returns them.
fn same(options: Options, f: impl Fn()) -> Vec<Seen> {
    let ours = ours(options, &f);
    let theirs = theirs(options, &f);
    assert_eq!(
        ours, theirs,
        "tracecore (left) and tracing-opentelemetry (right)"
    );
    assert!(!ours.is_empty(), "the scenario records something");
    ours
}

/// An error with a source, as services have them.
#[derive(Debug)]
struct LoadFailed(std::io::Error);

impl fmt::Display for LoadFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("loading the item failed")
    }
}

impl Error for LoadFailed {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

fn failure() -> LoadFailed {
    LoadFailed(std::io::Error::other("disk full"))
}

#[tracing::instrument(err)]
fn load(id: u32) -> Result<(), LoadFailed> {
    Err(failure())
}

#[tracing::instrument(err(Debug))]
fn load_debug(id: u32) -> Result<(), LoadFailed> {
    Err(failure())
}

fn instrumented() {
    let _ = load(7);
    let _ = load_debug(8);
}

#[test]
fn instrument_err_puts_the_error_text_in_the_status_and_an_exception_event() {
    let spans = same(Options::default(), instrumented);
    let load = spans.iter().find(|s| s.name == "load").unwrap();
    assert_eq!(load.status, "Error(loading the item failed)");
    assert_eq!(load.events[0].0, "exception");
    assert_eq!(
        load.events[0].1["exception.message"],
        "loading the item failed"
    );
    assert!(
        !load.events[0].1.contains_key("message"),
        "no free message attribute"
    );
}

#[test]
fn the_error_event_switches_mean_the_same() {
    for (status, exceptions) in [(false, true), (true, false), (false, false)] {
        let options = Options {
            events_to_status: Some(status),
            events_to_exceptions: Some(exceptions),
            ..Options::default()
        };
        let spans = same(options, instrumented);
        let load = spans.iter().find(|s| s.name == "load").unwrap();
        if !status {
            assert_eq!(
                load.status, "Error()",
                "an ERROR event still makes it an error"
            );
        }
    }
}

#[test]
fn an_error_given_as_plain_text_or_after_a_message() {
    same(Options::default(), || {
        let span = tracing::info_span!("work");
        span.in_scope(|| {
            tracing::warn!(error = "quota exceeded");
            tracing::error!(error = %failure(), "while loading");
        });
    });
}

#[test]
fn status_fields_mean_the_same() {
    let spans = same(Options::default(), || {
        tracing::info_span!("described", otel.status_description = "bad input").in_scope(|| {});
        tracing::info_span!("coded", otel.status_code = "error").in_scope(|| {});
        tracing::info_span!(
            "both",
            otel.status_code = "error",
            otel.status_description = "bad input"
        )
        .in_scope(|| {});
        tracing::info_span!("ok", otel.status_code = "ok").in_scope(|| {});
        let later = tracing::info_span!("later", otel.status_description = tracing::field::Empty);
        later.record("otel.status_description", "found late");
        tracing::info_span!(
            "named by field",
            otel.name = "GET /items",
            otel.kind = "client"
        )
        .in_scope(|| {});
    });
    let described = spans.iter().find(|s| s.name == "described").unwrap();
    assert_eq!(
        described.status, "Error(bad input)",
        "a description alone is an error"
    );
}

#[test]
fn an_error_in_a_span_field_records_its_chain_and_exception_attributes() {
    for fields in [None, Some(false)] {
        let options = Options {
            fields_to_exceptions: fields,
            ..Options::default()
        };
        let spans = same(options, || {
            let error = failure();
            tracing::info_span!("s", error = &error as &dyn Error).in_scope(|| {});
        });
        assert_eq!(spans[0].attributes["error.chain"], "[\"disk full\"]");
    }
}

#[test]
fn an_error_on_an_event_reaches_its_span_too() {
    for records in [None, Some(false)] {
        let options = Options {
            records_to_exceptions: records,
            ..Options::default()
        };
        let spans = same(options, || {
            tracing::info_span!("s").in_scope(|| {
                let error = failure();
                tracing::error!(error = &error as &dyn Error, "load failed");
                tracing::warn!(cause = &error as &dyn Error);
            });
        });
        assert_eq!(
            spans[0].attributes.contains_key("exception.message"),
            records.is_none()
        );
    }
}

#[test]
fn code_location_names_the_file_module_and_line() {
    let options = Options {
        location: true,
        ..Options::default()
    };
    let spans = same(options, || {
        tracing::info_span!("located").in_scope(|| tracing::info!("here"));
    });
    for key in ["code.file.path", "code.module.name", "code.line.number"] {
        assert!(spans[0].attributes.contains_key(key), "{key}");
        assert!(spans[0].events[0].1.contains_key(key), "{key} on the event");
    }
}

#[test]
fn target_and_level_on_spans() {
    for (target, level) in [(None, None), (Some(false), Some(true))] {
        let options = Options {
            target,
            level,
            ..Options::default()
        };
        same(options, || {
            tracing::warn_span!("s", answer = 42).in_scope(|| tracing::info!(n = 1, "step"));
        });
    }
}

#[test]
fn the_event_count_counts_the_events_left_out_too() {
    let options = Options {
        counted_from: Some(Level::WARN),
        ..Options::default()
    };
    let spans = same(options, || {
        tracing::info_span!("busy").in_scope(|| {
            tracing::debug!("left out");
            tracing::info!("left out");
            tracing::warn!("kept");
        });
        tracing::info_span!("quiet").in_scope(|| {});
    });
    let busy = spans.iter().find(|s| s.name == "busy").unwrap();
    assert_eq!(busy.attributes["otel.tracing_event_count"], "3");
    assert_eq!(busy.events.len(), 1);
}

#[test]
fn events_added_through_the_span_extension() {
    let ours = ours(Options::default(), || {
        let span = tracing::info_span!("s");
        span.set_attribute("cache.hit", false);
        span.set_status(Status::error("cache down"));
        span.add_event(
            "cache miss",
            vec![tracecore::KeyValue::new("key", "item:7")],
        );
        let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        span.add_event_with_timestamp("retried", at, vec![]);
    });
    let theirs = theirs(Options::default(), || {
        use tracing_opentelemetry::OpenTelemetrySpanExt as Peer;
        let span = tracing::info_span!("s");
        Peer::set_attribute(&span, "cache.hit", false);
        Peer::set_status(&span, opentelemetry::trace::Status::error("cache down"));
        Peer::add_event(
            &span,
            "cache miss",
            vec![opentelemetry::KeyValue::new("key", "item:7")],
        );
        let at = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        Peer::add_event_with_timestamp(&span, "retried", at, vec![]);
    });
    assert_eq!(ours, theirs);
}
