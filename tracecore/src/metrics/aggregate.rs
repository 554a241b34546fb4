//! What each series holds: atomics that recording adds to, and how a collection reads them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Instant, SystemTime};

use super::data::{Exemplar, HistogramPoint, MetricData, Number, NumberPoint, Temporality};
use super::table::{Series, SeriesKey, Table, hash_bytes, mix};
use crate::{KeyValue, SpanId, TraceId, Value};

/// Shards per series: threads recording into one series at once each add to their own shard
/// (on its own cache line), and a collection adds the shards up.
pub(crate) const SHARDS: usize = 4;

/// An atomic alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(64))]
struct Padded(AtomicU64);

/// This thread's shard, assigned round-robin when the thread first records.
pub(crate) fn shard() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.try_with(|s| *s).unwrap_or(0)
}

fn add_f64_bits(cell: &AtomicU64, v: f64) {
    let _ = cell.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
        Some((f64::from_bits(bits) + v).to_bits())
    });
}

/// A sum, as the bits of an `i64` or an `f64`, sharded.
#[derive(Debug, Default)]
pub(crate) struct SumCell([Padded; SHARDS]);

impl SumCell {
    pub(crate) fn add_i64(&self, v: i64) {
        // Two's complement: adding the bits adds the integers.
        self.0[shard()].0.fetch_add(v as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_f64(&self, v: f64) {
        add_f64_bits(&self.0[shard()].0, v);
    }

    fn load(&self, float: bool) -> Number {
        let bits = self.0.iter().map(|s| s.0.load(Ordering::Relaxed));
        if float {
            Number::F64(bits.map(f64::from_bits).sum())
        } else {
            Number::I64(bits.fold(0i64, |sum, b| sum.wrapping_add(b as i64)))
        }
    }
}

/// The last value recorded.
#[derive(Debug)]
pub(crate) struct GaugeCell(AtomicU64);

impl GaugeCell {
    pub(crate) fn new(v: f64) -> Self {
        Self(AtomicU64::new(v.to_bits()))
    }

    pub(crate) fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }
}

/// Explicit-bucket counts, sum, min and max; counts and sum sharded. The count is the sum of the
/// buckets, so a collection always sees counts that add up.
#[derive(Debug)]
pub(crate) struct HistogramCell {
    shards: [HistogramShard; SHARDS],
    min: AtomicU64,
    max: AtomicU64,
    /// The last exemplar offered per bucket, made when the first is offered.
    exemplars: OnceLock<Box<[Mutex<Option<Offered>>]>>,
}

/// An exemplar as recorded: its time on the monotonic clock, made wall-clock when collected.
#[derive(Clone, Debug)]
struct Offered {
    value: f64,
    at: Instant,
    trace_id: TraceId,
    span_id: SpanId,
}

#[derive(Debug)]
#[repr(align(64))]
struct HistogramShard {
    sum: AtomicU64,
    buckets: Box<[AtomicU64]>,
}

impl HistogramCell {
    pub(crate) fn new(bounds: usize) -> Self {
        Self {
            shards: std::array::from_fn(|_| HistogramShard {
                sum: AtomicU64::new(0f64.to_bits()),
                buckets: (0..=bounds).map(|_| AtomicU64::new(0)).collect(),
            }),
            min: AtomicU64::new(f64::INFINITY.to_bits()),
            max: AtomicU64::new(f64::NEG_INFINITY.to_bits()),
            exemplars: OnceLock::new(),
        }
    }

    /// Records `v`, and keeps it as its bucket's exemplar with the span it was measured in
    /// (the bucket's previous one is replaced: the aligned-bucket reservoir keeps the last).
    /// A thread that finds the bucket's exemplar being written by another skips its own.
    pub(crate) fn record_with_exemplar(
        &self,
        bounds: &[f64],
        v: f64,
        span: Option<(TraceId, SpanId)>,
        when: impl FnOnce() -> Instant,
    ) {
        let at = self.record(bounds, v);
        if let Some((trace_id, span_id)) = span {
            let slots = self
                .exemplars
                .get_or_init(|| (0..=bounds.len()).map(|_| Mutex::new(None)).collect());
            if let Some(Ok(mut slot)) = slots.get(at).map(Mutex::try_lock) {
                *slot = Some(Offered {
                    value: v,
                    at: when(),
                    trace_id,
                    span_id,
                });
            }
        }
    }

