//! The demo with `OTEL_EXPORTER_OTLP_ENDPOINT` set: besides the waterfalls, the same twenty
//! spans reach the OTLP receiver, as protobuf or (with `OTEL_EXPORTER_OTLP_PROTOCOL=http/json`) JSON,
//! flushed before the demo returns. The demo runs in a child process with the variables set;
//! the receiver is a loopback HTTP server in this process.

#[path = "support/child_env.rs"]
mod child_env;
#[path = "../tracecore-otlp/tests/support/mod.rs"]
mod receiver;
mod support;

use std::collections::{BTreeMap, HashMap};

use receiver::{Receiver, spans_of};
use tracecore_otlp::proto;

/// OTLP's `Span.SpanKind` and `Status.StatusCode` values.
const KIND_INTERNAL: i32 = 1;
const KIND_SERVER: i32 = 2;
const KIND_CLIENT: i32 = 3;
const KIND_PRODUCER: i32 = 4;
const KIND_CONSUMER: i32 = 5;
const STATUS_ERROR: i32 = 2;

/// `service.name` of each span, by span id.
fn service_names(request: &proto::ExportTraceServiceRequest) -> HashMap<Vec<u8>, String> {
    let mut out = HashMap::new();
    for rs in &request.resource_spans {
        let name = rs
            .resource
            .iter()
            .flat_map(|r| r.attributes.iter())
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                proto::any_value::Value::StringValue(s) => s.clone(),
                other => panic!("service.name is {other:?}"),
            })
            .expect("a service.name");
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                out.insert(span.span_id.clone(), name.clone());
            }
        }
    }
    out
}

/// A string attribute of an OTLP span or event.
fn text<'a>(attributes: &'a [proto::KeyValue], key: &str) -> Option<&'a str> {
    attributes.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            proto::any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

fn status_code(span: &proto::Span) -> i64 {
    span.attributes
        .iter()
        .find(|kv| kv.key == "http.response.status_code")
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            proto::any_value::Value::IntValue(i) => Some(*i),
            _ => None,
        })
        .expect("http.response.status_code")
}

/// The services' log lines arrived as log records: their severity, body, service and the ids of
/// the span they were written in.
fn check_demo_logs(requests: &[receiver::Received]) {
    use prost::Message;
    let records: Vec<(String, proto::LogRecord)> = requests
        .iter()
        .map(|r| proto::ExportLogsServiceRequest::decode(&r.body[..]).unwrap())
        .flat_map(|request| request.resource_logs)
        .flat_map(|rl| {
            let service = rl
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    proto::any_value::Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .unwrap_or_default();
            rl.scope_logs
                .into_iter()
                .flat_map(|sl| sl.log_records)
                .map(move |l| (service.clone(), l))
        })
        .collect();
    let body = |l: &proto::LogRecord| match l.body.as_ref().and_then(|b| b.value.as_ref()) {
        Some(proto::any_value::Value::StringValue(s)) => s.clone(),
        _ => String::new(),
    };
    let find = |text: &str| {
        records
            .iter()
            .find(|(_, l)| body(l).contains(text))
            .unwrap_or_else(|| panic!("no record {text:?} in {records:?}"))
    };
    let (service, accepted) = find("order accepted");
    assert_eq!(
        (service.as_str(), accepted.severity_text.as_str()),
        ("gateway", "INFO")
    );
    let (service, failed) = find("cannot read the item");
    assert_eq!(
        (service.as_str(), failed.severity_number),
        ("inventory", 17)
    );
    for record in [accepted, failed] {
        assert_eq!(record.trace_id.len(), 16, "written in a span: {record:?}");
        assert_eq!(record.span_id.len(), 8);
        assert!(record.time_unix_nano > 0);
    }
}

