//! Sampling: which spans are recorded and exported ([OpenTelemetry SDK §Sampling]).
//!
//! ```
//! use tracecore::trace::{ParentBased, ProbabilitySampler, Sampler, SamplingParameters, SpanKind};
//! use tracecore::TraceId;
//!
//! let sampler = ParentBased::new(ProbabilitySampler::new(0.25));
//! let trace_id = TraceId::from_u128(0x0123_4567_89ab_cdef_0011_2233_4455_6677).unwrap();
//! // Deterministic on the trace id: the same trace gets the same answer in every process.
//! let params = SamplingParameters::new(trace_id, "GET").with_kind(SpanKind::Server);
//! let first = sampler.should_sample(&params).decision;
//! let again = sampler.should_sample(&params).decision;
//! assert_eq!(first, again);
//! ```
//!
//! [OpenTelemetry SDK §Sampling]: https://opentelemetry.io/docs/specs/otel/trace/sdk/#sampling

use std::fmt;
use std::sync::Arc;

use super::{Link, ProbabilitySampler, SpanKind};
use crate::{KeyValue, SpanContext, TraceId, TraceState, diag, env};

/// What to do with a new span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SamplingDecision {
    /// Not recorded; its context still propagates, with `sampled` clear.
    Drop,
    /// Recorded and handed to processors, but not exported; `sampled` clear.
    RecordOnly,
    /// Recorded and exported; `sampled` set.
    RecordAndSample,
}

/// A sampler's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct SamplingResult {
    /// The decision.
    pub decision: SamplingDecision,
    /// Attributes to add to the span.
    pub attributes: Vec<KeyValue>,
    /// The trace state for the span; `None` keeps the parent's.
    pub trace_state: Option<TraceState>,
}

impl SamplingResult {
    /// A decision with no attributes that keeps the parent's trace state.
    pub const fn new(decision: SamplingDecision) -> Self {
        Self {
            decision,
            attributes: Vec::new(),
            trace_state: None,
        }
    }
}

/// What a sampler decides on: the span's parent (absent for a root), trace id, name, kind,
/// start attributes and links. `#[non_exhaustive]`: a parameter can be added without breaking
/// every sampler; build one with [`new`](Self::new) and the `with_` setters.
///
/// ```
/// use tracecore::trace::{SamplingParameters, SpanKind};
/// use tracecore::TraceId;
///
/// let trace_id = TraceId::from_u128(1).unwrap();
/// let params = SamplingParameters::new(trace_id, "GET /items/{id}").with_kind(SpanKind::Server);
/// assert!(params.parent.is_none() && params.attributes.is_empty());
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SamplingParameters<'a> {
    /// The parent's span context; `None` for a root span.
    pub parent: Option<&'a SpanContext>,
    /// The trace the span belongs to (its parent's, or a new one for a root).
    pub trace_id: TraceId,
    /// The span's name.
    pub name: &'a str,
    /// The span's kind.
    pub kind: SpanKind,
    /// The attributes the span starts with (empty when no sampler reads them: see
    /// [`Sampler::reads_attributes`]).
    pub attributes: &'a [KeyValue],
    /// The span's links.
    pub links: &'a [Link],
}

impl<'a> SamplingParameters<'a> {
    /// A root INTERNAL span named `name` in `trace_id`, with no attributes or links.
    pub const fn new(trace_id: TraceId, name: &'a str) -> Self {
        Self {
            parent: None,
            trace_id,
            name,
            kind: SpanKind::Internal,
            attributes: &[],
            links: &[],
        }
    }

    /// The parent's span context.
    #[must_use]
    pub const fn with_parent(mut self, parent: Option<&'a SpanContext>) -> Self {
        self.parent = parent;
        self
    }

    /// The span's kind.
    #[must_use]
    pub const fn with_kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// The span's start attributes.
    #[must_use]
    pub const fn with_attributes(mut self, attributes: &'a [KeyValue]) -> Self {
        self.attributes = attributes;
        self
    }

