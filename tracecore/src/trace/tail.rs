//! Late decisions: keep whole local traces that end in an error, run slow, or that a downstream
//! service kept, even when the head sampler dropped them.
//!
//! With tail sampling on, a span the head sampler would drop is recorded anyway (RECORD_ONLY,
//! its `sampled` flag still clear, so the outgoing `traceparent` keeps the head decision) and
//! held with the other spans of its trace in this process until the trace's local root (the
//! span whose parent is remote or absent) ends. Then the rules decide for the whole local
//! trace: kept, it goes to the processors marked sampled, with no `th` (it is not part of the
//! probability sample) and `tracecore.tail_sampling.rule` on its local root; dropped, it is
//! counted in [`diag::counts`](crate::diag::counts). Spans of the trace that end later follow
//! the decision, remembered for the most recent traces. Head-sampled spans pass through without
//! waiting.
//!
//! Held spans are bounded in bytes and in age: past either bound the oldest traces are decided
//! early (kept if they already qualify, else dropped), and counted.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::SpanData;
use crate::{KeyValue, SpanContext, TraceId, diag};

/// The attribute a kept local root carries: which rule kept its trace.
pub const RULE_ATTRIBUTE: &str = "tracecore.tail_sampling.rule";

/// The held spans' default byte budget.
pub const DEFAULT_MAX_BYTES: usize = 16 * 1024 * 1024;
/// How long a local trace is held at most before it is decided without its root.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(30);

/// Shards of the held traces, each with its own lock.
const SHARDS: usize = 16;
/// Decisions remembered per shard, kept and dropped each, for spans that end after their
/// trace was decided.
const DECISIONS_PER_SHARD: usize = 1024;

/// The rules of late decisions (see [`TracerProviderBuilder::with_tail_sampling`](super::TracerProviderBuilder::with_tail_sampling)). Read from `TRACECORE_TAIL_SAMPLING`
/// ([`from_env_value`](Self::from_env_value)) or built in code:
///
/// ```
/// use std::time::Duration;
/// use tracecore::trace::{TailSampling, TracerProvider};
///
/// let provider = TracerProvider::builder()
///     .with_tail_sampling(TailSampling::new().keep_errors().keep_slower_than(Duration::from_millis(200)))
///     .build();
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailSampling {
    errors: bool,
    slower_than: Option<Duration>,
    max_bytes: usize,
    max_age: Duration,
}

impl Default for TailSampling {
    fn default() -> Self {
        Self::new()
    }
}

impl TailSampling {
    /// Tail sampling on with no rule of its own: only traces a downstream service kept are kept.
    pub const fn new() -> Self {
        Self {
            errors: false,
            slower_than: None,
            max_bytes: DEFAULT_MAX_BYTES,
            max_age: DEFAULT_MAX_AGE,
        }
    }

    /// Keeps a local trace in which some span ended with status Error (`errors`).
    #[must_use]
    pub const fn keep_errors(mut self) -> Self {
        self.errors = true;
        self
    }

    /// Keeps a local trace whose local root ran at least `duration` (`slower_than=200ms`).
    #[must_use]
    pub const fn keep_slower_than(mut self, duration: Duration) -> Self {
        self.slower_than = Some(duration);
        self
    }

    /// Holds at most about `bytes` of spans waiting for their decision (`max_bytes=`; default
    /// 16 MiB).
    #[must_use]
    pub const fn with_max_bytes(mut self, bytes: usize) -> Self {
        self.max_bytes = bytes;
        self
    }

    /// Decides a local trace whose root has not ended after `age` without it (`max_age=`;
    /// default 30 s).
    #[must_use]
    pub const fn with_max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Whether errors keep a trace.
    pub const fn keeps_errors(&self) -> bool {
        self.errors
    }

    /// The duration past which a trace is kept.
    pub const fn slower_than(&self) -> Option<Duration> {
        self.slower_than
    }

