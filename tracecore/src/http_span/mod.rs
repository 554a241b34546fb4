//! The HTTP rules, in one place: method names, span names, the status of a span from the
//! response or the failure, URL redaction, header capture, and the CLIENT span every client
//! integration shares ([OpenTelemetry HTTP span conventions](https://opentelemetry.io/docs/specs/semconv/http/http-spans/)).
//!
//! | outcome | SERVER span | CLIENT span |
//! |---|---|---|
//! | 1xx, 2xx, 3xx | Unset | Unset |
//! | 4xx | Unset | Error, `error.type` = the code |
//! | 5xx | Error, `error.type` = the code | Error, `error.type` = the code |
//! | no response (connect, timeout, body...) | Error, `error.type` from [`FailureKind`] | same |
//! | cancelled (the caller went away or gave up) | Unset, `tracecore.cancelled = true` | same |
//!
//! Instrumentation never sets Ok: that is the application's to say.
//!
//! ```
//! use http::StatusCode;
//! use tracecore::export::InMemoryExporter;
//! use tracecore::http_span::Side;
//! use tracecore::trace::{Status, TracerProvider};
//!
//! let provider = TracerProvider::builder().with_simple_exporter(InMemoryExporter::new()).build();
//! let span = provider.tracer("t").start("GET /items/{id}");
//! Side::Server.record_response(&span.as_ref(), StatusCode::NOT_FOUND);
//! assert_eq!(span.as_ref().attribute("error.type"), None);
//! Side::Server.record_response(&span.as_ref(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(span.as_ref().attribute("error.type").unwrap().as_str(), Some("503"));
//! ```

mod client;
mod headers;
mod intern;
mod method;
mod metrics;
mod status;
mod url;

pub use client::{ClientRequest, ClientSpan, ClientTracing};

/// A `Content-Length` header's value, if it is a number.
pub fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    client::content_length(headers)
}
pub use headers::HeaderCapture;
pub use method::{MethodAttributes, known_method, route_span_name, span_name};
pub use metrics::{DURATION_BOUNDARIES, HttpMeasure, HttpMetrics, MeasureOptions};
pub use status::{FailureKind, Side, record_failure};
pub use url::{SENSITIVE_QUERY_PARAMETERS, UrlRedaction};

use http::Version;

use crate::trace::Span;
use crate::{Key, KeyValue};

/// Per-request opt-out, in the request's extensions: no CLIENT span for this request. The
/// current context is still injected, so the next service continues the trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoSpan;

/// Per-request opt-out, in the request's extensions: nothing is injected into this request's
/// headers (a call to a third party that must not see trace ids or baggage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoPropagation;

/// Per-request, in the request's extensions: the URL template (`/items/{id}`) that names the
/// CLIENT span `{method} {template}` and is recorded as `url.template`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(pub std::borrow::Cow<'static, str>);

/// Set to `true` on a span whose request was abandoned before it completed: the client
/// disconnected before the server's response was done, or the caller dropped a client request.
/// Cancellation is not an error, so the status stays as it was.
pub const CANCELLED: Key = Key::from_static("tracecore.cancelled");

/// A route template (`/items/{id}`) as an attribute value: interned, so a request does not
/// allocate it (bounded; see `http_span::intern`).
pub fn route_value(route: &str) -> crate::Value {
    crate::Value::String(intern::interned_or_owned(route))
}

/// The length (in characters) request-derived attribute values are cut to by default:
/// `url.full`, `url.path`, `url.query`, `user_agent.original`, `server.address`,
/// `client.address`, captured headers. 8 KiB is the request-line and header limit of nginx's
/// default buffers and of most proxies, so a real value that reaches a service is shorter; a
/// 200 KB `User-Agent` costs a queued span 8 KiB, not 200 KB.
pub const DEFAULT_MAX_VALUE_LENGTH: usize = 8 * 1024;

/// Cuts every string value (and every string of a string array) in `attributes` to at most
/// `max` characters, at a character boundary; returns how many were cut.
///
/// ```
/// let mut attributes = vec![tracecore::KeyValue::new("user_agent.original", "é".repeat(10))];
/// assert_eq!(tracecore::http_span::limit_values(&mut attributes, 4), 1);
/// assert_eq!(attributes[0].value.as_str(), Some("éééé"));
/// ```
pub fn limit_values(attributes: &mut [KeyValue], max: usize) -> usize {
    attributes
        .iter_mut()
        .map(|kv| match &kv.value {
            // The common cases, decided here without a call.
            crate::Value::String(s) if s.len() <= max => 0,
            crate::Value::Bool(_) | crate::Value::I64(_) | crate::Value::F64(_) => 0,
            _ => usize::from(kv.value.truncate(max)),
        })
        .sum()
}

