//! The SERVER span of one incoming request, shared by every server integration: extract the
//! caller's context, start the span with what the request head says (by the HTTP or the gRPC
//! rules), record the response, and let the body end it.

use std::borrow::Cow;
use std::fmt;
use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, StatusCode, Uri, Version};

use super::origin::{Forwarded, host_and_user_agent, split_host_port};
use super::{
    HeaderCapture, HttpInstrumentation, InFlight, MeasureOptions, MethodAttributes, PeerAddr, Side,
    UrlRedaction, content_length, interned, ip_text, limit_values, protocol_version,
    route_span_name, text,
};
use crate::propagation::{self, CompositePropagator, Propagator, ScannedHeaders};
use crate::trace::{Link, SpanKind, recycle};
use crate::{Context, KeyValue, SpanContext, semconv};

/// What the server writes about its span into the response headers. Nothing by default, or
/// [`ServerTiming`](Self::ServerTiming) when tail sampling is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ResponseHeader {
    /// Nothing.
    #[default]
    None,
    /// `traceparent` with the SERVER span's id (no `tracestate`, no baggage): lets a caller
    /// without tracing find the trace.
    Traceparent,
    /// The W3C Trace Context Level 3 form, `server-timing: trace;desc=00-{trace-id}-{span-id}-{flags}`
    /// (appended to any `server-timing` the handler set). With tail sampling on, its sampled
    /// flag says whether this service will keep its spans of the trace (head-sampled, a 5xx
    /// answer or an error so far with the `errors` rule, a downstream's keep, or past
    /// `slower_than`), so a caller's client layer can keep its own spans of the trace too.
    ServerTiming,
}

const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
const SERVER_TIMING: HeaderName = HeaderName::from_static("server-timing");

/// The name of the W3C trace metric in `server-timing`, with its parameter.
const TRACE_METRIC: &[u8] = b"trace;desc=";
/// `trace;desc=` and a traceparent.
const SERVER_TIMING_LEN: usize = TRACE_METRIC.len() + 55;

/// A value known now, or found only if something asks for it.
#[derive(Clone, Copy)]
enum Lazy<'a, T> {
    Known(T),
    Later(&'a dyn Fn() -> T),
}

impl<T: Copy> Lazy<'_, T> {
    fn get(&self) -> T {
        match self {
            Self::Known(value) => *value,
            Self::Later(find) => find(),
        }
    }
}

/// The route template, given or found on demand.
#[derive(Clone, Copy)]
enum Route<'a> {
    Known(Option<&'a str>),
    Later(&'a dyn Fn() -> Option<Cow<'a, str>>),
}

/// What a SERVER span reads from an incoming request: its head, the peer's address and the
/// matched route, each as the framework knows it. Values that cost a look-up can be given as a
/// function, called only when a span records or a metric needs them.
///
/// ```
/// let request = http::Request::get("/items/7").header("host", "shop.example:8080").body(()).unwrap();
/// let (parts, ()) = request.into_parts();
/// let view = tracecore::http_span::ServerRequest::from_parts(&parts).with_route(Some("/items/{id}"));
/// # let _ = view;
/// ```
#[derive(Clone, Copy)]
pub struct ServerRequest<'a> {
    method: &'a Method,
    uri: &'a Uri,
    version: Version,
    headers: &'a HeaderMap,
    extensions: Option<&'a http::Extensions>,
    peer: Option<Lazy<'a, Option<SocketAddr>>>,
    route: Route<'a>,
    public: bool,
}

impl<'a> ServerRequest<'a> {
    /// A request with this head.
    pub const fn new(
        method: &'a Method,
        uri: &'a Uri,
        version: Version,
        headers: &'a HeaderMap,
    ) -> Self {
        Self {
            method,
            uri,
            version,
            headers,
            extensions: None,
            peer: None,
            route: Route::Known(None),
            public: false,
        }
    }

