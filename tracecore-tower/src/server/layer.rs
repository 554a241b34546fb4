//! [`ServerLayer`]: the configuration of the server layer.

use std::fmt;
use std::sync::Arc;

use http::request::Parts;
use tower_layer::Layer;
use tracecore::http_span::{HeaderCapture, UrlRedaction};
use tracecore::propagation::{self, CompositePropagator};
use tracecore::trace::Tracer;

use super::Server;

type Predicate = Arc<dyn Fn(&Parts) -> bool + Send + Sync>;
type RouteFn = Arc<dyn Fn(&Parts) -> Option<String> + Send + Sync>;

/// What the server writes about its span into the response headers. Nothing by default.
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
    /// (appended to any `server-timing` the handler set).
    ServerTiming,
}

/// The server layer: add it to an axum `Router` (`.layer(...)`) or wrap any tower HTTP service.
/// Cheap to clone.
///
/// ```
/// use tracecore::trace::TracerProvider;
/// use tracecore_tower::{ResponseHeader, ServerLayer};
///
/// let provider = TracerProvider::builder().build();
/// let layer = ServerLayer::new(provider.tracer("api"))
///     .with_filter(|request| request.uri.path() != "/health")
///     .with_public_endpoint(|request| request.uri.path().starts_with("/public/"))
///     .with_response_header(ResponseHeader::Traceparent);
/// ```
#[derive(Clone)]
pub struct ServerLayer {
    pub(crate) config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) tracer: Tracer,
    pub(crate) propagator: CompositePropagator,
    pub(crate) filter: Option<Predicate>,
    pub(crate) public: Option<Predicate>,
    pub(crate) route: Option<RouteFn>,
    pub(crate) response_header: ResponseHeader,
    pub(crate) request_headers: HeaderCapture,
    pub(crate) response_headers: HeaderCapture,
    pub(crate) redaction: UrlRedaction,
    pub(crate) trusted_proxy: bool,
    pub(crate) active_requests: bool,
    pub(crate) body_sizes: bool,
    pub(crate) max_value_length: usize,
    pub(crate) context_extension: bool,
    pub(crate) rpc_request_metadata: HeaderCapture,
    pub(crate) rpc_response_metadata: HeaderCapture,
}