/// A request-derived value as attribute text (a header value, lossily converted when it is not
/// UTF-8), in recycled storage: see [`crate::trace::attribute_string`].
///
/// ```
/// assert_eq!(tracecore::http_span::text(b"curl/8.5"), "curl/8.5");
/// assert_eq!(tracecore::http_span::text(b"a\xffb"), "a\u{fffd}b");
/// ```
pub fn text(value: &[u8]) -> String {
    match String::from_utf8_lossy(value) {
        std::borrow::Cow::Borrowed(s) => crate::trace::attribute_string(s),
        std::borrow::Cow::Owned(s) => s,
    }
}

/// An IP address as attribute text (`client.address`, `network.peer.address`), in recycled
/// storage: see [`crate::trace::attribute_string`].
///
/// ```
/// let ip = std::net::Ipv4Addr::LOCALHOST.into();
/// assert_eq!(tracecore::http_span::ip_text(ip), "127.0.0.1");
/// ```
pub fn ip_text(ip: std::net::IpAddr) -> String {
    use std::fmt::Write;
    let mut text = crate::trace::attribute_string("");
    // Writing to a String cannot fail.
    let _ = write!(text, "{ip}");
    text
}

/// An interned route template, URL template or host (bounded: past the intern table's size, an
/// owned copy), for attribute values and metric keys that do not allocate per request.
pub fn interned(value: &str) -> std::borrow::Cow<'static, str> {
    intern::interned_or_owned(value)
}

/// The span of a request in flight, and its duration measurement: both end exactly once, by
/// [`finish`](Self::finish), or when dropped first (the request was abandoned), the span marked
/// [`CANCELLED`].
///
/// A cancelled request is still measured: its duration, with the status code if a response
/// had begun, and no `error.type` (as its span has none): the slow requests callers gave up on
/// stay in the latency histogram, and error rates agree with the spans.
///
/// An RPC's ([`InFlight::rpc`]) ends by the RPC rules instead: its status is the one recorded by
/// [`record_rpc_status`](Self::record_rpc_status) (from `grpc-status`), else the code the HTTP
/// status stands for, and an abandoned call is `CANCELLED`.
#[derive(Debug, Default)]
pub struct InFlight {
    span: Option<Span>,
    /// In a box kept per thread for the next request's ([`held`]): the in-flight state, which
    /// the response future carries and the server stack moves several times per request,
    /// stays small, and no allocation is made for it. `Some` holds `Some` until the end.
    measure: Option<Box<Option<HttpMeasure>>>,
    rpc: Option<RpcCall>,
}

/// Boxes that held finished measurements, for the next ones started on this thread.
const KEPT_MEASURE_BOXES: usize = 64;

