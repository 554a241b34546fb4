//! The HTTP metrics, recorded by the same integrations that record the spans
//! ([semconv HTTP metrics](https://opentelemetry.io/docs/specs/semconv/http/http-metrics/)).
//!
//! | instrument | unit | attributes |
//! |---|---|---|
//! | `http.server.request.duration` | `s` | `http.request.method`, `url.scheme`, `http.response.status_code` (if a response was sent), `http.route` (if the framework routes), `error.type` (if it ended in error), `network.protocol.version` |
//! | `http.client.request.duration` | `s` | `http.request.method`, `server.address`, `server.port`, `http.response.status_code`, `error.type`, `network.protocol.version` |
//! | `http.server.active_requests` (opt-in) | `{request}` | `http.request.method`, `url.scheme` |
//! | `http.{server,client}.{request,response}.body.size` (opt-in) | `By` | as the side's duration |
//! | `rpc.server.call.duration` (gRPC calls, instead of the HTTP duration) | `s` | `rpc.system.name`, `rpc.method` (`_OTHER` for a method the server does not implement), `rpc.response.status_code`, `error.type` (if an error) |
//! | `rpc.client.call.duration` | `s` | the same, and `server.address`, `server.port` |
//!
//! Nothing of high cardinality is recorded: no path, no full URL, no client address, no user
//! agent. The duration equals the span's: both are read from the same two clock readings.
//! A series is found from a small fixed key (the interned method, route and scheme, the status
//! code, the protocol version, the `error.type`) without allocating once it exists.

use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use http::StatusCode;

use super::Side;
use crate::metrics::{
    Aggregation, Descriptor, HistogramCell, Instrument, Meter, SHARDS, SeriesKey, SumCell, Table,
    hash_bytes, mix, shard,
};
use crate::{KeyValue, semconv};

/// The advised buckets of both durations, in seconds.
pub const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

/// A handle on an instrument, alone on its cache line. Each request holds one until it ends; the
/// handles are sharded like the series' cells, so that threads taking one at once do not
/// contend on one reference count.
#[repr(align(64))]
struct Handle(Arc<Instrument<HttpKey>>);

type Handles = [Arc<Handle>; SHARDS];

fn handles(instrument: &Arc<Instrument<HttpKey>>) -> Handles {
    std::array::from_fn(|_| Arc::new(Handle(instrument.clone())))
}

/// The HTTP instruments of one tracer's instrumentation scope.
#[derive(Clone)]
pub struct HttpMetrics {
    server_duration: Handles,
    client_duration: Handles,
    rpc_server_duration: Handles,
    rpc_client_duration: Handles,
    server_active: Arc<OnceLock<Arc<Instrument<HttpKey>>>>,
    /// Request and response body sizes, server then client (opt-in).
    body_sizes: Arc<OnceLock<[Arc<Instrument<HttpKey>>; 4]>>,
    meter: Meter,
}

/// What a request measures beside its duration (both opt-in, as the conventions have them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MeasureOptions {
    /// Count it in `http.server.active_requests` while it runs (server side).
    pub active_requests: bool,
    /// Record `http.{server,client}.{request,response}.body.size`.
    pub body_sizes: bool,
}

impl MeasureOptions {
    /// Nothing beyond the duration.
    pub const NONE: Self = Self {
        active_requests: false,
        body_sizes: false,
    };

    /// With or without `http.server.active_requests`.
    #[must_use]
    pub const fn with_active_requests(mut self, on: bool) -> Self {
        self.active_requests = on;
        self
    }

    /// With or without the body sizes.
    #[must_use]
    pub const fn with_body_sizes(mut self, on: bool) -> Self {
        self.body_sizes = on;
        self
    }
}

impl HttpMetrics {
    /// The instruments, created in `meter`.
    pub fn new(meter: &Meter) -> Self {
        let duration = |name: &'static str, description: &'static str| {
            meter.instrument(Instrument::new(
                Descriptor {
                    name: Cow::Borrowed(name),
                    description: Cow::Borrowed(description),
                    unit: Cow::Borrowed("s"),
                },
                Aggregation::Histogram {
                    table: Table::new(meter.cardinality_limit()),
                    bounds: Arc::from(DURATION_BOUNDARIES),
                    exemplars: meter.exemplar_filter(),
                },
            ))
        };
        Self {
            server_duration: handles(&duration(
                "http.server.request.duration",
                "Duration of HTTP server requests.",
            )),
            client_duration: handles(&duration(
                "http.client.request.duration",
                "Duration of HTTP client requests.",
            )),
            rpc_server_duration: handles(&duration(
                "rpc.server.call.duration",
                "Measures the duration of inbound remote procedure calls.",
            )),
            rpc_client_duration: handles(&duration(
                "rpc.client.call.duration",
                "Measures the duration of outbound remote procedure calls.",
            )),
            server_active: Arc::default(),
            body_sizes: Arc::default(),
            meter: meter.clone(),
        }
    }

