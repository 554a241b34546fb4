//! tracecore: distributed tracing over HTTP, correct to the letter of W3C Trace Context and the
//! OpenTelemetry conventions.
//!
//! This crate is the core: the value types of a trace ([`TraceId`], [`SpanId`], [`TraceFlags`],
//! [`TraceState`], [`SpanContext`], [`Baggage`]), the [`Context`] a request carries (explicitly
//! and ambiently), and [`propagation`] over HTTP headers. The tower layer and the reqwest
//! middleware live in `tracecore-tower` and `tracecore-reqwest`.
//!
//! ```
//! use tracecore::propagation::{self, Propagator};
//! use tracecore::{Context, IdGenerator, RandomIdGenerator, SpanContext, TraceFlags};
//!
//! // A server receives a request...
//! let mut incoming = http::HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! let propagator = propagation::default();
//! let parent = propagator.extract(&incoming);
//!
//! // ...works under a child span of the caller's...
//! let caller = parent.span_context().unwrap();
//! let child = SpanContext::new(
//!     caller.trace_id(),
//!     RandomIdGenerator::new().new_span_id(),
//!     caller.flags(),
//!     false,
//!     caller.trace_state().clone(),
//! );
//! let cx = parent.with_span_context(child);
//!
//! // ...and the next hop continues the same trace with this span as its parent.
//! let mut outgoing = http::HeaderMap::new();
//! propagator.inject_context(&cx, &mut outgoing);
//! let sent = outgoing["traceparent"].to_str().unwrap();
//! assert!(sent.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
//! assert!(!sent.contains("00f067aa0ba902b7"));
//! ```

mod attribute;
mod baggage;
mod context;
pub mod diag;
mod env;
pub mod export;
mod flags;
mod hex;
pub mod http_span;
mod id;
mod id_gen;
pub mod integration;
pub mod logs;
pub mod messaging;
pub mod metrics;
pub mod propagation;
pub mod rpc;
pub mod semconv;
mod span_context;
mod text;
pub mod trace;
mod trace_state;

pub use attribute::{Array, Key, KeyValue, Value};
pub use baggage::{Baggage, BaggageEntry, BaggageError};
pub use context::{Context, ContextGuard, FutureExt, WithContext};
pub use flags::TraceFlags;
pub use id::{ParseIdError, SpanId, TraceId};
pub use id_gen::{IdGenerator, RandomIdGenerator, SeededIdGenerator};
pub use span_context::{SpanContext, Traceparent};
pub use trace_state::{TraceState, TraceStateError};
