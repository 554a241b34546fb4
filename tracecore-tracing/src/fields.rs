//! `tracing` field values as tracecore attributes, and the special `otel.*` fields.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use tracecore::trace::{SpanKind, Status};
use tracecore::{Key, KeyValue, Value, diag};
use tracing_core::field::{Field, Visit};

/// The field that names a span (replaces the `tracing` span's own name).
pub(crate) const OTEL_NAME: &str = "otel.name";
/// The field that sets a span's kind.
pub(crate) const OTEL_KIND: &str = "otel.kind";
/// The field that sets a span's status code.
pub(crate) const OTEL_STATUS_CODE: &str = "otel.status_code";
/// The field that sets a span's status description.
pub(crate) const OTEL_STATUS_DESCRIPTION: &str = "otel.status_description";

/// The conversions every field goes through: integers stay integers where they fit, floats and
/// booleans keep their type, everything else is its text.
pub(crate) fn i128_value(value: i128) -> Value {
    i64::try_from(value).map_or_else(|_| Value::from(value.to_string()), Value::I64)
}

/// The message of an error followed by its sources, `outer: inner: root`.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(message, ": {cause}");
        source = cause.source();
    }
    message
}

/// Everything a span's fields say: its attributes and what the special fields set.
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) name: Option<String>,
    pub(crate) kind: Option<SpanKind>,
    status_code: Option<StatusCode>,
    status_description: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusCode {
    Unset,
    Ok,
    Error,
}

impl SpanFields {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            attributes: tracecore::integration::attribute_list(n),
            ..Self::default()
        }
    }

    /// The status the special fields ask for: `otel.status_code`, with
    /// `otel.status_description` as an error's description. A description alone sets nothing.
    pub(crate) fn status(&mut self) -> Option<Status> {
        match self.status_code? {
            StatusCode::Unset => None,
            StatusCode::Ok => Some(Status::Ok),
            StatusCode::Error => Some(Status::error(
                self.status_description.take().unwrap_or_default(),
            )),
        }
    }

    fn special(&mut self, field: &Field, text: impl FnOnce() -> String) -> bool {
        match field.name() {
            OTEL_NAME => self.name = Some(text()),
            OTEL_KIND => {
                let text = text();
                self.kind = parse_kind(&text);
                if self.kind.is_none() {
                    diag::warn_once(&format!(
                        "tracecore-tracing: {OTEL_KIND} = {text:?} is not one of server, client, \
                         producer, consumer, internal; ignored"
                    ));
                }
            }
            OTEL_STATUS_CODE => {
                let text = text();
                self.status_code = parse_status_code(&text);
                if self.status_code.is_none() {
                    diag::warn_once(&format!(
                        "tracecore-tracing: {OTEL_STATUS_CODE} = {text:?} is not one of ok, \
                         error, unset; ignored"
                    ));
                }
            }
            OTEL_STATUS_DESCRIPTION => self.status_description = Some(text()),
            _ => return false,
        }
        true
    }

    fn push(&mut self, field: &Field, value: Value) {
        self.attributes
            .push(KeyValue::new(Key::from_static(field.name()), value));
    }
}

fn parse_kind(text: &str) -> Option<SpanKind> {
    const KINDS: [(&str, SpanKind); 5] = [
        ("server", SpanKind::Server),
        ("client", SpanKind::Client),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ];
    KINDS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(text))
        .map(|&(_, kind)| kind)
}

fn parse_status_code(text: &str) -> Option<StatusCode> {
    [
        ("ok", StatusCode::Ok),
        ("error", StatusCode::Error),
        ("unset", StatusCode::Unset),
    ]
    .iter()
    .find(|(name, _)| name.eq_ignore_ascii_case(text))
    .map(|&(_, code)| code)
}

