//! The W3C trace-context test service (`examples/src/w3c.rs`), driven the way the official test
//! suite drives it: a raw HTTP request to `POST /test` with the headers under test (spelt and
//! repeated exactly as given), callbacks to a harness server here, and the `traceparent` and
//! `tracestate` each callback carried checked against the spec sheet's rules (Level 2, strict).

#[path = "support/mod.rs"]
mod support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracecore::trace::TracerProvider;
use tracecore_examples::conformance_service;

use support::split_traceparent;

const TRACE_ID: &str = "12345678901234567890123456789012";
const PARENT_ID: &str = "1234567890123456";
const VALID: &str = "00-12345678901234567890123456789012-1234567890123456-01";

/// The headers each callback carried, by callback id.
type Seen = Arc<Mutex<HashMap<String, Vec<(String, String)>>>>;

struct Harness {
    service: std::net::SocketAddr,
    harness: std::net::SocketAddr,
    seen: Seen,
}

async fn record(State(seen): State<Seen>, Path(id): Path<String>, headers: HeaderMap) {
    let headers = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    seen.lock().unwrap().insert(id, headers);
}

impl Harness {
    async fn start() -> Self {
        let provider = TracerProvider::builder().with_service_name("w3c").build();
        let service = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let harness = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let seen = Seen::default();
        let (service_addr, harness_addr) =
            (service.local_addr().unwrap(), harness.local_addr().unwrap());
        tokio::spawn(
            axum::serve(service, conformance_service(provider.tracer("w3c"))).into_future(),
        );
        let callbacks = Router::new()
            .route("/callback/{id}", post(record))
            .with_state(seen.clone());
        tokio::spawn(axum::serve(harness, callbacks).into_future());
        Self {
            service: service_addr,
            harness: harness_addr,
            seen,
        }
    }

