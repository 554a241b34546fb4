//! [`InFlight`]: the span and the duration measurement of one request in flight, which end
//! exactly once; and the one state machine every integration's response body feeds
//! ([`InFlight::body_event`]).

use std::error::Error;
use std::fmt;

use http::HeaderMap;

use super::metrics::HttpMeasure;
use super::side::Side;
use super::status::FailureKind;
use crate::trace::Span;
use crate::{Key, KeyValue};

/// Set to `true` on a span whose request was abandoned before it completed: the client
/// disconnected before the server's response was done, or the caller dropped a client request.
/// Cancellation is not an error, so the status stays as it was.
pub const CANCELLED: Key = Key::from_static("tracecore.cancelled");

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
    /// duration measurement ([`HttpMetrics::rpc`](super::HttpMetrics::rpc); the span should start at its
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
            let span = span.span_ref();
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
            side.record_response(&span.span_ref(), status);
        }
        if let Some(measure) = self.measure_mut() {
            measure.response(side, status);
        }
    }

    /// Records a failure with no response known by its types and message (see
    /// [`Failure::display`]) on the span and the measurement.
    pub fn record_failure(
        &mut self,
        error_type: &'static str,
        exception_type: &'static str,
        error: &dyn std::fmt::Display,
    ) {
        self.fail(Failure::display(error_type, exception_type, error));
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
        // A client's span ends with the response head even when its body is counted after.
        let end = held
            .as_ref()
            .as_ref()
            .and_then(HttpMeasure::response_end)
            .unwrap_or_else(std::time::Instant::now);
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

impl InFlight {
    /// Records what a response body did and ends the span when the body is done: after its
    /// last frame (the trailers, a data frame the body calls its end, or the end of the
    /// stream), or on an error. Data frames count towards the response body's size when body
    /// sizes are measured, and trailers carry a gRPC call's status. Returns whether the span has
    /// ended; every integration's body wrapper feeds its frames here.
    pub fn body_event(&mut self, event: BodyEvent<'_>) -> bool {
        if self.span.is_none() && self.measure.is_none() {
            return true;
        }
        match event {
            BodyEvent::Data { bytes, end_stream } => {
                if let Some(measure) = self.measure_mut() {
                    measure.add_response_body_bytes(bytes);
                }
                if !end_stream {
                    return false;
                }
            }
            BodyEvent::Trailers(trailers) => {
                if self.rpc.is_some()
                    && let Some((code, message)) = crate::rpc::status(trailers)
                {
                    self.record_rpc_status(code, message.as_deref());
                }
            }
            BodyEvent::End => {}
            BodyEvent::Error(failure) => self.fail(failure),
        }
        self.finish();
        true
    }

    /// Records a failure with no (further) response: on an HTTP span status Error, `error.type`
    /// and an `exception` event; an RPC ends `UNKNOWN` on the server and `UNAVAILABLE` (a
    /// timeout `DEADLINE_EXCEEDED`) on the client, the error's message as the description.
    pub fn fail(&mut self, failure: Failure<'_>) {
        let rpc_code = self.rpc.map(|rpc| match (rpc.side, failure.kind) {
            (Side::Server, _) => crate::rpc::GrpcCode::Unknown,
            (Side::Client, Some(FailureKind::Timeout)) => crate::rpc::GrpcCode::DeadlineExceeded,
            (Side::Client, _) => crate::rpc::GrpcCode::Unavailable,
        });
        // A client's RPC says it all in its status; a server's keeps the exception too.
        let client_rpc = self.rpc.is_some_and(|rpc| rpc.side == Side::Client);
        if !client_rpc {
            if let Some(span) = &self.span {
                let span = span.span_ref();
                if span.is_recording() {
                    span.set_attribute(KeyValue::new(
                        crate::semconv::ERROR_TYPE,
                        failure.error_type(),
                    ));
                    span.add_event(
                        "exception",
                        vec![
                            KeyValue::new(crate::semconv::EXCEPTION_TYPE, failure.exception_type),
                            KeyValue::new(
                                crate::semconv::EXCEPTION_MESSAGE,
                                failure.message.full(),
                            ),
                        ],
                    );
                    span.set_status(crate::trace::Status::error(
                        failure.message.top().to_string(),
                    ));
                }
            }
            if let Some(measure) = self.measure_mut() {
                measure.failure(failure.error_type());
            }
        }
        if let Some(code) = rpc_code {
            self.record_rpc_status(code, Some(&failure.message.top().to_string()));
        }
    }

    /// Guards a poll of the application's code (a handler, a response body): if it panics, the
    /// unwinding drops the guard and the span ends with status Error and `error.type` `panic`,
    /// whether or not a catch-panic layer further out turns the panic into a 500 (the span
    /// would otherwise end later, marked only cancelled). `what` is the exception's message.
    pub fn guard_panic(&mut self, what: &'static str) -> PanicGuard<'_> {
        PanicGuard {
            in_flight: self,
            what,
        }
    }
}

/// Ends an [`InFlight`] as failed when the poll it guards panics: see [`InFlight::guard_panic`].
#[derive(Debug)]
pub struct PanicGuard<'a> {
    in_flight: &'a mut InFlight,
    what: &'static str,
}

impl Drop for PanicGuard<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() && self.in_flight.span.is_some() {
            self.in_flight.record_failure("panic", "panic", &self.what);
            self.in_flight.finish();
        }
    }
}

