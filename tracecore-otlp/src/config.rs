//! The exporters' `OTEL_EXPORTER_OTLP_*` settings: each per-signal variable (`..._TRACES_...`,
//! `..._METRICS_...`) wins over the generic one; empty means unset; a bad value is warned about once and the
//! default used, except where no default can stand in (an endpoint that is not a URL, a
//! certificate that cannot be read), which is an error naming the variable.

use std::fmt;
use std::time::Duration;

use tracecore::diag;
use tracecore::integration::env;
use tracecore::metrics::Temporality;

use crate::Protocol;

/// The default collector address for OTLP/HTTP.
const DEFAULT_BASE: &str = "http://localhost:4318/";

/// Which signal an exporter sends: it picks the variables and the URL path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Spans, to `v1/traces`.
    #[default]
    Traces,
    /// Metrics, to `v1/metrics`.
    Metrics,
    /// Log records, to `v1/logs`.
    Logs,
}

impl Signal {
    /// The path appended to a base endpoint.
    pub(crate) fn path(self) -> &'static str {
        match self {
            Self::Traces => "v1/traces",
            Self::Metrics => "v1/metrics",
            Self::Logs => "v1/logs",
        }
    }

    /// The default URL.
    pub(crate) fn default_endpoint(self) -> String {
        format!("{DEFAULT_BASE}{}", self.path())
    }
}

/// The default export timeout (`OTEL_EXPORTER_OTLP_TIMEOUT`).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A setting the exporter cannot run with: which variable (or builder option) and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    source: &'static str,
    message: String,
}

impl ConfigError {
    pub(crate) fn new(source: &'static str, message: impl Into<String>) -> Self {
        Self {
            source,
            message: message.into(),
        }
    }

    /// The variable (or builder option) that holds the bad value.
    pub fn variable(&self) -> &str {
        self.source
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.source, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// Whether request bodies are compressed (`OTEL_EXPORTER_OTLP_COMPRESSION`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Compression {
    /// Sent as encoded (the default).
    #[default]
    None,
    /// gzip, with `Content-Encoding: gzip`.
    Gzip,
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::None => "none",
            Self::Gzip => "gzip",
        })
    }
}

/// A variable's value: the per-signal one if set, else the generic one, with the name it came
/// from.
pub(crate) fn signal_var(signal: Signal, suffix: &str) -> Option<(String, &'static str)> {
    let (specific, generic) = names(signal, suffix);
    env::var(specific)
        .map(|v| (v, specific))
        .or_else(|| env::var(generic).map(|v| (v, generic)))
}

/// The variable names a suffix (`ENDPOINT`, `HEADERS`, ...) can take: traces, metrics, generic
/// (the logs' are the traces' with `LOGS` for `TRACES`).
const NAMES: [(&str, &str, &str, &str); 8] = [
    (
        "ENDPOINT",
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ),
    (
        "HEADERS",
        "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
        "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
        "OTEL_EXPORTER_OTLP_HEADERS",
    ),
    (
        "TIMEOUT",
        "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
        "OTEL_EXPORTER_OTLP_METRICS_TIMEOUT",
        "OTEL_EXPORTER_OTLP_TIMEOUT",
    ),
    (
        "PROTOCOL",
        "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
    ),
    (
        "COMPRESSION",
        "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
        "OTEL_EXPORTER_OTLP_METRICS_COMPRESSION",
        "OTEL_EXPORTER_OTLP_COMPRESSION",
    ),
    (
        "CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
    ),
    (
        "CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE",
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
    ),
    (
        "CLIENT_KEY",
        "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY",
        "OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY",
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
    ),
];

/// The per-signal and generic variable names for `suffix`.
fn names(signal: Signal, suffix: &str) -> (&'static str, &'static str) {
    let Some(&(_, traces, metrics, generic)) = NAMES.iter().find(|n| n.0 == suffix) else {
        unreachable!("no OTLP variable ends in {suffix}")
    };
    match signal {
        Signal::Traces => (traces, generic),
        Signal::Metrics => (metrics, generic),
        Signal::Logs => (logs_name(traces), generic),
    }
}