thread_local! {
    // The boxes themselves are what is kept: each is handed out whole.
    #[allow(clippy::vec_box)]
    static MEASURE_BOXES: std::cell::RefCell<Vec<Box<Option<HttpMeasure>>>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// `measure` in a box kept from a finished one when this thread has one.
fn held(measure: Option<HttpMeasure>) -> Option<Box<Option<HttpMeasure>>> {
    let measure = measure?;
    let kept = MEASURE_BOXES
        .try_with(|boxes| boxes.try_borrow_mut().ok()?.pop())
        .ok()
        .flatten();
    Some(match kept {
        Some(mut kept) => {
            *kept = Some(measure);
            kept
        }
        None => Box::new(Some(measure)),
    })
}

/// Keeps an emptied box for a later [`held`] on this thread.
fn keep(held: Box<Option<HttpMeasure>>) {
    let _ = MEASURE_BOXES.try_with(|boxes| {
        if let Ok(mut boxes) = boxes.try_borrow_mut()
            && boxes.len() < KEPT_MEASURE_BOXES
        {
            boxes.push(held);
        }
    });
}

/// What an RPC in flight has told so far.
#[derive(Debug, Clone, Copy)]
struct RpcCall {
    side: Side,
    /// The response's HTTP status, for a call that ends without `grpc-status`.
    http_status: Option<http::StatusCode>,
    /// A `grpc-status` was recorded, or a failure: nothing to derive at the end.
    settled: bool,
    /// When the caller's `grpc-timeout` runs out: a call abandoned past it expired rather than
    /// being cancelled.
    deadline: Option<std::time::Instant>,
}

impl InFlight {
    /// Holds `span` until the request is done.
    pub const fn new(span: Span) -> Self {
        Self {
            span: Some(span),
            measure: None,
            rpc: None,
        }
    }

    /// Holds the span of an RPC (a gRPC call) on `side`, which ends by the RPC rules, and its
    /// duration measurement ([`HttpMetrics::rpc`]; the span should start at its
    /// [`start`](HttpMeasure::start)).
    pub fn rpc(span: Span, side: Side, measure: Option<HttpMeasure>) -> Self {
        Self {
            span: Some(span),
            measure: held(measure),
            rpc: Some(RpcCall {
                side,
                http_status: None,
                settled: false,
                deadline: None,
            }),
        }
    }

    /// The call's deadline (its `grpc-timeout` after it started): abandoned past it, the call
    /// ends `DEADLINE_EXCEEDED` rather than `CANCELLED`. A caller that enforces the same
    /// deadline itself (a tonic channel does) counts it from before the request left, so its
    /// reset can reach the server just before the server's deadline: that is recorded as
    /// `CANCELLED`, as the stream's `RST_STREAM(CANCEL)` says.
    pub fn set_rpc_deadline(&mut self, deadline: std::time::Instant) {
        if let Some(rpc) = &mut self.rpc {
            rpc.deadline = Some(deadline);
        }
    }

    /// Whether this is an RPC ([`InFlight::rpc`]).
    pub fn is_rpc(&self) -> bool {
        self.rpc.is_some()
    }

    /// Records the status an RPC ended with (`grpc-status` and the decoded `grpc-message`, from
    /// the trailers or a trailers-only response) by the side's rules
    /// ([`rpc::record_status`](crate::rpc::record_status)). The first one recorded counts.
    pub fn record_rpc_status(&mut self, code: crate::rpc::GrpcCode, message: Option<&str>) {
        let (Some(span), Some(rpc)) = (&self.span, &mut self.rpc) else {
            return;
        };
        if !rpc.settled {
            rpc.settled = true;
            let span = span.as_ref();
            // A server that says it has no such method: the method is `_OTHER`, as sent kept
            // in `rpc.method_original`, and the span is named `grpc`.
            if rpc.side == Side::Server
                && code == crate::rpc::GrpcCode::Unimplemented
                && span.is_recording()
                && let Some(crate::Value::String(sent)) =
                    span.attribute(crate::semconv::RPC_METHOD.as_str())
                && sent != "_OTHER"
            {
                span.set_attributes([
                    KeyValue::new(crate::semconv::RPC_METHOD, "_OTHER"),
                    KeyValue::new(crate::semconv::RPC_METHOD_ORIGINAL, sent),
                ]);
                span.update_name(crate::rpc::GRPC);
            }
            crate::rpc::record_status(rpc.side, &span, code, message);
            if let Some(measure) = self.measure.as_deref_mut().and_then(Option::as_mut) {
                measure.rpc_status(code, code.is_error(rpc.side));
            }
        }
    }

    /// Holds `span` and the request's duration measurement (the span should have started at
    /// [`HttpMeasure::start`], so both see the same duration).
    pub fn measured(span: Span, measure: Option<HttpMeasure>) -> Self {
        Self {
            span: Some(span),
            measure: held(measure),
            rpc: None,
        }
    }

    /// The span, until it ends.
    pub fn span(&self) -> Option<&Span> {
        self.span.as_ref()
    }

    /// The measurement, until it ends.
    pub fn measure_mut(&mut self) -> Option<&mut HttpMeasure> {
        self.measure.as_deref_mut().and_then(Option::as_mut)
    }

    /// Records the response's status code on the span (and its status by the table) and on the
    /// measurement. For an RPC the HTTP status only stands in for a missing `grpc-status`.
    pub fn record_response(&mut self, side: Side, status: http::StatusCode) {
        if let Some(rpc) = &mut self.rpc {
            rpc.http_status = Some(status);
            return;
        }
        if let Some(span) = &self.span {
            side.record_response(&span.as_ref(), status);
        }
        if let Some(measure) = self.measure_mut() {
            measure.response(side, status);
        }
    }

    /// Records a failure with no response (see [`record_failure`]) on the span and the
    /// measurement.
    pub fn record_failure(
        &mut self,
        error_type: &'static str,
        exception_type: &'static str,
        error: &dyn std::fmt::Display,
    ) {
        if let Some(span) = &self.span {
            record_failure(&span.as_ref(), error_type, exception_type, error);
        }
        if let Some(measure) = self.measure_mut() {
            measure.failure(error_type);
        }
        // An RPC that failed without a status (the service's error, a body error, a panic):
        // UNKNOWN, the error's message as the description.
        if self.rpc.is_some() {
            self.record_rpc_status(crate::rpc::GrpcCode::Unknown, Some(&error.to_string()));
        }
    }

    /// Ends the span and the measurement normally, at one clock reading (nothing if they
    /// already ended).
    pub fn finish(&mut self) {
        // An RPC that ended without `grpc-status`: the code its HTTP status stands for.
        if let Some(rpc) = self.rpc
            && !rpc.settled
        {
            let code = rpc.http_status.map_or(crate::rpc::GrpcCode::Unknown, |s| {
                crate::rpc::GrpcCode::from_http_status(s)
            });
            self.record_rpc_status(code, None);
        }
        let Some(mut held) = self.measure.take() else {
            if let Some(span) = self.span.take() {
                span.end();
            }
            return;
        };
        let end = std::time::Instant::now();
        let span = self.span.take();
        if let Some(measure) = held.as_ref() {
            // Measured in the context of the span it measures: the duration's exemplar points
            // at this request's trace.
            measure.record_end(end, span.as_ref().map(Span::span_context));
        }
        *held = None;
        keep(held);
        if let Some(span) = span {
            span.end_with_instant(end);
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        // Finished already, or it never held a span: nothing left to end.
        if self.span.is_none() && self.measure.is_none() {
            return;
        }
        if let Some(span) = &self.span {
            span.set_attribute(KeyValue::new(CANCELLED, true));
        }
        // An RPC abandoned before its status: its deadline expired, or the caller cancelled it.
        let expired = self
            .rpc
            .and_then(|rpc| rpc.deadline)
            .is_some_and(|deadline| std::time::Instant::now() >= deadline);
        let code = if expired {
            crate::rpc::GrpcCode::DeadlineExceeded
        } else {
            crate::rpc::GrpcCode::Cancelled
        };
        self.record_rpc_status(code, None);
        self.finish();
    }
}

/// `network.protocol.version` for a negotiated HTTP version: `1.0`, `1.1`, `2`, `3`.
///
/// ```
/// assert_eq!(tracecore::http_span::protocol_version(http::Version::HTTP_2), Some("2"));
/// ```
pub fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{ManualReader, MeterProvider, MetricData};
    use crate::trace::TracerProvider;

    impl InFlight {
        /// Where the measurement's box is.
        fn measure_box(&self) -> Option<*const Option<HttpMeasure>> {
            self.measure.as_deref().map(std::ptr::from_ref)
        }
    }

    /// How many boxes this thread keeps.
    fn kept_boxes() -> usize {
        MEASURE_BOXES.with(|boxes| boxes.borrow().len())
    }

    #[test]
    fn a_finished_measurement_leaves_its_box_for_the_next_and_each_is_recorded() {
        std::thread::spawn(|| {
            let reader = ManualReader::new();
            let meters = MeterProvider::builder().with_reader(reader.clone()).build();
            let provider = TracerProvider::builder()
                .with_meter_provider(meters)
                .build();
            let tracer = provider.tracer("t");
            let metrics = tracer.http_metrics().unwrap();
            let measure = |route: &'static str| {
                metrics.server(
                    "GET",
                    "http",
                    Some(route.into()),
                    Some("1.1"),
                    MeasureOptions::NONE,
                )
            };
            let mut first = InFlight::measured(tracer.start("a"), measure("/a"));
            let at = first.measure_box().unwrap();
            // Another request in flight at the same time has its own box.
            let mut second = InFlight::measured(tracer.start("b"), measure("/b"));
            assert_ne!(second.measure_box(), Some(at));
            first.record_response(Side::Server, http::StatusCode::OK);
            assert_eq!(kept_boxes(), 0);
            first.finish();
            assert_eq!(first.measure_box(), None);
            assert_eq!(kept_boxes(), 1, "the finished one's box is kept");
            let mut third = InFlight::measured(tracer.start("c"), measure("/c"));
            assert_eq!(kept_boxes(), 0);
            assert_eq!(third.measure_box(), Some(at), "the finished one's box");
            second.record_response(Side::Server, http::StatusCode::NOT_FOUND);
            second.finish();
            third.record_response(Side::Server, http::StatusCode::CREATED);
            third.finish();

            let collected = reader.collect();
            let Some(MetricData::Histogram { points, .. }) = collected
                .metric("http.server.request.duration")
                .map(|m| &m.data)
            else {
                panic!("no duration histogram: {collected:?}");
            };
            let mut seen: Vec<(String, i64, u64)> = points
                .iter()
                .map(|p| {
                    let get = |k: &str| p.attributes.iter().find(|kv| kv.key.as_str() == k);
                    let route = get("http.route").and_then(|kv| kv.value.as_str()).unwrap();
                    let status = get("http.response.status_code")
                        .and_then(|kv| kv.value.as_i64())
                        .unwrap();
                    (route.to_owned(), status, p.count)
                })
                .collect();
            seen.sort();
            assert_eq!(
                seen,
                [
                    ("/a".to_owned(), 200, 1),
                    ("/b".to_owned(), 404, 1),
                    ("/c".to_owned(), 201, 1)
                ]
            );
        })
        .join()
        .unwrap();
    }
}
