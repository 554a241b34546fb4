//! Round trips: spans recorded by real providers, encoded by tracecore-otlp, decoded the way a
//! collector does (prost for protobuf; JSON read by the OTLP JSON rules), compared field by
//! field with what was recorded.

#[path = "../../tests/support/remote.rs"]
mod remote;

use std::time::{Duration, SystemTime};

use prost::Message;
use remote::remote_parent;
use serde_json::Value as Json;
use tracecore::export::InMemoryExporter;
use tracecore::trace::{
    InstrumentationScope, SpanData, SpanKind, SpanLimits, Status, TracerProvider,
};
use tracecore::{Array, Context, KeyValue, Value};
use tracecore_otlp::Protocol;
use tracecore_otlp::proto::{self, any_value};

/// A batch from two services and three scopes: a continued remote trace with tracestate, every
/// attribute type, events, links, each status, and counts of what the limits dropped.
fn recorded_spans() -> Vec<SpanData> {
    let spans = InMemoryExporter::new();
    let mut limits = SpanLimits::default();
    limits.max_attributes_per_span = 12;
    limits.max_attributes_per_event = 1;
    let gateway = TracerProvider::builder()
        .with_service_name("gateway")
        .with_span_limits(limits)
        .with_simple_exporter(spans.clone())
        .build();
    let inventory = TracerProvider::builder()
        .with_service_name("inventory \"east\"")
        .with_simple_exporter(spans.clone())
        .build();

    let remote = remote_parent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "vendor=abc,other=x:y",
    );

    let server_tracer =
        gateway.tracer_with_scope(InstrumentationScope::new("tracecore-tower", Some("0.1.0")));
    let server = server_tracer
        .span_builder("GET /orders/{id}")
        .with_kind(SpanKind::Server)
        .with_link(tracecore::trace::Link::new(
            remote.span_context().unwrap().clone(),
            vec![KeyValue::new("link.reason", "caller")],
        ))
        .start_with_context(&remote);
    server.set_attributes([
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.response.status_code", 502),
        KeyValue::new("ratio", 0.25),
        KeyValue::new("huge", f64::INFINITY),
        KeyValue::new("cached", false),
        KeyValue::new("empty", ""),
        KeyValue::new("quote\"and\\slash", "line\nbreak\tand \u{1} ünïcødé ✓"),
        KeyValue::new("tags", vec!["a", "b,c"]),
        KeyValue::new("codes", Value::Array(Array::I64(vec![-1, 0, i64::MAX]))),
        KeyValue::new("flags", Value::Array(Array::Bool(vec![true, false]))),
        KeyValue::new("weights", Value::Array(Array::F64(vec![0.5, -2.0]))),
        KeyValue::new("negative", i64::MIN),
        KeyValue::new("dropped.one", 1),
        KeyValue::new("dropped.two", 2),
    ]);
    server.add_event(
        "exception",
        vec![
            KeyValue::new("exception.type", "io::Error"),
            KeyValue::new("exception.message", "dropped by the event limit"),
        ],
    );
    server.set_status(Status::error("upstream failed"));
    let server_cx = server.context(&remote);

    let client_tracer = gateway.tracer("tracecore-reqwest");
    let client = client_tracer
        .span_builder("GET")
        .with_kind(SpanKind::Client)
        .start_with_context(&server_cx);
    client.set_attribute(KeyValue::new("http.response.status_code", 500));
    client.set_status(Status::error(""));
    let client_cx = client.context(&server_cx);

    let inventory_tracer = inventory.tracer("tracecore-tower");
    let item = inventory_tracer
        .span_builder("GET /items/{id}")
        .with_kind(SpanKind::Server)
        .start_with_context(&client_cx);
    item.set_status(Status::Ok);
    let internal = inventory_tracer
        .span_builder("load")
        .start_with_context(&item.context(&client_cx));
    internal.end();
    item.end();
    client.end();
    server.end();
    let producer = gateway.tracer("jobs");
    let job = producer
        .span_builder("enqueue")
        .with_kind(SpanKind::Producer)
        .start_with_context(&Context::new());
    job.end();
    let consumer = producer
        .span_builder("dequeue")
        .with_kind(SpanKind::Consumer)
        .start_with_context(&Context::new());
    consumer.end();
    let batch = spans.finished_spans().as_slice().to_vec();
    assert_eq!(batch.len(), 6);
    batch
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn value_of(v: &proto::AnyValue) -> Value {
    match v.value.as_ref().expect("a value is set") {
        any_value::Value::StringValue(s) => Value::String(s.clone().into()),
        any_value::Value::BoolValue(b) => Value::Bool(*b),
        any_value::Value::IntValue(i) => Value::I64(*i),
        any_value::Value::DoubleValue(f) => Value::F64(*f),
        any_value::Value::ArrayValue(a) => {
            let items: Vec<Value> = a.values.iter().map(value_of).collect();
            match items.first() {
                Some(Value::String(_)) => Value::Array(Array::String(
                    items
                        .into_iter()
                        .map(|v| match v {
                            Value::String(s) => s,
                            other => panic!("mixed array: {other:?}"),
                        })
                        .collect(),
                )),
                Some(Value::Bool(_)) => Value::Array(Array::Bool(
                    items
                        .iter()
                        .map(|v| matches!(v, Value::Bool(true)))
                        .collect(),
                )),
                Some(Value::I64(_)) => Value::Array(Array::I64(
                    items.iter().map(|v| v.as_i64().unwrap()).collect(),
                )),
                Some(Value::F64(_)) => Value::Array(Array::F64(
                    items
                        .iter()
                        .map(|v| match v {
                            Value::F64(f) => *f,
                            other => panic!("mixed array: {other:?}"),
                        })
                        .collect(),
                )),
                _ => panic!("unexpected array {items:?}"),
            }
        }
        other => panic!("tracecore never writes {other:?}"),
    }
}

