//! [`ClientLayer`].

use tower_layer::Layer;
use tracecore::http_span::{ClientTracing, HttpInstrumentation};

use super::Client;

/// The client layer: wrap a tower HTTP client service with it. Cheap to clone.
///
/// ```
/// use tracecore::trace::TracerProvider;
/// use tracecore_tower::ClientLayer;
///
/// let provider = TracerProvider::builder().build();
/// let layer = ClientLayer::new(provider.tracer("my-client"));
/// assert_eq!(layer.tracing().tracer().scope().name(), "my-client");
/// ```
#[derive(Clone, Debug)]
pub struct ClientLayer {
    tracing: ClientTracing,
}

impl ClientLayer {
    /// Traces with `instrumentation` (a [`Tracer`](tracecore::trace::Tracer), or an
    /// [`HttpInstrumentation`] that records the HTTP metrics too), injecting with
    /// `OTEL_PROPAGATORS` (default: W3C trace context and baggage).
    pub fn new(instrumentation: impl Into<HttpInstrumentation>) -> Self {
        Self::from_tracing(ClientTracing::new(instrumentation))
    }

    /// The client rules this layer applies.
    pub fn tracing(&self) -> &ClientTracing {
        &self.tracing
    }

    /// Traces as `tracing` says (propagator, redaction, header capture, user agent).
    pub fn from_tracing(tracing: ClientTracing) -> Self {
        Self { tracing }
    }
}

impl<S> Layer<S> for ClientLayer {
    type Service = Client<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Client::new(inner, self.tracing.clone())
    }
}
