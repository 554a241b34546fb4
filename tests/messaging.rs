//! A job queue between a handler and a background worker, over real sockets: the handler's
//! PRODUCER span goes into the message's headers (bytes, as Kafka's are), the worker's CONSUMER
//! span continues the request's trace after the response was sent, and a batch worker links to
//! each message instead.

#[path = "support/mod.rs"]
mod support;

use std::net::SocketAddr;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::post;
use tokio::sync::mpsc;
use tracecore::messaging::Operation;
use tracecore::propagation::{self, Propagator};
use tracecore::trace::{SpanKind, Tracer};
use tracecore::{Context, KeyValue};
use tracecore_tower::{RequestContext, ServerLayer};

use support::{bounded, http_client, recording_provider, serve, wait_for_spans};

/// A queued message: its headers carry the trace context, its body the order id.
struct Message {
    headers: Vec<(String, Vec<u8>)>,
    body: String,
}

#[derive(Clone)]
struct App {
    tracer: Tracer,
    queue: mpsc::Sender<Message>,
}

async fn accept(
    State(app): State<App>,
    Path(id): Path<u32>,
    RequestContext(cx): RequestContext,
) -> &'static str {
    let send = Operation::send("in-process", "order-events")
        .with_message_id(id.to_string())
        .start(&app.tracer, &cx);
    let mut headers = vec![("content-type".to_owned(), b"text/plain".to_vec())];
    propagation::default().inject_context(&send.context(&cx), &mut headers);
    app.queue
        .send(Message {
            headers,
            body: id.to_string(),
        })
        .await
        .expect("the worker is running");
    send.end();
    "accepted"
}

async fn server(tracer: Tracer, queue: mpsc::Sender<Message>) -> SocketAddr {
    let router = Router::new()
        .route("/orders/{id}", post(accept))
        .with_state(App {
            tracer: tracer.clone(),
            queue,
        })
        .layer(ServerLayer::new(tracer));
    serve(router).await
}

async fn post_order(addr: SocketAddr, id: u32) {
    let response = http_client()
        .post(format!("http://{addr}/orders/{id}"))
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "accepted");
}

#[tokio::test]
async fn a_background_job_continues_the_request_trace_after_the_response() {
    let (provider, exporter) = recording_provider("gateway");
    let tracer = provider.tracer("orders");
    let (queue, mut inbox) = mpsc::channel::<Message>(8);
    let (done, mut finished) = mpsc::channel::<String>(8);
    let (go, mut released) = mpsc::channel::<()>(1);
    let worker_tracer = tracer.clone();
    tokio::spawn(async move {
        while let Some(message) = inbox.recv().await {
            // The job runs once the response is complete, as a slow worker's would.
            released.recv().await;
            let creation = propagation::default().extract(&message.headers);
            let process = Operation::process("in-process", "order-events")
                .with_message_id(message.body.clone())
                .start(&worker_tracer, &creation);
            process.set_attribute(KeyValue::new("order.id", message.body.clone()));
            process.end();
            let _ = done.send(message.body).await;
        }
    });
    let addr = server(tracer, queue).await;

    bounded(post_order(addr, 42)).await;
    let before_job = bounded(wait_for_spans(&exporter, 2)).await;
    assert_eq!(
        before_job.of_kind(SpanKind::Server).len(),
        1,
        "{:?}",
        before_job.names()
    );
    go.send(()).await.unwrap();
    assert_eq!(bounded(finished.recv()).await.as_deref(), Some("42"));
    let spans = bounded(wait_for_spans(&exporter, 3)).await;

    let server = spans.of_kind(SpanKind::Server)[0];
    let send = spans.named("send order-events");
    let process = spans.named("process order-events");
    assert_eq!(server.name, "POST /orders/{id}");
    assert_eq!(
        server.span_context.trace_id().to_string(),
        "0af7651916cd43dd8448eb211c80319c"
    );
    assert_eq!(send.kind, SpanKind::Producer);
    assert_eq!(send.parent_span_id, Some(server.span_context.span_id()));
    assert_eq!(process.kind, SpanKind::Consumer);
    assert_eq!(
        process.span_context.trace_id(),
        server.span_context.trace_id()
    );
    assert_eq!(process.parent_span_id, Some(send.span_context.span_id()));
    assert!(
        process.end_time >= server.end_time,
        "the job ends after the response"
    );
    for span in [send, process] {
        for (key, value) in [
            ("messaging.system", "in-process"),
            ("messaging.destination.name", "order-events"),
            ("messaging.message.id", "42"),
        ] {
            assert_eq!(
                span.attribute(key).map(ToString::to_string).as_deref(),
                Some(value),
                "{key} of {}",
                span.name
            );
        }
    }
}

#[tokio::test]
async fn a_batch_worker_links_to_every_message_of_the_batch() {
    let (provider, exporter) = recording_provider("gateway");
    let tracer = provider.tracer("orders");
    let (queue, mut inbox) = mpsc::channel::<Message>(8);
    let addr = server(tracer.clone(), queue).await;

    for id in [1, 2, 3] {
        bounded(post_order(addr, id)).await;
    }
    let mut batch = Vec::new();
    while batch.len() < 3 {
        batch.push(bounded(inbox.recv()).await.expect("three messages"));
    }
    let propagator = propagation::default();
    let process = Operation::process("in-process", "order-events")
        .with_message_links(batch.iter().map(|m| propagator.extract(&m.headers)))
        .start(&tracer, &Context::new());
    process.end();

    let spans = bounded(wait_for_spans(&exporter, 7)).await;
    let process = spans.named("process order-events");
    let sends: Vec<_> = spans.all_named("send order-events");
    assert_eq!(sends.len(), 3);
    assert_eq!(process.parent_span_id, None);
    assert_ne!(
        process.span_context.trace_id(),
        sends[0].span_context.trace_id(),
        "a batch span has a trace of its own"
    );
    let linked: Vec<_> = process
        .links
        .iter()
        .map(|link| link.span_context.span_id())
        .collect();
    let sent: Vec<_> = sends.iter().map(|s| s.span_context.span_id()).collect();
    assert_eq!(linked, sent);
    assert_eq!(
        process
            .attribute("messaging.batch.message_count")
            .map(ToString::to_string)
            .as_deref(),
        Some("3")
    );
}
