//! What the exporters count, read through [`OtlpStats`].

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    pub(super) retries: AtomicU64,
    pub(super) spans_exported: AtomicU64,
    pub(super) spans_failed: AtomicU64,
    pub(super) spans_rejected: AtomicU64,
    pub(super) points_exported: AtomicU64,
    pub(super) points_failed: AtomicU64,
    pub(super) points_rejected: AtomicU64,
    pub(super) records_exported: AtomicU64,
    pub(super) records_failed: AtomicU64,
    pub(super) records_rejected: AtomicU64,
}

/// A live view of an [`OtlpExporter`](super::OtlpExporter)'s counters; cheap to clone.
#[derive(Clone, Debug)]
pub struct OtlpStats(pub(super) Arc<Counters>);

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpCounts {
    /// HTTP requests started (first attempts and retries).
    pub requests: u64,
    /// Of those, retries.
    pub retries: u64,
    /// Spans in exports the receiver accepted (partial successes included).
    pub spans_exported: u64,
    /// Spans in exports that failed for good (the batch processor counts them as dropped).
    pub spans_failed: u64,
    /// Spans the receiver said it rejected in a partial success.
    pub spans_rejected: u64,
    /// Metric data points in exports the receiver accepted.
    pub points_exported: u64,
    /// Metric data points in exports that failed for good.
    pub points_failed: u64,
    /// Metric data points the receiver said it rejected in a partial success.
    pub points_rejected: u64,
    /// Log records in exports the receiver accepted.
    pub records_exported: u64,
    /// Log records in exports that failed for good.
    pub records_failed: u64,
    /// Log records the receiver said it rejected in a partial success.
    pub records_rejected: u64,
}

/// Counters added field by field: the totals of several exporters.
impl std::ops::Add for OtlpCounts {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            requests: self.requests + other.requests,
            retries: self.retries + other.retries,
            spans_exported: self.spans_exported + other.spans_exported,
            spans_failed: self.spans_failed + other.spans_failed,
            spans_rejected: self.spans_rejected + other.spans_rejected,
            points_exported: self.points_exported + other.points_exported,
            points_failed: self.points_failed + other.points_failed,
            points_rejected: self.points_rejected + other.points_rejected,
            records_exported: self.records_exported + other.records_exported,
            records_failed: self.records_failed + other.records_failed,
            records_rejected: self.records_rejected + other.records_rejected,
        }
    }
}

impl std::iter::Sum for OtlpCounts {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |total, counts| total + counts)
    }
}

impl OtlpStats {
    /// The counters now.
    pub fn counts(&self) -> OtlpCounts {
        let c = &self.0;
        OtlpCounts {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            spans_exported: c.spans_exported.load(Ordering::Relaxed),
            spans_failed: c.spans_failed.load(Ordering::Relaxed),
            spans_rejected: c.spans_rejected.load(Ordering::Relaxed),
            points_exported: c.points_exported.load(Ordering::Relaxed),
            points_failed: c.points_failed.load(Ordering::Relaxed),
            points_rejected: c.points_rejected.load(Ordering::Relaxed),
            records_exported: c.records_exported.load(Ordering::Relaxed),
            records_failed: c.records_failed.load(Ordering::Relaxed),
            records_rejected: c.records_rejected.load(Ordering::Relaxed),
        }
    }
}

/// What a failed export's warning says of its retries: `retry` is how many were made.
pub(super) fn tried(retry: u32) -> String {
    match retry {
        0 => "not retried".to_owned(),
        1 => "retried once, then stopped".to_owned(),
        n => format!("retried {n} times, then stopped"),
    }
}
