//! [`GrpcCode`]: the status a gRPC call ends with, and which codes make a span an error.

use std::fmt;
use std::str::FromStr;

use http::StatusCode;

use crate::http_span::side::Side;

/// A gRPC status code ([gRPC status codes](https://grpc.github.io/grpc/core/md_doc_statuscodes.html)).
///
/// ```
/// use tracecore::http_span::Side;
/// use tracecore::rpc::GrpcCode;
///
/// let code = GrpcCode::from_header(b"5");
/// assert_eq!(code, GrpcCode::NotFound);
/// assert_eq!(code.name(), "NOT_FOUND");
/// assert!(!code.is_error(Side::Server), "the caller's problem, as HTTP 404 is");
/// assert!(code.is_error(Side::Client));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrpcCode {
    /// 0: not an error.
    Ok = 0,
    /// 1: cancelled, typically by the caller.
    Cancelled = 1,
    /// 2: an unknown error (also what a malformed or out-of-range status becomes).
    Unknown = 2,
    /// 3: the client gave an invalid argument.
    InvalidArgument = 3,
    /// 4: the deadline expired before the operation could complete.
    DeadlineExceeded = 4,
    /// 5: something requested was not found.
    NotFound = 5,
    /// 6: something the client tried to create already exists.
    AlreadyExists = 6,
    /// 7: the caller may not do this.
    PermissionDenied = 7,
    /// 8: some resource has been exhausted (a quota, space).
    ResourceExhausted = 8,
    /// 9: the system is not in a state the operation requires.
    FailedPrecondition = 9,
    /// 10: aborted, typically by a concurrency conflict.
    Aborted = 10,
    /// 11: past the valid range.
    OutOfRange = 11,
    /// 12: not implemented or not supported (an unknown method).
    Unimplemented = 12,
    /// 13: an internal error.
    Internal = 13,
    /// 14: the service is unavailable for now.
    Unavailable = 14,
    /// 15: unrecoverable data loss or corruption.
    DataLoss = 15,
    /// 16: the request has no valid credentials.
    Unauthenticated = 16,
}

impl GrpcCode {
    /// Every code, in numeric order.
    pub const ALL: [Self; 17] = [
        Self::Ok,
        Self::Cancelled,
        Self::Unknown,
        Self::InvalidArgument,
        Self::DeadlineExceeded,
        Self::NotFound,
        Self::AlreadyExists,
        Self::PermissionDenied,
        Self::ResourceExhausted,
        Self::FailedPrecondition,
        Self::Aborted,
        Self::OutOfRange,
        Self::Unimplemented,
        Self::Internal,
        Self::Unavailable,
        Self::DataLoss,
        Self::Unauthenticated,
    ];

    /// The code numbered `n`; numbers past 16 are [`Unknown`](Self::Unknown), as gRPC
    /// implementations read them.
    pub const fn from_u32(n: u32) -> Self {
        if n < Self::ALL.len() as u32 {
            Self::ALL[n as usize]
        } else {
            Self::Unknown
        }
    }

    /// The code a `grpc-status` header or trailer value names: decimal digits. A malformed
    /// value is [`Unknown`](Self::Unknown) (the call's outcome is not known), never a failure.
    pub fn from_header(value: &[u8]) -> Self {
        let digits = !value.is_empty() && value.len() <= 3 && value.iter().all(u8::is_ascii_digit);
        if !digits {
            return Self::Unknown;
        }
        let n = value.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
        Self::from_u32(n)
    }

    /// The code a response without `grpc-status` stands for, by its HTTP status (the gRPC
    /// HTTP-to-gRPC mapping): 400 INTERNAL, 401 UNAUTHENTICATED, 403 PERMISSION_DENIED,
    /// 404 UNIMPLEMENTED, 429, 502, 503 and 504 UNAVAILABLE, anything else (200 included)
    /// UNKNOWN.
    pub fn from_http_status(status: StatusCode) -> Self {
        match status.as_u16() {
            400 => Self::Internal,
            401 => Self::Unauthenticated,
            403 => Self::PermissionDenied,
            404 => Self::Unimplemented,
            429 | 502 | 503 | 504 => Self::Unavailable,
            _ => Self::Unknown,
        }
    }

    /// The number on the wire.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }

