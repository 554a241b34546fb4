//! Every propagator (W3C trace context, W3C baggage, B3 single and multi, Jaeger) extracting from
//! a header map built from the input, then injecting what it extracted: never panics, and every
//! header it writes is non-empty visible ASCII within the spec's limits.
//!
//! Input: lines; each line's first byte picks a header name, the rest is the value (repeated
//! names make repeated fields).
#![no_main]

use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use tracecore::propagation::{
    B3Encoding, B3Propagator, BaggagePropagator, JaegerPropagator, Propagator,
    TraceContextPropagator,
};
use tracecore::{Baggage, TraceState};

const NAMES: &[&str] = &[
    "traceparent",
    "tracestate",
    "baggage",
    "b3",
    "x-b3-traceid",
    "x-b3-spanid",
    "x-b3-sampled",
    "x-b3-flags",
    "x-b3-parentspanid",
    "uber-trace-id",
    "uberctx-user",
    "uberctx-",
];

fuzz_target!(|data: &[u8]| {
    let mut headers = HeaderMap::new();
    for line in data.split(|&b| b == b'\n') {
        let Some((&pick, value)) = line.split_first() else {
            continue;
        };
        if let Ok(value) = HeaderValue::from_bytes(value) {
            let name = NAMES[usize::from(pick) % NAMES.len()];
            headers.append(HeaderName::from_static(name), value);
        }
    }
    let propagators: [Box<dyn Propagator>; 5] = [
        Box::new(TraceContextPropagator::new()),
        Box::new(BaggagePropagator::new()),
        Box::new(B3Propagator::with_encoding(B3Encoding::Single)),
        Box::new(B3Propagator::with_encoding(B3Encoding::SingleAndMultiple)),
        Box::new(JaegerPropagator::new()),
    ];
    for propagator in &propagators {
        let cx = propagator.extract(&headers);
        let mut out = HeaderMap::new();
        propagator.inject_context(&cx, &mut out);
        for (name, value) in &out {
            let text = value.to_str().expect("visible ASCII");
            assert!(!text.is_empty(), "{name} is empty");
            match name.as_str() {
                "traceparent" => assert_eq!(text.len(), 55),
                "tracestate" => {
                    assert!(text.len() <= TraceState::MAX_LEN);
                    assert!(text.split(',').count() <= 32);
                }
                "baggage" => {
                    assert!(text.len() <= Baggage::MAX_BYTES);
                    assert!(text.split(',').count() <= Baggage::MAX_MEMBERS);
                }
                _ => {}
            }
        }
    }
});