    /// The rules a `TRACECORE_TAIL_SAMPLING` value asks for: a comma list of `errors`,
    /// `slower_than=<duration>`, `max_bytes=<bytes>`, `max_age=<duration>` (durations as `200ms`,
    /// `1.5s`, `2m`), or `none` (the default: off). Unknown or malformed items are skipped with a
    /// warning naming the variable.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tracecore::trace::TailSampling;
    ///
    /// let (rules, warnings) = TailSampling::from_env_value(Some("errors, slower_than=1.5s"));
    /// let rules = rules.unwrap();
    /// assert!(rules.keeps_errors());
    /// assert_eq!(rules.slower_than(), Some(Duration::from_millis(1500)));
    /// assert!(warnings.is_empty());
    /// assert_eq!(TailSampling::from_env_value(Some("none")).0, None);
    /// ```
    pub fn from_env_value(value: Option<&str>) -> (Option<Self>, Vec<String>) {
        let mut warnings = Vec::new();
        let value = value.map(str::trim).unwrap_or("");
        if value.is_empty() || value.eq_ignore_ascii_case("none") {
            return (None, warnings);
        }
        let mut rules = Self::new();
        for item in value.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let (key, arg) = match item.split_once('=') {
                Some((k, v)) => (k.trim(), Some(v.trim())),
                None => (item, None),
            };
            let bad = |why: &str| format!("TRACECORE_TAIL_SAMPLING: item {item:?} {why}; skipped");
            match (key.to_ascii_lowercase().as_str(), arg) {
                ("errors", None) => rules.errors = true,
                ("slower_than", Some(arg)) => match parse_duration(arg) {
                    Some(d) => rules.slower_than = Some(d),
                    None => warnings.push(bad("is not a duration such as 200ms or 1.5s")),
                },
                ("max_age", Some(arg)) => match parse_duration(arg) {
                    Some(d) if !d.is_zero() => rules.max_age = d,
                    _ => warnings.push(bad("is not a positive duration such as 30s")),
                },
                ("max_bytes", Some(arg)) => match arg.parse::<usize>() {
                    Ok(n) if n > 0 => rules.max_bytes = n,
                    _ => warnings.push(bad("is not a positive number of bytes")),
                },
                ("none", None) => {}
                _ => warnings.push(bad(
                    "is unknown (known: errors, slower_than=<duration>, max_bytes=<n>, \
                     max_age=<duration>, none)",
                )),
            }
        }
        (Some(rules), warnings)
    }
}

/// The rules as `TRACECORE_TAIL_SAMPLING` writes them: `errors,slower_than=200ms` (the byte
/// and age bounds when not the defaults); `downstream` when only a downstream's keep keeps.
impl fmt::Display for TailSampling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = Vec::new();
        if self.errors {
            items.push("errors".to_owned());
        }
        if let Some(d) = self.slower_than {
            items.push(format!("slower_than={d:?}"));
        }
        if items.is_empty() {
            items.push("downstream".to_owned());
        }
        if self.max_bytes != DEFAULT_MAX_BYTES {
            items.push(format!("max_bytes={}", self.max_bytes));
        }
        if self.max_age != DEFAULT_MAX_AGE {
            items.push(format!("max_age={:?}", self.max_age));
        }
        f.write_str(&items.join(","))
    }
}

/// `200ms`, `1.5s`, `2m`, `250us`: a non-negative number and a unit.
fn parse_duration(text: &str) -> Option<Duration> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit.trim() {
        "us" | "µs" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// How a local root's end came out ([`TailStage::end_root`]).
pub(crate) enum RootEnd {
    /// Dropped with its trace (counted).
    Dropped,
    /// Kept: the held spans, marked sampled; the rule to name on the root (none when the trace
    /// was decided before its root ended).
    Kept { held: Kept, rule: Option<Rule> },
}

/// Which rule kept a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rule {
    Errors,
    SlowerThan,
    Downstream,
}

