//! reqwest-middleware for tracecore: every request through the client gets a CLIENT span, and
//! the next service continues the trace.
//!
//! ```
//! use reqwest_middleware::ClientBuilder;
//! use tracecore::trace::TracerProvider;
//! use tracecore_reqwest::TraceMiddleware;
//!
//! let provider = TracerProvider::builder().with_service_name("gateway").build();
//! let client = ClientBuilder::new(reqwest::Client::new())
//!     .with(TraceMiddleware::new(provider.tracer("gateway")))
//!     .build();
//! # let _ = client;
//! ```
//!
//! - **Parent**: a [`Context`](tracecore::Context) in the request's extensions
//!   (`RequestBuilder::with_extension`), else the current context (inside a handler behind
//!   `tracecore-tower`'s server layer: its SERVER span), else none (a new trace).
//! - **Span**: kind CLIENT, named `{METHOD}` or `{METHOD} {template}` with a
//!   [`UrlTemplate`](tracecore::http_span::UrlTemplate) extension. Attributes:
//!   `http.request.method` (and `_original`), `url.full` (credentials replaced by
//!   `REDACTED:REDACTED`, sensitive query values redacted), `server.address`, `server.port` (the
//!   URL's port, else the scheme's default: 80 for http, 443 for https),
//!   `network.protocol.version`, `http.response.status_code`, `error.type`;
//!   `user_agent.original` and header capture opt-in through
//!   [`ClientTracing`](tracecore::http_span::ClientTracing).
//! - **Status**: 4xx and 5xx are Error with `error.type` = the code. A transport failure is Error
//!   with `error.type` `connection_error`, `timeout`, `too_many_redirects`, `body_error`,
//!   `decode_error`, `request_error` or `_OTHER`, and an `exception` event. A request the
//!   caller cancels (drops its future) is not an error: the span ends with
//!   `tracecore.cancelled = true`.
//! - **Injection** with `OTEL_PROPAGATORS` (default W3C `traceparent`, `tracestate`, `baggage`).
//!   A value that cannot be a header is skipped and counted (`tracecore::diag`), never a panic.
//! - **End**: when the response headers arrive; [`TraceMiddleware::with_body`] makes the span
//!   cover the body download too.
//! - **Per request**: [`NoSpan`](tracecore::http_span::NoSpan) (no span, the current context is
//!   still injected), [`NoPropagation`](tracecore::http_span::NoPropagation) (nothing injected).
//! - **Retries**: add this middleware *after* `reqwest-retry`'s (`.with(retry).with(trace)`):
//!   each attempt is then its own CLIENT span with its own `traceparent`, and
//!   `http.request.resend_count` counts from the second attempt on.

mod body;
mod middleware;

pub use body::TracedBody;
pub use middleware::TraceMiddleware;
