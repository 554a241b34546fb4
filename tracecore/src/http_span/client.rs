//! The CLIENT span of one outgoing request, shared by every HTTP client integration (the tower
//! client layer, the reqwest middleware): start, inject, record the response or the failure, end.

use std::error::Error;

use http::{HeaderMap, Method, StatusCode, Version, header};

use super::{
    BodyEvent, FailureKind, HeaderCapture, HttpInstrumentation, InFlight, MethodAttributes, Side,
    UrlRedaction, content_length, protocol_version,
};
use crate::propagation::{self, CompositePropagator, Propagator};
use crate::trace::{Span, SpanKind, Tracer, recycle};
use crate::{Context, KeyValue, semconv};

/// The CLIENT span attribute that says the server kept the trace (tail sampling).
pub const DOWNSTREAM_KEPT: &str = "tracecore.tail_sampling.downstream_kept";

/// What a CLIENT span needs to know about a request before it is sent.
#[derive(Clone, Copy, Debug)]
pub struct ClientRequest<'a> {
    method: &'a Method,
    url: &'a str,
    host: Option<&'a str>,
    port: Option<u16>,
    template: Option<&'a str>,
    resend_count: u32,
    trusted: bool,
}

impl<'a> ClientRequest<'a> {
    /// A request for the absolute `url`, with its host and explicit port as the client parsed
    /// them. `server.port` is the explicit port, else the scheme's default (80 for `http`, 443
    /// for `https`), else absent.
    pub const fn new(
        method: &'a Method,
        url: &'a str,
        host: Option<&'a str>,
        port: Option<u16>,
    ) -> Self {
        Self {
            method,
            url,
            host,
            port,
            template: None,
            resend_count: 0,
            trusted: true,
        }
    }

    /// A low-cardinality URL template (`/items/{id}`): the span is named `{method} {template}`
    /// and records `url.template`.
    #[must_use]
    pub const fn with_template(mut self, template: Option<&'a str>) -> Self {
        self.template = template;
        self
    }

    /// The ordinal of this attempt's resend: 0 for the first attempt, 1 for the first retry...
    #[must_use]
    pub const fn with_resend_count(mut self, resend_count: u32) -> Self {
        self.resend_count = resend_count;
        self
    }

    /// Whether the server is trusted to say it kept the trace (`server-timing`'s trace metric,
    /// read with tail sampling on): `true` by default, since the client chose to call it. Mark
    /// a third party's server `false`, so that its answer cannot make this service keep traces.
    #[must_use]
    pub const fn with_trusted_downstream(mut self, trusted: bool) -> Self {
        self.trusted = trusted;
        self
    }

    fn port(&self) -> Option<u16> {
        self.port.or_else(|| {
            let scheme = self.url.split_once("://")?.0;
            if scheme.eq_ignore_ascii_case("https") {
                Some(443)
            } else if scheme.eq_ignore_ascii_case("http") {
                Some(80)
            } else {
                None
            }
        })
    }
}

/// How an HTTP client is traced: the tracer, the propagator, redaction and opt-in captures.
/// Cheap to clone.
///
/// ```
/// use http::{HeaderMap, Method, StatusCode, Version};
/// use tracecore::http_span::{ClientRequest, ClientTracing};
/// use tracecore::trace::TracerProvider;
/// use tracecore::Context;
///
/// let provider = TracerProvider::builder().build();
/// let tracing = ClientTracing::new(provider.tracer("my-client"));
/// let mut headers = HeaderMap::new();
/// let request = ClientRequest::new(&Method::GET, "http://localhost:8080/items/7", Some("localhost"), Some(8080));
/// let mut span = tracing.start(&Context::new(), &request, &mut headers);
/// let sent = headers["traceparent"].to_str().unwrap();
/// assert!(sent.contains(&span.span().span_context().span_id().to_string()));
/// span.record_response(StatusCode::NOT_FOUND, Version::HTTP_11, &HeaderMap::new());
/// span.end();
/// ```
#[derive(Clone, Debug)]
pub struct ClientTracing {
    instrumentation: HttpInstrumentation,
    propagator: CompositePropagator,
    redaction: UrlRedaction,
    request_headers: HeaderCapture,
    response_headers: HeaderCapture,
    rpc_request_metadata: HeaderCapture,
    rpc_response_metadata: HeaderCapture,
    user_agent: bool,
    body_sizes: bool,
    max_value_length: usize,
    trusted_downstreams: bool,
}

