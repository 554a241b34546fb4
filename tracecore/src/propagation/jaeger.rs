//! Jaeger propagation: `uber-trace-id` and `uberctx-` baggage.

use super::{Extractor, Injector, Propagator};
use crate::{
    Baggage, Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState, diag, hex, text,
};

const UBER_TRACE_ID: &str = "uber-trace-id";
const BAGGAGE_PREFIX: &str = "uberctx-";

/// The Jaeger propagator (deprecated upstream in favour of W3C, kept for interop).
///
/// `uber-trace-id: {trace-id}:{span-id}:{parent-span-id}:{flags}`: ids in lowercase hex, the trace
/// id 1–32 digits (left-padded with zeros), the span id 1–16; flags `0x01` sampled, `0x02` debug;
/// the value may be URL-encoded (`%3A`). `uberctx-{key}` headers carry baggage (values
/// URL-encoded). Injection writes a 32-digit trace id, parent `0`, and one `uberctx-` header per
/// baggage member.
///
/// ```
/// use tracecore::propagation::{JaegerPropagator, Propagator};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("uber-trace-id", "3ba864fe8b2a57d3eff7:e457b5a2e4d86bd1:0:1".parse().unwrap());
/// headers.insert("uberctx-tenant", "acme%20corp".parse().unwrap());
/// let cx = JaegerPropagator::new().extract(&headers);
/// let span = cx.span_context().unwrap();
/// assert_eq!(span.trace_id().to_string(), "0000000000003ba864fe8b2a57d3eff7");
/// assert!(span.is_sampled());
/// assert_eq!(cx.baggage().get("tenant"), Some("acme corp"));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JaegerPropagator {
    _private: (),
}

impl JaegerPropagator {
    /// The propagator.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl Propagator for JaegerPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        if let Some(span) = cx.span_context() {
            let flags = u8::from(span.is_sampled()) | if cx.is_debug() { 2 } else { 0 };
            let value = format!("{}:{}:0:{}", span.trace_id(), span.span_id(), flags);
            injector.set(UBER_TRACE_ID, &value);
        }
        for entry in cx.baggage() {
            if entry.value().is_empty() {
                // An empty header value does not survive many proxies: skip it, counted.
                diag::add(&diag::HEADER_VALUES_SKIPPED, 1);
                continue;
            }
            let mut one = Baggage::default();
            if one.insert(entry.key(), entry.value()).is_ok() {
                let header = one.header_value();
                let value = header.split_once('=').map_or("", |(_, v)| v);
                let key = format!("{BAGGAGE_PREFIX}{}", entry.key().to_ascii_lowercase());
                injector.set(&key, value);
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut out = cx.clone();
        if let Some(value) = extractor.get(UBER_TRACE_ID) {
            match parse_uber_trace_id(value) {
                Some((span, debug)) => out = out.with_span_context(span).with_debug(debug),
                None => diag::add(&diag::INVALID_TRACEPARENT, 1),
            }
        }
        let mut baggage = out.baggage().clone();
        let mut found = false;
        for key in extractor.keys() {
            let Some(name) = strip_prefix_ignore_case(key, BAGGAGE_PREFIX) else {
                continue;
            };
            let Some(value) = extractor.get(key) else {
                continue;
            };
            // Reuse the baggage grammar: `name=value` decodes and validates exactly like W3C.
            let mut member = name.as_bytes().to_vec();
            member.push(b'=');
            member.extend_from_slice(value);
            let parsed = Baggage::from_header_values([member.as_slice()]);
            for entry in &parsed {
                found |= baggage.insert(entry.key(), entry.value()).is_ok();
            }
        }
        if found {
            out.with_baggage(baggage)
        } else {
            out
        }
    }

    fn fields(&self) -> &[&'static str] {
        &[UBER_TRACE_ID]
    }
}

fn strip_prefix_ignore_case<'a>(key: &'a str, prefix: &str) -> Option<&'a str> {
    let head = key.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &key[prefix.len()..])
        .filter(|rest| !rest.is_empty())
}