impl Rule {
    fn name(self) -> &'static str {
        match self {
            Self::Errors => "errors",
            Self::SlowerThan => "slower_than",
            Self::Downstream => "downstream",
        }
    }

    fn counter(self) -> &'static AtomicU64 {
        match self {
            Self::Errors => &diag::TAIL_KEPT_ERRORS,
            Self::SlowerThan => &diag::TAIL_KEPT_SLOW,
            Self::Downstream => &diag::TAIL_KEPT_DOWNSTREAM,
        }
    }
}

/// A hasher for trace ids, whose low bits are random already.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = (n as u64) ^ ((n >> 64) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u128, V, BuildHasherDefault<IdHasher>>;

/// The spans of one local trace waiting for its root.
struct Held {
    spans: Vec<SpanData>,
    bytes: usize,
    error: bool,
    downstream: bool,
    since: Instant,
}

impl Held {
    fn flagged(&self) -> bool {
        self.error || self.downstream
    }

    fn new() -> Self {
        Self {
            spans: Vec::new(),
            bytes: 0,
            error: false,
            downstream: false,
            since: Instant::now(),
        }
    }
}

struct Shard {
    held: IdMap<Held>,
    /// Held traces by age, oldest first (an id whose trace was decided since is skipped).
    order: VecDeque<(u128, Instant)>,
    bytes: usize,
    /// Recent traces kept, exactly, oldest first in `kept_order`: a span that ends after its
    /// trace was kept must find the decision, or the trace would lose it.
    kept: IdMap<()>,
    kept_order: VecDeque<u128>,
    /// Recent traces dropped, one slot per trace id's low bits (a newer trace takes an older
    /// one's slot): a late span of a forgotten one is held, then dropped at the maximum age.
    dropped: Box<[u128]>,
}

impl Default for Shard {
    fn default() -> Self {
        Self {
            held: IdMap::default(),
            order: VecDeque::new(),
            bytes: 0,
            kept: IdMap::default(),
            kept_order: VecDeque::new(),
            dropped: vec![0; DECISIONS_PER_SHARD].into_boxed_slice(),
        }
    }
}

/// A trace's slot among a shard's dropped traces (the bits above those that chose the shard).
fn slot(trace: u128) -> usize {
    (trace as usize / SHARDS) % DECISIONS_PER_SHARD
}

impl Shard {
    fn remember(&mut self, trace: u128, kept: bool) {
        if kept {
            if self.kept.insert(trace, ()).is_none() {
                self.kept_order.push_back(trace);
                if self.kept_order.len() > DECISIONS_PER_SHARD
                    && let Some(old) = self.kept_order.pop_front()
                {
                    self.kept.remove(&old);
                }
            }
        } else {
            self.dropped[slot(trace)] = trace;
        }
    }

    /// The decision made for `trace`, if it is still remembered.
    fn decision(&self, trace: u128) -> Option<bool> {
        if self.dropped[slot(trace)] == trace {
            Some(false)
        } else if !self.kept.is_empty() && self.kept.contains_key(&trace) {
            Some(true)
        } else {
            None
        }
    }

    fn take(&mut self, trace: u128) -> Option<Held> {
        let held = self.held.remove(&trace)?;
        self.bytes -= held.bytes;
        Some(held)
    }
}

/// What a decision hands on: the spans to export, marked sampled.
pub(crate) type Kept = Vec<SpanData>;

/// The held traces of one provider, and the decisions made.
pub(crate) struct TailStage {
    rules: TailSampling,
    shards: [Mutex<Shard>; SHARDS],
    /// When the stage started: the clock `next_sweep` counts from.
    epoch: Instant,
    /// When every shard is next looked at for traces past the maximum age, in nanoseconds
    /// since `epoch` (a shard is looked at on its own whenever it holds a span).
    next_sweep: AtomicU64,
    /// Per shard, how many held traces an error or a downstream's keep marked, so that asking
    /// whether a trace will be kept takes no lock while none is. Not lowered by an early
    /// decision, which can keep a trace whose root still runs: then the lock is taken.
    flagged: [AtomicUsize; SHARDS],
}

impl fmt::Debug for TailStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TailStage")
            .field("rules", &self.rules)
            .finish_non_exhaustive()
    }
}

