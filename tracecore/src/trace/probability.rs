//! Consistent probability sampling (OpenTelemetry's `ProbabilitySampler`, the `th` and `rv`
//! sub-keys of the `ot` tracestate entry).
//!
//! A trace's randomness `R` is the low 56 bits of its trace id, or the explicit `rv` its `ot`
//! entry carries. A sampler of probability `p` has the rejection threshold
//! `T = (1 − p)·2⁵⁶` and samples exactly when `R ≥ T`. Every service that decides this way on
//! the same `R` agrees: a trace a 1 % service keeps is kept by a 10 % one too. A sampled span
//! says which threshold chose it (`ot=th:<T>`), so a backend can count each span as `1/p`
//! spans; a span kept for another reason carries no `th`.

use super::{Sampler, SamplingDecision, SamplingParameters, SamplingResult};
use crate::{SpanContext, TraceId, TraceState, diag};

/// `2⁵⁶`: one past the largest threshold and randomness value.
const MAX: u64 = 1 << 56;
/// The most hex digits a threshold or randomness value has.
const DIGITS: usize = 14;
/// The threshold's significant hex digits by default (after leading `f`s): 1 % is `fd70a4`.
pub const DEFAULT_PRECISION: u8 = 5;

/// The sampling sub-keys of an `ot` tracestate value: `th` and `rv` when present and valid.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct OtValue {
    pub(crate) threshold: Option<u64>,
    pub(crate) randomness: Option<u64>,
}

/// Reads an `ot` value (`th:c;rv:0123…`): `None` when it is malformed as a whole (it is then
/// treated as absent and passed on unchanged). A `th` or `rv` that is not valid is absent.
///
/// At most 256 characters; `;`-separated sub-keys `[a-z][a-z0-9]*`, each with a `:` and a
/// value of `[A-Za-z0-9._-]*`. Read in one pass over the bytes: a child span of a remote parent
/// reads its parent's entry.
pub(crate) fn parse_ot(value: &str) -> Option<OtValue> {
    let b = value.as_bytes();
    if b.len() > 256 {
        return None;
    }
    let mut out = OtValue::default();
    if b.is_empty() {
        return Some(out);
    }
    let mut i = 0;
    loop {
        let key_start = i;
        if !b.get(i).is_some_and(u8::is_ascii_lowercase) {
            return None;
        }
        i += 1;
        while i < b.len() && (b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            i += 1;
        }
        if b.get(i) != Some(&b':') {
            return None;
        }
        let key = &b[key_start..i];
        i += 1;
        // The value, read as hex on the way (what `th` and `rv` are).
        let value_start = i;
        let mut hex = Some(0u64);
        while i < b.len() && b[i] != b';' {
            let c = b[i];
            let digit = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                _ if c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-') => {
                    hex = None;
                    0
                }
                _ => return None,
            };
            hex = hex.map(|n| n << 4 | u64::from(digit));
            i += 1;
        }
        let digits = i - value_start;
        match key {
            b"th" if (1..=DIGITS).contains(&digits) => {
                out.threshold = hex.map(|n| n << (4 * (DIGITS - digits)));
            }
            b"rv" if digits == DIGITS => out.randomness = hex,
            b"th" => out.threshold = None,
            b"rv" => out.randomness = None,
            _ => {}
        }
        if i == b.len() {
            return Some(out);
        }
        // Past the `;`: another sub-key must follow.
        i += 1;
    }
}

/// `th`'s text: the threshold in 14 hex digits with the trailing zeros removed (`0` for 0).
pub(crate) fn threshold_text(threshold: u64) -> String {
    if threshold == 0 {
        return "0".to_owned();
    }
    let full = format!("{threshold:014x}");
    full.trim_end_matches('0').to_owned()
}

/// The rejection threshold for probability `p`, rounded to `precision` significant hex digits
/// (counted after the leading `f`s of small probabilities, as the specification's conversion
/// does); `None` when `p` samples nothing (0, NaN, or below `2⁻⁵⁶` once rounded).
pub(crate) fn threshold_for(p: f64, precision: u8) -> Option<u64> {
    if p.is_nan() || p <= 0.0 {
        return None;
    }
    if p >= 1.0 {
        return Some(0);
    }
    // p·2⁵⁶ is exact in a float: rounding it to an integer is the only rounding.
    let scaled = (p * MAX as f64).round() as u64;
    if scaled == 0 {
        return None;
    }
    let threshold = MAX - scaled;
    // frexp's exponent: p = m·2^e with m in [0.5, 1); small probabilities get a digit more per
    // leading `f`.
    let exponent = ((p.to_bits() >> 52) & 0x7ff) as i64 - 1022;
    let extra = usize::try_from(-exponent).unwrap_or(0) / 4;
    let digits = (usize::from(precision.max(1)) + extra).min(DIGITS);
    let shift = 4 * (DIGITS - digits) as u32;
    if shift == 0 {
        return Some(threshold);
    }
    let rounded = (threshold + (1 << (shift - 1))) >> shift << shift;
    Some(if rounded >= MAX {
        (MAX - 1) >> shift << shift
    } else {
        rounded
    })
}

