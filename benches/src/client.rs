//! The reqwest middleware against a local axum server on loopback: a bare reqwest-middleware
//! client, with tracecore's `TraceMiddleware`, and with reqwest-tracing's `TracingMiddleware`
//! (tracing-opentelemetry 0.33 into opentelemetry_sdk 0.32: reqwest-tracing's newest supported
//! opentelemetry; batch processor, no-op exporter).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tracing_subscriber::layer::SubscriberExt;

use crate::spans;

/// Which middleware the client has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    Bare,
    Tracecore,
    ReqwestTracing,
}

impl Stack {
    pub const ALL: [Self; 3] = [Self::Bare, Self::Tracecore, Self::ReqwestTracing];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Bare => "bare",
            Self::Tracecore => "tracecore",
            Self::ReqwestTracing => "reqwest_tracing",
        }
    }
}

#[derive(Debug)]
struct NoopExporter032;

impl opentelemetry_sdk_0_32::trace::SpanExporter for NoopExporter032 {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk_0_32::trace::SpanData>,
    ) -> opentelemetry_sdk_0_32::error::OTelSdkResult {
        black_box(batch);
        Ok(())
    }
}

/// A hello-world server on a loopback port, on its own runtime thread.
pub fn start_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let app = Router::new().route("/items/{id}", get(|| async { "an item" }));
            axum::serve(listener, app).await.unwrap();
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

pub struct Client {
    pub stack: Stack,
    client: ClientWithMiddleware,
    url: String,
    runtime: tokio::runtime::Runtime,
    tracecore: Option<spans::Tracecore>,
    otel: Option<opentelemetry_sdk_0_32::trace::SdkTracerProvider>,
    pub dispatch: tracing::Dispatch,
}

impl Client {
    pub fn new(stack: Stack, server: SocketAddr) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let http = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut tracecore = None;
        let mut otel = None;
        let mut dispatch = tracing::Dispatch::none();
        let client = match stack {
            Stack::Bare => ClientBuilder::new(http).build(),
            Stack::Tracecore => {
                let t = spans::Tracecore::new(true);
                let middleware = tracecore_reqwest::TraceMiddleware::new(t.http.clone());
                tracecore = Some(t);
                ClientBuilder::new(http).with(middleware).build()
            }
            Stack::ReqwestTracing => {
                use opentelemetry_0_32::trace::TracerProvider as _;
                use opentelemetry_sdk_0_32::trace::{BatchConfigBuilder, BatchSpanProcessor};
                opentelemetry_0_32::global::set_text_map_propagator(
                    opentelemetry_sdk_0_32::propagation::TraceContextPropagator::new(),
                );
                let processor = BatchSpanProcessor::builder(NoopExporter032)
                    .with_batch_config(
                        BatchConfigBuilder::default()
                            .with_max_queue_size(4096)
                            .build(),
                    )
                    .build();
                let provider = opentelemetry_sdk_0_32::trace::SdkTracerProvider::builder()
                    .with_span_processor(processor)
                    .build();
                let layer =
                    tracing_opentelemetry_0_33::layer().with_tracer(provider.tracer("bench"));
                dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(layer));
                otel = Some(provider);
                ClientBuilder::new(http)
                    .with(reqwest_tracing::TracingMiddleware::default())
                    .build()
            }
        };
        Self {
            stack,
            client,
            url: format!("http://{server}/items/42"),
            runtime,
            tracecore,
            otel,
            dispatch,
        }
    }

    /// One GET, its body read.
    pub fn request(&self) {
        self.runtime.block_on(async {
            let response = self.client.get(&self.url).send().await.unwrap();
            black_box(response.bytes().await.unwrap());
        });
    }

    pub fn flush(&self) {
        if let Some(t) = &self.tracecore {
            t.flush();
        }
        if let Some(o) = &self.otel {
            let _ = o.force_flush();
        }
    }

    pub fn dropped(&self) -> u64 {
        self.tracecore.as_ref().map_or(0, spans::Tracecore::dropped)
    }
}
