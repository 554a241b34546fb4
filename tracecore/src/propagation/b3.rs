//! B3 propagation (openzipkin), single header and multi-header.

use super::{Extractor, Injector, Propagator};
use crate::{Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState, diag, hex};

const B3: &str = "b3";
const TRACE_ID: &str = "x-b3-traceid";
const SPAN_ID: &str = "x-b3-spanid";
const SAMPLED: &str = "x-b3-sampled";
const FLAGS: &str = "x-b3-flags";
const PARENT_SPAN_ID: &str = "x-b3-parentspanid";

/// Which B3 headers [`B3Propagator`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum B3Encoding {
    /// `b3: {trace}-{span}-{sampling}` (the default, `OTEL_PROPAGATORS=b3`).
    #[default]
    Single,
    /// `X-B3-TraceId`, `X-B3-SpanId`, `X-B3-Sampled` or `X-B3-Flags` (`OTEL_PROPAGATORS=b3multi`).
    Multiple,
    /// Both forms.
    SingleAndMultiple,
}

/// The B3 propagator ([b3-propagation], with the OpenTelemetry rules).
///
/// Extraction tries the single `b3` header first and falls back to the `X-B3-*` headers when it
/// is missing or invalid. 64-bit trace ids are left-padded with zeros to 128 bits. Debug (`d`,
/// `X-B3-Flags: 1`) implies sampled and is kept in the context, so it is sent on. A sampling
/// state without ids (`b3: 0`) carries no parent and is ignored. Injection never writes
/// `X-B3-ParentSpanId`.
///
/// ```
/// use tracecore::propagation::{B3Encoding, B3Propagator, Propagator};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("b3", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-d".parse().unwrap());
/// let cx = B3Propagator::new().extract(&headers);
/// assert!(cx.is_debug() && cx.span_context().unwrap().is_sampled());
///
/// let mut out = http::HeaderMap::new();
/// B3Propagator::with_encoding(B3Encoding::Multiple).inject_context(&cx, &mut out);
/// assert_eq!(out["x-b3-flags"], "1");
/// assert!(!out.contains_key("x-b3-sampled"), "debug is not sent with sampled");
/// ```
///
/// [b3-propagation]: https://github.com/openzipkin/b3-propagation
#[derive(Debug, Clone, Copy, Default)]
pub struct B3Propagator {
    encoding: B3Encoding,
}

impl B3Propagator {
    /// Injects the single `b3` header.
    pub const fn new() -> Self {
        Self {
            encoding: B3Encoding::Single,
        }
    }

    /// Injects the headers of `encoding`.
    pub const fn with_encoding(encoding: B3Encoding) -> Self {
        Self { encoding }
    }

    /// The encoding it injects.
    pub const fn encoding(&self) -> B3Encoding {
        self.encoding
    }
}

/// What a B3 carrier said: ids (if any) and the sampling state.
struct Extracted {
    ids: Option<(TraceId, SpanId)>,
    sampled: Option<bool>,
    debug: bool,
}

