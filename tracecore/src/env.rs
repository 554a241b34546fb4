//! Reading `OTEL_*` variables as the OpenTelemetry SDK configuration says: an empty value is the
//! same as unset, a value that is not UTF-8 or does not parse is warned about once, naming the
//! variable, and ignored. Companion crates (`tracecore-otlp`) read their variables with these.
//!
//! ```
//! // Unset (and empty) variables read as `None`.
//! assert_eq!(tracecore::integration::env::var("TRACECORE_DOC_SURELY_UNSET"), None);
//! assert!(!tracecore::integration::env::bool_var("TRACECORE_DOC_SURELY_UNSET"));
//! ```

use crate::diag;

/// The value of `name`, or `None` when unset, empty, or not UTF-8 (warned once).
pub fn var(name: &str) -> Option<String> {
    match std::env::var(name) {
        Ok(v) if v.trim().is_empty() => None,
        Ok(v) => Some(v),
        Err(std::env::VarError::NotPresent) => None,
        Err(std::env::VarError::NotUnicode(raw)) => {
            diag::warn_once(&format!(
                "{name}: value {raw:?} is not valid UTF-8; using the default"
            ));
            None
        }
    }
}

/// A non-negative integer variable; a malformed value is warned about once and ignored.
pub fn usize_var(name: &str) -> Option<usize> {
    let raw = var(name)?;
    match raw.trim().parse::<usize>() {
        Ok(v) => Some(v),
        Err(_) => {
            diag::warn_once(&format!(
                "{name}: value {raw:?} is not a non-negative integer; using the default"
            ));
            None
        }
    }
}

/// A duration in milliseconds; a malformed or negative value is warned about once and ignored.
pub fn millis_var(name: &str) -> Option<std::time::Duration> {
    let raw = var(name)?;
    match raw.trim().parse::<u64>() {
        Ok(ms) => Some(std::time::Duration::from_millis(ms)),
        Err(_) => {
            diag::warn_once(&format!(
                "{name}: value {raw:?} is not a whole number of milliseconds; using the default"
            ));
            None
        }
    }
}

/// A boolean: only case-insensitive `true` is true; anything else but `false` is warned about.
pub fn bool_var(name: &str) -> bool {
    match var(name) {
        None => false,
        Some(v) if v.trim().eq_ignore_ascii_case("true") => true,
        Some(v) if v.trim().eq_ignore_ascii_case("false") => false,
        Some(v) => {
            diag::warn_once(&format!(
                "{name}: value {v:?} is not true or false; using false"
            ));
            false
        }
    }
}

/// The names in a comma-separated list variable (`OTEL_PROPAGATORS`, `OTEL_TRACES_EXPORTER`):
/// trimmed, lower-cased, empty entries skipped, duplicates dropped, in the order given.
///
/// ```
/// assert_eq!(tracecore::integration::env::names(" B3, tracecontext,,b3 "), ["b3", "tracecontext"]);
/// ```
pub fn names(value: &str) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in value.split(',').map(|n| n.trim().to_ascii_lowercase()) {
        if !name.is_empty() && !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// A `key=value,key=value` variable in the W3C baggage format (`OTEL_RESOURCE_ATTRIBUTES`,
/// `OTEL_EXPORTER_OTLP_HEADERS`): keys and values percent-decoded and trimmed, empty members
/// skipped. The error says which member is wrong and how.
///
/// ```
/// let pairs = tracecore::integration::env::key_values(" team = a%2Cb ,, tier=1").unwrap();
/// assert_eq!(pairs, [("team".to_owned(), "a,b".to_owned()), ("tier".to_owned(), "1".to_owned())]);
/// assert_eq!(tracecore::integration::env::key_values("broken").unwrap_err(), "member \"broken\" has no `=`");
/// ```
pub fn key_values(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for member in raw.split(',') {
        let member = member.trim();
        if member.is_empty() {
            continue;
        }
        let (k, v) = member
            .split_once('=')
            .ok_or_else(|| format!("member {member:?} has no `=`"))?;
        let decode = |s: &str| {
            crate::text::percent_decode(s.trim().as_bytes())
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or_else(|| format!("member {member:?} is not valid percent-encoded UTF-8"))
        };
        let key = decode(k)?;
        if key.is_empty() {
            return Err(format!("member {member:?} has an empty key"));
        }
        out.push((key, decode(v)?));
    }
    Ok(out)
}
