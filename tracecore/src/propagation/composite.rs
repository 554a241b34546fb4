//! Several propagators run as one.

use std::sync::Arc;

use super::{Extractor, Injector, Propagator};
use crate::Context;

/// Runs its members in order, for injection and extraction alike. Cloning is cheap.
///
/// ```
/// use tracecore::propagation::{B3Propagator, CompositePropagator, Propagator, TraceContextPropagator};
///
/// let both = CompositePropagator::new(vec![
///     Box::new(TraceContextPropagator::new()),
///     Box::new(B3Propagator::new()),
/// ]);
/// assert_eq!(both.fields(), ["traceparent", "tracestate", "b3"]);
/// ```
#[derive(Debug, Clone)]
pub struct CompositePropagator {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    members: Vec<Box<dyn Propagator>>,
    fields: Vec<&'static str>,
}

impl CompositePropagator {
    /// A propagator that runs `members` in order. With no members it does nothing.
    pub fn new(members: Vec<Box<dyn Propagator>>) -> Self {
        let mut fields: Vec<&'static str> = Vec::new();
        for field in members.iter().flat_map(|m| m.fields().iter()) {
            if !fields.contains(field) {
                fields.push(field);
            }
        }
        Self {
            inner: Arc::new(Inner { members, fields }),
        }
    }

    /// The members, in order.
    pub fn members(&self) -> &[Box<dyn Propagator>] {
        &self.inner.members
    }
}

impl Propagator for CompositePropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        for member in &self.inner.members {
            member.inject_context(cx, injector);
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut members = self.inner.members.iter();
        let Some(first) = members.next() else {
            return cx.clone();
        };
        let mut out = first.extract_with_context(cx, extractor);
        for member in members {
            out = member.extract_with_context(&out, extractor);
        }
        out
    }

    fn fields(&self) -> &[&'static str] {
        &self.inner.fields
    }
}
