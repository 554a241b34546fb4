//! What tracecore dropped or rejected, counted; and configuration warnings, said once.
//!
//! Nothing is dropped silently: a malformed header that restarts a trace, a baggage member past
//! the limits, a header value that could not be encoded are all counted here, process-wide.
//!
//! ```
//! use tracecore::diag;
//! use tracecore::propagation::{Propagator, TraceContextPropagator};
//!
//! let before = diag::counts().invalid_traceparent;
//! let mut headers = http::HeaderMap::new();
//! headers.insert("traceparent", "00-not-a-valid-header".parse().unwrap());
//! let cx = TraceContextPropagator::new().extract(&headers);
//! assert!(cx.span_context().is_none());
//! assert!(diag::counts().invalid_traceparent > before);
//! ```

use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

/// A snapshot of the process-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Incoming `traceparent` headers (or B3 / Jaeger ids) ignored as invalid: the trace restarted.
    pub invalid_traceparent: u64,
    /// Incoming `tracestate` headers discarded as invalid, or discarded with an invalid `traceparent`.
    pub invalid_tracestate: u64,
    /// Baggage members dropped: malformed, or past the 64-member / 8192-byte limits.
    pub baggage_members_dropped: u64,
    /// Header values an injector could not encode, so did not send.
    pub header_values_skipped: u64,
    /// Span, event and link attributes dropped by the span limits.
    pub attributes_dropped: u64,
    /// Metric measurements ignored: NaN, infinite, or negative for a counter.
    pub invalid_measurements: u64,
    /// Tail sampling: local traces kept because a span ended with status Error.
    pub tail_kept_errors: u64,
    /// Tail sampling: local traces kept because their local root ran past `slower_than`.
    pub tail_kept_slow: u64,
    /// Tail sampling: local traces kept because a downstream service kept them.
    pub tail_kept_downstream: u64,
    /// Tail sampling: local traces dropped, no rule keeping them.
    pub tail_dropped_traces: u64,
    /// Tail sampling: spans dropped with their traces (those ending after the decision too).
    pub tail_dropped_spans: u64,
    /// Tail sampling: local traces decided before their root ended, the held spans being past
    /// their byte budget.
    pub tail_early_bytes: u64,
    /// Tail sampling: local traces decided before their root ended, held past the maximum age
    /// (or at shutdown).
    pub tail_early_age: u64,
}

pub(crate) static INVALID_TRACEPARENT: AtomicU64 = AtomicU64::new(0);
pub(crate) static INVALID_TRACESTATE: AtomicU64 = AtomicU64::new(0);
pub(crate) static BAGGAGE_MEMBERS_DROPPED: AtomicU64 = AtomicU64::new(0);
pub(crate) static HEADER_VALUES_SKIPPED: AtomicU64 = AtomicU64::new(0);
pub(crate) static ATTRIBUTES_DROPPED: AtomicU64 = AtomicU64::new(0);
pub(crate) static INVALID_MEASUREMENTS: AtomicU64 = AtomicU64::new(0);
pub(crate) static TAIL_KEPT_ERRORS: AtomicU64 = AtomicU64::new(0);
pub(crate) static TAIL_KEPT_SLOW: AtomicU64 = AtomicU64::new(0);
pub(crate) static TAIL_KEPT_DOWNSTREAM: AtomicU64 = AtomicU64::new(0);
pub(crate) static TAIL_DROPPED_TRACES: AtomicU64 = AtomicU64::new(0);
pub(crate) static TAIL_DROPPED_SPANS: AtomicU64 = AtomicU64::new(0);
pub(crate) static TAIL_EARLY_BYTES: AtomicU64 = AtomicU64::new(0);
pub(crate) static TAIL_EARLY_AGE: AtomicU64 = AtomicU64::new(0);

/// Adds `n` to a counter.
pub(crate) fn add(counter: &AtomicU64, n: u64) {
    if n > 0 {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

/// The counters now.
pub fn counts() -> Counts {
    Counts {
        invalid_traceparent: INVALID_TRACEPARENT.load(Ordering::Relaxed),
        invalid_tracestate: INVALID_TRACESTATE.load(Ordering::Relaxed),
        baggage_members_dropped: BAGGAGE_MEMBERS_DROPPED.load(Ordering::Relaxed),
        header_values_skipped: HEADER_VALUES_SKIPPED.load(Ordering::Relaxed),
        attributes_dropped: ATTRIBUTES_DROPPED.load(Ordering::Relaxed),
        invalid_measurements: INVALID_MEASUREMENTS.load(Ordering::Relaxed),
        tail_kept_errors: TAIL_KEPT_ERRORS.load(Ordering::Relaxed),
        tail_kept_slow: TAIL_KEPT_SLOW.load(Ordering::Relaxed),
        tail_kept_downstream: TAIL_KEPT_DOWNSTREAM.load(Ordering::Relaxed),
        tail_dropped_traces: TAIL_DROPPED_TRACES.load(Ordering::Relaxed),
        tail_dropped_spans: TAIL_DROPPED_SPANS.load(Ordering::Relaxed),
        tail_early_bytes: TAIL_EARLY_BYTES.load(Ordering::Relaxed),
        tail_early_age: TAIL_EARLY_AGE.load(Ordering::Relaxed),
    }
}

type Handler = Box<dyn Fn(&str) + Send + Sync>;

static HANDLER: OnceLock<Handler> = OnceLock::new();
static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);

/// Sends tracecore's warnings to `handler` instead of standard error. Set once per process.
pub fn set_warning_handler<F>(handler: F) -> Result<(), AlreadySet>
where
    F: Fn(&str) + Send + Sync + 'static,
{
    HANDLER.set(Box::new(handler)).map_err(|_| AlreadySet(()))
}

/// The error returned when a set-once setting is set a second time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlreadySet(());

impl fmt::Display for AlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the setting was already set; it can be set once per process")
    }
}

impl std::error::Error for AlreadySet {}

/// Says `message` unless the same message was said before in this process (to the handler set
/// with [`set_warning_handler`], else standard error). For messages drawn from a small set: each
/// distinct message is remembered.
pub fn warn_once(message: &str) {
    {
        let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
        if !said
            .get_or_insert_with(HashSet::new)
            .insert(message.to_owned())
        {
            return;
        }
    }
    warn(message);
}

/// Says `message` now (to the handler set with [`set_warning_handler`], else standard error).
/// Callers say it on a change of state (an exporter starting to fail, then recovering), not
/// per event.
pub fn warn(message: &str) {
    match HANDLER.get() {
        Some(handler) => handler(message),
        None => eprintln!("tracecore: warning: {message}"),
    }
}
