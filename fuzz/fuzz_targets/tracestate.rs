//! `tracestate` parsing over one or more header fields (the input split at `\n`): never panics;
//! what it keeps stays within the limits (32 members, 512 characters), is a valid header value,
//! and parses back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tracecore::TraceState;

fuzz_target!(|data: &[u8]| {
    let Ok(state) = TraceState::from_header_values(data.split(|&b| b == b'\n')) else {
        return;
    };
    let value = state.as_str();
    assert!(state.len() <= 32);
    assert!(value.len() <= TraceState::MAX_LEN);
    assert!(http::HeaderValue::from_str(value).is_ok());
    let again: TraceState = value.parse().expect("own output parses");
    assert_eq!(again, state);
});