impl ClientTracing {
    /// Traces with `instrumentation` (a [`Tracer`], or an [`HttpInstrumentation`] that records
    /// the HTTP metrics too), propagating with `OTEL_PROPAGATORS` (default: W3C trace context
    /// and baggage).
    pub fn new(instrumentation: impl Into<HttpInstrumentation>) -> Self {
        Self {
            instrumentation: instrumentation.into(),
            propagator: propagation::from_env(),
            redaction: UrlRedaction::default(),
            request_headers: HeaderCapture::default(),
            response_headers: HeaderCapture::default(),
            rpc_request_metadata: HeaderCapture::default(),
            rpc_response_metadata: HeaderCapture::default(),
            user_agent: false,
            body_sizes: false,
            max_value_length: super::DEFAULT_MAX_VALUE_LENGTH,
            trusted_downstreams: true,
        }
    }

    /// Whether the servers this client calls are trusted to say they kept a trace (default
    /// `true`): with tail sampling on, a trusted server's `server-timing` trace metric with the
    /// sampled flag keeps this process's spans of the trace. `false` for a client that calls
    /// third parties; per request, [`UntrustedDownstream`](super::UntrustedDownstream).
    #[must_use]
    pub fn with_trusted_downstreams(mut self, trusted: bool) -> Self {
        self.trusted_downstreams = trusted;
        self
    }

    /// Cuts values taken from the request and the response (`url.full`, `server.address`, the
    /// user agent, captured headers) to `max` characters instead of
    /// [`DEFAULT_MAX_VALUE_LENGTH`](super::DEFAULT_MAX_VALUE_LENGTH). The span limits
    /// (`OTEL_*_ATTRIBUTE_VALUE_LENGTH_LIMIT`) still apply on top.
    #[must_use]
    pub fn with_max_value_length(mut self, max: usize) -> Self {
        self.max_value_length = max;
        self
    }

    /// Also records `http.client.request.body.size` and `http.client.response.body.size`
    /// (opt-in), when the tracer's provider records metrics.
    #[must_use]
    pub fn with_body_sizes(mut self, on: bool) -> Self {
        self.body_sizes = on;
        self
    }

    /// Propagates with `propagator` instead.
    #[must_use]
    pub fn with_propagator(mut self, propagator: CompositePropagator) -> Self {
        self.propagator = propagator;
        self
    }