/// The logs' variable for a traces' one (`OTEL_EXPORTER_OTLP_TRACES_X` →
/// `OTEL_EXPORTER_OTLP_LOGS_X`), made once per name.
fn logs_name(traces: &'static str) -> &'static str {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    static NAMES: OnceLock<Mutex<HashMap<&'static str, &'static str>>> = OnceLock::new();
    let mut names = NAMES
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    names
        .entry(traces)
        .or_insert_with(|| Box::leak(traces.replace("_TRACES_", "_LOGS_").into_boxed_str()))
}

/// The signal's URL from the environment: `..._TRACES_ENDPOINT` (or `..._METRICS_ENDPOINT`) as
/// given (an empty path becomes `/`), else `OTEL_EXPORTER_OTLP_ENDPOINT` with `v1/traces` (or
/// `v1/metrics`) appended, else the default.
pub(crate) fn endpoint_from_env(signal: Signal) -> Result<String, ConfigError> {
    let (specific, generic) = names(signal, "ENDPOINT");
    if let Some(url) = env::var(specific) {
        return signal_url(url.trim(), specific);
    }
    if let Some(url) = env::var(generic) {
        return base_url(url.trim(), generic, signal);
    }
    Ok(signal.default_endpoint())
}

/// A base URL with the signal's path (`v1/traces`) appended relative to its path.
pub(crate) fn base_url(
    url: &str,
    source: &'static str,
    signal: Signal,
) -> Result<String, ConfigError> {
    check_url(url, source)?;
    let (before_query, query) = match url.find(['?', '#']) {
        Some(at) => url.split_at(at),
        None => (url, ""),
    };
    let slash = if before_query.ends_with('/') { "" } else { "/" };
    Ok(format!("{before_query}{slash}{}{query}", signal.path()))
}

/// A signal URL used as given, except that an empty path becomes `/`.
pub(crate) fn signal_url(url: &str, source: &'static str) -> Result<String, ConfigError> {
    check_url(url, source)?;
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    if url[after_scheme..].contains('/') {
        Ok(url.to_owned())
    } else {
        let (authority, rest) = match url[after_scheme..].find(['?', '#']) {
            Some(at) => url.split_at(after_scheme + at),
            None => (url, ""),
        };
        Ok(format!("{authority}/{rest}"))
    }
}

/// An `http` or `https` URL with a host.
fn check_url(url: &str, source: &'static str) -> Result<(), ConfigError> {
    let uri: ureq::http::Uri = url
        .parse()
        .map_err(|e| ConfigError::new(source, format!("{url:?} is not a URL ({e})")))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            if !cfg!(feature = "rustls") {
                return Err(ConfigError::new(
                    source,
                    format!(
                        "{url:?} is https, which needs tracecore-otlp's `rustls` feature; \
                         enable it or use an http endpoint"
                    ),
                ));
            }
        }
        Some(other) => {
            return Err(ConfigError::new(
                source,
                format!("{url:?} has scheme {other:?}; OTLP/HTTP needs http:// or https://"),
            ));
        }
        None => {
            return Err(ConfigError::new(
                source,
                format!("{url:?} has no scheme; write it as http://host:port"),
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(ConfigError::new(source, format!("{url:?} has no host")));
    }
    Ok(())
}

/// Headers from `OTEL_EXPORTER_OTLP_HEADERS`, then the signal's (`..._TRACES_HEADERS`; a key in
/// both takes the per-signal value).
pub(crate) fn headers_from_env(signal: Signal) -> Result<Vec<(String, String)>, ConfigError> {
    let (specific, generic) = names(signal, "HEADERS");
    let mut headers = Vec::new();
    for name in [generic, specific] {
        if let Some(raw) = env::var(name) {
            for (key, value) in parse_headers(&raw, name)? {
                headers.retain(|(k, _): &(String, String)| !k.eq_ignore_ascii_case(&key));
                headers.push((key, value));
            }
        }
    }
    Ok(headers)
}

/// `k1=v1,k2=v2` in the W3C baggage format (see [`env::key_values`]), each key a valid header
/// name and each value a valid header value.
pub(crate) fn parse_headers(
    raw: &str,
    source: &'static str,
) -> Result<Vec<(String, String)>, ConfigError> {
    let pairs = env::key_values(raw).map_err(|why| ConfigError::new(source, why))?;
    for (key, value) in &pairs {
        if ureq::http::HeaderName::from_bytes(key.as_bytes()).is_err() {
            return Err(ConfigError::new(
                source,
                format!("{key:?} is not a valid header name"),
            ));
        }
        if ureq::http::HeaderValue::from_str(value).is_err() {
            return Err(ConfigError::new(
                source,
                format!("the value of {key:?} is not a valid header value"),
            ));
        }
    }
    Ok(pairs)
}

/// `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT` in milliseconds; `0` means no limit of its own (the
/// batch processor's export timeout still bounds it).
pub(crate) fn timeout_from_env(signal: Signal) -> Option<Duration> {
    let (raw, name) = signal_var(signal, "TIMEOUT")?;
    match raw.trim().parse::<i64>() {
        Ok(ms) if ms >= 0 => Some(Duration::from_millis(ms as u64)),
        _ => {
            diag::warn_once(&format!(
                "{name}: value {raw:?} is not a non-negative number of milliseconds; using {} ms",
                DEFAULT_TIMEOUT.as_millis()
            ));
            None
        }
    }
}

/// `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL`.
pub(crate) fn protocol_from_env(signal: Signal) -> Option<Protocol> {
    let (raw, name) = signal_var(signal, "PROTOCOL")?;
    match raw.trim().to_ascii_lowercase().as_str() {
        "http/protobuf" => Some(Protocol::HttpProtobuf),
        "http/json" => Some(Protocol::HttpJson),
        "grpc" => {
            diag::warn_once(&format!(
                "{name}: grpc is not supported by tracecore-otlp; using http/protobuf \
                 (collectors take it on port 4318)"
            ));
            None
        }
        _ => {
            diag::warn_once(&format!(
                "{name}: unknown protocol {raw:?}; using http/protobuf \
                 (accepted: http/protobuf, http/json)"
            ));
            None
        }
    }
}

/// `OTEL_EXPORTER_OTLP[_TRACES]_COMPRESSION`.
pub(crate) fn compression_from_env(signal: Signal) -> Option<Compression> {
    let (raw, name) = signal_var(signal, "COMPRESSION")?;
    match raw.trim().to_ascii_lowercase().as_str() {
        "gzip" => Some(Compression::Gzip),
        "none" => Some(Compression::None),
        _ => {
            diag::warn_once(&format!(
                "{name}: unknown compression {raw:?}; using none (accepted: gzip, none)"
            ));
            None
        }
    }
}

/// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `cumulative` (the default), `delta`,
/// or `lowmemory` (delta for the synchronous counters and histograms tracecore has, as the
/// specification's table says; up-down counters stay cumulative either way).
pub(crate) fn temporality_from_env() -> Option<Temporality> {
    const NAME: &str = "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE";
    let raw = env::var(NAME)?;
    match raw.trim().to_ascii_lowercase().as_str() {
        "cumulative" => Some(Temporality::Cumulative),
        "delta" | "lowmemory" => Some(Temporality::Delta),
        _ => {
            diag::warn_once(&format!(
                "{NAME}: unknown value {raw:?}; using cumulative (accepted: cumulative, delta, lowmemory)"
            ));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: &str = "TEST_VAR";

    proptest::proptest! {
        #[test]
        fn endpoints_never_panic_and_errors_name_the_variable(url in "[ -~]{0,40}") {
            for result in [base_url(&url, SRC, Signal::Traces), signal_url(&url, SRC)] {
                match result {
                    Ok(full) => proptest::prop_assert!(full.starts_with("http"), "{}", full),
                    Err(e) => proptest::prop_assert_eq!(e.variable(), SRC),
                }
            }
        }

        #[test]
        fn a_base_endpoint_always_ends_in_one_traces_path(
            host in "[a-z][a-z0-9.-]{0,10}",
            port in 1u16..,
            path in "(/[a-z0-9]{1,5}){0,3}/?",
        ) {
            let full = base_url(&format!("http://{host}:{port}{path}"), SRC, Signal::Traces).unwrap();
            proptest::prop_assert!(full.ends_with("/v1/traces"), "{}", full);
            proptest::prop_assert!(!full.ends_with("//v1/traces"), "{}", full);
        }

        #[test]
        fn header_lists_give_valid_headers_or_name_the_variable(raw in "[ -~]{0,60}") {
            match parse_headers(&raw, SRC) {
                Ok(pairs) => {
                    for (k, v) in pairs {
                        proptest::prop_assert!(ureq::http::HeaderName::from_bytes(k.as_bytes()).is_ok());
                        proptest::prop_assert!(ureq::http::HeaderValue::from_str(&v).is_ok());
                    }
                }
                Err(e) => proptest::prop_assert_eq!(e.variable(), SRC),
            }
        }
    }

    #[test]
    fn a_base_endpoint_gets_v1_traces_relative_to_its_path() {
        for (base, url) in [
            ("http://c:4318", "http://c:4318/v1/traces"),
            ("http://c:4318/", "http://c:4318/v1/traces"),
            (
                "http://c:4318/mycollector",
                "http://c:4318/mycollector/v1/traces",
            ),
            (
                "http://c:4318/mycollector/",
                "http://c:4318/mycollector/v1/traces",
            ),
            ("https://c/p?x=1", "https://c/p/v1/traces?x=1"),
        ] {
            if base.starts_with("https") && !cfg!(feature = "rustls") {
                assert!(base_url(base, SRC, Signal::Traces).is_err());
                continue;
            }
            assert_eq!(base_url(base, SRC, Signal::Traces).unwrap(), url, "{base}");
        }
    }

    #[test]
    fn a_traces_endpoint_is_used_as_given_but_an_empty_path_becomes_slash() {
        for (given, url) in [
            ("http://c:4318", "http://c:4318/"),
            ("http://c:4318/", "http://c:4318/"),
            ("http://c:4318/v1/traces", "http://c:4318/v1/traces"),
            ("http://c:4318/custom/path", "http://c:4318/custom/path"),
            ("http://c:4318?x=1", "http://c:4318/?x=1"),
        ] {
            assert_eq!(signal_url(given, SRC).unwrap(), url, "{given}");
        }
    }

    #[test]
    fn bad_endpoints_name_the_variable_and_the_problem() {
        for (url, says) in [
            ("localhost:4318", "scheme"),
            ("ftp://c/", "scheme \"ftp\""),
            ("http://", "not a URL"),
            ("not a url", "not a URL"),
        ] {
            let e = base_url(url, "OTEL_EXPORTER_OTLP_ENDPOINT", Signal::Traces).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with("OTEL_EXPORTER_OTLP_ENDPOINT: "), "{text}");
            assert!(text.contains(says), "{url}: {text}");
        }
    }

    #[test]
    fn headers_are_percent_decoded_and_trimmed() {
        let parsed =
            parse_headers(" api-key = secret%20value ,, x-tenant=a%2Cb,empty=", SRC).unwrap();
        assert_eq!(
            parsed,
            [
                ("api-key".to_owned(), "secret value".to_owned()),
                ("x-tenant".to_owned(), "a,b".to_owned()),
                ("empty".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn bad_headers_are_errors_that_say_what_is_wrong() {
        for (raw, says) in [
            ("novalue", "has no `=`"),
            ("bad key=v", "not a valid header name"),
            ("k=%zz", "is not valid percent-encoded UTF-8"),
            ("k=%0a", "not a valid header value"),
            ("k=%ff", "is not valid percent-encoded UTF-8"),
        ] {
            let e = parse_headers(raw, "OTEL_EXPORTER_OTLP_HEADERS").unwrap_err();
            assert_eq!(e.variable(), "OTEL_EXPORTER_OTLP_HEADERS");
            assert!(e.to_string().contains(says), "{raw}: {e}");
        }
    }
}
