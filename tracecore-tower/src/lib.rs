//! Tower layers for tracecore: every request through a server gets a SERVER span that continues
//! the caller's trace; every request through a client gets a CLIENT span and carries the trace on.
//!
//! - [`ServerLayer`]: for axum `Router`s and any hyper 1 / tower HTTP server. Extracts the
//!   incoming `traceparent` (and `tracestate`, `baggage`), starts a SERVER span, makes it the
//!   current context while the handler runs, and ends it when the response body is done.
//! - [`ClientLayer`]: for hyper-util's client and any tower HTTP client service. Starts a CLIENT
//!   span, injects it, records the response. The reqwest middleware (`tracecore-reqwest`)
//!   shares the same implementation ([`tracecore::http_span::ClientTracing`]).
//!
//! ```
//! use axum::{Router, routing::get};
//! use tracecore::trace::TracerProvider;
//! use tracecore_tower::ServerLayer;
//!
//! let provider = TracerProvider::builder().with_service_name("inventory").build();
//! let app: Router = Router::new()
//!     .route("/items/{id}", get(|| async { "an item" }))
//!     .layer(ServerLayer::new(provider.tracer("inventory")));
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod client;
#[cfg(feature = "axum")]
mod extract;
mod prometheus;
mod server;

pub use client::{Client, ClientLayer, ClientResponseBody, ClientResponseFuture};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use extract::RequestContext;
pub use prometheus::PrometheusService;
pub use server::{
    PeerAddr, RequestPredicate, ResponseBody, ResponseFuture, ResponseHeader, RouteTemplate,
    Server, ServerLayer,
};
