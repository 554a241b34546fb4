//! The sampling parsers on arbitrary input: the `ot` tracestate entry a caller sends (through the
//! probability sampler, parent-based and not) and a downstream's `server-timing` header. Never
//! panics; an unsampled span adds no `th` (one it carries is one it was given, malformed), the
//! other vendors' members pass through in order, and a trace metric that is read parses back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracecore::http_span::downstream_trace;
use tracecore::trace::{
    ParentBased, ProbabilitySampler, Sampler, SamplingDecision, SamplingParameters,
};
use tracecore::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

fuzz_target!(|data: &[u8]| {
    if data.len() < 18 {
        return;
    }
    let (head, rest) = data.split_at(18);
    let ratio = f64::from(head[0]) / 255.0;
    let flags = TraceFlags::from_wire(head[1] & 0x03);
    let trace_id = TraceId::from_u128(u128::from_be_bytes(head[2..18].try_into().unwrap()));
    let (ot, timing) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };

    if let Some(trace_id) = trace_id
        && let Ok(ot) = std::str::from_utf8(ot)
        // One member's value: no member separator or key of its own.
        && !ot.contains([',', '='])
        && let Ok(state) = TraceState::from_header_values([format!("ot={ot},vendor=1").as_bytes()])
    {
        let parent = SpanContext::new(trace_id, SpanId::from_u64(1).unwrap(), flags, true, state.clone());
        let params = SamplingParameters::new(trace_id, "op").with_parent(Some(&parent));
        let samplers: [Box<dyn Sampler>; 2] = [
            Box::new(ProbabilitySampler::new(ratio)),
            Box::new(ParentBased::new(ProbabilitySampler::new(ratio))),
        ];
        for sampler in samplers {
            let result = sampler.should_sample(&params);
            let out = result.trace_state.unwrap_or_else(|| state.clone());
            let sampled = result.decision == SamplingDecision::RecordAndSample;
            let th = out
                .get("ot")
                .is_some_and(|v| v.split(';').any(|f| f.starts_with("th:")));
            if !sampled {
                assert!(!th || out.get("ot") == state.get("ot"), "{out:?}");
            }
            assert_eq!(out.get("vendor"), Some("1"), "{out:?}");
            let again: TraceState = out.as_str().parse().expect("own output parses");
            assert_eq!(again, out);
        }
    }

    let mut headers = http::HeaderMap::new();
    for line in timing.split(|&b| b == b'\n') {
        if let Ok(value) = http::HeaderValue::from_bytes(line) {
            headers.append("server-timing", value);
        }
    }
    if let Some(sc) = downstream_trace(&headers) {
        let again = SpanContext::from_traceparent(sc.traceparent().to_string().as_bytes()).unwrap();
        assert_eq!(again.trace_id(), sc.trace_id());
        assert_eq!(again.span_id(), sc.span_id());
    }
});
