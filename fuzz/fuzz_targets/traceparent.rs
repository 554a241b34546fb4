//! `traceparent` parsing: never panics; whatever parses formats back to a valid version-00 value
//! that parses to the same span context.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracecore::SpanContext;

fuzz_target!(|data: &[u8]| {
    if let Ok(cx) = SpanContext::from_traceparent(data) {
        let formatted = cx.traceparent().as_str().to_owned();
        assert_eq!(formatted.len(), 55);
        assert!(formatted.starts_with("00-"));
        let again = SpanContext::from_traceparent(formatted.as_bytes()).expect("own output parses");
        assert_eq!(again.trace_id(), cx.trace_id());
        assert_eq!(again.span_id(), cx.span_id());
        assert_eq!(again.flags(), cx.flags());
    }
});
