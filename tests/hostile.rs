//! Hostile trace headers over real sockets: a hyper server with the server layer (its header
//! buffer raised to 8 MiB, so that megabyte headers reach the layer instead of being refused by
//! hyper) whose handler calls a downstream server through the reqwest middleware. Requests are
//! written byte for byte on a raw TCP stream, so invalid UTF-8, tabs and repeated fields arrive as
//! sent. Every case must get its normal answer, the SERVER span must continue or restart the
//! trace as the spec says, and the headers sent downstream must be valid and within the limits.

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::get;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use reqwest_middleware::ClientWithMiddleware;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracecore::export::InMemoryExporter;
use tracecore::http_span::ClientTracing;
use tracecore::propagation::{CompositePropagator, from_env_value};
use tracecore::trace::{SpanData, SpanKind, TracerProvider};
use tracecore::{Baggage, TraceState};
use tracecore_reqwest::TraceMiddleware;
use tracecore_tower::ServerLayer;

use support::{bounded, is_lower_hex, recording_provider, split_traceparent, wait_for_spans};

/// The cases run one at a time: the memory test reads the whole process's resident size.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

/// Headers the downstream server received, by case id.
type Seen = Arc<Mutex<HashMap<String, Vec<(String, Vec<u8>)>>>>;

fn propagator() -> CompositePropagator {
    let (propagator, warnings) = from_env_value(Some("tracecontext,baggage,b3,jaeger"));
    assert!(warnings.is_empty(), "{warnings:?}");
    propagator
}

struct Stack {
    addr: SocketAddr,
    provider: TracerProvider,
    exporter: InMemoryExporter,
    seen: Seen,
}

async fn record(State(seen): State<Seen>, Path(id): Path<String>, headers: HeaderMap) {
    let headers = headers
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
        .collect();
    seen.lock().unwrap().insert(id, headers);
}

async fn relay(
    State((client, downstream)): State<(ClientWithMiddleware, SocketAddr)>,
    Path(id): Path<String>,
) -> String {
    let response = client
        .get(format!("http://{downstream}/record/{id}"))
        .send()
        .await
        .expect("the downstream call succeeds");
    format!("relayed {}", response.status().as_u16())
}