fn parse_uber_trace_id(value: &[u8]) -> Option<(SpanContext, bool)> {
    let decoded;
    let value = value.trim_ascii();
    let value = if value.contains(&b'%') {
        // Clients that URL-encode the value turn `:` into `%3A`.
        decoded = text::percent_decode(value)?;
        decoded.as_slice()
    } else {
        value
    };
    let mut parts = value.split(|&b| b == b':');
    let trace = parts.next()?;
    let span = parts.next()?;
    let parent = parts.next()?;
    let flags = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    let trace_id = match trace.len() {
        1..=32 => TraceId::from_u128(hex::decode_u128(trace)?)?,
        _ => return None,
    };
    let span_id = match span.len() {
        1..=16 => SpanId::from_u64(hex::decode_u64(span)?)?,
        _ => return None,
    };
    if !(1..=16).contains(&parent.len()) {
        return None;
    }
    hex::decode_u64(parent)?;
    let flags = match flags.len() {
        1 | 2 => hex::decode_u64(flags)?,
        _ => return None,
    };
    let debug = flags & 0x02 != 0;
    let sampled = flags & 0x01 != 0 || debug;
    let span = SpanContext::new(
        trace_id,
        span_id,
        TraceFlags::NONE.with_sampled(sampled),
        true,
        TraceState::default(),
    );
    Some((span, debug))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    const T: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const S: &str = "e457b5a2e4d86bd1";

    type Parsed = Option<(String, String, bool, bool)>;

    fn extract(value: &str) -> Parsed {
        let mut h = HeaderMap::new();
        h.insert("uber-trace-id", HeaderValue::from_str(value).unwrap());
        let cx = JaegerPropagator::new().extract(&h);
        cx.span_context().map(|s| {
            (
                s.trace_id().to_string(),
                s.span_id().to_string(),
                s.is_sampled(),
                cx.is_debug(),
            )
        })
    }

    #[test]
    fn uber_trace_id_vectors() {
        let full = |sampled, debug| Some((T.to_owned(), S.to_owned(), sampled, debug));
        let rows: Vec<(&str, String, Parsed)> = vec![
            ("sampled", format!("{T}:{S}:0:1"), full(true, false)),
            ("not sampled", format!("{T}:{S}:0:0"), full(false, false)),
            (
                "debug implies sampled",
                format!("{T}:{S}:0:2"),
                full(true, true),
            ),
            ("two-digit flags", format!("{T}:{S}:0:03"), full(true, true)),
            (
                "URL-encoded",
                format!("{T}%3A{S}%3A0%3A1"),
                full(true, false),
            ),
            (
                "deprecated parent kept valid",
                format!("{T}:{S}:{S}:1"),
                full(true, false),
            ),
            (
                "short ids left-padded",
                "abc:def:0:1".to_owned(),
                Some((
                    format!("{:0>32}", "abc"),
                    format!("{:0>16}", "def"),
                    true,
                    false,
                )),
            ),
            ("zero trace id", format!("0:{S}:0:1"), None),
            ("zero span id", format!("{T}:0:0:1"), None),
            ("three parts", format!("{T}:{S}:1"), None),
            ("five parts", format!("{T}:{S}:0:1:x"), None),
            ("uppercase", format!("{}:{S}:0:1", T.to_uppercase()), None),
            ("33-digit trace id", format!("0{T}:{S}:0:1"), None),
            ("empty parent", format!("{T}:{S}::1"), None),
            ("bad flags", format!("{T}:{S}:0:x"), None),
        ];
        for (rule, value, expected) in rows {
            assert_eq!(extract(&value), expected, "{rule}");
        }
    }

    #[test]
    fn baggage_round_trip() {
        let mut h = HeaderMap::new();
        h.insert(
            "uber-trace-id",
            HeaderValue::from_str(&format!("{T}:{S}:0:3")).unwrap(),
        );
        h.insert("uberctx-user", HeaderValue::from_static("a%20b"));
        h.insert("uberctx-bad", HeaderValue::from_static("a b"));
        h.insert("uberctx-empty", HeaderValue::from_static(""));
        let cx = JaegerPropagator::new().extract(&h);
        assert_eq!(cx.baggage().get("user"), Some("a b"));
        assert_eq!(cx.baggage().get("bad"), None, "malformed value dropped");

        let mut out = HeaderMap::new();
        JaegerPropagator::new().inject_context(&cx, &mut out);
        assert_eq!(out["uber-trace-id"], format!("{T}:{S}:0:3").as_str());
        assert_eq!(out["uberctx-user"], "a%20b");
        assert!(!out.contains_key("uberctx-empty"), "never an empty header");
    }
}