    fn active(&self) -> &Arc<Instrument<HttpKey>> {
        self.server_active.get_or_init(|| {
            self.meter.instrument(Instrument::new(
                Descriptor {
                    name: Cow::Borrowed("http.server.active_requests"),
                    description: Cow::Borrowed("Number of active HTTP server requests."),
                    unit: Cow::Borrowed("{request}"),
                },
                Aggregation::Sum {
                    table: Table::new(self.meter.cardinality_limit()),
                    float: false,
                    monotonic: false,
                },
            ))
        })
    }

    /// The body size histograms (`By`, the SDK's default buckets), created on first use.
    fn sizes(&self, side: Side) -> [Arc<Instrument<HttpKey>>; 2] {
        let all = self.body_sizes.get_or_init(|| {
            let make = |name: &'static str, description: &'static str| {
                self.meter.instrument(Instrument::new(
                    Descriptor {
                        name: Cow::Borrowed(name),
                        description: Cow::Borrowed(description),
                        unit: Cow::Borrowed("By"),
                    },
                    Aggregation::Histogram {
                        table: Table::new(self.meter.cardinality_limit()),
                        bounds: Arc::from(crate::metrics::DEFAULT_BOUNDARIES),
                        exemplars: self.meter.exemplar_filter(),
                    },
                ))
            };
            [
                make(
                    "http.server.request.body.size",
                    "Size of HTTP server request bodies.",
                ),
                make(
                    "http.server.response.body.size",
                    "Size of HTTP server response bodies.",
                ),
                make(
                    "http.client.request.body.size",
                    "Size of HTTP client request bodies.",
                ),
                make(
                    "http.client.response.body.size",
                    "Size of HTTP client response bodies.",
                ),
            ]
        });
        match side {
            Side::Server => [all[0].clone(), all[1].clone()],
            Side::Client => [all[2].clone(), all[3].clone()],
        }
    }

    /// Starts measuring a server request (the clock is read now: start its span at
    /// [`HttpMeasure::start`]). `options` turns on `http.server.active_requests` (counting it
    /// until it ends) and the body sizes.
    pub fn server(
        &self,
        method: &'static str,
        scheme: &'static str,
        route: Option<Cow<'static, str>>,
        protocol: Option<&'static str>,
        options: MeasureOptions,
    ) -> Option<HttpMeasure> {
        if !self.meter.is_enabled() {
            return None;
        }
        let key = HttpKey {
            side: Side::Server,
            rpc: false,
            method,
            scheme: Some(scheme),
            route,
            server_address: None,
            server_port: None,
            status: None,
            error_type: None,
            protocol,
        };
        let active = options.active_requests.then(|| {
            let active = self.active().clone();
            active_series(&active, &key).add_i64(1);
            active
        });
        Some(HttpMeasure {
            instrument: self.server_duration[shard()].clone(),
            start: Instant::now(),
            key,
            active,
            sizes: options
                .body_sizes
                .then(|| BodySizes::new(self.sizes(Side::Server))),
        })
    }

    /// Starts measuring a gRPC call on `side` to `method` (its status set by
    /// [`HttpMeasure::rpc_status`]), in `rpc.server.call.duration` or `rpc.client.call.duration`.
    /// A server's `method` is what the caller sent: it is kept only once the service has
    /// answered with anything but UNIMPLEMENTED (else `_OTHER`), so callers cannot add series.
    pub fn rpc(
        &self,
        side: Side,
        method: Option<Cow<'static, str>>,
        server_address: Option<Cow<'static, str>>,
        server_port: Option<u16>,
    ) -> Option<HttpMeasure> {
        if !self.meter.is_enabled() {
            return None;
        }
        let handles = match side {
            Side::Server => &self.rpc_server_duration,
            Side::Client => &self.rpc_client_duration,
        };
        Some(HttpMeasure {
            instrument: handles[shard()].clone(),
            start: Instant::now(),
            key: HttpKey {
                side,
                rpc: true,
                method: crate::rpc::GRPC,
                scheme: None,
                route: Some(method.unwrap_or(Cow::Borrowed("_OTHER"))),
                server_address,
                server_port,
                status: None,
                error_type: None,
                protocol: None,
            },
            active: None,
            sizes: None,
        })
    }