fn attributes_of(kvs: &[proto::KeyValue]) -> Vec<KeyValue> {
    kvs.iter()
        .map(|kv| KeyValue::new(kv.key.clone(), value_of(kv.value.as_ref().unwrap())))
        .collect()
}

/// Every recorded span appears once, under its own resource and scope, with every field.
fn assert_matches(request: &proto::ExportTraceServiceRequest, batch: &[SpanData]) {
    let mut seen = 0;
    for rs in &request.resource_spans {
        let resource = attributes_of(&rs.resource.as_ref().unwrap().attributes);
        for ss in &rs.scope_spans {
            assert!(!ss.spans.is_empty(), "no empty envelopes");
            let scope = ss.scope.as_ref().unwrap();
            for span in &ss.spans {
                seen += 1;
                let data = batch
                    .iter()
                    .find(|d| d.span_context.span_id().to_bytes()[..] == span.span_id[..])
                    .expect("an encoded span was recorded");
                assert_eq!(resource, data.resource.attributes(), "{}", data.name);
                assert_eq!(scope.name, data.scope.name());
                assert_eq!(scope.version, data.scope.version().unwrap_or(""));
                let cx = &data.span_context;
                assert_eq!(span.trace_id, cx.trace_id().to_bytes());
                assert_eq!(span.trace_state, cx.trace_state().as_str());
                assert_eq!(
                    span.parent_span_id,
                    data.parent_span_id
                        .map(|p| p.to_bytes().to_vec())
                        .unwrap_or_default()
                );
                let remote_bit = if data.parent_is_remote { 0x200 } else { 0 };
                assert_eq!(
                    span.flags,
                    u32::from(cx.flags().to_wire()) | 0x100 | remote_bit
                );
                assert_eq!(span.name, data.name);
                let kind = match data.kind {
                    SpanKind::Internal => 1,
                    SpanKind::Server => 2,
                    SpanKind::Client => 3,
                    SpanKind::Producer => 4,
                    SpanKind::Consumer => 5,
                };
                assert_eq!(span.kind, kind);
                assert_eq!(span.start_time_unix_nano, nanos(data.start_time));
                assert_eq!(span.end_time_unix_nano, nanos(data.end_time));
                assert_eq!(attributes_of(&span.attributes), data.attributes);
                assert_eq!(span.dropped_attributes_count, data.dropped_attributes_count);
                assert_eq!(span.events.len(), data.events.len());
                for (e, d) in span.events.iter().zip(&data.events) {
                    assert_eq!(e.name, d.name);
                    assert_eq!(e.time_unix_nano, nanos(d.time));
                    assert_eq!(attributes_of(&e.attributes), d.attributes);
                    assert_eq!(e.dropped_attributes_count, d.dropped_attributes_count);
                }
                assert_eq!(span.links.len(), data.links.len());
                for (l, d) in span.links.iter().zip(&data.links) {
                    assert_eq!(l.trace_id, d.span_context.trace_id().to_bytes());
                    assert_eq!(l.span_id, d.span_context.span_id().to_bytes());
                    assert_eq!(l.trace_state, d.span_context.trace_state().as_str());
                    assert_eq!(attributes_of(&l.attributes), d.attributes);
                    assert_eq!(l.flags, 0x301, "sampled, remote");
                }
                let status = span.status.clone().unwrap_or_default();
                match &data.status {
                    Status::Unset => assert_eq!((status.code, status.message.as_str()), (0, "")),
                    Status::Ok => assert_eq!((status.code, status.message.as_str()), (1, "")),
                    Status::Error { description } => {
                        assert_eq!((status.code, status.message.as_str()), (2, &**description))
                    }
                }
            }
        }
    }
    assert_eq!(seen, batch.len(), "every span once");
}

