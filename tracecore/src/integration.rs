//! For integration crates, not applications: what a framework adapter, an exporter or a bridge
//! needs beyond the public API an application uses. An application never needs this module.
//!
//! - [`env`](mod@env): reading `OTEL_*` variables as the OpenTelemetry SDK configuration says (empty is
//!   unset, a malformed value is warned about once, naming the variable).
//! - Storage recycled from exported spans, so that a request's thread does not allocate what the
//!   export thread frees: [`attribute_list`], [`attribute_string`], [`text`], [`ip_text`].
//! - Interned values for span names, attributes and metric keys that do not allocate per
//!   request: [`interned`], [`route_value`].
//!
//! A server or client integration itself is an adapter over
//! [`http_span::ServerTracing`](crate::http_span::ServerTracing) and
//! [`http_span::ClientTracing`](crate::http_span::ClientTracing).
//!
//! ```
//! let mut attributes = tracecore::integration::attribute_list(4);
//! attributes.push(tracecore::KeyValue::new(
//!     "url.path",
//!     tracecore::integration::attribute_string("/items/42"),
//! ));
//! assert_eq!(attributes[0].value.as_str(), Some("/items/42"));
//! ```

use std::borrow::Cow;

/// Reading `OTEL_*` variables as the OpenTelemetry SDK configuration says.
pub mod env {
    pub use crate::env::*;
}

/// An empty attribute list with room for `capacity`, made from the storage of an exported
/// span's list when one is free: for integrations that build a span's start attributes as a
/// `Vec` ([`SpanBuilder::start_with_lazy_attributes`](crate::trace::SpanBuilder::start_with_lazy_attributes)),
/// so that the span's list is recycled rather than allocated on the request's thread and freed
/// on the export thread.
///
/// ```
/// let mut attributes = tracecore::integration::attribute_list(4);
/// assert!(attributes.is_empty() && attributes.capacity() >= 4);
/// ```
pub fn attribute_list(capacity: usize) -> Vec<crate::KeyValue> {
    crate::trace::recycle::take(capacity)
}

/// An owned copy of `text` for a string attribute value, made in the storage of an exported
/// span's string when one is free: for the values a request carries (its path, addresses, user
/// agent).
///
/// ```
/// assert_eq!(tracecore::integration::attribute_string("/items/42"), "/items/42");
/// ```
pub fn attribute_string(text: &str) -> String {
    crate::trace::recycle::string(text)
}

/// A request-derived value as attribute text (a header value, lossily converted when it is not
/// UTF-8), in recycled storage.
///
/// ```
/// assert_eq!(tracecore::integration::text(b"curl/8.5"), "curl/8.5");
/// assert_eq!(tracecore::integration::text(b"a\xffb"), "a\u{fffd}b");
/// ```
pub fn text(value: &[u8]) -> String {
    crate::http_span::text(value)
}

/// An IP address as attribute text (`client.address`, `network.peer.address`), in recycled
/// storage.
///
/// ```
/// let ip = std::net::Ipv4Addr::LOCALHOST.into();
/// assert_eq!(tracecore::integration::ip_text(ip), "127.0.0.1");
/// ```
pub fn ip_text(ip: std::net::IpAddr) -> String {
    crate::http_span::ip_text(ip)
}

/// An interned route template, URL template or host (bounded: past the intern table's size, an
/// owned copy), for attribute values and metric keys that do not allocate per request.
pub fn interned(value: &str) -> Cow<'static, str> {
    crate::http_span::interned(value)
}

/// A route template (`/items/{id}`) as an attribute value: interned, so a request does not
/// allocate it.
pub fn route_value(route: &str) -> crate::Value {
    crate::http_span::route_value(route)
}