fn key(trace_id: TraceId) -> u128 {
    u128::from_be_bytes(trace_id.to_bytes())
}

impl TailStage {
    pub(crate) fn new(rules: TailSampling) -> Self {
        Self {
            rules,
            shards: std::array::from_fn(|_| Mutex::default()),
            epoch: Instant::now(),
            next_sweep: AtomicU64::new(0),
            flagged: std::array::from_fn(|_| AtomicUsize::new(0)),
        }
    }

    pub(crate) fn rules(&self) -> &TailSampling {
        &self.rules
    }

    fn flagged(&self, trace: u128) -> &AtomicUsize {
        &self.flagged[(trace as usize) % SHARDS]
    }

    /// A held trace was decided at its root: no longer counted as marked.
    fn unflag(&self, trace: u128, held: Option<&Held>) {
        if held.is_some_and(Held::flagged) {
            self.flagged(trace).fetch_sub(1, Ordering::Relaxed);
        }
    }

    fn shard(&self, trace: u128) -> MutexGuard<'_, Shard> {
        // A panic under the lock leaves whole entries: keep going.
        self.shards[(trace as usize) % SHARDS]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A recorded span the head sampler did not sample has ended: held, or decided with its
    /// trace. Returns what is to be exported now.
    pub(crate) fn on_end(&self, data: SpanData) -> Kept {
        let trace = key(data.span_context.trace_id());
        let mut out = Vec::new();
        let mut shard = self.shard(trace);
        if let Some(kept) = shard.decision(trace) {
            drop(shard);
            if kept {
                out.push(mark_sampled(data, None));
            } else {
                drop_spans(1);
                super::recycle::give_back(data.attributes);
            }
            return out;
        }
        if data.is_local_root() {
            let held = shard.take(trace);
            self.unflag(trace, held.as_ref());
            let rule = self.rule_for(
                held.as_ref(),
                Some((data.status.is_error(), data.duration())),
            );
            shard.remember(trace, rule.is_some());
            drop(shard);
            finish(held, Some(data), rule, &mut out);
            return out;
        }
        let size = data.estimated_size();
        let error = data.status.is_error();
        let shard_ref = &mut *shard;
        let held = shard_ref.held.entry(trace).or_insert_with(|| {
            let held = Held::new();
            shard_ref.order.push_back((trace, held.since));
            held
        });
        if error && !held.flagged() {
            self.flagged(trace).fetch_add(1, Ordering::Relaxed);
        }
        held.error |= error;
        held.bytes += size;
        held.spans.push(data);
        shard_ref.bytes += size;
        self.decide_early(shard_ref, &mut out);
        drop(shard);
        self.sweep(&mut out);
        out
    }

    /// Every so often (a quarter of the maximum age), decides the traces of every shard that are
    /// past the maximum age, so that a shard no new span reaches does not hold them for ever.
    fn sweep(&self, out: &mut Kept) {
        let now = self.epoch.elapsed().as_nanos() as u64;
        let next = self.next_sweep.load(Ordering::Relaxed);
        if now < next {
            return;
        }
        let every = (self.rules.max_age / 4).max(Duration::from_millis(10));
        let then = now + every.as_nanos() as u64;
        if self
            .next_sweep
            .compare_exchange(next, then, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            self.decide_early(&mut shard, out);
        }
    }

    /// Decides the oldest held traces of `shard` while it is past its byte budget or they are
    /// past the maximum age.
    fn decide_early(&self, shard: &mut Shard, out: &mut Kept) {
        let budget = self.rules.max_bytes / SHARDS;
        let now = Instant::now();
        while let Some(&(trace, since)) = shard.order.front() {
            let current = shard.held.get(&trace).is_some_and(|h| h.since == since);
            if !current {
                shard.order.pop_front();
                continue;
            }
            let over_bytes = shard.bytes > budget;
            let over_age = now.saturating_duration_since(since) >= self.rules.max_age;
            if !over_bytes && !over_age {
                break;
            }
            shard.order.pop_front();
            let held = shard.take(trace);
            let rule = self.rule_for(held.as_ref(), None);
            shard.remember(trace, rule.is_some());
            diag::add(
                if over_bytes {
                    &diag::TAIL_EARLY_BYTES
                } else {
                    &diag::TAIL_EARLY_AGE
                },
                1,
            );
            finish(held, None, rule, out);
        }
    }

