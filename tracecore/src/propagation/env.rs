//! `OTEL_PROPAGATORS`.

use super::{
    B3Encoding, B3Propagator, BaggagePropagator, CompositePropagator, JaegerPropagator, Propagator,
    TraceContextPropagator,
};
use crate::{diag, env};

const VAR: &str = "OTEL_PROPAGATORS";

/// The propagator `OTEL_PROPAGATORS` asks for; the default (`tracecontext,baggage`) when it is
/// unset or empty. Problems are warned once each, naming the variable and the value.
///
/// See [`from_env_value`] for the accepted values.
pub fn from_env() -> CompositePropagator {
    let (propagator, warnings) = from_env_value(env::var(VAR).as_deref());
    for warning in warnings {
        diag::warn_once(&warning);
    }
    propagator
}

/// The propagator for a value of `OTEL_PROPAGATORS`, and the warnings it deserves.
///
/// A comma-separated, case-insensitive list of `tracecontext`, `baggage`, `b3` (single header),
/// `b3multi`, `jaeger` and `none`, run in the order given, duplicates ignored. `none` alone turns
/// propagation off. Unknown and unsupported values are warned about and ignored; a list with
/// nothing usable left falls back to the default rather than silently propagating nothing.
///
/// ```
/// use tracecore::propagation::{from_env_value, Propagator};
///
/// let (p, warnings) = from_env_value(Some("b3multi, TraceContext,b3multi"));
/// assert_eq!(p.fields(), ["x-b3-traceid", "x-b3-spanid", "x-b3-sampled", "x-b3-flags", "traceparent", "tracestate"]);
/// assert!(warnings.is_empty());
///
/// let (p, warnings) = from_env_value(Some("tracecontext,fancy"));
/// assert_eq!(p.fields(), ["traceparent", "tracestate"]);
/// assert_eq!(warnings, ["OTEL_PROPAGATORS: unknown propagator \"fancy\" ignored"]);
/// ```
pub fn from_env_value(value: Option<&str>) -> (CompositePropagator, Vec<String>) {
    let mut warnings = Vec::new();
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return (super::default(), warnings);
    };
    let names = env::names(value);
    if names.iter().any(|n| n == "none") {
        if names.len() > 1 {
            warnings.push(format!(
                "{VAR}: \"none\" is combined with other values in {value:?}; propagation is off"
            ));
        }
        return (CompositePropagator::new(Vec::new()), warnings);
    }
    let mut members: Vec<Box<dyn Propagator>> = Vec::new();
    for name in &names {
        match name.as_str() {
            "tracecontext" => members.push(Box::new(TraceContextPropagator::new())),
            "baggage" => members.push(Box::new(BaggagePropagator::new())),
            "b3" => members.push(Box::new(B3Propagator::with_encoding(B3Encoding::Single))),
            "b3multi" => members.push(Box::new(B3Propagator::with_encoding(B3Encoding::Multiple))),
            "jaeger" => members.push(Box::new(JaegerPropagator::new())),
            "xray" | "ottrace" => {
                warnings.push(format!(
                    "{VAR}: propagator {name:?} is not supported; ignored"
                ));
            }
            _ => warnings.push(format!("{VAR}: unknown propagator {name:?} ignored")),
        }
    }
    if members.is_empty() {
        warnings.push(format!(
            "{VAR}: no usable propagator in {value:?}; using the default tracecontext,baggage"
        ));
        return (super::default(), warnings);
    }
    (CompositePropagator::new(members), warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_fallbacks() {
        let rows: &[(Option<&str>, &[&str], usize)] = &[
            (None, &["traceparent", "tracestate", "baggage"], 0),
            (Some(""), &["traceparent", "tracestate", "baggage"], 0),
            (Some("  "), &["traceparent", "tracestate", "baggage"], 0),
            (Some("none"), &[], 0),
            (Some("NONE"), &[], 0),
            (Some("none,b3"), &[], 1),
            (Some("b3"), &["b3"], 0),
            (Some("jaeger,baggage"), &["uber-trace-id", "baggage"], 0),
            (Some("xray"), &["traceparent", "tracestate", "baggage"], 2),
            (
                Some("bogus,,"),
                &["traceparent", "tracestate", "baggage"],
                2,
            ),
        ];
        for (value, fields, warnings) in rows {
            let (p, w) = from_env_value(*value);
            assert_eq!(p.fields(), *fields, "{value:?}");
            assert_eq!(w.len(), *warnings, "{value:?}: {w:?}");
        }
    }

    #[test]
    fn warnings_name_the_variable_and_value() {
        let (_, w) = from_env_value(Some("tracecontext,ottrace"));
        assert_eq!(
            w,
            ["OTEL_PROPAGATORS: propagator \"ottrace\" is not supported; ignored"]
        );
    }
}
