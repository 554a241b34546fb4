//! `tracing` spans and events joining tracecore traces, through real axum servers and reqwest
//! clients on loopback.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tracecore::export::{FinishedSpans, InMemoryExporter};
use tracecore::propagation::Propagator;
use tracecore::trace::{AlwaysOff, SpanKind, Status, TracerProvider};
use tracecore::{Context, KeyValue, SpanContext, Value};
use tracecore_reqwest::TraceMiddleware;
use tracecore_tower::ServerLayer;
use tracecore_tracing::{TracecoreLayer, TracingSpanExt};
use tracing::Instrument;
use tracing::dispatcher::{self, DefaultGuard, Dispatch};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, LevelFilter};
use tracing_subscriber::layer::SubscriberExt;

use support::{bounded, http_client, recording_provider, serve, split_traceparent, wait_for_spans};

const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

thread_local! {
    static THREAD_DISPATCH: RefCell<Option<DefaultGuard>> = const { RefCell::new(None) };
}

/// A tokio runtime whose every thread (workers and the one calling `block_on`) uses `dispatch`.
fn runtime(dispatch: &Dispatch, workers: Option<usize>) -> tokio::runtime::Runtime {
    let for_workers = dispatch.clone();
    let mut builder = match workers {
        Some(n) => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(n);
            b
        }
        None => tokio::runtime::Builder::new_current_thread(),
    };
    builder
        .enable_all()
        .on_thread_start(move || {
            let guard = dispatcher::set_default(&for_workers);
            THREAD_DISPATCH.with(|slot| *slot.borrow_mut() = Some(guard));
        })
        .build()
        .unwrap()
}

/// Runs `f` on a runtime whose threads all record through `subscriber`.
fn run<F: Future>(subscriber: impl Into<Dispatch>, workers: Option<usize>, f: F) -> F::Output {
    let dispatch = subscriber.into();
    let rt = runtime(&dispatch, workers);
    let _main = dispatcher::set_default(&dispatch);
    rt.block_on(bounded(f))
}

fn subscriber_for(provider: &TracerProvider) -> Dispatch {
    tracing_subscriber::registry()
        .with(TracecoreLayer::new(provider.tracer("tracing-bridge")))
        .into()
}

fn traced_client(provider: &TracerProvider) -> ClientWithMiddleware {
    ClientBuilder::new(http_client())
        .with(TraceMiddleware::new(provider.tracer("client")))
        .build()
}

fn string_attr(span: &tracecore::trace::SpanData, key: &str) -> Option<String> {
    span.attribute(key).map(|v| match v {
        Value::String(s) => s.to_string(),
        other => other.to_string(),
    })
}

// --- the whole path: SERVER -> #[instrument] async fn -> #[instrument] fn -> CLIENT -> SERVER --

#[tracing::instrument(skip(client, base), fields(order.id = id))]
async fn validate_order(client: &ClientWithMiddleware, base: &str, id: u32) -> StatusCode {
    check_stock(id);
    tokio::task::yield_now().await;
    let response = client
        .get(format!("{base}/items/{id}"))
        .send()
        .await
        .unwrap();
    StatusCode::from_u16(response.status().as_u16()).unwrap()
}

#[tracing::instrument]
fn check_stock(id: u32) {
    tracing::info!(id, "checking stock");
}

