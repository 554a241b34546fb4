//! The `trace-flags` byte of `traceparent` ([W3C Trace Context Level 2 §3.2.2.5]).
//!
//! ```
//! use tracecore::TraceFlags;
//!
//! let flags = TraceFlags::SAMPLED | TraceFlags::RANDOM;
//! assert!(flags.is_sampled() && flags.is_random());
//! assert_eq!(flags.to_string(), "03");
//! // Reserved bits never survive: only `sampled` and `random` are kept.
//! assert_eq!(TraceFlags::from_wire(0xff), flags);
//! ```
//!
//! [W3C Trace Context Level 2 §3.2.2.5]: https://www.w3.org/TR/trace-context-2/#trace-flags

use std::fmt;
use std::ops::BitOr;

/// The flags a span context carries: `sampled` (0x01) and `random` (0x02, Level 2).
///
/// Bits the spec reserves cannot be set, so they are never emitted.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TraceFlags(u8);

impl TraceFlags {
    /// No flag set.
    pub const NONE: Self = Self(0);
    /// The caller may have recorded this trace.
    pub const SAMPLED: Self = Self(0x01);
    /// The right-most 7 bytes of the trace id are uniformly random (Level 2).
    pub const RANDOM: Self = Self(0x02);

    const KNOWN: u8 = 0x03;

    /// The flags in a wire byte; reserved bits are dropped.
    pub const fn from_wire(byte: u8) -> Self {
        Self(byte & Self::KNOWN)
    }

    /// The byte to put on the wire.
    pub const fn to_wire(self) -> u8 {
        self.0
    }

    /// Whether `sampled` is set.
    pub const fn is_sampled(self) -> bool {
        self.0 & Self::SAMPLED.0 != 0
    }

    /// Whether `random` is set.
    pub const fn is_random(self) -> bool {
        self.0 & Self::RANDOM.0 != 0
    }

    /// These flags with `sampled` set to `sampled`.
    #[must_use]
    pub const fn with_sampled(self, sampled: bool) -> Self {
        if sampled {
            Self(self.0 | Self::SAMPLED.0)
        } else {
            Self(self.0 & !Self::SAMPLED.0)
        }
    }

    /// These flags with `random` set to `random`.
    #[must_use]
    pub const fn with_random(self, random: bool) -> Self {
        if random {
            Self(self.0 | Self::RANDOM.0)
        } else {
            Self(self.0 & !Self::RANDOM.0)
        }
    }
}

impl BitOr for TraceFlags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl fmt::Display for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02x}", self.0)
    }
}

impl fmt::Debug for TraceFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TraceFlags({:02x}{}{})",
            self.0,
            if self.is_sampled() { " sampled" } else { "" },
            if self.is_random() { " random" } else { "" }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_test_single_bits() {
        let f = TraceFlags::from_wire(0x02);
        assert!(!f.is_sampled());
        assert!(f.is_random());
        assert_eq!(f.with_sampled(true).to_wire(), 0x03);
        assert_eq!(f.with_sampled(true).with_random(false).to_wire(), 0x01);
        assert_eq!(
            TraceFlags::from_wire(0x09).to_wire(),
            0x01,
            "reserved 0x08 dropped"
        );
        assert_eq!(
            format!("{:?}", TraceFlags::from_wire(3)),
            "TraceFlags(03 sampled random)"
        );
    }
}