impl ServerLayer {
    /// Traces with `tracer`, extracting with `OTEL_PROPAGATORS` (default: W3C trace context and
    /// baggage).
    pub fn new(tracer: Tracer) -> Self {
        Self {
            config: Arc::new(Config {
                tracer,
                propagator: propagation::from_env(),
                filter: None,
                public: None,
                route: None,
                response_header: ResponseHeader::None,
                request_headers: HeaderCapture::default(),
                response_headers: HeaderCapture::default(),
                redaction: UrlRedaction::default(),
                trusted_proxy: false,
                active_requests: false,
                body_sizes: false,
                max_value_length: tracecore::http_span::DEFAULT_MAX_VALUE_LENGTH,
                context_extension: false,
                rpc_request_metadata: HeaderCapture::default(),
                rpc_response_metadata: HeaderCapture::default(),
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Extracts with `propagator` instead.
    pub fn with_propagator(mut self, propagator: CompositePropagator) -> Self {
        self.config().propagator = propagator;
        self
    }

    /// Also counts the requests in flight in `http.server.active_requests` (opt-in, as the
    /// conventions have it), when the tracer's provider records metrics.
    #[must_use]
    pub fn with_active_requests(mut self, on: bool) -> Self {
        self.config().active_requests = on;
        self
    }

    /// Also records `http.server.request.body.size` (from `Content-Length`) and
    /// `http.server.response.body.size` (the bytes the body sends) (opt-in), when the tracer's
    /// provider records metrics.
    #[must_use]
    pub fn with_body_sizes(mut self, on: bool) -> Self {
        self.config().body_sizes = on;
        self
    }

    /// Cuts values taken from the request and the response (`url.path`, `url.query`, the user
    /// agent, `server.address`, `client.address`, captured headers) to `max` characters instead
    /// of [`DEFAULT_MAX_VALUE_LENGTH`](tracecore::http_span::DEFAULT_MAX_VALUE_LENGTH), so that
    /// no request makes a span hold more. The span limits
    /// (`OTEL_*_ATTRIBUTE_VALUE_LENGTH_LIMIT`) still apply on top.
    #[must_use]
    pub fn with_max_value_length(mut self, max: usize) -> Self {
        self.config().max_value_length = max;
        self
    }

    /// Also puts the request's [`Context`](tracecore::Context) into the request extensions
    /// (`Extension<Context>` in axum), for code that runs outside the handler's polls: a
    /// `tower::buffer::Buffer` or a layer that spawns the call further in. Off by default, as it
    /// costs an allocation per request: the handler, its extractors (`RequestContext`) and
    /// everything it calls already see the request's context as the current one.
    #[must_use]
    pub fn with_context_extension(mut self, on: bool) -> Self {
        self.config().context_extension = on;
        self
    }

    /// Traces only the requests for which `filter` returns true (skip `/health` and the like).
    /// A request filtered out passes through untouched: no span, no context, no metrics.
    pub fn with_filter<F>(mut self, filter: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.config().filter = Some(Arc::new(filter));
        self
    }

    /// Marks public endpoints: for a request where `public` returns true, the incoming context is
    /// not adopted. The SERVER span starts a new trace with a link to the caller's span, and the
    /// incoming baggage is dropped.
    pub fn with_public_endpoint<F>(mut self, public: F) -> Self
    where
        F: Fn(&Parts) -> bool + Send + Sync + 'static,
    {
        self.config().public = Some(Arc::new(public));
        self
    }

    /// Gives the route template of a request (`/items/{id}`, low-cardinality, never the raw
    /// path) for the span name and `http.route`. Tried before axum's `MatchedPath`.
    pub fn with_route<F>(mut self, route: F) -> Self
    where
        F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
    {
        self.config().route = Some(Arc::new(route));
        self
    }

    /// Writes the SERVER span's identity into the response (see [`ResponseHeader`]).
    pub fn with_response_header(mut self, header: ResponseHeader) -> Self {
        self.config().response_header = header;
        self
    }

    /// Records these request headers as `http.request.header.<key>` (at span start).
    pub fn with_request_headers(mut self, capture: HeaderCapture) -> Self {
        self.config().request_headers = capture;
        self
    }

    /// Records these metadata keys of gRPC calls (opt-in, as the conventions have it): the
    /// request's as `rpc.request.metadata.<key>` ([`HeaderCapture::rpc_request`]) at span start,
    /// the response headers' as `rpc.response.metadata.<key>` ([`HeaderCapture::rpc_response`]).
    pub fn with_rpc_metadata(mut self, request: HeaderCapture, response: HeaderCapture) -> Self {
        let config = self.config();
        config.rpc_request_metadata = request;
        config.rpc_response_metadata = response;
        self
    }

    /// Records these response headers as `http.response.header.<key>`.
    pub fn with_response_headers(mut self, capture: HeaderCapture) -> Self {
        self.config().response_headers = capture;
        self
    }

    /// Redacts query parameters by this list instead of the default one.
    pub fn with_url_redaction(mut self, redaction: UrlRedaction) -> Self {
        self.config().redaction = redaction;
        self
    }

    /// Trusts `Forwarded`, `X-Forwarded-For`, `X-Forwarded-Host` and `X-Forwarded-Proto` for
    /// `client.address`, `server.address` and `url.scheme`. Only for a server that is reachable
    /// solely through a proxy that sets them: otherwise any caller can forge them. Off by default.
    pub fn with_trusted_proxy(mut self, trusted: bool) -> Self {
        self.config().trusted_proxy = trusted;
        self
    }
}

impl<S> Layer<S> for ServerLayer {
    type Service = Server<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Server::new(inner, self.clone())
    }
}

impl fmt::Debug for ServerLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        f.debug_struct("ServerLayer")
            .field("tracer", &c.tracer)
            .field("propagator", &c.propagator)
            .field("filter", &c.filter.is_some())
            .field("public_endpoint", &c.public.is_some())
            .field("route", &c.route.is_some())
            .field("response_header", &c.response_header)
            .field("request_headers", &c.request_headers)
            .field("response_headers", &c.response_headers)
            .field("redaction", &c.redaction)
            .field("trusted_proxy", &c.trusted_proxy)
            .field("context_extension", &c.context_extension)
            .finish()
    }
}
