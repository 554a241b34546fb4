//! Prometheus scrapes over real sockets: `/metrics` mounted beside a traced axum router (neither
//! traced nor measured itself), exemplars that name the requests' traces, scrapes while threads
//! record, and both formats read back by the Python `prometheus_client` parsers.

#[path = "support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::Router;
use axum::routing::get;
use tracecore::export::InMemoryExporter;
use tracecore::metrics::{ManualReader, MeterProvider};
use tracecore::trace::TracerProvider;
use tracecore_tower::{PrometheusService, ServerLayer};

use support::{bounded, http_client, serve, wait_for_spans};

const OPENMETRICS: &str = "application/openmetrics-text;version=1.0.0;charset=utf-8;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
const TRACES: [&str; 2] = [
    "4bf92f3577b34da6a3ce929d0e0e4736",
    "0af7651916cd43dd8448eb211c80319c",
];

struct Service {
    base: String,
    spans: InMemoryExporter,
    meters: MeterProvider,
}

async fn service() -> Service {
    let reader = ManualReader::new();
    let meters = MeterProvider::builder()
        .with_service_name("shop")
        .with_reader(reader.clone())
        .build();
    let spans = InMemoryExporter::new();
    let traces = TracerProvider::builder()
        .with_service_name("shop")
        .with_simple_exporter(spans.clone())
        .build();
    let http = tracecore::http_span::HttpInstrumentation::from(traces.tracer("tracecore-tower"))
        .with_meter_provider(&meters);
    let app = Router::new()
        .route("/orders/{id}", get(|| async { "an order" }))
        .layer(ServerLayer::new(http))
        .route_service("/metrics", PrometheusService::new(reader));
    Service {
        base: format!("http://{}", serve(app).await),
        spans,
        meters,
    }
}

async fn scrape(base: &str, accept: Option<&str>) -> (String, String) {
    let mut request = http_client().get(format!("{base}/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = bounded(request.send()).await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    (content_type, response.text().await.unwrap())
}

async fn two_traced_requests(base: &str) {
    for trace in TRACES {
        bounded(
            http_client()
                .get(format!("{base}/orders/7"))
                .header("traceparent", format!("00-{trace}-00f067aa0ba902b7-01"))
                .send(),
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn metrics_are_served_beside_the_router_and_exemplars_name_the_requests_traces() {
    let s = service().await;
    two_traced_requests(&s.base).await;
    wait_for_spans(&s.spans, 2).await;

    let (content_type, text) = scrape(&s.base, None).await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    assert!(
        text.contains("# TYPE http_server_request_duration_seconds histogram"),
        "{text}"
    );
    let count_line = text
        .lines()
        .find(|l| l.starts_with("http_server_request_duration_seconds_count{"))
        .unwrap();
    assert!(
        count_line.contains(r#"http_route="/orders/{id}""#),
        "{count_line}"
    );
    assert!(
        count_line.ends_with(" 2"),
        "only the two order requests: {count_line}"
    );
    assert!(!text.contains("trace_id"));

    let (content_type, open) = scrape(&s.base, Some(OPENMETRICS)).await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(open.ends_with("# EOF\n"));
    let exemplar_traces: Vec<&str> = open
        .lines()
        .filter(|l| l.starts_with("http_server_request_duration_seconds_bucket"))
        .filter_map(|l| l.split_once("trace_id=\"")?.1.get(..32))
        .collect();
    assert!(!exemplar_traces.is_empty(), "{open}");
    for trace in &exemplar_traces {
        assert!(TRACES.contains(trace), "{trace}");
    }

    // The scrapes were neither traced nor measured.
    assert_eq!(
        s.spans.finished_spans().len(),
        2,
        "{:?}",
        s.spans.finished_spans().names()
    );
    let (_, again) = scrape(&s.base, None).await;
    assert!(!again.contains("/metrics"), "{again}");
    drop(s.meters);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrapes_while_two_threads_record() {
    let s = service().await;
    let histogram = s
        .meters
        .meter("load")
        .f64_histogram("load.work")
        .with_unit("s")
        .build();
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (histogram, stop) = (histogram.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) && n < 50_000_000 {
                    histogram.record(0.01, &[]);
                    n += 1;
                }
                n
            })
        })
        .collect();
    let mut last = 0u64;
    for _ in 0..20 {
        let (_, text) = scrape(&s.base, Some(OPENMETRICS)).await;
        assert!(text.ends_with("# EOF\n"));
        let count: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("load_work_seconds_count{"))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(0);
        let inf: u64 = text
            .lines()
            .find(|l| l.starts_with("load_work_seconds_bucket{") && l.contains("le=\"+Inf\""))
            .and_then(|l| l.split(' ').nth(1)?.parse().ok())
            .unwrap_or(0);
        assert_eq!(count, inf, "+Inf is the count in every scrape");
        assert!(count >= last, "cumulative counts never go back");
        last = count;
    }
    stop.store(true, Ordering::Relaxed);
    let recorded: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let (_, text) = scrape(&s.base, None).await;
    assert!(
        text.contains(&format!(" {recorded}\n")),
        "the final count is every measurement ({recorded})"
    );
}

/// `python3` with `prometheus_client`, installed once into a virtualenv under `target/`.
fn python() -> &'static Path {
    static PYTHON: OnceLock<PathBuf> = OnceLock::new();
    static INSTALL: Mutex<()> = Mutex::new(());
    PYTHON.get_or_init(|| {
        let _one = INSTALL.lock().unwrap();
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("prometheus-client-venv");
        let python = venv.join("bin").join("python");
        if !python.exists() {
            let ok = Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv)
                .status();
            assert!(
                ok.is_ok_and(|s| s.success()),
                "python3 -m venv (the test needs python3)"
            );
        }
        let has = Command::new(&python)
            .args(["-c", "import prometheus_client"])
            .status();
        if !has.is_ok_and(|s| s.success()) {
            let pip = Command::new(&python)
                .args([
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "prometheus_client==0.21.1",
                ])
                .status();
            assert!(
                pip.is_ok_and(|s| s.success()),
                "pip install prometheus_client"
            );
        }
        python
    })
}