#[test]
fn the_demo_sends_its_three_traces_to_the_otlp_endpoint() {
    let receiver = Receiver::start();
    let base = format!("http://{}", receiver.addr());
    let stdout = demo_output(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &base)]);
    assert!(
        stdout.contains("OTLP: 20 spans exported, 0 failed"),
        "{stdout}"
    );

    let (received, rest): (Vec<_>, Vec<_>) = receiver
        .received()
        .into_iter()
        .partition(|r| r.path == "/v1/traces");
    let (logs, metrics): (Vec<_>, Vec<_>) = rest.into_iter().partition(|r| r.path == "/v1/logs");
    assert!(
        received
            .iter()
            .all(|r| r.header("content-type") == Some("application/x-protobuf"))
    );
    assert!(
        metrics.iter().all(|r| r.path == "/v1/metrics"),
        "nothing else is sent"
    );
    check_demo_logs(&logs);
    assert!(
        stdout.contains("log records exported, 0 failed"),
        "{stdout}"
    );
    check_demo_metrics(&metrics);
    assert!(
        stdout.contains("metric points exported, 0 failed"),
        "{stdout}"
    );
    let mut spans = Vec::new();
    let mut services = HashMap::new();
    for r in &received {
        let request = r.request();
        services.extend(service_names(&request));
        spans.extend(spans_of(&request));
    }
    assert_eq!(spans.len(), 20, "flushed before the demo returned");

    // Four HTTP spans per trace, each trace one chain client -> gateway -> gateway -> inventory,
    // with `validate_order` under the gateway's SERVER span and `load_item` under the
    // inventory's; the confirmed order's trace also holds its job, PRODUCER -> CONSUMER.
    let mut traces: BTreeMap<Vec<u8>, Vec<&proto::Span>> = BTreeMap::new();
    for span in &spans {
        traces.entry(span.trace_id.clone()).or_default().push(span);
    }
    assert_eq!(traces.len(), 3);
    let mut codes = Vec::new();
    for chain in traces.values() {
        let mut ordered = vec![
            *chain
                .iter()
                .find(|s| s.parent_span_id.is_empty())
                .expect("a root span"),
        ];
        while let Some(child) = chain.iter().find(|s| {
            s.parent_span_id == ordered.last().unwrap().span_id
                && (s.kind == KIND_SERVER || s.kind == KIND_CLIENT)
        }) {
            ordered.push(child);
        }
        let hops: Vec<_> = ordered
            .iter()
            .map(|s| (services[&s.span_id].as_str(), s.kind, s.name.as_str()))
            .collect();
        assert_eq!(
            hops,
            [
                ("client", KIND_CLIENT, "GET"),
                ("gateway", KIND_SERVER, "GET /orders/{id}"),
                ("gateway", KIND_CLIENT, "GET"),
                ("inventory", KIND_SERVER, "GET /items/{id}"),
            ]
        );
        let internal = |name: &str| {
            let found: Vec<_> = chain
                .iter()
                .filter(|s| s.kind == KIND_INTERNAL && s.name == name)
                .collect();
            assert_eq!(found.len(), 1, "one {name}");
            found[0].parent_span_id.clone()
        };
        assert_eq!(internal("validate_order"), ordered[1].span_id);
        assert_eq!(internal("load_item"), ordered[3].span_id);
        // The storage failure arrives as an Error span with the event recording the exception.
        let load = chain.iter().find(|s| s.name == "load_item").unwrap();
        let exceptions: Vec<_> = load
            .events
            .iter()
            .filter(|e| text(&e.attributes, "exception.message").is_some())
            .collect();
        let failed = load
            .status
            .as_ref()
            .is_some_and(|st| st.code == STATUS_ERROR);
        if status_code(ordered[3]) == 500 {
            assert!(failed, "{load:?}");
            assert_eq!(exceptions.len(), 1, "{:?}", load.events);
            assert_eq!(
                text(&exceptions[0].attributes, "exception.message"),
                Some("storage unavailable")
            );
        } else {
            assert!(!failed && exceptions.is_empty(), "{load:?}");
        }
        let job: Vec<_> = chain
            .iter()
            .filter(|s| s.kind == KIND_PRODUCER || s.kind == KIND_CONSUMER)
            .map(|s| (services[&s.span_id].as_str(), s.kind, s.name.as_str()))
            .collect();
        if status_code(ordered[0]) == 200 {
            let send = chain.iter().find(|s| s.kind == KIND_PRODUCER).unwrap();
            let process = chain.iter().find(|s| s.kind == KIND_CONSUMER).unwrap();
            assert_eq!(
                send.parent_span_id, ordered[1].span_id,
                "sent by the gateway SERVER"
            );
            assert_eq!(process.parent_span_id, send.span_id);
            for span in [send, process] {
                assert_eq!(
                    text(&span.attributes, "messaging.system"),
                    Some("in-process")
                );
                assert_eq!(
                    text(&span.attributes, "messaging.destination.name"),
                    Some("order-events")
                );
                assert_eq!(
                    text(&span.attributes, "messaging.message.id"),
                    Some("order-42")
                );
            }
            assert_eq!(
                text(&send.attributes, "messaging.operation.type"),
                Some("send")
            );
            assert_eq!(
                text(&process.attributes, "messaging.operation.type"),
                Some("process")
            );
            assert_eq!(job.len(), 2, "{job:?}");
        } else {
            assert!(job.is_empty(), "{job:?}");
        }
        codes.push(
            ordered
                .iter()
                .map(|s| {
                    (
                        status_code(s),
                        s.status.as_ref().is_some_and(|st| st.code == STATUS_ERROR),
                    )
                })
                .collect::<Vec<_>>(),
        );
    }
    codes.sort();
    assert_eq!(
        codes,
        [
            // client CLIENT, gateway SERVER, gateway CLIENT, inventory SERVER
            [(200, false), (200, false), (200, false), (200, false)],
            [(404, true), (404, false), (404, true), (404, false)],
            [(502, true), (502, true), (500, true), (500, true)],
        ]
    );
    // The waterfalls print as well.
    assert!(stdout.contains("service map"), "{stdout}");
}

