//! [`TraceMiddleware`].

use std::future::Future;
use std::pin::Pin;

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::{Middleware, Next, Result};
use tracecore::Context;
use tracecore::http_span::{
    ClientRequest, ClientSpan, ClientTracing, FailureKind, HttpInstrumentation, NoPropagation,
    NoSpan, UntrustedDownstream, UrlTemplate,
};

use crate::body;

/// The middleware: a CLIENT span per request (per attempt under retries), injected into the
/// request headers. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TraceMiddleware {
    tracing: ClientTracing,
    cover_body: bool,
}

/// How many times this request went through the middleware: 0 on the first attempt.
#[derive(Clone, Copy, Debug)]
struct Attempt(u32);

impl TraceMiddleware {
    /// Traces with `instrumentation` (a [`Tracer`](tracecore::trace::Tracer), or an
    /// [`HttpInstrumentation`] that records the HTTP metrics too), injecting with
    /// `OTEL_PROPAGATORS` (default: W3C trace context and baggage).
    pub fn new(instrumentation: impl Into<HttpInstrumentation>) -> Self {
        Self::from_tracing(ClientTracing::new(instrumentation))
    }

    /// Traces as `tracing` says (propagator, redaction, header capture, user agent).
    pub fn from_tracing(tracing: ClientTracing) -> Self {
        Self {
            tracing,
            cover_body: false,
        }
    }

    /// Ends the span when the response body has been read to its end (or failed, or was
    /// dropped) instead of when the response headers arrive.
    #[must_use]
    pub fn with_body(mut self, cover_body: bool) -> Self {
        self.cover_body = cover_body;
        self
    }

    async fn run(
        &self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> Result<Response> {
        let attempt = extensions
            .get::<Attempt>()
            .map_or(0, |a| a.0.saturating_add(1));
        extensions.insert(Attempt(attempt));
        let parent = extensions
            .get::<Context>()
            .cloned()
            .unwrap_or_else(Context::current);
        let propagate = extensions.get::<NoPropagation>().is_none();
        if extensions.get::<NoSpan>().is_some() {
            if propagate {
                self.tracing.inject_only(&parent, request.headers_mut());
            }
            return next.run(request, extensions).await;
        }

        // The headers are moved out while the request's method and URL are borrowed for the
        // span (an empty `HeaderMap` does not allocate).
        let mut headers = std::mem::take(request.headers_mut());
        let url = request.url();
        let template = extensions.get::<UrlTemplate>().map(|t| &*t.0);
        let info = ClientRequest::new(request.method(), url.as_str(), url.host_str(), url.port())
            .with_template(template)
            .with_resend_count(attempt)
            .with_trusted_downstream(extensions.get::<UntrustedDownstream>().is_none());
        let mut span = if propagate {
            self.tracing.start(&parent, &info, &mut headers)
        } else {
            self.tracing.start_span(&parent, &info, &headers)
        };
        *request.headers_mut() = headers;
        if let Some(body) = request.body().and_then(reqwest::Body::as_bytes) {
            span.set_request_body_size(body.len() as u64);
        }

        let result = next.run(request, extensions).await;
        match result {
            Ok(response) => {
                span.record_response(response.status(), response.version(), response.headers());
                if self.cover_body || span.reads_body() {
                    Ok(body::wrap(response, span, self.cover_body))
                } else {
                    span.end();
                    Ok(response)
                }
            }
            Err(error) => {
                record_error(&mut span, &error);
                span.end();
                Err(error)
            }
        }
    }
}

fn record_error(span: &mut ClientSpan, error: &reqwest_middleware::Error) {
    match error {
        reqwest_middleware::Error::Reqwest(e) => span.record_failure(failure_kind(e), e),
        reqwest_middleware::Error::Middleware(e) => {
            let e: &(dyn std::error::Error + 'static) = e.as_ref();
            span.record_failure(FailureKind::classify(e), e);
        }
    }
}

/// The low-cardinality `error.type` of a reqwest error.
pub(crate) fn failure_kind(error: &reqwest::Error) -> FailureKind {
    if error.is_timeout() {
        FailureKind::Timeout
    } else if error.is_connect() {
        FailureKind::Connect
    } else if error.is_redirect() {
        FailureKind::Redirect
    } else if error.is_body() {
        FailureKind::Body
    } else if error.is_decode() {
        FailureKind::Decode
    } else if error.is_builder() || error.is_request() {
        FailureKind::Request
    } else {
        FailureKind::classify(error)
    }
}

impl Middleware for TraceMiddleware {
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        request: Request,
        extensions: &'life1 mut Extensions,
        next: Next<'life2>,
    ) -> Pin<Box<dyn Future<Output = Result<Response>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        Box::pin(self.run(request, extensions, next))
    }
}
