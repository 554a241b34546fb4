//! The runnable examples, run as their own processes, as `cargo run --example NAME` would:
//! what they print is what a newcomer reads. Also the demo's roles in three processes, so a
//! trace crosses real process boundaries.

#[path = "../tracecore-otlp/tests/support/mod.rs"]
mod receiver;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The example binary `name`, built first (once per test run) with the workspace's features,
/// as `cargo test --workspace --all-features` builds them, so that nothing stale runs.
fn example(name: &str) -> Command {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    let dir = BUILT.get_or_init(|| {
        // .../target/<profile>/deps/examples-<hash>  ->  .../target/<profile>/examples
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap().to_owned();
        let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        build.args(["build", "-q", "--workspace", "--all-features", "--examples"]);
        if profile_dir.ends_with("release") {
            build.arg("--release");
        }
        // What cargo sets for this test, not for the build: some build scripts track these
        // (ring's tracks CARGO_MANIFEST_DIR), and a change would rebuild them for nothing.
        for (key, _) in std::env::vars() {
            let per_test = [
                "CARGO_MANIFEST_",
                "CARGO_PKG_",
                "CARGO_CRATE_",
                "CARGO_BIN_",
                "CARGO_PRIMARY_",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
            ];
            if per_test.iter().any(|p| key.starts_with(p)) {
                build.env_remove(key);
            }
        }
        let status = build
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .unwrap();
        assert!(status.success(), "building the examples failed");
        profile_dir.join("examples")
    });
    let mut cmd = Command::new(dir.join(name));
    for (key, _) in std::env::vars() {
        if key.starts_with("OTEL_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs an example to its end (it must exit 0); returns its standard output.
fn run(name: &str, args: &[&str]) -> String {
    let Output {
        status,
        stdout,
        stderr,
    } = example(name).args(args).output().unwrap();
    let stdout = String::from_utf8(stdout).unwrap();
    assert!(
        status.success(),
        "{name} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&stderr)
    );
    stdout
}

/// The 32-hex-digit trace id after `prefix` in `text`.
fn trace_id_after<'a>(text: &'a str, prefix: &str) -> &'a str {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix:?} in:\n{text}"))
        + prefix.len();
    &text[at..at + 32]
}

#[test]
fn axum_server_continues_the_callers_trace() {
    let out = run("axum-server", &["--once"]);
    assert!(out.contains("GET /items/7 -> 200 OK"), "{out}");
    // The caller's trace id, and the span named by the route.
    assert!(
        out.contains("trace 4bf92f3577b34da6a3ce929d0e0e4736  1 span"),
        "{out}"
    );
    assert!(
        out.contains("inventory  SERVER    GET /items/{id}  200 Unset"),
        "{out}"
    );
}

#[test]
fn hyper_server_traces_a_bare_hyper_service() {
    let out = run("hyper-server", &["--once"]);
    assert!(out.contains("GET /hello -> 200 OK"), "{out}");
    assert!(
        out.contains("hello  SERVER    GET /hello  200 Unset"),
        "{out}"
    );
}

#[test]
fn reqwest_client_sends_its_span_as_the_parent() {
    let out = run("reqwest-client", &[]);
    assert!(out.contains("-> 200 OK"), "{out}");
    // What the server received: this trace, the CLIENT span as parent, the baggage.
    let sent = trace_id_after(&out, "traceparent: 00-");
    assert_eq!(trace_id_after(&out, "\ntrace "), sent, "{out}");
    assert!(out.contains("baggage: tenant=blue"), "{out}");
    assert!(out.contains("checkout  INTERNAL  place order"), "{out}");
    // The CLIENT span shows the target it called.
    let port = out
        .split("http://127.0.0.1:")
        .nth(1)
        .unwrap()
        .split('/')
        .next()
        .unwrap();
    assert!(
        out.contains(&format!(
            "checkout  CLIENT    └─ GET 127.0.0.1:{port}/echo  200 Unset"
        )),
        "{out}"
    );
}

#[test]
fn spawned_task_keeps_the_context_it_was_given() {
    let out = run("spawned-task", &[]);
    assert!(out.contains("POST /orders -> 202 Accepted"), "{out}");
    // The request's trace holds the task that carried the context, its call and the call's
    // server; the task spawned without it is a trace of its own.
    let order = out.find("4 spans").expect("the order's trace");
    let lines: Vec<&str> = out[order..].lines().skip(1).take(4).collect();
    let expected = [
        "SERVER    POST /orders ",
        "INTERNAL  └─ send confirmation ",
        "CLIENT       └─ POST ",
        "SERVER          └─ POST /emails ",
    ];
    assert_eq!(lines.len(), expected.len(), "{out}");
    for (line, span) in lines.iter().zip(expected) {
        assert!(line.contains(span), "{span:?} in\n{out}");
    }
    assert!(out.contains("1 span"), "{out}");
    assert!(out.contains("shop  INTERNAL  write audit line"), "{out}");
}

#[test]
fn the_demo_prints_the_waterfalls_and_the_service_map() {
    let out = run("client-gateway-server", &[]);
    for line in [
        "client: GET /orders/42 -> 200",
        "client: GET /orders/4242 -> 404",
        "client: GET /orders/0 -> 502",
        "client ──▶ gateway     3 requests, 2 errors",
        "gateway ──▶ inventory  3 requests, 2 errors",
        "20 spans in 3 traces (6 SERVER, 6 CLIENT, 6 INTERNAL, 1 PRODUCER, 1 CONSUMER)",
        "\nlogs\n",
        " INFO order accepted order.id=42 trace_id=",
        "ERROR load_item{item.id=0}: cannot read the item error=storage unavailable trace_id=",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    assert_eq!(out.matches("\ntrace ").count(), 3, "{out}");
    // CLIENT spans name their target; the failed load_item's exception is a mark on its bar.
    assert!(out.contains("client     CLIENT    GET 127.0.0.1:"), "{out}");
    assert!(out.contains("/items/4242  404 Error"), "{out}");
    let failed = out
        .lines()
        .find(|l| l.contains("└─ load_item") && l.contains("Error"))
        .unwrap_or_else(|| panic!("the failed load_item in\n{out}"));
    assert_eq!(failed.matches('◆').count(), 1, "{failed}");
}

#[test]
fn grpc_inventory_traces_both_ends_by_the_rpc_rules() {
    let out = run("grpc-inventory", &[]);
    for line in [
        "GetItem(7) -> OK: item 7 (stock 7)",
        "GetItem(4242) -> NOT_FOUND: no item 4242",
        "GetItem(0) -> INTERNAL: storage unavailable",
        // The server: only INTERNAL is its error; NOT_FOUND is the caller's.
        "inventory  SERVER    inventory.v1.Inventory/GetItem  OK Unset",
        "inventory  SERVER    inventory.v1.Inventory/GetItem  NOT_FOUND Unset",
        "inventory  SERVER    inventory.v1.Inventory/GetItem  INTERNAL Error",
        // The client: every code but OK.
        "NOT_FOUND Error",
        "rpc.server.call.duration {rpc.method=inventory.v1.Inventory/GetItem, rpc.response.status_code=OK, rpc.system.name=grpc} count=1",
    ] {
        assert!(out.contains(line), "{line:?} in\n{out}");
    }
    // Each call's trace is the same on both ends: the CLIENT span is the SERVER span's parent.
    let server_trace = trace_id_after(&out, "trace ");
    let client_line = out
        .lines()
        .position(|l| l.contains("CLIENT    └─ inventory.v1.Inventory/GetItem 127.0.0.1:"))
        .unwrap_or_else(|| panic!("the CLIENT span in\n{out}"));
    let client_trace = out.lines().nth(client_line - 2).unwrap();
    assert!(
        client_trace.starts_with(&format!("trace {server_trace}")),
        "{out}"
    );
}

#[test]
fn grpc_inventory_serves_and_calls_across_processes() {
    let server = Role::start("grpc-inventory", &["serve", "127.0.0.1:0"]);
    let listening = server.wait_for("inventory on ");
    let addr = listening
        .split("inventory on ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let out = run("grpc-inventory", &["call", &addr, "0"]);
    assert!(
        out.contains("GetItem(0) -> INTERNAL: storage unavailable"),
        "{out}"
    );
    let trace = trace_id_after(&out, "trace ");
    let printed = server.wait_for("INTERNAL Error");
    assert!(
        printed.contains(&format!("trace {trace}")),
        "{trace} in\n{printed}"
    );
}

/// A long-running role: its output, collected as it comes; killed when dropped.
struct Role {
    child: Child,
    out: Arc<Mutex<String>>,
}

impl Role {
    fn start(name: &str, args: &[&str]) -> Self {
        Self::start_with_env(name, args, &[])
    }

    fn start_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = example(name)
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        Self { child, out }
    }

    /// Waits (at most 20 s) for output containing `text`; returns all the output so far.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = self.out.lock().unwrap().clone();
            if out.contains(text) {
                return out;
            }
            assert!(Instant::now() < deadline, "no {text:?} in:\n{out}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The `http://…` URL it says it serves on.
    fn url(&self) -> String {
        let out = self.wait_for(" on http://");
        let at = out.find("http://").unwrap();
        out[at..].split_whitespace().next().unwrap().to_owned()
    }
}

impl Drop for Role {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn each_role_runs_alone_and_the_trace_crosses_three_processes() {
    let inventory = Role::start(
        "client-gateway-server",
        &["inventory", "--listen", "127.0.0.1:0"],
    );
    let inventory_url = inventory.url();
    let gateway = Role::start(
        "client-gateway-server",
        &[
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &inventory_url,
        ],
    );
    let gateway_url = gateway.url();
    let out = run(
        "client-gateway-server",
        &["client", "--gateway", &gateway_url, "--rounds", "1"],
    );
    assert!(out.contains("GET /orders/42 -> 200"), "{out}");

    // Each process prints its own spans; the client's trace ids are the servers' too.
    let client_trace = trace_id_after(&out, "trace ");
    for (role, span) in [
        (&gateway, "gateway  SERVER    GET /orders/{id}"),
        (&inventory, "inventory  SERVER    GET /items/{id}"),
    ] {
        let printed = role.wait_for(span);
        assert!(
            printed.contains(&format!("trace {client_trace}")),
            "{client_trace} in\n{printed}"
        );
    }
    // Three requests, three traces, each seen by all three processes.
    let inventory_out = inventory.wait_for("GET /items/{id}  500 Error");
    for trace in out
        .match_indices("trace ")
        .map(|(i, _)| &out[i + 6..i + 38])
    {
        assert!(inventory_out.contains(trace), "{trace} in\n{inventory_out}");
    }
    // The roles' log lines carry the trace ids of the requests they served.
    let storage = inventory.wait_for("cannot read the item");
    let failed = storage
        .lines()
        .find(|l| l.contains("cannot read the item"))
        .unwrap();
    let failed_trace = trace_id_after(failed, "trace_id=");
    assert!(
        out.contains(&format!("trace {failed_trace}")),
        "{failed}\nin\n{out}"
    );
    let accepted = gateway.wait_for("order accepted");
    let accepted = accepted
        .lines()
        .find(|l| l.contains("order accepted order.id=42"))
        .unwrap();
    let accepted_trace = trace_id_after(accepted, "trace_id=");
    assert!(
        out.contains(&format!("trace {accepted_trace}")),
        "{accepted}\nin\n{out}"
    );
    assert_ne!(accepted_trace, failed_trace);
    // Both servers answer Prometheus on the same listener; the scrape itself is not measured.
    for (url, route) in [
        (&gateway_url, "/orders/{id}"),
        (&inventory_url, "/items/{id}"),
    ] {
        let reply = get(&format!("{url}/metrics"));
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(
            reply.contains(&format!("http_route=\"{route}\"")),
            "{route} in\n{reply}"
        );
        assert!(!reply.contains("http_route=\"/metrics\""), "{reply}");
        let second = get(&format!("{url}/metrics"));
        assert!(!second.contains("/metrics\""), "{second}");
    }
}

/// Nothing head-sampled, every error kept: the README's "Keep every error" settings.
const KEEP_ERRORS: [(&str, &str); 3] = [
    ("OTEL_TRACES_SAMPLER", "parentbased_traceidratio"),
    ("OTEL_TRACES_SAMPLER_ARG", "0"),
    ("TRACECORE_TAIL_SAMPLING", "errors"),
];

#[test]
fn the_demo_keeps_only_the_failing_traces_under_tail_sampling() {
    let output = example("client-gateway-server")
        .envs(KEEP_ERRORS)
        .output()
        .unwrap();
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{out}");
    assert_eq!(
        out.matches("\ntrace ").count(),
        2,
        "the 404 and the 502:\n{out}"
    );
    assert!(
        !out.contains("/orders/42  "),
        "the OK order left nothing:\n{out}"
    );
    // The 502 whole across the three services.
    for span in [
        "client     CLIENT    GET 127.0.0.1:",
        "gateway    SERVER    └─ GET /orders/{id}                502 Error",
        "inventory  SERVER          └─ GET /items/{id}           500 Error",
        "inventory  INTERNAL           └─ load_item              Error",
    ] {
        assert!(out.contains(span), "{span:?} in\n{out}");
    }
    assert!(
        out.contains(
            "tail sampling: 5 local traces kept (5 errors, 0 slower_than, 0 downstream), 4 dropped (10 spans)"
        ),
        "{out}"
    );
}

#[test]
fn the_roles_keep_the_failing_traces_across_processes() {
    let inventory = Role::start_with_env(
        "client-gateway-server",
        &["inventory", "--listen", "127.0.0.1:0"],
        &KEEP_ERRORS,
    );
    let inventory_url = inventory.url();
    let gateway = Role::start_with_env(
        "client-gateway-server",
        &[
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &inventory_url,
        ],
        &KEEP_ERRORS,
    );
    let gateway_url = gateway.url();
    let output = example("client-gateway-server")
        .args(["client", "--gateway", &gateway_url, "--rounds", "1"])
        .envs(KEEP_ERRORS)
        .output()
        .unwrap();
    let out = String::from_utf8(output.stdout).unwrap();
    assert!(output.status.success(), "{out}");
    assert!(out.contains("GET /orders/0 -> 502"), "{out}");
    // The client printed the two failing requests' traces only.
    let traces: Vec<&str> = out
        .match_indices("trace ")
        .map(|(i, _)| &out[i + 6..i + 38])
        .collect();
    assert_eq!(traces.len(), 2, "{out}");
    // The gateway kept both, and the inventory the one that failed in it.
    gateway.wait_for(" 502 Error ");
    let gateway_out = gateway.wait_for(" 404 Unset ");
    for trace in &traces {
        assert!(gateway_out.contains(trace), "{trace} in\n{gateway_out}");
    }
    let inventory_out = inventory.wait_for(" 500 Error ");
    let failed = trace_id_after(&inventory_out, "trace ");
    assert!(traces.contains(&failed), "{failed} in\n{out}");
    assert_eq!(
        inventory_out.matches("\ntrace ").count()
            + usize::from(inventory_out.starts_with("trace ")),
        1,
        "{inventory_out}"
    );
    // The accepted order's trace was dropped everywhere.
    let accepted = gateway_out
        .lines()
        .find(|l| l.contains("order accepted order.id=42"))
        .unwrap();
    let accepted_trace = trace_id_after(accepted, "trace_id=");
    assert!(!out.contains(accepted_trace), "{out}");
    assert_eq!(
        gateway_out.matches(accepted_trace).count(),
        1,
        "its log line only:\n{gateway_out}"
    );
}

/// A GET over a plain socket (`url` is `http://host:port/path`); the whole reply.
fn get(url: &str) -> String {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").unwrap();
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let mut stream = std::net::TcpStream::connect(authority).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nhost: {authority}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn the_w3c_conformance_service_answers_the_suites_requests() {
    use std::io::{Read, Write};
    let service = Role::start("w3c-conformance", &["127.0.0.1:0"]);
    let url = service.url();
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches("/test")
        .to_owned();
    // An empty list of calls: nothing to call back, a 200 once done.
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    write!(
        stream,
        "POST /test HTTP/1.1\r\nhost: {addr}\r\ntraceparent: 00-12345678901234567890123456789012-1234567890123456-01\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]"
    )
    .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

#[test]
fn the_roles_send_their_log_lines_as_records_across_processes() {
    use prost::Message;
    use tracecore_otlp::proto;

    let collector = receiver::Receiver::start();
    let endpoint = format!("http://{}", collector.addr());
    let otlp = [("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str())];
    let inventory = Role::start_with_env(
        "client-gateway-server",
        &["inventory", "--listen", "127.0.0.1:0"],
        &otlp,
    );
    let inventory_url = inventory.url();
    let gateway = Role::start_with_env(
        "client-gateway-server",
        &[
            "gateway",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            &inventory_url,
        ],
        &otlp,
    );
    let gateway_url = gateway.url();
    let output = example("client-gateway-server")
        .args(["client", "--gateway", &gateway_url, "--rounds", "1"])
        .envs(otlp)
        .output()
        .unwrap();
    assert!(output.status.success());
    // The roles print their lines (with ids) and send them as records (within the 1 s batch delay).
    let printed = gateway.wait_for("order accepted order.id=42");
    let line = printed
        .lines()
        .find(|l| l.contains("order accepted"))
        .unwrap();
    let trace_id = trace_id_after(line, "trace_id=").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let records = loop {
        let records: Vec<(String, proto::LogRecord)> = collector
            .received()
            .into_iter()
            .filter(|r| r.path == "/v1/logs")
            .flat_map(|r| {
                proto::ExportLogsServiceRequest::decode(&r.body[..])
                    .unwrap()
                    .resource_logs
            })
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
                    .flat_map(|s| s.log_records)
                    .map(move |l| (service.clone(), l))
            })
            .collect();
        let services: Vec<&str> = records.iter().map(|(s, _)| s.as_str()).collect();
        if services.contains(&"gateway") && services.contains(&"inventory") {
            break records;
        }
        assert!(Instant::now() < deadline, "records from {services:?}");
        std::thread::sleep(Duration::from_millis(50));
    };
    let accepted = records
        .iter()
        .find(|(service, l)| {
            service == "gateway"
                && matches!(
                    l.body.as_ref().and_then(|b| b.value.as_ref()),
                    Some(proto::any_value::Value::StringValue(s)) if s == "order accepted"
                )
        })
        .map(|(_, l)| l)
        .unwrap_or_else(|| panic!("{records:?}"));
    let hex: String = accepted
        .trace_id
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(
        hex, trace_id,
        "the record carries the printed line's trace id"
    );
    // The inventory's failure, in another process, in the same trace as the client's request.
    assert!(
        records
            .iter()
            .any(|(service, l)| service == "inventory" && l.severity_number == 17)
    );
}