    /// The name: `OK`, `NOT_FOUND`, ... (the value of `rpc.response.status_code` and, for an
    /// error, of `error.type`).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::Cancelled => "CANCELLED",
            Self::Unknown => "UNKNOWN",
            Self::InvalidArgument => "INVALID_ARGUMENT",
            Self::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Self::NotFound => "NOT_FOUND",
            Self::AlreadyExists => "ALREADY_EXISTS",
            Self::PermissionDenied => "PERMISSION_DENIED",
            Self::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Self::FailedPrecondition => "FAILED_PRECONDITION",
            Self::Aborted => "ABORTED",
            Self::OutOfRange => "OUT_OF_RANGE",
            Self::Unimplemented => "UNIMPLEMENTED",
            Self::Internal => "INTERNAL",
            Self::Unavailable => "UNAVAILABLE",
            Self::DataLoss => "DATA_LOSS",
            Self::Unauthenticated => "UNAUTHENTICATED",
        }
    }

    /// Whether a call that ended with this code makes `side`'s span an error: for a client every
    /// code but OK; for a server only the six that say the server failed (UNKNOWN,
    /// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS), the others being the
    /// caller's problem as HTTP 4xx is
    /// ([semconv gRPC status](https://opentelemetry.io/docs/specs/semconv/rpc/grpc/#grpc-status)).
    pub const fn is_error(self, side: Side) -> bool {
        match side {
            Side::Client => !matches!(self, Self::Ok),
            Side::Server => matches!(
                self,
                Self::Unknown
                    | Self::DeadlineExceeded
                    | Self::Unimplemented
                    | Self::Internal
                    | Self::Unavailable
                    | Self::DataLoss
            ),
        }
    }
}

impl fmt::Display for GrpcCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a gRPC status code's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseGrpcCodeError(());

impl fmt::Display for ParseGrpcCodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a gRPC status code name")
    }
}

impl std::error::Error for ParseGrpcCodeError {}

impl FromStr for GrpcCode {
    type Err = ParseGrpcCodeError;

    /// The code named `s` exactly (`NOT_FOUND`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|code| code.name() == s)
            .ok_or(ParseGrpcCodeError(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_names_and_parsing_agree() {
        for (n, code) in GrpcCode::ALL.into_iter().enumerate() {
            assert_eq!(code.as_u32() as usize, n);
            assert_eq!(GrpcCode::from_u32(n as u32), code);
            assert_eq!(GrpcCode::from_header(n.to_string().as_bytes()), code);
            assert_eq!(code.name().parse::<GrpcCode>(), Ok(code));
            assert_eq!(code.to_string(), code.name());
        }
        assert_eq!(GrpcCode::NotFound.name(), "NOT_FOUND");
        assert!("not_found".parse::<GrpcCode>().is_err(), "names are exact");
    }

    #[test]
    fn malformed_or_unknown_statuses_are_unknown() {
        for (value, why) in [
            (&b""[..], "empty"),
            (b"17", "past the last code"),
            (b"999", "past the last code"),
            (b"1000", "too long"),
            (b"-1", "a sign"),
            (b" 5", "a space"),
            (b"5x", "not a number"),
        ] {
            assert_eq!(GrpcCode::from_header(value), GrpcCode::Unknown, "{why}");
        }
        assert_eq!(GrpcCode::from_header(b"05"), GrpcCode::NotFound);
    }

    #[test]
    fn http_statuses_map_as_the_grpc_spec_says() {
        for (status, code) in [
            (400, GrpcCode::Internal),
            (401, GrpcCode::Unauthenticated),
            (403, GrpcCode::PermissionDenied),
            (404, GrpcCode::Unimplemented),
            (429, GrpcCode::Unavailable),
            (502, GrpcCode::Unavailable),
            (503, GrpcCode::Unavailable),
            (504, GrpcCode::Unavailable),
            (200, GrpcCode::Unknown),
            (500, GrpcCode::Unknown),
            (418, GrpcCode::Unknown),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(GrpcCode::from_http_status(status), code, "{status}");
        }
    }

    #[test]
    fn servers_err_on_six_codes_and_clients_on_all_but_ok() {
        let server: Vec<_> = GrpcCode::ALL
            .into_iter()
            .filter(|c| c.is_error(Side::Server))
            .map(GrpcCode::name)
            .collect();
        assert_eq!(
            server,
            [
                "UNKNOWN",
                "DEADLINE_EXCEEDED",
                "UNIMPLEMENTED",
                "INTERNAL",
                "UNAVAILABLE",
                "DATA_LOSS"
            ]
        );
        for code in GrpcCode::ALL {
            assert_eq!(code.is_error(Side::Client), code != GrpcCode::Ok, "{code}");
        }
    }
}