#[tracing::instrument(skip_all, fields(item.id = id))]
async fn load_item(id: u32) -> StatusCode {
    tokio::time::sleep(Duration::from_millis(1)).await;
    if id == 0 {
        tracing::error!("storage failed");
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn inventory_app(provider: &TracerProvider) -> String {
    let app = Router::new()
        .route(
            "/items/{id}",
            get(|Path(id): Path<u32>| async move { load_item(id).await }),
        )
        .layer(ServerLayer::new(provider.tracer("inventory")));
    format!("http://{}", serve(app).await)
}

async fn gateway_app(provider: &TracerProvider, inventory: String) -> String {
    let client = traced_client(provider);
    let app = Router::new()
        .route(
            "/orders/{id}",
            get(move |Path(id): Path<u32>| {
                let client = client.clone();
                let inventory = inventory.clone();
                async move { validate_order(&client, &inventory, id).await }
            }),
        )
        .layer(ServerLayer::new(provider.tracer("gateway")));
    format!("http://{}", serve(app).await)
}

#[test]
fn instrumented_functions_nest_between_the_server_span_and_the_client_span() {
    let (provider, exporter) = recording_provider("gateway");
    run(subscriber_for(&provider), Some(2), async {
        let inventory = inventory_app(&provider).await;
        let gateway = gateway_app(&provider, inventory).await;
        let response = http_client()
            .get(format!("{gateway}/orders/7"))
            .header("traceparent", TRACEPARENT)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let spans = wait_for_spans(&exporter, 6).await;

        let server = spans.named("GET /orders/{id}");
        let validate = spans.named("validate_order");
        let check = spans.named("check_stock");
        let client = spans.named("GET");
        let remote = spans.named("GET /items/{id}");
        let load = spans.named("load_item");

        assert_eq!(server.span_context.trace_id().to_string(), CALLER_TRACE);
        for span in [validate, check, client, remote, load] {
            assert_eq!(span.span_context.trace_id(), server.span_context.trace_id());
        }
        assert!(
            validate.is_child_of(server),
            "the instrumented fn is the SERVER span's child"
        );
        assert!(check.is_child_of(validate));
        assert!(
            client.is_child_of(validate),
            "the reqwest call is the instrumented fn's child"
        );
        assert!(remote.is_child_of(client));
        assert!(load.is_child_of(remote));
        assert!(remote.parent_is_remote && !load.parent_is_remote);

        assert_eq!(server.kind, SpanKind::Server);
        assert_eq!(client.kind, SpanKind::Client);
        assert_eq!(remote.kind, SpanKind::Server);
        for span in [validate, check, load] {
            assert_eq!(span.kind, SpanKind::Internal, "{}", span.name);
        }
        assert_eq!(validate.attribute("order.id"), Some(&Value::I64(7)));
        assert_eq!(validate.attribute("id"), Some(&Value::I64(7)));
        assert_eq!(load.attribute("item.id"), Some(&Value::I64(7)));
        assert!(
            validate.attribute("client").is_none(),
            "skipped arguments are not attributes"
        );

        // The event inside `check_stock` is that span's, with its fields, level and target.
        let event = &check.events[0];
        assert_eq!(event.name, "checking stock");
        let event_attr = |key: &str| event.attributes.iter().find(|kv| kv.key.as_str() == key);
        assert_eq!(event_attr("id").unwrap().value, Value::I64(7));
        assert_eq!(event_attr("level").unwrap().value.to_string(), "INFO");
        assert_eq!(event_attr("target").unwrap().value.to_string(), "bridge");

        // Times: each child inside its parent.
        assert!(validate.start_time >= server.start_time && validate.end_time <= server.end_time);
        assert!(client.start_time >= validate.start_time && client.end_time <= validate.end_time);
    });
}

#[test]
fn an_error_event_in_an_instrumented_fn_makes_its_span_an_error() {
    let (provider, exporter) = recording_provider("inventory");
    run(subscriber_for(&provider), Some(2), async {
        let inventory = inventory_app(&provider).await;
        let response = http_client()
            .get(format!("{inventory}/items/0"))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 500);
        let spans = wait_for_spans(&exporter, 2).await;
        let load = spans.named("load_item");
        // An ERROR event with a message: Error without a description, as
        // tracing-opentelemetry records it (only an `error` field given as text carries one).
        assert_eq!(load.status, Status::error(""));
        assert_eq!(load.events[0].name, "storage failed");
        let server = spans.named("GET /items/{id}");
        assert!(load.is_child_of(server));
        assert_eq!(server.span_context.trace_id(), load.span_context.trace_id());
    });
}

// --- special fields, record, follows_from, events ---------------------------------------------

fn with_recorder<T>(f: impl FnOnce() -> T) -> (T, FinishedSpans) {
    let (provider, exporter) = recording_provider("app");
    let out = dispatcher::with_default(&subscriber_for(&provider), f);
    (out, exporter.finished_spans())
}

#[test]
fn special_fields_set_name_kind_and_status_and_are_not_attributes() {
    let ((), spans) = with_recorder(|| {
        let _a = tracing::info_span!(
            "poll",
            otel.name = "GET /queue",
            otel.kind = "client",
            otel.status_code = "error",
            otel.status_description = "queue unavailable",
            queue = "orders",
        )
        .entered();
        let _b = tracing::info_span!("consume", otel.kind = "Consumer", otel.status_code = "ok")
            .entered();
        let _c = tracing::info_span!("odd", otel.kind = "srv").entered();
    });
    let poll = spans.named("GET /queue");
    assert_eq!(poll.kind, SpanKind::Client);
    assert_eq!(poll.status, Status::error("queue unavailable"));
    assert_eq!(string_attr(poll, "queue").as_deref(), Some("orders"));
    assert!(
        poll.attributes
            .iter()
            .all(|kv| !kv.key.as_str().starts_with("otel."))
    );
    let consume = spans.named("consume");
    assert_eq!(
        (consume.kind, &consume.status),
        (SpanKind::Consumer, &Status::Ok)
    );
    let odd = spans.named("odd");
    assert_eq!(odd.kind, SpanKind::Internal, "an unknown kind is ignored");
    assert!(odd.attribute("otel.kind").is_none());
}

#[test]
fn record_adds_and_replaces_attributes_and_empty_fields_stay_absent() {
    let ((), spans) = with_recorder(|| {
        let span = tracing::info_span!(
            "work",
            attempt = 1_i64,
            result = tracing::field::Empty,
            never = tracing::field::Empty,
            otel.name = tracing::field::Empty,
        );
        span.record("attempt", 2_i64);
        {
            let _e = span.enter();
            span.record("result", "cached");
            span.record("otel.name", "work (cached)");
            span.record("otel.status_code", "error");
        }
        span.record("attempt", 3_i64);
        span.set_attribute("undeclared", true);
        span.set_status(Status::error("explicit"));
    });
    let work = spans.named("work (cached)");
    assert_eq!(work.attribute("attempt"), Some(&Value::I64(3)));
    assert_eq!(string_attr(work, "result").as_deref(), Some("cached"));
    assert_eq!(work.attribute("undeclared"), Some(&Value::Bool(true)));
    assert!(
        work.attribute("never").is_none(),
        "an Empty field never recorded is absent"
    );
    assert_eq!(
        work.attributes
            .iter()
            .filter(|kv| kv.key.as_str() == "attempt")
            .count(),
        1
    );
    assert!(work.status.is_error());
}

#[test]
fn field_types_are_kept() {
    #[derive(Debug)]
    struct Order {
        #[allow(dead_code)]
        id: u32,
    }
    let ((), spans) = with_recorder(|| {
        let _s = tracing::info_span!(
            "types",
            i = -5_i64,
            u = 7_u64,
            big = u64::MAX,
            f = 1.5_f64,
            b = true,
            s = "text",
            d = ?Order { id: 3 },
            disp = %"shown",
        )
        .entered();
    });
    let span = spans.named("types");
    assert_eq!(span.attribute("i"), Some(&Value::I64(-5)));
    assert_eq!(span.attribute("u"), Some(&Value::I64(7)));
    assert_eq!(
        string_attr(span, "big").as_deref(),
        Some("18446744073709551615")
    );
    assert_eq!(span.attribute("f"), Some(&Value::F64(1.5)));
    assert_eq!(span.attribute("b"), Some(&Value::Bool(true)));
    assert_eq!(string_attr(span, "s").as_deref(), Some("text"));
    assert_eq!(string_attr(span, "d").as_deref(), Some("Order { id: 3 }"));
    assert_eq!(string_attr(span, "disp").as_deref(), Some("shown"));
}

#[test]
fn follows_from_adds_a_link() {
    let ((), spans) = with_recorder(|| {
        let producer = tracing::info_span!("enqueue");
        producer.in_scope(|| {});
        let consumer = tracing::info_span!(parent: None, "process");
        consumer.follows_from(&producer);
        consumer.in_scope(|| {});
    });
    let (enqueue, process) = (spans.named("enqueue"), spans.named("process"));
    assert_eq!(process.links.len(), 1);
    assert_eq!(process.links[0].span_context, enqueue.span_context);
    assert_ne!(
        process.span_context.trace_id(),
        enqueue.span_context.trace_id()
    );
}

#[derive(Debug)]
struct StorageError(std::io::Error);

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("reading item 0 failed")
    }
}

