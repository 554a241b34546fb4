//! The part of a span that crosses process boundaries.
//!
//! ```
//! use tracecore::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
//!
//! let cx = SpanContext::new(
//!     TraceId::from_u128(1).unwrap(),
//!     SpanId::from_u64(2).unwrap(),
//!     TraceFlags::SAMPLED,
//!     true,
//!     TraceState::default(),
//! );
//! assert!(cx.is_sampled() && cx.is_remote());
//! assert_eq!(cx.traceparent().as_str(), "00-00000000000000000000000000000001-0000000000000002-01");
//! ```

use std::fmt;

use crate::{SpanId, TraceFlags, TraceId, TraceState, hex};

/// Trace id, span id, flags and trace state of a span, and whether it came from another process.
///
/// A span context is always valid: the ids cannot be zero. Absence is `Option<SpanContext>`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SpanContext {
    trace_id: TraceId,
    span_id: SpanId,
    flags: TraceFlags,
    is_remote: bool,
    trace_state: TraceState,
}

impl SpanContext {
    /// A span context from its parts.
    pub const fn new(
        trace_id: TraceId,
        span_id: SpanId,
        flags: TraceFlags,
        is_remote: bool,
        trace_state: TraceState,
    ) -> Self {
        Self {
            trace_id,
            span_id,
            flags,
            is_remote,
            trace_state,
        }
    }

    /// The trace this span belongs to.
    pub const fn trace_id(&self) -> TraceId {
        self.trace_id
    }

    /// This span's id.
    pub const fn span_id(&self) -> SpanId {
        self.span_id
    }

    /// The trace flags.
    pub const fn flags(&self) -> TraceFlags {
        self.flags
    }

    /// Whether the `sampled` flag is set.
    pub const fn is_sampled(&self) -> bool {
        self.flags.is_sampled()
    }

    /// Whether this context was extracted from another process.
    pub const fn is_remote(&self) -> bool {
        self.is_remote
    }

    /// The vendor-specific trace state.
    pub const fn trace_state(&self) -> &TraceState {
        &self.trace_state
    }

    /// The same context with another trace state.
    #[must_use]
    pub fn with_trace_state(mut self, trace_state: TraceState) -> Self {
        self.trace_state = trace_state;
        self
    }

    /// The same context with another span id: the context a child span of the same trace carries.
    #[must_use]
    pub fn with_span_id(mut self, span_id: SpanId) -> Self {
        self.span_id = span_id;
        self.is_remote = false;
        self
    }

    /// The same context with other flags.
    #[must_use]
    pub fn with_flags(mut self, flags: TraceFlags) -> Self {
        self.flags = flags;
        self
    }

    /// The `traceparent` value (version `00`) naming this span as the parent.
    pub fn traceparent(&self) -> Traceparent {
        let mut buf = [0; 55];
        self.write_traceparent(self.flags, &mut buf);
        Traceparent(buf)
    }

    /// Writes this context's `traceparent` with `flags` into `out`.
    pub(crate) fn write_traceparent(&self, flags: TraceFlags, out: &mut [u8; 55]) {
        *out = *b"00-00000000000000000000000000000000-0000000000000000-00";
        hex::encode_into(self.trace_id.to_u128(), &mut out[3..35]);
        hex::encode_into(u128::from(self.span_id.to_u64()), &mut out[36..52]);
        let flags = flags.to_wire();
        out[53] = hex::digit(flags >> 4);
        out[54] = hex::digit(flags);
    }
}

impl fmt::Debug for SpanContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SpanContext")
            .field("trace_id", &format_args!("{}", self.trace_id))
            .field("span_id", &format_args!("{}", self.span_id))
            .field("flags", &self.flags)
            .field("is_remote", &self.is_remote)
            .field("trace_state", &self.trace_state)
            .finish()
    }
}

/// A formatted `traceparent` value: 55 bytes on the stack, always valid.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Traceparent([u8; 55]);

impl Traceparent {
    /// The header value.
    pub fn as_str(&self) -> &str {
        // Only ASCII digits, lowercase letters and `-` are ever written.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }

    /// The header value as bytes.
    pub const fn as_bytes(&self) -> &[u8; 55] {
        &self.0
    }
}

impl fmt::Display for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Traceparent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Traceparent({})", self.as_str())
    }
}
