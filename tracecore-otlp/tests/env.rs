//! `OTEL_EXPORTER_OTLP_*` and `OTEL_TRACES_EXPORTER`. Each case runs this test binary again as a
//! child process with the variables set (changing the environment of a running multi-threaded
//! test is not sound); the child exports to a receiver the parent started and checks what
//! arrived.

mod support;

use std::time::Duration;

use support::Receiver;
use tracecore_otlp::proto;
use tracecore_otlp::{ExporterKind, Setup};

#[path = "../../tests/support/child_env.rs"]
mod child_env;

use child_env::{child_command, child_warnings, report, run_child};

/// In a child: set up from the environment alone, end one span, shut down (flushing), and print
/// the one-line summary.
#[test]
#[ignore = "run by the env tests as a child process"]
fn child_setup_and_export_one_span() {
    let Some(warnings) = child_warnings() else {
        return;
    };
    let telemetry = Setup::new().build().unwrap();
    eprintln!("SUMMARY {telemetry}");
    eprintln!("KINDS {:?}", telemetry.exporters());
    let span = telemetry.tracer("env-test").start("from-env");
    eprintln!("RECORDING {}", span.is_recording());
    span.end();
    telemetry.shutdown(Duration::from_secs(10)).unwrap();
    report(&warnings);
}

/// In a child: build from the environment and print the error.
#[test]
#[ignore = "run by the env tests as a child process"]
fn child_setup_error() {
    let Some(_warnings) = child_warnings() else {
        return;
    };
    let error = Setup::new().build().unwrap_err();
    eprintln!("ERROR {error}");
}

fn port(receiver: &Receiver) -> u16 {
    receiver.addr().port()
}

#[test]
fn the_base_endpoint_gets_v1_traces_appended_and_headers_are_percent_decoded() {
    let receiver = Receiver::start();
    let base = format!("http://127.0.0.1:{}/collector", port(&receiver));
    let stderr = run_child(
        "child_setup_and_export_one_span",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "api-key=s3cret%2C1 , x-tenant = blue",
            ),
            ("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-tenant=green"),
            ("OTEL_SERVICE_NAME", "env-service"),
        ],
    );
    let request = &receiver.wait_for(1)[0];
    assert_eq!(request.path, "/collector/v1/traces");
    assert_eq!(request.header("api-key"), Some("s3cret,1"));
    assert_eq!(request.header("x-tenant"), Some("green"), "per-signal wins");
    assert_eq!(request.span_names(), ["from-env"]);
    assert!(stderr.contains("SUMMARY tracecore: service.name=env-service exporter=otlp ("));
    assert!(
        stderr.contains("/collector/v1/traces http/protobuf, compression none, timeout 10000 ms")
    );
    assert!(stderr.contains("api-key=<redacted>"), "{stderr}");
    assert!(
        !stderr.contains("s3cret"),
        "header values never shown: {stderr}"
    );
    assert!(
        stderr.contains("propagation=traceparent,tracestate,baggage"),
        "{stderr}"
    );
}

#[test]
fn the_traces_endpoint_is_used_as_given_and_wins() {
    let receiver = Receiver::start();
    let exact = format!("http://127.0.0.1:{}/custom/spans", port(&receiver));
    run_child(
        "child_setup_and_export_one_span",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1/unused"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &exact),
        ],
    );
    assert_eq!(receiver.wait_for(1)[0].path, "/custom/spans");
}

#[test]
fn protocol_compression_and_timeout_come_from_the_environment() {
    let receiver = Receiver::start();
    let stderr = run_child(
        "child_setup_and_export_one_span",
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &receiver.url()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "GZIP"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "2500"),
        ],
    );
    let request = &receiver.wait_for(1)[0];
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("content-encoding"), Some("gzip"));
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"],
        "from-env"
    );
    assert!(
        stderr.contains("http/json, compression gzip, timeout 2500 ms"),
        "{stderr}"
    );
}