#[test]
fn with_http_json_the_demo_sends_json() {
    let receiver = Receiver::start();
    let base = format!("http://{}", receiver.addr());
    let stdout = demo_output(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
    ]);
    assert!(
        stdout.contains("OTLP: 20 spans exported, 0 failed"),
        "{stdout}"
    );
    let mut names = Vec::new();
    for r in receiver
        .received()
        .iter()
        .filter(|r| r.path == "/v1/traces")
    {
        assert_eq!(r.header("content-type"), Some("application/json"));
        let body: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        for rs in body["resourceSpans"].as_array().unwrap() {
            for ss in rs["scopeSpans"].as_array().unwrap() {
                for span in ss["spans"].as_array().unwrap() {
                    names.push(span["name"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    names.sort();
    assert_eq!(
        names,
        [
            ["GET"; 6].as_slice(),
            &["GET /items/{id}"; 3],
            &["GET /orders/{id}"; 3],
            &["load_item"; 3],
            &["process order-events", "send order-events"],
            &["validate_order"; 3]
        ]
        .concat()
    );
}

#[test]
fn a_receiver_that_is_down_fails_the_export_not_the_demo() {
    let (_held, dead) = support::refusing_addr();
    let stdout = demo_output(&[
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &format!("http://{dead}")),
        // No retries to wait for: the demo must still print its traces.
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "200"),
    ]);
    assert!(stdout.contains("20 spans in 3 traces"), "{stdout}");
    assert!(
        stdout.contains("OTLP: 0 spans exported, 20 failed"),
        "{stdout}"
    );
}

/// The metrics the demo's three services flushed before exit: each server's duration histogram
/// (three requests, one per client path, with their status codes) and the clients'.
fn check_demo_metrics(requests: &[receiver::Received]) {
    use prost::Message;
    let mut durations: Vec<(String, String, u64, Option<i64>)> = Vec::new();
    for r in requests {
        let request = proto::ExportMetricsServiceRequest::decode(&r.body[..]).unwrap();
        for rm in &request.resource_metrics {
            let service = rm
                .resource
                .as_ref()
                .and_then(|res| res.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                    proto::any_value::Value::StringValue(s) => Some(s.clone()),
                    _ => None,
                })
                .expect("a service.name");
            for metric in rm.scope_metrics.iter().flat_map(|s| &s.metrics) {
                let Some(proto::MetricData::Histogram(h)) = &metric.data else {
                    continue;
                };
                for p in &h.data_points {
                    let code = p
                        .attributes
                        .iter()
                        .find(|kv| kv.key == "http.response.status_code")
                        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
                            proto::any_value::Value::IntValue(i) => Some(*i),
                            _ => None,
                        });
                    durations.push((service.clone(), metric.name.clone(), p.count, code));
                }
            }
        }
    }
    durations.sort();
    let server = "http.server.request.duration".to_owned();
    let client = "http.client.request.duration".to_owned();
    let row = |s: &str, m: &String, c: i64| (s.to_owned(), m.clone(), 1, Some(c));
    assert_eq!(
        durations,
        [
            row("client", &client, 200),
            row("client", &client, 404),
            row("client", &client, 502),
            row("gateway", &client, 200),
            row("gateway", &client, 404),
            row("gateway", &client, 500),
            row("gateway", &server, 200),
            row("gateway", &server, 404),
            row("gateway", &server, 502),
            row("inventory", &server, 200),
            row("inventory", &server, 404),
            row("inventory", &server, 500),
        ]
    );
}

/// Runs the demo in a child with `vars`; returns what it printed.
fn demo_output(vars: &[(&str, &str)]) -> String {
    child_env::run_child_output("demo_child", vars).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the tests above in a child process"]
async fn demo_child() {
    if std::env::var_os(child_env::CHILD).is_none() {
        return;
    }
    let demo = tracecore_examples::all_in_one().await.unwrap();
    assert_eq!(demo.spans.len(), 20);
    println!("{}", demo.render(false));
}