/// The randomness `R` of a trace: the explicit `rv` of its `ot` entry, else the trace id's low
/// 56 bits.
pub(crate) fn randomness(trace_id: TraceId, ot: Option<OtValue>) -> u64 {
    ot.and_then(|ot| ot.randomness)
        .unwrap_or(trace_id.low_u64() & (MAX - 1))
}

/// `state` with the `ot` entry's `th` set to `threshold` (`Some`) or removed (`None`), its
/// other sub-keys kept in order and the entry moved to the front; `None` when nothing changes
/// (or the entry is malformed: it is passed on as it came).
pub(crate) fn with_threshold(state: &TraceState, threshold: Option<u64>) -> Option<TraceState> {
    let current = state.get("ot");
    let others = match current {
        Some(value) => {
            let parsed = parse_ot(value)?;
            if threshold.is_none() && !has_threshold_key(value) {
                return None;
            }
            if threshold.is_some() && parsed.threshold == threshold && value.starts_with("th:") {
                return None;
            }
            value
                .split(';')
                .filter(|f| !f.is_empty() && !f.starts_with("th:"))
                .collect::<Vec<_>>()
        }
        None if threshold.is_none() => return None,
        None => Vec::new(),
    };
    let mut value = match threshold {
        Some(t) => format!("th:{}", threshold_text(t)),
        None => String::new(),
    };
    for field in others {
        if !value.is_empty() {
            value.push(';');
        }
        value.push_str(field);
    }
    if value.is_empty() {
        return Some(state.remove("ot"));
    }
    // A valid `ot` value is a valid tracestate value; 256 characters at most.
    state.insert("ot", &value).ok()
}

fn has_threshold_key(value: &str) -> bool {
    value.split(';').any(|f| f.starts_with("th:"))
}

/// Samples a fixed probability of traces, consistently across services and SDKs that follow
/// OpenTelemetry's consistent probability sampling: a trace is sampled when its randomness `R`
/// (the trace id's low 56 bits, or the `rv` of its `ot` tracestate entry) is at least the
/// rejection threshold `T = (1 − p)·2⁵⁶`. Ignores the parent's decision (wrap it in
/// [`ParentBased`](super::ParentBased) to follow it, as `parentbased_traceidratio` does).
///
/// A sampled span writes `th:<T>` into the `ot` tracestate entry it propagates (keeping the
/// entry's other sub-keys and the other vendors' entries); a dropped one removes `th`.
///
/// ```
/// use tracecore::trace::{ProbabilitySampler, Sampler, SamplingDecision, SamplingParameters};
/// use tracecore::TraceId;
///
/// let sampler = ProbabilitySampler::new(0.25);
/// assert_eq!(sampler.threshold_text().as_deref(), Some("c"));
/// // The low 56 bits are 0xd0…: at least 0xc0…, so sampled.
/// let trace_id = TraceId::from_u128(0x0af7651916cd43dd_00d0000000000001).unwrap();
/// let result = sampler.should_sample(&SamplingParameters::new(trace_id, "GET"));
/// assert_eq!(result.decision, SamplingDecision::RecordAndSample);
/// assert_eq!(result.trace_state.unwrap().as_str(), "ot=th:c");
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ProbabilitySampler {
    ratio: f64,
    threshold: Option<u64>,
}

impl ProbabilitySampler {
    /// Samples `ratio` of traces (clamped to `0.0..=1.0`; NaN samples nothing), with the
    /// threshold rounded to [`DEFAULT_PRECISION`] significant hex digits.
    pub fn new(ratio: f64) -> Self {
        Self::with_precision(ratio, DEFAULT_PRECISION)
    }

    /// Samples `ratio` of traces with the threshold rounded to `precision` significant hex
    /// digits (1 to 14; more digits, closer to `ratio`, longer `th`).
    pub fn with_precision(ratio: f64, precision: u8) -> Self {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        Self {
            ratio,
            threshold: threshold_for(ratio, precision.clamp(1, DIGITS as u8)),
        }
    }

    /// The ratio asked for.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// The probability the rounded threshold samples with (`ratio` to the threshold's
    /// precision).
    pub fn effective_ratio(&self) -> f64 {
        self.threshold
            .map_or(0.0, |t| (MAX - t) as f64 / MAX as f64)
    }

    /// The `th` this sampler writes, `None` when it samples nothing.
    pub fn threshold_text(&self) -> Option<String> {
        self.threshold.map(threshold_text)
    }

    /// Whether a trace of randomness `r` (56 bits) is sampled.
    pub fn samples_randomness(&self, r: u64) -> bool {
        self.threshold.is_some_and(|t| r >= t)
    }
}