    /// Starts measuring a client request (one per attempt); `options.body_sizes` turns on the
    /// body size histograms.
    pub fn client(
        &self,
        method: &'static str,
        server_address: Option<Cow<'static, str>>,
        server_port: Option<u16>,
        options: MeasureOptions,
    ) -> Option<HttpMeasure> {
        if !self.meter.is_enabled() {
            return None;
        }
        Some(HttpMeasure {
            instrument: self.client_duration[shard()].clone(),
            start: Instant::now(),
            key: HttpKey {
                side: Side::Client,
                rpc: false,
                method,
                scheme: None,
                route: None,
                server_address,
                server_port,
                status: None,
                error_type: None,
                protocol: None,
            },
            active: None,
            sizes: options
                .body_sizes
                .then(|| BodySizes::new(self.sizes(Side::Client))),
        })
    }
}

impl std::fmt::Debug for HttpMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMetrics")
            .field("scope", self.meter.scope())
            .finish_non_exhaustive()
    }
}

fn active_series<'a>(instrument: &'a Instrument<HttpKey>, key: &HttpKey) -> &'a SumCell {
    // Only method and scheme: the attributes the specification gives this instrument.
    let key = HttpKey {
        side: key.side,
        rpc: false,
        method: key.method,
        scheme: key.scheme,
        route: None,
        server_address: None,
        server_port: None,
        status: None,
        error_type: None,
        protocol: None,
    };
    match &instrument.aggregation {
        Aggregation::Sum { table, .. } => {
            &table
                .series(key.hash(), |k| *k == key, || key.clone(), SumCell::default)
                .cell
        }
        _ => unreachable!("http.server.active_requests is a sum"),
    }
}

/// One request being measured: ends with its span, in [`InFlight`](super::InFlight).
pub struct HttpMeasure {
    instrument: Arc<Handle>,
    start: Instant,
    key: HttpKey,
    active: Option<Arc<Instrument<HttpKey>>>,
    sizes: Option<Box<BodySizes>>,
}

/// The body sizes of one request, recorded when it ends.
struct BodySizes {
    instruments: [Arc<Instrument<HttpKey>>; 2],
    request: Option<u64>,
    response: Option<u64>,
    /// The response's size was given by its `Content-Length`: frames are not counted on top.
    response_given: bool,
    /// A client request whose duration ended with the response head, while its body is still
    /// counted.
    response_end: Option<Instant>,
}

impl BodySizes {
    fn new(instruments: [Arc<Instrument<HttpKey>>; 2]) -> Box<Self> {
        Box::new(Self {
            instruments,
            request: None,
            response: None,
            response_given: false,
            response_end: None,
        })
    }
}

impl HttpMeasure {
    /// When the request started: the span starts here too
    /// ([`SpanBuilder::with_start_instant`](crate::trace::SpanBuilder::with_start_instant)).
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The response's status code, and `error.type` when it makes the request an error.
    pub fn response(&mut self, side: Side, status: StatusCode) {
        self.key.status = Some(status.as_u16());
        self.key.error_type = side.error_type(status);
    }

    /// The status a gRPC call ended with ([`HttpMetrics::rpc`]); `error` when it makes the call
    /// an error on its side. A server's method is kept from here on (interned: the service
    /// declared it), or is `_OTHER` when the service answered UNIMPLEMENTED.
    pub fn rpc_status(&mut self, code: crate::rpc::GrpcCode, error: bool) {
        self.key.status = Some(code.as_u32() as u16);
        self.key.error_type = error.then(|| code.name());
        if self.key.side == Side::Server
            && let Some(method) = &mut self.key.route
        {
            *method = if code == crate::rpc::GrpcCode::Unimplemented {
                Cow::Borrowed("_OTHER")
            } else {
                super::interned(method)
            };
        }
    }

    /// The request ended without a response: `error_type` (low-cardinality) says why.
    pub fn failure(&mut self, error_type: &'static str) {
        self.key.error_type = Some(error_type);
    }

