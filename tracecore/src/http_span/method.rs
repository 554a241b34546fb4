//! `http.request.method`: the known methods, `_OTHER`, and the span name built from them.

use std::borrow::Cow;
use std::sync::OnceLock;

use http::Method;

use crate::{KeyValue, env, semconv};

/// `OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS`: a comma-separated list that replaces the known
/// methods. Read once per process; an empty list means the variable is unset.
fn known_from_env() -> Option<&'static [&'static str]> {
    static KNOWN: OnceLock<Option<&'static [&'static str]>> = OnceLock::new();
    *KNOWN.get_or_init(|| {
        let raw = env::var("OTEL_INSTRUMENTATION_HTTP_KNOWN_METHODS")?;
        let list: Vec<&'static str> = raw
            .split(',')
            .map(str::trim)
            .filter(|m| !m.is_empty())
            // Leaked once per process: the list lives as long as the process does anyway.
            .map(|m| &*Box::leak(m.to_owned().into_boxed_str()))
            .collect();
        Some(&*Box::leak(list.into_boxed_slice()))
    })
}

/// The value of `http.request.method` for `method`: the method itself when it is known, else
/// `_OTHER` ([semconv](https://opentelemetry.io/docs/specs/semconv/http/http-spans/)).
///
/// ```
/// use http::Method;
/// use tracecore::http_span::known_method;
///
/// assert_eq!(known_method(&Method::GET), "GET");
/// assert_eq!(known_method(&Method::from_bytes(b"GeT").unwrap()), "_OTHER");
/// assert_eq!(known_method(&Method::from_bytes(b"PURGE").unwrap()), "_OTHER");
/// ```
pub fn known_method(method: &Method) -> &'static str {
    let name = method.as_str();
    let Some(known) = known_from_env() else {
        // The methods the conventions know (RFC 9110 and PATCH), compared case-sensitively
        // against literals (a few instructions each).
        return match name {
            "GET" => "GET",
            "POST" => "POST",
            "PUT" => "PUT",
            "DELETE" => "DELETE",
            "HEAD" => "HEAD",
            "OPTIONS" => "OPTIONS",
            "PATCH" => "PATCH",
            "CONNECT" => "CONNECT",
            "TRACE" => "TRACE",
            _ => "_OTHER",
        };
    };
    known
        .iter()
        .find(|m| **m == name)
        .copied()
        .unwrap_or("_OTHER")
}

/// The method attributes of a request: `http.request.method`, and
/// `http.request.method_original` when the method is not known.
#[derive(Clone, Debug)]
pub struct MethodAttributes {
    /// The value of `http.request.method`: a known method or `_OTHER`.
    pub known: &'static str,
    /// `http.request.method`.
    pub method: KeyValue,
    /// `http.request.method_original`, present iff `known` is `_OTHER`.
    pub original: Option<KeyValue>,
}

impl MethodAttributes {
    /// The attributes for `method`.
    ///
    /// ```
    /// use tracecore::http_span::MethodAttributes;
    ///
    /// let m = MethodAttributes::new(&http::Method::from_bytes(b"PURGE").unwrap());
    /// assert_eq!(m.known, "_OTHER");
    /// assert_eq!(m.original.unwrap().value.as_str(), Some("PURGE"));
    /// ```
    pub fn new(method: &Method) -> Self {
        let known = known_method(method);
        let original = (known == "_OTHER").then(|| {
            KeyValue::new(
                semconv::HTTP_REQUEST_METHOD_ORIGINAL,
                method.as_str().to_owned(),
            )
        });
        Self {
            known,
            method: KeyValue::new(semconv::HTTP_REQUEST_METHOD, known),
            original,
        }
    }
}

/// The span name: `{method} {target}`, or `{method}` without a low-cardinality target; `HTTP`
/// stands for the method when it is `_OTHER`. Never built from a raw path.
///
/// ```
/// use tracecore::http_span::span_name;
///
/// assert_eq!(span_name("GET", Some("/items/{id}")), "GET /items/{id}");
/// assert_eq!(span_name("POST", None), "POST");
/// assert_eq!(span_name("_OTHER", Some("/x")), "HTTP /x");
/// ```
pub fn span_name(known_method: &'static str, target: Option<&str>) -> Cow<'static, str> {
    let method = name_method(known_method);
    match target {
        // Targets are low-cardinality by definition: the name is interned, not allocated.
        Some(target) if !target.is_empty() => super::intern::interned_pair(method, target),
        _ => Cow::Borrowed(method),
    }
}

/// The method as a span name says it: `HTTP` stands for `_OTHER`.
fn name_method(known_method: &'static str) -> &'static str {
    if known_method == "_OTHER" {
        "HTTP"
    } else {
        known_method
    }
}

/// [`span_name`] for a route as [`integration::interned`](crate::integration::interned) gives it: the name of an
/// interned route is found by the identity of the method and route strings, without comparing
/// text (what a server does on every request).
///
/// ```
/// use tracecore::http_span::route_span_name;
/// use tracecore::integration::interned;
///
/// let route = interned("/items/{id}");
/// assert_eq!(route_span_name("GET", Some(&route)), "GET /items/{id}");
/// assert_eq!(route_span_name("GET", Some(&route)), "GET /items/{id}");
/// assert_eq!(route_span_name("_OTHER", Some(&route)), "HTTP /items/{id}");
/// assert_eq!(route_span_name("POST", None), "POST");
/// ```
pub fn route_span_name(
    known_method: &'static str,
    route: Option<&Cow<'static, str>>,
) -> Cow<'static, str> {
    match route {
        Some(Cow::Borrowed(route)) if !route.is_empty() => {
            super::intern::interned_static_pair(name_method(known_method), route)
        }
        route => span_name(known_method, route.map(|r| r.as_ref())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The methods the conventions know (RFC 9110 and PATCH).
    const DEFAULT_KNOWN: [&str; 9] = [
        "CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE",
    ];

    #[test]
    fn known_methods_are_case_sensitive_and_others_keep_their_original() {
        for m in DEFAULT_KNOWN {
            let method = Method::from_bytes(m.as_bytes()).unwrap();
            let attributes = MethodAttributes::new(&method);
            assert_eq!(attributes.method.value.as_str(), Some(m));
            assert!(attributes.original.is_none());
        }
        let get = MethodAttributes::new(&Method::from_bytes(b"get").unwrap());
        assert_eq!(get.method.value.as_str(), Some("_OTHER"));
        assert_eq!(get.original.unwrap().value.as_str(), Some("get"));
        assert_eq!(
            known_method(&Method::from_bytes(b"QUERY").unwrap()),
            "_OTHER"
        );
    }

    #[test]
    fn names_never_use_other() {
        assert_eq!(span_name("_OTHER", None), "HTTP");
        assert_eq!(span_name("GET", Some("")), "GET");
    }
}
