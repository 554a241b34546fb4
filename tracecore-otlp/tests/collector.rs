//! Export through a real collector: rotel (an OpenTelemetry collector written in Rust,
//! distributed on PyPI) receives our OTLP/HTTP, and forwards over OTLP to a receiver inside the
//! test; the test asserts on the spans that come out the far side.
//!
//! rotel is installed on first use into a virtualenv under `target/` (`pip install rotel`,
//! needing `python3` with `venv` and network access to PyPI), or taken from `ROTEL_AGENT`.

mod support;

#[path = "../../tests/support/remote.rs"]
mod remote;

use std::net::{SocketAddr, TcpListener, TcpStream};

use prost::Message;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use remote::remote_parent;
use support::Receiver;
use tracecore::export::BatchProcessor;
use tracecore::trace::{SpanKind, Status, TracerProvider};
use tracecore::{KeyValue, SpanContext};
use tracecore_otlp::proto::{self, any_value};
use tracecore_otlp::{Compression, OtlpExporter, Protocol};

/// The rotel release the tests are written against.
const ROTEL_VERSION: &str = "0.0.1a15";

/// The `rotel-agent` binary: `ROTEL_AGENT`, else installed once into `target/`.
fn rotel_agent() -> &'static Path {
    static AGENT: OnceLock<PathBuf> = OnceLock::new();
    static INSTALL: Mutex<()> = Mutex::new(());
    AGENT.get_or_init(|| {
        if let Some(path) = std::env::var_os("ROTEL_AGENT") {
            return PathBuf::from(path);
        }
        let _one_at_a_time = INSTALL.lock().unwrap();
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("rotel-{ROTEL_VERSION}"));
        if let Some(found) = find_agent(&venv) {
            return found;
        }
        let python = if Command::new("python3").arg("--version").output().is_ok() {
            "python3"
        } else {
            "python"
        };
        let run = |cmd: &mut Command, what: &str| {
            let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
            assert!(
                out.status.success(),
                "{what} failed (the collector tests need python3 with venv and access to PyPI; \
                 or set ROTEL_AGENT to a rotel-agent binary):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(
            Command::new(python).args(["-m", "venv"]).arg(&venv),
            "creating a virtualenv for rotel",
        );
        run(
            Command::new(venv.join("bin").join("pip")).args([
                "install",
                "--quiet",
                &format!("rotel=={ROTEL_VERSION}"),
            ]),
            "pip install rotel",
        );
        find_agent(&venv).expect("the rotel wheel ships rotel-agent")
    })
}

/// `<venv>/lib/python*/site-packages/rotel/rotel-agent`, if installed.
fn find_agent(venv: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(venv.join("lib")).ok()?.flatten() {
        let agent = entry.path().join("site-packages/rotel/rotel-agent");
        if agent.is_file() {
            return Some(agent);
        }
    }
    None
}

fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

/// A running rotel that takes OTLP/HTTP and forwards OTLP/HTTP to `downstream`; killed on drop.
struct Rotel {
    child: Child,
    http: SocketAddr,
    log: PathBuf,
}

impl Rotel {
    fn start(downstream: &Receiver) -> Self {
        let (http, grpc) = (free_port(), free_port());
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let log = dir.join(format!("rotel-{}.log", http.port()));
        let child = Command::new(rotel_agent())
            .arg("start")
            .args(["--otlp-http-endpoint", &http.to_string()])
            .args(["--otlp-grpc-endpoint", &grpc.to_string()])
            .args(["--exporter", "otlp", "--otlp-exporter-protocol", "http"])
            .args([
                "--otlp-exporter-endpoint",
                &format!("http://{}", downstream.addr()),
            ])
            .args(["--batch-timeout", "50ms"])
            .arg("--pid-file")
            .arg(dir.join(format!("rotel-{}.pid", http.port())))
            .arg("--log-file")
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start rotel-agent");
        let rotel = Self { child, http, log };
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(http).is_err() {
            assert!(
                Instant::now() < deadline,
                "rotel did not listen on {http}; log: {:?}",
                std::fs::read_to_string(&rotel.log)
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        rotel
    }

    fn traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.http)
    }
}

