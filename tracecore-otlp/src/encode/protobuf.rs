//! Protobuf wire format, written directly.
//!
//! A nested message is written after a length placeholder sized by a guess; when the real
//! length needs another number of bytes the message body is moved once. Fields holding their
//! default value are left out, as proto3 does, except inside a `oneof`.

use std::borrow::Cow;

use tracecore::logs::LogRecord;
use tracecore::metrics::{
    HistogramPoint, Metric, MetricData, Number, NumberPoint, ResourceMetrics,
};
use tracecore::trace::{Event, Link, SpanData};
use tracecore::{Array, KeyValue, Value};

use super::{ResourceGroup, flags, kind, status, unix_nanos};

const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LEN: u8 = 2;
const FIXED32: u8 = 5;

pub(super) fn request(groups: &[ResourceGroup<'_>], out: &mut Vec<u8>) {
    for group in groups {
        // ExportTraceServiceRequest.resource_spans = 1
        message(out, 1, 3, |out| {
            // ResourceSpans.resource = 1
            message(out, 1, 2, |out| {
                for kv in group.resource.attributes() {
                    key_value(out, 1, kv);
                }
            });
            for scope in &group.scopes {
                // ResourceSpans.scope_spans = 2
                message(out, 2, 3, |out| {
                    // ScopeSpans.scope = 1
                    message(out, 1, 1, |out| {
                        string(out, 1, scope.scope.name());
                        string(out, 2, scope.scope.version().unwrap_or(""));
                    });
                    for span in &scope.spans {
                        // ScopeSpans.spans = 2
                        message(out, 2, 2, |out| write_span(out, span));
                    }
                });
            }
        });
    }
}

/// An `ExportLogsServiceRequest`.
pub(super) fn logs_request(groups: &[ResourceGroup<'_, LogRecord>], out: &mut Vec<u8>) {
    for group in groups {
        // ExportLogsServiceRequest.resource_logs = 1
        message(out, 1, 3, |out| {
            // ResourceLogs.resource = 1
            message(out, 1, 2, |out| {
                for kv in group.resource.attributes() {
                    key_value(out, 1, kv);
                }
            });
            for scope in &group.scopes {
                // ResourceLogs.scope_logs = 2
                message(out, 2, 3, |out| {
                    // ScopeLogs.scope = 1
                    message(out, 1, 1, |out| {
                        string(out, 1, scope.scope.name());
                        string(out, 2, scope.scope.version().unwrap_or(""));
                    });
                    for record in &scope.spans {
                        // ScopeLogs.log_records = 2
                        message(out, 2, 2, |out| write_log_record(out, record));
                    }
                });
            }
        });
    }
}

fn write_log_record(out: &mut Vec<u8>, record: &LogRecord) {
    if let Some(time) = record.timestamp {
        fixed64(out, 1, unix_nanos(time));
    }
    uint(out, 2, u64::from(record.severity.number()));
    string(out, 3, record.severity_text.as_deref().unwrap_or(""));
    if let Some(body) = &record.body {
        message(out, 5, 1, |out| any_value(out, body));
    }
    for kv in &record.attributes {
        key_value(out, 6, kv);
    }
    uint(out, 7, u64::from(record.dropped_attributes_count));
    if let (Some(trace_id), Some(span_id)) = (record.trace_id, record.span_id) {
        fixed32(out, 8, u32::from(record.trace_flags.to_wire()));
        bytes(out, 9, &trace_id.to_bytes());
        bytes(out, 10, &span_id.to_bytes());
    }
    if let Some(time) = record.observed_timestamp {
        fixed64(out, 11, unix_nanos(time));
    }
    if let Some(name) = &record.event_name {
        string(out, 12, name);
    }
}

fn write_span(out: &mut Vec<u8>, span: &SpanData) {
    let cx = &span.span_context;
    bytes(out, 1, &cx.trace_id().to_bytes());
    bytes(out, 2, &cx.span_id().to_bytes());
    string(out, 3, cx.trace_state().as_str());
    if let Some(parent) = span.parent_span_id {
        bytes(out, 4, &parent.to_bytes());
    }
    string(out, 5, &span.name);
    uint(out, 6, u64::from(kind(span.kind)));
    fixed64(out, 7, unix_nanos(span.start_time));
    fixed64(out, 8, unix_nanos(span.end_time));
    for kv in &span.attributes {
        key_value(out, 9, kv);
    }
    uint(out, 10, u64::from(span.dropped_attributes_count));
    for event in &span.events {
        message(out, 11, 1, |out| write_event(out, event));
    }
    uint(out, 12, u64::from(span.dropped_events_count));
    for link in &span.links {
        message(out, 13, 2, |out| write_link(out, link));
    }
    uint(out, 14, u64::from(span.dropped_links_count));
    let (code, description) = status(&span.status);
    if code != 0 {
        message(out, 15, 1, |out| {
            string(out, 2, description);
            uint(out, 3, u64::from(code));
        });
    }
    fixed32(out, 16, flags(cx.flags().to_wire(), span.parent_is_remote));
}

fn write_event(out: &mut Vec<u8>, event: &Event) {
    fixed64(out, 1, unix_nanos(event.time));
    string(out, 2, &event.name);
    for kv in &event.attributes {
        key_value(out, 3, kv);
    }
    uint(out, 4, u64::from(event.dropped_attributes_count));
}

fn write_link(out: &mut Vec<u8>, link: &Link) {
    let cx = &link.span_context;
    bytes(out, 1, &cx.trace_id().to_bytes());
    bytes(out, 2, &cx.span_id().to_bytes());
    string(out, 3, cx.trace_state().as_str());
    for kv in &link.attributes {
        key_value(out, 4, kv);
    }
    uint(out, 5, u64::from(link.dropped_attributes_count));
    fixed32(out, 6, flags(cx.flags().to_wire(), cx.is_remote()));
}

/// A `KeyValue` message in field `field`. Its lengths are known before it is written (no length
/// to patch, no body to move): attributes are most of a span's bytes.
fn key_value(out: &mut Vec<u8>, field: u32, kv: &KeyValue) {
    let key = kv.key.as_str();
    // The usual attribute: a one-byte tag, a key and a value whose lengths all fit one byte.
    // Its framing is written a few bytes at a time, not byte by byte.
    if field < 16 && !key.is_empty() && key.len() < 128 {
        let value_len = match &kv.value {
            Value::String(s) if s.len() < 128 => Some(2 + s.len()),
            Value::Bool(_) => Some(2),
            Value::I64(i) => Some(1 + varint_len(*i as u64)),
            Value::F64(_) => Some(9),
            _ => None,
        };
        if let Some(value_len) = value_len
            && let body = 2 + key.len() + 2 + value_len
            && body < 128
        {
            let tag = |field: u32, wire: u8| (field << 3) as u8 | wire;
            out.reserve(2 + body);
            out.extend_from_slice(&[tag(field, LEN), body as u8, tag(1, LEN), key.len() as u8]);
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(&[tag(2, LEN), value_len as u8]);
            match &kv.value {
                Value::String(s) => {
                    out.extend_from_slice(&[tag(1, LEN), s.len() as u8]);
                    out.extend_from_slice(s.as_bytes());
                }
                Value::Bool(b) => out.extend_from_slice(&[tag(2, VARINT), u8::from(*b)]),
                value => any_value(out, value),
            }
            return;
        }
    }
    let value_len = match &kv.value {
        Value::String(s) => 1 + varint_len(s.len() as u64) + s.len(),
        Value::Bool(_) => 2,
        Value::I64(i) => 1 + varint_len(*i as u64),
        Value::F64(_) => 9,
        _ => {
            message(out, field, 1, |out| {
                string(out, 1, key);
                message(out, 2, 1, |out| any_value(out, &kv.value));
            });
            return;
        }
    };
    let key_len = if key.is_empty() {
        0
    } else {
        1 + varint_len(key.len() as u64) + key.len()
    };
    let body = key_len + 1 + varint_len(value_len as u64) + value_len;
    out.reserve(1 + varint_len(body as u64) + body);
    tag(out, field, LEN);
    varint(out, body as u64);
    string(out, 1, key);
    tag(out, 2, LEN);
    varint(out, value_len as u64);
    any_value(out, &kv.value);
}

/// The body of an `AnyValue`: exactly one case, written even when it holds a default value.
fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => string_case(out, s),
        Value::Bool(b) => bool_case(out, b),
        Value::I64(i) => int_case(out, i),
        Value::F64(f) => double_case(out, f),
        // ArrayValue.values = 1, each an AnyValue.
        Value::Array(array) => message(out, 5, 1, |out| match array {
            Array::String(items) => elements(out, items, string_case),
            Array::Bool(items) => elements(out, items, bool_case),
            Array::I64(items) => elements(out, items, int_case),
            Array::F64(items) => elements(out, items, double_case),
            // A kind of array this encoder does not know: an empty array.
            _ => {}
        }),
        // A kind of value this encoder does not know: the empty value.
        _ => {}
    }
}

