//! One request's measurement, from its start to its end with the span.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use http::StatusCode;

use super::key::HttpKey;
use crate::http_span::Side;
use crate::metrics::{Aggregation, HistogramCell, Instrument, NO_SLOT};
use crate::rpc::GrpcCode;

/// A handle on an instrument, alone on its cache line. Each request holds one until it ends; the
/// handles are sharded like the series' cells, so that threads taking one at once do not
/// contend on one reference count.
#[repr(align(64))]
pub(super) struct Handle {
    pub(super) instrument: Arc<Instrument<HttpKey>>,
    /// The table slots of series recorded lately, by [`HttpKey::place`] (slot + 1; 0 for
    /// none): a request of a route seen before finds its series without hashing its key's
    /// strings or comparing their bytes.
    recent: [AtomicUsize; RECENT],
}

/// Series remembered per handle.
const RECENT: usize = 4;

impl Handle {
    pub(super) fn new(instrument: Arc<Instrument<HttpKey>>) -> Self {
        Self {
            instrument,
            recent: Default::default(),
        }
    }
}

/// One request being measured: ends with its span, in [`InFlight`](crate::http_span::InFlight).
pub struct HttpMeasure {
    pub(super) instrument: Arc<Handle>,
    pub(super) start: Instant,
    pub(super) key: HttpKey,
    pub(super) active: Option<Arc<Instrument<HttpKey>>>,
    pub(super) sizes: Option<Box<BodySizes>>,
}

/// The body sizes of one request, recorded when it ends.
pub(super) struct BodySizes {
    instruments: [Arc<Instrument<HttpKey>>; 2],
    request: Option<u64>,
    response: Option<u64>,
    /// The response's size was given by its `Content-Length`: frames are not counted on top.
    response_given: bool,
    /// A client request whose duration ended with the response head, while its body is still
    /// counted.
    response_end: Option<Instant>,
}

impl BodySizes {
    pub(super) fn new(instruments: [Arc<Instrument<HttpKey>>; 2]) -> Box<Self> {
        Box::new(Self {
            instruments,
            request: None,
            response: None,
            response_given: false,
            response_end: None,
        })
    }
}

impl HttpMeasure {
    /// When the request started: the span starts here too
    /// ([`SpanBuilder::with_start_instant`](crate::trace::SpanBuilder::with_start_instant)).
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The response's status code, and `error.type` when it makes the request an error.
    pub fn response(&mut self, side: Side, status: StatusCode) {
        if let HttpKey::Http(key) = &mut self.key {
            key.status = Some(status.as_u16());
            key.error_type = side.error_type(status);
        }
    }

    /// The status a gRPC call ended with ([`HttpMetrics::rpc`](super::HttpMetrics::rpc)); `error` when it makes the call
    /// an error on its side. A server's method is kept from here on (interned: the service
    /// declared it), or is `_OTHER` when the service answered UNIMPLEMENTED.
    pub fn rpc_status(&mut self, code: GrpcCode, error: bool) {
        if let HttpKey::Rpc(key) = &mut self.key {
            key.code = Some(code);
            key.error_type = error.then(|| code.name());
            if key.side == Side::Server {
                key.method = if code == GrpcCode::Unimplemented {
                    Cow::Borrowed("_OTHER")
                } else {
                    crate::http_span::interned(&key.method)
                };
            }
        }
    }

    /// The request ended without a response: `error_type` (low-cardinality) says why.
    pub fn failure(&mut self, error_type: &'static str) {
        self.key.set_error_type(Some(error_type));
    }

    /// The request body's size in bytes (from `Content-Length`, or the body when it is known),
    /// when body sizes are measured.
    pub fn set_request_body_size(&mut self, bytes: u64) {
        if let Some(sizes) = &mut self.sizes {
            sizes.request = Some(bytes);
        }
    }

    /// Counts `bytes` more of the response body (frames as they pass), when body sizes are
    /// measured.
    pub fn add_response_body_bytes(&mut self, bytes: u64) {
        if let Some(sizes) = &mut self.sizes
            && !sizes.response_given
        {
            sizes.response = Some(sizes.response.unwrap_or(0) + bytes);
        }
    }

    /// The response body's size in bytes, when known at once (`Content-Length`): frames are no
    /// longer counted.
    pub fn set_response_body_size(&mut self, bytes: u64) {
        if let Some(sizes) = &mut self.sizes {
            sizes.response = Some(bytes);
            sizes.response_given = true;
        }
    }

    /// Whether the response body's size is measured and not yet known: its frames are to be
    /// counted.
    pub fn awaits_response_body_size(&self) -> bool {
        self.sizes.as_ref().is_some_and(|s| !s.response_given)
    }

    /// Ends the duration at `end` (the response head) while the body is still counted: the
    /// request's span and duration end there when it finishes.
    pub fn set_response_end(&mut self, end: Instant) {
        if let Some(sizes) = &mut self.sizes {
            sizes.response_end = Some(end);
        }
    }

