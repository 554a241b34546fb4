//! `baggage` parsing over one or more header fields (the input split at `\n`): never panics;
//! what it keeps stays within the limits (64 members, 8192 bytes), is a valid header value, and
//! parses back to the same entries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracecore::Baggage;

fuzz_target!(|data: &[u8]| {
    let baggage = Baggage::from_header_values(data.split(|&b| b == b'\n'));
    assert!(baggage.len() <= Baggage::MAX_MEMBERS);
    let value = baggage.header_value();
    assert!(value.len() <= Baggage::MAX_BYTES);
    if !baggage.is_empty() {
        assert!(http::HeaderValue::from_str(&value).is_ok());
        assert_eq!(Baggage::from_header_values([value.as_bytes()]), baggage);
    }
});
