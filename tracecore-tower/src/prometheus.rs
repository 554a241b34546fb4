//! [`PrometheusService`]: a provider's metrics for Prometheus scrapes.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context as TaskContext, Poll};

use http::header::{ACCEPT, CONTENT_TYPE, HeaderValue};
use http::{Request, Response};
use tower_service::Service;
use tracecore::metrics::ManualReader;
use tracecore::metrics::prometheus::{Format, render};

/// Answers every request with the metrics `reader` collects now: the Prometheus text format
/// 0.0.4, or OpenMetrics 1.0 (with exemplars) when the request's `Accept` prefers it.
///
/// Mount it where no `ServerLayer` wraps it, so that scrapes are neither traced nor measured:
/// with axum, add the route after the layer (`Router::layer` wraps only the routes added before
/// it).
///
/// ```
/// use axum::{Router, routing::get};
/// use tracecore::http_span::HttpInstrumentation;
/// use tracecore::metrics::{ManualReader, MeterProvider};
/// use tracecore::trace::TracerProvider;
/// use tracecore_tower::{PrometheusService, ServerLayer};
///
/// let reader = ManualReader::new();
/// let meters = MeterProvider::builder().with_reader(reader.clone()).build();
/// let tracer = TracerProvider::builder().build().tracer("app");
/// let http = HttpInstrumentation::from(tracer).with_meter_provider(&meters);
/// let app: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "an order" }))
///     .layer(ServerLayer::new(http))
///     .route_service("/metrics", PrometheusService::new(reader));
/// ```
///
/// Collecting reads the series' atomics and takes no lock that recording waits on.
#[derive(Clone, Debug)]
pub struct PrometheusService {
    reader: ManualReader,
}

impl PrometheusService {
    /// Serves what `reader` collects (give the same reader to the `MeterProvider`).
    pub fn new(reader: ManualReader) -> Self {
        Self { reader }
    }

    /// The exposition for a request whose `Accept` header is `accept`: the body and its
    /// `Content-Type`.
    pub fn render(&self, accept: Option<&str>) -> (String, &'static str) {
        let format = Format::negotiate(accept);
        (
            render(&self.reader.collect(), format),
            format.content_type(),
        )
    }
}

impl<B> Service<Request<B>> for PrometheusService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut TaskContext<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let accept = request.headers().get(ACCEPT).and_then(|v| v.to_str().ok());
        let (body, content_type) = self.render(accept);
        let mut response = Response::new(body);
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        ready(Ok(response))
    }
}