#[test]
fn bad_values_warn_naming_the_variable_and_fall_back() {
    let receiver = Receiver::start();
    let stderr = run_child(
        "child_setup_and_export_one_span",
        &[
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &receiver.url()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "-5"),
            ("OTEL_TRACES_EXPORTER", "otlp,zipkin"),
        ],
    );
    let request = &receiver.wait_for(1)[0];
    assert_eq!(
        request.header("content-type"),
        Some("application/x-protobuf")
    );
    assert_eq!(request.header("content-encoding"), None);
    for warning in [
        "WARNING OTEL_EXPORTER_OTLP_PROTOCOL: grpc is not supported",
        "WARNING OTEL_EXPORTER_OTLP_COMPRESSION: unknown compression \"brotli\"; using none",
        "WARNING OTEL_EXPORTER_OTLP_TIMEOUT: value \"-5\" is not a non-negative number of milliseconds; using 10000 ms",
        "WARNING OTEL_TRACES_EXPORTER: \"zipkin\" is not supported by tracecore-otlp; ignored",
    ] {
        assert!(
            stderr.contains(warning),
            "missing {warning:?} in:\n{stderr}"
        );
    }
}

#[test]
fn values_that_cannot_stand_are_errors_naming_the_variable() {
    for (vars, says) in [
        (
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318")][..],
            "ERROR OTEL_EXPORTER_OTLP_ENDPOINT: \"collector:4318\" has",
        ),
        (
            &[("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "api-key")][..],
            "ERROR OTEL_EXPORTER_OTLP_TRACES_HEADERS: member \"api-key\" has no `=`",
        ),
    ] {
        let stderr = run_child("child_setup_error", vars);
        assert!(stderr.contains(says), "missing {says:?} in:\n{stderr}");
    }
    if !cfg!(feature = "rustls") {
        let stderr = run_child(
            "child_setup_error",
            &[("OTEL_EXPORTER_OTLP_ENDPOINT", "https://collector:4318")],
        );
        assert!(
            stderr.contains("needs tracecore-otlp's `rustls` feature"),
            "{stderr}"
        );
    }
}

#[test]
fn exporter_none_keeps_propagating_without_recording() {
    let receiver = Receiver::start();
    let stderr = run_child(
        "child_setup_and_export_one_span",
        &[
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &receiver.url()),
        ],
    );
    assert!(stderr.contains("KINDS [None]"), "{stderr}");
    assert!(stderr.contains("RECORDING false"), "{stderr}");
    assert!(stderr.contains("exporter=none"), "{stderr}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(receiver.received().is_empty());
}

#[test]
fn exporter_console_prints_the_waterfall_and_sends_nothing() {
    let receiver = Receiver::start();
    let child = child_command(
        "child_setup_and_export_one_span",
        &[
            ("OTEL_TRACES_EXPORTER", "console"),
            ("OTEL_SERVICE_NAME", "console-service"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &receiver.url()),
        ],
    )
    .env("NO_COLOR", "1")
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&child.stdout);
    let stderr = String::from_utf8_lossy(&child.stderr);
    assert!(child.status.success(), "{stdout}\n{stderr}");
    assert!(stderr.contains("KINDS [Console]"), "{stderr}");
    assert!(
        stdout.contains("console-service  INTERNAL  from-env"),
        "{stdout}"
    );
    assert!(receiver.received().is_empty());
}

#[test]
fn the_sdk_disabled_switch_is_reported() {
    let receiver = Receiver::start();
    let stderr = run_child(
        "child_setup_and_export_one_span",
        &[
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", &receiver.url()),
        ],
    );
    assert!(
        stderr.contains("(OTEL_SDK_DISABLED: spans are not recorded)"),
        "{stderr}"
    );
    assert!(stderr.contains("RECORDING false"), "{stderr}");
}

#[test]
fn code_wins_over_the_environment() {
    // No variables needed: code chooses the exporters and the endpoint.
    let receiver = Receiver::start();
    let telemetry = Setup::new()
        .with_service_name("from-code")
        .with_exporters([ExporterKind::Otlp])
        .with_otlp(
            tracecore_otlp::OtlpExporter::builder()
                .without_env()
                .with_endpoint(receiver.url()),
        )
        .build()
        .unwrap();
    telemetry.tracer("t").start("coded").end();
    telemetry
        .provider()
        .force_flush(Duration::from_secs(10))
        .unwrap();
    let request = &receiver.wait_for(1)[0];
    assert_eq!(request.span_names(), ["coded"]);
    let resource = request.request().resource_spans[0]
        .resource
        .clone()
        .unwrap();
    let name = resource
        .attributes
        .iter()
        .find(|kv| kv.key == "service.name")
        .unwrap();
    assert_eq!(
        name.value.clone().unwrap().value,
        Some(tracecore_otlp::proto::any_value::Value::StringValue(
            "from-code".into()
        ))
    );
    assert_eq!(telemetry.otlp_stats().unwrap().counts().spans_exported, 1);
}

/// In a child: set up from the environment alone, add to one counter, shut down (a last
/// metrics export), and print the summary.
#[test]
#[ignore = "run by the env tests as a child process"]
fn child_setup_and_record_one_metric() {
    let Some(warnings) = child_warnings() else {
        return;
    };
    let telemetry = Setup::new().build().unwrap();
    eprintln!("SUMMARY {telemetry}");
    let counter = telemetry.meter("env-test").u64_counter("env.count").build();
    eprintln!("ENABLED {}", counter.is_enabled());
    counter.add(4, &[]);
    telemetry.shutdown(Duration::from_secs(10)).unwrap();
    report(&warnings);
}

fn metrics_requests(receiver: &Receiver) -> Vec<support::Received> {
    receiver
        .received()
        .into_iter()
        .filter(|r| r.path.ends_with("metrics"))
        .collect()
}

#[test]
fn metrics_take_the_metrics_variables_over_the_generic_ones() {
    use prost::Message;
    let receiver = Receiver::start();
    let base = format!("http://127.0.0.1:{}/collector", port(&receiver));
    let stderr = run_child(
        "child_setup_and_record_one_metric",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
            ("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=blue"),
            ("OTEL_EXPORTER_OTLP_METRICS_HEADERS", "x-tenant=green"),
            ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
            ("OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE", "Delta"),
            ("OTEL_METRIC_EXPORT_INTERVAL", "3600000"),
        ],
    );
    let request = &receiver.wait_for(1)[0];
    assert_eq!(request.path, "/collector/v1/metrics");
    assert_eq!(request.header("x-tenant"), Some("green"), "per-signal wins");
    assert_eq!(request.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    let metric = &v["resourceMetrics"][0]["scopeMetrics"][0]["metrics"][0];
    assert_eq!(metric["name"], "env.count");
    assert_eq!(metric["sum"]["aggregationTemporality"], 1, "delta");
    assert_eq!(metric["sum"]["dataPoints"][0]["asInt"], "4");
    assert!(
        stderr.contains("metrics=otlp (") && stderr.contains("/collector/v1/metrics http/json"),
        "{stderr}"
    );
    assert!(stderr.contains("every 3600000 ms"), "{stderr}");
    let _ = proto::ExportMetricsServiceRequest::decode(&b""[..]);
}

#[test]
fn the_metrics_endpoint_is_used_as_given() {
    let receiver = Receiver::start();
    let exact = format!("http://127.0.0.1:{}/custom/points", port(&receiver));
    run_child(
        "child_setup_and_record_one_metric",
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1/unused"),
            ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", &exact),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_METRICS_EXPORTER", "otlp"),
        ],
    );
    assert_eq!(receiver.wait_for(1)[0].path, "/custom/points");
}