    /// A local root the head sampler dropped is ending, with an error or not, after running
    /// `duration`: its trace is decided before the root's data is built, so that a dropped
    /// root costs no more than its recycled attributes. Kept, the held spans come back marked
    /// sampled, with the rule to name on the root.
    pub(crate) fn end_root(&self, trace_id: TraceId, error: bool, duration: Duration) -> RootEnd {
        let trace = key(trace_id);
        let mut shard = self.shard(trace);
        if let Some(kept) = shard.decision(trace) {
            drop(shard);
            return if kept {
                RootEnd::Kept {
                    held: Vec::new(),
                    rule: None,
                }
            } else {
                drop_spans(1);
                RootEnd::Dropped
            };
        }
        let held = shard.take(trace);
        self.unflag(trace, held.as_ref());
        let rule = self.rule_for(held.as_ref(), Some((error, duration)));
        shard.remember(trace, rule.is_some());
        drop(shard);
        let mut out = Vec::new();
        match rule {
            Some(rule) => {
                finish(held, None, Some(rule), &mut out);
                RootEnd::Kept {
                    held: out,
                    rule: Some(rule),
                }
            }
            None => {
                // The root is counted here; its attributes are recycled by the caller.
                diag::add(&diag::TAIL_DROPPED_TRACES, 1);
                let spans = held.map(|h| h.spans).unwrap_or_default();
                drop_spans(spans.len() + 1);
                if !spans.is_empty() {
                    super::recycle::give_back_all(spans.into_iter().map(|s| s.attributes));
                }
                RootEnd::Dropped
            }
        }
    }

    /// The rule that keeps a local trace of `held` spans and its root (whether it ended in an
    /// error, how long it ran), if any.
    fn rule_for(&self, held: Option<&Held>, root: Option<(bool, Duration)>) -> Option<Rule> {
        let error = held.is_some_and(|h| h.error) || root.is_some_and(|(error, _)| error);
        if self.rules.errors && error {
            return Some(Rule::Errors);
        }
        if let (Some(limit), Some((_, duration))) = (self.rules.slower_than, root)
            && duration >= limit
        {
            return Some(Rule::SlowerThan);
        }
        held.is_some_and(|h| h.downstream)
            .then_some(Rule::Downstream)
    }

    /// A downstream service said it kept `trace_id`: this process keeps its spans of the trace.
    pub(crate) fn keep_downstream(&self, trace_id: TraceId) {
        let trace = key(trace_id);
        let mut shard = self.shard(trace);
        if shard.decision(trace).is_some() {
            return;
        }
        let shard_ref = &mut *shard;
        let held = shard_ref.held.entry(trace).or_insert_with(|| {
            let held = Held::new();
            shard_ref.order.push_back((trace, held.since));
            held
        });
        if !held.flagged() {
            self.flagged(trace).fetch_add(1, Ordering::Relaxed);
        }
        held.downstream = true;
    }

    /// Whether this process will keep its spans of the trace of `span`, started at `start`, if it
    /// ended now (`failing`: with an error).
    pub(crate) fn will_keep(&self, span: &SpanContext, start: Instant, failing: bool) -> bool {
        if span.is_sampled() {
            return true;
        }
        if self.rules.errors && failing {
            return true;
        }
        if self
            .rules
            .slower_than
            .is_some_and(|limit| start.elapsed() >= limit)
        {
            return true;
        }
        let trace = key(span.trace_id());
        if self.flagged(trace).load(Ordering::Relaxed) == 0 {
            return false;
        }
        let shard = self.shard(trace);
        if let Some(kept) = shard.decision(trace) {
            return kept;
        }
        shard
            .held
            .get(&trace)
            .is_some_and(|h| h.downstream || (self.rules.errors && h.error))
    }