    /// The exemplars kept, bucket by bucket; taken (for a delta point) or copied.
    fn exemplars(&self, take: bool) -> Vec<Exemplar> {
        let Some(slots) = self.exemplars.get() else {
            return Vec::new();
        };
        slots
            .iter()
            .filter_map(|slot| {
                let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
                let offered = if take { slot.take() } else { slot.clone() }?;
                Some(Exemplar {
                    value: offered.value,
                    time: crate::trace::clock::wall_time(offered.at),
                    trace_id: offered.trace_id,
                    span_id: offered.span_id,
                })
            })
            .collect()
    }

    /// Records `v` in the bucket `(bounds[i-1], bounds[i]]`; returns the bucket.
    pub(crate) fn record(&self, bounds: &[f64], v: f64) -> usize {
        let at = bounds.partition_point(|&b| b < v);
        let shard = &self.shards[shard()];
        if let Some(bucket) = shard.buckets.get(at) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        add_f64_bits(&shard.sum, v);
        if v < f64::from_bits(self.min.load(Ordering::Relaxed)) {
            let _ = self
                .min
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    (v < f64::from_bits(bits)).then_some(v.to_bits())
                });
        }
        if v > f64::from_bits(self.max.load(Ordering::Relaxed)) {
            let _ = self
                .max
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                    (v > f64::from_bits(bits)).then_some(v.to_bits())
                });
        }
        at
    }

    fn snapshot(&self) -> HistogramSnapshot {
        let n = self.shards[0].buckets.len();
        let mut buckets = vec![0u64; n];
        let mut sum = 0.0;
        for shard in &self.shards {
            for (total, b) in buckets.iter_mut().zip(shard.buckets.iter()) {
                *total += b.load(Ordering::Relaxed);
            }
            sum += f64::from_bits(shard.sum.load(Ordering::Relaxed));
        }
        HistogramSnapshot { buckets, sum }
    }
}

#[derive(Clone, Debug, PartialEq)]
struct HistogramSnapshot {
    buckets: Vec<u64>,
    sum: f64,
}

/// What a delta reader saw of a series last time: the next point is the difference.
#[derive(Clone, Debug)]
enum Previous {
    Sum(Number),
    Histogram(HistogramSnapshot),
}

/// A delta reader's memory of the previous collection, per series.
#[derive(Debug, Default)]
pub(crate) struct DeltaState {
    previous: HashMap<usize, (SystemTime, Previous)>,
    /// When the previous collection ran: where a new series' first delta point starts.
    pub(crate) last_collection: Option<SystemTime>,
}

impl DeltaState {
    /// The previous reading of `series`, and when it was taken; replaced by `now`'s.
    fn swap(
        &mut self,
        series: usize,
        now: SystemTime,
        reading: Previous,
    ) -> Option<(SystemTime, Previous)> {
        self.previous.insert(series, (now, reading))
    }
}

/// How an instrument aggregates, with its series.
pub(crate) enum Aggregation<K> {
    Sum {
        table: Table<K, SumCell>,
        float: bool,
        monotonic: bool,
    },
    Gauge {
        table: Table<K, GaugeCell>,
    },
    Histogram {
        table: Table<K, HistogramCell>,
        bounds: Arc<[f64]>,
        exemplars: ExemplarFilter,
    },
}

impl<K> Aggregation<K> {
    /// The same kind of aggregation, configured alike (its series aside).
    pub(crate) fn same_kind(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Self::Sum {
                    float, monotonic, ..
                },
                Self::Sum {
                    float: f,
                    monotonic: m,
                    ..
                },
            ) => float == f && monotonic == m,
            (Self::Gauge { .. }, Self::Gauge { .. }) => true,
            (
                Self::Histogram {
                    bounds, exemplars, ..
                },
                Self::Histogram {
                    bounds: b,
                    exemplars: e,
                    ..
                },
            ) => bounds == b && exemplars == e,
            _ => false,
        }
    }
}

/// Which measurements may become exemplars (`OTEL_METRICS_EXEMPLAR_FILTER`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExemplarFilter {
    /// Measurements made while a sampled span is current (the default).
    #[default]
    TraceBased,
    /// Measurements made while any span is current, sampled or not.
    AlwaysOn,
    /// None.
    AlwaysOff,
}

impl ExemplarFilter {
    /// The span a measurement made in `span_context` may carry as its exemplar.
    pub(crate) fn admit(
        self,
        span_context: Option<&crate::SpanContext>,
    ) -> Option<(TraceId, SpanId)> {
        let sc = span_context?;
        let admitted = match self {
            Self::TraceBased => sc.is_sampled(),
            Self::AlwaysOn => true,
            Self::AlwaysOff => false,
        };
        admitted.then(|| (sc.trace_id(), sc.span_id()))
    }