#[test]
fn metrics_exporter_none_and_sdk_disabled_send_no_metrics() {
    for vars in [
        [
            ("OTEL_METRICS_EXPORTER", "none"),
            ("OTEL_SDK_DISABLED", "false"),
        ],
        [
            ("OTEL_METRICS_EXPORTER", "otlp"),
            ("OTEL_SDK_DISABLED", "true"),
        ],
    ] {
        let receiver = Receiver::start();
        let base = format!("http://127.0.0.1:{}", port(&receiver));
        let mut all = vec![("OTEL_EXPORTER_OTLP_ENDPOINT", base.as_str())];
        all.extend(vars);
        let stderr = run_child("child_setup_and_record_one_metric", &all);
        assert!(stderr.contains("ENABLED false"), "{vars:?}: {stderr}");
        std::thread::sleep(Duration::from_millis(100));
        assert!(metrics_requests(&receiver).is_empty(), "{vars:?}");
        if vars[0].1 == "none" {
            assert!(stderr.contains("metrics=none"), "{stderr}");
        }
    }
}

/// In a child: set up from the environment, record, scrape our own Prometheus listener once
/// with the OpenMetrics `Accept`, and print the answer.
#[test]
#[ignore = "run by the env tests as a child process"]
fn child_prometheus_listener() {
    use std::io::{Read, Write};
    let Some(warnings) = child_warnings() else {
        return;
    };
    let telemetry = Setup::new().build().unwrap();
    eprintln!("SUMMARY {telemetry}");
    telemetry
        .meter("env-test")
        .u64_counter("env.count")
        .build()
        .add(4, &[]);
    let addr = telemetry.prometheus_listener().unwrap().local_addr();
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .write_all(
            b"GET /metrics HTTP/1.1\r\nhost: x\r\naccept: application/openmetrics-text\r\n\r\n",
        )
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    eprintln!("REPLY {}", reply.replace('\n', "\\n"));
    report(&warnings);
}

