//! One log record.

use std::borrow::Cow;
use std::time::SystemTime;

use crate::trace::{InstrumentationScope, Resource};
use crate::{KeyValue, SpanId, TraceFlags, TraceId, Value};

/// A severity number (OpenTelemetry's 1 to 24: TRACE 1–4, DEBUG 5–8, INFO 9–12, WARN 13–16,
/// ERROR 17–20, FATAL 21–24).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Severity(u8);

impl Severity {
    /// TRACE (1).
    pub const TRACE: Self = Self(1);
    /// DEBUG (5).
    pub const DEBUG: Self = Self(5);
    /// INFO (9).
    pub const INFO: Self = Self(9);
    /// WARN (13).
    pub const WARN: Self = Self(13);
    /// ERROR (17).
    pub const ERROR: Self = Self(17);
    /// FATAL (21).
    pub const FATAL: Self = Self(21);

    /// The severity `number`, clamped to 1..=24.
    pub const fn new(number: u8) -> Self {
        Self(if number < 1 {
            1
        } else if number > 24 {
            24
        } else {
            number
        })
    }

    /// The number.
    pub const fn number(self) -> u8 {
        self.0
    }

    /// The short name of its range: `TRACE`, `DEBUG`, `INFO`, `WARN`, `ERROR` or `FATAL`.
    pub const fn text(self) -> &'static str {
        match self.0 {
            0..=4 => "TRACE",
            5..=8 => "DEBUG",
            9..=12 => "INFO",
            13..=16 => "WARN",
            17..=20 => "ERROR",
            _ => "FATAL",
        }
    }
}

/// A log record: what happened, when, how severe, in which span.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct LogRecord {
    /// When the event happened.
    pub timestamp: Option<SystemTime>,
    /// When the record was observed (when it was made, unless set otherwise).
    pub observed_timestamp: Option<SystemTime>,
    /// The severity number.
    pub severity: Severity,
    /// The severity's text (`INFO`...).
    pub severity_text: Option<Cow<'static, str>>,
    /// The body: typically the message.
    pub body: Option<Value>,
    /// The attributes, within the logger provider's limits.
    pub attributes: Vec<KeyValue>,
    /// Attributes dropped by the limits.
    pub dropped_attributes_count: u32,
    /// The event's name, when it has one of its own.
    pub event_name: Option<Cow<'static, str>>,
    /// The trace it was written in.
    pub trace_id: Option<TraceId>,
    /// The span it was written in.
    pub span_id: Option<SpanId>,
    /// That span's flags (sampled).
    pub trace_flags: TraceFlags,
    /// The scope that emitted it (set by the logger).
    pub scope: InstrumentationScope,
    /// The service (set by the provider).
    pub resource: Resource,
}

impl LogRecord {
    /// A record of `severity`, happening now, with its severity text.
    pub fn new(severity: Severity) -> Self {
        Self::at(severity, SystemTime::now())
    }

    /// A record of `severity` that happened at `time`, observed then too.
    pub fn at(severity: Severity, time: SystemTime) -> Self {
        Self {
            timestamp: Some(time),
            observed_timestamp: Some(time),
            severity,
            severity_text: Some(Cow::Borrowed(severity.text())),
            body: None,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
            event_name: None,
            trace_id: None,
            span_id: None,
            trace_flags: TraceFlags::NONE,
            scope: InstrumentationScope::empty(),
            resource: Resource::empty(),
        }
    }

    /// With `body`.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Value>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// With one more attribute.
    #[must_use]
    pub fn with_attribute(mut self, attribute: KeyValue) -> Self {
        self.attributes.push(attribute);
        self
    }

    /// With `attributes` as a whole.
    #[must_use]
    pub fn with_attributes(mut self, attributes: Vec<KeyValue>) -> Self {
        self.attributes = attributes;
        self
    }

    /// Written in the span of `trace_id` and `span_id`, with its flags.
    #[must_use]
    pub fn with_span(mut self, trace_id: TraceId, span_id: SpanId, flags: TraceFlags) -> Self {
        self.trace_id = Some(trace_id);
        self.span_id = Some(span_id);
        self.trace_flags = flags;
        self
    }

    /// With an event name of its own.
    #[must_use]
    pub fn with_event_name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.event_name = Some(name.into());
        self
    }

    /// With the time the event happened.
    #[must_use]
    pub fn with_timestamp(mut self, time: SystemTime) -> Self {
        self.timestamp = Some(time);
        self
    }

    /// About how many bytes it holds, in place and on the heap: what the batch queue's byte
    /// bound counts.
    pub fn estimated_size(&self) -> usize {
        fn value(v: &Value) -> usize {
            match v {
                Value::String(Cow::Owned(s)) => s.len(),
                Value::Array(crate::Array::String(items)) => items
                    .iter()
                    .map(|s| size_of::<Cow<'static, str>>() + s.len())
                    .sum(),
                Value::Array(crate::Array::I64(items)) => items.len() * 8,
                Value::Array(crate::Array::F64(items)) => items.len() * 8,
                Value::Array(crate::Array::Bool(items)) => items.len(),
                _ => 0,
            }
        }
        size_of::<Self>()
            + self.body.as_ref().map_or(0, value)
            + self
                .attributes
                .iter()
                .map(|kv| size_of::<KeyValue>() + kv.key.heap_len() + value(&kv.value))
                .sum::<usize>()
    }
}