#[test]
fn protobuf_round_trips_every_field_grouped_by_resource_and_scope() {
    let batch = recorded_spans();
    let mut body = Vec::new();
    Protocol::HttpProtobuf.encode(&batch, &mut body);
    let request = proto::ExportTraceServiceRequest::decode(&body[..]).unwrap();

    // Two services; the gateway's three scopes in order of first appearance.
    let services: Vec<_> = request
        .resource_spans
        .iter()
        .map(|rs| {
            let r = rs.resource.as_ref().unwrap();
            let name = r
                .attributes
                .iter()
                .find(|kv| kv.key == "service.name")
                .unwrap();
            value_of(name.value.as_ref().unwrap())
        })
        .collect();
    assert_eq!(
        services,
        [Value::from("inventory \"east\""), Value::from("gateway")]
    );
    let gateway_scopes: Vec<_> = request.resource_spans[1]
        .scope_spans
        .iter()
        .map(|ss| ss.scope.clone().unwrap().name)
        .collect();
    assert_eq!(
        gateway_scopes,
        ["tracecore-reqwest", "tracecore-tower", "jobs"]
    );

    let server = batch.iter().find(|s| s.name == "GET /orders/{id}").unwrap();
    assert!(server.parent_is_remote && server.dropped_attributes_count == 2);
    assert_eq!(server.events[0].dropped_attributes_count, 1);
    assert_matches(&request, &batch);
}

