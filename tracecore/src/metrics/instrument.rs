//! Instruments: cheap handles that record into their series.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::SystemTime;

use super::aggregate::{
    Aggregation, AttributeSet, DeltaState, ExemplarFilter, GaugeCell, HistogramCell, SumCell,
};
use super::data::{Metric, Temporality};
use super::meter::Meter;
use super::table::{SeriesKey, Table};
use crate::{Context, KeyValue, diag};

/// The boundaries a histogram uses when it declares none (the SDK default, in the instrument's
/// unit).
pub const DEFAULT_BOUNDARIES: [f64; 15] = [
    0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
    10000.0,
];

/// What an instrument is called and measures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Descriptor {
    pub(crate) name: Cow<'static, str>,
    pub(crate) description: Cow<'static, str>,
    pub(crate) unit: Cow<'static, str>,
}

/// An instrument's state: its descriptor and its series.
pub(crate) struct Instrument<K> {
    pub(crate) descriptor: Descriptor,
    pub(crate) aggregation: Aggregation<K>,
    pub(crate) created: SystemTime,
}

/// What a meter keeps of each instrument, to collect it.
pub(crate) trait Collect: Send + Sync {
    fn collect(
        &self,
        now: SystemTime,
        preferred: Temporality,
        state: &mut DeltaState,
    ) -> Option<Metric>;
    fn descriptor(&self) -> &Descriptor;
    /// The instrument as itself, for finding an identical one again ([`Meter::instrument`]).
    fn as_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync>;
}

impl<K: SeriesKey> Collect for Instrument<K> {
    fn collect(
        &self,
        now: SystemTime,
        preferred: Temporality,
        state: &mut DeltaState,
    ) -> Option<Metric> {
        let data = self
            .aggregation
            .collect(now, self.created, preferred, state);
        (!data.is_empty()).then(|| Metric {
            name: self.descriptor.name.clone(),
            description: self.descriptor.description.clone(),
            unit: self.descriptor.unit.clone(),
            data,
        })
    }

    fn descriptor(&self) -> &Descriptor {
        &self.descriptor
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn std::any::Any + Send + Sync> {
        self
    }
}

impl<K: SeriesKey> Instrument<K> {
    pub(crate) fn new(descriptor: Descriptor, aggregation: Aggregation<K>) -> Self {
        Self {
            descriptor,
            aggregation,
            created: SystemTime::now(),
        }
    }
}

impl Instrument<AttributeSet> {
    fn add_i64(&self, v: i64, attributes: &[KeyValue]) {
        if let Aggregation::Sum { table, .. } = &self.aggregation {
            user_series(table, attributes, SumCell::default).add_i64(v);
        }
    }

    fn add_f64(&self, v: f64, attributes: &[KeyValue]) {
        if let Aggregation::Sum { table, .. } = &self.aggregation {
            user_series(table, attributes, SumCell::default).add_f64(v);
        }
    }

    fn record(&self, v: f64, attributes: &[KeyValue]) {
        match &self.aggregation {
            Aggregation::Histogram {
                table,
                bounds,
                exemplars,
            } => {
                let cell = user_series(table, attributes, || HistogramCell::new(bounds.len()));
                let span = match exemplars {
                    ExemplarFilter::AlwaysOff => None,
                    filter => Context::map_current(|cx| filter.admit(cx.span_context())),
                };
                cell.record_with_exemplar(bounds, v, span, std::time::Instant::now);
            }
            Aggregation::Gauge { table } => {
                user_series(table, attributes, || GaugeCell::new(v)).set(v);
            }
            Aggregation::Sum { .. } => {}
        }
    }
}

fn user_series<'a, C>(
    table: &'a Table<AttributeSet, C>,
    attributes: &[KeyValue],
    make: impl FnOnce() -> C,
) -> &'a C {
    &table
        .series(
            AttributeSet::hash(attributes),
            |set| set.matches(attributes),
            || AttributeSet::new(attributes),
            make,
        )
        .cell
}

/// A measurement that cannot be recorded (NaN, infinite, or negative where only growth is
/// allowed): counted, never recorded.
fn invalid(v: f64) -> bool {
    if v.is_finite() {
        return false;
    }
    diag::add(&diag::INVALID_MEASUREMENTS, 1);
    true
}

