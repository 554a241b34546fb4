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

mod key;
mod measure;

use key::{HttpKey, HttpSeries, RpcSeries};
pub use measure::HttpMeasure;
use measure::{BodySizes, Handle};

use super::Side;
use crate::metrics::{Aggregation, Descriptor, Instrument, Meter, SHARDS, SumCell, Table, shard};

/// The advised buckets of both durations, in seconds.
pub const DURATION_BOUNDARIES: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
];

type Handles = [Arc<Handle>; SHARDS];

fn handles(instrument: &Arc<Instrument<HttpKey>>) -> Handles {
    std::array::from_fn(|_| Arc::new(Handle::new(instrument.clone())))
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
        let key = HttpKey::Http(HttpSeries {
            side: Side::Server,
            method,
            scheme: Some(scheme),
            route,
            server_address: None,
            server_port: None,
            status: None,
            error_type: None,
            protocol,
        });
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
            key: HttpKey::Rpc(RpcSeries {
                side,
                method: method.unwrap_or(Cow::Borrowed("_OTHER")),
                server_address,
                server_port,
                code: None,
                error_type: None,
            }),
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
            key: HttpKey::Http(HttpSeries {
                side: Side::Client,
                method,
                scheme: None,
                route: None,
                server_address,
                server_port,
                status: None,
                error_type: None,
                protocol: None,
            }),
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
    let HttpKey::Http(key) = key else {
        unreachable!("only HTTP server requests are counted as active")
    };
    // Only method and scheme: the attributes the specification gives this instrument.
    let key = HttpKey::Http(HttpSeries {
        side: key.side,
        method: key.method,
        scheme: key.scheme,
        route: None,
        server_address: None,
        server_port: None,
        status: None,
        error_type: None,
        protocol: None,
    });
    match &instrument.aggregation {
        Aggregation::Sum { table, .. } => {
            &table
                .series(key.hash(), |k| *k == key, || key.clone(), SumCell::default)
                .cell
        }
        _ => unreachable!("http.server.active_requests is a sum"),
    }
}
