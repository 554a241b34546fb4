//! The bridge from the `tracing` crate to tracecore: a service's existing `#[instrument]` spans
//! and `info!` events join the same traces as tracecore's SERVER and CLIENT spans, and (with the
//! `fmt` feature) its log lines carry trace ids.
//!
//! Add [`TracecoreLayer`] to a `tracing-subscriber` registry. tracecore's
//! [`Context`](tracecore::Context) stays the one notion of "current": entering a `tracing` span
//! makes its context current and exiting restores the previous one, and a new span's parent is
//! the current context (or its explicit `parent:`). So an `#[instrument]` function called from
//! an axum handler under `tracecore-tower`'s `ServerLayer` is a child of the SERVER span, a
//! reqwest call through `tracecore-reqwest` made inside it is its child, and nothing in the
//! handler passes ids by hand.
//!
//! ```
//! use tracecore::export::InMemoryExporter;
//! use tracecore::trace::{SpanKind, TracerProvider};
//! use tracecore_tracing::TracecoreLayer;
//! use tracing_subscriber::layer::SubscriberExt;
//!
//! #[tracing::instrument(fields(order.id = id))]
//! fn validate_order(id: u64) {
//!     tracing::info!(items = 3, "order accepted");
//! }
//!
//! let exporter = InMemoryExporter::new();
//! let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let tracer = provider.tracer("gateway");
//! let subscriber = tracing_subscriber::registry().with(TracecoreLayer::new(tracer.clone()));
//! tracing::subscriber::with_default(subscriber, || {
//!     // What `ServerLayer` does for each request: a SERVER span made current.
//!     let server = tracer.span_builder("GET /orders/{id}").with_kind(SpanKind::Server).start();
//!     let _request = server.context(&tracecore::Context::new()).attach();
//!     validate_order(42);
//! });
//!
//! let spans = exporter.finished_spans();
//! spans.assert_parent("validate_order", "GET /orders/{id}");
//! let validate = spans.named("validate_order");
//! assert_eq!(validate.attribute("order.id").and_then(tracecore::Value::as_i64), Some(42));
//! assert_eq!(validate.events[0].name, "order accepted");
//! ```
//!
//! Migrating from tracing-opentelemetry needs no change to instrumented code: the fields
//! `otel.name`, `otel.kind`, `otel.status_code` and `otel.status_description`, the error
//! mappings (`#[instrument(err)]`, `dyn Error` fields) and their switches keep their meaning
//! (checked against tracing-opentelemetry 0.34 by running the same code through both), and
//! [`TracingSpanExt`] has `context`, `set_parent`, `add_link`, `set_attribute`, `set_status`
//! and `add_event`; [`get_context`] reads a span's context by id. Unlike there, `set_parent` on a
//! span that has already started returns an error instead of doing nothing, and code location
//! is off by default. The crate's README has the whole table.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod ext;
mod fields;
#[cfg(feature = "fmt")]
#[cfg_attr(docsrs, doc(cfg(feature = "fmt")))]
pub mod fmt;
mod layer;
mod logs;
mod slot;
mod stack;

pub use ext::{SetParentError, TracingSpanExt, get_context};
pub use layer::TracecoreLayer;
pub use logs::LogLayer;