    /// The span's links.
    #[must_use]
    pub const fn with_links(mut self, links: &'a [Link]) -> Self {
        self.links = links;
        self
    }
}

/// Decides whether a span is recorded. Called before the span exists, with what it will have
/// ([`SamplingParameters`]).
pub trait Sampler: Send + Sync + fmt::Debug {
    /// The decision for a span in `trace_id` under `parent`.
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult;

    /// A description, such as `ParentBased{root:AlwaysOnSampler,…}`.
    fn description(&self) -> String;

    /// Whether the decision looks at the span's attributes or its name. When it does not (the
    /// built-in samplers), integrations build a span's attributes and name only once they know
    /// it records, so a span that will not record pays for none of them. Default `true`.
    fn reads_attributes(&self) -> bool {
        true
    }
}

impl<S: Sampler + ?Sized> Sampler for Arc<S> {
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        (**self).should_sample(params)
    }
    fn description(&self) -> String {
        (**self).description()
    }
    fn reads_attributes(&self) -> bool {
        (**self).reads_attributes()
    }
}

/// Records and samples everything.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysOn;

impl Sampler for AlwaysOn {
    fn should_sample(&self, _params: &SamplingParameters<'_>) -> SamplingResult {
        SamplingResult::new(SamplingDecision::RecordAndSample)
    }
    fn description(&self) -> String {
        "AlwaysOnSampler".into()
    }

    fn reads_attributes(&self) -> bool {
        false
    }
}

/// Records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct AlwaysOff;

impl Sampler for AlwaysOff {
    fn should_sample(&self, _params: &SamplingParameters<'_>) -> SamplingResult {
        SamplingResult::new(SamplingDecision::Drop)
    }
    fn description(&self) -> String {
        "AlwaysOffSampler".into()
    }

    fn reads_attributes(&self) -> bool {
        false
    }
}

/// Samples a fixed fraction of traces, decided by the trace id alone, so every process agrees.
/// Deprecated by the specification in favour of [`ProbabilitySampler`], which the
/// `traceidratio` variables give; kept for code that asks for it by name.
///
/// The algorithm is the one opentelemetry-rust and current Go use (spec sheet §8): the last 8
/// bytes of the trace id, shifted right by one, below `ratio × 2⁶³`. Monotone: a higher ratio
/// samples a superset. Ignores the parent's decision (wrap it in [`ParentBased`] to follow it).
#[derive(Clone, Copy, Debug)]
pub struct TraceIdRatioBased {
    ratio: f64,
    threshold: u64,
}

impl TraceIdRatioBased {
    /// Samples `ratio` of traces; values are clamped to `0.0..=1.0` (NaN samples nothing).
    pub fn new(ratio: f64) -> Self {
        let ratio = if ratio.is_nan() {
            0.0
        } else {
            ratio.clamp(0.0, 1.0)
        };
        let threshold = if ratio >= 1.0 {
            u64::MAX
        } else {
            (ratio * (1u64 << 63) as f64) as u64
        };
        Self { ratio, threshold }
    }

    /// The ratio.
    pub fn ratio(&self) -> f64 {
        self.ratio
    }

    /// Whether `trace_id` falls in the sampled fraction.
    pub fn samples(&self, trace_id: TraceId) -> bool {
        self.ratio >= 1.0 || (trace_id.low_u64() >> 1) < self.threshold
    }
}

impl Sampler for TraceIdRatioBased {
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        SamplingResult::new(if self.samples(params.trace_id) {
            SamplingDecision::RecordAndSample
        } else {
            SamplingDecision::Drop
        })
    }
    fn description(&self) -> String {
        format!("TraceIdRatioBased{{{}}}", self.ratio)
    }

    fn reads_attributes(&self) -> bool {
        false
    }
}

/// Follows the parent's decision, and asks `root` when there is no parent.
///
/// The four parent cases (remote or local, sampled or not) each have a sampler; the defaults
/// are AlwaysOn for sampled parents and AlwaysOff for the others.
#[derive(Clone, Debug)]
pub struct ParentBased {
    root: Arc<dyn Sampler>,
    remote_sampled: Arc<dyn Sampler>,
    remote_not_sampled: Arc<dyn Sampler>,
    local_sampled: Arc<dyn Sampler>,
    local_not_sampled: Arc<dyn Sampler>,
}

