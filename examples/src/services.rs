//! The three services and the client.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use serde_json::json;
use tokio::sync::mpsc;
use tracecore::http_span::HttpInstrumentation;
use tracecore::logs::LoggerProvider;
use tracecore::messaging::Operation;
use tracecore::propagation::{self, Propagator};
use tracecore::trace::Tracer;
use tracecore::{Context, KeyValue};
use tracecore_reqwest::TraceMiddleware;
use tracecore_tower::{RequestContext, ServerLayer};
use tracecore_tracing::{LogLayer, TracecoreLayer};
use tracing::Dispatch;
use tracing::instrument::WithSubscriber;
use tracing_subscriber::layer::SubscriberExt;

/// The paths the client requests, one of each outcome.
pub const CLIENT_PATHS: [&str; 3] = ["/orders/42", "/orders/4242", "/orders/0"];

/// Where the services' log lines go: standard output (a role running alone), or a buffer the
/// all-in-one demo prints with its report; and, with [`with_records`](Self::with_records), the
/// same events as OpenTelemetry log records.
#[derive(Clone, Debug, Default)]
pub struct Logs(Option<Arc<Mutex<Vec<u8>>>>, Option<LoggerProvider>);

impl Logs {
    /// Lines go to standard output as they are written.
    pub fn stdout() -> Self {
        Self(None, None)
    }

    /// Lines are kept, for [`Logs::lines`].
    pub fn buffer() -> Self {
        Self(Some(Arc::default()), None)
    }

    /// The same lines, and each event as a log record of `provider` too (exported where the
    /// service's telemetry sends its logs).
    #[must_use]
    pub fn with_records(mut self, provider: LoggerProvider) -> Self {
        self.1 = Some(provider);
        self
    }

    /// The lines kept so far (none for [`Logs::stdout`]).
    pub fn lines(&self) -> Vec<String> {
        let Some(buffer) = &self.0 else {
            return Vec::new();
        };
        let bytes = buffer.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// One write to [`Logs`].
#[derive(Debug)]
pub struct LogWriter(Option<Arc<Mutex<Vec<u8>>>>);

impl std::io::Write for LogWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        match &self.0 {
            Some(buffer) => {
                let mut buffer = buffer.lock().unwrap_or_else(|e| e.into_inner());
                buffer.extend_from_slice(bytes);
                Ok(bytes.len())
            }
            None => std::io::stdout().lock().write(bytes),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &self.0 {
            Some(_) => Ok(()),
            None => std::io::stdout().lock().flush(),
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = LogWriter;

    fn make_writer(&'a self) -> LogWriter {
        LogWriter(self.0.clone())
    }
}

/// The `tracing` subscriber of one service: its `#[instrument]` spans and events are recorded by
/// the service's own tracer, and its log lines, each with the current trace and span ids, go to
/// `logs`. (The demo runs three services in one process, so each handler runs its instrumented
/// code under its service's subscriber rather than a global one.)
fn instrumentation(tracer: Tracer, logs: Logs) -> Dispatch {
    let records = logs.1.clone().map(LogLayer::new);
    let lines = tracing_subscriber::fmt::layer()
        .with_writer(logs)
        .with_ansi(false)
        .with_target(false)
        .map_event_format(tracecore_tracing::fmt::TraceIdFormat::new);
    Dispatch::new(
        tracing_subscriber::registry()
            .with(lines)
            .with(TracecoreLayer::new(tracer))
            .with(records),
    )
}

/// The inventory's storage failed.
#[derive(Debug)]
struct StorageError;

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("storage unavailable")
    }
}

impl std::error::Error for StorageError {}

/// The inventory service, logging to `logs`.
pub fn inventory(http: HttpInstrumentation, logs: Logs) -> Router {
    let tracer = http.tracer().clone();
    Router::new()
        .route("/items/{id}", get(item))
        .with_state(instrumentation(tracer, logs))
        .layer(ServerLayer::new(http))
}

async fn item(
    State(instrumentation): State<Dispatch>,
    Path(id): Path<u64>,
    cx: RequestContext,
) -> (StatusCode, Json<serde_json::Value>) {
    cx.span()
        .set_attribute(KeyValue::new("app.item.id", id as i64));
    match load_item(id).with_subscriber(instrumentation).await {
        Ok(Some(item)) => (StatusCode::OK, Json(item)),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no item {id}") })),
        ),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({ "error": e.to_string() })),
        ),
    }
}

