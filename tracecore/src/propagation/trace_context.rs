//! W3C Trace Context: `traceparent` and `tracestate`, strict per Level 2.
//!
//! ```
//! use tracecore::propagation::{Propagator, TraceContextPropagator};
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
//! headers.insert("tracestate", "congo=t61rcWkgMzE".parse().unwrap());
//! let cx = TraceContextPropagator::new().extract(&headers);
//! let parent = cx.span_context().unwrap();
//! assert_eq!(parent.span_id().to_string(), "00f067aa0ba902b7");
//! assert_eq!(parent.trace_state().get("congo"), Some("t61rcWkgMzE"));
//!
//! // Uppercase hex is invalid: the trace restarts and tracestate is not even parsed.
//! headers.insert("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01".parse().unwrap());
//! assert!(TraceContextPropagator::new().extract(&headers).span_context().is_none());
//! ```

use std::fmt;

use super::{Extractor, Injector, Propagator};
use crate::text::trim_ows;
use crate::{Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState, diag, hex};

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// The W3C Trace Context propagator ([Level 2]).
///
/// Extraction, in the order the spec sheet gives: more than one `traceparent` field is invalid;
/// SP/HTAB around the value is trimmed; version `ff` and non-hex versions are invalid; version
/// `00` must be exactly 55 characters; a higher version is parsed best-effort (the first 55
/// characters, then end or `-`) and re-emitted as `00`; ids are lowercase hex and not all zero.
/// Only the `sampled` and `random` flags are kept. An invalid `traceparent` leaves the context
/// unchanged (a new trace starts) and its `tracestate` is not parsed; an invalid `tracestate` is
/// dropped whole without affecting `traceparent`.
///
/// Injection writes `00-{trace-id}-{span-id}-{flags}` for the context's span and its
/// `tracestate` when not empty (a stale `tracestate` in the carrier is removed).
///
/// [Level 2]: https://www.w3.org/TR/trace-context-2/
#[derive(Debug, Clone, Copy, Default)]
pub struct TraceContextPropagator {
    _private: (),
}

impl TraceContextPropagator {
    /// The propagator.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl Propagator for TraceContextPropagator {
    fn inject_context(&self, cx: &Context, injector: &mut dyn Injector) {
        let Some(span) = cx.span_context() else {
            return;
        };
        injector.set_ascii(TRACEPARENT, span.traceparent().as_bytes());
        if span.trace_state().is_empty() {
            injector.remove(TRACESTATE);
        } else {
            injector.set(TRACESTATE, span.trace_state().as_str());
        }
    }

    fn extract_with_context(&self, cx: &Context, extractor: &dyn Extractor) -> Context {
        let mut fields = extractor.get_all(TRACEPARENT);
        let Some(first) = fields.next() else {
            return cx.clone();
        };
        let parsed = if fields.next().is_some() {
            Err(TraceparentError::new(ErrorKind::Duplicated))
        } else {
            SpanContext::from_traceparent(first)
        };
        let span = match parsed {
            Ok(span) => span,
            Err(_) => {
                diag::add(&diag::INVALID_TRACEPARENT, 1);
                if extractor.get(TRACESTATE).is_some() {
                    diag::add(&diag::INVALID_TRACESTATE, 1);
                }
                return cx.clone();
            }
        };
        let state = match TraceState::from_header_values(extractor.get_all(TRACESTATE)) {
            Ok(state) => state,
            Err(_) => {
                diag::add(&diag::INVALID_TRACESTATE, 1);
                TraceState::default()
            }
        };
        cx.with_span_context(span.with_trace_state(state))
    }

    fn fields(&self) -> &[&'static str] {
        &[TRACEPARENT, TRACESTATE]
    }
}

