//! A finished span, as processors and exporters receive it.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use super::{Event, InstrumentationScope, Link, Resource, SpanKind, Status};
use crate::{KeyValue, SpanContext, SpanId, Value};

/// Everything a span recorded, with the resource and scope that produced it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SpanData {
    /// The span's context (ids, flags, trace state).
    pub span_context: SpanContext,
    /// The parent's span id, if it had a parent.
    pub parent_span_id: Option<SpanId>,
    /// Whether the parent came from another process.
    pub parent_is_remote: bool,
    /// The kind.
    pub kind: SpanKind,
    /// The name.
    pub name: Cow<'static, str>,
    /// Wall-clock start.
    pub start_time: SystemTime,
    /// Wall-clock end (start plus the monotonic duration).
    pub end_time: SystemTime,
    /// Attributes.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limits.
    pub dropped_attributes_count: u32,
    /// Events.
    pub events: Vec<Event>,
    /// Events dropped by the limits.
    pub dropped_events_count: u32,
    /// Links.
    pub links: Vec<Link>,
    /// Links dropped by the limits.
    pub dropped_links_count: u32,
    /// Status.
    pub status: Status,
    /// The service that produced it.
    pub resource: Resource,
    /// The library that produced it.
    pub scope: InstrumentationScope,
}

impl SpanData {
    /// How long the span lasted.
    pub fn duration(&self) -> Duration {
        self.end_time
            .duration_since(self.start_time)
            .unwrap_or_default()
    }

    /// The value of attribute `key`.
    pub fn attribute(&self, key: &str) -> Option<&Value> {
        self.attributes
            .iter()
            .find(|kv| kv.key.as_str() == key)
            .map(|kv| &kv.value)
    }

    /// About how many bytes the span holds, in place and on the heap (owned strings counted by
    /// length): what the batch processor's byte budget counts.
    pub fn estimated_size(&self) -> usize {
        // `&Cow`, not `&str`: whether it owns its text is what is counted.
        #[allow(clippy::ptr_arg)]
        fn cow(s: &Cow<'static, str>) -> usize {
            match s {
                Cow::Borrowed(_) => 0,
                Cow::Owned(s) => s.len(),
            }
        }
        fn value_array(array: &crate::Array) -> usize {
            match array {
                crate::Array::String(items) => items
                    .iter()
                    .map(|s| cow(s) + size_of::<Cow<'static, str>>())
                    .sum(),
                crate::Array::I64(items) => items.len() * 8,
                crate::Array::F64(items) => items.len() * 8,
                crate::Array::Bool(items) => items.len(),
            }
        }
        // One pass that adds only what owns heap bytes: the usual attribute (static key, number
        // or static string) adds nothing but its place in the list.
        fn attributes(list: &[KeyValue]) -> usize {
            let mut heap = 0;
            for kv in list {
                heap += kv.key.heap_len();
                match &kv.value {
                    Value::String(Cow::Owned(s)) => heap += s.len(),
                    Value::Array(array) => heap += value_array(array),
                    _ => {}
                }
            }
            heap + size_of_val(list)
        }
        size_of::<Self>()
            + cow(&self.name)
            + self.span_context.trace_state().as_str().len()
            + attributes(&self.attributes)
            + self
                .events
                .iter()
                .map(|e| size_of::<Event>() + cow(&e.name) + attributes(&e.attributes))
                .sum::<usize>()
            + self
                .links
                .iter()
                .map(|l| size_of::<Link>() + attributes(&l.attributes))
                .sum::<usize>()
    }

    /// Whether this span has no parent in this process (no parent, or a remote one).
    pub fn is_local_root(&self) -> bool {
        self.parent_span_id.is_none() || self.parent_is_remote
    }

    /// Whether `parent` is this span's parent (same trace, parent span id).
    pub fn is_child_of(&self, parent: &Self) -> bool {
        self.span_context.trace_id() == parent.span_context.trace_id()
            && self.parent_span_id == Some(parent.span_context.span_id())
    }
}