#[test]
fn the_prometheus_exporter_listens_where_the_variables_say() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string();
    let stderr = run_child(
        "child_prometheus_listener",
        &[
            ("OTEL_METRICS_EXPORTER", "prometheus"),
            ("OTEL_TRACES_EXPORTER", "none"),
            ("OTEL_EXPORTER_PROMETHEUS_HOST", "127.0.0.1"),
            ("OTEL_EXPORTER_PROMETHEUS_PORT", &port),
        ],
    );
    assert!(
        stderr.contains(&format!(
            "metrics=prometheus (http://127.0.0.1:{port}/metrics)"
        )),
        "{stderr}"
    );
    let reply = stderr
        .lines()
        .find_map(|l| l.strip_prefix("REPLY "))
        .unwrap();
    assert!(reply.starts_with("HTTP/1.1 200 OK\r"), "{reply}");
    assert!(
        reply.contains("content-type: application/openmetrics-text; version=1.0.0"),
        "{reply}"
    );
    assert!(
        reply.contains(r#"env_count_total{otel_scope_name="env-test"} 4"#),
        "{reply}"
    );
    assert!(reply.ends_with("# EOF\\n"), "{reply}");
}

/// The names of this process's threads (Linux).
fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .map(|tasks| {
            tasks
                .flatten()
                .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                .map(|n| n.trim().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// In a child: set up from the environment and print the threads tracecore started.
#[test]
#[ignore = "run by the env tests as a child process"]
fn child_threads_after_setup() {
    let Some(warnings) = child_warnings() else {
        return;
    };
    let telemetry = Setup::new().build().unwrap();
    // A new thread names itself once it runs: look until the span and metric export threads
    // have (the logs' may name itself first), at most 2 s; a disabled SDK waits it out and must
    // still show none.
    let deadline = std::time::Instant::now() + Duration::from_secs(2);
    let names = loop {
        let names: Vec<String> = thread_names()
            .into_iter()
            .filter(|n| n.starts_with("tracecore"))
            .collect();
        let named = |prefix: &str| names.iter().any(|n| n.starts_with(prefix));
        if (named("tracecore-expor") && named("tracecore-metri"))
            || std::time::Instant::now() > deadline
        {
            break names;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    eprintln!("THREADS {names:?}");
    drop(telemetry);
    report(&warnings);
}

#[test]
fn a_disabled_sdk_starts_no_export_thread() {
    if !std::path::Path::new("/proc/self/task").exists() {
        return; // thread names are read from /proc (Linux)
    }
    let receiver = Receiver::start();
    let base = format!("http://127.0.0.1:{}", port(&receiver));
    let threads = |disabled: &str| {
        let stderr = run_child(
            "child_threads_after_setup",
            &[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", &base),
                ("OTEL_SDK_DISABLED", disabled),
            ],
        );
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("THREADS "))
            .unwrap_or_else(|| panic!("{stderr}"))
            .to_owned()
    };
    let enabled = threads("false");
    assert!(enabled.contains("tracecore-expor"), "spans: {enabled}");
    assert!(enabled.contains("tracecore-metri"), "metrics: {enabled}");
    assert_eq!(threads("true"), "[]", "no thread when disabled");
}
