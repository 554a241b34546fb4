//! Tail sampling across real services on loopback: the head sampler keeps nothing
//! (`parentbased_traceidratio` at 0), and late decisions keep whole local traces that end in an
//! error, run slow, or that a downstream service kept (told through `server-timing`).

#[path = "support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use reqwest_middleware::{ClientBuilder, ClientWithMiddleware};
use tokio::sync::Notify;
use tracecore::export::{FinishedSpans, InMemoryExporter};
use tracecore::http_span::{DOWNSTREAM_KEPT, UntrustedDownstream};
use tracecore::trace::{
    AlwaysOn, ParentBased, ProbabilitySampler, RULE_ATTRIBUTE, Sampler, TailSampling, Tracer,
    TracerProvider,
};
use tracecore::{Context, FutureExt, KeyValue, TraceId};
use tracecore_reqwest::TraceMiddleware;
use tracecore_tower::ServerLayer;

use support::{bounded, http_client, serve, split_traceparent, wait_for_spans};

/// One service's telemetry: nothing head-sampled, errors and slow requests kept late.
struct Service {
    provider: TracerProvider,
    spans: InMemoryExporter,
}

impl Service {
    fn new(name: &'static str) -> Self {
        Self::with_sampler(name, ParentBased::new(ProbabilitySampler::new(0.0)))
    }

    fn with_sampler(name: &'static str, sampler: impl Sampler + 'static) -> Self {
        let spans = InMemoryExporter::new();
        let provider = TracerProvider::builder()
            .with_service_name(name)
            .with_sampler(sampler)
            .with_tail_sampling(
                TailSampling::new()
                    .keep_errors()
                    .keep_slower_than(Duration::from_millis(150)),
            )
            .with_simple_exporter(spans.clone())
            .build();
        Self { provider, spans }
    }

    fn tracer(&self) -> Tracer {
        self.provider.tracer("test")
    }

    fn client(&self) -> ClientWithMiddleware {
        ClientBuilder::new(http_client())
            .with(TraceMiddleware::new(self.tracer()))
            .build()
    }
}

#[derive(Clone)]
struct Gateway {
    client: ClientWithMiddleware,
    downstream: String,
    untrusted: bool,
}

/// Calls the downstream and answers 200 whatever it said: the gateway's own spans are all OK.
async fn gateway(State(g): State<Gateway>) -> StatusCode {
    let mut request = g.client.get(&g.downstream);
    if g.untrusted {
        request = request.with_extension(UntrustedDownstream);
    }
    let _ = request.send().await;
    StatusCode::OK
}

async fn start_gateway(service: &Service, downstream: String, untrusted: bool) -> String {
    let state = Gateway {
        client: service.client(),
        downstream,
        untrusted,
    };
    let router = Router::new()
        .route("/checkout", get(gateway))
        .with_state(state)
        .layer(ServerLayer::new(service.tracer()));
    format!("http://{}/checkout", serve(router).await)
}

/// A downstream that answers `status`, after `delay`; with `fail_inside`, a span of its own
/// fails first (and the answer is still `status`).
async fn start_downstream(
    service: &Service,
    status: StatusCode,
    delay: Duration,
    fail_inside: bool,
) -> String {
    let tracer = service.tracer();
    let router = Router::new()
        .route(
            "/items",
            get(move || async move {
                if fail_inside {
                    let span = tracer.start("reserve stock");
                    span.set_status(tracecore::trace::Status::error("warehouse offline"));
                    span.end();
                }
                tokio::time::sleep(delay).await;
                status
            }),
        )
        .layer(ServerLayer::new(service.tracer()));
    format!("http://{}/items", serve(router).await)
}

