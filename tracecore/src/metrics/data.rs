//! What a collection yields: a provider's metrics, by scope, with their points.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::SystemTime;

use crate::trace::{InstrumentationScope, Resource};
use crate::{KeyValue, SpanId, TraceId};

/// Everything one collection read from a [`MeterProvider`](super::MeterProvider).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ResourceMetrics {
    /// The service that produced them.
    pub resource: Resource,
    /// One entry per instrumentation scope that has metrics with points.
    pub scopes: Vec<ScopeMetrics>,
}

impl ResourceMetrics {
    /// Every metric named `name`, across scopes.
    pub fn metrics_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Metric> + 'a {
        self.scopes
            .iter()
            .flat_map(|s| s.metrics.iter())
            .filter(move |m| m.name == name)
    }

    /// The first metric named `name`.
    pub fn metric(&self, name: &str) -> Option<&Metric> {
        self.scopes
            .iter()
            .flat_map(|s| s.metrics.iter())
            .find(|m| m.name == name)
    }

    /// How many points the collection holds (what an exporter sends).
    pub fn point_count(&self) -> usize {
        self.scopes
            .iter()
            .flat_map(|s| s.metrics.iter())
            .map(|m| m.data.len())
            .sum()
    }
}

/// The metrics of one instrumentation scope.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ScopeMetrics {
    /// The library that recorded them.
    pub scope: InstrumentationScope,
    /// Its metrics, in the order their instruments were created.
    pub metrics: Vec<Metric>,
}

/// One instrument's points.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Metric {
    /// The instrument's name.
    pub name: Cow<'static, str>,
    /// Its description.
    pub description: Cow<'static, str>,
    /// Its unit (UCUM: `s`, `By`, `{request}`).
    pub unit: Cow<'static, str>,
    /// The points.
    pub data: MetricData,
}

/// How a metric's points add up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Temporality {
    /// Each point covers the time since the series began.
    Cumulative,
    /// Each point covers the time since the previous collection.
    Delta,
}

/// An instrument's points, by the kind of aggregation.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum MetricData {
    /// A sum: a counter (monotonic) or an up-down counter.
    Sum {
        /// The points, one per attribute set.
        points: Vec<NumberPoint>,
        /// How the points add up.
        temporality: Temporality,
        /// Whether the sum only grows (a counter).
        monotonic: bool,
    },
    /// The last value recorded per attribute set.
    Gauge {
        /// The points.
        points: Vec<NumberPoint>,
    },
    /// Explicit-bucket histograms.
    Histogram {
        /// The points.
        points: Vec<HistogramPoint>,
        /// How the points add up.
        temporality: Temporality,
    },
}

impl MetricData {
    /// The number of points.
    pub fn len(&self) -> usize {
        match self {
            Self::Sum { points, .. } | Self::Gauge { points } => points.len(),
            Self::Histogram { points, .. } => points.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The histogram points, if this is a histogram.
    pub fn histogram_points(&self) -> &[HistogramPoint] {
        match self {
            Self::Histogram { points, .. } => points,
            _ => &[],
        }
    }

    /// The number points, if this is a sum or a gauge.
    pub fn number_points(&self) -> &[NumberPoint] {
        match self {
            Self::Sum { points, .. } | Self::Gauge { points } => points,
            Self::Histogram { .. } => &[],
        }
    }
}

/// A number: what counters, up-down counters and gauges record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Number {
    /// An integer (`u64` counters and `i64` up-down counters).
    I64(i64),
    /// A float.
    F64(f64),
}

impl Number {
    /// The value as a float.
    pub fn as_f64(self) -> f64 {
        match self {
            Self::I64(v) => v as f64,
            Self::F64(v) => v,
        }
    }
}

/// A sum's or a gauge's value for one attribute set.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct NumberPoint {
    /// The attribute set, sorted by key.
    pub attributes: Vec<KeyValue>,
    /// Where the point's interval starts.
    pub start_time: SystemTime,
    /// When it was collected.
    pub time: SystemTime,
    /// The value.
    pub value: Number,
}

/// A histogram's state for one attribute set.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct HistogramPoint {
    /// The attribute set, sorted by key.
    pub attributes: Vec<KeyValue>,
    /// Where the point's interval starts.
    pub start_time: SystemTime,
    /// When it was collected.
    pub time: SystemTime,
    /// Measurements in the interval.
    pub count: u64,
    /// Their sum.
    pub sum: f64,
    /// The smallest (cumulative points only: OTLP makes it optional, and a delta interval's
    /// minimum is not kept).
    pub min: Option<f64>,
    /// The largest (cumulative points only).
    pub max: Option<f64>,
    /// The buckets' upper bounds, strictly increasing; bucket `i` covers `(bounds[i-1], bounds[i]]`.
    pub bounds: Arc<[f64]>,
    /// Counts per bucket: one more than there are bounds (the last runs to +Inf).
    pub bucket_counts: Vec<u64>,
    /// Measurements kept as examples, with the span they were made in.
    pub exemplars: Vec<Exemplar>,
}

impl HistogramPoint {
    /// The value below which a fraction `q` (0 to 1) of the measurements fall, estimated by
    /// linear interpolation inside the bucket it lands in (as Prometheus' `histogram_quantile`),
    /// with the bucket narrowed to the recorded min and max when they are known.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let rank = q.clamp(0.0, 1.0) * self.count as f64;
        let mut below = 0u64;
        for (i, &n) in self.bucket_counts.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let mut lower = if i == 0 {
                    f64::NEG_INFINITY
                } else {
                    self.bounds[i - 1]
                };
                let mut upper = self.bounds.get(i).copied().unwrap_or(f64::INFINITY);
                if let (Some(min), Some(max)) = (self.min, self.max) {
                    lower = lower.max(min);
                    upper = upper.min(max);
                }
                let lower = if lower.is_finite() {
                    lower
                } else {
                    upper.min(0.0)
                };
                let upper = if upper.is_finite() { upper } else { lower };
                let into = (rank - below as f64) / n as f64;
                return Some(lower + (upper - lower) * into);
            }
            below += n;
        }
        self.max
    }
}

/// A measurement kept beside its bucket, pointing at the span it was made in.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Exemplar {
    /// The measured value.
    pub value: f64,
    /// When it was measured.
    pub time: SystemTime,
    /// The trace of the span it was measured in.
    pub trace_id: TraceId,
    /// That span.
    pub span_id: SpanId,
}