impl SpanContext {
    /// Parses one `traceparent` value into a remote span context with an empty trace state.
    ///
    /// ```
    /// use tracecore::SpanContext;
    ///
    /// let cx = SpanContext::from_traceparent(b" 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03\t").unwrap();
    /// assert!(cx.is_remote() && cx.flags().is_random());
    /// let err = SpanContext::from_traceparent(b"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap_err();
    /// assert_eq!(err.to_string(), "traceparent version ff is forbidden");
    /// ```
    pub fn from_traceparent(value: &[u8]) -> Result<Self, TraceparentError> {
        let v = trim_ows(value);
        let err = |kind| Err(TraceparentError::new(kind));
        if v.len() < 3 {
            return err(ErrorKind::Length);
        }
        let Some(version) = hex::decode_u8(v[0], v[1]) else {
            return err(ErrorKind::Version);
        };
        if v[2] != b'-' {
            return err(ErrorKind::Delimiter);
        }
        if version == 0xff {
            return err(ErrorKind::VersionFf);
        }
        match (version, v.len()) {
            (0, 55) => {}
            (0, _) => return err(ErrorKind::Length),
            (_, 55) => {}
            (_, n) if n > 55 && v[55] == b'-' => {}
            (_, n) if n > 55 => return err(ErrorKind::Delimiter),
            _ => return err(ErrorKind::Length),
        }
        if v[35] != b'-' || v[52] != b'-' {
            return err(ErrorKind::Delimiter);
        }
        let Some(trace_id) = hex::decode_u128(&v[3..35]) else {
            return err(ErrorKind::TraceIdDigit);
        };
        let Some(span_id) = hex::decode_u64(&v[36..52]) else {
            return err(ErrorKind::SpanIdDigit);
        };
        let Some(flags) = hex::decode_u8(v[53], v[54]) else {
            return err(ErrorKind::Flags);
        };
        let Some(trace_id) = TraceId::from_u128(trace_id) else {
            return err(ErrorKind::TraceIdZero);
        };
        let Some(span_id) = SpanId::from_u64(span_id) else {
            return err(ErrorKind::SpanIdZero);
        };
        Ok(Self::new(
            trace_id,
            span_id,
            TraceFlags::from_wire(flags),
            true,
            TraceState::default(),
        ))
    }
}

/// Why a `traceparent` value was rejected. Its `Display` names the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceparentError {
    kind: ErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    Duplicated,
    Length,
    Version,
    VersionFf,
    Delimiter,
    TraceIdDigit,
    TraceIdZero,
    SpanIdDigit,
    SpanIdZero,
    Flags,
}

impl TraceparentError {
    const fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for TraceparentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            ErrorKind::Duplicated => "more than one traceparent field",
            ErrorKind::Length => "traceparent has the wrong length for its version",
            ErrorKind::Version => "traceparent version is not two lowercase hex digits",
            ErrorKind::VersionFf => "traceparent version ff is forbidden",
            ErrorKind::Delimiter => "traceparent fields are not separated by `-`",
            ErrorKind::TraceIdDigit => "trace-id is not 32 lowercase hex digits",
            ErrorKind::TraceIdZero => "trace-id is all zeros",
            ErrorKind::SpanIdDigit => "parent-id is not 16 lowercase hex digits",
            ErrorKind::SpanIdZero => "parent-id is all zeros",
            ErrorKind::Flags => "trace-flags is not two lowercase hex digits",
        })
    }
}