/// One thing a response body did, as an integration's body wrapper sees it
/// ([`InFlight::body_event`]).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum BodyEvent<'a> {
    /// A data frame of `bytes` bytes; `end_stream` when the body says nothing follows it.
    Data {
        /// The frame's length.
        bytes: u64,
        /// The body is at its end after this frame.
        end_stream: bool,
    },
    /// The trailers: a body's last frame (a gRPC call's status is read from them).
    Trailers(&'a HeaderMap),
    /// The body ended: its last poll gave no frame.
    End,
    /// The body failed.
    Error(Failure<'a>),
}

impl<'a> BodyEvent<'a> {
    /// The event of one frame a body yielded: its trailers, else its data (`data_len` bytes;
    /// `None` for a frame that is neither), `end_stream` when the body says nothing follows.
    pub const fn frame(
        data_len: Option<u64>,
        trailers: Option<&'a HeaderMap>,
        end_stream: bool,
    ) -> Self {
        match trailers {
            Some(trailers) => Self::Trailers(trailers),
            None => Self::Data {
                bytes: match data_len {
                    Some(bytes) => bytes,
                    None => 0,
                },
                end_stream,
            },
        }
    }
}

/// A failure with no response, or of a response body: its low-cardinality kind and the error.
#[derive(Clone, Copy)]
pub struct Failure<'a> {
    kind: Option<FailureKind>,
    error_type: &'static str,
    exception_type: &'static str,
    message: Message<'a>,
}

#[derive(Clone, Copy)]
enum Message<'a> {
    /// Known by its message only (a tower error need not implement `std::error::Error`).
    Display(&'a dyn fmt::Display),
    /// An error with a source chain: the exception's message says the whole chain.
    Error(&'a dyn Error),
}

impl Message<'_> {
    fn top(&self) -> &dyn fmt::Display {
        match self {
            Self::Display(d) => d,
            Self::Error(e) => e,
        }
    }

    fn full(&self) -> String {
        let mut message = self.top().to_string();
        if let Self::Error(error) = self {
            let mut source = error.source();
            while let Some(cause) = source {
                message.push_str(": ");
                message.push_str(&cause.to_string());
                source = cause.source();
            }
        }
        message
    }
}

impl<'a> Failure<'a> {
    /// `error` of `kind`: `error.type` is the kind, the exception's type is `E`'s name and its
    /// message the error's source chain.
    pub fn error<E: Error>(kind: FailureKind, error: &'a E) -> Self {
        Self {
            kind: Some(kind),
            error_type: kind.as_str(),
            exception_type: std::any::type_name::<E>(),
            message: Message::Error(error),
        }
    }

    /// A failure known by its types and message: `error_type` (low-cardinality) and the
    /// exception's type name.
    pub fn display(
        error_type: &'static str,
        exception_type: &'static str,
        error: &'a dyn fmt::Display,
    ) -> Self {
        Self {
            kind: None,
            error_type,
            exception_type,
            message: Message::Display(error),
        }
    }

    /// The `error.type` it records.
    pub const fn error_type(&self) -> &'static str {
        self.error_type
    }
}

impl fmt::Debug for Failure<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Failure")
            .field("error_type", &self.error_type)
            .field("exception_type", &self.exception_type)
            .field("message", &self.message.top().to_string())
            .finish()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http_span::MeasureOptions;
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
            let provider = TracerProvider::builder().build();
            let tracer = provider.tracer("t");
            let instrumentation =
                crate::http_span::HttpInstrumentation::from(&tracer).with_meter_provider(&meters);
            let metrics = instrumentation.metrics().unwrap();
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