impl ParentBased {
    /// Follows the parent; asks `root` for new traces.
    pub fn new(root: impl Sampler + 'static) -> Self {
        Self {
            root: Arc::new(root),
            remote_sampled: Arc::new(AlwaysOn),
            remote_not_sampled: Arc::new(AlwaysOff),
            local_sampled: Arc::new(AlwaysOn),
            local_not_sampled: Arc::new(AlwaysOff),
        }
    }

    /// The sampler for a sampled remote parent.
    #[must_use]
    pub fn with_remote_parent_sampled(mut self, s: impl Sampler + 'static) -> Self {
        self.remote_sampled = Arc::new(s);
        self
    }

    /// The sampler for a remote parent that is not sampled.
    #[must_use]
    pub fn with_remote_parent_not_sampled(mut self, s: impl Sampler + 'static) -> Self {
        self.remote_not_sampled = Arc::new(s);
        self
    }

    /// The sampler for a sampled local parent.
    #[must_use]
    pub fn with_local_parent_sampled(mut self, s: impl Sampler + 'static) -> Self {
        self.local_sampled = Arc::new(s);
        self
    }

    /// The sampler for a local parent that is not sampled.
    #[must_use]
    pub fn with_local_parent_not_sampled(mut self, s: impl Sampler + 'static) -> Self {
        self.local_not_sampled = Arc::new(s);
        self
    }
}

impl Sampler for ParentBased {
    fn should_sample(&self, params: &SamplingParameters<'_>) -> SamplingResult {
        let delegate = match params.parent {
            None => &self.root,
            Some(p) => match (p.is_remote(), p.is_sampled()) {
                (true, true) => &self.remote_sampled,
                (true, false) => &self.remote_not_sampled,
                (false, true) => &self.local_sampled,
                (false, false) => &self.local_not_sampled,
            },
        };
        let mut result = delegate.should_sample(params);
        // A sampled parent's `th` travels on, unless it contradicts the trace's randomness.
        if result.trace_state.is_none()
            && result.decision == SamplingDecision::RecordAndSample
            && let Some(parent) = params.parent
        {
            result.trace_state = super::probability::checked_parent_state(parent);
        }
        result
    }

    fn description(&self) -> String {
        format!(
            "ParentBased{{root:{},remoteParentSampled:{},remoteParentNotSampled:{},localParentSampled:{},localParentNotSampled:{}}}",
            self.root.description(),
            self.remote_sampled.description(),
            self.remote_not_sampled.description(),
            self.local_sampled.description(),
            self.local_not_sampled.description()
        )
    }

    fn reads_attributes(&self) -> bool {
        [
            &self.root,
            &self.remote_sampled,
            &self.remote_not_sampled,
            &self.local_sampled,
            &self.local_not_sampled,
        ]
        .iter()
        .any(|s| s.reads_attributes())
    }
}

/// The sampler `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG` ask for; the default
/// `parentbased_always_on` when unset. `traceidratio` and `parentbased_traceidratio` give the
/// consistent [`ProbabilitySampler`] (the specification's replacement for the deprecated
/// `TraceIdRatioBased`). Problems are warned once each, naming the variable.
pub fn sampler_from_env() -> Arc<dyn Sampler> {
    let (sampler, warnings) = sampler_from_env_values(
        env::var("OTEL_TRACES_SAMPLER").as_deref(),
        env::var("OTEL_TRACES_SAMPLER_ARG").as_deref(),
    );
    for warning in warnings {
        diag::warn_once(&warning);
    }
    sampler
}

