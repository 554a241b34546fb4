//! Values an HTTP span reads from a request or response: lengths, the protocol version, and the
//! limits and storage request-derived text is kept in.

use http::{HeaderMap, Version, header};

use super::intern;
use crate::KeyValue;

/// The length (in characters) request-derived attribute values are cut to by default:
/// `url.full`, `url.path`, `url.query`, `user_agent.original`, `server.address`,
/// `client.address`, captured headers. 8 KiB is the request-line and header limit of nginx's
/// default buffers and of most proxies, so a real value that reaches a service is shorter; a
/// 200 KB `User-Agent` costs a queued span 8 KiB, not 200 KB.
pub const DEFAULT_MAX_VALUE_LENGTH: usize = 8 * 1024;

/// A `Content-Length` header's value, if it is a number.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("content-length", " 42".parse().unwrap());
/// assert_eq!(tracecore::http_span::content_length(&headers), Some(42));
/// ```
pub fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `network.protocol.version` for a negotiated HTTP version: `1.0`, `1.1`, `2`, `3`.
///
/// ```
/// assert_eq!(tracecore::http_span::protocol_version(http::Version::HTTP_2), Some("2"));
/// ```
pub fn protocol_version(version: Version) -> Option<&'static str> {
    match version {
        Version::HTTP_09 => Some("0.9"),
        Version::HTTP_10 => Some("1.0"),
        Version::HTTP_11 => Some("1.1"),
        Version::HTTP_2 => Some("2"),
        Version::HTTP_3 => Some("3"),
        _ => None,
    }
}

/// Cuts every string value (and every string of a string array) in `attributes` to at most
/// `max` characters, at a character boundary; returns how many were cut.
///
/// ```
/// let mut attributes = vec![tracecore::KeyValue::new("user_agent.original", "é".repeat(10))];
/// assert_eq!(tracecore::http_span::limit_values(&mut attributes, 4), 1);
/// assert_eq!(attributes[0].value.as_str(), Some("éééé"));
/// ```
pub fn limit_values(attributes: &mut [KeyValue], max: usize) -> usize {
    attributes
        .iter_mut()
        .map(|kv| match &kv.value {
            // The common cases, decided here without a call.
            crate::Value::String(s) if s.len() <= max => 0,
            crate::Value::Bool(_) | crate::Value::I64(_) | crate::Value::F64(_) => 0,
            _ => usize::from(kv.value.truncate(max)),
        })
        .sum()
}

/// A route template (`/items/{id}`) as an attribute value: interned, so a request does not
/// allocate it (bounded; see `http_span::intern`).
pub(crate) fn route_value(route: &str) -> crate::Value {
    crate::Value::String(intern::interned_or_owned(route))
}

/// A request-derived value as attribute text (a header value, lossily converted when it is not
/// UTF-8), in recycled storage.
pub(crate) fn text(value: &[u8]) -> String {
    match String::from_utf8_lossy(value) {
        std::borrow::Cow::Borrowed(s) => crate::trace::recycle::string(s),
        std::borrow::Cow::Owned(s) => s,
    }
}

/// An IP address as attribute text (`client.address`, `network.peer.address`), in recycled
/// storage.
pub(crate) fn ip_text(ip: std::net::IpAddr) -> String {
    use std::fmt::Write;
    let mut text = crate::trace::recycle::string("");
    // Writing to a String cannot fail.
    let _ = write!(text, "{ip}");
    text
}

/// An interned route template, URL template or host (bounded: past the intern table's size, an
/// owned copy), for attribute values and metric keys that do not allocate per request.
pub(crate) fn interned(value: &str) -> std::borrow::Cow<'static, str> {
    intern::interned_or_owned(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_lossy_utf8_and_ips_are_their_display_form() {
        assert_eq!(text(b"curl/8.5"), "curl/8.5");
        assert_eq!(text(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(ip_text(std::net::Ipv4Addr::LOCALHOST.into()), "127.0.0.1");
        assert_eq!(ip_text(std::net::Ipv6Addr::LOCALHOST.into()), "::1");
    }
}
