//! [`ServerLayer`]: the configuration of the server layer.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;
use tracecore::http_span::{
    HeaderCapture, HttpInstrumentation, ResponseHeader, ServerTracing, UrlRedaction,
};
use tracecore::propagation::CompositePropagator;

use super::Server;
use super::hooks::{RequestPredicate, RouteTemplate};

/// The server layer: add it to an axum `Router` (`.layer(...)`) or wrap any tower HTTP service.
/// Cheap to clone.
///
/// ```
/// use tracecore::trace::TracerProvider;
/// use tracecore_tower::{ResponseHeader, ServerLayer};
///
/// let provider = TracerProvider::builder().build();
/// let layer = ServerLayer::new(provider.tracer("api"))
///     .with_filter(|request: &http::request::Parts| request.uri.path() != "/health")
///     .with_public_endpoint(|request: &http::request::Parts| request.uri.path().starts_with("/public/"))
///     .with_response_header(ResponseHeader::Traceparent);
/// ```
#[derive(Clone)]
pub struct ServerLayer {
    pub(crate) config: Arc<Config>,
}

#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) tracing: ServerTracing,
    pub(crate) filter: Option<Arc<dyn RequestPredicate>>,
    pub(crate) public: Option<Arc<dyn RequestPredicate>>,
    pub(crate) route: Option<Arc<dyn RouteTemplate>>,
    pub(crate) context_extension: bool,
}

impl ServerLayer {
    /// Traces with `instrumentation` (a [`Tracer`](tracecore::trace::Tracer), or an
    /// [`HttpInstrumentation`] that records the HTTP metrics too), extracting with
    /// `OTEL_PROPAGATORS` (default: W3C trace context and baggage).
    pub fn new(instrumentation: impl Into<HttpInstrumentation>) -> Self {
        Self::from_tracing(ServerTracing::new(instrumentation))
    }

    /// Traces as `tracing` says (the server rules, shared with every server integration).
    pub fn from_tracing(tracing: ServerTracing) -> Self {
        Self {
            config: Arc::new(Config {
                tracing,
                filter: None,
                public: None,
                route: None,
                context_extension: false,
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    fn tracing(mut self, change: impl FnOnce(ServerTracing) -> ServerTracing) -> Self {
        let config = self.config();
        config.tracing = change(config.tracing.clone());
        self
    }

    /// The server rules this layer applies.
    pub fn server_tracing(&self) -> &ServerTracing {
        &self.config.tracing
    }

    /// Extracts with `propagator` instead.
    #[must_use]
    pub fn with_propagator(self, propagator: CompositePropagator) -> Self {
        self.tracing(|t| t.with_propagator(propagator))
    }

    /// Also counts the requests in flight in `http.server.active_requests` (opt-in, as the
    /// conventions have it), when the instrumentation records metrics.
    #[must_use]
    pub fn with_active_requests(self, on: bool) -> Self {
        self.tracing(|t| t.with_active_requests(on))
    }

    /// Also records `http.server.request.body.size` (from `Content-Length`) and
    /// `http.server.response.body.size` (the bytes the body sends) (opt-in), when the
    /// instrumentation records metrics.
    #[must_use]
    pub fn with_body_sizes(self, on: bool) -> Self {
        self.tracing(|t| t.with_body_sizes(on))
    }

    /// Cuts values taken from the request and the response to `max` characters (see
    /// [`ServerTracing::with_max_value_length`]).
    #[must_use]
    pub fn with_max_value_length(self, max: usize) -> Self {
        self.tracing(|t| t.with_max_value_length(max))
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
    #[must_use]
    pub fn with_filter(mut self, filter: impl RequestPredicate) -> Self {
        self.config().filter = Some(Arc::new(filter));
        self
    }

    /// Marks public endpoints: for a request where `public` returns true, the incoming context is
    /// not adopted. The SERVER span starts a new trace with a link to the caller's span, and the
    /// incoming baggage is dropped.
    #[must_use]
    pub fn with_public_endpoint(mut self, public: impl RequestPredicate) -> Self {
        self.config().public = Some(Arc::new(public));
        self
    }

    /// Gives the route template of a request (`/items/{id}`, low-cardinality, never the raw
    /// path) for the span name and `http.route`. Tried before axum's `MatchedPath`.
    #[must_use]
    pub fn with_route(mut self, route: impl RouteTemplate) -> Self {
        self.config().route = Some(Arc::new(route));
        self
    }

    /// Writes the SERVER span's identity into the response (see [`ResponseHeader`]).
    #[must_use]
    pub fn with_response_header(self, header: ResponseHeader) -> Self {
        self.tracing(|t| t.with_response_header(header))
    }

    /// Records these request headers as `http.request.header.<key>` (at span start).
    #[must_use]
    pub fn with_request_headers(self, capture: HeaderCapture) -> Self {
        self.tracing(|t| t.with_request_headers(capture))
    }

    /// Records these metadata keys of gRPC calls (opt-in, as the conventions have it): see
    /// [`ServerTracing::with_rpc_metadata`].
    #[must_use]
    pub fn with_rpc_metadata(self, request: HeaderCapture, response: HeaderCapture) -> Self {
        self.tracing(|t| t.with_rpc_metadata(request, response))
    }

    /// Records these response headers as `http.response.header.<key>`.
    #[must_use]
    pub fn with_response_headers(self, capture: HeaderCapture) -> Self {
        self.tracing(|t| t.with_response_headers(capture))
    }

    /// Redacts query parameters by this list instead of the default one.
    #[must_use]
    pub fn with_url_redaction(self, redaction: UrlRedaction) -> Self {
        self.tracing(|t| t.with_url_redaction(redaction))
    }

    /// Trusts `Forwarded`, `X-Forwarded-For`, `X-Forwarded-Host` and `X-Forwarded-Proto` for
    /// `client.address`, `server.address` and `url.scheme`. Only for a server that is reachable
    /// solely through a proxy that sets them: otherwise any caller can forge them. Off by default.
    #[must_use]
    pub fn with_trusted_proxy(self, trusted: bool) -> Self {
        self.tracing(|t| t.with_trusted_proxy(trusted))
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
            .field("tracing", &c.tracing)
            .field("filter", &c.filter.is_some())
            .field("public_endpoint", &c.public.is_some())
            .field("route", &c.route.is_some())
            .field("context_extension", &c.context_extension)
            .finish()
    }
}