    /// Sends `POST /test` with `headers` as written, asking for `callbacks` calls back; returns
    /// the headers of each callback, in order.
    async fn test(
        &self,
        case: &str,
        headers: &[(&str, &str)],
        callbacks: usize,
    ) -> Vec<Vec<(String, String)>> {
        let ids: Vec<String> = (0..callbacks).map(|i| format!("{case}.{i}")).collect();
        let body = serde_json::Value::Array(
            ids.iter()
                .map(|id| serde_json::json!({"url": format!("http://{}/callback/{id}", self.harness), "arguments": []}))
                .collect(),
        )
        .to_string();
        let mut request = format!("POST /test HTTP/1.1\r\nhost: {}\r\n", self.service);
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str(&format!(
            "content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        ));
        let mut stream = tokio::net::TcpStream::connect(self.service).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        assert!(reply.starts_with("HTTP/1.1 200"), "{case}: {reply}");
        let seen = self.seen.lock().unwrap();
        ids.iter()
            .map(|id| {
                seen.get(id)
                    .unwrap_or_else(|| panic!("{case}: no callback {id}"))
                    .clone()
            })
            .collect()
    }
}

/// The one `traceparent` a callback carried, checked for the version-00 form, split.
fn traceparent(case: &str, headers: &[(String, String)]) -> (String, String, u8) {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k == "traceparent")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(values.len(), 1, "{case}: one traceparent, got {values:?}");
    split_traceparent(values[0])
        .unwrap_or_else(|| panic!("{case}: {:?} is not a version-00 traceparent", values[0]))
}

/// The `tracestate` a callback carried (one field at most, never empty).
fn tracestate(case: &str, headers: &[(String, String)]) -> Option<String> {
    let values: Vec<&str> = headers
        .iter()
        .filter(|(k, _)| k == "tracestate")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(values.len() <= 1, "{case}: {values:?}");
    assert!(
        values.first().is_none_or(|v| !v.is_empty()),
        "{case}: an empty tracestate was sent"
    );
    values.first().map(|v| (*v).to_owned())
}

/// Header fields as sent, in order.
type Fields<'a> = &'a [(&'a str, &'a str)];

#[derive(Debug, Clone, Copy)]
enum Expect {
    /// The caller's trace continues with these flags.
    Continues(u8),
    /// A new trace: another trace id, the random flag set (Level 2), no tracestate.
    Restarts,
}
use Expect::{Continues, Restarts};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_continued_or_the_trace_restarted_as_the_spec_says() {
    let h = Harness::start().await;
    let future_extra =
        "cc-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like";
    #[rustfmt::skip]
    let cases: &[(&str, Fields<'_>, Expect)] = &[
        ("no traceparent: a new trace", &[], Restarts),
        ("valid: same trace id, new parent id", &[("traceparent", VALID)], Continues(0x01)),
        ("header names are case-insensitive", &[("TrAcEpArEnT", VALID)], Continues(0x01)),
        ("TRACEPARENT", &[("TRACEPARENT", VALID)], Continues(0x01)),
        ("two traceparent fields are invalid", &[("traceparent", VALID), ("traceparent", "00-12345678901234567890123456789011-1234567890123456-01")], Restarts),
        ("trace-parent is another header", &[("trace-parent", VALID)], Restarts),
        ("surrounding whitespace is OWS", &[("traceparent", "\t00-12345678901234567890123456789012-1234567890123456-01 ")], Continues(0x01)),
        ("version 00 with a trailing character", &[("traceparent", "00-12345678901234567890123456789012-1234567890123456-01.")], Restarts),
        ("version 00 with extra fields", &[("traceparent", "00-12345678901234567890123456789012-1234567890123456-01-what-the-future-will-be-like")], Restarts),
        ("a higher version is parsed", &[("traceparent", "cc-12345678901234567890123456789012-1234567890123456-01")], Continues(0x01)),
        ("a higher version with extra fields", &[("traceparent", future_extra)], Continues(0x01)),
        ("a higher version, extra fields without a dash", &[("traceparent", "cc-12345678901234567890123456789012-1234567890123456-01.what-the-future-will-be-like")], Restarts),
        ("version ff is forbidden", &[("traceparent", "ff-12345678901234567890123456789012-1234567890123456-01")], Restarts),
        ("version with an illegal character", &[("traceparent", ".0-12345678901234567890123456789012-1234567890123456-01")], Restarts),
        ("version too long", &[("traceparent", "000-12345678901234567890123456789012-1234567890123456-01")], Restarts),
        ("version too short", &[("traceparent", "0-12345678901234567890123456789012-1234567890123456-01")], Restarts),
        ("trace id all zero", &[("traceparent", "00-00000000000000000000000000000000-1234567890123456-01")], Restarts),
        ("trace id with an illegal character", &[("traceparent", "00-1234567890123456789012345678901.-1234567890123456-01")], Restarts),
        ("trace id in uppercase", &[("traceparent", "00-1234567890ABCDEF9012345678901234-1234567890123456-01")], Restarts),
        ("trace id too long", &[("traceparent", "00-123456789012345678901234567890123-1234567890123456-01")], Restarts),
        ("trace id too short", &[("traceparent", "00-1234567890123456789012345678901-1234567890123456-01")], Restarts),
        ("parent id all zero", &[("traceparent", "00-12345678901234567890123456789012-0000000000000000-01")], Restarts),
        ("parent id with an illegal character", &[("traceparent", "00-12345678901234567890123456789012-123456789012345.-01")], Restarts),
        ("parent id too long", &[("traceparent", "00-12345678901234567890123456789012-12345678901234567-01")], Restarts),
        ("parent id too short", &[("traceparent", "00-12345678901234567890123456789012-123456789012345-01")], Restarts),
        ("flags with an illegal character", &[("traceparent", "00-12345678901234567890123456789012-1234567890123456-.0")], Restarts),
        ("flags too long", &[("traceparent", "00-12345678901234567890123456789012-1234567890123456-011")], Restarts),
        ("not sampled: the decision is propagated", &[("traceparent", "00-12345678901234567890123456789012-1234567890123456-00")], Continues(0x00)),
        ("the random flag is copied", &[("traceparent", "00-12345678901234567890123456789012-1234567890123456-03")], Continues(0x03)),
        ("random but not sampled", &[("traceparent", "00-12345678901234567890123456789012-1234567890123456-02")], Continues(0x02)),
        ("reserved flags are sent as zero", &[("traceparent", "00-12345678901234567890123456789012-1234567890123456-f9")], Continues(0x01)),
        ("an invalid traceparent drops tracestate unread", &[("traceparent", "00-12345678901234567890123456789012-0000000000000000-01"), ("tracestate", "foo=1")], Restarts),
        ("tracestate without traceparent is discarded", &[("tracestate", "foo=1")], Restarts),
    ];
    for (i, (case, headers, expect)) in cases.iter().enumerate() {
        let callback = &h.test(&format!("tp{i}"), headers, 1).await[0];
        let (trace_id, parent_id, flags) = traceparent(case, callback);
        match expect {
            Continues(want) => {
                assert_eq!(trace_id, TRACE_ID, "{case}");
                assert_ne!(
                    parent_id, PARENT_ID,
                    "{case}: the parent id is this service's"
                );
                assert_eq!(flags, *want, "{case}");
            }
            Restarts => {
                assert!(
                    headers.iter().all(|(_, v)| !v.contains(&trace_id)),
                    "{case}: trace id {trace_id} was not new"
                );
                assert_eq!(flags, 0x03, "{case}: a new sampled root with random ids");
                assert_eq!(tracestate(case, callback), None, "{case}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracestate_is_forwarded_combined_and_trimmed_or_dropped_whole() {
    let h = Harness::start().await;
    let members = |n: usize| {
        (0..n)
            .map(|i| format!("k{i}=v{i}"))
            .collect::<Vec<_>>()
            .join(",")
    };
    let (m32, m33) = (members(32), members(33));
    // Over 512 characters: entries over 128 go first, then entries from the right.
    let long: Vec<String> = (1..=5)
        .map(|i| format!("k{i}={}", "x".repeat(117)))
        .collect();
    let oversized = format!(
        "{},{},big={},{}",
        long[0],
        long[1],
        "y".repeat(150),
        long[2..].join(",")
    );
    let trimmed = long[..4].join(",");
    #[rustfmt::skip]
    let cases: [(&str, Fields<'_>, Option<&str>); 14] = [
        ("one member", &[("tracestate", "foo=1")], Some("foo=1")),
        ("header names are case-insensitive", &[("TrAcEsTaTe", "foo=1")], Some("foo=1")),
        ("several fields are combined in order", &[("tracestate", "foo=1"), ("tracestate", "bar=2")], Some("foo=1,bar=2")),
        ("OWS and empty members", &[("tracestate", " foo=1 ,, \tbar=2\t,")], Some("foo=1,bar=2")),
        ("leading spaces of a value are kept", &[("tracestate", "foo= 1")], Some("foo= 1")),
        ("keys of the Level 2 grammar", &[("tracestate", "1foo=1,foo@=2,foo@@bar=3,a*b/c_d-e=4")], Some("1foo=1,foo@=2,foo@@bar=3,a*b/c_d-e=4")),
        ("32 members are kept", &[("tracestate", &m32)], Some(&m32)),
        ("33 members drop the header", &[("tracestate", &m33)], None),
        ("an uppercase key drops the header", &[("tracestate", "foo=1,BAR=2")], None),
        ("an empty value drops the header", &[("tracestate", "foo=1,bar=")], None),
        ("a member without = drops the header", &[("tracestate", "foo=1,bar")], None),
        ("a value with = drops the header", &[("tracestate", "foo=1=2")], None),
        ("an empty header is not sent on", &[("tracestate", "")], None),
        ("over 512 characters: long entries, then the right-most, go", &[("tracestate", &oversized)], Some(&trimmed)),
    ];
    for (i, (case, fields, want)) in cases.into_iter().enumerate() {
        let headers: Vec<(&str, &str)> = [("traceparent", VALID)]
            .into_iter()
            .chain(fields.iter().copied())
            .collect();
        let callback = &h.test(&format!("ts{i}"), &headers, 1).await[0];
        assert_eq!(
            traceparent(case, callback).0,
            TRACE_ID,
            "{case}: tracestate never affects traceparent"
        );
        assert_eq!(tracestate(case, callback).as_deref(), want, "{case}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_has_a_parent_id_of_its_own() {
    let h = Harness::start().await;
    for (case, headers) in [
        (
            "continued",
            vec![("traceparent", VALID), ("tracestate", "foo=1")],
        ),
        ("new", vec![]),
    ] {
        let callbacks = h.test(case, &headers, 3).await;
        let ids: Vec<_> = callbacks.iter().map(|c| traceparent(case, c)).collect();
        assert!(
            ids.iter().all(|(t, _, _)| *t == ids[0].0),
            "{case}: one trace: {ids:?}"
        );
        let mut parents: Vec<_> = ids.iter().map(|(_, p, _)| p.clone()).collect();
        parents.sort();
        parents.dedup();
        assert_eq!(parents.len(), 3, "{case}: {ids:?}");
        assert!(!parents.contains(&PARENT_ID.to_owned()), "{case}");
        for c in &callbacks {
            assert_eq!(
                tracestate(case, c).as_deref(),
                (case == "continued").then_some("foo=1")
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_not_a_list_of_calls_is_a_400() {
    let h = Harness::start().await;
    for body in ["{}", "not json", "[{\"arguments\": []}]"] {
        let reply = reqwest::Client::new()
            .post(format!("http://{}/test", h.service))
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 400, "{body}");
    }
}