    /// `OTEL_METRICS_EXEMPLAR_FILTER` (`trace_based`, `always_on`, `always_off`; an unknown
    /// value is warned about once and the default used).
    pub fn from_env() -> Self {
        const NAME: &str = "OTEL_METRICS_EXEMPLAR_FILTER";
        let Some(raw) = crate::env::var(NAME) else {
            return Self::default();
        };
        match raw.trim().to_ascii_lowercase().as_str() {
            "trace_based" => Self::TraceBased,
            "always_on" => Self::AlwaysOn,
            "always_off" => Self::AlwaysOff,
            _ => {
                crate::diag::warn_once(&format!(
                    "{NAME}: unknown value {raw:?}; using trace_based (accepted: trace_based, always_on, always_off)"
                ));
                Self::default()
            }
        }
    }
}

fn address<K, C>(series: &Series<K, C>) -> usize {
    std::ptr::from_ref(series) as usize
}

impl<K: SeriesKey> Aggregation<K> {
    /// The temporality this aggregation is read with, given the reader's preference for sums of
    /// monotonic counters and histograms (up-down counters are always cumulative, as the
    /// specification's `delta` and `lowmemory` preferences both say).
    pub(crate) fn temporality(&self, preferred: Temporality) -> Temporality {
        match self {
            Self::Sum {
                monotonic: false, ..
            }
            | Self::Gauge { .. } => Temporality::Cumulative,
            Self::Sum { .. } | Self::Histogram { .. } => preferred,
        }
    }

    /// The points now. With delta temporality, `state` holds the previous reading of each
    /// series; a series with nothing new since then has no point.
    pub(crate) fn collect(
        &self,
        now: SystemTime,
        created: SystemTime,
        preferred: Temporality,
        state: &mut DeltaState,
    ) -> MetricData {
        let temporality = self.temporality(preferred);
        let delta = temporality == Temporality::Delta;
        match self {
            Self::Sum {
                table,
                float,
                monotonic,
            } => {
                let mut points = Vec::new();
                for series in table.iter() {
                    let value = series.cell.load(*float);
                    let mut start = series.start;
                    let mut out = value;
                    if delta {
                        match state.swap(address(series), now, Previous::Sum(value)) {
                            Some((at, Previous::Sum(before))) => {
                                start = at;
                                out = match (value, before) {
                                    (Number::I64(v), Number::I64(b)) => {
                                        Number::I64(v.wrapping_sub(b))
                                    }
                                    (v, b) => Number::F64(v.as_f64() - b.as_f64()),
                                };
                                if out.as_f64() == 0.0 {
                                    continue;
                                }
                            }
                            _ => start = state.last_collection.unwrap_or(created),
                        }
                    }
                    points.push(NumberPoint {
                        attributes: series.attributes(),
                        start_time: start,
                        time: now,
                        value: out,
                    });
                }
                MetricData::Sum {
                    points,
                    temporality,
                    monotonic: *monotonic,
                }
            }
            Self::Gauge { table } => MetricData::Gauge {
                points: table
                    .iter()
                    .map(|series| NumberPoint {
                        attributes: series.attributes(),
                        start_time: series.start,
                        time: now,
                        value: Number::F64(f64::from_bits(series.cell.0.load(Ordering::Relaxed))),
                    })
                    .collect(),
            },
            Self::Histogram { table, bounds, .. } => {
                let mut points = Vec::new();
                for series in table.iter() {
                    let snapshot = series.cell.snapshot();
                    let (start, counts, sum, min_max) = if delta {
                        match state.swap(
                            address(series),
                            now,
                            Previous::Histogram(snapshot.clone()),
                        ) {
                            Some((at, Previous::Histogram(before))) => {
                                let counts: Vec<u64> = snapshot
                                    .buckets
                                    .iter()
                                    .zip(&before.buckets)
                                    .map(|(a, b)| a.saturating_sub(*b))
                                    .collect();
                                if counts.iter().all(|&c| c == 0) {
                                    continue;
                                }
                                (at, counts, snapshot.sum - before.sum, None)
                            }
                            _ => (
                                state.last_collection.unwrap_or(created),
                                snapshot.buckets,
                                snapshot.sum,
                                None,
                            ),
                        }
                    } else {
                        let min = f64::from_bits(series.cell.min.load(Ordering::Relaxed));
                        let max = f64::from_bits(series.cell.max.load(Ordering::Relaxed));
                        let min_max = (min <= max).then_some((min, max));
                        (series.start, snapshot.buckets, snapshot.sum, min_max)
                    };
                    let count = counts.iter().sum();
                    points.push(HistogramPoint {
                        attributes: series.attributes(),
                        start_time: start,
                        time: now,
                        count,
                        sum: if count == 0 { 0.0 } else { sum },
                        min: min_max.map(|(min, _)| min),
                        max: min_max.map(|(_, max)| max),
                        bounds: bounds.clone(),
                        bucket_counts: counts,
                        exemplars: series.cell.exemplars(delta),
                    });
                }
                MetricData::Histogram {
                    points,
                    temporality,
                }
            }
        }
    }
}

