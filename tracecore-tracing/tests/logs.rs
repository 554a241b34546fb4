//! `tracing` events as log records (`LogLayer`): every field of the mapping, the ids of the span
//! an event was written in (a SERVER span over real sockets, an `#[instrument]` fn inside it, a
//! spawned `.instrument` task, an explicit parent, no span at all), no feedback from tracecore's
//! own threads, and the limits.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::error::Error;
use std::fmt;

use axum::Router;
use axum::routing::get;
use tracecore::logs::{InMemoryLogExporter, LogLimits, LogRecord, LoggerProvider, Severity};
use tracecore::trace::TracerProvider;
use tracecore::{KeyValue, TraceId, Value};
use tracecore_tower::ServerLayer;
use tracecore_tracing::{LogLayer, TracecoreLayer, TracingSpanExt};
use tracing::Instrument;
use tracing::dispatcher::Dispatch;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;

use support::{http_client, recording_provider, serve, wait_for_spans};

fn logs() -> (LoggerProvider, InMemoryLogExporter) {
    let exporter = InMemoryLogExporter::new();
    let provider = LoggerProvider::builder()
        .with_service_name("inventory")
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

fn subscriber(traces: &TracerProvider, logs: &LoggerProvider) -> Dispatch {
    tracing_subscriber::registry()
        .with(TracecoreLayer::new(traces.tracer("bridge")))
        .with(LogLayer::new(logs.clone()))
        .into()
}

fn attr<'a>(record: &'a LogRecord, key: &str) -> Option<&'a Value> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| &kv.value)
}

#[derive(Debug)]
struct StorageError(std::io::Error);

impl fmt::Display for StorageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("reading the item failed")
    }
}

impl Error for StorageError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn each_event_maps_field_by_field() {
    let (traces, _spans) = recording_provider("inventory");
    let (logs, exporter) = logs();
    let before = std::time::SystemTime::now();
    tracing::dispatcher::with_default(&subscriber(&traces, &logs), || {
        tracing::trace!("t");
        tracing::debug!("d");
        tracing::info!(
            item.id = 7,
            ratio = 0.5,
            cached = false,
            label = "x",
            "found"
        );
        tracing::warn!(name: "stock.low", remaining = 2, "running out");
        let e = StorageError(std::io::Error::other("disk full"));
        tracing::error!(error = &e as &dyn Error, "cannot read");
    });
    let records = exporter.finished_records();
    assert_eq!(records.len(), 5);
    let severities: Vec<_> = records
        .iter()
        .map(|r| (r.severity.number(), r.severity_text.as_deref().unwrap()))
        .collect();
    assert_eq!(
        severities,
        [
            (1, "TRACE"),
            (5, "DEBUG"),
            (9, "INFO"),
            (13, "WARN"),
            (17, "ERROR")
        ]
    );
    let found = &records[2];
    assert_eq!(found.body, Some(Value::from("found")));
    assert_eq!(attr(found, "item.id"), Some(&Value::I64(7)));
    assert_eq!(attr(found, "ratio"), Some(&Value::F64(0.5)));
    assert_eq!(attr(found, "cached"), Some(&Value::Bool(false)));
    assert_eq!(attr(found, "label"), Some(&Value::from("x")));
    assert!(attr(found, "message").is_none(), "the message is the body");
    assert_eq!(found.scope.name(), "logs", "scope = the event's target");
    assert_eq!(found.resource.service_name(), "inventory");
    assert_eq!(found.event_name, None, "an event without `name:` has none");
    let time = found.timestamp.unwrap();
    assert!(
        time >= before && time <= std::time::SystemTime::now(),
        "never zero"
    );
    assert!(found.observed_timestamp.is_some());
    assert_eq!(records[3].event_name.as_deref(), Some("stock.low"));
    let failed = &records[4];
    assert_eq!(
        attr(failed, "exception.message")
            .map(ToString::to_string)
            .as_deref(),
        Some("reading the item failed")
    );
    assert_eq!(
        attr(failed, "exception.stacktrace")
            .map(ToString::to_string)
            .as_deref(),
        Some("[\"disk full\"]")
    );
    // Outside any span: no ids.
    assert!(
        records
            .iter()
            .all(|r| r.trace_id.is_none() && r.span_id.is_none())
    );
}

#[tracing::instrument]
async fn load_item(id: u64) -> &'static str {
    tracing::info!(id, "loading");
    "an item"
}