/// Reads an item: an INTERNAL span, child of the SERVER span; item 0 is the storage failure,
/// an ERROR event recording the error (`exception.message`) that makes the span an Error.
#[tracing::instrument(skip(id), fields(item.id = id))]
async fn load_item(id: u64) -> Result<Option<serde_json::Value>, StorageError> {
    match id {
        0 => {
            let e = StorageError;
            tracing::error!(error = &e as &dyn std::error::Error, "cannot read the item");
            Err(e)
        }
        1..=999 => Ok(Some(
            json!({ "id": id, "name": format!("item {id}"), "stock": id % 7 }),
        )),
        _ => {
            tracing::warn!("no item {id}");
            Ok(None)
        }
    }
}

/// A reqwest client whose requests are CLIENT spans with `traceparent` injected.
pub fn traced_client(http: HttpInstrumentation) -> ClientWithMiddleware {
    ClientBuilder::new(reqwest::Client::new())
        .with(TraceMiddleware::new(http))
        .build()
}

#[derive(Clone)]
struct Gateway {
    client: ClientWithMiddleware,
    upstream: String,
    tracer: Tracer,
    jobs: mpsc::Sender<Job>,
    instrumentation: Dispatch,
}

/// The queue the gateway's order handler writes to and its background worker reads.
const JOB_QUEUE: &str = "order-events";

/// A message on the gateway's job queue. Its headers carry the trace context, written by a
/// propagator as any broker's message headers would be: the worker shares no span with the
/// handler.
#[derive(Debug)]
struct Job {
    headers: Vec<(String, String)>,
    order: u64,
}

/// The gateway service, calling the inventory at `upstream` (`http://host:port`) and logging
/// to `logs`. Each order the
/// inventory confirmed is sent to a background worker (started here, on the current Tokio
/// runtime) that processes it after the response: a PRODUCER span in the request's trace and a
/// CONSUMER span, its child, that can end after the trace's root.
pub fn gateway(http: HttpInstrumentation, upstream: impl Into<String>, logs: Logs) -> Router {
    let tracer = http.tracer().clone();
    let (jobs, inbox) = mpsc::channel(64);
    tokio::spawn(order_worker(tracer.clone(), inbox));
    let state = Gateway {
        client: traced_client(http.clone()),
        upstream: upstream.into().trim_end_matches('/').to_owned(),
        tracer: tracer.clone(),
        jobs,
        instrumentation: instrumentation(tracer, logs),
    };
    Router::new()
        .route("/orders/{id}", get(order))
        .with_state(state)
        .layer(ServerLayer::new(http))
}

async fn order(
    State(gateway): State<Gateway>,
    Path(id): Path<u64>,
) -> (StatusCode, Json<serde_json::Value>) {
    // Runs inside the SERVER span: the `validate_order` span and this call's CLIENT span are
    // its children.
    if !tracing::dispatcher::with_default(&gateway.instrumentation, || validate_order(id)) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "order id out of range" })),
        );
    }
    let url = format!("{}/items/{id}", gateway.upstream);
    let reply = match gateway.client.get(&url).send().await {
        Ok(reply) => reply,
        Err(e) => {
            return (
                StatusCode::BAD_GATEWAY,
                Json(json!({ "error": format!("inventory unreachable: {e}") })),
            );
        }
    };
    match reply.status() {
        StatusCode::OK => match reply
            .bytes()
            .await
            .map(|b| serde_json::from_slice::<serde_json::Value>(&b))
        {
            Ok(Ok(item)) => {
                tracing::dispatcher::with_default(&gateway.instrumentation, || {
                    tracing::info!(order.id = id, "order accepted");
                });
                enqueue(&gateway, id);
                (StatusCode::OK, Json(json!({ "order": id, "item": item })))
            }
            Ok(Err(e)) => (
                StatusCode::BAD_GATEWAY,
                Json(json!({ "error": format!("bad inventory reply: {e}") })),
            ),
            Err(e) => (
                StatusCode::BAD_GATEWAY,
                Json(json!({ "error": format!("bad inventory reply: {e}") })),
            ),
        },
        StatusCode::NOT_FOUND => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("no item {id}") })),
        ),
        other => (
            StatusCode::BAD_GATEWAY,
            Json(json!({ "error": format!("inventory answered {other}") })),
        ),
    }
}