type Handle = Option<Arc<Instrument<AttributeSet>>>;

macro_rules! handle {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name<T> {
            inner: Handle,
            _value: PhantomData<fn(T)>,
        }

        impl<T> $name<T> {
            pub(crate) fn new(inner: Handle) -> Self {
                Self { inner, _value: PhantomData }
            }

            /// Whether measurements are recorded (false for an instrument whose name was
            /// invalid, or a disabled provider's).
            pub fn is_enabled(&self) -> bool {
                self.inner.is_some()
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let name = self.inner.as_ref().map(|i| &i.descriptor.name);
                f.debug_struct(stringify!($name)).field("name", &name).finish()
            }
        }
    };
}

handle! {
    /// A monotonic sum: request counts, bytes sent. Exported as a Sum (`_total` in Prometheus).
    Counter
}
handle! {
    /// A sum that goes up and down: requests in flight, queue length.
    UpDownCounter
}
handle! {
    /// A distribution in explicit buckets, with count, sum, min and max: durations, sizes.
    Histogram
}
handle! {
    /// The last value recorded per attribute set: a temperature, a pool's size.
    Gauge
}

impl Counter<u64> {
    /// Adds `value` to the series of `attributes`.
    pub fn add(&self, value: u64, attributes: &[KeyValue]) {
        if let Some(i) = &self.inner {
            i.add_i64(value as i64, attributes);
        }
    }
}

impl Counter<f64> {
    /// Adds `value` (a negative, NaN or infinite value is counted in `diag` and ignored).
    pub fn add(&self, value: f64, attributes: &[KeyValue]) {
        if let Some(i) = &self.inner
            && !invalid(value)
        {
            if value < 0.0 {
                diag::add(&diag::INVALID_MEASUREMENTS, 1);
                return;
            }
            i.add_f64(value, attributes);
        }
    }
}

impl UpDownCounter<i64> {
    /// Adds `value` (negative to subtract).
    pub fn add(&self, value: i64, attributes: &[KeyValue]) {
        if let Some(i) = &self.inner {
            i.add_i64(value, attributes);
        }
    }
}

impl Histogram<f64> {
    /// Records `value` (NaN or infinite: counted in `diag` and ignored).
    pub fn record(&self, value: f64, attributes: &[KeyValue]) {
        if let Some(i) = &self.inner
            && !invalid(value)
        {
            i.record(value, attributes);
        }
    }
}

impl Gauge<f64> {
    /// Sets the value of the series of `attributes` (NaN or infinite: counted and ignored).
    pub fn record(&self, value: f64, attributes: &[KeyValue]) {
        if let Some(i) = &self.inner
            && !invalid(value)
        {
            i.record(value, attributes);
        }
    }
}

/// Why an instrument could not be built as asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstrumentError {
    message: String,
}

impl fmt::Display for InstrumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InstrumentError {}

/// Whether `name` follows the instrument name grammar: `^[A-Za-z][A-Za-z0-9_.\-/]{0,254}$`.
///
/// ```
/// use tracecore::metrics::is_valid_instrument_name;
/// assert!(is_valid_instrument_name("http.server.request.duration"));
/// assert!(!is_valid_instrument_name("1xx"));
/// assert!(!is_valid_instrument_name("with space"));
/// ```
pub fn is_valid_instrument_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    name.len() <= 255
        && bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
}

/// Builds an instrument: `meter.u64_counter("app.orders").with_unit("{order}").build()`.
#[must_use = "an instrument builder does nothing until `build`"]
pub struct InstrumentBuilder<'a, I> {
    meter: &'a Meter,
    descriptor: Descriptor,
    boundaries: Option<Arc<[f64]>>,
    _instrument: PhantomData<fn() -> I>,
}

impl<'a, I> InstrumentBuilder<'a, I> {
    pub(crate) fn new(meter: &'a Meter, name: Cow<'static, str>) -> Self {
        Self {
            meter,
            descriptor: Descriptor {
                name,
                description: Cow::Borrowed(""),
                unit: Cow::Borrowed(""),
            },
            boundaries: None,
            _instrument: PhantomData,
        }
    }