    /// Redacts query parameters by this list instead of the default one.
    #[must_use]
    pub fn with_url_redaction(mut self, redaction: UrlRedaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Records these request headers as `http.request.header.<key>`.
    #[must_use]
    pub fn with_request_headers(mut self, capture: HeaderCapture) -> Self {
        self.request_headers = capture;
        self
    }

    /// Records these response headers as `http.response.header.<key>`.
    #[must_use]
    pub fn with_response_headers(mut self, capture: HeaderCapture) -> Self {
        self.response_headers = capture;
        self
    }

    /// Records these metadata keys of gRPC calls (opt-in): the request's as
    /// `rpc.request.metadata.<key>` ([`HeaderCapture::rpc_request`]), the response headers' as
    /// `rpc.response.metadata.<key>` ([`HeaderCapture::rpc_response`]).
    #[must_use]
    pub fn with_rpc_metadata(mut self, request: HeaderCapture, response: HeaderCapture) -> Self {
        self.rpc_request_metadata = request;
        self.rpc_response_metadata = response;
        self
    }

    /// Records `user_agent.original` (opt-in on the client side).
    #[must_use]
    pub fn with_user_agent(mut self, record: bool) -> Self {
        self.user_agent = record;
        self
    }

    /// The tracer.
    pub const fn tracer(&self) -> &Tracer {
        self.instrumentation.tracer()
    }

    /// The instrumentation (tracer and metrics).
    pub const fn instrumentation(&self) -> &HttpInstrumentation {
        &self.instrumentation
    }

    /// The propagator.
    pub fn propagator(&self) -> &CompositePropagator {
        &self.propagator
    }

    /// Starts the CLIENT span of `request` as a child of `parent`'s span (a new trace when it has
    /// none) and injects it into `headers`.
    pub fn start(
        &self,
        parent: &Context,
        request: &ClientRequest<'_>,
        headers: &mut HeaderMap,
    ) -> ClientSpan {
        let span = self.start_span(parent, request, headers);
        self.propagator
            .inject_context(&span.span().context(parent), headers);
        span
    }

    /// Starts the CLIENT span without injecting anything (per-request opt-out of propagation).
    pub fn start_span(
        &self,
        parent: &Context,
        request: &ClientRequest<'_>,
        headers: &HeaderMap,
    ) -> ClientSpan {
        let MethodAttributes {
            known,
            method,
            original,
        } = MethodAttributes::new(request.method);
        // One list, kept by the span as it is, built only for a span that records (the
        // built-in samplers do not read it); the name likewise.
        let attributes = || {
            let mut attributes = recycle::take(12);
            attributes.push(method);
            attributes.extend(original);
            let url = recycle::string(&self.redaction.url(request.url));
            attributes.push(KeyValue::new(semconv::URL_FULL, url));
            if let Some(host) = request.host {
                let host = recycle::string(host);
                attributes.push(KeyValue::new(semconv::SERVER_ADDRESS, host));
                if let Some(port) = request.port() {
                    attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
                }
            }
            if let Some(template) = request.template {
                attributes.push(KeyValue::new(
                    semconv::URL_TEMPLATE,
                    super::route_value(template),
                ));
            }
            if request.resend_count > 0 {
                let count = i64::from(request.resend_count);
                attributes.push(KeyValue::new(semconv::HTTP_REQUEST_RESEND_COUNT, count));
            }
            if let Some(ua) = headers.get(header::USER_AGENT).filter(|_| self.user_agent) {
                let ua = super::text(ua.as_bytes());
                attributes.push(KeyValue::new(semconv::USER_AGENT_ORIGINAL, ua));
            }
            if !self.request_headers.is_empty() {
                attributes.extend(self.request_headers.attributes(headers));
            }
            super::limit_values(&mut attributes, self.max_value_length);
            attributes
        };
        let measure = self.instrumentation.metrics().and_then(|m| {
            let options = super::MeasureOptions::NONE.with_body_sizes(self.body_sizes);
            m.client(
                known,
                request.host.map(super::interned),
                request.port(),
                options,
            )
        });
        let mut builder = self
            .instrumentation
            .tracer()
            .span_builder(known)
            .with_kind(SpanKind::Client);
        if let Some(measure) = &measure {
            builder = builder.with_start_instant(measure.start());
        }
        let span = builder.start_described(parent, || {
            (super::span_name(known, request.template), attributes())
        });
        ClientSpan {
            span: InFlight::measured(span, measure),
            response_headers: (!self.response_headers.is_empty())
                .then(|| (self.response_headers.clone(), self.max_value_length)),
            reads_downstream: self.reads_downstream(request),
        }
    }

    /// Starts the CLIENT span of a gRPC call (by the RPC rules: [`crate::rpc`]) to the method
    /// in `path` (`/inventory.v1.Inventory/GetItem`), and injects its context into `headers`:
    /// named by the method, with `rpc.system.name`, `rpc.method` and `server.*`. Its status
    /// comes from `grpc-status` ([`ClientSpan::record_rpc_status`]) when the call ends.
    pub fn start_rpc(
        &self,
        parent: &Context,
        request: &ClientRequest<'_>,
        path: &str,
        headers: &mut HeaderMap,
    ) -> ClientSpan {
        let span = self.start_rpc_span(parent, request, path, headers);
        self.propagator
            .inject_context(&span.span().context(parent), headers);
        span
    }

    /// Starts a gRPC call's CLIENT span without injecting anything (per-request opt-out of
    /// propagation).
    pub fn start_rpc_span(
        &self,
        parent: &Context,
        request: &ClientRequest<'_>,
        path: &str,
        headers: &HeaderMap,
    ) -> ClientSpan {
        let method = crate::rpc::method(path).filter(|m| m.len() <= self.max_value_length);
        let describe = || {
            let mut attributes = recycle::take(6);
            // Interned: the caller's own methods, a few per service it calls.
            let name =
                crate::rpc::method_attributes(&mut attributes, method.map(super::interned), path);
            if let Some(host) = request.host {
                // Interned, as the duration's key has it: the channels a program opens.
                attributes.push(KeyValue::new(
                    semconv::SERVER_ADDRESS,
                    super::interned(host),
                ));
                if let Some(port) = request.port() {
                    attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
                }
            }
            if !self.rpc_request_metadata.is_empty() {
                attributes.extend(self.rpc_request_metadata.attributes(headers));
            }
            super::limit_values(&mut attributes, self.max_value_length);
            (name, attributes)
        };
        let measure = self.instrumentation.metrics().and_then(|m| {
            m.rpc(
                Side::Client,
                method.map(super::interned),
                request.host.map(super::interned),
                request.port(),
            )
        });
        let mut builder = self
            .instrumentation
            .tracer()
            .span_builder(crate::rpc::GRPC)
            .with_kind(SpanKind::Client);
        if let Some(measure) = &measure {
            builder = builder.with_start_instant(measure.start());
        }
        let span = builder.start_described(parent, describe);
        ClientSpan {
            span: InFlight::rpc(span, Side::Client, measure),
            response_headers: (!self.rpc_response_metadata.is_empty())
                .then(|| (self.rpc_response_metadata.clone(), self.max_value_length)),
            reads_downstream: self.reads_downstream(request),
        }
    }

    /// Whether the response's `server-timing` trace metric is read: tail sampling on and the
    /// server trusted.
    fn reads_downstream(&self, request: &ClientRequest<'_>) -> bool {
        self.trusted_downstreams
            && request.trusted
            && self.instrumentation.tracer().tail_sampling().is_some()
    }

    /// Injects `parent` as it is, with no span of its own (per-request opt-out of the span).
    pub fn inject_only(&self, parent: &Context, headers: &mut HeaderMap) {
        self.propagator.inject_context(parent, headers);
    }
}

/// The CLIENT span of one request in flight. Ends on [`end`](Self::end); dropped before that (the
/// caller gave up on the request), it ends marked cancelled: no error status, the attribute
/// `tracecore.cancelled = true`.
#[derive(Debug)]
pub struct ClientSpan {
    span: InFlight,
    response_headers: Option<(HeaderCapture, usize)>,
    /// Whether a downstream's `server-timing` can make this process keep the trace.
    reads_downstream: bool,
}

impl ClientSpan {
    /// The span.
    pub fn span(&self) -> &Span {
        // Only `end` and `drop` take the span, and both consume `self`.
        self.span.span().expect("span present until end")
    }