    /// The head of an `http` request; a [`PeerAddr`] in its extensions is the peer's address.
    pub const fn from_parts(parts: &'a http::request::Parts) -> Self {
        let mut request = Self::new(&parts.method, &parts.uri, parts.version, &parts.headers);
        request.extensions = Some(&parts.extensions);
        request
    }

    /// The peer's socket address (`client.address`, `network.peer.*`).
    #[must_use]
    pub const fn with_peer(mut self, peer: Option<SocketAddr>) -> Self {
        self.peer = Some(Lazy::Known(peer));
        self
    }

    /// The peer's socket address, found by `find` when a span records (after a [`PeerAddr`] in
    /// the extensions).
    #[must_use]
    pub const fn with_peer_from(mut self, find: &'a dyn Fn() -> Option<SocketAddr>) -> Self {
        self.peer = Some(Lazy::Later(find));
        self
    }

    /// The route template (`/items/{id}`, low-cardinality, never the raw path) that names the
    /// span and is recorded as `http.route`.
    #[must_use]
    pub const fn with_route(mut self, route: Option<&'a str>) -> Self {
        self.route = Route::Known(route);
        self
    }

    /// The route template, found by `find` only when a span records or a metric needs it.
    #[must_use]
    pub const fn with_route_from(mut self, find: &'a dyn Fn() -> Option<Cow<'a, str>>) -> Self {
        self.route = Route::Later(find);
        self
    }

    /// Marks a public endpoint: the incoming context is not adopted. The SERVER span starts a
    /// new trace with a link to the caller's span, and the incoming baggage is dropped.
    #[must_use]
    pub const fn with_public_endpoint(mut self, public: bool) -> Self {
        self.public = public;
        self
    }

    /// Whether this is a gRPC call (a POST with a gRPC `content-type`): its span follows the
    /// RPC rules ([`crate::rpc`]).
    pub fn is_grpc(&self) -> bool {
        // gRPC calls are POSTs: other requests skip the content-type lookup.
        *self.method == Method::POST && crate::rpc::is_grpc(self.headers)
    }

    fn peer(&self) -> Option<SocketAddr> {
        if let Some(PeerAddr(addr)) = self.extensions.and_then(|e| e.get::<PeerAddr>()) {
            return Some(*addr);
        }
        self.peer.and_then(|peer| peer.get())
    }

    fn route(&self) -> Option<Cow<'static, str>> {
        match self.route {
            Route::Known(route) => route.map(interned),
            Route::Later(find) => find().map(|r| interned(&r)),
        }
    }
}

impl fmt::Debug for ServerRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerRequest")
            .field("method", self.method)
            .field("uri", self.uri)
            .field("version", &self.version)
            .field("public", &self.public)
            .finish_non_exhaustive()
    }
}

/// How a server is traced: the instrumentation, the propagator, redaction, trust and opt-in
/// captures. Every server integration is an adapter over it. Cheap to clone.
///
/// ```
/// use http::StatusCode;
/// use tracecore::export::InMemoryExporter;
/// use tracecore::http_span::{ServerRequest, ServerTracing};
/// use tracecore::trace::{SpanKind, TracerProvider};
///
/// let exporter = InMemoryExporter::new();
/// let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
/// let tracing = ServerTracing::new(provider.tracer("api"));
///
/// let request = http::Request::get("/items/7")
///     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
///     .body(())
///     .unwrap();
/// let (parts, ()) = request.into_parts();
/// let (cx, mut in_flight) = tracing.start(&ServerRequest::from_parts(&parts).with_route(Some("/items/{id}")));
/// // ... the handler runs inside `cx` ...
/// let mut headers = http::HeaderMap::new();
/// tracing.record_response(&mut in_flight, StatusCode::OK, &mut headers);
/// in_flight.finish();
///
/// let spans = exporter.finished_spans();
/// let span = spans.named("GET /items/{id}");
/// assert_eq!(span.kind, SpanKind::Server);
/// assert_eq!(span.parent_span_id.unwrap().to_string(), "00f067aa0ba902b7");
/// assert_eq!(cx.span_context().unwrap().span_id(), span.span_context.span_id());
/// ```
#[derive(Clone, Debug)]
pub struct ServerTracing {
    instrumentation: HttpInstrumentation,
    propagator: CompositePropagator,
    /// `None`: not chosen, so [`ResponseHeader::ServerTiming`] with tail sampling on, else
    /// nothing.
    response_header: Option<ResponseHeader>,
    request_headers: HeaderCapture,
    response_headers: HeaderCapture,
    rpc_request_metadata: HeaderCapture,
    rpc_response_metadata: HeaderCapture,
    redaction: UrlRedaction,
    trusted_proxy: bool,
    active_requests: bool,
    body_sizes: bool,
    max_value_length: usize,
}