impl Propagator for B3Propagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let Some(span) = cx.span_context() else {
            return;
        };
        let debug = cx.is_debug();
        if matches!(
            self.encoding,
            B3Encoding::Single | B3Encoding::SingleAndMultiple
        ) {
            // {32 hex}-{16 hex}-{1 char}
            let mut buf = [b'-'; 51];
            hex::encode_into(span.trace_id().to_u128(), &mut buf[..32]);
            hex::encode_into(u128::from(span.span_id().to_u64()), &mut buf[33..49]);
            buf[50] = match (debug, span.is_sampled()) {
                (true, _) => b'd',
                (false, true) => b'1',
                (false, false) => b'0',
            };
            injector.set_ascii(B3, &buf);
        }
        if matches!(
            self.encoding,
            B3Encoding::Multiple | B3Encoding::SingleAndMultiple
        ) {
            injector.set(TRACE_ID, &span.trace_id().to_string());
            injector.set(SPAN_ID, &span.span_id().to_string());
            injector.remove(PARENT_SPAN_ID);
            if debug {
                injector.set(FLAGS, "1");
                injector.remove(SAMPLED);
            } else {
                injector.set(SAMPLED, if span.is_sampled() { "1" } else { "0" });
                injector.remove(FLAGS);
            }
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let single = extractor.get(B3).map(parse_single);
        let single_invalid = matches!(single, Some(None));
        let extracted = match single {
            Some(Some(found)) if found.ids.is_some() => Some(found),
            _ => parse_multi(extractor),
        };
        let multi_invalid = extracted.is_none() && has_multi(extractor);
        let Some(Extracted {
            ids: Some((trace_id, span_id)),
            sampled,
            debug,
        }) = extracted
        else {
            if single_invalid || multi_invalid {
                diag::add(&diag::INVALID_TRACEPARENT, 1);
            }
            return cx.clone();
        };
        let flags = TraceFlags::NONE.with_sampled(debug || sampled == Some(true));
        let span = SpanContext::new(trace_id, span_id, flags, true, TraceState::default());
        cx.with_span_context(span).with_debug(debug)
    }

    fn fields(&self) -> &[&'static str] {
        match self.encoding {
            B3Encoding::Single => &[B3],
            B3Encoding::Multiple => &[TRACE_ID, SPAN_ID, SAMPLED, FLAGS],
            B3Encoding::SingleAndMultiple => &[B3, TRACE_ID, SPAN_ID, SAMPLED, FLAGS],
        }
    }
}