impl Stack {
    async fn start() -> Self {
        let (provider, exporter) = recording_provider("hostile");
        let tracer = provider.tracer("hostile");
        let seen = Seen::default();

        let downstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let downstream_addr = downstream.local_addr().unwrap();
        let recorder = Router::new()
            .route("/record/{id}", get(record))
            .with_state(seen.clone());
        tokio::spawn(axum::serve(downstream, recorder).into_future());

        let client = reqwest_middleware::ClientBuilder::new(
            reqwest::Client::builder().no_proxy().build().unwrap(),
        )
        .with(TraceMiddleware::from_tracing(
            ClientTracing::new(tracer.clone()).with_propagator(propagator()),
        ))
        .build();
        let app = Router::new()
            .route("/relay/{id}", get(relay))
            .with_state((client, downstream_addr))
            .layer(ServerLayer::new(tracer).with_propagator(propagator()));

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let service = TowerToHyperService::new(app.clone());
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .max_buf_size(8 << 20)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            provider,
            exporter,
            seen,
        }
    }

    /// Sends `GET /relay/{case}` with `headers` written exactly as given; returns the status
    /// code and body of the answer.
    async fn send(&self, case: &str, headers: &[Header]) -> (u16, String) {
        let mut request = format!(
            "GET /relay/{case} HTTP/1.1\r\nhost: {}\r\nconnection: close\r\n",
            self.addr
        )
        .into_bytes();
        for (name, value) in headers {
            request.extend_from_slice(name.as_bytes());
            request.extend_from_slice(b": ");
            request.extend_from_slice(value);
            request.extend_from_slice(b"\r\n");
        }
        request.extend_from_slice(b"\r\n");
        bounded(async {
            let mut stream = tokio::net::TcpStream::connect(self.addr).await.unwrap();
            stream.write_all(&request).await.unwrap();
            let mut reply = Vec::new();
            stream.read_to_end(&mut reply).await.unwrap();
            let reply = String::from_utf8_lossy(&reply).into_owned();
            let code = reply
                .get(9..12)
                .and_then(|c| c.parse().ok())
                .unwrap_or_else(|| panic!("{case}: not an HTTP answer: {reply:?}"));
            let body = reply
                .split_once("\r\n\r\n")
                .map(|(_, b)| b.to_owned())
                .unwrap_or_default();
            (code, body)
        })
        .await
    }

    /// Sends a case that must be relayed normally; returns its SERVER span and the headers the
    /// downstream server received, checked for validity and limits.
    async fn relay(&self, case: &str, headers: &[Header]) -> (SpanData, Outgoing) {
        let (code, body) = self.send(case, headers).await;
        assert_eq!((code, body.as_str()), (200, "relayed 200"), "{case}");
        let path = format!("/relay/{case}");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let server = loop {
            let spans = self.exporter.finished_spans();
            if let Some(span) = spans.iter().find(|s| {
                s.kind == SpanKind::Server
                    && s.attribute("url.path").and_then(|v| v.as_str()) == Some(path.as_str())
            }) {
                break span.clone();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{case}: no SERVER span"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let received = self.seen.lock().unwrap().get(case).cloned();
        let outgoing = Outgoing::check(case, received.expect("the downstream call arrived"));
        assert_eq!(
            outgoing.trace_id,
            server.span_context.trace_id().to_string(),
            "{case}: the outgoing call continues the SERVER span's trace"
        );
        (server, outgoing)
    }
}

/// The trace headers one downstream call carried, after checking that each is valid.
#[derive(Debug)]
struct Outgoing {
    trace_id: String,
    tracestate: Option<String>,
    baggage: Option<String>,
}

impl Outgoing {
    fn check(case: &str, headers: Vec<(String, Vec<u8>)>) -> Self {
        let one = |name: &str| {
            let values: Vec<String> = headers
                .iter()
                .filter(|(k, _)| k == name)
                .map(|(_, v)| {
                    let text = std::str::from_utf8(v).expect("ASCII");
                    assert!(
                        !text.is_empty() && text.bytes().all(|b| (0x20..0x7f).contains(&b)),
                        "{case}: {name} {text:?} is not non-empty visible ASCII"
                    );
                    text.to_owned()
                })
                .collect();
            assert!(
                values.len() <= 1,
                "{case}: {name} sent {} times",
                values.len()
            );
            values.into_iter().next()
        };
        let traceparent = one("traceparent").expect("traceparent is always sent");
        let (trace_id, _, _) = split_traceparent(&traceparent)
            .unwrap_or_else(|| panic!("{case}: traceparent {traceparent:?}"));

        // B3 single: {trace}-{span}[-{sampling}]; Jaeger: {trace}:{span}:{parent}:{flags}.
        let b3 = one("b3").expect("b3 is sent");
        let b3: Vec<&str> = b3.split('-').collect();
        assert_eq!(b3[0], trace_id, "{case}: b3 and traceparent agree");
        assert!(is_lower_hex(b3[1], 16), "{case}: b3 {b3:?}");
        let jaeger = one("uber-trace-id").expect("uber-trace-id is sent");
        assert_eq!(
            jaeger.split(':').next().map(|t| format!("{t:0>32}")),
            Some(trace_id.clone()),
            "{case}: uber-trace-id and traceparent agree"
        );
        assert_eq!(jaeger.split(':').count(), 4, "{case}: {jaeger:?}");

        let tracestate = one("tracestate");
        if let Some(ts) = &tracestate {
            assert!(
                ts.len() <= TraceState::MAX_LEN,
                "{case}: {} chars",
                ts.len()
            );
            let parsed: TraceState = ts.parse().expect("valid tracestate");
            assert!(parsed.len() <= 32);
        }
        let baggage = one("baggage");
        if let Some(b) = &baggage {
            assert!(b.len() <= Baggage::MAX_BYTES, "{case}: {} bytes", b.len());
            let parsed = Baggage::from_header_values([b.as_bytes()]);
            assert!(parsed.len() <= Baggage::MAX_MEMBERS);
            assert_eq!(
                parsed.len(),
                b.split(',').count(),
                "{case}: every member valid"
            );
        }
        let uberctx = headers.iter().filter(|(k, _)| k.starts_with("uberctx-"));
        assert!(uberctx.count() <= Baggage::MAX_MEMBERS, "{case}: uberctx-");
        Self {
            trace_id,
            tracestate,
            baggage,
        }
    }
}

/// The trace and span id the SERVER span's remote parent had.
fn parent_of(span: &SpanData) -> Option<(String, String)> {
    let parent = span.parent_span_id.filter(|_| span.parent_is_remote)?;
    Some((span.span_context.trace_id().to_string(), parent.to_string()))
}

fn continued(span: &SpanData) -> bool {
    parent_of(span) == Some((CALLER_TRACE.to_owned(), CALLER_SPAN.to_owned()))
}

fn restarted(span: &SpanData) -> bool {
    span.parent_span_id.is_none() && span.span_context.trace_id().to_string() != CALLER_TRACE
}

/// A header field as written on the wire: name and raw value bytes.
type Header = (&'static str, Vec<u8>);

fn h(name: &'static str, value: impl Into<Vec<u8>>) -> Header {
    (name, value.into())
}

#[tokio::test]
async fn a_megabyte_of_baggage_is_trimmed_by_whole_members() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start().await;

    // One member of 1 MiB between two small ones: the big one goes, the others stay.
    let big = format!("first=1,big={},last=2", "v".repeat(1 << 20));
    let (server, out) = stack
        .relay(
            "big-member",
            &[h("traceparent", TRACEPARENT), h("baggage", big)],
        )
        .await;
    assert!(continued(&server));
    assert_eq!(out.baggage.as_deref(), Some("first=1,last=2"));

    // 1 MiB of small members: the first 64 stay, in order; the rest go.
    let many: Vec<String> = (0..100_000).map(|i| format!("k{i}=v{i}")).collect();
    let many = many.join(",");
    assert!(many.len() > 1 << 20);
    let (server, out) = stack
        .relay(
            "many-members",
            &[h("traceparent", TRACEPARENT), h("baggage", many)],
        )
        .await;
    assert!(continued(&server));
    let kept: Vec<String> = (0..64).map(|i| format!("k{i}=v{i}")).collect();
    assert_eq!(out.baggage, Some(kept.join(",")));

    // The same spread over 100 header fields of 10 KiB each: the limits hold over all of them.
    let field: String = (0..1000).map(|i| format!("m{i}=x,")).collect::<String>() + "end=1";
    let fields: Vec<_> = (0..90).map(|_| h("baggage", field.clone())).collect();
    let (_, out) = stack.relay("many-fields", &fields).await;
    assert_eq!(
        out.baggage.as_deref().map(|b| b.split(',').count()),
        Some(64)
    );

    // Nothing of it is kept on the spans.
    for span in stack.exporter.finished_spans().iter() {
        let size: usize = span
            .attributes
            .iter()
            .map(|kv| kv.key.as_str().len() + kv.value.to_string().len())
            .sum();
        assert!(
            size < 4096,
            "{} holds {size} bytes of attributes",
            span.name
        );
    }
}

#[tokio::test]
async fn ten_thousand_tracestate_members_drop_the_tracestate_not_the_trace() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start().await;
    let members: Vec<String> = (0..10_000).map(|i| format!("v{i}=x")).collect();

    let (server, out) = stack
        .relay(
            "one-field",
            &[
                h("traceparent", TRACEPARENT),
                h("tracestate", members.join(",")),
            ],
        )
        .await;
    assert!(continued(&server));
    assert!(server.span_context.trace_state().is_empty());
    assert_eq!(out.tracestate, None);

    // 10 000 members over 50 fields (hyper's limit is 100 fields): the same.
    let fields: Vec<_> = members
        .chunks(200)
        .map(|c| h("tracestate", c.join(",")))
        .chain([h("traceparent", TRACEPARENT)])
        .collect();
    let (server, out) = stack.relay("fifty-fields", &fields).await;
    assert!(continued(&server));
    assert_eq!(out.tracestate, None);

    // 32 members of 250 characters: valid, kept, cut to 512 characters on the way out by the
    // spec's rule (entries over 128 characters go first).
    let long: Vec<String> = (0..32)
        .map(|i| format!("k{i:02}={}", "y".repeat(245)))
        .collect();
    let (server, out) = stack
        .relay(
            "long-members",
            &[
                h("traceparent", TRACEPARENT),
                h("tracestate", format!("short=1,{}", long[..31].join(","))),
            ],
        )
        .await;
    assert!(continued(&server));
    // 7 + 1 + 249 + 1 + 249 = 507 characters: the rightmost long entries went until it fit.
    let kept = format!("short=1,{},{}", long[0], long[1]);
    assert_eq!(out.tracestate, Some(kept));
}