impl Drop for Rotel {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn string_attr<'a>(attrs: &'a [proto::KeyValue], key: &str) -> Option<&'a str> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(s.as_str()),
            _ => None,
        }
    })
}

fn int_attr(attrs: &[proto::KeyValue], key: &str) -> Option<i64> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::IntValue(i) => Some(*i),
            _ => None,
        }
    })
}

/// Sends a small continued trace through rotel with `exporter`, and checks what came out.
fn through_rotel(protocol: Protocol, compression: Compression) {
    let far_side = Receiver::start();
    let rotel = Rotel::start(&far_side);
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(rotel.traces_url())
        .with_protocol(protocol)
        .with_compression(compression)
        .build()
        .unwrap();
    let stats = exporter.stats();
    let service = format!("checkout-{protocol}-{compression}");
    let provider = TracerProvider::builder()
        .with_service_name(service.clone())
        .with_span_processor(BatchProcessor::builder(exporter).build())
        .build();
    let tracer = provider.tracer("tracecore-tower");

    let remote = remote_parent(
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "vendor=abc",
    );
    let server = tracer
        .span_builder("GET /orders/{id}")
        .with_kind(SpanKind::Server)
        .start_with_context(&remote);
    server.set_attributes([
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", "/orders/{id}"),
        KeyValue::new("http.response.status_code", 502),
    ]);
    server.set_status(Status::error("upstream failed"));
    let server_cx = server.context(&remote);
    let client = tracer
        .span_builder("GET")
        .with_kind(SpanKind::Client)
        .start_with_context(&server_cx);
    client.set_attribute(KeyValue::new("server.address", "inventory ✓"));
    let client_ids: SpanContext = client.span_context().clone();
    let server_ids: SpanContext = server.span_context().clone();
    client.end();
    server.end();
    provider.shutdown(Duration::from_secs(10)).unwrap();
    let counts = stats.counts();
    assert_eq!(
        (counts.spans_exported, counts.spans_failed),
        (2, 0),
        "rotel accepted the export"
    );

    let spans = far_side.wait_for_spans(2);
    let request = far_side.received().last().unwrap().request();
    let resource = request.resource_spans[0].resource.clone().unwrap();
    assert_eq!(
        string_attr(&resource.attributes, "service.name"),
        Some(&*service)
    );
    assert_eq!(spans.len(), 2);
    let server = spans.iter().find(|s| s.kind == 2).expect("the SERVER span");
    let client = spans.iter().find(|s| s.kind == 3).expect("the CLIENT span");
    assert_eq!(server.name, "GET /orders/{id}");
    assert_eq!(server.trace_id, server_ids.trace_id().to_bytes());
    assert_eq!(server.span_id, server_ids.span_id().to_bytes());
    assert_eq!(
        server.parent_span_id,
        0x00f0_67aa_0ba9_02b7_u64.to_be_bytes()
    );
    assert_eq!(server.trace_state, "vendor=abc");
    assert_eq!(server.flags, 0x301, "sampled, parent known to be remote");
    assert_eq!(
        int_attr(&server.attributes, "http.response.status_code"),
        Some(502)
    );
    assert_eq!(
        string_attr(&server.attributes, "http.route"),
        Some("/orders/{id}")
    );
    let status = server.status.clone().unwrap();
    assert_eq!(
        (status.code, status.message.as_str()),
        (2, "upstream failed")
    );
    assert!(server.end_time_unix_nano >= server.start_time_unix_nano);
    assert_eq!(client.name, "GET");
    assert_eq!(client.span_id, client_ids.span_id().to_bytes());
    assert_eq!(client.parent_span_id, server.span_id);
    assert_eq!(client.flags, 0x101, "sampled, local parent");
    assert_eq!(
        string_attr(&client.attributes, "server.address"),
        Some("inventory ✓")
    );
}

#[test]
fn protobuf_through_a_real_collector() {
    through_rotel(Protocol::HttpProtobuf, Compression::None);
}

#[test]
fn json_through_a_real_collector() {
    through_rotel(Protocol::HttpJson, Compression::None);
}

#[test]
fn gzip_protobuf_through_a_real_collector() {
    through_rotel(Protocol::HttpProtobuf, Compression::Gzip);
}