/// Checks an order before the inventory is asked: an INTERNAL span, child of the SERVER span.
#[tracing::instrument(skip(id), fields(order.id = id))]
fn validate_order(id: u64) -> bool {
    id < u64::MAX
}

/// Sends order `order` to the worker: a PRODUCER span, child of the request's SERVER span, whose
/// context goes into the message's headers. A full queue drops the job (the span says so) rather
/// than hold the response.
fn enqueue(gateway: &Gateway, order: u64) {
    let cx = Context::current();
    let send = Operation::send("in-process", JOB_QUEUE)
        .with_message_id(format!("order-{order}"))
        .start(&gateway.tracer, &cx);
    let mut headers = Vec::new();
    propagation::default().inject_context(&send.context(&cx), &mut headers);
    if let Err(e) = gateway.jobs.try_send(Job { headers, order }) {
        send.set_attribute(KeyValue::new(tracecore::semconv::ERROR_TYPE, "queue_full"));
        send.set_status(tracecore::trace::Status::error(e.to_string()));
    }
    send.end();
}

/// The gateway's background worker: each job's CONSUMER span continues the trace its headers
/// carry (single-message processing: the span is the PRODUCER span's child).
async fn order_worker(tracer: Tracer, mut inbox: mpsc::Receiver<Job>) {
    let propagator = propagation::default();
    while let Some(job) = inbox.recv().await {
        let creation = propagator.extract(&job.headers);
        let process = Operation::process("in-process", JOB_QUEUE)
            .with_message_id(format!("order-{}", job.order))
            .start(&tracer, &creation);
        // Stands for the work: confirming the order, after the client has its answer.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        process.end();
    }
}

/// Serves `app` on `listener` (with the peer address known to the server layer).
pub async fn serve(listener: tokio::net::TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
}

/// Starts `inventory` and `gateway` (calling that inventory) on ephemeral loopback ports, in the
/// background, each logging to its [`Logs`]; returns the gateway's and the inventory's base URLs.
pub async fn start_servers(
    (inventory_http, inventory_logs): (HttpInstrumentation, Logs),
    (gateway_http, logs): (HttpInstrumentation, Logs),
) -> std::io::Result<(String, String)> {
    let inv_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let inv_url = format!("http://{}", inv_listener.local_addr()?);
    let gw_url = format!("http://{}", gw_listener.local_addr()?);
    tokio::spawn(serve(
        inv_listener,
        inventory(inventory_http, inventory_logs),
    ));
    tokio::spawn(serve(
        gw_listener,
        gateway(gateway_http, inv_url.clone(), logs),
    ));
    Ok((gw_url, inv_url))
}

/// The client: requests each of `paths` from the gateway at `gateway` (`http://host:port`);
/// returns each path with the status it got (or the error).
pub async fn client(
    instrumentation: HttpInstrumentation,
    gateway: &str,
    paths: &[&str],
) -> Vec<(String, Result<u16, String>)> {
    let http = traced_client(instrumentation);
    let base = gateway.trim_end_matches('/');
    let mut out = Vec::with_capacity(paths.len());
    for path in paths {
        let result = match http.get(format!("{base}{path}")).send().await {
            // Reading the body lets the server finish (and end) its span first.
            Ok(reply) => {
                let status = reply.status().as_u16();
                let _ = reply.bytes().await;
                Ok(status)
            }
            Err(e) => Err(e.to_string()),
        };
        out.push(((*path).to_owned(), result));
    }
    out
}
