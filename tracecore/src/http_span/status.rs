//! The one rule from an HTTP outcome to a span's status and `error.type`
//! ([semconv, status](https://opentelemetry.io/docs/specs/semconv/http/http-spans/#status)).

use std::error::Error;
use std::fmt;
use std::io;

use http::StatusCode;

use super::side::Side;
use crate::trace::{SpanRef, Status};
use crate::{KeyValue, semconv};

impl Side {
    /// The `error.type` for a response with `status`, or `None` when the response is not an
    /// error (the status stays Unset: instrumentation never sets Ok).
    ///
    /// ```
    /// use http::StatusCode;
    /// use tracecore::http_span::Side;
    ///
    /// assert_eq!(Side::Server.error_type(StatusCode::NOT_FOUND), None);
    /// assert_eq!(Side::Client.error_type(StatusCode::NOT_FOUND), Some("404"));
    /// assert_eq!(Side::Server.error_type(StatusCode::BAD_GATEWAY), Some("502"));
    /// assert_eq!(Side::Client.error_type(StatusCode::OK), None);
    /// ```
    pub fn error_type(self, status: StatusCode) -> Option<&'static str> {
        let code = status.as_u16();
        let error = match self {
            Self::Server => code >= 500,
            Self::Client => code >= 400,
        };
        error.then(|| status_code_str(code))
    }

    /// Records `http.response.status_code` and, when the response is an error, `error.type` and
    /// status Error (with no description: the status code says it all).
    pub fn record_response(self, span: &SpanRef<'_>, status: StatusCode) {
        if !span.is_recording() {
            return;
        }
        let code = KeyValue::new(
            semconv::HTTP_RESPONSE_STATUS_CODE,
            i64::from(status.as_u16()),
        );
        match self.error_type(status) {
            Some(error_type) => {
                span.set_attributes([code, KeyValue::new(semconv::ERROR_TYPE, error_type)]);
                span.set_status(Status::error(""));
            }
            None => span.set_attribute(code),
        }
    }
}

/// The three digits of a status code (100 to 999), with no allocation.
const CODE_DIGITS: &str = match std::str::from_utf8(&code_digits()) {
    Ok(s) => s,
    Err(_) => panic!("status code digits are ASCII"),
};

const fn code_digits() -> [u8; 2700] {
    let mut out = [0u8; 2700];
    let mut i = 0;
    while i < 900 {
        let n = i + 100;
        out[i * 3] = b'0' + (n / 100) as u8;
        out[i * 3 + 1] = b'0' + (n / 10 % 10) as u8;
        out[i * 3 + 2] = b'0' + (n % 10) as u8;
        i += 1;
    }
    out
}

/// `code` as a `'static` string; `http::StatusCode` guarantees 100 to 999.
fn status_code_str(code: u16) -> &'static str {
    let at = usize::from(code.clamp(100, 999) - 100) * 3;
    &CODE_DIGITS[at..at + 3]
}

/// Why a request failed without a response: the low-cardinality `error.type` of a transport
/// failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FailureKind {
    /// The connection could not be made or was lost (refused, reset, DNS, TLS).
    Connect,
    /// A timeout elapsed.
    Timeout,
    /// Too many redirects.
    Redirect,
    /// The request or response body failed.
    Body,
    /// The response could not be decoded.
    Decode,
    /// The request could not be built or sent.
    Request,
    /// Anything else.
    Other,
}

impl FailureKind {
    /// The `error.type` value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Connect => "connection_error",
            Self::Timeout => "timeout",
            Self::Redirect => "too_many_redirects",
            Self::Body => "body_error",
            Self::Decode => "decode_error",
            Self::Request => "request_error",
            Self::Other => "_OTHER",
        }
    }

    /// Classifies an error by the `io::Error` kinds in its source chain (what hyper and most
    /// HTTP clients wrap); `Other` when nothing tells.
    ///
    /// ```
    /// use std::io;
    /// use tracecore::http_span::FailureKind;
    ///
    /// let refused = io::Error::from(io::ErrorKind::ConnectionRefused);
    /// assert_eq!(FailureKind::classify(&refused), FailureKind::Connect);
    /// ```
    pub fn classify(error: &(dyn Error + 'static)) -> Self {
        let mut next = Some(error);
        while let Some(e) = next {
            if let Some(io) = e.downcast_ref::<io::Error>() {
                return match io.kind() {
                    io::ErrorKind::TimedOut => Self::Timeout,
                    io::ErrorKind::ConnectionRefused
                    | io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::NotConnected
                    | io::ErrorKind::AddrNotAvailable
                    | io::ErrorKind::BrokenPipe
                    | io::ErrorKind::HostUnreachable
                    | io::ErrorKind::NetworkUnreachable => Self::Connect,
                    io::ErrorKind::UnexpectedEof => Self::Body,
                    _ => Self::Other,
                };
            }
            next = e.source();
        }
        Self::Other
    }

    /// Records the failure on `span`: status Error with the error's message, `error.type`, and
    /// an `exception` event.
    pub fn record<E: Error + ?Sized>(self, span: &SpanRef<'_>, error: &E) {
        if !span.is_recording() {
            return;
        }
        span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, self.as_str()));
        span.record_error(error);
        span.set_status(Status::error(error.to_string()));
    }
}

/// Records a failure known only by its types and message (a tower error need not implement
/// `std::error::Error`): status Error with the message, `error.type`, and an `exception` event.
pub fn record_failure(
    span: &SpanRef<'_>,
    error_type: &'static str,
    exception_type: &'static str,
    error: &dyn fmt::Display,
) {
    if !span.is_recording() {
        return;
    }
    let message = error.to_string();
    span.set_attribute(KeyValue::new(semconv::ERROR_TYPE, error_type));
    span.add_event(
        "exception",
        vec![
            KeyValue::new(semconv::EXCEPTION_TYPE, exception_type),
            KeyValue::new(semconv::EXCEPTION_MESSAGE, message.clone()),
        ],
    );
    span.set_status(Status::error(message));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_table() {
        // (code, server error.type, client error.type)
        let rows = [
            (100, None, None),
            (200, None, None),
            (204, None, None),
            (301, None, None),
            (399, None, None),
            (400, None, Some("400")),
            (404, None, Some("404")),
            (499, None, Some("499")),
            (500, Some("500"), Some("500")),
            (503, Some("503"), Some("503")),
            (599, Some("599"), Some("599")),
            (600, Some("600"), Some("600")),
            (999, Some("999"), Some("999")),
        ];
        for (code, server, client) in rows {
            let status = StatusCode::from_u16(code).unwrap();
            assert_eq!(Side::Server.error_type(status), server, "server {code}");
            assert_eq!(Side::Client.error_type(status), client, "client {code}");
        }
    }

    #[test]
    fn every_code_has_its_digits() {
        for code in 100..=999u16 {
            assert_eq!(status_code_str(code), code.to_string());
        }
    }

    #[test]
    fn classify_walks_the_source_chain() {
        #[derive(Debug)]
        struct Wrapper(io::Error);
        impl std::fmt::Display for Wrapper {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("request failed")
            }
        }
        impl Error for Wrapper {
            fn source(&self) -> Option<&(dyn Error + 'static)> {
                Some(&self.0)
            }
        }
        let timed_out = Wrapper(io::Error::from(io::ErrorKind::TimedOut));
        assert_eq!(FailureKind::classify(&timed_out), FailureKind::Timeout);
        let other = Wrapper(io::Error::other("x"));
        assert_eq!(FailureKind::classify(&other), FailureKind::Other);
        assert_eq!(FailureKind::classify(&std::fmt::Error), FailureKind::Other);
    }
}
