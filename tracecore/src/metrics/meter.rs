//! Meters: the instruments of one instrumentation scope.

use std::borrow::Cow;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use super::aggregate::{DeltaState, ExemplarFilter};
use super::data::{ScopeMetrics, Temporality};
use super::instrument::{
    Collect, Counter, Gauge, Histogram, Instrument, InstrumentBuilder, UpDownCounter,
};
use super::table::SeriesKey;
use crate::trace::InstrumentationScope;

/// Creates the instruments of one instrumentation scope. Cloning is cheap.
///
/// ```
/// use tracecore::metrics::{ManualReader, MeterProvider};
/// use tracecore::KeyValue;
///
/// let reader = ManualReader::new();
/// let provider = MeterProvider::builder().with_reader(reader.clone()).build();
/// let orders = provider.meter("shop").u64_counter("app.orders").with_unit("{order}").build();
/// orders.add(2, &[KeyValue::new("region", "eu")]);
/// orders.add(1, &[KeyValue::new("region", "eu")]);
/// let collected = reader.collect();
/// let point = &collected.metric("app.orders").unwrap().data.number_points()[0];
/// assert_eq!(point.value.as_f64(), 3.0);
/// ```
#[derive(Clone)]
pub struct Meter {
    inner: Arc<MeterInner>,
}

pub(crate) struct MeterInner {
    pub(crate) scope: InstrumentationScope,
    instruments: Mutex<Vec<Arc<dyn Collect>>>,
    limit: usize,
    enabled: bool,
    exemplar_filter: ExemplarFilter,
}

impl MeterInner {
    pub(crate) fn new(
        scope: InstrumentationScope,
        limit: usize,
        enabled: bool,
        exemplar_filter: ExemplarFilter,
    ) -> Self {
        Self {
            scope,
            instruments: Mutex::new(Vec::new()),
            limit,
            enabled,
            exemplar_filter,
        }
    }

    pub(crate) fn collect(
        &self,
        now: SystemTime,
        preferred: Temporality,
        state: &mut DeltaState,
    ) -> Option<ScopeMetrics> {
        let instruments = self
            .instruments
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let metrics: Vec<_> = instruments
            .iter()
            .filter_map(|i| i.collect(now, preferred, state))
            .collect();
        (!metrics.is_empty()).then(|| ScopeMetrics {
            scope: self.scope.clone(),
            metrics,
        })
    }
}

impl Meter {
    pub(crate) fn new(inner: Arc<MeterInner>) -> Self {
        Self { inner }
    }

    /// The instrumentation scope.
    pub fn scope(&self) -> &InstrumentationScope {
        &self.inner.scope
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.inner.enabled
    }

    pub(crate) fn cardinality_limit(&self) -> usize {
        self.inner.limit
    }

    pub(crate) fn exemplar_filter(&self) -> ExemplarFilter {
        self.inner.exemplar_filter
    }

    /// `instrument`, added to what this meter collects; or, when the meter already has an
    /// identical one (the same name, description, unit, kind and aggregation), that one: an
    /// instrument asked for twice is one instrument (the metrics SDK's rule), recorded and
    /// exported once. A second instrument with the same name that is not identical is
    /// collected too (and warned about once): both are exported. A disabled meter keeps
    /// nothing.
    pub(crate) fn instrument<K: SeriesKey>(&self, instrument: Instrument<K>) -> Arc<Instrument<K>> {
        if !self.is_enabled() {
            return Arc::new(instrument);
        }
        let mut instruments = self
            .inner
            .instruments
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let name = &instrument.descriptor.name;
        let mut same_name = false;
        for existing in instruments.iter() {
            if existing.descriptor().name != *name {
                continue;
            }
            same_name = true;
            if let Ok(existing) = existing.clone().as_any().downcast::<Instrument<K>>()
                && existing.descriptor == instrument.descriptor
                && existing.aggregation.same_kind(&instrument.aggregation)
            {
                return existing;
            }
        }
        if same_name {
            crate::diag::warn_once(&format!(
                "metrics: instrument {name:?} was created twice in scope {:?} with different \
                 settings; both are exported",
                self.inner.scope.name()
            ));
        }
        let instrument = Arc::new(instrument);
        instruments.push(instrument.clone());
        instrument
    }

    /// A `u64` counter.
    pub fn u64_counter(
        &self,
        name: impl Into<Cow<'static, str>>,
    ) -> InstrumentBuilder<'_, Counter<u64>> {
        InstrumentBuilder::new(self, name.into())
    }

    /// An `f64` counter.
    pub fn f64_counter(
        &self,
        name: impl Into<Cow<'static, str>>,
    ) -> InstrumentBuilder<'_, Counter<f64>> {
        InstrumentBuilder::new(self, name.into())
    }

    /// An `i64` up-down counter.
    pub fn i64_up_down_counter(
        &self,
        name: impl Into<Cow<'static, str>>,
    ) -> InstrumentBuilder<'_, UpDownCounter<i64>> {
        InstrumentBuilder::new(self, name.into())
    }

    /// An `f64` histogram.
    pub fn f64_histogram(
        &self,
        name: impl Into<Cow<'static, str>>,
    ) -> InstrumentBuilder<'_, Histogram<f64>> {
        InstrumentBuilder::new(self, name.into())
    }

    /// An `f64` gauge.
    pub fn f64_gauge(
        &self,
        name: impl Into<Cow<'static, str>>,
    ) -> InstrumentBuilder<'_, Gauge<f64>> {
        InstrumentBuilder::new(self, name.into())
    }
}

impl fmt::Debug for Meter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meter")
            .field("scope", &self.inner.scope)
            .field("enabled", &self.inner.enabled)
            .finish_non_exhaustive()
    }
}