/// A user instrument's attribute set: sorted by key, one value per key (the last given).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttributeSet(Vec<KeyValue>);

impl AttributeSet {
    /// The set `attributes` describe (allocates: only for a new series).
    pub(crate) fn new(attributes: &[KeyValue]) -> Self {
        let mut set: Vec<KeyValue> = Vec::with_capacity(attributes.len());
        for kv in attributes {
            match set.iter_mut().find(|e| e.key == kv.key) {
                Some(existing) => existing.value = kv.value.clone(),
                None => set.push(kv.clone()),
            }
        }
        set.sort_by(|a, b| a.key.cmp(&b.key));
        Self(set)
    }

    /// Whether `attributes` describe this set, without allocating.
    pub(crate) fn matches(&self, attributes: &[KeyValue]) -> bool {
        let distinct = attributes
            .iter()
            .enumerate()
            .filter(|(i, kv)| !attributes[i + 1..].iter().any(|later| later.key == kv.key))
            .count();
        distinct == self.0.len()
            && self.0.iter().all(|kv| {
                attributes
                    .iter()
                    .rev()
                    .find(|given| given.key == kv.key)
                    .is_some_and(|given| value_eq(&given.value, &kv.value))
            })
    }

    /// A hash of the set `attributes` describe that does not depend on their order (a repeated
    /// key hashes each of its values, so such lists only cost a slower look-up).
    pub(crate) fn hash(attributes: &[KeyValue]) -> u64 {
        attributes
            .iter()
            .fold(0u64, |h, kv| h.wrapping_add(kv_hash(kv)))
    }
}

impl SeriesKey for AttributeSet {
    fn attributes(&self) -> Vec<KeyValue> {
        self.0.clone()
    }
}

fn value_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        // Bitwise, so that a series keyed by NaN is found again.
        (Value::F64(a), Value::F64(b)) => a.to_bits() == b.to_bits(),
        _ => a == b,
    }
}

fn kv_hash(kv: &KeyValue) -> u64 {
    let h = hash_bytes(0, kv.key.as_str().as_bytes());
    let h = match &kv.value {
        Value::String(s) => hash_bytes(h ^ 1, s.as_bytes()),
        Value::Bool(b) => hash_bytes(h ^ 2, &[u8::from(*b)]),
        Value::I64(i) => hash_bytes(h ^ 3, &i.to_le_bytes()),
        Value::F64(f) => hash_bytes(h ^ 4, &f.to_bits().to_le_bytes()),
        other => hash_bytes(h ^ 5, other.to_string().as_bytes()),
    };
    mix(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_sets_ignore_order_and_keep_the_last_value_of_a_key() {
        let a = [KeyValue::new("b", 2), KeyValue::new("a", "x")];
        let b = [KeyValue::new("a", "x"), KeyValue::new("b", 2)];
        assert_eq!(AttributeSet::hash(&a), AttributeSet::hash(&b));
        let set = AttributeSet::new(&a);
        assert!(set.matches(&b));
        assert!(!set.matches(&[KeyValue::new("a", "x")]));
        assert!(!set.matches(&[KeyValue::new("a", "x"), KeyValue::new("b", 3)]));
        let repeated = [
            KeyValue::new("a", "y"),
            KeyValue::new("a", "x"),
            KeyValue::new("b", 2),
        ];
        assert!(set.matches(&repeated));
        assert_eq!(AttributeSet::new(&repeated), set);
    }

    #[test]
    fn histogram_buckets_are_inclusive_at_the_top() {
        let bounds = [1.0, 2.0, 5.0];
        let cell = HistogramCell::new(bounds.len());
        for v in [0.5, 1.0, 1.5, 2.0, 5.0, 5.1, 100.0] {
            cell.record(&bounds, v);
        }
        let s = cell.snapshot();
        assert_eq!(s.buckets, [2, 2, 1, 2]);
        assert_eq!(s.sum, 115.1);
    }
}
