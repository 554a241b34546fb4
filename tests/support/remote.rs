//! The context a caller's headers give (included with `#[path]` by the tests that build spans
//! under a remote parent by hand): needs only `tracecore` and `http`.

#![allow(dead_code, unreachable_pub)]

use tracecore::Context;
use tracecore::propagation::{Propagator, TraceContextPropagator};

/// The context extracted from a `traceparent` and a `tracestate` header, as a server sees them.
pub fn remote_parent(traceparent: &str, tracestate: &str) -> Context {
    let mut headers = http::HeaderMap::new();
    headers.insert("traceparent", traceparent.parse().unwrap());
    headers.insert("tracestate", tracestate.parse().unwrap());
    TraceContextPropagator::new().extract(&headers)
}
