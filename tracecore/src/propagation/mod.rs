//! Carrying a [`Context`] across process boundaries in HTTP headers.
//!
//! A [`Propagator`] injects the context into outgoing headers and extracts it from incoming ones.
//! tracecore ships W3C Trace Context ([`TraceContextPropagator`]), W3C Baggage
//! ([`BaggagePropagator`]), B3 single and multi-header ([`B3Propagator`]) and Jaeger
//! ([`JaegerPropagator`]); a [`CompositePropagator`] runs several in order. The default is
//! `tracecontext,baggage`, never a no-op; [`from_env`] reads `OTEL_PROPAGATORS`.
//!
//! ```
//! use tracecore::propagation::{self, Propagator};
//!
//! let mut incoming = http::HeaderMap::new();
//! incoming.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! incoming.insert("baggage", "tenant=acme".parse().unwrap());
//!
//! let propagator = propagation::default();
//! let cx = propagator.extract(&incoming);
//! let parent = cx.span_context().unwrap();
//! assert!(parent.is_remote() && parent.is_sampled());
//! assert_eq!(cx.baggage().get("tenant"), Some("acme"));
//!
//! let mut outgoing = http::HeaderMap::new();
//! propagator.inject_context(&cx, &mut outgoing);
//! assert_eq!(outgoing["traceparent"], incoming["traceparent"]);
//! assert_eq!(outgoing["baggage"], "tenant=acme");
//! ```
//!
//! Extraction never fails and never panics: whatever is malformed is ignored as the specs say
//! (an invalid `traceparent` restarts the trace), and counted in [`crate::diag`]. Injection never
//! writes an invalid header value.

mod b3;
mod baggage;
mod carrier;
mod composite;
mod env;
mod jaeger;
mod trace_context;

pub use b3::{B3Encoding, B3Propagator};
pub use baggage::BaggagePropagator;
pub use carrier::{Extractor, Injector, ScannedHeaders, Values};
pub use composite::CompositePropagator;
pub use env::{from_env, from_env_value};
pub use jaeger::JaegerPropagator;
pub use trace_context::{TraceContextPropagator, TraceparentError};

use std::fmt;

use crate::Context;

/// Injects a context into a carrier and extracts one from it.
pub trait Propagator: Send + Sync + fmt::Debug {
    /// Writes the fields that carry `cx` into `injector`.
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector);

    /// Returns `cx` updated with what `extractor` carries. What is missing or malformed leaves
    /// the corresponding part of `cx` as it was.
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context;

    /// The header names this propagator writes (lowercase).
    fn fields(&self) -> &[&'static str];

    /// Injects the current context.
    fn inject(&self, injector: &mut dyn Injector) {
        self.inject_context(&Context::current(), injector);
    }

    /// Extracts into an empty context: what a server does with an incoming request.
    fn extract(&self, extractor: &dyn Extractor) -> Context {
        self.extract_with_context(&Context::new(), extractor)
    }
}

/// The default propagator: W3C Trace Context, then W3C Baggage.
pub fn default() -> CompositePropagator {
    CompositePropagator::new(vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
    ])
}

impl<P: Propagator + ?Sized> Propagator for Box<P> {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        (**self).inject_context(cx, injector);
    }
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        (**self).extract_with_context(cx, extractor)
    }
    fn fields(&self) -> &[&'static str] {
        (**self).fields()
    }
}

impl<P: Propagator + ?Sized> Propagator for std::sync::Arc<P> {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        (**self).inject_context(cx, injector);
    }
    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        (**self).extract_with_context(cx, extractor)
    }
    fn fields(&self) -> &[&'static str] {
        (**self).fields()
    }
}
