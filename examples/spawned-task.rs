//! Carrying a request's context into a spawned task.
//!
//! `tokio::spawn` starts a task with no ambient context: its spans would begin traces of their
//! own. Wrap the future with `in_current_context()` (or `with_context(cx)`) before spawning, and
//! the task's spans, and the requests it sends, stay in the request's trace.
//!
//! `cargo run --example spawned-task` posts one order to a server on loopback; the handler
//! answers 202 at once and sends the confirmation from a background task, carrying the context,
//! and writes an audit line from another one, without it. Two traces print, each under a line
//! that says which it is: the order's, with the background work in it, and the audit task's on
//! its own.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tokio::sync::mpsc;
use tracecore::export::{InMemoryExporter, WaterfallOptions, render_waterfall};
use tracecore::trace::{Tracer, TracerProvider};
use tracecore::{Context, FutureExt};
use tracecore_reqwest::TraceMiddleware;
use tracecore_tower::ServerLayer;

#[derive(Clone)]
struct App {
    tracer: Tracer,
    client: ClientWithMiddleware,
    mailer: String,
    /// Each background task says here when it is done.
    done: mpsc::Sender<()>,
}

async fn place_order(State(app): State<App>) -> StatusCode {
    // Carries this request's context: the task's spans join the request's trace.
    tokio::spawn(send_confirmation(app.clone()).in_current_context());
    // Carries nothing: the task's span is the root of a trace of its own.
    tokio::spawn(write_audit_line(app));
    StatusCode::ACCEPTED
}

async fn send_confirmation(app: App) {
    let span = app.tracer.start("send confirmation");
    let cx = span.context(&Context::current());
    let result = app.client.post(&app.mailer).send().with_context(cx).await;
    if let Err(e) = result {
        span.record_error(&e);
    }
    span.end();
    let _ = app.done.send(()).await;
}

async fn write_audit_line(app: App) {
    let span = app.tracer.start("write audit line");
    tokio::time::sleep(Duration::from_millis(1)).await;
    span.end();
    let _ = app.done.send(()).await;
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The spans are kept and printed together at the end: the background work ends after the
    // request's span, and the console exporter would print that part of the trace apart.
    let spans = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_service_name("shop")
        .with_simple_exporter(spans.clone())
        .build();
    let tracer = provider.tracer("shop");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let (done, mut finished) = mpsc::channel(2);
    let app = App {
        tracer: tracer.clone(),
        client: ClientBuilder::new(reqwest::Client::new())
            .with(TraceMiddleware::new(tracer.clone()))
            .build(),
        mailer: format!("{base}/emails"),
        done,
    };
    let router = Router::new()
        .route("/orders", post(place_order))
        .route("/emails", post(|| async { StatusCode::NO_CONTENT }))
        .with_state(app)
        .layer(ServerLayer::new(tracer));
    tokio::spawn(axum::serve(listener, router).into_future());

    let reply = reqwest::Client::new()
        .post(format!("{base}/orders"))
        .send()
        .await?;
    println!("POST /orders -> {}", reply.status());
    for _ in 0..2 {
        tokio::time::timeout(Duration::from_secs(5), finished.recv()).await?;
    }
    // The server's spans end as their bodies finish: wait for all five.
    for _ in 0..100 {
        if spans.finished_spans().len() >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let all = spans.finished_spans().as_slice().to_vec();
    let order = all
        .iter()
        .find(|s| s.name == "POST /orders")
        .map(|s| s.span_context.trace_id());
    let (in_order, apart): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|s| Some(s.span_context.trace_id()) == order);
    let options = WaterfallOptions::default();
    println!(
        "\nThe order's trace: the request, and the confirmation its task sent with the context"
    );
    print!("{}", render_waterfall(&in_order, &options));
    println!("\nThe audit task, spawned without the context: a trace of its own");
    print!("{}", render_waterfall(&apart, &options));
    Ok(())
}
