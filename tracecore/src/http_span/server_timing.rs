//! The trace metric of a response's `server-timing` header (W3C Trace Context Level 3):
//! `server-timing: trace;desc=00-<trace-id>-<span-id>-<flags>`, by which a downstream service
//! tells its caller which span answered and whether it keeps the trace.

use http::HeaderMap;

use crate::SpanContext;

/// The longest `server-timing` value read; a longer one is ignored whole.
const MAX_VALUE_LENGTH: usize = 4096;
/// The most `server-timing` header lines read; past it the header is ignored.
const MAX_LINES: usize = 16;

/// The span context of the `trace` metric in `headers`' `server-timing` values: `None` when
/// there is none, or when the header is malformed or oversized (it is then ignored, never an
/// error). The first `trace` metric counts.
///
/// ```
/// use tracecore::http_span::downstream_trace;
///
/// let mut headers = http::HeaderMap::new();
/// headers.append("server-timing", "db;dur=53, trace;desc=\"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\"".parse().unwrap());
/// let sc = downstream_trace(&headers).unwrap();
/// assert_eq!(sc.trace_id().to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
/// assert!(sc.is_sampled());
/// ```
pub fn downstream_trace(headers: &HeaderMap) -> Option<SpanContext> {
    let values = headers.get_all("server-timing");
    let mut lines = 0;
    for value in values {
        lines += 1;
        let bytes = value.as_bytes();
        if lines > MAX_LINES || bytes.len() > MAX_VALUE_LENGTH {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        if let Some(found) = trace_metric(text)? {
            return Some(found);
        }
    }
    None
}

/// The `trace` metric's context in one header value: `Some(None)` when the value has none,
/// `None` when it is malformed.
fn trace_metric(value: &str) -> Option<Option<SpanContext>> {
    for metric in split_outside_quotes(value, ',') {
        let mut parts = split_outside_quotes(metric, ';');
        let name = parts.next()?.trim();
        if name.is_empty() || !name.bytes().all(is_token) {
            return None;
        }
        if name != "trace" {
            continue;
        }
        for param in parts {
            let (key, raw) = param.split_once('=')?;
            if !key.trim().eq_ignore_ascii_case("desc") {
                continue;
            }
            let raw = raw.trim();
            let desc = match raw.strip_prefix('"') {
                Some(rest) => rest.strip_suffix('"')?,
                None => raw,
            };
            return SpanContext::from_traceparent(desc.as_bytes())
                .ok()
                .map(Some);
        }
        return None;
    }
    Some(None)
}

/// RFC 9110 token characters.
fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// `value` split at `separator`s that are not inside a quoted string.
fn split_outside_quotes(value: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut quoted = false;
    let mut escaped = false;
    value.split(move |c: char| {
        if escaped {
            escaped = false;
            return false;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            _ => {}
        }
        c == separator && !quoted
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(values: &[&str]) -> Option<String> {
        let mut headers = HeaderMap::new();
        for v in values {
            headers.append("server-timing", v.parse().unwrap());
        }
        downstream_trace(&headers).map(|sc| sc.traceparent().to_string())
    }

    const TP: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn the_trace_metric_is_found_among_others() {
        assert_eq!(read(&[&format!("trace;desc={TP}")]).as_deref(), Some(TP));
        assert_eq!(
            read(&[
                "cache;desc=\"a,b;c\";dur=2",
                &format!("trace;desc=\"{TP}\"")
            ])
            .as_deref(),
            Some(TP)
        );
        assert_eq!(
            read(&[&format!("db;dur=53, trace ; DESC = {TP}")]).as_deref(),
            Some(TP)
        );
        assert_eq!(read(&["db;dur=53"]), None);
        assert_eq!(read(&[]), None);
    }

    #[test]
    fn malformed_or_oversized_values_are_ignored() {
        assert_eq!(read(&["trace;desc=00-not-a-traceparent"]), None);
        assert_eq!(read(&["trace"]), None);
        assert_eq!(read(&["trace;desc"]), None);
        assert_eq!(read(&[&format!("trace;desc=\"{TP}")]), None);
        assert_eq!(read(&[&format!("bad name;dur=1, trace;desc={TP}")]), None);
        let huge = format!("{}trace;desc={TP}", "x;dur=1, ".repeat(600));
        assert_eq!(read(&[&huge]), None);
        let many: Vec<String> = (0..20).map(|i| format!("m{i};dur=1")).collect();
        let mut lines: Vec<&str> = many.iter().map(String::as_str).collect();
        let last = format!("trace;desc={TP}");
        lines.push(&last);
        assert_eq!(read(&lines), None);
    }
}