#[test]
fn gzip_json_through_a_real_collector() {
    through_rotel(Protocol::HttpJson, Compression::Gzip);
}

/// Sends the HTTP server duration of two requests through rotel as metrics, and checks what
/// came out on the far side's `/v1/metrics`.
fn metrics_through_rotel(protocol: Protocol) {
    use tracecore::metrics::{MeterProvider, PeriodicReader};
    use tracecore_otlp::proto::MetricData;

    let far_side = Receiver::start();
    let rotel = Rotel::start(&far_side);
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(rotel.traces_url())
        .with_protocol(protocol)
        .build_metrics()
        .unwrap();
    let stats = exporter.stats();
    let service = format!("metrics-{protocol}");
    let meters = MeterProvider::builder()
        .with_service_name(service.clone())
        .with_reader(PeriodicReader::new(exporter).with_interval(Duration::from_secs(3600)))
        .build();
    let latency = meters
        .meter("tracecore-tower")
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(tracecore::http_span::DURATION_BOUNDARIES.to_vec())
        .unwrap()
        .build();
    let attrs = [
        KeyValue::new("http.request.method", "GET"),
        KeyValue::new("http.route", "/orders/{id}"),
        KeyValue::new("http.response.status_code", 200),
    ];
    latency.record(0.004, &attrs);
    latency.record(0.3, &attrs);
    meters
        .meter("tracecore-tower")
        .u64_counter("app.orders")
        .build()
        .add(7, &[]);
    meters.shutdown(Duration::from_secs(10)).unwrap();
    assert_eq!(
        stats.counts().points_exported,
        2,
        "rotel accepted the export"
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let request = loop {
        let found = far_side
            .received()
            .into_iter()
            .find(|r| r.path == "/v1/metrics");
        if let Some(r) = found {
            break proto::ExportMetricsServiceRequest::decode(&r.body[..]).unwrap();
        }
        assert!(Instant::now() < deadline, "rotel forwarded no metrics");
        std::thread::sleep(Duration::from_millis(20));
    };
    let rm = &request.resource_metrics[0];
    assert_eq!(
        string_attr(&rm.resource.as_ref().unwrap().attributes, "service.name"),
        Some(&*service)
    );
    let metrics: Vec<_> = rm.scope_metrics.iter().flat_map(|s| &s.metrics).collect();
    let duration = metrics
        .iter()
        .find(|m| m.name == "http.server.request.duration")
        .unwrap();
    assert_eq!(duration.unit, "s");
    // rotel 0.0.1a15 accepts OTLP JSON metrics (200) but forwards histograms without their
    // data and sums without their `asInt` value (probed: counts and values as strings or as
    // numbers alike); our JSON is checked field by field against the OTLP JSON rules in
    // tests/metrics.rs. Through protobuf everything arrives and is checked here.
    let histogram = match (&duration.data, protocol) {
        (Some(MetricData::Histogram(h)), _) => Some(h),
        (None, Protocol::HttpJson) => None,
        (other, _) => panic!("{other:?}"),
    };
    if let Some(h) = histogram {
        let p = &h.data_points[0];
        assert_eq!((p.count, p.sum), (2, Some(0.304)));
        assert_eq!(p.bucket_counts.iter().sum::<u64>(), 2);
        assert_eq!(p.bucket_counts[0], 1, "0.004 is in (-inf, 0.005]");
        assert_eq!(p.explicit_bounds.len(), 14);
        assert_eq!(
            string_attr(&p.attributes, "http.route"),
            Some("/orders/{id}")
        );
        assert_eq!(
            int_attr(&p.attributes, "http.response.status_code"),
            Some(200)
        );
    }
    let orders = metrics.iter().find(|m| m.name == "app.orders").unwrap();
    let Some(MetricData::Sum(sum)) = &orders.data else {
        panic!()
    };
    assert!(sum.is_monotonic);
    if protocol == Protocol::HttpProtobuf {
        assert_eq!(sum.data_points[0].value, Some(proto::NumberValue::AsInt(7)));
    }
}

#[test]
fn metrics_in_protobuf_through_a_real_collector() {
    metrics_through_rotel(Protocol::HttpProtobuf);
}

#[test]
fn metrics_in_json_through_a_real_collector() {
    metrics_through_rotel(Protocol::HttpJson);
}

/// Log records through rotel, in `protocol`: every field arrives as written.
fn logs_through_rotel(protocol: Protocol) {
    use tracecore::logs::{LogRecord, LoggerProvider, Severity};
    use tracecore::{SpanId, TraceFlags, TraceId};

    let far_side = Receiver::start();
    let rotel = Rotel::start(&far_side);
    let exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(rotel.traces_url())
        .with_protocol(protocol)
        .build_logs()
        .unwrap();
    assert!(
        exporter.endpoint().ends_with("/v1/logs"),
        "{}",
        exporter.endpoint()
    );
    let stats = exporter.stats();
    let service = format!("inventory-logs-{protocol}");
    let logs = LoggerProvider::builder()
        .with_service_name(service.clone())
        .with_batch_exporter(exporter)
        .build();
    let trace_id = TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).unwrap();
    let span_id = SpanId::from_u64(0x00f0_67aa_0ba9_02b7).unwrap();
    logs.logger("inventory::storage").emit(
        LogRecord::new(Severity::ERROR)
            .with_body("cannot read the item")
            .with_attribute(KeyValue::new("item.id", 7))
            .with_attribute(KeyValue::new("exception.message", "disk full"))
            .with_event_name("storage.failure")
            .with_span(trace_id, span_id, TraceFlags::SAMPLED),
    );
    logs.logger("inventory::http")
        .emit(LogRecord::new(Severity::INFO).with_body("ready"));
    logs.shutdown(Duration::from_secs(10)).unwrap();
    let counts = stats.counts();
    assert_eq!((counts.records_exported, counts.records_failed), (2, 0));

    let deadline = Instant::now() + Duration::from_secs(20);
    let request = loop {
        if let Some(r) = far_side
            .received()
            .into_iter()
            .find(|r| r.path == "/v1/logs")
        {
            break proto::ExportLogsServiceRequest::decode(&r.body[..]).unwrap();
        }
        assert!(Instant::now() < deadline, "no logs reached the far side");
        std::thread::sleep(Duration::from_millis(20));
    };
    let resource = request.resource_logs[0].resource.clone().unwrap();
    assert_eq!(
        string_attr(&resource.attributes, "service.name"),
        Some(&*service)
    );
    let records: Vec<(String, proto::LogRecord)> = request
        .resource_logs
        .iter()
        .flat_map(|r| &r.scope_logs)
        .flat_map(|s| {
            let scope = s.scope.clone().unwrap().name;
            s.log_records
                .iter()
                .map(move |l| (scope.clone(), l.clone()))
        })
        .collect();
    assert_eq!(records.len(), 2);
    let (scope, failure) = records
        .iter()
        .find(|(_, l)| l.severity_number == 17)
        .unwrap();
    assert_eq!(scope, "inventory::storage");
    assert_eq!(failure.severity_text, "ERROR");
    assert_eq!(
        failure.body.as_ref().unwrap().value,
        Some(any_value::Value::StringValue("cannot read the item".into()))
    );
    assert_eq!(int_attr(&failure.attributes, "item.id"), Some(7));
    assert_eq!(
        string_attr(&failure.attributes, "exception.message"),
        Some("disk full")
    );
    assert_eq!(failure.event_name, "storage.failure");
    assert_eq!(failure.trace_id, trace_id.to_bytes());
    assert_eq!(failure.span_id, span_id.to_bytes());
    assert_eq!(failure.flags, 1);
    assert!(
        failure.time_unix_nano > 1_700_000_000_000_000_000,
        "a real time, never zero"
    );
    assert!(failure.observed_time_unix_nano >= failure.time_unix_nano);
    let (_, ready) = records
        .iter()
        .find(|(_, l)| l.severity_number == 9)
        .unwrap();
    assert!(ready.trace_id.is_empty() && ready.event_name.is_empty());
}

#[test]
fn logs_in_protobuf_through_a_real_collector() {
    logs_through_rotel(Protocol::HttpProtobuf);
}

#[test]
fn logs_in_json_through_a_real_collector() {
    logs_through_rotel(Protocol::HttpJson);
}