impl ServerTracing {
    /// Traces with `instrumentation` (a [`Tracer`](crate::trace::Tracer), or an
    /// [`HttpInstrumentation`] that records the HTTP metrics too), extracting with
    /// `OTEL_PROPAGATORS` (default: W3C trace context and baggage).
    pub fn new(instrumentation: impl Into<HttpInstrumentation>) -> Self {
        Self {
            instrumentation: instrumentation.into(),
            propagator: propagation::from_env(),
            response_header: None,
            request_headers: HeaderCapture::default(),
            response_headers: HeaderCapture::default(),
            rpc_request_metadata: HeaderCapture::default(),
            rpc_response_metadata: HeaderCapture::default(),
            redaction: UrlRedaction::default(),
            trusted_proxy: false,
            active_requests: false,
            body_sizes: false,
            max_value_length: super::DEFAULT_MAX_VALUE_LENGTH,
        }
    }

    /// Extracts with `propagator` instead.
    #[must_use]
    pub fn with_propagator(mut self, propagator: CompositePropagator) -> Self {
        self.propagator = propagator;
        self
    }

    /// Also counts the requests in flight in `http.server.active_requests` (opt-in, as the
    /// conventions have it), when the instrumentation records metrics.
    #[must_use]
    pub const fn with_active_requests(mut self, on: bool) -> Self {
        self.active_requests = on;
        self
    }

    /// Also records `http.server.request.body.size` (from `Content-Length`) and
    /// `http.server.response.body.size` (the bytes the body sends) (opt-in), when the
    /// instrumentation records metrics.
    #[must_use]
    pub const fn with_body_sizes(mut self, on: bool) -> Self {
        self.body_sizes = on;
        self
    }

    /// Cuts values taken from the request and the response (`url.path`, `url.query`, the user
    /// agent, `server.address`, `client.address`, captured headers) to `max` characters instead
    /// of [`DEFAULT_MAX_VALUE_LENGTH`](super::DEFAULT_MAX_VALUE_LENGTH), so that no request makes
    /// a span hold more. The span limits (`OTEL_*_ATTRIBUTE_VALUE_LENGTH_LIMIT`) still apply on
    /// top.
    #[must_use]
    pub const fn with_max_value_length(mut self, max: usize) -> Self {
        self.max_value_length = max;
        self
    }

    /// Writes the SERVER span's identity into the response (see [`ResponseHeader`]);
    /// `ResponseHeader::None` turns off the `server-timing` tail sampling writes by default.
    #[must_use]
    pub const fn with_response_header(mut self, header: ResponseHeader) -> Self {
        self.response_header = Some(header);
        self
    }

    /// Records these request headers as `http.request.header.<key>` (at span start).
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

    /// Records these metadata keys of gRPC calls (opt-in, as the conventions have it): the
    /// request's as `rpc.request.metadata.<key>` ([`HeaderCapture::rpc_request`]) at span start,
    /// the response headers' as `rpc.response.metadata.<key>` ([`HeaderCapture::rpc_response`]).
    #[must_use]
    pub fn with_rpc_metadata(mut self, request: HeaderCapture, response: HeaderCapture) -> Self {
        self.rpc_request_metadata = request;
        self.rpc_response_metadata = response;
        self
    }