    /// The request body's size in bytes (from `Content-Length`, or the body when it is known),
    /// when body sizes are measured.
    pub fn set_request_body_size(&mut self, bytes: u64) {
        if let Some(sizes) = &mut self.sizes {
            sizes.request = Some(bytes);
        }
    }

    /// Counts `bytes` more of the response body (frames as they pass), when body sizes are
    /// measured.
    pub fn add_response_body_bytes(&mut self, bytes: u64) {
        if let Some(sizes) = &mut self.sizes
            && !sizes.response_given
        {
            sizes.response = Some(sizes.response.unwrap_or(0) + bytes);
        }
    }

    /// The response body's size in bytes, when known at once (`Content-Length`): frames are no
    /// longer counted.
    pub fn set_response_body_size(&mut self, bytes: u64) {
        if let Some(sizes) = &mut self.sizes {
            sizes.response = Some(bytes);
            sizes.response_given = true;
        }
    }

    /// Whether the response body's size is measured and not yet known: its frames are to be
    /// counted.
    pub fn awaits_response_body_size(&self) -> bool {
        self.sizes.as_ref().is_some_and(|s| !s.response_given)
    }

    /// Ends the duration at `end` (the response head) while the body is still counted: the
    /// request's span and duration end there when it finishes.
    pub fn set_response_end(&mut self, end: Instant) {
        if let Some(sizes) = &mut self.sizes {
            sizes.response_end = Some(end);
        }
    }

    /// Where [`set_response_end`](Self::set_response_end) ended the duration, if it did.
    pub fn response_end(&self) -> Option<Instant> {
        self.sizes.as_ref().and_then(|s| s.response_end)
    }

    /// Whether body sizes are measured (so an integration counts frames only then).
    pub fn measures_body_sizes(&self) -> bool {
        self.sizes.is_some()
    }

    /// The protocol version the response came with (client side).
    pub fn set_protocol(&mut self, protocol: Option<&'static str>) {
        self.key.protocol = protocol;
    }

    /// Records the duration up to `end` ([`InFlight`](super::InFlight) does this when the
    /// request ends; this is for integrations that end requests their own way).
    pub fn finish(self, end: Instant) {
        self.finish_in_span(end, None);
    }

    /// Records the duration up to `end`, measured in the span `span`: the histograms may keep
    /// it as their bucket's exemplar (by the exemplar filter), pointing at that span's trace.
    pub fn finish_in_span(self, end: Instant, span: Option<&crate::SpanContext>) {
        self.record_end(end, span);
    }

    /// What [`finish_in_span`](Self::finish_in_span) records, read in place: the measurement
    /// is dropped after (a boxed one is not moved out to be finished).
    pub(crate) fn record_end(&self, end: Instant, span: Option<&crate::SpanContext>) {
        let seconds = end.saturating_duration_since(self.start).as_secs_f64();
        let key = &self.key;
        let hash = key.hash();
        let exemplar = match &self.instrument.0.aggregation {
            Aggregation::Histogram { exemplars, .. } => exemplars.admit(span),
            _ => None,
        };
        let at = || end;
        record_in(&self.instrument.0, key, hash, seconds, exemplar, at);
        if let Some(active) = &self.active {
            active_series(active, key).add_i64(-1);
        }
        if let Some(sizes) = &self.sizes {
            // The server counts its response's frames: one that sent a response but no bytes
            // sent 0. A client knows the size from `Content-Length` only.
            let response = sizes
                .response
                .or_else(|| (key.side == Side::Server && key.status.is_some()).then_some(0));
            for (instrument, bytes) in sizes.instruments.iter().zip([sizes.request, response]) {
                if let Some(bytes) = bytes {
                    record_in(instrument, key, hash, bytes as f64, exemplar, at);
                }
            }
        }
    }
}

/// Records `value` in the series of `key` (hashing to `hash`) of the histogram `instrument`,
/// with `exemplar`'s span as its bucket's exemplar.
fn record_in(
    instrument: &Instrument<HttpKey>,
    key: &HttpKey,
    hash: u64,
    value: f64,
    exemplar: Option<(crate::TraceId, crate::SpanId)>,
    at: impl FnOnce() -> Instant,
) {
    if let Aggregation::Histogram { table, bounds, .. } = &instrument.aggregation {
        table
            .series(
                hash,
                |k| k == key,
                || key.clone(),
                || HistogramCell::new(bounds.len()),
            )
            .cell
            .record_with_exemplar(bounds, value, exemplar, at);
    }
}

