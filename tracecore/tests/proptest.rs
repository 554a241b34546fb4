//! Property tests: no parser panics on arbitrary input, and formatting then parsing a valid value
//! gives it back.

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use tracecore::propagation::{
    B3Encoding, B3Propagator, BaggagePropagator, Extractor, JaegerPropagator, Propagator,
    ScannedHeaders, TraceContextPropagator,
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
    fn a_scanned_header_map_extracts_what_the_map_does(
        values in proptest::collection::vec((0..NAMES.len(), prop_oneof![
            "[ -~]{0,60}",
            Just("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
            Just("4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1".to_owned()),
            Just("a=1,b=2".to_owned()),
        ]), 0..8),
        fillers in 0..2 * ScannedHeaders::MAX_SCANNED,
    ) {
        let values: Vec<_> = values.into_iter().map(|(i, v)| (NAMES[i], v.into_bytes())).collect();
        let mut incoming = header_map(&values);
        for i in 0..fillers {
            let name = HeaderName::from_bytes(format!("x-filler-{i}").as_bytes()).unwrap();
            incoming.insert(name, HeaderValue::from_static("1"));
        }
        let scanned = ScannedHeaders::new(&incoming);
        for name in NAMES.iter().chain(&["x-filler-0", "absent"]) {
            prop_assert_eq!(scanned.get(name), Extractor::get(&incoming, name), "{}", name);
            let all: Vec<_> = scanned.get_all(name).collect();
            let expected: Vec<_> = Extractor::get_all(&incoming, name).collect();
            prop_assert_eq!(all, expected, "{}", name);
        }
        for propagator in propagators() {
            let (ours, theirs) = (propagator.extract(&scanned), propagator.extract(&incoming));
            prop_assert_eq!(ours.span_context(), theirs.span_context());
            prop_assert_eq!(ours.baggage(), theirs.baggage());
            prop_assert_eq!(ours.is_debug(), theirs.is_debug());
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

/// A value one of the `OTEL_*` list variables might hold: known and unknown names, odd case,
/// spaces, empty entries.
fn list_value() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("tracecontext".to_owned()),
            Just("Baggage".to_owned()),
            Just(" b3 ".to_owned()),
            Just("B3MULTI".to_owned()),
            Just("jaeger".to_owned()),
            Just("none".to_owned()),
            Just(String::new()),
            "[ -~]{0,12}",
        ],
        0..6,
    )
    .prop_map(|names| names.join(","))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn otel_list_values_give_known_propagators_or_warnings_naming_the_variable(value in list_value()) {
        let names = tracecore::integration::env::names(&value);
        for name in &names {
            prop_assert!(!name.is_empty());
            prop_assert_eq!(name, &name.trim().to_ascii_lowercase());
        }
        let unique: std::collections::HashSet<_> = names.iter().collect();
        prop_assert_eq!(unique.len(), names.len(), "no duplicates");

        let (propagator, warnings) = tracecore::propagation::from_env_value(Some(&value));
        for warning in &warnings {
            prop_assert!(warning.starts_with("OTEL_PROPAGATORS: "), "{}", warning);
        }
        let usable = ["tracecontext", "baggage", "b3", "b3multi", "jaeger"];
        let unknown = names.iter().filter(|n| !usable.contains(&n.as_str()) && *n != "none").count();
        let default = ["traceparent", "tracestate", "baggage"];
        if names.iter().any(|n| n == "none") {
            prop_assert!(propagator.fields().is_empty(), "none wins");
        } else if value.trim().is_empty() {
            prop_assert!(warnings.is_empty(), "blank is unset");
            prop_assert_eq!(propagator.fields(), default);
        } else if unknown == names.len() {
            prop_assert_eq!(warnings.len(), unknown + 1, "each unknown name, then the fallback");
            prop_assert_eq!(propagator.fields(), default);
        } else {
            prop_assert_eq!(warnings.len(), unknown, "one warning per unknown name");
        }
    }

    #[test]
    fn otel_key_value_lists_round_trip_percent_encoding(
        pairs in proptest::collection::vec(("[A-Za-z0-9._-]{1,10}", any::<String>()), 0..6)
    ) {
        let encode = |s: &str| {
            s.bytes()
                .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
                .collect::<String>()
        };
        let raw = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect::<Vec<_>>().join(",");
        let parsed = tracecore::integration::env::key_values(&raw).unwrap();
        // Spaces around a member are not part of it; encoded ones are.
        prop_assert_eq!(parsed, pairs);
    }

    #[test]
    fn otel_key_value_lists_never_panic_and_errors_quote_the_member(raw in "[ -~]{0,60}") {
        match tracecore::integration::env::key_values(&raw) {
            Ok(pairs) => prop_assert!(pairs.iter().all(|(k, _)| !k.is_empty())),
            Err(why) => prop_assert!(why.starts_with("member \""), "{}", why),
        }
    }

    #[test]
    fn sampler_values_never_panic_and_bad_ratios_warn(
        name in prop_oneof![
            Just("traceidratio".to_owned()),
            Just("parentbased_traceidratio".to_owned()),
            Just("always_on".to_owned()),
            "[ -~]{0,20}",
        ],
        arg in prop_oneof![any::<f64>().prop_map(|f| f.to_string()), "[ -~]{0,10}"],
    ) {
        let (sampler, warnings) = tracecore::trace::sampler_from_env_values(Some(&name), Some(&arg));
        prop_assert!(!sampler.description().is_empty());
        for warning in &warnings {
            prop_assert!(warning.starts_with("OTEL_TRACES_SAMPLER"), "{}", warning);
        }
        let ratio_sampler = name.trim().eq_ignore_ascii_case("traceidratio")
            || name.trim().eq_ignore_ascii_case("parentbased_traceidratio");
        if ratio_sampler {
            let good = arg.trim().is_empty()
                || arg.trim().parse::<f64>().is_ok_and(|r| (0.0..=1.0).contains(&r));
            prop_assert_eq!(warnings.is_empty(), good, "{:?}", warnings);
        }
    }
}

/// An `ot` tracestate value: well-formed sub-keys (some of them `th` and `rv`, valid or not)
/// or arbitrary tracestate-value characters.
fn ot_value() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        "[0-9a-f]{1,14}".prop_map(|v| format!("th:{v}")),
        "[0-9a-f]{14}".prop_map(|v| format!("rv:{v}")),
        "[0-9a-fA-Z]{0,16}".prop_map(|v| format!("rv:{v}")),
        "[a-z][a-z0-9]{0,4}:[A-Za-z0-9._-]{0,8}",
    ];
    prop_oneof![
        proptest::collection::vec(field, 1..4).prop_map(|f| f.join(";")),
        "[!-+\\--<>-~]{1,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn a_higher_ratio_samples_a_superset(a in 0.0f64..=1.0, b in 0.0f64..=1.0, r in 0u64..(1 << 56)) {
        let (low, high) = if a <= b { (a, b) } else { (b, a) };
        let low = tracecore::trace::ProbabilitySampler::new(low);
        let high = tracecore::trace::ProbabilitySampler::new(high);
        if low.samples_randomness(r) {
            prop_assert!(high.samples_randomness(r));
        }
        prop_assert!(high.effective_ratio() >= low.effective_ratio());
    }

    #[test]
    fn the_probability_sampler_writes_th_exactly_when_it_samples_a_well_formed_entry(
        ratio in 0.0f64..=1.0,
        ot in ot_value(),
        parent in span_context(),
        others in proptest::collection::vec(member(), 0..4),
    ) {
        use tracecore::trace::{ProbabilitySampler, Sampler, SamplingDecision, SamplingParameters};
        let mut members = vec![format!("ot={ot}")];
        members.extend(others.iter().filter(|(k, _)| k != "ot").map(|(k, v)| format!("{k}={v}")));
        let Ok(state) = TraceState::from_header_values([members.join(",").as_bytes()]) else {
            return Ok(());
        };
        let parent = SpanContext::new(parent.trace_id(), parent.span_id(), parent.flags(), true, state.clone());
        let result = ProbabilitySampler::new(ratio)
            .should_sample(&SamplingParameters::new(parent.trace_id(), "op").with_parent(Some(&parent)));
        let out = result.trace_state.unwrap_or_else(|| state.clone());
        let sampled = result.decision == SamplingDecision::RecordAndSample;
        let well_formed = !ot.contains(";;") && ot.split(';').all(|f| {
            f.split_once(':').is_some_and(|(k, v)| {
                k.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                    && k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                    && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
            })
        });
        let th = |s: &TraceState| s.get("ot").and_then(|v| v.split(';').find(|f| f.starts_with("th:")).map(str::to_owned));
        if well_formed {
            prop_assert_eq!(th(&out).is_some(), sampled, "{:?} -> {:?}", state, out);
            // rv and the other sub-keys are kept, in order.
            let rest = |s: &TraceState| s.get("ot").map(|v| v.split(';').filter(|f| !f.starts_with("th:")).collect::<Vec<_>>().join(";")).unwrap_or_default();
            prop_assert_eq!(rest(&out), rest(&state));
        } else {
            prop_assert_eq!(out.get("ot"), state.get("ot"), "a malformed entry passes unchanged");
        }
        // The other vendors' members, in their order.
        let vendors = |s: &TraceState| s.iter().filter(|(k, _)| *k != "ot").map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>();
        prop_assert_eq!(vendors(&out), vendors(&state));
    }

    #[test]
    fn server_timing_values_never_panic_and_a_trace_metric_among_others_is_found(
        noise in proptest::collection::vec("[ -~]{0,40}", 0..4),
        metrics in proptest::collection::vec("[a-z]{1,8};dur=[0-9]{1,3}", 0..4),
        sc in span_context(),
    ) {
        let mut headers = HeaderMap::new();
        for value in &noise {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.append("server-timing", v);
            }
        }
        let _ = tracecore::http_span::downstream_trace(&headers);
        let mut clean = HeaderMap::new();
        let mut all = metrics.clone();
        all.insert(metrics.len() / 2, format!("trace;desc=\"{}\"", sc.traceparent()));
        clean.append("server-timing", HeaderValue::from_str(&all.join(", ")).unwrap());
        let found = tracecore::http_span::downstream_trace(&clean).unwrap();
        prop_assert_eq!(found.trace_id(), sc.trace_id());
        prop_assert_eq!(found.span_id(), sc.span_id());
        prop_assert_eq!(found.flags(), sc.flags());
    }
}
