//! The client layer: one CLIENT span per request through a tower HTTP client (hyper-util's
//! `Client`, or any `Service<http::Request<B>, Response = http::Response<R>>`).
//!
//! - **`call`**: the parent is a [`Context`](tracecore::Context) in the request's extensions,
//!   else the current context (the SERVER span of the request being handled), else none (a new
//!   trace). The CLIENT span starts with `http.request.method`, `url.full` (credentials and
//!   sensitive query values redacted), `server.address` and `server.port` (explicit, else 80 /
//!   443 by the scheme), and is injected into the request headers.
//! - **response headers**: `http.response.status_code`, `network.protocol.version`; 4xx and 5xx
//!   set status Error with `error.type` = the code. The span ends here: the body download is
//!   not part of it.
//! - **an error**: status Error, `error.type` from
//!   [`FailureKind::classify`](tracecore::http_span::FailureKind::classify), an `exception` event.
//! - **the future dropped** (the caller gave up): the span ends with `tracecore.cancelled = true`
//!   and no error.
//! - **a gRPC call** (`content-type: application/grpc`, a tonic `Channel` wrapped by the
//!   layer): traced by the RPC rules instead ([`tracecore::rpc`]): named by its method, with
//!   `rpc.system.name`, `rpc.method`, `server.*`; the span lasts until the response body's
//!   trailers, whose `grpc-status` (or a trailers-only response's) is its status: every code but
//!   OK is an error. A transport failure is `UNAVAILABLE` (`DEADLINE_EXCEEDED` for a timeout), a
//!   body dropped before its end `CANCELLED`.
//!
//! Per request, in the extensions: [`NoSpan`](tracecore::http_span::NoSpan),
//! [`NoPropagation`](tracecore::http_span::NoPropagation),
//! [`UrlTemplate`](tracecore::http_span::UrlTemplate).
//!
//! The same implementation ([`ClientTracing`](tracecore::http_span::ClientTracing)) serves the
//! reqwest middleware.

mod body;
mod future;
mod layer;
mod service;

pub use body::ClientResponseBody;
pub use future::ClientResponseFuture;
pub use layer::ClientLayer;
pub use service::Client;