    /// Redacts query parameters by this list instead of the default one.
    #[must_use]
    pub fn with_url_redaction(mut self, redaction: UrlRedaction) -> Self {
        self.redaction = redaction;
        self
    }

    /// Trusts `Forwarded`, `X-Forwarded-For`, `X-Forwarded-Host` and `X-Forwarded-Proto` for
    /// `client.address`, `server.address` and `url.scheme`. Only for a server that is reachable
    /// solely through a proxy that sets them: otherwise any caller can forge them. Off by
    /// default.
    #[must_use]
    pub const fn with_trusted_proxy(mut self, trusted: bool) -> Self {
        self.trusted_proxy = trusted;
        self
    }

    /// The instrumentation (tracer and metrics).
    pub const fn instrumentation(&self) -> &HttpInstrumentation {
        &self.instrumentation
    }

    /// The propagator.
    pub const fn propagator(&self) -> &CompositePropagator {
        &self.propagator
    }

    /// Starts the SERVER span of `request`: the caller's context is extracted from its headers
    /// (a valid `traceparent` makes the caller's span the parent; without one, or with an
    /// invalid one, a new trace starts; a public endpoint starts a new trace linked to the
    /// caller's span). Returns the context the application runs in (the caller's, with this
    /// span current) and the span with its duration measurement, to end when the response body
    /// is done ([`InFlight::body_event`]).
    pub fn start(&self, request: &ServerRequest<'_>) -> (Context, InFlight) {
        let incoming = self
            .propagator
            .extract(&ScannedHeaders::new(request.headers));
        let (parent, link) = if request.public {
            (Context::new(), incoming.span_context().cloned())
        } else {
            (incoming, None)
        };
        let in_flight = if request.is_grpc() {
            self.start_rpc_span(request, &parent, link)
        } else {
            self.start_span(request, &parent, link)
        };
        let cx = match in_flight.span() {
            Some(span) => span.context(&parent),
            None => parent,
        };
        (cx, in_flight)
    }

