//! The demo's three services, each with its own provider and `service.name`, over real HTTP on
//! 127.0.0.1: one trace per client request, the parent chain client CLIENT -> gateway SERVER ->
//! gateway CLIENT -> inventory SERVER, and each span's status and `error.type`; the services'
//! `#[instrument]` spans under their SERVER spans (the storage failure an Error with an
//! `exception` event); a confirmed order's job, PRODUCER -> CONSUMER, in the same trace.

mod support;

use std::time::{Duration, Instant};

use tracecore::export::InMemoryExporter;
use tracecore::trace::{SpanData, SpanKind, TracerProvider};
use tracecore_examples::{
    CLIENT_PATHS, Edge, Logs, all_in_one, client, gateway, serve, service_map,
};

fn provider(name: &'static str, spans: &InMemoryExporter) -> TracerProvider {
    TracerProvider::builder()
        .with_service_name(name)
        .with_simple_exporter(spans.clone())
        .build()
}

fn status_of(span: &SpanData) -> (i64, bool, Option<&str>) {
    (
        span.attribute("http.response.status_code")
            .and_then(|v| v.as_i64())
            .unwrap(),
        span.status.is_error(),
        span.attribute("error.type").and_then(|v| v.as_str()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_request_is_one_trace_through_three_services_with_the_http_status_rules() {
    let demo = all_in_one().await.unwrap();
    let spans = demo.spans;
    let statuses: Vec<_> = demo
        .results
        .iter()
        .map(|(_, r)| r.clone().unwrap())
        .collect();
    assert_eq!(statuses, [200, 404, 502]);
    // Four HTTP spans and two INTERNAL ones per request, and the job's two for the one order
    // the inventory confirmed.
    assert_eq!(spans.len(), 20, "{:?}", spans.names());

    // (inventory SERVER, gateway CLIENT, gateway SERVER, client CLIENT) per request, as the
    // demo's table says: server 4xx is not an error, client 4xx is; 5xx is an error everywhere.
    let expected = [
        [
            (200, false, None),
            (200, false, None),
            (200, false, None),
            (200, false, None),
        ],
        [
            (404, false, None),
            (404, true, Some("404")),
            (404, false, None),
            (404, true, Some("404")),
        ],
        [
            (500, true, Some("500")),
            (500, true, Some("500")),
            (502, true, Some("502")),
            (502, true, Some("502")),
        ],
    ];

    let roots: Vec<&SpanData> = spans
        .iter()
        .filter(|s| s.parent_span_id.is_none())
        .collect();
    assert_eq!(roots.len(), 3, "one root per request");
    let mut trace_ids: Vec<_> = roots.iter().map(|r| r.span_context.trace_id()).collect();
    trace_ids.sort_by_key(|id| id.to_u128());
    trace_ids.dedup();
    assert_eq!(trace_ids.len(), 3, "one trace per request");

    for (i, path) in CLIENT_PATHS.iter().enumerate() {
        let client_span = roots
            .iter()
            .find(|r| {
                r.attribute("url.full")
                    .and_then(|v| v.as_str())
                    .is_some_and(|u| u.ends_with(path))
            })
            .unwrap_or_else(|| panic!("the client's span for {path}"));
        // The one child of `parent` whose kind is among `kinds`.
        let one_child = |parent: &SpanData, kinds: &[SpanKind]| -> &SpanData {
            let children: Vec<_> = spans
                .children_of(parent)
                .into_iter()
                .filter(|c| kinds.contains(&c.kind))
                .collect();
            assert_eq!(children.len(), 1, "{} has one {kinds:?} child", parent.name);
            children[0]
        };
        let only_child = |parent| one_child(parent, &[SpanKind::Client, SpanKind::Server]);
        let gateway_server = only_child(client_span);
        let gateway_client = only_child(gateway_server);
        let inventory_server = only_child(gateway_client);

        // The services' `#[instrument]` functions, children of their SERVER spans.
        let internal = |parent| one_child(parent, &[SpanKind::Internal]);
        let validate = internal(gateway_server);
        let load = internal(inventory_server);
        assert_eq!(
            [validate, load].map(|s| (s.resource.service_name(), s.name.as_ref())),
            [("gateway", "validate_order"), ("inventory", "load_item")]
        );
        let id: i64 = path.rsplit('/').next().unwrap().parse().unwrap();
        assert_eq!(
            validate.attribute("order.id").and_then(|v| v.as_i64()),
            Some(id)
        );
        assert_eq!(load.attribute("item.id").and_then(|v| v.as_i64()), Some(id));
        assert!(spans.children_of(load).is_empty());
        // An event that records an error carries the exception attributes (its name stays its
        // message: `cannot read the item`).
        let exceptions: Vec<_> = load
            .events
            .iter()
            .filter(|e| {
                e.attributes
                    .iter()
                    .any(|kv| kv.key.as_str() == "exception.message")
            })
            .collect();
        if id == 0 {
            // The storage failure: an Error span with the event recording the exception.
            assert!(load.status.is_error(), "{:?}", load.status);
            assert_eq!(exceptions.len(), 1, "{:?}", load.events);
            let message = exceptions[0]
                .attributes
                .iter()
                .find(|kv| kv.key.as_str() == "exception.message")
                .map(|kv| kv.value.to_string());
            assert_eq!(message.as_deref(), Some("storage unavailable"));
        } else {
            assert!(!load.status.is_error() && exceptions.is_empty(), "{path}");
        }
        assert!(!validate.status.is_error());

        // The request's log line carries its trace id and the id of the span it was written in.
        let lines: Vec<&String> = demo
            .logs
            .iter()
            .filter(|line| {
                line.contains(&format!(
                    " trace_id={} ",
                    client_span.span_context.trace_id()
                ))
            })
            .collect();
        assert_eq!(lines.len(), 1, "{path}: {:?}", demo.logs);
        let (written_in, text) = match id {
            42 => (gateway_server, " INFO order accepted order.id=42"),
            4242 => (load, " WARN load_item{item.id=4242}: no item 4242"),
            _ => (load, "ERROR load_item{item.id=0}: cannot read the item"),
        };
        assert!(lines[0].contains(text), "{text:?} in {}", lines[0]);
        assert!(
            lines[0].ends_with(&format!(" span_id={}", written_in.span_context.span_id())),
            "{} in {}",
            written_in.name,
            lines[0]
        );

        let chain = [
            client_span,
            gateway_server,
            gateway_client,
            inventory_server,
        ];
        let trace = client_span.span_context.trace_id();
        assert!(chain.iter().all(|s| s.span_context.trace_id() == trace));
        let who: Vec<_> = chain
            .iter()
            .map(|s| (s.resource.service_name(), s.kind, s.name.as_ref()))
            .collect();
        assert_eq!(
            who,
            [
                ("client", SpanKind::Client, "GET"),
                ("gateway", SpanKind::Server, "GET /orders/{id}"),
                ("gateway", SpanKind::Client, "GET"),
                ("inventory", SpanKind::Server, "GET /items/{id}"),
            ]
        );
        // Each hop's parent came over the wire.
        assert!(gateway_server.parent_is_remote && inventory_server.parent_is_remote);
        assert!(!gateway_client.parent_is_remote);

        let got = [
            status_of(inventory_server),
            status_of(gateway_client),
            status_of(gateway_server),
            status_of(client_span),
        ];
        assert_eq!(got, expected[i], "{path}");

        // The job: only for the confirmed order, sent from the gateway's SERVER span and
        // processed by its worker as the PRODUCER span's child.
        let jobs: Vec<_> = spans
            .children_of(gateway_server)
            .into_iter()
            .filter(|c| c.kind == SpanKind::Producer)
            .collect();
        if expected[i][0].0 != 200 {
            assert!(jobs.is_empty(), "{path} sends no job");
            continue;
        }
        assert_eq!(jobs.len(), 1, "{path} sends one job");
        let send = jobs[0];
        let processed = spans.children_of(send);
        assert_eq!(processed.len(), 1, "the job is processed once");
        let process = processed[0];
        assert_eq!(
            [send, process].map(|s| (s.resource.service_name(), s.kind, s.name.as_ref())),
            [
                ("gateway", SpanKind::Producer, "send order-events"),
                ("gateway", SpanKind::Consumer, "process order-events"),
            ]
        );
        assert_eq!(process.span_context.trace_id(), trace);
        assert!(
            process.parent_is_remote,
            "the context came in the message's headers"
        );
        // (That the job ends after the response is the demo's timing, not asserted here;
        // tests/messaging.rs holds the worker back until the response is complete.)
        for span in [send, process] {
            let attr = |k: &str| span.attribute(k).map(ToString::to_string);
            assert_eq!(attr("messaging.system").as_deref(), Some("in-process"));
            assert_eq!(
                attr("messaging.destination.name").as_deref(),
                Some("order-events")
            );
            assert_eq!(attr("messaging.message.id").as_deref(), Some("order-42"));
        }
        assert_eq!(
            send.attribute("messaging.operation.type")
                .map(ToString::to_string)
                .as_deref(),
            Some("send")
        );
        assert_eq!(
            process
                .attribute("messaging.operation.type")
                .map(ToString::to_string)
                .as_deref(),
            Some("process")
        );
    }

    // The map's numbers agree with the CLIENT spans of each hop: the client's calls to the
    // gateway, the gateway's to the inventory.
    let calls = |service: &str| -> Vec<&SpanData> {
        spans
            .of_kind(SpanKind::Client)
            .into_iter()
            .filter(|s| s.resource.service_name() == service)
            .collect()
    };
    let edge = |from: &str, to: &str| {
        let calls = calls(from);
        let mut durations: Vec<Duration> = calls.iter().map(|s| s.duration()).collect();
        durations.sort();
        Edge {
            from: from.into(),
            to: to.into(),
            calls: calls.len() as u64,
            errors: calls.iter().filter(|s| s.status.is_error()).count() as u64,
            // Three calls: the median is the second, the 99th percentile the slowest.
            p50: durations[1],
            p99: durations[2],
        }
    };
    let map = service_map(&spans.0);
    assert_eq!(
        map,
        [edge("client", "gateway"), edge("gateway", "inventory")]
    );
    assert_eq!(
        map.iter().map(|e| (e.calls, e.errors)).collect::<Vec<_>>(),
        [(3, 2), (3, 2)]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_inventory_is_a_502_with_a_connection_error() {
    let spans = InMemoryExporter::new();
    let (gw, cl) = (provider("gateway", &spans), provider("client", &spans));
    // A port with nothing listening.
    let (_held, dead) = support::refusing_addr();
    let gw_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let gw_addr = gw_listener.local_addr().unwrap();
    tokio::spawn(serve(
        gw_listener,
        gateway(
            gw.tracer("gateway").into(),
            format!("http://{dead}"),
            Logs::buffer(),
        ),
    ));
    let results = client(
        cl.tracer("client").into(),
        &format!("http://{gw_addr}"),
        &["/orders/1"],
    )
    .await;
    assert_eq!(results[0].1, Ok(502));
    let deadline = Instant::now() + Duration::from_secs(10);
    while spans.finished_spans().len() < 3 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let spans = spans.finished_spans();
    let call = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client && s.resource.service_name() == "gateway")
        .unwrap();
    assert!(call.status.is_error());
    assert_eq!(
        call.attribute("error.type").and_then(|v| v.as_str()),
        Some("connection_error")
    );
    let map = service_map(&spans.0);
    assert_eq!(
        map[1].to, "127.0.0.1",
        "no server answered: the edge goes to the address"
    );
    assert_eq!((map[1].calls, map[1].errors), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_ends_with_its_metrics_table_read_from_the_duration_histograms() {
    let demo = tracecore_examples::all_in_one().await.unwrap();
    let table = tracecore_examples::render_metrics_table(&demo.metrics);
    let row = |service: &str, kind: &str, target: &str| -> Vec<String> {
        table
            .lines()
            .find(|l| {
                let cells: Vec<&str> = l.split_whitespace().collect();
                cells.len() >= 5
                    && cells[0] == service
                    && cells[1] == kind
                    && cells[2].starts_with(target)
            })
            .unwrap_or_else(|| panic!("no {service} {kind} {target} row in\n{table}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    // Three requests per hop: 200, 404 and 500/502. Server errors are 5xx only; client errors
    // 4xx and 5xx.
    let inventory = row("inventory", "SERVER", "/items/{id}");
    assert_eq!((inventory[3].as_str(), inventory[4].as_str()), ("3", "1"));
    let gateway = row("gateway", "SERVER", "/orders/{id}");
    assert_eq!((gateway[3].as_str(), gateway[4].as_str()), ("3", "1"));
    let gateway_client = row("gateway", "CLIENT", "127.0.0.1:");
    assert_eq!(
        (gateway_client[3].as_str(), gateway_client[4].as_str()),
        ("3", "2")
    );
    let client = row("client", "CLIENT", "127.0.0.1:");
    assert_eq!((client[3].as_str(), client[4].as_str()), ("3", "2"));
    assert!(demo.render(false).contains(&table), "the demo prints it");
}
