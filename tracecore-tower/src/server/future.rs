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
use tracecore::WithContext;
use tracecore::http_span::{InFlight, Side};

use super::layer::Config;
use super::{ResponseBody, ResponseHeader};

pin_project! {
    /// The response future of [`Server`](super::Server).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: WithContext<F>,
        guard: InFlight,
        config: Option<Arc<Config>>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn traced(inner: WithContext<F>, guard: InFlight, config: Arc<Config>) -> Self {
        Self {
            inner,
            guard,
            config: Some(config),
        }
    }

    pub(crate) fn untraced(inner: WithContext<F>) -> Self {
        Self {
            inner,
            guard: InFlight::default(),
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
        let result = {
            let _unwinding = EndOnPanic(this.guard, "the handler panicked");
            ready!(this.inner.poll(cx))
        };
        let mut guard = std::mem::take(this.guard);
        match result {
            Ok(mut response) => {
                if let Some(config) = this.config.as_deref() {
                    record_response(&mut guard, config, &mut response);
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
                guard.record_failure(type_name::<E>(), type_name::<E>(), &error);
                guard.finish();
                Poll::Ready(Err(error))
            }
        }
    }
}

/// Held while the handler (or the response body) is polled: if it panics, the unwinding drops
/// it and the span ends with status Error and `error.type` `panic`, whether or not a
/// catch-panic layer further out turns the panic into a 500 (the span would otherwise end later
/// marked only cancelled).
pub(crate) struct EndOnPanic<'a>(pub(crate) &'a mut InFlight, pub(crate) &'static str);

impl Drop for EndOnPanic<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() && self.0.span().is_some() {
            self.0.record_failure("panic", "panic", &self.1);
            self.0.finish();
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

fn record_response<B>(guard: &mut InFlight, config: &Config, response: &mut Response<B>) {
    guard.record_response(Side::Server, response.status());
    // A trailers-only gRPC response carries its status in the headers.
    if guard.is_rpc()
        && let Some((code, message)) = tracecore::rpc::status(response.headers())
    {
        guard.record_rpc_status(code, message.as_deref());
    }
    let Some(span) = guard.span() else {
        return;
    };
    let capture = if guard.is_rpc() {
        &config.rpc_response_metadata
    } else {
        &config.response_headers
    };
    if !capture.is_empty() && span.is_recording() {
        let mut captured = capture.attributes(response.headers());
        tracecore::http_span::limit_values(&mut captured, config.max_value_length);
        span.set_attributes(captured);
    }
    let traceparent = || span.span_context().traceparent();
    let (name, value) = match config.response_header {
        ResponseHeader::None => return,
        ResponseHeader::Traceparent => ("traceparent", traceparent().to_string()),
        ResponseHeader::ServerTiming => ("server-timing", format!("trace;desc={}", traceparent())),
    };
    // A traceparent is always a valid header value. One `traceparent` only; a `server-timing`
    // the handler set is kept.
    if let Ok(value) = HeaderValue::from_str(&value) {
        let headers = response.headers_mut();
        let name = HeaderName::from_static(name);
        if name == "traceparent" {
            headers.insert(name, value);
        } else {
            headers.append(name, value);
        }
    }
}