    /// Records the response: `http.response.status_code`, `network.protocol.version`, captured
    /// headers, and for 4xx and 5xx status Error with `error.type` = the code; the same on the
    /// duration measurement.
    ///
    /// For a gRPC call the HTTP status only stands in for a missing `grpc-status`, and a
    /// trailers-only response's `grpc-status` is recorded from `headers`.
    pub fn record_response(&mut self, status: StatusCode, version: Version, headers: &HeaderMap) {
        if self.reads_downstream {
            self.read_downstream(headers);
        }
        if self.span.is_rpc() {
            if let Some((capture, max)) = &self.response_headers
                && self.span().is_recording()
            {
                let mut captured = capture.attributes(headers);
                super::limit_values(&mut captured, *max);
                self.span().set_attributes(captured);
            }
            self.span.record_response(Side::Client, status);
            if let Some((code, message)) = crate::rpc::status(headers) {
                self.span.record_rpc_status(code, message.as_deref());
            }
            return;
        }
        let protocol = protocol_version(version);
        if let Some(measure) = self.span.measure_mut() {
            measure.set_protocol(protocol);
            if let Some(length) = content_length(headers) {
                measure.set_response_body_size(length);
            }
        }
        let span = self.span();
        if span.is_recording() {
            if let Some(v) = protocol {
                span.set_attribute(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, v));
            }
            if let Some((capture, max)) = &self.response_headers {
                let mut captured = capture.attributes(headers);
                super::limit_values(&mut captured, *max);
                span.set_attributes(captured);
            }
        }
        self.span.record_response(Side::Client, status);
    }

