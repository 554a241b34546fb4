//! OTLP metrics: the encoder's output decoded field by field (prost for protobuf, serde_json
//! for JSON), and the exporter against a scripted receiver (path, content type, retries, a
//! refused export counted).

mod support;

use std::time::{Duration, SystemTime};

use prost::Message;
use support::{Receiver, Reply};
use tracecore::KeyValue;
use tracecore::metrics::{
    InMemoryMetricExporter, ManualReader, MeterProvider, MetricExporter, PeriodicReader,
    ResourceMetrics, Temporality,
};
use tracecore_otlp::proto::{self, MetricData, NumberValue, any_value};
use tracecore_otlp::{OtlpExporter, Protocol};

/// A provider with one of each instrument recorded, read cumulatively.
fn sample() -> ResourceMetrics {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_service_name("shop")
        .with_reader(reader.clone())
        .build();
    let meter = provider.meter("shop-scope");
    let orders = meter
        .u64_counter("app.orders")
        .with_unit("{order}")
        .with_description("Orders taken.")
        .build();
    orders.add(3, &[KeyValue::new("region", "eu")]);
    let queue = meter.i64_up_down_counter("app.queue").build();
    queue.add(-2, &[]);
    let temperature = meter.f64_gauge("app.temperature").with_unit("Cel").build();
    temperature.record(0.0, &[]);
    let latency = meter
        .f64_histogram("app.latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .unwrap()
        .build();
    for v in [0.05, 0.5, 0.7, 3.0] {
        latency.record(v, &[KeyValue::new("route", "/a")]);
    }
    reader.collect()
}

fn nanos(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH).unwrap().as_nanos() as u64
}

