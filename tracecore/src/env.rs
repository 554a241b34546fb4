//! Reading `OTEL_*` variables: an empty value is the same as unset (OpenTelemetry SDK
//! configuration, "Parsing empty value"); a value that is not UTF-8 is warned about and ignored.

use crate::diag;

/// The value of `name`, or `None` when unset, empty, or not UTF-8 (warned once).
pub(crate) fn var(name: &str) -> Option<String> {
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