#[tokio::test]
async fn invalid_utf8_and_control_characters_restart_or_drop_never_fail() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start().await;
    let mut bad_byte = TRACEPARENT.as_bytes().to_vec();
    bad_byte[10] = 0xff;
    let (server, _) = stack
        .relay("utf8-traceparent", &[h("traceparent", bad_byte)])
        .await;
    assert!(restarted(&server));

    let mut tab = TRACEPARENT.as_bytes().to_vec();
    tab[20] = b'\t';
    let (server, _) = stack
        .relay("tab-traceparent", &[h("traceparent", tab)])
        .await;
    assert!(restarted(&server));

    // A tracestate with a byte outside ASCII is dropped whole; the trace continues.
    let (server, out) = stack
        .relay(
            "utf8-tracestate",
            &[
                h("traceparent", TRACEPARENT),
                h("tracestate", b"a=1,b=\xc3\xa9,c=3".to_vec()),
            ],
        )
        .await;
    assert!(continued(&server));
    assert_eq!(out.tracestate, None);

    // Baggage: the member with raw non-ASCII bytes or a tab inside its value is dropped; the
    // others are forwarded.
    let (_, out) = stack
        .relay(
            "utf8-baggage",
            &[
                h("traceparent", TRACEPARENT),
                h("baggage", b"ok=1,bad=\xff\xfe,tabbed=a\tb,also=2".to_vec()),
            ],
        )
        .await;
    assert_eq!(out.baggage.as_deref(), Some("ok=1,also=2"));

    // Percent-encoded invalid UTF-8 decodes to U+FFFD and is re-encoded on the way out.
    let (_, out) = stack
        .relay(
            "percent-baggage",
            &[h("traceparent", TRACEPARENT), h("baggage", "k=%ff%41")],
        )
        .await;
    assert_eq!(out.baggage.as_deref(), Some("k=%EF%BF%BDA"));

    // B3 and Jaeger values with junk are ignored, not trusted.
    let (server, _) = stack
        .relay(
            "junk-b3-jaeger",
            &[
                h(
                    "b3",
                    b"4bf92f3577b34da6a3ce929d0e0e4736-\xff0f067aa0ba902b7-1".to_vec(),
                ),
                h("uber-trace-id", b"4bf92f3577b34da6\xff:1:0:1".to_vec()),
            ],
        )
        .await;
    assert!(restarted(&server));

    // A control character hyper itself refuses: a clear 400, and the server keeps serving.
    let mut nul = TRACEPARENT.as_bytes().to_vec();
    nul[5] = 0;
    let (code, _) = stack.send("nul", &[h("traceparent", nul)]).await;
    assert_eq!(code, 400);
    let (server, _) = stack
        .relay("after-nul", &[h("traceparent", TRACEPARENT)])
        .await;
    assert!(continued(&server));
}