impl std::error::Error for StorageError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[test]
fn events_become_span_events_and_errors_become_exceptions() {
    let ((), spans) = with_recorder(|| {
        let _s = tracing::info_span!("load").entered();
        tracing::debug!(cache = "miss", "looking up");
        let error = StorageError(std::io::Error::other("disk unplugged"));
        tracing::warn!(error = &error as &dyn std::error::Error, "retrying");
        tracing::info!(count = 2);
    });
    let load = spans.named("load");
    assert_eq!(load.events.len(), 3);
    assert_eq!(load.events[0].name, "looking up");
    // A `dyn Error` on an event with a message: the event keeps its name and carries the
    // error, its chain and the exception attributes; its span gets the exception attributes.
    let retrying = &load.events[1];
    assert_eq!(retrying.name, "retrying");
    let attr = |key: &str| {
        retrying
            .attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| kv.value.to_string())
    };
    assert_eq!(attr("error").as_deref(), Some("reading item 0 failed"));
    assert_eq!(attr("error.chain").as_deref(), Some("[\"disk unplugged\"]"));
    assert_eq!(
        attr("exception.message").as_deref(),
        Some("reading item 0 failed")
    );
    assert_eq!(
        attr("exception.stacktrace").as_deref(),
        Some("[\"disk unplugged\"]")
    );
    assert_eq!(attr("message"), None, "the message is the event's name");
    assert_eq!(attr("level").as_deref(), Some("WARN"));
    assert_eq!(
        string_attr(load, "exception.message").as_deref(),
        Some("reading item 0 failed")
    );
    assert_eq!(
        load.status,
        Status::Unset,
        "only ERROR events set the status"
    );
    assert!(
        load.events[2].name.starts_with("event "),
        "no message: the event's own name"
    );
}

