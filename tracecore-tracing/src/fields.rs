//! `tracing` field values as tracecore attributes, and the special `otel.*` fields.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use tracecore::trace::{SpanKind, Status};
use tracecore::{Array, Key, KeyValue, Value, diag, semconv};
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

/// Everything a span's fields say: its attributes and what the special fields set.
#[derive(Debug, Default)]
pub(crate) struct SpanFields {
    pub(crate) attributes: Vec<KeyValue>,
    pub(crate) name: Option<String>,
    pub(crate) kind: Option<SpanKind>,
    /// The status the special fields set, the last one recorded winning (as in
    /// tracing-opentelemetry): `otel.status_code` (`error` is an error without description),
    /// or `otel.status_description` (an error with that description).
    status: Option<Status>,
    /// Whether a `dyn Error` field also gives `exception.message` and `exception.stacktrace`.
    fields_to_exceptions: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusCode {
    Unset,
    Ok,
    Error,
}

impl SpanFields {
    pub(crate) fn with_capacity(n: usize, fields_to_exceptions: bool) -> Self {
        Self {
            attributes: tracecore::integration::attribute_list(n),
            fields_to_exceptions,
            ..Self::default()
        }
    }

    /// The status the special fields ask for, if any.
    pub(crate) fn status(&mut self) -> Option<Status> {
        self.status.take()
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
                match parse_status_code(&text) {
                    Some(StatusCode::Ok) => self.status = Some(Status::Ok),
                    Some(StatusCode::Error) => self.status = Some(Status::error("")),
                    Some(StatusCode::Unset) => self.status = None,
                    None => diag::warn_once(&format!(
                        "tracecore-tracing: {OTEL_STATUS_CODE} = {text:?} is not one of ok, \
                         error, unset; ignored"
                    )),
                }
            }
            OTEL_STATUS_DESCRIPTION => self.status = Some(Status::error(text())),
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
/// `Display`), written into a recycled string.
fn debug_text(value: &dyn fmt::Debug) -> String {
    let mut text = tracecore::integration::attribute_string("");
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
            let error = ErrorValue::of(value);
            if self.fields_to_exceptions {
                self.attributes.extend(error.exception());
            }
            self.attributes.extend(error.fields(field));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.special(field, || debug_text(value)) {
            self.push(field, Value::from(debug_text(value)));
        }
    }
}

/// A `dyn Error` value as tracing-opentelemetry records it: its message, and the messages of
/// its sources, outermost first (what it calls the chain, and `exception.stacktrace`).
#[derive(Debug, Clone)]
pub(crate) struct ErrorValue {
    pub(crate) message: String,
    pub(crate) chain: Vec<Cow<'static, str>>,
}

impl ErrorValue {
    pub(crate) fn of(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut chain = Vec::new();
        let mut source = error.source();
        while let Some(cause) = source {
            chain.push(Cow::Owned(cause.to_string()));
            source = cause.source();
        }
        Self {
            message: error.to_string(),
            chain,
        }
    }

    /// `exception.message` and `exception.stacktrace` (the chain).
    pub(crate) fn exception(&self) -> [KeyValue; 2] {
        [
            KeyValue::new(semconv::EXCEPTION_MESSAGE, self.message.clone()),
            KeyValue::new(
                EXCEPTION_STACKTRACE,
                Value::Array(Array::String(self.chain.clone())),
            ),
        ]
    }

    /// `<field>` (the message) and `<field>.chain`.
    fn fields(self, field: &Field) -> [KeyValue; 2] {
        [
            KeyValue::new(Key::from_static(field.name()), self.message),
            KeyValue::new(
                format!("{}.chain", field.name()),
                Value::Array(Array::String(self.chain)),
            ),
        ]
    }
}

/// Where tracing-opentelemetry puts an error's source chain.
const EXCEPTION_STACKTRACE: &str = "exception.stacktrace";

/// An event's fields: its message (the span event's name), an `error` given as text, a
/// `dyn Error` value, and the rest as attributes.
#[derive(Debug)]
pub(crate) struct EventFields {
    pub(crate) message: Option<String>,
    /// An `error` field recorded as text before any message (the event `#[instrument(err)]`
    /// emits): its `Debug` text, as tracing-opentelemetry takes it.
    pub(crate) error_text: Option<String>,
    /// The last `dyn Error` value, for the span's exception attributes.
    pub(crate) error: Option<ErrorValue>,
    pub(crate) attributes: Vec<KeyValue>,
    fields_to_exceptions: bool,
}

/// The field `tracing`'s macros put an event's message in.
const MESSAGE: &str = "message";
/// The field whose text, on an event without a message, makes it an `exception` event.
const ERROR: &str = "error";

impl EventFields {
    pub(crate) fn with_capacity(n: usize, fields_to_exceptions: bool) -> Self {
        Self {
            message: None,
            error_text: None,
            error: None,
            attributes: tracecore::integration::attribute_list(n),
            fields_to_exceptions,
        }
    }

    fn push(&mut self, field: &Field, value: Value) {
        self.attributes
            .push(KeyValue::new(Key::from_static(field.name()), value));
    }

    /// An `error` field as text counts only before a message is recorded.
    fn error_as_text(&mut self, field: &Field, text: impl FnOnce() -> String) -> bool {
        if field.name() == ERROR && self.message.is_none() {
            self.error_text = Some(text());
            return true;
        }
        false
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
            self.message = Some(tracecore::integration::attribute_string(value));
        } else if !self.error_as_text(field, || format!("{value:?}")) {
            let text = tracecore::integration::attribute_string(value);
            self.push(field, Value::String(Cow::Owned(text)));
        }
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let error = ErrorValue::of(value);
        if self.fields_to_exceptions {
            self.attributes.extend(error.exception());
        }
        self.error = Some(error.clone());
        self.attributes.extend(error.fields(field));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == MESSAGE {
            self.message = Some(debug_text(value));
        } else if !self.error_as_text(field, || debug_text(value)) {
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
    fn error_values_read_their_chain_outer_to_root() {
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
        let value = ErrorValue::of(&error);
        assert_eq!(value.message, "loading the item failed");
        assert_eq!(value.chain, ["disk full"]);
    }
}