/// Each item as an `AnyValue` in `ArrayValue.values`.
fn elements<T>(out: &mut Vec<u8>, items: &[T], case: impl Fn(&mut Vec<u8>, &T)) {
    for item in items {
        message(out, 1, 1, |out| case(out, item));
    }
}

// `&Cow`, not `&str`: the element type of `Array::String`, so it fits `array`/`elements`.
#[allow(clippy::ptr_arg)]
#[inline(always)] // attribute values are the hot path: no call per value
fn string_case(out: &mut Vec<u8>, s: &Cow<'static, str>) {
    tag(out, 1, LEN);
    varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

#[inline(always)] // attribute values are the hot path: no call per value
fn bool_case(out: &mut Vec<u8>, b: &bool) {
    tag(out, 2, VARINT);
    out.push(u8::from(*b));
}

#[inline(always)] // attribute values are the hot path: no call per value
fn int_case(out: &mut Vec<u8>, i: &i64) {
    tag(out, 3, VARINT);
    varint(out, *i as u64);
}

#[inline(always)] // attribute values are the hot path: no call per value
fn double_case(out: &mut Vec<u8>, f: &f64) {
    tag(out, 4, FIXED64);
    out.extend_from_slice(&f.to_le_bytes());
}

/// A length-delimited message in `field`, its body written by `body`. `guess` is the number of
/// bytes reserved for the length; a wrong guess costs one move of the body.
fn message(out: &mut Vec<u8>, field: u32, guess: usize, body: impl FnOnce(&mut Vec<u8>)) {
    tag(out, field, LEN);
    let at = out.len();
    out.resize(at + guess, 0);
    let start = at + guess;
    body(out);
    let len = out.len() - start;
    let need = varint_len(len as u64);
    if need != guess {
        if need > guess {
            out.resize(out.len() + (need - guess), 0);
        }
        out.copy_within(start..start + len, at + need);
        out.truncate(at + need + len);
    }
    let mut v = len as u64;
    for slot in &mut out[at..at + need] {
        *slot = (v as u8 & 0x7f) | 0x80;
        v >>= 7;
    }
    out[at + need - 1] &= 0x7f;
}

fn tag(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, u64::from(field << 3 | u32::from(wire)));
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint_len(v: u64) -> usize {
    // 1 byte per 7 bits, at least one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A string field, left out when empty.
fn string(out: &mut Vec<u8>, field: u32, s: &str) {
    if !s.is_empty() {
        bytes(out, field, s.as_bytes());
    }
}

fn bytes(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    tag(out, field, LEN);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// A varint field (`uint32`, or an enum), left out when zero.
fn uint(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        tag(out, field, VARINT);
        varint(out, v);
    }
}

/// A `fixed64` field, left out when zero.
fn fixed64(out: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        tag(out, field, FIXED64);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// A `fixed32` field, left out when zero.
fn fixed32(out: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
        tag(out, field, FIXED32);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// An `ExportMetricsServiceRequest` for `metrics` (nothing at all when it holds no point).
pub(super) fn metrics_request(metrics: &ResourceMetrics, out: &mut Vec<u8>) {
    if metrics.point_count() == 0 {
        return;
    }
    // ExportMetricsServiceRequest.resource_metrics = 1
    message(out, 1, 3, |out| {
        // ResourceMetrics.resource = 1
        message(out, 1, 2, |out| {
            for kv in metrics.resource.attributes() {
                key_value(out, 1, kv);
            }
        });
        for scope in &metrics.scopes {
            // ResourceMetrics.scope_metrics = 2
            message(out, 2, 3, |out| {
                message(out, 1, 1, |out| {
                    string(out, 1, scope.scope.name());
                    string(out, 2, scope.scope.version().unwrap_or(""));
                });
                for metric in &scope.metrics {
                    // ScopeMetrics.metrics = 2
                    message(out, 2, 3, |out| write_metric(out, metric));
                }
            });
        }
    });
}

fn write_metric(out: &mut Vec<u8>, metric: &Metric) {
    string(out, 1, &metric.name);
    string(out, 2, &metric.description);
    string(out, 3, &metric.unit);
    match &metric.data {
        // Metric.gauge = 5 { data_points = 1 }
        MetricData::Gauge { points } => message(out, 5, 2, |out| {
            for p in points {
                message(out, 1, 1, |out| number_point(out, p));
            }
        }),
        // Metric.sum = 7 { data_points = 1, aggregation_temporality = 2, is_monotonic = 3 }
        MetricData::Sum {
            points,
            temporality,
            monotonic,
        } => message(out, 7, 2, |out| {
            for p in points {
                message(out, 1, 1, |out| number_point(out, p));
            }
            uint(out, 2, super::temporality(*temporality));
            uint(out, 3, u64::from(*monotonic));
        }),
        // Metric.histogram = 9 { data_points = 1, aggregation_temporality = 2 }
        MetricData::Histogram {
            points,
            temporality,
        } => message(out, 9, 3, |out| {
            for p in points {
                message(out, 1, 2, |out| histogram_point(out, p));
            }
            uint(out, 2, super::temporality(*temporality));
        }),
        _ => {}
    }
}

fn number_point(out: &mut Vec<u8>, p: &NumberPoint) {
    fixed64(out, 2, unix_nanos(p.start_time));
    fixed64(out, 3, unix_nanos(p.time));
    // The `value` oneof is written even when it holds zero.
    match p.value {
        Number::F64(v) => {
            tag(out, 4, FIXED64);
            out.extend_from_slice(&v.to_le_bytes());
        }
        Number::I64(v) => {
            tag(out, 6, FIXED64);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    for kv in &p.attributes {
        key_value(out, 7, kv);
    }
}

fn histogram_point(out: &mut Vec<u8>, p: &HistogramPoint) {
    fixed64(out, 2, unix_nanos(p.start_time));
    fixed64(out, 3, unix_nanos(p.time));
    fixed64(out, 4, p.count);
    // `optional double sum = 5`: present, so written even when zero.
    tag(out, 5, FIXED64);
    out.extend_from_slice(&p.sum.to_le_bytes());
    if !p.bucket_counts.is_empty() {
        tag(out, 6, LEN);
        varint(out, 8 * p.bucket_counts.len() as u64);
        for c in &p.bucket_counts {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }
    if !p.bounds.is_empty() {
        tag(out, 7, LEN);
        varint(out, 8 * p.bounds.len() as u64);
        for b in p.bounds.iter() {
            out.extend_from_slice(&b.to_le_bytes());
        }
    }
    for e in &p.exemplars {
        // HistogramDataPoint.exemplars = 8
        message(out, 8, 1, |out| {
            fixed64(out, 2, unix_nanos(e.time));
            tag(out, 3, FIXED64);
            out.extend_from_slice(&e.value.to_le_bytes());
            bytes(out, 4, &e.span_id.to_bytes());
            bytes(out, 5, &e.trace_id.to_bytes());
        });
    }
    for kv in &p.attributes {
        key_value(out, 9, kv);
    }
    for (field, v) in [(11, p.min), (12, p.max)] {
        if let Some(v) = v {
            tag(out, field, FIXED64);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_lengths_match_the_encoding() {
        for v in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            u64::MAX,
        ] {
            let mut out = Vec::new();
            varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn a_wrong_length_guess_moves_the_body_either_way() {
        for (len, guess) in [(0, 3), (5, 1), (127, 2), (128, 1), (300, 1), (20_000, 2)] {
            let mut out = vec![0xAA];
            message(&mut out, 1, guess, |out| {
                out.extend(std::iter::repeat_n(7u8, len))
            });
            let mut expected = vec![0xAA, 0x0A];
            varint(&mut expected, len as u64);
            expected.extend(std::iter::repeat_n(7u8, len));
            assert_eq!(out, expected, "len {len} guess {guess}");
        }
    }
}