    /// With tail sampling on: a downstream that says (in `server-timing`) it kept this trace
    /// makes this process keep its spans of the trace too, recorded on the CLIENT span as
    /// `tracecore.tail_sampling.downstream_kept = true`. Another trace's metric is ignored.
    fn read_downstream(&self, headers: &HeaderMap) {
        let span = self.span();
        if let Some(theirs) = super::downstream_trace(headers)
            && theirs.is_sampled()
            && span.span_context().trace_id().eq(&theirs.trace_id())
        {
            span.set_attribute(KeyValue::new(DOWNSTREAM_KEPT, true));
            span.keep_local_trace();
        }
    }

    /// Records a failure with no response: status Error, `error.type` from `kind`, and an
    /// `exception` event; `error.type` on the duration measurement.
    ///
    /// A gRPC call that failed so ends `DEADLINE_EXCEEDED` (a timeout) or `UNAVAILABLE`, with
    /// the error as the description.
    pub fn record_failure<E: Error + ?Sized>(&mut self, kind: FailureKind, error: &E) {
        if self.span.is_rpc() {
            let code = match kind {
                FailureKind::Timeout => crate::rpc::GrpcCode::DeadlineExceeded,
                _ => crate::rpc::GrpcCode::Unavailable,
            };
            self.span.record_rpc_status(code, Some(&error.to_string()));
            return;
        }
        kind.record(&self.span().span_ref(), error);
        if let Some(measure) = self.span.measure_mut() {
            measure.failure(kind.as_str());
        }
    }

    /// Whether this is a gRPC call's span ([`ClientTracing::start_rpc`]): it ends when the
    /// response body's trailers (its `grpc-status`) have been read.
    pub fn is_rpc(&self) -> bool {
        self.span.is_rpc()
    }

    /// Records the status a gRPC call ended with (see [`InFlight::record_rpc_status`]).
    pub fn record_rpc_status(&mut self, code: crate::rpc::GrpcCode, message: Option<&str>) {
        self.span.record_rpc_status(code, message);
    }

    /// The request body's size, for `http.client.request.body.size` (when body sizes are on).
    pub fn set_request_body_size(&mut self, bytes: u64) {
        if let Some(measure) = self.span.measure_mut() {
            measure.set_request_body_size(bytes);
        }
    }

    /// Counts `bytes` more of the response body (for a body read as it streams, when its
    /// length was not given).
    pub fn add_response_body_bytes(&mut self, bytes: u64) {
        if let Some(measure) = self.span.measure_mut() {
            measure.add_response_body_bytes(bytes);
        }
    }

    /// Records what the response body did ([`InFlight::body_event`]): its data counts towards
    /// `http.client.response.body.size` when the response gave no `Content-Length`, a gRPC
    /// call's trailers carry its status, and the span ends with the body's last frame or error.
    /// Returns whether the span has ended.
    pub fn body_event(&mut self, event: BodyEvent<'_>) -> bool {
        self.span.body_event(event)
    }

    /// Guards a poll of the response body: a panic in it ends the span as failed (see
    /// [`InFlight::guard_panic`]).
    pub fn guard_panic(&mut self, what: &'static str) -> super::PanicGuard<'_> {
        self.span.guard_panic(what)
    }

    /// Whether the span still reads the response body after the head
    /// ([`end_with_response`](Self::end_with_response) would keep it): a gRPC call, or a
    /// response whose size is measured and was not given by `Content-Length`.
    pub fn reads_body(&mut self) -> bool {
        self.span.is_rpc()
            || self
                .span
                .measure_mut()
                .is_some_and(|m| m.awaits_response_body_size())
    }

    /// Ends the span now, with the response head, unless its response body is still to be
    /// read for it: a gRPC call's status comes with the trailers, and a response without
    /// `Content-Length` is counted as it streams when body sizes are measured (the span and the
    /// duration still end now, only the size is recorded later). `body_done`: the body is
    /// already at its end. Returns the span when the body is to be fed to
    /// [`body_event`](Self::body_event).
    pub fn end_with_response(mut self, body_done: bool) -> Option<Self> {
        if !body_done {
            if self.span.is_rpc() {
                return Some(self);
            }
            if let Some(measure) = self.span.measure_mut()
                && measure.awaits_response_body_size()
            {
                measure.set_response_end(std::time::Instant::now());
                return Some(self);
            }
        }
        self.span.finish();
        None
    }

    /// Ends the span.
    pub fn end(mut self) {
        self.span.finish();
    }
}
