//! [`HttpInstrumentation`]: what an HTTP integration records into, the tracer and (optionally)
//! the HTTP metrics.

use super::metrics::HttpMetrics;
use crate::metrics::MeterProvider;
use crate::trace::Tracer;

/// The tracer an HTTP integration starts its spans with, and the HTTP metrics it records beside
/// them when a meter provider is given (`http.server.request.duration` and the rest: see
/// [`HttpMetrics`]). Every layer and middleware takes one, or a [`Tracer`] alone (spans, no
/// metrics). Cheap to clone.
///
/// ```
/// use tracecore::http_span::HttpInstrumentation;
/// use tracecore::metrics::{ManualReader, MeterProvider};
/// use tracecore::trace::TracerProvider;
///
/// let tracer = TracerProvider::builder().build().tracer("api");
/// let meters = MeterProvider::builder().with_reader(ManualReader::new()).build();
/// let instrumentation = HttpInstrumentation::from(tracer).with_meter_provider(&meters);
/// assert!(instrumentation.metrics().is_some());
/// ```
#[derive(Clone, Debug)]
pub struct HttpInstrumentation {
    tracer: Tracer,
    metrics: Option<HttpMetrics>,
}

impl HttpInstrumentation {
    /// Spans from `tracer`, no metrics.
    pub const fn new(tracer: Tracer) -> Self {
        Self {
            tracer,
            metrics: None,
        }
    }

    /// Also records the HTTP metrics into `meter_provider`, under the tracer's instrumentation
    /// scope. Asked twice for one scope, a meter gives the same instruments, so every layer of
    /// one scope records into the same series.
    #[must_use]
    pub fn with_meter_provider(mut self, meter_provider: &MeterProvider) -> Self {
        let meter = meter_provider.meter_with_scope(self.tracer.scope().clone());
        self.metrics = Some(HttpMetrics::new(&meter));
        self
    }

    /// The tracer.
    pub const fn tracer(&self) -> &Tracer {
        &self.tracer
    }

    /// The HTTP instruments, when a meter provider was given.
    pub const fn metrics(&self) -> Option<&HttpMetrics> {
        self.metrics.as_ref()
    }
}

impl From<Tracer> for HttpInstrumentation {
    fn from(tracer: Tracer) -> Self {
        Self::new(tracer)
    }
}

impl From<&Tracer> for HttpInstrumentation {
    fn from(tracer: &Tracer) -> Self {
        Self::new(tracer.clone())
    }
}