fn string(spans: &FinishedSpans, name: &str, key: &str) -> Option<String> {
    spans
        .named(name)
        .attribute(key)
        .and_then(|v| v.as_str().map(str::to_owned))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_downstream_error_keeps_the_upstream_spans_through_the_response_header() {
    bounded(async {
        let (front, back) = (Service::new("gateway"), Service::new("inventory"));
        // The downstream's own work fails; it answers 200 (served from a fallback), so the
        // gateway sees nothing wrong.
        let downstream = start_downstream(&back, StatusCode::OK, Duration::ZERO, true).await;
        let url = start_gateway(&front, downstream, false).await;

        let reply = http_client().get(&url).send().await.unwrap();
        assert_eq!(reply.status(), 200);
        // The gateway tells its own caller: it keeps the trace.
        let timing = reply.headers()["server-timing"]
            .to_str()
            .unwrap()
            .to_owned();
        let (trace, _, flags) =
            split_traceparent(timing.strip_prefix("trace;desc=").unwrap()).unwrap();
        assert_eq!(flags & 1, 1, "{timing}");

        let theirs = wait_for_spans(&back.spans, 2).await;
        let ours = wait_for_spans(&front.spans, 2).await;
        let failed = theirs.named("GET /items");
        assert!(theirs.named("reserve stock").status.is_error());
        assert!(theirs.named("reserve stock").is_child_of(failed));
        assert_eq!(
            string(&theirs, "GET /items", RULE_ATTRIBUTE).as_deref(),
            Some("errors")
        );

        let server = ours.named("GET /checkout");
        let client = ours.named("GET");
        assert!(
            !server.status.is_error() && !client.status.is_error(),
            "the gateway's spans are OK"
        );
        assert_eq!(
            string(&ours, "GET /checkout", RULE_ATTRIBUTE).as_deref(),
            Some("downstream")
        );
        assert_eq!(
            client.attribute(DOWNSTREAM_KEPT),
            Some(&tracecore::Value::Bool(true))
        );
        assert!(client.is_child_of(server));
        assert!(failed.is_child_of(client), "one trace across both services");
        assert_eq!(server.span_context.trace_id().to_string(), trace);
        for span in ours.iter().chain(theirs.iter()) {
            assert!(span.span_context.is_sampled(), "exported as sampled");
            assert!(
                !span.span_context.trace_state().as_str().contains("th:"),
                "kept by a rule, so no th: {:?}",
                span.span_context.trace_state()
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_is_kept_and_an_ok_one_leaves_nothing() {
    bounded(async {
        let (front, back) = (Service::new("gateway"), Service::new("inventory"));
        let slow = start_downstream(&back, StatusCode::OK, Duration::from_millis(200), false).await;
        let url = start_gateway(&front, slow, false).await;
        let reply = http_client().get(&url).send().await.unwrap();
        assert_eq!(reply.status(), 200);
        let theirs = wait_for_spans(&back.spans, 1).await;
        assert_eq!(
            string(&theirs, "GET /items", RULE_ATTRIBUTE).as_deref(),
            Some("slower_than")
        );
        // The gateway ran as long: its root is past the limit too.
        let ours = wait_for_spans(&front.spans, 2).await;
        let rule = string(&ours, "GET /checkout", RULE_ATTRIBUTE).unwrap();
        assert!(rule == "slower_than" || rule == "downstream", "{rule}");

        let (front, back) = (Service::new("gateway"), Service::new("inventory"));
        let quick = start_downstream(&back, StatusCode::OK, Duration::ZERO, false).await;
        let url = start_gateway(&front, quick, false).await;
        let reply = http_client().get(&url).send().await.unwrap();
        let timing = reply.headers()["server-timing"]
            .to_str()
            .unwrap()
            .to_owned();
        let (_, _, flags) = split_traceparent(timing.strip_prefix("trace;desc=").unwrap()).unwrap();
        assert_eq!(
            flags, 0x02,
            "random, not kept, and the caller is told: {timing}"
        );
        front.provider.force_flush(Duration::from_secs(1)).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            front.spans.finished_spans().is_empty(),
            "{:?}",
            front.spans.finished_spans().names()
        );
        assert!(back.spans.finished_spans().is_empty());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_ends_after_the_response_follows_its_traces_decision() {
    bounded(async {
        let service = Service::new("shop");
        let tracer = service.tracer();
        let finished = Arc::new(Notify::new());
        let router = Router::new()
            .route(
                "/orders/{outcome}",
                get({
                    let tracer = tracer.clone();
                    let finished = finished.clone();
                    move |axum::extract::Path(outcome): axum::extract::Path<String>| async move {
                        let tracer = tracer.clone();
                        let finished = finished.clone();
                        tokio::spawn(
                            async move {
                                tokio::time::sleep(Duration::from_millis(30)).await;
                                tracer.start("send receipt").end();
                                finished.notify_one();
                            }
                            .in_current_context(),
                        );
                        if outcome == "fail" {
                            StatusCode::SERVICE_UNAVAILABLE
                        } else {
                            StatusCode::ACCEPTED
                        }
                    }
                }),
            )
            .layer(ServerLayer::new(tracer.clone()));
        let base = format!("http://{}", serve(router).await);
        for outcome in ["fail", "ok"] {
            let wait = finished.notified();
            http_client()
                .get(format!("{base}/orders/{outcome}"))
                .send()
                .await
                .unwrap();
            wait.await;
        }
        let spans = service.spans.finished_spans();
        assert_eq!(
            spans.len(),
            2,
            "the failed request and its late job only: {:?}",
            spans.names()
        );
        let server = spans.named("GET /orders/{outcome}");
        assert_eq!(
            server
                .attribute("http.response.status_code")
                .and_then(|v| v.as_i64()),
            Some(503)
        );
        assert!(spans.named("send receipt").is_child_of(server));
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_sampled_traces_pass_through_at_once() {
    bounded(async {
        let service = Service::with_sampler("shop", AlwaysOn);
        let tracer = service.tracer();
        let child_ended = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let router = Router::new()
            .route(
                "/",
                get({
                    let (tracer, child_ended, release) =
                        (tracer.clone(), child_ended.clone(), release.clone());
                    move || async move {
                        tracer.start("child").end();
                        child_ended.notify_one();
                        release.notified().await;
                        "ok"
                    }
                }),
            )
            .layer(ServerLayer::new(tracer.clone()));
        let url = format!("http://{}/", serve(router).await);
        let request = tokio::spawn(async move { http_client().get(&url).send().await.unwrap() });
        child_ended.notified().await;
        // Exported while its root is still running: nothing waits.
        let spans = wait_for_spans(&service.spans, 1).await;
        assert_eq!(spans.names(), ["child"]);
        release.notify_one();
        let reply = request.await.unwrap();
        let timing = reply.headers()["server-timing"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(timing.ends_with("-03"), "head-sampled, random: {timing}");
        let spans = wait_for_spans(&service.spans, 2).await;
        assert!(spans.iter().all(|s| s.attribute(RULE_ATTRIBUTE).is_none()));
    })
    .await;
}

/// A downstream whose `server-timing` is whatever the test says.
async fn start_fake_downstream(header: fn(&str) -> String) -> String {
    let router = Router::new().route(
        "/items",
        get(move |headers: HeaderMap| async move {
            let traceparent = headers["traceparent"].to_str().unwrap().to_owned();
            ([("server-timing", header(&traceparent))], "ok")
        }),
    );
    format!("http://{}/items", serve(router).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_timing_for_another_trace_malformed_huge_or_untrusted_is_ignored() {
    bounded(async {
        fn sampled(traceparent: &str) -> String {
            let (trace, span, _) = split_traceparent(traceparent).unwrap();
            format!("trace;desc=00-{trace}-{span}-01")
        }
        type Header = fn(&str) -> String;
        let cases: [(&str, Header, bool); 5] = [
            ("trusted and sampled: kept", sampled, false),
            ("untrusted", sampled, true),
            (
                "another trace",
                |_| "trace;desc=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
                false,
            ),
            ("malformed", |_| "trace;desc=00-zz-01".into(), false),
            (
                "huge",
                |tp| format!("{}{}", "x;dur=1, ".repeat(600), sampled(tp)),
                false,
            ),
        ];
        for (what, header, untrusted) in cases {
            let front = Service::new("gateway");
            let downstream = start_fake_downstream(header).await;
            let url = start_gateway(&front, downstream, untrusted).await;
            let reply = http_client().get(&url).send().await.unwrap();
            assert_eq!(reply.status(), 200);
            front.provider.force_flush(Duration::from_secs(1)).unwrap();
            let kept = !front.spans.finished_spans().is_empty();
            assert_eq!(kept, what.ends_with("kept"), "{what}");
        }
    })
    .await;
}

#[test]
fn held_spans_stay_within_their_byte_and_age_bounds_under_ten_thousand_local_traces() {
    let spans = InMemoryExporter::new();
    let max_bytes = 512 * 1024;
    let provider = TracerProvider::builder()
        .with_sampler(ParentBased::new(ProbabilitySampler::new(0.0)))
        .with_tail_sampling(
            TailSampling::new()
                .keep_errors()
                .with_max_bytes(max_bytes)
                .with_max_age(Duration::from_millis(200)),
        )
        .with_simple_exporter(spans.clone())
        .build();
    let tracer = provider.tracer("t");
    let before = tracecore::diag::counts();
    // 10 000 local roots still running, each with an ended child held for it.
    let mut roots = Vec::new();
    let mut peak = 0;
    for i in 0..10_000u32 {
        let root = tracer.start("request");
        let cx = root.context(&Context::new());
        let child = tracer.span_builder("query").start_with_context(&cx);
        child.set_attribute(KeyValue::new(
            "db.query.text",
            format!("SELECT {i} FROM items"),
        ));
        if i == 7 {
            child.set_status(tracecore::trace::Status::error("failed"));
        }
        child.end();
        peak = peak.max(provider.tail_sampling_held_bytes());
        roots.push(root);
    }
    let after = tracecore::diag::counts();
    assert!(
        peak <= max_bytes + 4096,
        "held {peak} bytes, bound {max_bytes}"
    );
    assert!(
        after.tail_early_bytes > before.tail_early_bytes,
        "early decisions counted"
    );
    // The trace with an error was decided early and kept: its child is exported.
    let exported = spans.finished_spans();
    assert!(
        exported
            .iter()
            .any(|s| s.name == "query" && s.status.is_error()),
        "{} exported",
        exported.len()
    );
    // Past the maximum age the rest are decided too, on the next span held.
    std::thread::sleep(Duration::from_millis(250));
    let late = tracer.start("request");
    let cx = late.context(&Context::new());
    tracer.span_builder("query").start_with_context(&cx).end();
    assert!(tracecore::diag::counts().tail_early_age > after.tail_early_age);
    assert!(
        provider.tail_sampling_held_bytes() < 1024,
        "only the newest trace is held"
    );
    // A root that ends after its trace was decided follows the decision.
    let n = spans.finished_spans().len();
    let trace_id: TraceId = roots[7].span_context().trace_id();
    roots.remove(7).end();
    let now = spans.finished_spans();
    assert_eq!(now.len(), n + 1);
    assert_eq!(now.iter().last().unwrap().span_context.trace_id(), trace_id);
    drop(roots);
    drop(late);
    assert_eq!(
        spans.finished_spans().len(),
        n + 1,
        "dropped traces stay dropped"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tower_client_layer_reads_the_downstreams_keep_too() {
    use http_body_util::{BodyExt, Empty};
    use tower::{Service as _, ServiceBuilder, ServiceExt};

    bounded(async {
        let (front, back) = (Service::new("worker"), Service::new("inventory"));
        let downstream = start_downstream(&back, StatusCode::OK, Duration::ZERO, true).await;
        let hyper =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<Empty<bytes::Bytes>>();
        let mut client = ServiceBuilder::new()
            .layer(tracecore_tower::ClientLayer::new(front.tracer()))
            .service(hyper);
        // A local root of the worker's own (no server), calling out through the layer.
        let job = front.tracer().start("nightly job");
        let cx = job.context(&Context::new());
        let request = axum::http::Request::get(&downstream)
            .body(Empty::new())
            .unwrap();
        let ready = client.ready().await.unwrap();
        // The layer reads the current context when the request is handed to it.
        let call = {
            let _in_job = cx.attach();
            ready.call(request)
        };
        let response = call.await.unwrap();
        let timing = response.headers()["server-timing"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(timing.ends_with("-03"), "the downstream kept it: {timing}");
        response.into_body().collect().await.unwrap();
        job.end();
        let ours = wait_for_spans(&front.spans, 2).await;
        assert_eq!(
            string(&ours, "nightly job", RULE_ATTRIBUTE).as_deref(),
            Some("downstream")
        );
        assert_eq!(
            ours.named("GET").attribute(DOWNSTREAM_KEPT),
            Some(&tracecore::Value::Bool(true))
        );
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trace_metric_follows_the_handlers_own_server_timing_and_can_be_turned_off() {
    bounded(async {
        let service = Service::new("shop");
        let handler = || async { ([("server-timing", "db;dur=53")], "ok") };
        let on = Router::new()
            .route("/", get(handler))
            .layer(ServerLayer::new(service.tracer()));
        let off = Router::new().route("/", get(handler)).layer(
            ServerLayer::new(service.tracer())
                .with_response_header(tracecore_tower::ResponseHeader::None),
        );
        let reply = http_client()
            .get(format!("http://{}/", serve(on).await))
            .send()
            .await
            .unwrap();
        let values: Vec<&str> = reply
            .headers()
            .get_all("server-timing")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(values.len(), 2, "{values:?}");
        assert_eq!(values[0], "db;dur=53");
        assert!(values[1].starts_with("trace;desc=00-"), "{values:?}");
        let reply = http_client()
            .get(format!("http://{}/", serve(off).await))
            .send()
            .await
            .unwrap();
        let values: Vec<_> = reply.headers().get_all("server-timing").iter().collect();
        assert_eq!(values, ["db;dur=53"]);
    })
    .await;
}
