//! Property tests: no parser panics on arbitrary input, and formatting then parsing a valid value
//! gives it back.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use tracecore::propagation::{
    B3Encoding, B3Propagator, BaggagePropagator, JaegerPropagator, Propagator,
    TraceContextPropagator,
};
use tracecore::{Baggage, Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState};

fn span_context() -> impl Strategy<Value = SpanContext> {
    (1..=u128::MAX, 1..=u64::MAX, 0u8..=3).prop_map(|(t, s, f)| {
        SpanContext::new(
            TraceId::from_u128(t).unwrap(),
            SpanId::from_u64(s).unwrap(),
            TraceFlags::from_wire(f),
            true,
            TraceState::default(),
        )
    })
}

/// A valid Level 2 tracestate member.
fn member() -> impl Strategy<Value = (String, String)> {
    (
        "[a-z0-9][a-z0-9_*/@-]{0,20}",
        "[ -+\\--<>-~]{0,20}[!-+\\--<>-~]",
    )
}

fn header_map(values: &[(&'static str, Vec<u8>)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in values {
        // Header values cannot hold every byte; those that cannot be represented are skipped.
        if let Ok(v) = HeaderValue::from_bytes(value) {
            map.append(HeaderName::from_static(name), v);
        }
    }
    map
}

const NAMES: &[&str] = &[
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "uber-trace-id",
    "uberctx-k",
];

fn propagators() -> Vec<Box<dyn Propagator>> {
    vec![
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
        Box::new(B3Propagator::with_encoding(B3Encoding::SingleAndMultiple)),
        Box::new(JaegerPropagator::new()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn traceparent_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = SpanContext::from_traceparent(&bytes);
    }

    #[test]
    fn traceparent_near_misses_never_panic(s in "[0-9a-fA-F -]{50,60}") {
        let _ = SpanContext::from_traceparent(s.as_bytes());
    }

    #[test]
    fn traceparent_round_trips(cx in span_context()) {
        let parsed = SpanContext::from_traceparent(cx.traceparent().as_bytes()).unwrap();
        prop_assert_eq!(parsed, cx);
    }

    #[test]
    fn ids_round_trip(t in 1..=u128::MAX, s in 1..=u64::MAX) {
        let trace = TraceId::from_u128(t).unwrap();
        prop_assert_eq!(trace.to_string().parse::<TraceId>().unwrap(), trace);
        let span = SpanId::from_u64(s).unwrap();
        prop_assert_eq!(span.to_string().parse::<SpanId>().unwrap(), span);
    }

    #[test]
    fn tracestate_parser_never_panics(fields in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..4)) {
        if let Ok(state) = TraceState::from_header_values(fields.iter().map(Vec::as_slice)) {
            prop_assert!(state.as_str().len() <= TraceState::MAX_LEN);
            prop_assert!(state.len() <= 32);
        }
    }

    #[test]
    fn tracestate_round_trips(members in proptest::collection::vec(member(), 0..40)) {
        let header = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        match header.parse::<TraceState>() {
            Ok(state) => {
                prop_assert!(members.len() <= 32);
                let again: TraceState = state.as_str().parse().unwrap();
                prop_assert_eq!(&again, &state);
                prop_assert!(state.as_str().len() <= TraceState::MAX_LEN);
                // The first occurrence of each key that survived keeps its value.
                for (k, v) in state.iter() {
                    let first = members.iter().find(|(mk, _)| mk == k).unwrap();
                    prop_assert_eq!(first.1.as_str(), v);
                }
                if header.len() <= TraceState::MAX_LEN && members.iter().map(|(k, _)| k).collect::<std::collections::HashSet<_>>().len() == members.len() {
                    prop_assert_eq!(state.as_str(), header.as_str());
                }
            }
            Err(_) => prop_assert!(members.len() > 32),
        }
    }

    #[test]
    fn tracestate_insert_keeps_invariants(members in proptest::collection::vec(member(), 0..32), new in member()) {
        let header = members.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
        let state: TraceState = header.parse().unwrap();
        let updated = state.insert(&new.0, &new.1).unwrap();
        prop_assert_eq!(updated.iter().next(), Some((new.0.as_str(), new.1.as_str())));
        prop_assert!(updated.len() <= 32);
        prop_assert!(updated.as_str().len() <= TraceState::MAX_LEN);
        prop_assert_eq!(updated.iter().filter(|(k, _)| *k == new.0).count(), 1);
    }

    #[test]
    fn baggage_parser_never_panics(fields in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..4)) {
        let baggage = Baggage::from_header_values(fields.iter().map(Vec::as_slice));
        prop_assert!(baggage.len() <= Baggage::MAX_MEMBERS);
        prop_assert!(baggage.header_value().len() <= Baggage::MAX_BYTES);
    }

    #[test]
    fn baggage_values_round_trip(entries in proptest::collection::vec(("[A-Za-z0-9!#$&'*+.^_`|~-]{1,12}", any::<String>()), 0..20)) {
        let mut baggage = Baggage::default();
        for (k, v) in &entries {
            let _ = baggage.insert(k, v);
        }
        let header = baggage.header_value();
        prop_assert!(HeaderValue::from_str(&header).is_ok(), "always a valid header value");
        let parsed = Baggage::from_header_values([header.as_bytes()]);
        prop_assert_eq!(parsed, baggage);
    }

    #[test]
    fn propagators_never_panic_and_emit_valid_headers(
        values in proptest::collection::vec((0..NAMES.len(), proptest::collection::vec(any::<u8>(), 0..120)), 0..8)
    ) {
        let values: Vec<_> = values.into_iter().map(|(i, v)| (NAMES[i], v)).collect();
        let incoming = header_map(&values);
        for propagator in propagators() {
            let cx = propagator.extract(&incoming);
            let mut out = HeaderMap::new();
            propagator.inject_context(&cx, &mut out);
            for (name, value) in &out {
                prop_assert!(value.to_str().is_ok(), "{} is visible ASCII", name);
                prop_assert!(!value.is_empty(), "{} is never empty", name);
            }
        }
    }

    #[test]
    fn every_propagator_round_trips_a_span_context(cx in span_context(), debug in any::<bool>()) {
        let context = Context::new().with_span_context(cx.clone());
        for propagator in propagators().into_iter().filter(|p| !p.fields().contains(&"baggage")) {
            let mut headers = HeaderMap::new();
            let context = if propagator.fields().contains(&"traceparent") { context.clone() } else { context.with_debug(debug) };
            propagator.inject_context(&context, &mut headers);
            let back = propagator.extract(&headers);
            let got = back.span_context().unwrap();
            prop_assert_eq!(got.trace_id(), cx.trace_id());
            prop_assert_eq!(got.span_id(), cx.span_id());
            prop_assert_eq!(got.is_sampled(), cx.is_sampled() || context.is_debug());
            prop_assert_eq!(back.is_debug(), context.is_debug());
        }
    }
}
