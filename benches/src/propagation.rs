//! Extract and inject of `traceparent` plus a 2-member `tracestate`, tracecore against
//! opentelemetry 0.33's `TraceContextPropagator` through opentelemetry-http's header carriers.

use http::{HeaderMap, HeaderValue};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use tracecore::propagation::Propagator;

pub const TRACEPARENT: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
pub const TRACESTATE: &str = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

/// The same with an OpenTelemetry `ot` entry in front, as a consistent probability sampler
/// upstream writes it (threshold and explicit randomness).
pub const TRACESTATE_OT: &str =
    "ot=th:fd70a4;rv:fe0123456789ab,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

/// The same length with another vendor's member in its place: what the `ot` entry costs beyond
/// one more member of its size.
pub const TRACESTATE_VENDOR: &str =
    "vx=th:fd70a4;rv:fe0123456789ab,rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";

/// A `tracestate` as several vendors together send it: 8 members of 59 characters.
pub fn long_tracestate() -> String {
    (0..8)
        .map(|i| format!("vendor{i}@tenant={}", format!("{i}a9F-_.:;!~").repeat(4)))
        .collect::<Vec<_>>()
        .join(",")
}

/// An incoming request's headers: the two trace headers among a few ordinary ones.
pub fn incoming_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", HeaderValue::from_static("inventory.local:8080"));
    h.insert("user-agent", HeaderValue::from_static("reqwest/0.12"));
    h.insert("accept", HeaderValue::from_static("*/*"));
    h.insert("traceparent", HeaderValue::from_static(TRACEPARENT));
    h.insert("tracestate", HeaderValue::from_static(TRACESTATE));
    h
}

pub struct Tracecore {
    pub propagator: tracecore::propagation::TraceContextPropagator,
    pub cx: tracecore::Context,
}

impl Tracecore {
    pub fn new() -> Self {
        let propagator = tracecore::propagation::TraceContextPropagator::new();
        let cx = propagator.extract(&incoming_headers());
        Self { propagator, cx }
    }

    pub fn extract(&self, headers: &HeaderMap) -> tracecore::Context {
        self.propagator.extract(headers)
    }

    /// As the server layer extracts: the header map read once for every propagator field.
    pub fn extract_scanned(&self, headers: &HeaderMap) -> tracecore::Context {
        self.propagator
            .extract(&tracecore::propagation::ScannedHeaders::new(headers))
    }

    pub fn inject(&self, headers: &mut HeaderMap) {
        self.propagator.inject_context(&self.cx, headers);
    }
}

impl Default for Tracecore {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Otel {
    pub propagator: opentelemetry_sdk::propagation::TraceContextPropagator,
    pub cx: opentelemetry::Context,
}

impl Otel {
    pub fn new() -> Self {
        let propagator = opentelemetry_sdk::propagation::TraceContextPropagator::new();
        let cx = propagator.extract(&HeaderExtractor(&incoming_headers()));
        assert!(cx.span().span_context().is_valid());
        Self { propagator, cx }
    }

    pub fn extract(&self, headers: &HeaderMap) -> opentelemetry::Context {
        self.propagator.extract(&HeaderExtractor(headers))
    }

    pub fn inject(&self, headers: &mut HeaderMap) {
        self.propagator
            .inject_context(&self.cx, &mut HeaderInjector(headers));
    }
}

impl Default for Otel {
    fn default() -> Self {
        Self::new()
    }
}

/// The baseline for `traceparent` parsing: a hand-written lookup-table parser of version 00 that
/// checks lengths, delimiters, hex digits and zero ids, and nothing else (no OWS trimming, no
/// higher versions). What a parser cannot beat by much while still validating.
pub fn lut_parse(v: &[u8]) -> Option<(u128, u64, u8)> {
    static LUT: [u8; 256] = {
        let mut t = [0xffu8; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    if v.len() != 55
        || v[0] != b'0'
        || v[1] != b'0'
        || v[2] != b'-'
        || v[35] != b'-'
        || v[52] != b'-'
    {
        return None;
    }
    let mut bad = 0u8;
    let mut trace = 0u128;
    for &b in &v[3..35] {
        let d = LUT[b as usize];
        bad |= d;
        trace = trace << 4 | u128::from(d & 0xf);
    }
    let mut span = 0u64;
    for &b in &v[36..52] {
        let d = LUT[b as usize];
        bad |= d;
        span = span << 4 | u64::from(d & 0xf);
    }
    let (h, l) = (LUT[v[53] as usize], LUT[v[54] as usize]);
    bad |= h | l;
    if bad & 0xf0 != 0 || trace == 0 || span == 0 {
        return None;
    }
    Some((trace, span, h << 4 | l))
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::TraceContextExt;

    #[test]
    fn both_sides_do_the_same_work() {
        let h = incoming_headers();
        let ours = Tracecore::new().extract(&h);
        let theirs = Otel::new().extract(&h);
        let (a, b) = (
            ours.span_context().unwrap(),
            theirs.span().span_context().clone(),
        );
        assert_eq!(a.trace_id().to_string(), b.trace_id().to_string());
        assert_eq!(a.trace_state().as_str(), b.trace_state().header());

        let (mut x, mut y) = (HeaderMap::new(), HeaderMap::new());
        Tracecore::new().inject(&mut x);
        Otel::new().inject(&mut y);
        assert_eq!(x["traceparent"], y["traceparent"]);
        assert_eq!(x["tracestate"], y["tracestate"]);
        assert!(lut_parse(TRACEPARENT.as_bytes()).is_some());
    }
}