/// The families the Python parser reads from `text`, as JSON.
fn parse_with_python(text: &str, openmetrics: bool) -> serde_json::Value {
    let script = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families as text_parse
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om_parse
parse = om_parse if sys.argv[1] == "om" else text_parse
out = []
for f in parse(sys.stdin.read()):
    samples = []
    for s in f.samples:
        e = getattr(s, "exemplar", None)
        samples.append({"name": s.name, "labels": s.labels, "value": s.value,
                        "exemplar": e.labels if e else None})
    out.append({"name": f.name, "type": f.type, "unit": getattr(f, "unit", ""), "samples": samples})
print(json.dumps(out))
"#;
    let mut child = Command::new(python())
        .args(["-c", script, if openmetrics { "om" } else { "text" }])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the parser refused it:\n{}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[tokio::test]
async fn both_formats_parse_with_the_prometheus_client_parsers() {
    let s = service().await;
    two_traced_requests(&s.base).await;
    wait_for_spans(&s.spans, 2).await;
    let counter = s
        .meters
        .meter("app")
        .u64_counter("app.orders")
        .with_description("Orders \"taken\"\nfast")
        .build();
    counter.add(
        3,
        &[tracecore::KeyValue::new(
            "note",
            "a \"quoted\" \\ value\nwith a newline",
        )],
    );

    for (accept, openmetrics) in [(None, false), (Some(OPENMETRICS), true)] {
        let (_, text) = scrape(&s.base, accept).await;
        let families = parse_with_python(&text, openmetrics);
        let family = |name: &str| {
            families
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["name"] == name)
                .unwrap_or_else(|| panic!("no family {name} in {families}"))
                .clone()
        };
        let duration = family("http_server_request_duration_seconds");
        assert_eq!(duration["type"], "histogram");
        let samples = duration["samples"].as_array().unwrap();
        let count = samples
            .iter()
            .find(|s| s["name"] == "http_server_request_duration_seconds_count")
            .unwrap();
        assert_eq!(count["value"], 2.0);
        assert_eq!(count["labels"]["http_route"], "/orders/{id}");
        // Both parsers name a counter family without its `_total`.
        let orders = family("app_orders");
        assert_eq!(orders["type"], "counter");
        let total = &orders["samples"][0];
        assert_eq!(total["name"], "app_orders_total");
        assert_eq!(
            total["labels"]["note"],
            "a \"quoted\" \\ value\nwith a newline"
        );
        assert_eq!(total["value"], 3.0);
        let target = family(if openmetrics { "target" } else { "target_info" });
        assert_eq!(target["samples"][0]["labels"]["service_name"], "shop");
        if openmetrics {
            assert_eq!(duration["unit"], "seconds");
            let traces: Vec<String> = samples
                .iter()
                .filter_map(|s| s["exemplar"]["trace_id"].as_str().map(str::to_owned))
                .collect();
            assert!(!traces.is_empty());
            assert!(
                traces.iter().all(|t| TRACES.contains(&t.as_str())),
                "{traces:?}"
            );
        }
    }
}