#[test]
fn the_event_level_threshold_and_the_error_status_switch() {
    let (provider, exporter) = recording_provider("app");
    let layer = TracecoreLayer::new(provider.tracer("t"))
        .with_event_level(LevelFilter::WARN)
        .with_error_events_to_status(false);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _s = tracing::info_span!("quiet").entered();
        tracing::info!("not recorded");
        tracing::error!("recorded, an error without description");
        tracing::error!(error = "refused");
    });
    let spans = exporter.finished_spans();
    let quiet = spans.named("quiet");
    assert_eq!(quiet.events.len(), 2);
    assert_eq!(
        quiet.events[0].name,
        "recorded, an error without description"
    );
    // The switch keeps an `error` text out of the description; an ERROR event is still an
    // error (tracing-opentelemetry's meaning).
    assert_eq!(quiet.status, Status::error(""));
    assert_eq!(quiet.events[1].name, "exception");
}

#[test]
fn events_inside_a_tracecore_span_without_a_tracing_span_are_its_events() {
    let (provider, exporter) = recording_provider("app");
    let tracer = provider.tracer("t");
    dispatcher::with_default(&subscriber_for(&provider), || {
        tracer.in_span("plain tracecore span", |_| {
            tracing::error!(code = 7, "it broke")
        });
    });
    let spans = exporter.finished_spans();
    let span = spans.named("plain tracecore span");
    assert_eq!(span.events[0].name, "it broke");
    assert!(span.status.is_error());
}

// --- parents: explicit, none, set_parent --------------------------------------------------------