impl Sampler for ProbabilitySampler {
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        let empty = TraceState::default();
        let state = params.parent.map_or(&empty, SpanContext::trace_state);
        let ot = if state.is_empty() {
            None
        } else {
            state.get("ot").and_then(parse_ot)
        };
        if let Some(parent) = params.parent
            && !parent.flags().is_random()
            && ot.and_then(|o| o.randomness).is_none()
        {
            diag::warn_once(
                "The ProbabilitySampler sampler is presuming TraceIDs are random and expects the \
                 Trace random flag to be set in confirmation. Please upgrade your caller(s) to \
                 use W3C Trace Context Level 2.",
            );
        }
        let r = randomness(params.trace_id, ot);
        let sampled = self.threshold.is_some_and(|t| r >= t);
        let mut result = SamplingResult::new(if sampled {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        });
        result.trace_state = with_threshold(state, if sampled { self.threshold } else { None });
        result
    }

    fn description(&self) -> String {
        format!("ProbabilitySampler{{{}}}", self.ratio)
    }

    fn reads_attributes(&self) -> bool {
        false
    }
}

/// For a child following a sampled parent: the parent's trace state without its `th` when the
/// threshold is inconsistent with the trace's randomness (`R < th` yet sampled), as the
/// specification asks; `None` to keep it as it is.
pub(crate) fn checked_parent_state(parent: &SpanContext) -> Option<TraceState> {
    let state = parent.trace_state();
    if state.is_empty() || !parent.is_sampled() {
        return None;
    }
    let ot = parse_ot(state.get("ot")?)?;
    let threshold = ot.threshold?;
    if randomness(parent.trace_id(), Some(ot)) >= threshold {
        return None;
    }
    with_threshold(state, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn th(p: f64) -> Option<String> {
        threshold_for(p, DEFAULT_PRECISION).map(threshold_text)
    }

    #[test]
    fn thresholds_of_the_issue_table() {
        assert_eq!(th(1.0).as_deref(), Some("0"));
        assert_eq!(th(0.5).as_deref(), Some("8"));
        assert_eq!(th(0.25).as_deref(), Some("c"));
        assert_eq!(th(0.01).as_deref(), Some("fd70a4"));
        assert_eq!(th(0.1).as_deref(), Some("e6666"));
        assert_eq!(th(2f64.powi(-56)).as_deref(), Some("ffffffffffffff"));
        assert_eq!(th(0.0), None);
        assert_eq!(th(2f64.powi(-60)), None);
        assert_eq!(th(f64::NAN), None);
    }

    #[test]
    fn precision_follows_the_specification_table() {
        // 1-in-N rows of the specification's table at precision 3, 4 and 5.
        let t = |p, precision| threshold_text(threshold_for(p, precision).unwrap());
        assert_eq!(t(1.0 / 3.0, 3), "aab");
        assert_eq!(t(1.0 / 3.0, 4), "aaab");
        assert_eq!(t(0.2, 5), "ccccd");
        assert_eq!(t(0.01, 3), "fd71");
        assert_eq!(t(0.01, 4), "fd70a");
        assert_eq!(t(0.001, 4), "ffbe77");
        assert_eq!(t(0.001, 5), "ffbe76d");
    }

    #[test]
    fn ot_values_parse_strictly() {
        let ot = parse_ot("th:c;rv:0123456789abcd").unwrap();
        assert_eq!(ot.threshold, Some(0xc0_0000_0000_0000));
        assert_eq!(ot.randomness, Some(0x01_2345_6789_abcd));
        assert_eq!(parse_ot("th:0").unwrap().threshold, Some(0));
        // Invalid sub-values are absent; the entry stays usable.
        assert_eq!(parse_ot("th:C").unwrap().threshold, None);
        assert_eq!(parse_ot("th:123456789abcdef").unwrap().threshold, None);
        assert_eq!(parse_ot("rv:0123").unwrap().randomness, None);
        assert_eq!(parse_ot("x:1;th:8").unwrap().threshold, Some(1 << 55));
        // Malformed as a whole.
        for bad in [
            "th",
            "th:c;",
            ";th:c",
            "Th:c",
            "th:c;9x:1",
            "th:c d",
            "th:c,x",
        ] {
            assert_eq!(parse_ot(bad), None, "{bad}");
        }
        assert_eq!(parse_ot(&"a".repeat(300)), None);
    }

    #[test]
    fn th_is_written_and_erased_keeping_the_rest() {
        let state =
            TraceState::from_header_values([b"vendor=1,ot=rv:0123456789abcd;x:y".as_slice()])
                .unwrap();
        let written = with_threshold(&state, Some(0xc0_0000_0000_0000)).unwrap();
        assert_eq!(written.as_str(), "ot=th:c;rv:0123456789abcd;x:y,vendor=1");
        let erased = with_threshold(&written, None).unwrap();
        assert_eq!(erased.as_str(), "ot=rv:0123456789abcd;x:y,vendor=1");
        assert_eq!(with_threshold(&erased, None), None, "nothing to erase");
        let only = TraceState::from_header_values([b"ot=th:8,v=1".as_slice()]).unwrap();
        assert_eq!(with_threshold(&only, None).unwrap().as_str(), "v=1");
        let malformed = TraceState::from_header_values([b"ot=th:c;;".as_slice()]).unwrap();
        assert_eq!(
            with_threshold(&malformed, Some(0)),
            None,
            "passed on unchanged"
        );
    }
}