    /// What the instrument measures, in words.
    pub fn with_description(mut self, description: impl Into<Cow<'static, str>>) -> Self {
        self.descriptor.description = description.into();
        self
    }

    /// The unit (UCUM: `s`, `By`, `{request}`; at most 63 ASCII characters, else warned about
    /// once and left empty).
    pub fn with_unit(mut self, unit: impl Into<Cow<'static, str>>) -> Self {
        let unit = unit.into();
        if unit.len() > 63 || !unit.is_ascii() {
            diag::warn_once(&format!(
                "metrics: the unit {unit:?} of instrument {:?} is not at most 63 ASCII characters; left empty",
                self.descriptor.name
            ));
        } else {
            self.descriptor.unit = unit;
        }
        self
    }

    /// An instrument recording nothing when the name is invalid (warned about once, naming it).
    fn checked(&self) -> bool {
        let valid = is_valid_instrument_name(&self.descriptor.name);
        if !valid {
            diag::warn_once(&format!(
                "metrics: instrument name {:?} does not match ^[A-Za-z][A-Za-z0-9_.\\-/]{{0,254}}$; \
                 it records nothing",
                self.descriptor.name
            ));
        }
        valid && self.meter.is_enabled()
    }

    fn register(self, aggregation: impl FnOnce(usize) -> Aggregation<AttributeSet>) -> Handle {
        if !self.checked() {
            return None;
        }
        let limit = self.meter.cardinality_limit();
        Some(
            self.meter
                .instrument(Instrument::new(self.descriptor, aggregation(limit))),
        )
    }
}

impl InstrumentBuilder<'_, Histogram<f64>> {
    /// Bucket boundaries instead of the defaults: strictly increasing finite numbers, else an
    /// error that names them.
    pub fn with_boundaries(mut self, boundaries: Vec<f64>) -> Result<Self, InstrumentError> {
        let increasing = boundaries.windows(2).all(|w| w[0] < w[1]);
        if !increasing || boundaries.iter().any(|b| !b.is_finite()) {
            return Err(InstrumentError {
                message: format!(
                    "histogram {:?}: boundaries {boundaries:?} are not strictly increasing finite numbers",
                    self.descriptor.name
                ),
            });
        }
        self.boundaries = Some(boundaries.into());
        Ok(self)
    }

    /// The histogram.
    pub fn build(self) -> Histogram<f64> {
        let bounds = self
            .boundaries
            .clone()
            .unwrap_or_else(|| Arc::from(DEFAULT_BOUNDARIES));
        let exemplars = self.meter.exemplar_filter();
        Histogram::new(self.register(|limit| Aggregation::Histogram {
            table: Table::new(limit),
            bounds,
            exemplars,
        }))
    }
}

impl InstrumentBuilder<'_, Counter<u64>> {
    /// The counter.
    pub fn build(self) -> Counter<u64> {
        Counter::new(self.register(|limit| Aggregation::Sum {
            table: Table::new(limit),
            float: false,
            monotonic: true,
        }))
    }
}

impl InstrumentBuilder<'_, Counter<f64>> {
    /// The counter.
    pub fn build(self) -> Counter<f64> {
        Counter::new(self.register(|limit| Aggregation::Sum {
            table: Table::new(limit),
            float: true,
            monotonic: true,
        }))
    }
}

impl InstrumentBuilder<'_, UpDownCounter<i64>> {
    /// The up-down counter.
    pub fn build(self) -> UpDownCounter<i64> {
        UpDownCounter::new(self.register(|limit| Aggregation::Sum {
            table: Table::new(limit),
            float: false,
            monotonic: false,
        }))
    }
}

impl InstrumentBuilder<'_, Gauge<f64>> {
    /// The gauge.
    pub fn build(self) -> Gauge<f64> {
        Gauge::new(self.register(|limit| Aggregation::Gauge {
            table: Table::new(limit),
        }))
    }
}

impl<I> fmt::Debug for InstrumentBuilder<'_, I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InstrumentBuilder")
            .field("name", &self.descriptor.name)
            .finish_non_exhaustive()
    }
}
