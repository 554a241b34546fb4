//! Spans, tracers, the provider that owns a service's pipeline, and sampling.
//!
//! ```
//! use std::time::Duration;
//! use tracecore::export::InMemoryExporter;
//! use tracecore::trace::{SpanKind, Status, TracerProvider};
//! use tracecore::{Context, KeyValue};
//!
//! let exporter = InMemoryExporter::new();
//! let provider = TracerProvider::builder()
//!     .with_service_name("inventory")
//!     .with_simple_exporter(exporter.clone())
//!     .build();
//! let tracer = provider.tracer("my-app");
//!
//! let server = tracer.span_builder("GET /items/{id}").with_kind(SpanKind::Server).start_with_context(&Context::new());
//! {
//!     // Code inside the request sees the span through the ambient context.
//!     let _guard = server.context(&Context::new()).attach();
//!     let child = tracer.start("load item");
//!     Context::current().span().set_attribute(KeyValue::new("item.id", 42));
//!     child.end();
//! }
//! server.set_status(Status::error("storage failed"));
//! server.end();
//!
//! let spans = exporter.finished_spans();
//! let (parent, child) = (spans.named("GET /items/{id}"), spans.named("load item"));
//! assert!(child.is_child_of(parent));
//! assert_eq!(parent.attribute("item.id").unwrap().as_i64(), Some(42));
//! assert!(parent.status.is_error());
//! ```
//!
//! A span that the sampler drops is a [`Span`] that only carries its context: it allocates
//! nothing, reads no clock, and ignores updates, while its context still propagates. A recording
//! span costs one allocation (the shared span; its attribute list is recycled from exported
//! spans) and ends exactly once: on [`Span::end`], or when dropped (also while unwinding from a
//! panic).

pub(crate) mod clock;
pub(crate) mod limits;
mod probability;
mod provider;
pub(crate) mod recycle;
pub(crate) mod resource;
mod sampler;
mod span;
mod span_data;
pub(crate) mod tail;
mod tracer;

pub(crate) use span::RecordingSpan;

pub use limits::SpanLimits;
pub use probability::{DEFAULT_PRECISION, ProbabilitySampler};
pub use provider::{TracerProvider, TracerProviderBuilder};
pub use resource::{InstrumentationScope, Resource, ResourceBuilder};
pub use sampler::{
    AlwaysOff, AlwaysOn, ParentBased, Sampler, SamplingDecision, SamplingParameters,
    SamplingResult, TraceIdRatioBased, sampler_from_env, sampler_from_env_values,
};
pub use span::{Event, Link, Span, SpanKind, SpanRef, Status};
pub use span_data::SpanData;
pub use tail::{DEFAULT_MAX_AGE, DEFAULT_MAX_BYTES, RULE_ATTRIBUTE, TailSampling};
pub use tracer::{SpanBuilder, StartAttributes, Tracer};
