//! [`ResponseFuture`]: runs the handler inside the request's context and records the response.

use std::any::type_name;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use http::header::{HeaderName, HeaderValue};
use pin_project_lite::pin_project;
use tracecore::http_span::Side;
use tracecore::trace::{Span, Status};
use tracecore::{KeyValue, WithContext, semconv};

use super::layer::Config;
use super::{ResponseBody, ResponseHeader, SpanGuard};

pin_project! {
    /// The response future of [`Server`](super::Server).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: WithContext<F>,
        guard: SpanGuard,
        config: Option<Arc<Config>>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn traced(inner: WithContext<F>, span: Span, config: Arc<Config>) -> Self {
        Self {
            inner,
            guard: SpanGuard::new(span),
            config: Some(config),
        }
    }

    pub(crate) fn untraced(inner: WithContext<F>) -> Self {
        Self {
            inner,
            guard: SpanGuard::none(),
            config: None,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
    B: http_body::Body,
    B::Error: fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut guard = std::mem::replace(this.guard, SpanGuard::none());
        match result {
            Ok(mut response) => {
                if let (Some(span), Some(config)) = (guard.span(), this.config.as_deref()) {
                    record_response(span, config, &mut response);
                }
                let (parts, body) = response.into_parts();
                if body.is_end_stream() {
                    guard.finish();
                }
                Poll::Ready(Ok(Response::from_parts(
                    parts,
                    ResponseBody::new(body, guard),
                )))
            }
            Err(error) => {
                if let Some(span) = guard.take() {
                    record_error(&span, type_name::<E>(), type_name::<E>(), &error);
                    span.end();
                }
                Poll::Ready(Err(error))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.guard.span())
            .finish_non_exhaustive()
    }
}

fn record_response<B>(span: &Span, config: &Config, response: &mut Response<B>) {
    if !config.response_headers.is_empty() && span.is_recording() {
        span.set_attributes(config.response_headers.attributes(response.headers()));
    }
    Side::Server.record_response(&span.as_ref(), response.status());
    let header = match config.response_header {
        ResponseHeader::None => return,
        ResponseHeader::Traceparent => None,
        ResponseHeader::ServerTiming => Some("trace;desc="),
    };
    let traceparent = span.span_context().traceparent().to_string();
    let headers = response.headers_mut();
    match header {
        None => {
            if let Ok(value) = HeaderValue::from_str(&traceparent) {
                headers.insert(HeaderName::from_static("traceparent"), value);
            }
        }
        Some(prefix) => {
            if let Ok(value) = HeaderValue::from_str(&format!("{prefix}{traceparent}")) {
                headers.append(HeaderName::from_static("server-timing"), value);
            }
        }
    }
}

/// Status Error, `error.type` and an `exception` event for an error known only by its type and
/// message (a tower error need not implement `std::error::Error`).
pub(crate) fn record_error(
    span: &Span,
    error_type: &'static str,
    exception_type: &'static str,
    error: &dyn fmt::Display,
) {
    if !span.is_recording() {
        return;
    }
    let message = error.to_string();
    span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
    span.add_event(
        "exception",
        vec![
            KeyValue::new(semconv::EXCEPTION_TYPE, exception_type),
            KeyValue::new(semconv::EXCEPTION_MESSAGE, message.clone()),
        ],
    );
    span.set_status(Status::error(message));
}
