//! Trace and span identifiers ([W3C Trace Context §3.2.2.3–4]).
//!
//! ```
//! use tracecore::{SpanId, TraceId};
//!
//! let trace_id: TraceId = "4bf92f3577b34da6a3ce929d0e0e4736".parse().unwrap();
//! assert_eq!(trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! assert!("00000000000000000000000000000000".parse::<TraceId>().is_err());
//! assert!(SpanId::from_bytes([0; 8]).is_none());
//! ```
//!
//! [W3C Trace Context §3.2.2.3–4]: https://www.w3.org/TR/trace-context-2/#trace-id

use std::fmt;
use std::num::{NonZeroU64, NonZeroU128};
use std::str::FromStr;

use crate::hex;

/// A 16-byte trace id. All-zero is invalid on the wire, so it cannot be represented.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TraceId(NonZeroU128);

/// An 8-byte span id. All-zero is invalid on the wire, so it cannot be represented.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpanId(NonZeroU64);

impl TraceId {
    /// The id with these big-endian bytes, or `None` for all zeros.
    pub const fn from_bytes(bytes: [u8; 16]) -> Option<Self> {
        Self::from_u128(u128::from_be_bytes(bytes))
    }

    /// The id with this numeric value, or `None` for zero.
    pub const fn from_u128(value: u128) -> Option<Self> {
        match NonZeroU128::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The big-endian bytes, as they travel in OTLP.
    pub const fn to_bytes(self) -> [u8; 16] {
        self.0.get().to_be_bytes()
    }

    /// The numeric value.
    pub const fn to_u128(self) -> u128 {
        self.0.get()
    }

    /// The right-most 8 bytes, as a 64-bit system keeps it (W3C Trace Context §7.3).
    pub const fn low_u64(self) -> u64 {
        self.0.get() as u64
    }

    /// Writes the 32 lowercase hex digits into `out`.
    pub fn encode_hex(self, out: &mut [u8; 32]) {
        hex::encode_into(self.0.get(), out);
    }

    /// Parses exactly 32 lowercase hex digits that are not all zero.
    pub fn from_hex(src: &[u8]) -> Result<Self, ParseIdError> {
        if src.len() != 32 {
            return Err(ParseIdError::new(IdErrorKind::Length, 32));
        }
        let value = hex::decode_u128(src).ok_or(ParseIdError::new(IdErrorKind::Digit, 32))?;
        Self::from_u128(value).ok_or(ParseIdError::new(IdErrorKind::Zero, 32))
    }
}

impl SpanId {
    /// The id with these big-endian bytes, or `None` for all zeros.
    pub const fn from_bytes(bytes: [u8; 8]) -> Option<Self> {
        Self::from_u64(u64::from_be_bytes(bytes))
    }

    /// The id with this numeric value, or `None` for zero.
    pub const fn from_u64(value: u64) -> Option<Self> {
        match NonZeroU64::new(value) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }

    /// The big-endian bytes, as they travel in OTLP.
    pub const fn to_bytes(self) -> [u8; 8] {
        self.0.get().to_be_bytes()
    }

    /// The numeric value.
    pub const fn to_u64(self) -> u64 {
        self.0.get()
    }

    /// Writes the 16 lowercase hex digits into `out`.
    pub fn encode_hex(self, out: &mut [u8; 16]) {
        hex::encode_into(u128::from(self.0.get()), out);
    }

    /// Parses exactly 16 lowercase hex digits that are not all zero.
    pub fn from_hex(src: &[u8]) -> Result<Self, ParseIdError> {
        if src.len() != 16 {
            return Err(ParseIdError::new(IdErrorKind::Length, 16));
        }
        let value = hex::decode_u64(src).ok_or(ParseIdError::new(IdErrorKind::Digit, 16))?;
        Self::from_u64(value).ok_or(ParseIdError::new(IdErrorKind::Zero, 16))
    }
}

impl FromStr for TraceId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s.as_bytes())
    }
}

impl FromStr for SpanId {
    type Err = ParseIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s.as_bytes())
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 32];
        self.encode_hex(&mut buf);
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 16];
        self.encode_hex(&mut buf);
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

/// The error returned when a trace id or span id does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseIdError {
    kind: IdErrorKind,
    digits: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdErrorKind {
    Length,
    Digit,
    Zero,
}

impl ParseIdError {
    const fn new(kind: IdErrorKind, digits: u8) -> Self {
        Self { kind, digits }
    }
}

impl fmt::Display for ParseIdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            IdErrorKind::Length => write!(f, "id must be exactly {} hex digits", self.digits),
            IdErrorKind::Digit => f.write_str("id must contain only lowercase hex digits"),
            IdErrorKind::Zero => f.write_str("id must not be all zeros"),
        }
    }
}

impl std::error::Error for ParseIdError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_id_round_trips_through_bytes_and_hex() {
        let bytes = [
            0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e,
            0x47, 0x36,
        ];
        let id = TraceId::from_bytes(bytes).unwrap();
        assert_eq!(id.to_bytes(), bytes);
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(
            "4bf92f3577b34da6a3ce929d0e0e4736".parse::<TraceId>(),
            Ok(id)
        );
        assert_eq!(id.low_u64(), 0xa3ce_929d_0e0e_4736);
        assert_eq!(
            format!("{id:?}"),
            "TraceId(4bf92f3577b34da6a3ce929d0e0e4736)"
        );
    }

    #[test]
    fn span_id_round_trips() {
        let id: SpanId = "00f067aa0ba902b7".parse().unwrap();
        assert_eq!(id.to_u64(), 0x00f0_67aa_0ba9_02b7);
        assert_eq!(id.to_string(), "00f067aa0ba902b7");
        assert_eq!(SpanId::from_bytes(id.to_bytes()), Some(id));
    }

    #[test]
    fn invalid_ids_are_rejected_with_the_rule_they_break() {
        let rows: &[(&str, &str)] = &[
            (
                "00000000000000000000000000000000",
                "id must not be all zeros",
            ),
            (
                "4BF92F3577B34DA6A3CE929D0E0E4736",
                "id must contain only lowercase hex digits",
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e473",
                "id must be exactly 32 hex digits",
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e47366",
                "id must be exactly 32 hex digits",
            ),
            (
                "4bf92f3577b34da6a3ce929d0e0e473g",
                "id must contain only lowercase hex digits",
            ),
            (
                "+bf92f3577b34da6a3ce929d0e0e4736",
                "id must contain only lowercase hex digits",
            ),
        ];
        for (input, rule) in rows {
            let err = input.parse::<TraceId>().unwrap_err();
            assert_eq!(err.to_string(), *rule, "{input}");
        }
        assert_eq!(
            "0000000000000000"
                .parse::<SpanId>()
                .unwrap_err()
                .to_string(),
            "id must not be all zeros"
        );
        assert!(SpanId::from_bytes([0; 8]).is_none());
        assert!(TraceId::from_u128(0).is_none());
    }
}