#[tokio::test]
async fn duplicated_and_conflicting_headers() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start().await;
    let other = "00-11111111111111111111111111111111-2222222222222222-01";

    // Two traceparent fields: invalid together, even when they are equal.
    for (case, second) in [("two-different", other), ("two-equal", TRACEPARENT)] {
        let (server, _) = stack
            .relay(
                case,
                &[h("traceparent", TRACEPARENT), h("traceparent", second)],
            )
            .await;
        assert!(restarted(&server), "{case}");
    }

    // traceparent, b3 and uber-trace-id naming three different traces: one of them is
    // continued, and everything sent on names that one trace (checked in `relay`).
    let (server, _) = stack
        .relay(
            "three-traces",
            &[
                h("traceparent", TRACEPARENT),
                h("b3", "11111111111111111111111111111111-2222222222222222-1"),
                h(
                    "uber-trace-id",
                    "33333333333333333333333333333333:4444444444444444:0:1",
                ),
            ],
        )
        .await;
    let parent = parent_of(&server).expect("one of the callers' contexts is continued");
    assert!(
        [
            (CALLER_TRACE, CALLER_SPAN),
            ("11111111111111111111111111111111", "2222222222222222"),
            ("33333333333333333333333333333333", "4444444444444444"),
        ]
        .iter()
        .any(|(t, s)| parent == (t.to_string(), s.to_string())),
        "{parent:?}"
    );

    // The same baggage key twice: the last value wins, once.
    let (_, out) = stack
        .relay(
            "repeated-key",
            &[
                h("traceparent", TRACEPARENT),
                h("baggage", "user=a,x=1"),
                h("baggage", "user=b"),
            ],
        )
        .await;
    assert_eq!(out.baggage.as_deref(), Some("user=b,x=1"));
}