    /// Decides every held trace now (the provider is shutting down).
    pub(crate) fn drain(&self) -> Kept {
        let mut out = Vec::new();
        for shard in &self.shards {
            let mut shard = shard.lock().unwrap_or_else(|e| e.into_inner());
            let traces: Vec<u128> = shard.held.keys().copied().collect();
            for trace in traces {
                let held = shard.take(trace);
                let rule = self.rule_for(held.as_ref(), None);
                shard.remember(trace, rule.is_some());
                finish(held, None, rule, &mut out);
            }
            shard.order.clear();
        }
        out
    }

    /// Bytes of spans held now.
    pub(crate) fn held_bytes(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).bytes)
            .sum()
    }
}

/// Hands a decided trace's spans to `out` when `rule` keeps it, else drops and counts them.
fn finish(held: Option<Held>, root: Option<SpanData>, rule: Option<Rule>, out: &mut Kept) {
    let spans = held.map(|h| h.spans).unwrap_or_default();
    match rule {
        Some(rule) => {
            diag::add(rule.counter(), 1);
            out.extend(spans.into_iter().map(|s| mark_sampled(s, None)));
            if let Some(root) = root {
                out.push(mark_sampled(root, Some(rule)));
            }
        }
        None => {
            diag::add(&diag::TAIL_DROPPED_TRACES, 1);
            let n = spans.len() + usize::from(root.is_some());
            drop_spans(n);
            super::recycle::give_back_all(spans.into_iter().chain(root).map(|s| s.attributes));
        }
    }
}

fn drop_spans(n: usize) {
    diag::add(&diag::TAIL_DROPPED_SPANS, n as u64);
}

/// The span as exported when a rule keeps it: sampled, without a `th` (it is not part of the
/// probability sample), the rule named on the local root.
pub(crate) fn mark_sampled(mut data: SpanData, rule: Option<Rule>) -> SpanData {
    let sc = &data.span_context;
    let state = super::probability::with_threshold(sc.trace_state(), None)
        .unwrap_or_else(|| sc.trace_state().clone());
    data.span_context = SpanContext::new(
        sc.trace_id(),
        sc.span_id(),
        sc.flags().with_sampled(true),
        sc.is_remote(),
        state,
    );
    if let Some(rule) = rule {
        data.attributes
            .push(KeyValue::new(RULE_ATTRIBUTE, rule.name()));
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_written() {
        assert_eq!(parse_duration("200ms"), Some(Duration::from_millis(200)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("250us"), Some(Duration::from_micros(250)));
        for bad in ["", "ms", "200", "1.5.1s", "-1s", "2h", "1e3ms"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn env_values_warn_by_item() {
        let (rules, warnings) =
            TailSampling::from_env_value(Some("errors,slower_than=fast,max_bytes=1024,shiny"));
        let rules = rules.unwrap();
        assert!(rules.keeps_errors());
        assert_eq!(rules.slower_than(), None);
        assert_eq!(rules.max_bytes, 1024);
        assert_eq!(
            warnings,
            [
                "TRACECORE_TAIL_SAMPLING: item \"slower_than=fast\" is not a duration such as 200ms or 1.5s; skipped",
                "TRACECORE_TAIL_SAMPLING: item \"shiny\" is unknown (known: errors, slower_than=<duration>, max_bytes=<n>, max_age=<duration>, none); skipped",
            ]
        );
        assert_eq!(TailSampling::from_env_value(None).0, None);
        assert_eq!(TailSampling::from_env_value(Some(" NONE ")).0, None);
        let (on, _) = TailSampling::from_env_value(Some("max_age=5s"));
        let on = on.unwrap();
        assert_eq!(on.max_age, Duration::from_secs(5));
        assert_eq!(on.to_string(), "downstream,max_age=5s");
        assert_eq!(rules.to_string(), "errors,max_bytes=1024");
        let (slow, _) = TailSampling::from_env_value(Some("slower_than=1.5s"));
        assert_eq!(slow.unwrap().to_string(), "slower_than=1.5s");
    }
}