/// `{TraceId}-{SpanId}[-{Sampling}[-{ParentSpanId}]]` or a lone `{Sampling}`.
fn parse_single(value: &[u8]) -> Option<Extracted> {
    let value = value.trim_ascii();
    if let [state] = value {
        let (sampled, debug) = sampling_state(*state)?;
        return Some(Extracted {
            ids: None,
            sampled,
            debug,
        });
    }
    let mut parts = value.split(|&b| b == b'-');
    let trace_id = parse_trace_id(parts.next()?)?;
    let span_id = parse_span_id(parts.next()?)?;
    let (sampled, debug) = match parts.next() {
        None => (None, false),
        Some([state]) => sampling_state(*state)?,
        Some(_) => return None,
    };
    if let Some(parent) = parts.next() {
        parse_span_id(parent)?;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(Extracted {
        ids: Some((trace_id, span_id)),
        sampled,
        debug,
    })
}

fn sampling_state(b: u8) -> Option<(Option<bool>, bool)> {
    match b {
        b'1' => Some((Some(true), false)),
        b'0' => Some((Some(false), false)),
        b'd' => Some((Some(true), true)),
        _ => None,
    }
}

fn has_multi(extractor: &dyn Extractor) -> bool {
    [TRACE_ID, SPAN_ID, SAMPLED, FLAGS]
        .iter()
        .any(|k| extractor.get(k).is_some())
}

/// The `X-B3-*` headers; the first value of each wins.
fn parse_multi(extractor: &dyn Extractor) -> Option<Extracted> {
    let debug = match extractor.get(FLAGS).map(<[u8]>::trim_ascii) {
        None => false,
        Some(b"1") => true,
        // Values other than 1 are ignored.
        Some(_) => false,
    };
    let sampled = match extractor.get(SAMPLED).map(<[u8]>::trim_ascii) {
        None => None,
        Some(b"1" | b"true") => Some(true),
        Some(b"0" | b"false") => Some(false),
        Some(_) => return None,
    };
    let ids = match (extractor.get(TRACE_ID), extractor.get(SPAN_ID)) {
        (Some(t), Some(s)) => Some((
            parse_trace_id(t.trim_ascii())?,
            parse_span_id(s.trim_ascii())?,
        )),
        (None, None) => None,
        // A trace id without a span id (or the reverse) is invalid.
        _ => return None,
    };
    Some(Extracted {
        ids,
        sampled,
        debug,
    })
}

/// 32 or 16 lowercase hex digits; 16 are left-padded with zeros.
fn parse_trace_id(src: &[u8]) -> Option<TraceId> {
    match src.len() {
        32 | 16 => TraceId::from_u128(hex::decode_u128(src)?),
        _ => None,
    }
}

fn parse_span_id(src: &[u8]) -> Option<SpanId> {
    SpanId::from_hex(src).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderName, HeaderValue};

    const T: &str = "80f198ee56343ba864fe8b2a57d3eff7";
    const S: &str = "e457b5a2e4d86bd1";
    const P: &str = "05e3ac9a4f6e3b90";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v).unwrap(),
                )
            })
            .collect()
    }

    /// (trace id, span id, sampled, debug), or None when no parent was extracted.
    type Parsed = Option<(String, String, bool, bool)>;

    fn extract(pairs: &[(&str, &str)]) -> Parsed {
        let cx = B3Propagator::new().extract(&headers(pairs));
        cx.span_context().map(|s| {
            assert!(s.is_remote());
            assert!(s.trace_state().is_empty());
            (
                s.trace_id().to_string(),
                s.span_id().to_string(),
                s.is_sampled(),
                cx.is_debug(),
            )
        })
    }

    fn ids(sampled: bool, debug: bool) -> Parsed {
        Some((T.to_owned(), S.to_owned(), sampled, debug))
    }

    #[test]
    fn single_header_vectors() {
        let padded = format!("0000000000000000{}", &T[16..]);
        let rows: Vec<(&str, String, Parsed)> = vec![
            (
                "ids only: deferred, not sampled",
                format!("{T}-{S}"),
                ids(false, false),
            ),
            ("sampled", format!("{T}-{S}-1"), ids(true, false)),
            ("denied", format!("{T}-{S}-0"), ids(false, false)),
            (
                "debug implies sampled",
                format!("{T}-{S}-d"),
                ids(true, true),
            ),
            ("with parent", format!("{T}-{S}-1-{P}"), ids(true, false)),
            (
                "64-bit trace id left-padded",
                format!("{}-{S}-1", &T[16..]),
                Some((padded, S.to_owned(), true, false)),
            ),
            ("sampling only carries no parent", "1".to_owned(), None),
            (
                "parent without sampling is invalid",
                format!("{T}-{S}-{P}"),
                None,
            ),
            ("bad sampling char", format!("{T}-{S}-x"), None),
            ("uppercase", format!("{}-{S}-1", T.to_uppercase()), None),
            ("trace id without span id", T.to_owned(), None),
            ("zero span id", format!("{T}-0000000000000000-1"), None),
            ("empty", String::new(), None),
            ("junk", "-".to_owned(), None),
            ("too many parts", format!("{T}-{S}-1-{P}-x"), None),
            ("24-digit trace id", format!("{}-{S}-1", &T[8..]), None),
        ];
        for (rule, value, expected) in rows {
            assert_eq!(extract(&[("b3", &value)]), expected, "{rule}");
        }
    }

    #[test]
    fn multi_header_vectors() {
        type Row<'a> = (&'a str, Vec<(&'a str, &'a str)>, Parsed);
        let rows: Vec<Row<'_>> = vec![
            (
                "sampled",
                vec![
                    ("x-b3-traceid", T),
                    ("x-b3-spanid", S),
                    ("x-b3-sampled", "1"),
                ],
                ids(true, false),
            ),
            (
                "lenient true",
                vec![
                    ("x-b3-traceid", T),
                    ("x-b3-spanid", S),
                    ("x-b3-sampled", "true"),
                ],
                ids(true, false),
            ),
            (
                "denied",
                vec![
                    ("x-b3-traceid", T),
                    ("x-b3-spanid", S),
                    ("x-b3-sampled", "0"),
                ],
                ids(false, false),
            ),
            (
                "debug flag",
                vec![("x-b3-traceid", T), ("x-b3-spanid", S), ("x-b3-flags", "1")],
                ids(true, true),
            ),
            (
                "other flags ignored",
                vec![("x-b3-traceid", T), ("x-b3-spanid", S), ("x-b3-flags", "2")],
                ids(false, false),
            ),
            (
                "mixed case names",
                vec![
                    ("X-B3-TraceId", T),
                    ("X-B3-SpanId", S),
                    ("X-B3-Sampled", "1"),
                ],
                ids(true, false),
            ),
            (
                "trace without span",
                vec![("x-b3-traceid", T), ("x-b3-sampled", "1")],
                None,
            ),
            (
                "junk sampled",
                vec![
                    ("x-b3-traceid", T),
                    ("x-b3-spanid", S),
                    ("x-b3-sampled", "yes"),
                ],
                None,
            ),
            (
                "empty span id",
                vec![("x-b3-traceid", T), ("x-b3-spanid", "")],
                None,
            ),
            ("sampling only", vec![("x-b3-sampled", "0")], None),
        ];
        for (rule, pairs, expected) in rows {
            assert_eq!(extract(&pairs), expected, "{rule}");
        }
    }

    #[test]
    fn single_wins_and_invalid_single_falls_back_to_multi() {
        let other = "1111111111111111";
        let multi = [
            ("x-b3-traceid", T),
            ("x-b3-spanid", other),
            ("x-b3-sampled", "1"),
        ];
        let single = format!("{T}-{S}-0");
        let mut both = multi.to_vec();
        both.push(("b3", &single));
        assert_eq!(extract(&both).unwrap().1, S, "single wins");
        let mut fallback = multi.to_vec();
        fallback.push(("b3", "garbage"));
        assert_eq!(
            extract(&fallback).unwrap().1,
            other,
            "invalid single falls back"
        );
    }

    #[test]
    fn inject_single_and_multi() {
        let cx = B3Propagator::new().extract(&headers(&[("b3", &format!("{T}-{S}-1-{P}"))]));
        let mut out = HeaderMap::new();
        B3Propagator::new().inject_context(&cx, &mut out);
        assert_eq!(out["b3"], format!("{T}-{S}-1").as_str());
        assert_eq!(out.len(), 1);

        let mut out = headers(&[("x-b3-parentspanid", P), ("x-b3-flags", "1")]);
        B3Propagator::with_encoding(B3Encoding::Multiple).inject_context(&cx, &mut out);
        assert_eq!(out["x-b3-traceid"], T);
        assert_eq!(out["x-b3-spanid"], S);
        assert_eq!(out["x-b3-sampled"], "1");
        assert!(
            !out.contains_key("x-b3-parentspanid"),
            "never inject ParentSpanId"
        );
        assert!(!out.contains_key("x-b3-flags"));

        let unsampled = cx.with_span_context(
            cx.span_context()
                .unwrap()
                .clone()
                .with_flags(TraceFlags::NONE),
        );
        let mut out = HeaderMap::new();
        B3Propagator::with_encoding(B3Encoding::SingleAndMultiple)
            .inject_context(&unsampled, &mut out);
        assert_eq!(out["b3"], format!("{T}-{S}-0").as_str());
        assert_eq!(out["x-b3-sampled"], "0");
    }

    #[test]
    fn short_trace_ids_are_emitted_as_32_digits() {
        let cx = B3Propagator::new().extract(&headers(&[("b3", &format!("{}-{S}-1", &T[16..]))]));
        let mut out = HeaderMap::new();
        B3Propagator::new().inject_context(&cx, &mut out);
        assert_eq!(
            out["b3"],
            format!("0000000000000000{}-{S}-1", &T[16..]).as_str()
        );
    }
}