    /// Starts the SERVER span of an HTTP request, and its duration measurement when the
    /// instrumentation records metrics.
    fn start_span(
        &self,
        request: &ServerRequest<'_>,
        parent: &Context,
        link: Option<SpanContext>,
    ) -> InFlight {
        let MethodAttributes {
            known,
            method,
            original,
        } = MethodAttributes::new(request.method);
        // Looked up and interned once, for the attribute and the metric key alike; only when
        // something uses it: the metrics now, else a span once it is known to record.
        let metrics = self.instrumentation.metrics();
        let route_now = metrics.and_then(|_| request.route());
        let uri = request.uri;
        let headers = request.headers;
        let forwarded = if self.trusted_proxy {
            Forwarded::from_headers(headers)
        } else {
            Forwarded::default()
        };
        let scheme: &'static str = match forwarded.proto.or(uri.scheme_str()) {
            Some(s) if s.eq_ignore_ascii_case("https") => "https",
            _ => "http",
        };
        let version = protocol_version(request.version);
        // Built only for a span that records (the built-in samplers do not read them).
        let attributes = |route: Option<Cow<'static, str>>| {
            let mut attributes = recycle::take(16);
            attributes.push(method);
            attributes.extend(original);
            if let Some(route) = route {
                attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route));
            }
            attributes.push(KeyValue::new(
                semconv::URL_PATH,
                recycle::string(uri.path()),
            ));
            if let Some(query) = uri.query() {
                let query = recycle::string(&self.redaction.query(query));
                attributes.push(KeyValue::new(semconv::URL_QUERY, query));
            }
            attributes.push(KeyValue::new(semconv::URL_SCHEME, scheme));
            let (host_header, user_agent) = host_and_user_agent(headers);
            let host = forwarded
                .host
                .or_else(|| uri.authority().map(|a| a.as_str()))
                .or_else(|| host_header.and_then(|h| h.to_str().ok()));
            if let Some((address, port)) = host.and_then(split_host_port) {
                attributes.push(KeyValue::new(
                    semconv::SERVER_ADDRESS,
                    recycle::string(address),
                ));
                let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
                attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
            let peer = request.peer();
            let client = forwarded
                .client
                .map(recycle::string)
                .or_else(|| peer.map(|p| ip_text(p.ip())));
            if let Some(client) = client {
                attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, client));
            }
            if let Some(peer) = peer {
                push_peer(&mut attributes, peer);
            }
            if let Some(version) = version {
                attributes.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
            }
            if let Some(ua) = user_agent {
                let ua = text(ua.as_bytes());
                attributes.push(KeyValue::new(semconv::USER_AGENT_ORIGINAL, ua));
            }
            if !self.request_headers.is_empty() {
                attributes.extend(self.request_headers.attributes(headers));
            }
            limit_values(&mut attributes, self.max_value_length);
            attributes
        };

        let measure = metrics.and_then(|metrics| {
            let route = route_now.clone();
            let options = MeasureOptions::NONE
                .with_active_requests(self.active_requests)
                .with_body_sizes(self.body_sizes);
            let mut measure = metrics.server(known, scheme, route, version, options)?;
            if self.body_sizes
                && let Some(length) = content_length(headers)
            {
                measure.set_request_body_size(length);
            }
            Some(measure)
        });
        // The name, like the attributes, is made only for a span that records.
        let mut builder = self
            .instrumentation
            .tracer()
            .span_builder(known)
            .with_kind(SpanKind::Server);
        if let Some(link) = link {
            builder = builder.with_link(Link::new(link, Vec::new()));
        }
        if let Some(measure) = &measure {
            builder = builder.with_start_instant(measure.start());
        }
        InFlight::measured(
            builder.start_described(parent, || {
                let route = if metrics.is_some() {
                    route_now
                } else {
                    request.route()
                };
                (route_span_name(known, route.as_ref()), attributes(route))
            }),
            measure,
        )
    }

    /// Starts the SERVER span of a gRPC call (by the RPC rules: [`crate::rpc`]): named by its
    /// fully qualified method, with `rpc.system.name`, `rpc.method`, `server.*` and
    /// `network.peer.*`; its status comes from `grpc-status` when the call ends.
    fn start_rpc_span(
        &self,
        request: &ServerRequest<'_>,
        parent: &Context,
        link: Option<SpanContext>,
    ) -> InFlight {
        let path = request.uri.path();
        // A method longer than any value is kept is no method a service declares.
        let method = crate::rpc::method(path).filter(|m| m.len() <= self.max_value_length);
        let mut builder = self
            .instrumentation
            .tracer()
            .span_builder(crate::rpc::GRPC)
            .with_kind(SpanKind::Server);
        if let Some(link) = link {
            builder = builder.with_link(Link::new(link, Vec::new()));
        }
        let describe = || {
            let mut attributes = recycle::take(8);
            // Copied, not interned: until the service answers, the path is only what the
            // caller sent.
            let method = method.map(|m| Cow::Owned(recycle::string(m)));
            let name = crate::rpc::method_attributes(&mut attributes, method, path);
            let host = request.uri.authority().map(|a| a.as_str()).or_else(|| {
                request
                    .headers
                    .get(header::HOST)
                    .and_then(|h| h.to_str().ok())
            });
            if let Some((address, port)) = host.and_then(split_host_port) {
                attributes.push(KeyValue::new(
                    semconv::SERVER_ADDRESS,
                    recycle::string(address),
                ));
                if let Some(port) = port {
                    attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
                }
            }
            if let Some(peer) = request.peer() {
                push_peer(&mut attributes, peer);
            }
            if !self.rpc_request_metadata.is_empty() {
                attributes.extend(self.rpc_request_metadata.attributes(request.headers));
            }
            limit_values(&mut attributes, self.max_value_length);
            (name, attributes)
        };
        let measure = self.instrumentation.metrics().and_then(|metrics| {
            let method = method.map(|m| Cow::Owned(m.to_owned()));
            metrics.rpc(Side::Server, method, None, None)
        });
        let start = measure
            .as_ref()
            .map_or_else(std::time::Instant::now, |m| m.start());
        builder = builder.with_start_instant(start);
        let mut call = InFlight::rpc(
            builder.start_described(parent, describe),
            Side::Server,
            measure,
        );
        let timeout = request.headers.get("grpc-timeout");
        // A timeout too far to represent (up to 99,999,999 hours may be sent) is no deadline.
        if let Some(deadline) = timeout
            .and_then(|t| crate::rpc::parse_timeout(t.as_bytes()))
            .and_then(|t| start.checked_add(t))
        {
            call.set_rpc_deadline(deadline);
        }
        call
    }

    /// Records the response head on the SERVER span: `http.response.status_code` and the status
    /// by the server's rules (5xx is an error, 4xx is not), a trailers-only gRPC response's
    /// `grpc-status`, the captured response headers; then writes the span's identity into
    /// `headers` as [`ResponseHeader`] says.
    pub fn record_response(
        &self,
        in_flight: &mut InFlight,
        status: StatusCode,
        headers: &mut HeaderMap,
    ) {
        in_flight.record_response(Side::Server, status);
        // A trailers-only gRPC response carries its status in the headers.
        if in_flight.is_rpc()
            && let Some((code, message)) = crate::rpc::status(headers)
        {
            in_flight.record_rpc_status(code, message.as_deref());
        }
        let Some(span) = in_flight.span() else {
            return;
        };
        let capture = if in_flight.is_rpc() {
            &self.rpc_response_metadata
        } else {
            &self.response_headers
        };
        if !capture.is_empty() && span.is_recording() {
            let mut captured = capture.attributes(headers);
            limit_values(&mut captured, self.max_value_length);
            span.set_attributes(captured);
        }
        let tail = self.instrumentation.tracer().tail_sampling().is_some();
        let header = self.response_header.unwrap_or(if tail {
            ResponseHeader::ServerTiming
        } else {
            ResponseHeader::None
        });
        let sc = span.span_context();
        let value = match header {
            ResponseHeader::None => return,
            ResponseHeader::Traceparent => HeaderValue::from_bytes(sc.traceparent().as_bytes()),
            ResponseHeader::ServerTiming => {
                // With tail sampling on, the sampled flag says whether this service keeps its
                // spans of the trace.
                let kept = tail && span.span_ref().local_trace_kept(status.is_server_error());
                let flags = if tail {
                    sc.flags().with_sampled(kept)
                } else {
                    sc.flags()
                };
                let mut value = [0u8; SERVER_TIMING_LEN];
                let (metric, rest) = value.split_at_mut(TRACE_METRIC.len());
                metric.copy_from_slice(TRACE_METRIC);
                if let Ok(rest) = <&mut [u8; 55]>::try_from(rest) {
                    sc.write_traceparent(flags, rest);
                }
                HeaderValue::from_bytes(&value)
            }
        };
        // A traceparent is always a valid header value. One `traceparent` only; a
        // `server-timing` the handler set is kept.
        if let Ok(value) = value {
            if header == ResponseHeader::Traceparent {
                headers.insert(TRACEPARENT, value);
            } else {
                headers.append(SERVER_TIMING, value);
            }
        }
    }
}

/// `network.peer.address` and `network.peer.port`.
fn push_peer(attributes: &mut Vec<KeyValue>, peer: SocketAddr) {
    attributes.push(KeyValue::new(
        semconv::NETWORK_PEER_ADDRESS,
        ip_text(peer.ip()),
    ));
    attributes.push(KeyValue::new(
        semconv::NETWORK_PEER_PORT,
        i64::from(peer.port()),
    ));
}