#[test]
fn explicit_parent_and_parent_none() {
    let ((), spans) = with_recorder(|| {
        let a = tracing::info_span!("a");
        let _b = tracing::info_span!("b").entered();
        let _c = tracing::info_span!(parent: &a, "c").entered();
        let _root = tracing::info_span!(parent: None, "root").entered();
        drop(a);
    });
    spans.assert_parent("c", "a");
    let (b, root) = (spans.named("b"), spans.named("root"));
    assert!(b.parent_span_id.is_none());
    assert!(root.parent_span_id.is_none());
    assert_ne!(root.span_context.trace_id(), b.span_context.trace_id());
    assert_ne!(
        spans.named("c").span_context.trace_id(),
        b.span_context.trace_id()
    );
}

fn remote_parent() -> Context {
    let mut headers = HeaderMap::new();
    headers.insert("traceparent", TRACEPARENT.parse().unwrap());
    tracecore::propagation::default().extract(&headers)
}

#[test]
fn set_parent_works_until_the_span_starts_then_says_why_not() {
    let ((), spans) = with_recorder(|| {
        let span = tracing::info_span!("handle");
        span.set_parent(remote_parent()).unwrap();
        let before = span.context().span_context().cloned().unwrap();
        let error = span.set_parent(Context::new()).unwrap_err();
        assert!(error.is_started());
        assert!(error.to_string().contains("already started"), "{error}");
        let _e = span.enter();
        assert_eq!(Context::current().span_context(), Some(&before));
        let late = tracing::info_span!("late");
        let _l = late.enter();
        assert!(late.set_parent(remote_parent()).unwrap_err().is_started());

        let disabled = tracing::Span::none();
        let error = disabled.set_parent(remote_parent()).unwrap_err();
        assert!(!error.is_started() && error.to_string().contains("not recorded"));
        assert!(disabled.context().span_context().is_none());
    });
    let handle = spans.named("handle");
    assert_eq!(handle.span_context.trace_id().to_string(), CALLER_TRACE);
    assert_eq!(
        handle.parent_span_id.unwrap().to_string(),
        "00f067aa0ba902b7"
    );
    assert!(handle.parent_is_remote);
    spans.assert_parent("late", "handle");
}

#[test]
fn context_is_available_before_the_first_enter_and_stays_the_same() {
    let ((), spans) = with_recorder(|| {
        let span = tracing::info_span!("early");
        let early = span.context().span_context().cloned().unwrap();
        span.in_scope(|| {
            assert_eq!(Context::current().span_context(), Some(&early));
        });
        assert_eq!(span.context().span_context(), Some(&early));
    });
    assert_eq!(spans.len(), 1);
}

// --- sampling -----------------------------------------------------------------------------------

#[test]
fn a_sampled_out_span_propagates_and_records_nothing() {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_sampler(AlwaysOff)
        .with_simple_exporter(exporter.clone())
        .build();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let recorder_seen = seen.clone();
    run(subscriber_for(&provider), Some(2), async move {
        let recorder = Router::new().route(
            "/",
            get(move |headers: HeaderMap| {
                let seen = recorder_seen.clone();
                async move {
                    let tp = headers["traceparent"].to_str().unwrap().to_owned();
                    seen.lock().unwrap().push(tp);
                }
            }),
        );
        let url = format!("http://{}/", serve(recorder).await);
        let client = traced_client(&provider);
        let span = tracing::info_span!("unsampled", big = "x".repeat(1000));
        let ours = span.context().span_context().cloned().unwrap();
        assert!(!ours.is_sampled() && !span.context().span().is_recording());
        async {
            tracing::info!("not recorded anywhere");
            client.get(&url).send().await.unwrap();
        }
        .instrument(span)
        .await;
        let sent = seen.lock().unwrap().clone();
        let (trace, _, flags) = split_traceparent(&sent[0]).unwrap();
        assert_eq!(trace, ours.trace_id().to_string());
        assert_eq!(flags & 1, 0, "sampled flag off");
    });
    assert!(exporter.finished_spans().is_empty());
}

// --- concurrency --------------------------------------------------------------------------------

