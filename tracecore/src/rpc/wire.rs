//! What a gRPC call says on the wire (gRPC over HTTP/2, `PROTOCOL-HTTP2.md`): the content type
//! that marks a call, the method in the path, the `grpc-message` and `grpc-timeout` values.

use std::borrow::Cow;
use std::time::Duration;

use http::HeaderMap;
use http::header::CONTENT_TYPE;

use super::GrpcCode;

/// Whether `headers` mark a gRPC call: `content-type` is `application/grpc`, alone or with a
/// `+codec` (`application/grpc+proto`) or parameters, in any case.
///
/// ```
/// let mut headers = http::HeaderMap::new();
/// headers.insert("content-type", "application/grpc+proto".parse().unwrap());
/// assert!(tracecore::rpc::is_grpc(&headers));
/// headers.insert("content-type", "application/grpc-web".parse().unwrap());
/// assert!(!tracecore::rpc::is_grpc(&headers), "gRPC-Web is another protocol");
/// ```
pub fn is_grpc(headers: &HeaderMap) -> bool {
    const GRPC: &[u8] = b"application/grpc";
    let Some(value) = headers.get(CONTENT_TYPE) else {
        return false;
    };
    let value = value.as_bytes();
    value.len() >= GRPC.len()
        && value[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(value.get(GRPC.len()), None | Some(b'+' | b';'))
}

/// The fully qualified method of a call's path (`/inventory.v1.Inventory/GetItem` gives
/// `inventory.v1.Inventory/GetItem`): the value of `rpc.method` and the span name. `None` for a
/// path that is not `/{service}/{method}`.
///
/// ```
/// assert_eq!(tracecore::rpc::method("/inventory.v1.Inventory/GetItem"), Some("inventory.v1.Inventory/GetItem"));
/// assert_eq!(tracecore::rpc::method("/items/42/extra"), None);
/// ```
pub fn method(path: &str) -> Option<&str> {
    let method = path.strip_prefix('/')?;
    let (service, name) = method.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && !s.contains('/') && !s.contains('?');
    (valid(service) && valid(name)).then_some(method)
}

/// A `grpc-message` value decoded: percent-encoded UTF-8. A value that does not decode is kept
/// as it came, as the gRPC spec asks (the message is never thrown away).
///
/// ```
/// assert_eq!(tracecore::rpc::decode_message(b"no item 7: %E2%9C%97"), "no item 7: \u{2717}");
/// assert_eq!(tracecore::rpc::decode_message(b"50%"), "50%");
/// ```
pub fn decode_message(value: &[u8]) -> Cow<'_, str> {
    if !value.contains(&b'%') {
        return String::from_utf8_lossy(value);
    }
    match crate::text::percent_decode(value) {
        Some(bytes) => Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()),
        None => String::from_utf8_lossy(value),
    }
}

/// A `grpc-timeout` value: up to eight digits and a unit (`H`, `M`, `S`, `m`, `u`, `n`).
/// `None` when malformed.
///
/// ```
/// use std::time::Duration;
/// assert_eq!(tracecore::rpc::parse_timeout(b"250m"), Some(Duration::from_millis(250)));
/// assert_eq!(tracecore::rpc::parse_timeout(b"1.5S"), None);
/// ```
pub fn parse_timeout(value: &[u8]) -> Option<Duration> {
    let (unit, digits) = value.split_last()?;
    if digits.is_empty() || digits.len() > 8 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits
        .iter()
        .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Some(match unit {
        b'H' => Duration::from_secs(n * 3600),
        b'M' => Duration::from_secs(n * 60),
        b'S' => Duration::from_secs(n),
        b'm' => Duration::from_millis(n),
        b'u' => Duration::from_micros(n),
        b'n' => Duration::from_nanos(n),
        _ => return None,
    })
}

/// The status in `headers` (the trailers, or the headers of a trailers-only response): the
/// code of `grpc-status` and the decoded `grpc-message`. `None` when there is no `grpc-status`.
pub fn status(headers: &HeaderMap) -> Option<(GrpcCode, Option<String>)> {
    let code = GrpcCode::from_header(headers.get("grpc-status")?.as_bytes());
    let message = headers
        .get("grpc-message")
        .map(|m| decode_message(m.as_bytes()).into_owned())
        .filter(|m| !m.is_empty());
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_content_types() {
        for (value, grpc) in [
            ("application/grpc", true),
            ("application/grpc+proto", true),
            ("application/grpc+json", true),
            ("Application/GRPC", true),
            ("application/grpc;charset=utf-8", true),
            ("application/grpc-web", false),
            ("application/grpcx", false),
            ("application/json", false),
            ("text/plain", false),
        ] {
            let mut headers = HeaderMap::new();
            headers.insert(CONTENT_TYPE, value.parse().unwrap());
            assert_eq!(is_grpc(&headers), grpc, "{value}");
        }
        assert!(!is_grpc(&HeaderMap::new()), "no content type");
    }

    #[test]
    fn methods_from_paths() {
        for (path, method) in [
            (
                "/inventory.v1.Inventory/GetItem",
                Some("inventory.v1.Inventory/GetItem"),
            ),
            (
                "/grpc.health.v1.Health/Check",
                Some("grpc.health.v1.Health/Check"),
            ),
            ("/Service/Method", Some("Service/Method")),
            ("inventory.v1.Inventory/GetItem", None),
            ("/inventory.v1.Inventory", None),
            ("/inventory.v1.Inventory/", None),
            ("//GetItem", None),
            ("/a/b/c", None),
            ("/", None),
        ] {
            assert_eq!(super::method(path), method, "{path}");
        }
    }

    #[test]
    fn timeouts_in_every_unit_and_malformed_ones() {
        for (value, timeout) in [
            ("1H", Some(Duration::from_secs(3600))),
            ("2M", Some(Duration::from_secs(120))),
            ("3S", Some(Duration::from_secs(3))),
            ("250m", Some(Duration::from_millis(250))),
            ("7u", Some(Duration::from_micros(7))),
            ("99999999n", Some(Duration::from_nanos(99_999_999))),
            ("123456789n", None),
            ("S", None),
            ("10", None),
            ("10s", None),
            ("-1S", None),
            ("", None),
        ] {
            assert_eq!(parse_timeout(value.as_bytes()), timeout, "{value:?}");
        }
    }

    #[test]
    fn status_from_trailers() {
        let mut trailers = HeaderMap::new();
        assert_eq!(status(&trailers), None);
        trailers.insert("grpc-status", "5".parse().unwrap());
        assert_eq!(status(&trailers), Some((GrpcCode::NotFound, None)));
        trailers.insert("grpc-message", "no%20item%207".parse().unwrap());
        assert_eq!(
            status(&trailers),
            Some((GrpcCode::NotFound, Some("no item 7".to_owned())))
        );
        trailers.insert("grpc-status", "banana".parse().unwrap());
        assert_eq!(status(&trailers).map(|s| s.0), Some(GrpcCode::Unknown));
    }
}