#[tokio::test]
async fn absurd_lengths_restart_the_trace() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start().await;
    let cases: [(&str, Vec<Header>); 5] = [
        (
            "long-traceparent",
            vec![h(
                "traceparent",
                format!("00-{}-{CALLER_SPAN}-01", "a".repeat(100_000)),
            )],
        ),
        (
            "long-future-version",
            vec![h(
                "traceparent",
                format!("cc-{CALLER_TRACE}-{CALLER_SPAN}-01-{}", "x".repeat(1 << 20)),
            )],
        ),
        ("long-b3", vec![h("b3", "1".repeat(500_000))]),
        (
            "long-jaeger",
            vec![h("uber-trace-id", format!("{}:1:0:1", "f".repeat(500_000)))],
        ),
        (
            "long-name",
            vec![(
                "x-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                "a".repeat(1 << 20).into_bytes(),
            )],
        ),
    ];
    for (case, headers) in &cases {
        let (server, _) = stack.relay(case, headers).await;
        if *case == "long-future-version" {
            // A future version may carry more fields after a `-`: the first four are taken.
            assert!(continued(&server), "{case}");
        } else {
            assert!(restarted(&server), "{case}");
        }
    }
}

/// Resident memory of this process, in bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

#[tokio::test]
async fn memory_stays_flat_under_hostile_headers() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start().await;
    let headers = [
        h("traceparent", TRACEPARENT),
        h("baggage", format!("a=1,big={}", "v".repeat(1 << 20))),
        h(
            "tracestate",
            (0..10_000)
                .map(|i| format!("v{i}=x"))
                .collect::<Vec<_>>()
                .join(","),
        ),
    ];
    for i in 0..20 {
        stack.relay(&format!("warm-{i}"), &headers).await;
    }
    let before = rss();
    for i in 0..200 {
        stack.relay(&format!("flat-{i}"), &headers).await;
    }
    let grown = rss().saturating_sub(before);
    // Keeping any of the 200 MiB sent would show here; spans, queue and maps stay small.
    assert!(grown < 64 << 20, "resident memory grew {} MiB", grown >> 20);
    let spans = wait_for_spans(&stack.exporter, 440).await;
    assert_eq!(spans.len(), 440);
    drop(stack.provider);
}

#[tokio::test]
async fn request_values_are_cut_to_the_default_length_at_a_character_boundary() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start().await;
    let user_agent = format!("{}é{}", "a".repeat(8191), "b".repeat(100_000));
    let (server, _) = stack
        .relay("long-values", &[h("user-agent", user_agent.clone())])
        .await;
    let kept = server
        .attribute("user_agent.original")
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap();
    assert_eq!(
        kept.chars().count(),
        tracecore::http_span::DEFAULT_MAX_VALUE_LENGTH
    );
    assert!(kept.ends_with('é'), "cut after the whole character");
    assert!(user_agent.starts_with(&kept));
    drop(stack.provider);
}
