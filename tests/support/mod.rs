//! Shared by the integration tests of every crate (included with `#[path]`): a provider that records spans, servers on loopback, and
//! bounded waits.

#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tracecore::export::{FinishedSpans, InMemoryExporter};
use tracecore::trace::TracerProvider;

/// A provider that hands every ended span to an in-memory exporter.
pub fn recording_provider(service: &'static str) -> (TracerProvider, InMemoryExporter) {
    let exporter = InMemoryExporter::new();
    let provider = TracerProvider::builder()
        .with_service_name(service)
        .with_simple_exporter(exporter.clone())
        .build();
    (provider, exporter)
}

/// Serves an axum router on an ephemeral loopback port, with the peer address available.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app = router.into_make_service_with_connect_info::<SocketAddr>();
        axum::serve(listener, app).await.unwrap();
    });
    addr
}

/// A reqwest client that never uses a proxy (all traffic stays on loopback).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Waits until `exporter` holds at least `n` spans; panics after 10 s with what it holds.
pub async fn wait_for_spans(exporter: &InMemoryExporter, n: usize) -> FinishedSpans {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans = exporter.finished_spans();
        if spans.len() >= n {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "waited 10 s for {n} spans, have {}: {:?}",
            spans.len(),
            spans.names()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Runs `f` with a 20 s limit, so a test that would hang fails instead.
pub async fn bounded<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(20), f)
        .await
        .expect("test step took more than 20 s")
}

/// The span whose `http.response.status_code` is `code`; panics naming the code if none is.
#[track_caller]
pub fn with_status_code(spans: &FinishedSpans, code: i64) -> &tracecore::trace::SpanData {
    spans
        .iter()
        .find(|s| {
            s.attribute("http.response.status_code")
                .and_then(tracecore::Value::as_i64)
                == Some(code)
        })
        .unwrap_or_else(|| panic!("no span with status code {code}: {:?}", spans.names()))
}

/// `s` is exactly `n` lowercase hex digits.
pub fn is_lower_hex(s: &str, n: usize) -> bool {
    s.len() == n
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A `traceparent` as tracecore emits it (version 00, lowercase hex, non-zero ids) split into
/// trace id, span id and flags; `None` for anything else.
pub fn split_traceparent(value: &str) -> Option<(String, String, u8)> {
    let parts: Vec<&str> = value.split('-').collect();
    let valid = parts.len() == 4
        && parts[0] == "00"
        && is_lower_hex(parts[1], 32)
        && is_lower_hex(parts[2], 16)
        && is_lower_hex(parts[3], 2)
        && parts[1].bytes().any(|b| b != b'0')
        && parts[2].bytes().any(|b| b != b'0');
    valid.then(|| {
        (
            parts[1].to_owned(),
            parts[2].to_owned(),
            u8::from_str_radix(parts[3], 16).unwrap(),
        )
    })
}

/// A loopback address that refuses connections for as long as the returned socket lives: the
/// socket holds the port, bound and never listening. (A port bound and then dropped can be handed
/// to the next server another test starts, which would then answer.)
pub fn refusing_addr() -> (tokio::net::TcpSocket, SocketAddr) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = socket.local_addr().unwrap();
    (socket, addr)
}