/// The text of a value recorded with `?value` or `%value` (a `Display` value's `Debug` is its
/// `Display`).
fn debug_text(value: &dyn fmt::Debug) -> String {
    let mut text = String::new();
    let _ = write!(text, "{value:?}");
    text
}

impl Visit for SpanFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        if !self.special(field, || value.to_string()) {
            self.push(field, Value::F64(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        if !self.special(field, || value.to_string()) {
            self.push(field, Value::I64(value));
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if !self.special(field, || value.to_string()) {
            self.push(field, i128_value(i128::from(value)));
        }
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        if !self.special(field, || value.to_string()) {
            self.push(field, i128_value(value));
        }
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        if !self.special(field, || value.to_string()) {
            let value =
                i128::try_from(value).map_or_else(|_| Value::from(value.to_string()), i128_value);
            self.push(field, value);
        }
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        if !self.special(field, || value.to_string()) {
            self.push(field, Value::Bool(value));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if !self.special(field, || value.to_owned()) {
            self.push(field, Value::String(Cow::Owned(value.to_owned())));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if !self.special(field, || value.to_string()) {
            self.push(field, Value::from(error_chain(value)));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.special(field, || debug_text(value)) {
            self.push(field, Value::from(debug_text(value)));
        }
    }
}

/// An event's fields: its message (the span event's name), an `error` field, and the rest as
/// attributes.
#[derive(Debug)]
pub(crate) struct EventFields {
    pub(crate) message: Option<String>,
    pub(crate) error: Option<String>,
    pub(crate) attributes: Vec<KeyValue>,
}

/// The field `tracing`'s macros put an event's message in.
const MESSAGE: &str = "message";
/// The field whose `dyn Error` value makes an event an `exception` event.
const ERROR: &str = "error";

impl EventFields {
    pub(crate) fn with_capacity(n: usize) -> Self {
        Self {
            message: None,
            error: None,
            attributes: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, field: &Field, value: Value) {
        self.attributes
            .push(KeyValue::new(Key::from_static(field.name()), value));
    }
}

impl Visit for EventFields {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.push(field, Value::F64(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.push(field, Value::I64(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.push(field, i128_value(i128::from(value)));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.push(field, i128_value(value));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        let value =
            i128::try_from(value).map_or_else(|_| Value::from(value.to_string()), i128_value);
        self.push(field, value);
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.push(field, Value::Bool(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == MESSAGE {
            self.message = Some(value.to_owned());
        } else {
            self.push(field, Value::String(Cow::Owned(value.to_owned())));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        if field.name() == ERROR {
            self.error = Some(error_chain(value));
        } else {
            self.push(field, Value::from(error_chain(value)));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == MESSAGE {
            self.message = Some(debug_text(value));
        } else {
            self.push(field, Value::from(debug_text(value)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_status_codes_parse_case_insensitively() {
        assert_eq!(parse_kind("SERVER"), Some(SpanKind::Server));
        assert_eq!(parse_kind("consumer"), Some(SpanKind::Consumer));
        assert_eq!(parse_kind("srv"), None);
        assert_eq!(parse_status_code("Error"), Some(StatusCode::Error));
        assert_eq!(parse_status_code("OK"), Some(StatusCode::Ok));
        assert_eq!(parse_status_code("failed"), None);
    }

    #[test]
    fn integers_stay_integers_where_they_fit() {
        assert_eq!(i128_value(-5), Value::I64(-5));
        assert_eq!(
            i128_value(i128::from(u64::MAX)),
            Value::from(u64::MAX.to_string())
        );
    }

    #[test]
    fn error_chains_read_outer_to_root() {
        #[derive(Debug)]
        struct Outer(std::io::Error);
        impl fmt::Display for Outer {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("loading the item failed")
            }
        }
        impl std::error::Error for Outer {
            fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
                Some(&self.0)
            }
        }
        let error = Outer(std::io::Error::other("disk full"));
        assert_eq!(error_chain(&error), "loading the item failed: disk full");
    }
}