fn string_attr(attrs: &[proto::KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

#[test]
fn protobuf_decodes_field_by_field() {
    let metrics = sample();
    let mut body = Vec::new();
    Protocol::HttpProtobuf.encode_metrics(&metrics, &mut body);
    let request = proto::ExportMetricsServiceRequest::decode(&body[..]).unwrap();
    let rm = &request.resource_metrics[0];
    assert_eq!(
        string_attr(&rm.resource.as_ref().unwrap().attributes, "service.name").as_deref(),
        Some("shop")
    );
    let sm = &rm.scope_metrics[0];
    assert_eq!(sm.scope.as_ref().unwrap().name, "shop-scope");
    let by_name = |name: &str| sm.metrics.iter().find(|m| m.name == name).unwrap();

    let orders = by_name("app.orders");
    assert_eq!(
        (orders.unit.as_str(), orders.description.as_str()),
        ("{order}", "Orders taken.")
    );
    let Some(MetricData::Sum(sum)) = &orders.data else {
        panic!("{orders:?}")
    };
    assert_eq!((sum.aggregation_temporality, sum.is_monotonic), (2, true));
    let p = &sum.data_points[0];
    assert_eq!(p.value, Some(NumberValue::AsInt(3)));
    assert_eq!(string_attr(&p.attributes, "region").as_deref(), Some("eu"));
    let ours = &metrics.metric("app.orders").unwrap().data.number_points()[0];
    assert_eq!(p.start_time_unix_nano, nanos(ours.start_time));
    assert_eq!(p.time_unix_nano, nanos(ours.time));
    assert!(p.time_unix_nano >= p.start_time_unix_nano && p.start_time_unix_nano > 0);

    let Some(MetricData::Sum(queue)) = &by_name("app.queue").data else {
        panic!()
    };
    assert!(!queue.is_monotonic);
    assert_eq!(queue.data_points[0].value, Some(NumberValue::AsInt(-2)));

    let Some(MetricData::Gauge(gauge)) = &by_name("app.temperature").data else {
        panic!()
    };
    assert_eq!(
        gauge.data_points[0].value,
        Some(NumberValue::AsDouble(0.0)),
        "a zero value is still written"
    );

    let Some(MetricData::Histogram(h)) = &by_name("app.latency").data else {
        panic!()
    };
    assert_eq!(h.aggregation_temporality, 2);
    let p = &h.data_points[0];
    assert_eq!(p.count, 4);
    assert_eq!(p.sum, Some(4.25));
    assert_eq!(p.bucket_counts, [1, 2, 1]);
    assert_eq!(p.explicit_bounds, [0.1, 1.0]);
    assert_eq!((p.min, p.max), (Some(0.05), Some(3.0)));
    assert_eq!(string_attr(&p.attributes, "route").as_deref(), Some("/a"));
}

#[test]
fn json_follows_the_otlp_json_rules() {
    let metrics = sample();
    let mut body = Vec::new();
    Protocol::HttpJson.encode_metrics(&metrics, &mut body);
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let sm = &v["resourceMetrics"][0]["scopeMetrics"][0];
    assert_eq!(sm["scope"]["name"], "shop-scope");
    let by_name = |name: &str| {
        sm["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == name)
            .unwrap()
            .clone()
    };
    let orders = by_name("app.orders");
    assert_eq!(orders["sum"]["aggregationTemporality"], 2);
    assert_eq!(orders["sum"]["isMonotonic"], true);
    let p = &orders["sum"]["dataPoints"][0];
    assert_eq!(p["asInt"], "3", "64-bit integers are strings");
    assert!(p["timeUnixNano"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(p["attributes"][0]["value"]["stringValue"], "eu");
    assert_eq!(
        by_name("app.temperature")["gauge"]["dataPoints"][0]["asDouble"],
        0.0
    );
    let h = &by_name("app.latency")["histogram"];
    let p = &h["dataPoints"][0];
    assert_eq!(p["count"], "4");
    assert_eq!(p["bucketCounts"], serde_json::json!(["1", "2", "1"]));
    assert_eq!(p["explicitBounds"], serde_json::json!([0.1, 1.0]));
    assert_eq!(p["sum"], 4.25);
    assert_eq!(
        (p["min"].as_f64(), p["max"].as_f64()),
        (Some(0.05), Some(3.0))
    );
}

#[test]
fn nothing_collected_sends_no_envelope() {
    let empty = ManualReader::new().collect();
    for protocol in [Protocol::HttpProtobuf, Protocol::HttpJson] {
        let mut body = Vec::new();
        protocol.encode_metrics(&empty, &mut body);
        assert!(body.is_empty(), "{protocol}");
    }
}

fn metrics_exporter(receiver: &Receiver, protocol: Protocol) -> tracecore_otlp::OtlpMetricExporter {
    OtlpExporter::builder()
        .without_env()
        .with_endpoint(receiver.url())
        .with_protocol(protocol)
        .build_metrics()
        .unwrap()
}

#[test]
fn the_exporter_posts_to_v1_metrics_and_retries_what_the_spec_retries() {
    let receiver = Receiver::start();
    receiver.then(Reply::status(503)).then(Reply::status(200));
    let mut exporter = metrics_exporter(&receiver, Protocol::HttpProtobuf);
    assert!(
        exporter.endpoint().ends_with("/v1/metrics"),
        "{}",
        exporter.endpoint()
    );
    let stats = exporter.stats();
    let metrics = sample();
    exporter.export(&metrics, Duration::from_secs(10)).unwrap();
    let received = receiver.wait_for(2);
    assert_eq!(received[1].path, "/v1/metrics");
    assert_eq!(
        received[1].header("content-type"),
        Some("application/x-protobuf")
    );
    let request = proto::ExportMetricsServiceRequest::decode(&received[1].body[..]).unwrap();
    assert_eq!(
        request.resource_metrics[0].scope_metrics[0].metrics.len(),
        4
    );
    let counts = stats.counts();
    assert_eq!((counts.requests, counts.retries), (2, 1));
    assert_eq!(counts.points_exported, metrics.point_count() as u64);

    receiver.then(Reply::status(400));
    assert!(exporter.export(&metrics, Duration::from_secs(10)).is_err());
    assert_eq!(stats.counts().requests, 3, "a 400 is not retried");
    assert_eq!(stats.counts().points_failed, metrics.point_count() as u64);
    assert_eq!(stats.counts().spans_exported, 0);
}

#[test]
fn json_goes_out_as_json_and_a_partial_success_is_counted() {
    let receiver = Receiver::start();
    receiver.then(Reply::status(200).with_body(
        "application/json",
        br#"{"partialSuccess":{"rejectedDataPoints":"2","errorMessage":"too old"}}"#,
    ));
    let mut exporter = metrics_exporter(&receiver, Protocol::HttpJson);
    exporter.export(&sample(), Duration::from_secs(10)).unwrap();
    let received = receiver.wait_for(1);
    assert_eq!(received[0].header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&received[0].body).unwrap();
    assert!(v["resourceMetrics"].is_array());
    assert_eq!(exporter.stats().counts().points_rejected, 2);
}

#[test]
fn a_periodic_reader_with_the_otlp_exporter_flushes_on_shutdown() {
    let receiver = Receiver::start();
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_metrics_endpoint(format!("http://{}/custom/metrics", receiver.addr()))
        .with_temporality(Temporality::Delta)
        .build_metrics()
        .unwrap();
    assert_eq!(exporter.temporality(), Temporality::Delta);
    let provider = MeterProvider::builder()
        .with_reader(PeriodicReader::new(exporter).with_interval(Duration::from_secs(3600)))
        .build();
    provider.meter("m").u64_counter("c").build().add(5, &[]);
    provider.shutdown(Duration::from_secs(10)).unwrap();
    let received = receiver.wait_for(1);
    assert_eq!(received[0].path, "/custom/metrics");
    let request = proto::ExportMetricsServiceRequest::decode(&received[0].body[..]).unwrap();
    let Some(MetricData::Sum(sum)) = &request.resource_metrics[0].scope_metrics[0].metrics[0].data
    else {
        panic!()
    };
    assert_eq!(sum.aggregation_temporality, 1, "delta");
    assert_eq!(provider.exported_points(), 1);
    let _ = InMemoryMetricExporter::new();
}

#[test]
fn metric_points_wait_out_a_retry_after_that_did_not_fit_and_are_counted_failed() {
    let receiver = Receiver::start();
    receiver.then(Reply::status(503).with_header("retry-after", "1"));
    let mut exporter = metrics_exporter(&receiver, Protocol::HttpProtobuf);
    let stats = exporter.stats();
    let metrics = sample();
    let points = metrics.point_count() as u64;
    // The 1 s wait does not fit this export's time: it fails, and the wait is kept.
    assert!(
        exporter
            .export(&metrics, Duration::from_millis(300))
            .is_err()
    );
    // The next collection within that second is not sent: failed, counted.
    let held = exporter
        .export(&metrics, Duration::from_secs(10))
        .unwrap_err();
    assert!(held.to_string().contains("Retry-After"), "{held}");
    // Nothing collected is nothing to fail.
    exporter
        .export(&ManualReader::new().collect(), Duration::from_secs(10))
        .unwrap();
    let counts = stats.counts();
    assert_eq!((counts.requests, counts.points_failed), (1, 2 * points));
    assert_eq!(receiver.received().len(), 1, "nothing sent while held");
    std::thread::sleep(Duration::from_millis(1100));
    exporter.export(&metrics, Duration::from_secs(10)).unwrap();
    assert_eq!(receiver.wait_for(2)[1].path, "/v1/metrics");
    assert_eq!(stats.counts().points_exported, points);
}
