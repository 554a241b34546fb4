//! Redaction of URLs before they become attributes: credentials in `url.full`, and the values of
//! sensitive query parameters in `url.full` and `url.query`
//! ([semconv, `url.query`](https://opentelemetry.io/docs/specs/semconv/registry/attributes/url/)).

use std::borrow::Cow;
use std::sync::Arc;

/// The query parameters whose values are replaced by `REDACTED` by default (keys compared
/// case-sensitively, as the conventions say).
pub const SENSITIVE_QUERY_PARAMETERS: [&str; 7] = [
    "AWSAccessKeyId",
    "Signature",
    "sig",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "X-Amz-Signature",
    "X-Goog-Signature",
];

const REDACTED: &str = "REDACTED";

/// Which query parameters have their values redacted. The default is
/// [`SENSITIVE_QUERY_PARAMETERS`]; a custom list replaces it. Cheap to clone.
///
/// ```
/// use tracecore::http_span::UrlRedaction;
///
/// let redaction = UrlRedaction::default();
/// assert_eq!(redaction.query("color=blue&sig=abc"), "color=blue&sig=REDACTED");
/// assert_eq!(
///     redaction.url("https://user:pw@example.com/a?sig=1#top"),
///     "https://REDACTED:REDACTED@example.com/a?sig=REDACTED#top",
/// );
/// ```
#[derive(Clone, Debug)]
pub struct UrlRedaction {
    sensitive: Sensitive,
}

#[derive(Clone, Debug)]
enum Sensitive {
    Default,
    Custom(Arc<[Box<str>]>),
}

impl Default for UrlRedaction {
    fn default() -> Self {
        Self {
            sensitive: Sensitive::Default,
        }
    }
}

impl UrlRedaction {
    /// Redacts the values of exactly these query parameters (an empty list redacts none).
    pub fn with_sensitive_query_parameters<I, S>(names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let names: Vec<Box<str>> = names
            .into_iter()
            .map(|s| s.into().into_boxed_str())
            .collect();
        Self {
            sensitive: Sensitive::Custom(names.into()),
        }
    }

    fn is_sensitive(&self, key: &str) -> bool {
        match &self.sensitive {
            Sensitive::Default => SENSITIVE_QUERY_PARAMETERS.contains(&key),
            Sensitive::Custom(names) => names.iter().any(|n| &**n == key),
        }
    }

    /// The query string (without `?`) with sensitive values redacted; borrowed when nothing is.
    pub fn query<'a>(&self, query: &'a str) -> Cow<'a, str> {
        let needs = query.split('&').any(|pair| {
            pair.split_once('=')
                .is_some_and(|(k, _)| self.is_sensitive(k))
        });
        if !needs {
            return Cow::Borrowed(query);
        }
        let mut out = String::with_capacity(query.len());
        for (i, pair) in query.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((key, _)) if self.is_sensitive(key) => {
                    out.push_str(key);
                    out.push('=');
                    out.push_str(REDACTED);
                }
                _ => out.push_str(pair),
            }
        }
        Cow::Owned(out)
    }

    /// An absolute URL with its credentials replaced by `REDACTED:REDACTED` and sensitive query
    /// values redacted; borrowed when nothing is.
    pub fn url<'a>(&self, url: &'a str) -> Cow<'a, str> {
        let authority_start = url.find("://").map_or(0, |i| i + 3);
        let rest = &url[authority_start..];
        let authority_len = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let userinfo = rest[..authority_len].rfind('@');

        let (before_fragment, fragment) = match url.find('#') {
            Some(i) => (&url[..i], &url[i..]),
            None => (url, ""),
        };
        let (query_start, query) = match before_fragment.find('?') {
            Some(i) if i >= authority_start => (i, &before_fragment[i + 1..]),
            _ => (before_fragment.len(), ""),
        };
        let redacted_query = self.query(query);
        if userinfo.is_none() && matches!(redacted_query, Cow::Borrowed(_)) {
            return Cow::Borrowed(url);
        }

        let mut out = String::with_capacity(url.len() + 20);
        out.push_str(&url[..authority_start]);
        match userinfo {
            Some(at) => {
                out.push_str("REDACTED:REDACTED");
                out.push_str(&url[authority_start + at..query_start]);
            }
            None => out.push_str(&url[authority_start..query_start]),
        }
        if query_start < before_fragment.len() {
            out.push('?');
            out.push_str(&redacted_query);
        }
        out.push_str(fragment);
        Cow::Owned(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_table() {
        let r = UrlRedaction::default();
        let rows = [
            ("http://example.com/", "http://example.com/"),
            (
                "http://u:p@example.com:8080/x",
                "http://REDACTED:REDACTED@example.com:8080/x",
            ),
            (
                "http://u@example.com",
                "http://REDACTED:REDACTED@example.com",
            ),
            // An '@' after the authority is not userinfo.
            (
                "http://example.com/a@b?c=d@e",
                "http://example.com/a@b?c=d@e",
            ),
            (
                "https://s3.example.com/k?X-Amz-Signature=abc&X-Amz-Credential=def&x=1",
                "https://s3.example.com/k?X-Amz-Signature=REDACTED&X-Amz-Credential=REDACTED&x=1",
            ),
            // Keys are case-sensitive; a key without '=' has nothing to redact.
            ("http://h/?SIG=1&sig", "http://h/?SIG=1&sig"),
            ("http://h/?sig=1#sig=2", "http://h/?sig=REDACTED#sig=2"),
            ("http://h#a?sig=1", "http://h#a?sig=1"),
        ];
        for (input, want) in rows {
            assert_eq!(r.url(input), want, "{input}");
        }
    }

    #[test]
    fn untouched_urls_are_borrowed() {
        let r = UrlRedaction::default();
        assert!(matches!(r.url("http://h/p?a=1"), Cow::Borrowed(_)));
        assert!(matches!(r.query("a=1&b=2"), Cow::Borrowed(_)));
    }

    #[test]
    fn a_custom_list_replaces_the_default() {
        let r = UrlRedaction::with_sensitive_query_parameters(["token"]);
        assert_eq!(r.query("token=x&sig=y"), "token=REDACTED&sig=y");
        let none = UrlRedaction::with_sensitive_query_parameters(Vec::<String>::new());
        assert_eq!(none.query("sig=y"), "sig=y");
    }
}