impl std::error::Error for TraceparentError {}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
    const SPAN: &str = "00f067aa0ba902b7";

    type Parsed = Result<(String, String, u8), String>;

    fn parse(s: &str) -> Parsed {
        SpanContext::from_traceparent(s.as_bytes())
            .map(|c| {
                (
                    c.trace_id().to_string(),
                    c.span_id().to_string(),
                    c.flags().to_wire(),
                )
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn valid_traceparents() {
        let ok = |flags: u8| Ok((TRACE.to_owned(), SPAN.to_owned(), flags));
        let rows: &[(&str, String, Parsed)] = &[
            ("plain", format!("00-{TRACE}-{SPAN}-01"), ok(1)),
            ("not sampled", format!("00-{TRACE}-{SPAN}-00"), ok(0)),
            ("random flag kept", format!("00-{TRACE}-{SPAN}-02"), ok(2)),
            (
                "reserved flags dropped",
                format!("00-{TRACE}-{SPAN}-ff"),
                ok(3),
            ),
            (
                "leading space trimmed",
                format!(" 00-{TRACE}-{SPAN}-01"),
                ok(1),
            ),
            ("tabs trimmed", format!("\t00-{TRACE}-{SPAN}-01\t"), ok(1)),
            (
                "higher version, exact length",
                format!("cc-{TRACE}-{SPAN}-01"),
                ok(1),
            ),
            (
                "higher version, extra fields",
                format!("cc-{TRACE}-{SPAN}-01-what-the-future-holds"),
                ok(1),
            ),
            (
                "higher version, extra dash",
                format!("01-{TRACE}-{SPAN}-09-"),
                ok(1),
            ),
        ];
        for (rule, input, expected) in rows {
            assert_eq!(&parse(input), expected, "{rule}");
        }
    }

    #[test]
    fn invalid_traceparents_name_the_rule() {
        let rows: &[(&str, String, &str)] = &[
            (
                "version ff forbidden",
                format!("ff-{TRACE}-{SPAN}-01"),
                "traceparent version ff is forbidden",
            ),
            (
                "uppercase version",
                format!("0A-{TRACE}-{SPAN}-01"),
                "traceparent version is not two lowercase hex digits",
            ),
            (
                "non-hex version",
                format!("0x-{TRACE}-{SPAN}-01"),
                "traceparent version is not two lowercase hex digits",
            ),
            (
                "version 00 with extra char",
                format!("00-{TRACE}-{SPAN}-01."),
                "traceparent has the wrong length for its version",
            ),
            (
                "version 00 with extra field",
                format!("00-{TRACE}-{SPAN}-01-foo"),
                "traceparent has the wrong length for its version",
            ),
            (
                "version 00 too short",
                format!("00-{TRACE}-{SPAN}-1"),
                "traceparent has the wrong length for its version",
            ),
            (
                "higher version, junk after flags",
                format!("cc-{TRACE}-{SPAN}-01.what"),
                "traceparent fields are not separated by `-`",
            ),
            (
                "higher version too short",
                format!("cc-{TRACE}-{SPAN}-1"),
                "traceparent has the wrong length for its version",
            ),
            (
                "uppercase trace-id",
                format!("00-{}-{SPAN}-01", TRACE.to_uppercase()),
                "trace-id is not 32 lowercase hex digits",
            ),
            (
                "uppercase parent-id",
                format!("00-{TRACE}-{}-01", SPAN.to_uppercase()),
                "parent-id is not 16 lowercase hex digits",
            ),
            (
                "uppercase flags",
                format!("00-{TRACE}-{SPAN}-0A"),
                "trace-flags is not two lowercase hex digits",
            ),
            (
                "zero trace-id",
                format!("00-{}-{SPAN}-01", "0".repeat(32)),
                "trace-id is all zeros",
            ),
            (
                "zero parent-id",
                format!("00-{TRACE}-{}-01", "0".repeat(16)),
                "parent-id is all zeros",
            ),
            (
                "short trace-id",
                format!("00-{}-{SPAN}-01", &TRACE[1..]),
                "traceparent has the wrong length for its version",
            ),
            (
                "wrong delimiter",
                format!("00_{TRACE}-{SPAN}-01"),
                "traceparent fields are not separated by `-`",
            ),
            (
                "shifted delimiter",
                format!("00-{}-0{SPAN}-01", &TRACE[..31]),
                "traceparent fields are not separated by `-`",
            ),
            (
                "plus sign in id",
                format!("00-+{}-{SPAN}-01", &TRACE[1..]),
                "trace-id is not 32 lowercase hex digits",
            ),
            (
                "empty",
                String::new(),
                "traceparent has the wrong length for its version",
            ),
            (
                "non-ASCII",
                format!("00-{}\u{e9}-{SPAN}-01", &TRACE[..30]),
                "trace-id is not 32 lowercase hex digits",
            ),
        ];
        for (rule, input, expected) in rows {
            assert_eq!(
                parse(input),
                Err((*expected).to_owned()),
                "{rule}: {input:?}"
            );
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    #[test]
    fn extract_combines_tracestate_and_marks_remote() {
        let tp = format!("00-{TRACE}-{SPAN}-03");
        let h = headers(&[
            ("traceparent", &tp),
            ("tracestate", "a=1"),
            ("TraceState", "b=2"),
        ]);
        let cx = TraceContextPropagator::new().extract(&h);
        let span = cx.span_context().unwrap();
        assert!(span.is_remote());
        assert!(span.flags().is_random(), "random flag carried");
        assert_eq!(span.trace_state().as_str(), "a=1,b=2");
    }

    #[test]
    fn duplicated_traceparent_restarts() {
        let a = format!("00-{TRACE}-{SPAN}-01");
        let b = format!("00-{TRACE}-00f067aa0ba902b8-01");
        let h = headers(&[
            ("traceparent", &a),
            ("traceparent", &b),
            ("tracestate", "a=1"),
        ]);
        let before = diag::counts();
        assert!(
            TraceContextPropagator::new()
                .extract(&h)
                .span_context()
                .is_none()
        );
        let after = diag::counts();
        assert!(after.invalid_traceparent > before.invalid_traceparent);
        assert!(after.invalid_tracestate > before.invalid_tracestate);
    }

    #[test]
    fn invalid_tracestate_is_dropped_whole_but_traceparent_kept() {
        let tp = format!("00-{TRACE}-{SPAN}-01");
        let h = headers(&[("traceparent", &tp), ("tracestate", "a=1,B=2")]);
        let cx = TraceContextPropagator::new().extract(&h);
        let span = cx.span_context().unwrap();
        assert_eq!(span.trace_id().to_string(), TRACE);
        assert!(span.trace_state().is_empty());
    }

    #[test]
    fn invalid_traceparent_keeps_what_the_context_had() {
        let base = TraceContextPropagator::new().extract(&headers(&[(
            "traceparent",
            &format!("00-{TRACE}-{SPAN}-01"),
        )]));
        let bad = headers(&[("traceparent", "garbage")]);
        let cx = TraceContextPropagator::new().extract_with_context(&base, &bad);
        assert_eq!(cx, base);
    }

    #[test]
    fn inject_writes_version_00_and_known_flags_only() {
        let h = headers(&[
            ("traceparent", &format!("cc-{TRACE}-{SPAN}-ff-extra")),
            ("tracestate", "a=1, b=2"),
        ]);
        let cx = TraceContextPropagator::new().extract(&h);
        let mut out = HeaderMap::new();
        out.insert("tracestate", HeaderValue::from_static("stale=1"));
        TraceContextPropagator::new().inject_context(&cx, &mut out);
        assert_eq!(out["traceparent"], format!("00-{TRACE}-{SPAN}-03").as_str());
        assert_eq!(out["tracestate"], "a=1,b=2");

        let no_state = TraceContextPropagator::new().extract(&headers(&[(
            "traceparent",
            &format!("00-{TRACE}-{SPAN}-00"),
        )]));
        TraceContextPropagator::new().inject_context(&no_state, &mut out);
        assert!(
            !out.contains_key("tracestate"),
            "stale tracestate removed, never sent empty"
        );
        assert_eq!(out["traceparent"], format!("00-{TRACE}-{SPAN}-00").as_str());
    }

    #[test]
    fn tracestate_without_traceparent_is_discarded() {
        let cx = TraceContextPropagator::new().extract(&headers(&[("tracestate", "a=1")]));
        assert!(cx.span_context().is_none());
        let mut out = HeaderMap::new();
        TraceContextPropagator::new().inject_context(&cx, &mut out);
        assert!(out.is_empty(), "nothing of it is sent on");
    }

    #[test]
    fn inject_without_span_writes_nothing() {
        let mut out = HeaderMap::new();
        TraceContextPropagator::new().inject_context(&Context::new(), &mut out);
        assert!(out.is_empty());
    }
}