#[test]
fn an_event_carries_the_ids_of_the_span_it_was_written_in() {
    let (traces, spans) = recording_provider("inventory");
    let (logs, exporter) = logs();
    let dispatch = subscriber(&traces, &logs);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _default = tracing::dispatcher::set_default(&dispatch);
    rt.block_on(async {
        // In a handler under ServerLayer, and in an #[instrument] fn called from it.
        let router = Router::new()
            .route(
                "/items/{id}",
                get(|| async {
                    tracing::info!("handling");
                    load_item(7).await
                }),
            )
            .layer(ServerLayer::new(traces.tracer("server")));
        let addr = serve(router).await;
        let reply = http_client()
            .get(format!("http://{addr}/items/7"))
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 200);
        let finished = wait_for_spans(&spans, 2).await;
        let server = finished.named("GET /items/{id}");
        let load = finished.named("load_item");
        let records = exporter.finished_records();
        let handling = records
            .iter()
            .find(|r| r.body == Some(Value::from("handling")))
            .unwrap();
        let loading = records
            .iter()
            .find(|r| r.body == Some(Value::from("loading")))
            .unwrap();
        assert_eq!(
            handling.trace_id.unwrap().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(handling.span_id, Some(server.span_context.span_id()));
        assert!(handling.trace_flags.is_sampled());
        assert_eq!(loading.span_id, Some(load.span_context.span_id()));

        // A spawned task carrying its span, and an explicit parent.
        let task_span = tracing::info_span!("job");
        let task_ids = task_span.context().span_context().cloned().unwrap();
        tokio::spawn(async { tracing::info!("in the job") }.instrument(task_span))
            .await
            .unwrap();
        let parent = tracing::info_span!("parent");
        let parent_ids = parent.context().span_context().cloned().unwrap();
        tracing::info!(parent: &parent, "to the parent");
        tracing::info!(parent: None, "to nobody");
        let records = exporter.finished_records();
        let by_body = |body: &'static str| {
            records
                .iter()
                .find(|r| r.body == Some(Value::from(body)))
                .unwrap()
        };
        assert_eq!(by_body("in the job").span_id, Some(task_ids.span_id()));
        assert_eq!(by_body("to the parent").span_id, Some(parent_ids.span_id()));
        assert_eq!(by_body("to nobody").trace_id, None::<TraceId>);
    });
}

#[test]
fn events_on_tracecores_own_threads_are_not_recorded() {
    let (logs, exporter) = logs();
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(LogLayer::new(logs))
        .into();
    let d = dispatch.clone();
    std::thread::Builder::new()
        .name("tracecore-export".into())
        .spawn(move || {
            tracing::dispatcher::with_default(&d, || tracing::warn!("from the exporter"))
        })
        .unwrap()
        .join()
        .unwrap();
    tracing::dispatcher::with_default(&dispatch, || tracing::warn!("from the service"));
    let bodies: Vec<_> = exporter
        .finished_records()
        .into_iter()
        .map(|r| r.body)
        .collect();
    assert_eq!(bodies, [Some(Value::from("from the service"))]);
}

#[test]
fn its_own_level_and_the_limits() {
    let exporter = InMemoryLogExporter::new();
    let logs = LoggerProvider::builder()
        .with_limits(
            LogLimits::default()
                .with_max_attributes(128)
                .with_max_attribute_value_length(1000),
        )
        .with_simple_exporter(exporter.clone())
        .build();
    let layer = LogLayer::new(logs).with_level(LevelFilter::INFO);
    let before = tracecore::diag::counts().attributes_dropped;
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        tracing::debug!("left out");
        let huge = "m".repeat(1_000_000);
        tracing::info!(big = huge.as_str(), "{huge}");
        let record = LogRecord::new(Severity::INFO).with_attributes(
            (0..200)
                .map(|i| KeyValue::new(format!("k{i}"), i))
                .collect(),
        );
        let _ = record;
    });
    let records = exporter.finished_records();
    assert_eq!(records.len(), 1, "DEBUG is below the layer's level");
    let record = &records[0];
    assert_eq!(
        record.body.as_ref().unwrap().to_string().chars().count(),
        1000
    );
    assert_eq!(
        attr(record, "big").unwrap().to_string().chars().count(),
        1000
    );
    // 200 attributes: 128 kept, 72 dropped and counted.
    let logs = LoggerProvider::builder()
        .with_limits(LogLimits::default().with_max_attributes(128))
        .with_simple_exporter(exporter.clone())
        .build();
    exporter.reset();
    logs.logger("t").emit(
        LogRecord::new(Severity::INFO).with_attributes(
            (0..200)
                .map(|i| KeyValue::new(format!("k{i}"), i))
                .collect(),
        ),
    );
    let record = &exporter.finished_records()[0];
    assert_eq!(
        (record.attributes.len(), record.dropped_attributes_count),
        (128, 72)
    );
    assert!(tracecore::diag::counts().attributes_dropped >= before + 72);
}

#[test]
fn records_of_the_log_crate_keep_their_target() {
    // The `log` facade into `tracing` (once per process: this test binary's only user of it).
    tracing_log::LogTracer::init().unwrap();
    let (logs, exporter) = logs();
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(LogLayer::new(logs).with_code_location(true))
        .into();
    tracing::dispatcher::with_default(&dispatch, || {
        log::warn!(target: "inventory::legacy", "old path used for item {}", 7);
    });
    let records = exporter.finished_records();
    let record = records
        .iter()
        .find(|r| r.body == Some(Value::from("old path used for item 7")))
        .unwrap_or_else(|| panic!("{records:?}"));
    assert_eq!(record.scope.name(), "inventory::legacy", "not `log`");
    assert_eq!(record.severity, Severity::WARN);
    assert_eq!(record.event_name, None);
    assert!(
        record
            .attributes
            .iter()
            .all(|kv| !kv.key.as_str().starts_with("log.")),
        "the log metadata fields are metadata: {:?}",
        record.attributes
    );
    let file = attr(record, "code.file.path").map(ToString::to_string);
    assert!(file.is_some_and(|f| f.ends_with("logs.rs")));
}
