//! Metrics: counters, up-down counters, histograms and gauges, aggregated in memory and read by
//! a periodic exporter (OTLP in `tracecore-otlp`) or on demand.
//!
//! ```
//! use tracecore::metrics::{ManualReader, MeterProvider, MetricData};
//! use tracecore::KeyValue;
//!
//! let reader = ManualReader::new();
//! let provider = MeterProvider::builder().with_service_name("checkout").with_reader(reader.clone()).build();
//! let meter = provider.meter("checkout");
//! let duration = meter
//!     .f64_histogram("app.payment.duration")
//!     .with_unit("s")
//!     .with_boundaries(vec![0.1, 0.5, 1.0])
//!     .unwrap()
//!     .build();
//! duration.record(0.3, &[KeyValue::new("payment.method", "card")]);
//! duration.record(0.7, &[KeyValue::new("payment.method", "card")]);
//!
//! let collected = reader.collect();
//! let metric = collected.metric("app.payment.duration").unwrap();
//! let point = &metric.data.histogram_points()[0];
//! assert_eq!(point.bucket_counts, [0, 1, 1, 0]);
//! assert_eq!((point.count, point.min, point.max), (2, Some(0.3), Some(0.7)));
//! ```
//!
//! Recording finds its series from the attribute set without a lock or an allocation once the
//! series exists (a new series allocates once), then adds with atomics. Each instrument keeps
//! at most 2000 series ([`MeterProviderBuilder::with_cardinality_limit`]); measurements past
//! that go to one series with the attribute `otel.metric.overflow = true`, so memory stays
//! bounded whatever the attributes carry, and nothing is dropped. Measurements that are NaN or
//! infinite (or negative, for a counter) are ignored and counted in [`crate::diag`].
//!
//! Temporality: cumulative unless the exporter asks for delta (`OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
//! for the OTLP exporter); up-down counters stay cumulative. Cumulative points start at the
//! series' first measurement; delta points at the previous collection. Delta histogram points
//! carry no min and max (they are optional in OTLP, and an interval's extremes are not kept).

mod aggregate;
mod console;
mod data;
mod instrument;
mod meter;
mod pipeline;
pub mod prometheus;
mod provider;
mod reader;
mod table;

pub(crate) use aggregate::{Aggregation, HistogramCell, SHARDS, SumCell, shard};
pub(crate) use instrument::{Descriptor, Instrument};
pub(crate) use table::{NO_SLOT, SeriesKey, Table, hash_bytes, mix};

pub use aggregate::ExemplarFilter;
pub use console::ConsoleMetricExporter;
pub use data::{
    Exemplar, HistogramPoint, Metric, MetricData, Number, NumberPoint, ResourceMetrics,
    ScopeMetrics, Temporality,
};
pub use instrument::{
    Counter, DEFAULT_BOUNDARIES, Gauge, Histogram, InstrumentBuilder, InstrumentError,
    UpDownCounter, is_valid_instrument_name,
};
pub use meter::Meter;
pub use provider::{DEFAULT_CARDINALITY_LIMIT, MeterProvider, MeterProviderBuilder};
pub use reader::{InMemoryMetricExporter, ManualReader, MetricExporter, PeriodicReader, Reader};
pub use table::OVERFLOW_ATTRIBUTE;