#[tracing::instrument]
async fn compare_across_awaits(n: u32) -> bool {
    let mine = tracing::Span::current().context().span_context().cloned();
    let mut same = Context::current().span_context().cloned() == mine;
    for _ in 0..3 {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_micros(100)).await;
        same &= Context::current().span_context().cloned() == mine;
    }
    same && mine.is_some()
}

#[test]
fn a_thousand_requests_interleaved_on_one_worker_keep_their_own_context() {
    let (provider, exporter) = recording_provider("app");
    run(subscriber_for(&provider), None, async {
        let app = Router::new()
            .route(
                "/{n}",
                get(|Path(n): Path<u32>| async move {
                    if compare_across_awaits(n).await {
                        "same"
                    } else {
                        "mixed"
                    }
                }),
            )
            .layer(ServerLayer::new(provider.tracer("server")));
        let base = format!("http://{}", serve(app).await);
        let client = http_client();
        let mut calls = tokio::task::JoinSet::new();
        for n in 0..1000 {
            let (client, url) = (client.clone(), format!("{base}/{n}"));
            calls.spawn(async move { client.get(url).send().await.unwrap().text().await.unwrap() });
        }
        let mut answers = Vec::new();
        while let Some(answer) = calls.join_next().await {
            answers.push(answer.unwrap());
        }
        assert_eq!(answers.len(), 1000);
        assert!(
            answers.iter().all(|a| a == "same"),
            "{} mixed",
            answers.iter().filter(|a| *a != "same").count()
        );
        let spans = wait_for_spans(&exporter, 2000).await;
        for compare in spans.all_named("compare_across_awaits") {
            let server = spans.parent_of(compare).expect("each has its SERVER span");
            assert_eq!(server.kind, SpanKind::Server);
            let n = compare.attribute("n").and_then(Value::as_i64).unwrap();
            assert_eq!(string_attr(server, "url.path"), Some(format!("/{n}")));
        }
    });
}

#[test]
fn a_spawned_task_with_instrument_runs_in_its_span_on_any_worker() {
    let (provider, exporter) = recording_provider("app");
    run(subscriber_for(&provider), Some(2), async {
        let job = tracing::info_span!("background job");
        let job_cx = job.context().span_context().cloned().unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8 {
            let expected = job_cx.clone();
            tasks.spawn(
                async move {
                    for _ in 0..5 {
                        tokio::task::yield_now().await;
                        let current = Context::current().span_context().cloned();
                        assert_eq!(current.as_ref(), Some(&expected));
                    }
                    let _child = tracing::info_span!("step", i).entered();
                }
                .instrument(job.clone()),
            );
        }
        while let Some(done) = tasks.join_next().await {
            done.unwrap();
        }
        drop(job);
        let spans = wait_for_spans(&exporter, 9).await;
        let job = spans.named("background job");
        assert_eq!(spans.all_named("step").len(), 8);
        for step in spans.all_named("step") {
            assert!(step.is_child_of(job));
        }
        assert!(
            Context::current().span_context().is_none(),
            "nothing leaked"
        );
    });
}

// --- filters ------------------------------------------------------------------------------------

#[test]
fn spans_filtered_out_by_env_filter_are_skipped_and_children_attach_to_the_nearest_recorded() {
    let (provider, exporter) = recording_provider("app");
    let subscriber = tracing_subscriber::registry()
        .with(EnvFilter::new("info"))
        .with(TracecoreLayer::new(provider.tracer("t")));
    tracing::subscriber::with_default(subscriber, || {
        let _outer = tracing::info_span!("outer").entered();
        let _hidden = tracing::debug_span!("hidden").entered();
        let _inner = tracing::info_span!("inner").entered();
    });
    let spans = exporter.finished_spans();
    assert_eq!(spans.names().len(), 2, "{:?}", spans.names());
    spans.assert_parent("inner", "outer");
}

