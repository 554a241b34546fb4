//! The parsers of `OTEL_*` values: list variables (`OTEL_PROPAGATORS`), `key=value` lists
//! (`OTEL_RESOURCE_ATTRIBUTES`, `OTEL_EXPORTER_OTLP_HEADERS`), and the sampler with its argument.
//! Never panics; every warning names its variable.
//!
//! Input: UTF-8 text; the part before the first `\n` is one value, the rest another.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracecore::propagation::{Propagator, from_env_value};
use tracecore::trace::sampler_from_env_values;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (first, second) = text.split_once('\n').unwrap_or((text, ""));

    for name in tracecore::integration::env::names(first) {
        assert!(!name.is_empty());
        assert_eq!(name, name.trim().to_ascii_lowercase());
    }
    if let Ok(pairs) = tracecore::integration::env::key_values(first) {
        assert!(pairs.iter().all(|(k, _)| !k.is_empty()));
    }

    let (propagator, warnings) = from_env_value(Some(first));
    assert!(warnings.iter().all(|w| w.starts_with("OTEL_PROPAGATORS: ")));
    let known = [
        "traceparent",
        "tracestate",
        "baggage",
        "b3",
        "x-b3-traceid",
        "x-b3-spanid",
        "x-b3-sampled",
        "x-b3-flags",
        "uber-trace-id",
    ];
    assert!(propagator.fields().iter().all(|f| known.contains(f)));

    let (sampler, warnings) = sampler_from_env_values(Some(first), Some(second));
    assert!(!sampler.description().is_empty());
    assert!(warnings.iter().all(|w| w.starts_with("OTEL_TRACES_SAMPLER")));
});
