//! Opt-in capture of request and response headers as `http.request.header.<key>` and
//! `http.response.header.<key>` attributes, by an explicit allow-list.

use std::borrow::Cow;
use std::sync::Arc;

use http::{HeaderMap, HeaderName};

use crate::{Array, Key, KeyValue, Value};

/// An allow-list of headers recorded as string-array attributes, one element per value.
/// Empty (the default) captures nothing. Cheap to clone.
///
/// ```
/// use tracecore::http_span::HeaderCapture;
///
/// let capture = HeaderCapture::request(["X-Request-Id"]).unwrap();
/// let mut headers = http::HeaderMap::new();
/// headers.append("x-request-id", "a".parse().unwrap());
/// headers.append("x-request-id", "b".parse().unwrap());
/// let attributes = capture.attributes(&headers);
/// assert_eq!(attributes[0].key.as_str(), "http.request.header.x-request-id");
/// assert_eq!(attributes[0].value.to_string(), r#"["a", "b"]"#);
/// ```
#[derive(Clone, Debug, Default)]
pub struct HeaderCapture {
    names: Arc<[(HeaderName, Key)]>,
}

impl HeaderCapture {
    /// Captures these request headers (names are case-insensitive).
    pub fn request<I, S>(names: I) -> Result<Self, http::header::InvalidHeaderName>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_prefix("http.request.header.", names)
    }

    /// Captures these response headers (names are case-insensitive).
    pub fn response<I, S>(names: I) -> Result<Self, http::header::InvalidHeaderName>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_prefix("http.response.header.", names)
    }

    /// Captures these metadata keys of a gRPC request, as `rpc.request.metadata.<key>`.
    pub fn rpc_request<I, S>(names: I) -> Result<Self, http::header::InvalidHeaderName>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_prefix("rpc.request.metadata.", names)
    }

    /// Captures these metadata keys of a gRPC response's headers, as
    /// `rpc.response.metadata.<key>`.
    pub fn rpc_response<I, S>(names: I) -> Result<Self, http::header::InvalidHeaderName>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        Self::with_prefix("rpc.response.metadata.", names)
    }

    fn with_prefix<I, S>(prefix: &str, names: I) -> Result<Self, http::header::InvalidHeaderName>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut list = Vec::new();
        for name in names {
            let name = HeaderName::from_bytes(name.as_ref().trim().as_bytes())?;
            if list.iter().all(|(n, _)| *n != name) {
                // Interned: cloning the key per request then costs no allocation.
                let key = format!("{prefix}{}", name.as_str());
                let key = super::intern::intern(&key).map_or_else(|| Key::from(key), Key::from);
                list.push((name, key));
            }
        }
        Ok(Self { names: list.into() })
    }

    /// Whether nothing is captured.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The attributes for the listed headers present in `headers` (values not valid UTF-8 are
    /// converted lossily).
    pub fn attributes(&self, headers: &HeaderMap) -> Vec<KeyValue> {
        let mut out = Vec::new();
        for (name, key) in self.names.iter() {
            let values: Vec<Cow<'static, str>> = headers
                .get_all(name)
                .iter()
                .map(|v| Cow::Owned(String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect();
            if !values.is_empty() {
                out.push(KeyValue::new(
                    key.clone(),
                    Value::Array(Array::String(values)),
                ));
            }
        }
        out
    }
}