/// The sampler for values of `OTEL_TRACES_SAMPLER` and `OTEL_TRACES_SAMPLER_ARG`, and the warnings
/// they deserve.
///
/// ```
/// use tracecore::trace::sampler_from_env_values;
///
/// let (s, w) = sampler_from_env_values(Some("parentbased_traceidratio"), Some("0.5"));
/// assert!(s.description().starts_with("ParentBased{root:ProbabilitySampler{0.5}"));
/// assert!(w.is_empty());
///
/// let (s, w) = sampler_from_env_values(Some("traceidratio"), Some("half"));
/// assert_eq!(s.description(), "ProbabilitySampler{1}");
/// assert_eq!(w, ["OTEL_TRACES_SAMPLER_ARG: value \"half\" is not a ratio between 0 and 1; using 1.0"]);
/// ```
pub fn sampler_from_env_values(
    sampler: Option<&str>,
    arg: Option<&str>,
) -> (Arc<dyn Sampler>, Vec<String>) {
    let mut warnings = Vec::new();
    let mut ratio = || match arg.map(str::trim) {
        None | Some("") => 1.0,
        Some(raw) => match raw.parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => r,
            _ => {
                warnings.push(format!(
                    "OTEL_TRACES_SAMPLER_ARG: value {raw:?} is not a ratio between 0 and 1; using 1.0"
                ));
                1.0
            }
        },
    };
    let name = sampler.map(|s| s.trim().to_ascii_lowercase());
    let chosen: Arc<dyn Sampler> = match name.as_deref() {
        None | Some("") | Some("parentbased_always_on") => Arc::new(ParentBased::new(AlwaysOn)),
        Some("always_on") => Arc::new(AlwaysOn),
        Some("always_off") => Arc::new(AlwaysOff),
        Some("traceidratio") => Arc::new(ProbabilitySampler::new(ratio())),
        Some("parentbased_always_off") => Arc::new(ParentBased::new(AlwaysOff)),
        Some("parentbased_traceidratio") => {
            Arc::new(ParentBased::new(ProbabilitySampler::new(ratio())))
        }
        Some(other) => {
            let why = if matches!(
                other,
                "jaeger_remote" | "parentbased_jaeger_remote" | "xray"
            ) {
                "is not supported"
            } else {
                "is unknown"
            };
            warnings.push(format!(
                "OTEL_TRACES_SAMPLER: value {other:?} {why}; using parentbased_always_on"
            ));
            Arc::new(ParentBased::new(AlwaysOn))
        }
    };
    (chosen, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IdGenerator;
    use crate::{SeededIdGenerator, SpanId, TraceFlags};

    fn decide(s: &dyn Sampler, parent: Option<&SpanContext>, trace: TraceId) -> SamplingDecision {
        s.should_sample(&SamplingParameters::new(trace, "op").with_parent(parent))
            .decision
    }

    #[test]
    fn ratio_is_deterministic_monotone_and_close_to_its_ratio() {
        let ids = SeededIdGenerator::new(1);
        let traces: Vec<_> = (0..20_000).map(|_| ids.new_trace_id()).collect();
        let ratios = [0.0, 0.01, 0.1, 0.25, 0.5, 0.9, 1.0];
        let mut previous: Option<Vec<bool>> = None;
        for r in ratios {
            let s = TraceIdRatioBased::new(r);
            let picked: Vec<bool> = traces.iter().map(|t| s.samples(*t)).collect();
            let again: Vec<bool> = traces.iter().map(|t| s.samples(*t)).collect();
            assert_eq!(picked, again, "deterministic");
            let share = picked.iter().filter(|p| **p).count() as f64 / traces.len() as f64;
            assert!((share - r).abs() < 0.02, "ratio {r} sampled {share}");
            if let Some(prev) = &previous {
                assert!(
                    prev.iter().zip(&picked).all(|(a, b)| !a || *b),
                    "monotone at {r}"
                );
            }
            previous = Some(picked);
        }
    }

    #[test]
    fn ratio_uses_the_de_facto_algorithm() {
        // low 8 bytes 0x8000…0 >> 1 = 2^62 = exactly the threshold of 0.5: not sampled.
        let t = TraceId::from_u128(0x8000_0000_0000_0000).unwrap();
        assert!(!TraceIdRatioBased::new(0.5).samples(t));
        let t = TraceId::from_u128(0x7fff_ffff_ffff_ffff).unwrap();
        assert!(TraceIdRatioBased::new(0.5).samples(t));
        assert!(TraceIdRatioBased::new(1.0).samples(TraceId::from_u128(u128::MAX).unwrap()));
        assert!(!TraceIdRatioBased::new(0.0).samples(TraceId::from_u128(1).unwrap()));
        assert_eq!(TraceIdRatioBased::new(7.0).ratio(), 1.0);
        assert_eq!(TraceIdRatioBased::new(f64::NAN).ratio(), 0.0);
    }

    #[test]
    fn parent_based_matrix() {
        use SamplingDecision::{Drop, RecordAndSample};
        let trace = TraceId::from_u128(42).unwrap();
        let parent = |remote: bool, sampled: bool| {
            SpanContext::new(
                trace,
                SpanId::from_u64(7).unwrap(),
                TraceFlags::NONE.with_sampled(sampled),
                remote,
                TraceState::default(),
            )
        };
        let default = ParentBased::new(AlwaysOff);
        let inverted = ParentBased::new(AlwaysOn)
            .with_remote_parent_sampled(AlwaysOff)
            .with_remote_parent_not_sampled(AlwaysOn)
            .with_local_parent_sampled(AlwaysOff)
            .with_local_parent_not_sampled(AlwaysOn);
        let rows = [
            ("no parent", None, Drop, RecordAndSample),
            (
                "remote sampled",
                Some(parent(true, true)),
                RecordAndSample,
                Drop,
            ),
            (
                "remote not sampled",
                Some(parent(true, false)),
                Drop,
                RecordAndSample,
            ),
            (
                "local sampled",
                Some(parent(false, true)),
                RecordAndSample,
                Drop,
            ),
            (
                "local not sampled",
                Some(parent(false, false)),
                Drop,
                RecordAndSample,
            ),
        ];
        for (case, p, by_default, by_inverted) in rows {
            assert_eq!(decide(&default, p.as_ref(), trace), by_default, "{case}");
            assert_eq!(decide(&inverted, p.as_ref(), trace), by_inverted, "{case}");
        }
    }

    #[test]
    fn env_values() {
        let rows: &[(Option<&str>, Option<&str>, &str, usize)] = &[
            (None, None, "ParentBased{root:AlwaysOnSampler,", 0),
            (Some("ALWAYS_OFF"), None, "AlwaysOffSampler", 0),
            (Some("always_on"), Some("0.1"), "AlwaysOnSampler", 0),
            (
                Some("traceidratio"),
                Some("0.1"),
                "ProbabilitySampler{0.1}",
                0,
            ),
            (
                Some("traceidratio"),
                Some("1.5"),
                "ProbabilitySampler{1}",
                1,
            ),
            (Some("traceidratio"), None, "ProbabilitySampler{1}", 0),
            (
                Some("parentbased_traceidratio"),
                Some("0.01"),
                "ParentBased{root:ProbabilitySampler{0.01},",
                0,
            ),
            (
                Some("parentbased_always_off"),
                None,
                "ParentBased{root:AlwaysOffSampler,",
                0,
            ),
            (Some("xray"), None, "ParentBased{root:AlwaysOnSampler,", 1),
            (
                Some("sometimes"),
                None,
                "ParentBased{root:AlwaysOnSampler,",
                1,
            ),
        ];
        for (name, arg, description, warnings) in rows {
            let (s, w) = sampler_from_env_values(*name, *arg);
            assert!(
                s.description().starts_with(description),
                "{name:?}: {}",
                s.description()
            );
            assert_eq!(w.len(), *warnings, "{name:?} {arg:?}: {w:?}");
        }
        let (_, w) = sampler_from_env_values(Some("sometimes"), None);
        assert_eq!(
            w,
            ["OTEL_TRACES_SAMPLER: value \"sometimes\" is unknown; using parentbased_always_on"]
        );
    }
}