#[test]
fn a_per_layer_filter_skips_spans_for_tracecore_only() {
    let (provider, exporter) = recording_provider("app");
    // Beside a layer that sees everything (as a fmt layer would), so the filtered-out span
    // exists in the registry and only tracecore skips it.
    let subscriber = tracing_subscriber::registry()
        .with(TracecoreLayer::new(provider.tracer("t")).with_filter(
            tracing_subscriber::filter::filter_fn(|meta| meta.name() != "noisy"),
        ))
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::sink));
    tracing::subscriber::with_default(subscriber, || {
        let outer = tracing::info_span!("outer");
        let _o = outer.enter();
        let noisy = tracing::info_span!("noisy");
        let _n = noisy.enter();
        assert_eq!(
            noisy.context().span_context(),
            outer.context().span_context()
        );
        assert!(noisy.set_parent(Context::new()).is_err());
        let _inner = tracing::info_span!("inner").entered();
        tracing::info!("inside inner");
    });
    let spans = exporter.finished_spans();
    assert_eq!(spans.len(), 2, "{:?}", spans.names());
    spans.assert_parent("inner", "outer");
    assert_eq!(spans.named("inner").events.len(), 1);
}

#[test]
fn spans_keep_their_start_when_first_entered_later() {
    let ((), spans) = with_recorder(|| {
        let span = tracing::info_span!("queued");
        std::thread::sleep(Duration::from_millis(20));
        span.in_scope(|| {});
    });
    assert!(spans.named("queued").duration() >= Duration::from_millis(20));
}

#[test]
fn a_span_never_entered_is_recorded_when_it_closes() {
    let ((), spans) = with_recorder(|| {
        let _ = tracing::info_span!("never entered", n = 1);
    });
    assert_eq!(
        spans.named("never entered").attribute("n"),
        Some(&Value::I64(1))
    );
}

#[test]
fn code_location_is_opt_in() {
    let (provider, exporter) = recording_provider("app");
    let layer = TracecoreLayer::new(provider.tracer("t")).with_code_location(true);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _s = tracing::info_span!("located").entered();
    });
    let spans = exporter.finished_spans();
    let span = spans.named("located");
    assert!(
        string_attr(span, "code.file.path")
            .unwrap()
            .ends_with("bridge.rs")
    );
    assert!(
        span.attribute("code.line.number")
            .and_then(Value::as_i64)
            .unwrap()
            > 0
    );
    assert_eq!(
        string_attr(span, "code.module.name").as_deref(),
        Some("bridge")
    );
    let ((), plain) = with_recorder(|| drop(tracing::info_span!("plain").entered()));
    assert!(plain.named("plain").attribute("code.file.path").is_none());
}

#[test]
fn a_context_read_from_a_span_links_to_it() {
    let ((), spans) = with_recorder(|| {
        let first = tracing::info_span!("first");
        let sc: SpanContext = first.context().span_context().cloned().unwrap();
        let second = tracing::info_span!(parent: None, "second");
        second.add_link(sc);
        drop(second);
    });
    assert_eq!(
        spans.named("second").links[0].span_context,
        spans.named("first").span_context
    );
}

#[test]
fn the_bridges_own_attributes_can_be_turned_off() {
    let (provider, exporter) = recording_provider("app");
    let layer = TracecoreLayer::new(provider.tracer("t"))
        .with_target(false)
        .with_event_level_and_target(false);
    tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
        let _s = tracing::info_span!("clean", order.id = 7).entered();
        tracing::info!(items = 3, "accepted");
    });
    let spans = exporter.finished_spans();
    let clean = spans.named("clean");
    let keys = |attributes: &[KeyValue]| -> Vec<String> {
        attributes
            .iter()
            .map(|kv| kv.key.as_str().to_owned())
            .collect()
    };
    assert_eq!(keys(&clean.attributes), ["order.id"]);
    assert_eq!(keys(&clean.events[0].attributes), ["items"]);
    // On by default, as tracing-opentelemetry has them.
    let ((), spans) = with_recorder(|| {
        let _s = tracing::info_span!("default").entered();
        tracing::info!("accepted");
    });
    let default = spans.named("default");
    assert_eq!(string_attr(default, "target").as_deref(), Some("bridge"));
    assert_eq!(keys(&default.events[0].attributes), ["level", "target"]);
}