impl std::fmt::Debug for HttpMeasure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMeasure")
            .field("instrument", &self.instrument.0.descriptor.name)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// What identifies an HTTP duration series: the attribute values, interned or static.
#[derive(Clone, Debug)]
pub(crate) struct HttpKey {
    side: Side,
    /// A gRPC call's: `route` is its method, `status` its code, `method` `grpc`.
    rpc: bool,
    method: &'static str,
    scheme: Option<&'static str>,
    route: Option<Cow<'static, str>>,
    server_address: Option<Cow<'static, str>>,
    server_port: Option<u16>,
    status: Option<u16>,
    error_type: Option<&'static str>,
    protocol: Option<&'static str>,
}

/// Equal strings, found without reading them when they are the same interned or static one.
fn same(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

fn same_opt(a: Option<&str>, b: Option<&str>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => same(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl PartialEq for HttpKey {
    fn eq(&self, other: &Self) -> bool {
        self.side == other.side
            && self.rpc == other.rpc
            && self.status == other.status
            && self.server_port == other.server_port
            && same(self.method, other.method)
            && same_opt(self.route.as_deref(), other.route.as_deref())
            && same_opt(self.scheme, other.scheme)
            && same_opt(self.error_type, other.error_type)
            && same_opt(self.protocol, other.protocol)
            && same_opt(
                self.server_address.as_deref(),
                other.server_address.as_deref(),
            )
    }
}

impl Eq for HttpKey {}

impl HttpKey {
    fn hash(&self) -> u64 {
        let mut h = hash_bytes(
            self.side as u64 | u64::from(self.rpc) << 1,
            self.method.as_bytes(),
        );
        for part in [
            self.scheme,
            self.route.as_deref(),
            self.server_address.as_deref(),
            self.error_type,
            self.protocol,
        ] {
            h = hash_bytes(h.rotate_left(5), part.unwrap_or("").as_bytes());
        }
        let numbers =
            u64::from(self.status.unwrap_or(0)) << 16 | u64::from(self.server_port.unwrap_or(0));
        mix(h ^ numbers)
    }
}

impl HttpKey {
    /// Sorted by key, as every series' attributes are.
    fn rpc_attributes(&self) -> Vec<KeyValue> {
        let mut out = Vec::with_capacity(6);
        if let Some(e) = self.error_type {
            out.push(KeyValue::new(semconv::ERROR_TYPE, e));
        }
        if let Some(method) = &self.route {
            out.push(KeyValue::new(semconv::RPC_METHOD, method.clone()));
        }
        if let Some(code) = self.status {
            let code = crate::rpc::GrpcCode::from_u32(u32::from(code));
            out.push(KeyValue::new(
                semconv::RPC_RESPONSE_STATUS_CODE,
                code.name(),
            ));
        }
        out.push(KeyValue::new(semconv::RPC_SYSTEM_NAME, self.method));
        if let Some(address) = &self.server_address {
            out.push(KeyValue::new(semconv::SERVER_ADDRESS, address.clone()));
        }
        if let Some(port) = self.server_port {
            out.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        }
        out
    }
}

impl SeriesKey for HttpKey {
    fn attributes(&self) -> Vec<KeyValue> {
        if self.rpc {
            return self.rpc_attributes();
        }
        let mut out = Vec::with_capacity(7);
        if let Some(e) = self.error_type {
            out.push(KeyValue::new(semconv::ERROR_TYPE, e));
        }
        out.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, self.method));
        if let Some(status) = self.status {
            out.push(KeyValue::new(
                semconv::HTTP_RESPONSE_STATUS_CODE,
                i64::from(status),
            ));
        }
        if let Some(route) = &self.route {
            out.push(KeyValue::new(semconv::HTTP_ROUTE, route.clone()));
        }
        if let Some(version) = self.protocol {
            out.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
        }
        if let Some(address) = &self.server_address {
            out.push(KeyValue::new(semconv::SERVER_ADDRESS, address.clone()));
        }
        if let Some(port) = self.server_port {
            out.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        }
        if let Some(scheme) = self.scheme {
            out.push(KeyValue::new(semconv::URL_SCHEME, scheme));
        }
        out
    }
}