#[test]
fn an_empty_batch_is_an_empty_request() {
    let mut body = Vec::new();
    Protocol::HttpProtobuf.encode(&[], &mut body);
    assert!(body.is_empty());
    Protocol::HttpJson.encode(&[], &mut body);
    assert_eq!(body, br#"{"resourceSpans":[]}"#);
}

/// Reads OTLP JSON into the protobuf types by the OTLP JSON rules, failing on anything the rules
/// forbid: snake_case keys, enum names, 64-bit integers as numbers, base64 ids.
fn from_json(v: &Json) -> proto::ExportTraceServiceRequest {
    fn obj(v: &Json) -> &serde_json::Map<String, Json> {
        let o = v.as_object().expect("an object");
        for key in o.keys() {
            assert!(!key.contains('_'), "key {key:?} is not lowerCamelCase");
        }
        o
    }
    fn s(v: Option<&Json>) -> String {
        v.map(|v| v.as_str().expect("a string").to_owned())
            .unwrap_or_default()
    }
    fn u64_string(v: Option<&Json>) -> u64 {
        v.map(|v| {
            v.as_str()
                .expect("64-bit integers are strings")
                .parse()
                .unwrap()
        })
        .unwrap_or_default()
    }
    fn u32_number(v: Option<&Json>) -> u32 {
        v.map(|v| v.as_u64().expect("an integer, not a name") as u32)
            .unwrap_or_default()
    }
    fn hex(v: Option<&Json>, len: usize) -> Vec<u8> {
        let Some(text) = v.map(|v| v.as_str().unwrap()) else {
            return Vec::new();
        };
        assert_eq!(text.len(), len * 2, "hex id {text}");
        (0..len)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16).unwrap())
            .collect()
    }
    fn any(v: &Json) -> proto::AnyValue {
        let o = obj(v);
        assert_eq!(o.len(), 1, "one case in {v}");
        let (k, x) = o.iter().next().unwrap();
        let value = match k.as_str() {
            "stringValue" => any_value::Value::StringValue(x.as_str().unwrap().to_owned()),
            "boolValue" => any_value::Value::BoolValue(x.as_bool().unwrap()),
            "intValue" => any_value::Value::IntValue(
                x.as_str().expect("intValue is a string").parse().unwrap(),
            ),
            "doubleValue" => any_value::Value::DoubleValue(match x {
                Json::String(s) if s == "Infinity" => f64::INFINITY,
                Json::String(s) if s == "-Infinity" => f64::NEG_INFINITY,
                Json::String(s) if s == "NaN" => f64::NAN,
                other => other.as_f64().unwrap(),
            }),
            "arrayValue" => any_value::Value::ArrayValue(proto::ArrayValue {
                values: obj(x)["values"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(any)
                    .collect(),
            }),
            other => panic!("unexpected AnyValue case {other}"),
        };
        proto::AnyValue { value: Some(value) }
    }
    fn kvs(v: Option<&Json>) -> Vec<proto::KeyValue> {
        v.map(|v| {
            v.as_array()
                .unwrap()
                .iter()
                .map(|kv| {
                    let o = obj(kv);
                    proto::KeyValue {
                        key: s(o.get("key")),
                        value: Some(any(&o["value"])),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
    }
    let top = obj(v);
    proto::ExportTraceServiceRequest {
        resource_spans: top["resourceSpans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rs| {
                let rs = obj(rs);
                proto::ResourceSpans {
                    resource: Some(proto::Resource {
                        attributes: kvs(obj(&rs["resource"]).get("attributes")),
                        dropped_attributes_count: 0,
                    }),
                    scope_spans: rs["scopeSpans"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|ss| {
                            let ss = obj(ss);
                            let scope = obj(&ss["scope"]);
                            proto::ScopeSpans {
                                scope: Some(proto::InstrumentationScope {
                                    name: s(scope.get("name")),
                                    version: s(scope.get("version")),
                                    ..Default::default()
                                }),
                                spans: ss["spans"]
                                    .as_array()
                                    .unwrap()
                                    .iter()
                                    .map(|sp| {
                                        let sp = obj(sp);
                                        proto::Span {
                                            trace_id: hex(sp.get("traceId"), 16),
                                            span_id: hex(sp.get("spanId"), 8),
                                            trace_state: s(sp.get("traceState")),
                                            parent_span_id: hex(sp.get("parentSpanId"), 8),
                                            flags: u32_number(sp.get("flags")),
                                            name: s(sp.get("name")),
                                            kind: u32_number(sp.get("kind")) as i32,
                                            start_time_unix_nano: u64_string(sp.get("startTimeUnixNano")),
                                            end_time_unix_nano: u64_string(sp.get("endTimeUnixNano")),
                                            attributes: kvs(sp.get("attributes")),
                                            dropped_attributes_count: u32_number(sp.get("droppedAttributesCount")),
                                            events: sp.get("events").map(|es| es.as_array().unwrap().iter().map(|e| {
                                                let e = obj(e);
                                                proto::Event {
                                                    time_unix_nano: u64_string(e.get("timeUnixNano")),
                                                    name: s(e.get("name")),
                                                    attributes: kvs(e.get("attributes")),
                                                    dropped_attributes_count: u32_number(e.get("droppedAttributesCount")),
                                                }
                                            }).collect()).unwrap_or_default(),
                                            dropped_events_count: u32_number(sp.get("droppedEventsCount")),
                                            links: sp.get("links").map(|ls| ls.as_array().unwrap().iter().map(|l| {
                                                let l = obj(l);
                                                proto::Link {
                                                    trace_id: hex(l.get("traceId"), 16),
                                                    span_id: hex(l.get("spanId"), 8),
                                                    trace_state: s(l.get("traceState")),
                                                    attributes: kvs(l.get("attributes")),
                                                    dropped_attributes_count: u32_number(l.get("droppedAttributesCount")),
                                                    flags: u32_number(l.get("flags")),
                                                }
                                            }).collect()).unwrap_or_default(),
                                            dropped_links_count: u32_number(sp.get("droppedLinksCount")),
                                            status: sp.get("status").map(|st| {
                                                let st = obj(st);
                                                proto::Status {
                                                    message: s(st.get("message")),
                                                    code: u32_number(st.get("code")) as i32,
                                                }
                                            }),
                                        }
                                    })
                                    .collect(),
                                schema_url: String::new(),
                            }
                        })
                        .collect(),
                    schema_url: String::new(),
                }
            })
            .collect(),
    }
}

#[test]
fn json_round_trips_by_the_otlp_json_rules_and_says_what_protobuf_says() {
    let batch = recorded_spans();
    let mut body = Vec::new();
    Protocol::HttpJson.encode(&batch, &mut body);
    let text = String::from_utf8(body).unwrap();
    let json: Json = serde_json::from_str(&text).expect("valid JSON");
    let from_json = from_json(&json);
    assert_matches(&from_json, &batch);

    let mut pb = Vec::new();
    Protocol::HttpProtobuf.encode(&batch, &mut pb);
    let from_pb = proto::ExportTraceServiceRequest::decode(&pb[..]).unwrap();
    // `huge` is +Infinity, which compares equal to itself, so the requests compare whole.
    assert_eq!(from_json, from_pb);

    // Spot checks of the wire text itself.
    let server = batch.iter().find(|s| s.name == "GET /orders/{id}").unwrap();
    assert!(text.contains(&format!(
        "\"traceId\":\"{}\"",
        server.span_context.trace_id()
    )));
    assert!(text.contains("\"kind\":2"));
    assert!(text.contains("\"status\":{\"message\":\"upstream failed\",\"code\":2}"));
    assert!(
        text.contains("{\"key\":\"http.response.status_code\",\"value\":{\"intValue\":\"502\"}}")
    );
    assert!(text.contains("{\"doubleValue\":\"Infinity\"}"));
    assert!(
        text.contains("\"flags\":769"),
        "sampled + remote known + remote: 0x301"
    );
}

#[test]
fn times_before_the_epoch_and_far_future_encode_without_panicking() {
    let spans = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let span = provider
        .tracer("t")
        .span_builder("old")
        .with_start_time(SystemTime::UNIX_EPOCH - Duration::from_secs(5))
        .start();
    span.end_with_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(1));
    let batch = spans.finished_spans();
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let mut body = Vec::new();
        protocol.encode(batch.as_slice(), &mut body);
        assert!(!body.is_empty());
    }
    let mut body = Vec::new();
    Protocol::HttpProtobuf.encode(batch.as_slice(), &mut body);
    let request = proto::ExportTraceServiceRequest::decode(&body[..]).unwrap();
    let s = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(s.start_time_unix_nano, 0, "clamped to the epoch");
    assert_eq!(s.end_time_unix_nano, 1_000_000_000);
}

/// Attributes of every length around the one-byte framing (a body under 128 bytes takes the
/// short path, 128 and more the general one), an empty key, and every scalar type.
#[test]
fn attributes_round_trip_on_both_sides_of_the_one_byte_lengths() {
    let spans = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let mut attributes = Vec::new();
    for len in [0, 1, 100, 115, 116, 117, 118, 127, 128, 129, 200, 16_400] {
        attributes.push(KeyValue::new(format!("s{len}"), "x".repeat(len)));
    }
    attributes.push(KeyValue::new(String::new(), "empty key"));
    attributes.push(KeyValue::new("k".repeat(120), true));
    attributes.push(KeyValue::new("k".repeat(130), -1_i64));
    attributes.push(KeyValue::new("i", i64::MAX));
    attributes.push(KeyValue::new("f", -0.5));
    attributes.push(KeyValue::new("b", false));
    provider
        .tracer("t")
        .span_builder("lengths")
        .start_with_attributes(&Context::new(), attributes.clone())
        .end();
    let batch = spans.finished_spans().as_slice().to_vec();
    let mut body = Vec::new();
    Protocol::HttpProtobuf.encode(&batch, &mut body);
    let request = proto::ExportTraceServiceRequest::decode(&body[..]).unwrap();
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(attributes_of(&span.attributes), attributes);
}
