//! OTLP JSON: the proto3 JSON mapping with OTLP's rules. Ids are hex strings, enums integers,
//! 64-bit integers decimal strings, keys lowerCamelCase; fields holding their default value are
//! left out.

use std::borrow::Cow;
use std::io::Write as _;

use tracecore::logs::LogRecord;
use tracecore::metrics::{
    HistogramPoint, Metric, MetricData, Number, NumberPoint, ResourceMetrics,
};
use tracecore::trace::{Event, InstrumentationScope, Link, SpanData};
use tracecore::{Array, KeyValue, SpanContext, Value};

use super::{ResourceGroup, flags, kind, status, unix_nanos};

pub(super) fn request(groups: &[ResourceGroup<'_>], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"resourceSpans\":[");
    for (i, group) in groups.iter().enumerate() {
        comma(out, i);
        out.extend_from_slice(b"{\"resource\":{\"attributes\":");
        array(out, group.resource.attributes(), key_value);
        out.extend_from_slice(b"},\"scopeSpans\":[");
        for (j, scope) in group.scopes.iter().enumerate() {
            comma(out, j);
            write_scope(out, scope.scope);
            out.extend_from_slice(b",\"spans\":[");
            for (k, span) in scope.spans.iter().enumerate() {
                comma(out, k);
                write_span(out, span);
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
}

/// An `ExportLogsServiceRequest` in OTLP JSON.
pub(super) fn logs_request(groups: &[ResourceGroup<'_, LogRecord>], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"resourceLogs\":[");
    for (i, group) in groups.iter().enumerate() {
        comma(out, i);
        out.extend_from_slice(b"{\"resource\":{\"attributes\":");
        array(out, group.resource.attributes(), key_value);
        out.extend_from_slice(b"},\"scopeLogs\":[");
        for (j, scope) in group.scopes.iter().enumerate() {
            comma(out, j);
            write_scope(out, scope.scope);
            out.extend_from_slice(b",\"logRecords\":[");
            for (k, record) in scope.spans.iter().enumerate() {
                comma(out, k);
                write_log_record(out, record);
            }
            out.extend_from_slice(b"]}");
        }
        out.extend_from_slice(b"]}");
    }
    out.extend_from_slice(b"]}");
}

fn write_log_record(out: &mut Vec<u8>, record: &LogRecord) {
    let _ = write!(out, "{{\"severityNumber\":{}", record.severity.number());
    if let Some(time) = record.timestamp {
        let _ = write!(out, ",\"timeUnixNano\":\"{}\"", unix_nanos(time));
    }
    if let Some(time) = record.observed_timestamp {
        let _ = write!(out, ",\"observedTimeUnixNano\":\"{}\"", unix_nanos(time));
    }
    let mut first = false;
    string_field(
        out,
        &mut first,
        "severityText",
        record.severity_text.as_deref().unwrap_or(""),
    );
    if let Some(body) = &record.body {
        out.extend_from_slice(b",\"body\":");
        any_value(out, body);
    }
    list_field(out, "attributes", &record.attributes, key_value);
    count_field(
        out,
        "droppedAttributesCount",
        record.dropped_attributes_count,
    );
    if let (Some(trace_id), Some(span_id)) = (record.trace_id, record.span_id) {
        let mut trace_hex = [0u8; 32];
        let mut span_hex = [0u8; 16];
        trace_id.encode_hex(&mut trace_hex);
        span_id.encode_hex(&mut span_hex);
        let _ = write!(out, ",\"flags\":{}", record.trace_flags.to_wire());
        out.extend_from_slice(b",\"traceId\":\"");
        out.extend_from_slice(&trace_hex);
        out.extend_from_slice(b"\",\"spanId\":\"");
        out.extend_from_slice(&span_hex);
        out.push(b'"');
    }
    if let Some(name) = &record.event_name {
        string_field(out, &mut first, "eventName", name);
    }
    out.push(b'}');
}

/// `{"scope":{"name":…,"version":…}` (the object is left open for the scope's spans or metrics).
fn write_scope(out: &mut Vec<u8>, scope: &InstrumentationScope) {
    out.extend_from_slice(b"{\"scope\":{");
    let mut first = true;
    string_field(out, &mut first, "name", scope.name());
    string_field(out, &mut first, "version", scope.version().unwrap_or(""));
    out.push(b'}');
}

/// An `ExportMetricsServiceRequest` for `metrics` in OTLP JSON (nothing when it holds no point).
pub(super) fn metrics_request(metrics: &ResourceMetrics, out: &mut Vec<u8>) {
    if metrics.point_count() == 0 {
        return;
    }
    out.extend_from_slice(b"{\"resourceMetrics\":[{\"resource\":{\"attributes\":");
    array(out, metrics.resource.attributes(), key_value);
    out.extend_from_slice(b"},\"scopeMetrics\":[");
    for (j, scope) in metrics.scopes.iter().enumerate() {
        comma(out, j);
        write_scope(out, &scope.scope);
        out.extend_from_slice(b",\"metrics\":");
        array(out, &scope.metrics, write_metric);
        out.push(b'}');
    }
    out.extend_from_slice(b"]}]}");
}

fn write_metric(out: &mut Vec<u8>, metric: &Metric) {
    out.push(b'{');
    let mut first = true;
    string_field(out, &mut first, "name", &metric.name);
    string_field(out, &mut first, "description", &metric.description);
    string_field(out, &mut first, "unit", &metric.unit);
    match &metric.data {
        MetricData::Gauge { points } => {
            out.extend_from_slice(b",\"gauge\":{\"dataPoints\":");
            array(out, points, number_point);
            out.push(b'}');
        }
        MetricData::Sum {
            points,
            temporality,
            monotonic,
        } => {
            out.extend_from_slice(b",\"sum\":{\"dataPoints\":");
            array(out, points, number_point);
            let _ = write!(
                out,
                ",\"aggregationTemporality\":{}",
                super::temporality(*temporality)
            );
            if *monotonic {
                out.extend_from_slice(b",\"isMonotonic\":true");
            }
            out.push(b'}');
        }
        MetricData::Histogram {
            points,
            temporality,
        } => {
            out.extend_from_slice(b",\"histogram\":{\"dataPoints\":");
            array(out, points, histogram_point);
            let _ = write!(
                out,
                ",\"aggregationTemporality\":{}}}",
                super::temporality(*temporality)
            );
        }
        _ => {}
    }
    out.push(b'}');
}

fn times(out: &mut Vec<u8>, start: std::time::SystemTime, time: std::time::SystemTime) {
    let _ = write!(
        out,
        "{{\"startTimeUnixNano\":\"{}\",\"timeUnixNano\":\"{}\"",
        unix_nanos(start),
        unix_nanos(time)
    );
}

fn number_point(out: &mut Vec<u8>, p: &NumberPoint) {
    times(out, p.start_time, p.time);
    match p.value {
        Number::I64(v) => {
            let _ = write!(out, ",\"asInt\":\"{v}\"");
        }
        Number::F64(v) => {
            out.extend_from_slice(b",\"asDouble\":");
            double(out, v);
        }
    }
    list_field(out, "attributes", &p.attributes, key_value);
    out.push(b'}');
}

fn histogram_point(out: &mut Vec<u8>, p: &HistogramPoint) {
    times(out, p.start_time, p.time);
    let _ = write!(out, ",\"count\":\"{}\",\"sum\":", p.count);
    double(out, p.sum);
    out.extend_from_slice(b",\"bucketCounts\":");
    array(out, &p.bucket_counts, |out, c| {
        let _ = write!(out, "\"{c}\"");
    });
    out.extend_from_slice(b",\"explicitBounds\":");
    array(out, &p.bounds, |out, b| double(out, *b));
    list_field(out, "exemplars", &p.exemplars, |out, e| {
        let mut trace_hex = [0u8; 32];
        let mut span_hex = [0u8; 16];
        e.trace_id.encode_hex(&mut trace_hex);
        e.span_id.encode_hex(&mut span_hex);
        let _ = write!(
            out,
            "{{\"timeUnixNano\":\"{}\",\"asDouble\":",
            unix_nanos(e.time)
        );
        double(out, e.value);
        out.extend_from_slice(b",\"traceId\":\"");
        out.extend_from_slice(&trace_hex);
        out.extend_from_slice(b"\",\"spanId\":\"");
        out.extend_from_slice(&span_hex);
        out.extend_from_slice(b"\"}");
    });
    list_field(out, "attributes", &p.attributes, key_value);
    for (name, v) in [("min", p.min), ("max", p.max)] {
        if let Some(v) = v {
            let _ = write!(out, ",\"{name}\":");
            double(out, v);
        }
    }
    out.push(b'}');
}

fn write_span(out: &mut Vec<u8>, span: &SpanData) {
    let cx = &span.span_context;
    let mut first = false;
    ids(out, cx);
    if let Some(parent) = span.parent_span_id {
        let mut span_hex = [0u8; 16];
        parent.encode_hex(&mut span_hex);
        out.extend_from_slice(b",\"parentSpanId\":\"");
        out.extend_from_slice(&span_hex);
        out.push(b'"');
    }
    let _ = write!(
        out,
        ",\"flags\":{}",
        flags(cx.flags().to_wire(), span.parent_is_remote)
    );
    string_field(out, &mut first, "name", &span.name);
    let _ = write!(
        out,
        ",\"kind\":{},\"startTimeUnixNano\":\"{}\",\"endTimeUnixNano\":\"{}\"",
        kind(span.kind),
        unix_nanos(span.start_time),
        unix_nanos(span.end_time)
    );
    list_field(out, "attributes", &span.attributes, key_value);
    count_field(out, "droppedAttributesCount", span.dropped_attributes_count);
    list_field(out, "events", &span.events, write_event);
    count_field(out, "droppedEventsCount", span.dropped_events_count);
    list_field(out, "links", &span.links, write_link);
    count_field(out, "droppedLinksCount", span.dropped_links_count);
    let (code, description) = status(&span.status);
    if code != 0 {
        out.extend_from_slice(b",\"status\":{");
        let mut first = true;
        string_field(out, &mut first, "message", description);
        if !first {
            out.push(b',');
        }
        let _ = write!(out, "\"code\":{code}}}");
    }
    out.push(b'}');
}

fn write_event(out: &mut Vec<u8>, event: &Event) {
    let _ = write!(out, "{{\"timeUnixNano\":\"{}\"", unix_nanos(event.time));
    let mut first = false;
    string_field(out, &mut first, "name", &event.name);
    list_field(out, "attributes", &event.attributes, key_value);
    count_field(
        out,
        "droppedAttributesCount",
        event.dropped_attributes_count,
    );
    out.push(b'}');
}

fn write_link(out: &mut Vec<u8>, link: &Link) {
    let cx = &link.span_context;
    ids(out, cx);
    list_field(out, "attributes", &link.attributes, key_value);
    count_field(out, "droppedAttributesCount", link.dropped_attributes_count);
    let _ = write!(
        out,
        ",\"flags\":{}}}",
        flags(cx.flags().to_wire(), cx.is_remote())
    );
}

/// `{"traceId":"…","spanId":"…"` and `,"traceState":"…"` when there is one: how a span and a
/// link both begin.
fn ids(out: &mut Vec<u8>, cx: &SpanContext) {
    let mut trace_hex = [0u8; 32];
    let mut span_hex = [0u8; 16];
    cx.trace_id().encode_hex(&mut trace_hex);
    cx.span_id().encode_hex(&mut span_hex);
    out.extend_from_slice(b"{\"traceId\":\"");
    out.extend_from_slice(&trace_hex);
    out.extend_from_slice(b"\",\"spanId\":\"");
    out.extend_from_slice(&span_hex);
    out.push(b'"');
    let mut first = false;
    string_field(out, &mut first, "traceState", cx.trace_state().as_str());
}

/// `[item,item]`.
fn array<T>(out: &mut Vec<u8>, items: &[T], write: impl Fn(&mut Vec<u8>, &T)) {
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        comma(out, i);
        write(out, item);
    }
    out.push(b']');
}

/// `,"name":[item,item]`, left out when there are no items.
fn list_field<T>(out: &mut Vec<u8>, name: &str, items: &[T], write: impl Fn(&mut Vec<u8>, &T)) {
    if !items.is_empty() {
        out.extend_from_slice(b",\"");
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b"\":");
        array(out, items, write);
    }
}

/// `{"key":"…","value":{…}}`.
#[inline(always)] // attribute values are the hot path: no call per value
fn key_value(out: &mut Vec<u8>, kv: &KeyValue) {
    out.extend_from_slice(b"{\"key\":");
    string(out, kv.key.as_str());
    out.extend_from_slice(b",\"value\":");
    any_value(out, &kv.value);
    out.push(b'}');
}

fn any_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::String(s) => string_value(out, s),
        Value::Bool(b) => bool_value(out, b),
        Value::I64(i) => int_value(out, i),
        Value::F64(f) => double_value(out, f),
        Value::Array(items) => {
            out.extend_from_slice(b"{\"arrayValue\":{\"values\":");
            match items {
                Array::String(items) => array(out, items, string_value),
                Array::Bool(items) => array(out, items, bool_value),
                Array::I64(items) => array(out, items, int_value),
                Array::F64(items) => array(out, items, double_value),
                // A kind of array this encoder does not know: an empty array.
                _ => out.extend_from_slice(b"[]"),
            }
            out.extend_from_slice(b"}}");
        }
        // A kind of value this encoder does not know: the empty value.
        _ => out.extend_from_slice(b"{}"),
    }
}

// `&Cow`, not `&str`: the element type of `Array::String`, so it fits `array`/`elements`.
#[allow(clippy::ptr_arg)]
#[inline(always)] // attribute values are the hot path: no call per value
fn string_value(out: &mut Vec<u8>, s: &Cow<'static, str>) {
    out.extend_from_slice(b"{\"stringValue\":");
    string(out, s);
    out.push(b'}');
}

#[inline(always)] // attribute values are the hot path: no call per value
fn bool_value(out: &mut Vec<u8>, b: &bool) {
    let _ = write!(out, "{{\"boolValue\":{b}}}");
}

#[inline(always)] // attribute values are the hot path: no call per value
fn int_value(out: &mut Vec<u8>, i: &i64) {
    let _ = write!(out, "{{\"intValue\":\"{i}\"}}");
}

#[inline(always)] // attribute values are the hot path: no call per value
fn double_value(out: &mut Vec<u8>, f: &f64) {
    out.extend_from_slice(b"{\"doubleValue\":");
    double(out, *f);
    out.push(b'}');
}

/// A double as proto3 JSON writes it: a number, or `"NaN"` / `"Infinity"` / `"-Infinity"`.
fn double(out: &mut Vec<u8>, f: f64) {
    if f.is_nan() {
        out.extend_from_slice(b"\"NaN\"");
    } else if f.is_infinite() {
        out.extend_from_slice(if f > 0.0 {
            b"\"Infinity\""
        } else {
            b"\"-Infinity\""
        });
    } else {
        // `{:?}` keeps the exponent form for very large and small numbers; both are JSON.
        let _ = write!(out, "{f:?}");
    }
}

/// `,"name":"value"` (or without the comma for the first field), left out when empty.
fn string_field(out: &mut Vec<u8>, first: &mut bool, name: &str, value: &str) {
    if value.is_empty() {
        return;
    }
    if !std::mem::take(first) {
        out.push(b',');
    }
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
    string(out, value);
}

/// `,"name":n`, left out when zero.
fn count_field(out: &mut Vec<u8>, name: &str, n: u32) {
    if n != 0 {
        let _ = write!(out, ",\"{name}\":{n}");
    }
}

fn comma(out: &mut Vec<u8>, index: usize) {
    if index > 0 {
        out.push(b',');
    }
}

/// A JSON string: quotes, backslashes and control characters escaped; other text as it is.
fn string(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut plain = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[plain..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.extend_from_slice(escape);
        }
        plain = i + 1;
    }
    out.extend_from_slice(&bytes[plain..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json_string(s: &str) -> String {
        let mut out = Vec::new();
        string(&mut out, s);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn strings_escape_what_json_requires_and_nothing_else() {
        assert_eq!(json_string("plain"), r#""plain""#);
        assert_eq!(json_string("a\"b\\c"), r#""a\"b\\c""#);
        assert_eq!(
            json_string("l1\nl2\t\u{1}\u{7f}"),
            r#""l1\nl2\t\u0001\u007f""#
        );
        assert_eq!(json_string("süß ✓"), "\"süß ✓\"");
        for s in ["", "\"", "x\u{0}y", "ünï\\\u{1f}"] {
            let back: String = serde_json::from_str(&json_string(s)).unwrap();
            assert_eq!(back, s);
        }
    }

    #[test]
    fn doubles_are_json_numbers_or_the_proto3_names() {
        for (f, text) in [
            (1.5, "1.5"),
            (-0.25, "-0.25"),
            (1e300, "1e300"),
            (f64::NAN, "\"NaN\""),
            (f64::INFINITY, "\"Infinity\""),
            (f64::NEG_INFINITY, "\"-Infinity\""),
        ] {
            let mut out = Vec::new();
            double(&mut out, f);
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }
}