    /// Where [`set_response_end`](Self::set_response_end) ended the duration, if it did.
    pub fn response_end(&self) -> Option<Instant> {
        self.sizes.as_ref().and_then(|s| s.response_end)
    }

    /// Whether body sizes are measured (so an integration counts frames only then).
    pub fn measures_body_sizes(&self) -> bool {
        self.sizes.is_some()
    }

    /// The protocol version the response came with (client side).
    pub fn set_protocol(&mut self, protocol: Option<&'static str>) {
        if let HttpKey::Http(key) = &mut self.key {
            key.protocol = protocol;
        }
    }

    /// Records the duration up to `end` ([`InFlight`](crate::http_span::InFlight) does this when the
    /// request ends; this is for integrations that end requests their own way).
    pub fn finish(self, end: Instant) {
        self.finish_in_span(end, None);
    }

    /// Records the duration up to `end`, measured in the span `span`: the histograms may keep
    /// it as their bucket's exemplar (by the exemplar filter), pointing at that span's trace.
    pub fn finish_in_span(self, end: Instant, span: Option<&crate::SpanContext>) {
        self.record_end(end, span);
    }

    /// What [`finish_in_span`](Self::finish_in_span) records, read in place: the measurement
    /// is dropped after (a boxed one is not moved out to be finished).
    pub(crate) fn record_end(&self, end: Instant, span: Option<&crate::SpanContext>) {
        let seconds = end.saturating_duration_since(self.start).as_secs_f64();
        let key = &self.key;
        let exemplar = match &self.instrument.instrument.aggregation {
            Aggregation::Histogram { exemplars, .. } => exemplars.admit(span),
            _ => None,
        };
        let at = || end;
        record_duration(&self.instrument, key, seconds, exemplar, at);
        if let Some(active) = &self.active {
            super::active_series(active, key).add_i64(-1);
        }
        if let Some(sizes) = &self.sizes {
            // The server counts its response's frames: one that sent a response but no bytes
            // sent 0. A client knows the size from `Content-Length` only.
            let response = sizes.response.or_else(|| {
                let answered =
                    matches!(key, HttpKey::Http(k) if k.side == Side::Server && k.status.is_some());
                answered.then_some(0)
            });
            let hash = key.hash();
            for (instrument, bytes) in sizes.instruments.iter().zip([sizes.request, response]) {
                if let Some(bytes) = bytes {
                    record_in(instrument, key, hash, bytes as f64, exemplar, at);
                }
            }
        }
    }
}

/// Records the duration `seconds` in the series of `key` of the handle's histogram: found by the
/// handle's recent slots when the key's strings are all static or interned and it was recorded
/// lately, else by the table (and remembered).
fn record_duration(
    handle: &Handle,
    key: &HttpKey,
    seconds: f64,
    exemplar: Option<(crate::TraceId, crate::SpanId)>,
    at: impl FnOnce() -> Instant,
) {
    let Aggregation::Histogram { table, bounds, .. } = &handle.instrument.aggregation else {
        return;
    };
    let place = key.place();
    let recent = place.map(|p| &handle.recent[(p >> 62) as usize % RECENT]);
    let remembered = recent.and_then(|r| {
        let slot = r.load(Ordering::Relaxed).checked_sub(1)?;
        table
            .in_slot(slot)
            .filter(|s| s.key().is_some_and(|k| key.same_place(k)))
    });
    let series = match remembered {
        Some(series) => series,
        None => {
            let (series, slot) = table.series_at(
                key.hash(),
                |k| k == key,
                || key.clone(),
                || HistogramCell::new(bounds.len()),
            );
            if let Some(recent) = recent
                && slot != NO_SLOT
            {
                recent.store(slot + 1, Ordering::Relaxed);
            }
            series
        }
    };
    series
        .cell
        .record_with_exemplar(bounds, seconds, exemplar, at);
}

/// Records `value` in the series of `key` (hashing to `hash`) of the histogram `instrument`,
/// with `exemplar`'s span as its bucket's exemplar.
fn record_in(
    instrument: &Instrument<HttpKey>,
    key: &HttpKey,
    hash: u64,
    value: f64,
    exemplar: Option<(crate::TraceId, crate::SpanId)>,
    at: impl FnOnce() -> Instant,
) {
    if let Aggregation::Histogram { table, bounds, .. } = &instrument.aggregation {
        table
            .series(
                hash,
                |k| k == key,
                || key.clone(),
                || HistogramCell::new(bounds.len()),
            )
            .cell
            .record_with_exemplar(bounds, value, exemplar, at);
    }
}

impl std::fmt::Debug for HttpMeasure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpMeasure")
            .field("instrument", &self.instrument.instrument.descriptor.name)
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}
