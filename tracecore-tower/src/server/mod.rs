//! The server layer: one SERVER span per request.
//!
//! When each thing happens:
//!
//! - **`call`**: the request's headers are extracted with the configured propagators (never a
//!   no-op: `OTEL_PROPAGATORS`, default W3C trace context and baggage). A valid `traceparent`
//!   makes the caller's span the parent; without one (or with an invalid one) a new trace starts.
//!   The SERVER span starts with the request attributes (samplers see them). With
//!   [`ServerLayer::with_context_extension`] its context also goes into the request extensions
//!   (`Extension<Context>` in axum), for code that runs outside the handler's polls.
//! - **every poll of the handler's future**: the request's context is the current context
//!   ([`RequestContext`](crate) reads it in an axum handler, feature `axum`), so a client call
//!   made in the handler (reqwest with `tracecore-reqwest`, or [`ClientLayer`](crate::ClientLayer))
//!   is a child of the SERVER span with no code in the handler. `tokio::spawn` does not carry it:
//!   use `tracecore::FutureExt::in_current_context` on the spawned future.
//! - **response headers**: `http.response.status_code`; 5xx sets status Error and `error.type`,
//!   4xx does not (it is the caller's error). An `Err` from the inner service sets Error,
//!   `error.type` (the error's type name) and an `exception` event, and ends the span.
//! - **end of the response body**: the span ends. A body error sets Error (`error.type` =
//!   `body_error`). A body dropped before its end (the client went away mid-stream) or a request
//!   future dropped before the response (the client went away, or a timeout cancelled it) ends
//!   the span with `tracecore.cancelled = true` and the status it had.

//!
//! The rules themselves (what the span records, its status, the response header) are
//! [`tracecore::http_span::ServerTracing`]'s, shared with every server integration: this module
//! is the tower adapter (the `Layer`, `Service`, future and body) and what only tower and axum
//! know (the hooks, `MatchedPath`, `ConnectInfo`).

mod body;
mod future;
mod hooks;
mod layer;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use hooks::{RequestPredicate, RouteTemplate};
pub use layer::ServerLayer;
pub use service::Server;
pub use tracecore::http_span::{PeerAddr, ResponseHeader};
