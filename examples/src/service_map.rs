//! The service map: who called whom, how often, how many calls failed, how long they took.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use tracecore::trace::{SpanData, SpanKind};

/// Calls between services, from the spans: each CLIENT span is an edge from its service to the
/// service whose SERVER span is its child (or to its `server.address` if no server answered),
/// with the number of calls, of calls that ended in Error, and the p50 and p99 of the calls'
/// durations (nearest rank); edges in the order of their first call, so callers come before
/// their callees.
pub fn service_map(spans: &[SpanData]) -> Vec<Edge> {
    // (from, to) -> (calls, errors, first call's start, durations): callers call before their
    // callees.
    type Calls = (u64, u64, SystemTime, Vec<Duration>);
    let mut edges: BTreeMap<(String, String), Calls> = BTreeMap::new();
    for call in spans.iter().filter(|s| s.kind == SpanKind::Client) {
        let to = spans
            .iter()
            .find(|s| s.kind == SpanKind::Server && s.is_child_of(call))
            .map(|s| s.resource.service_name().to_owned())
            .or_else(|| {
                call.attribute("server.address")
                    .and_then(|v| v.as_str().map(str::to_owned))
            })
            .unwrap_or_else(|| "?".to_owned());
        let entry = edges
            .entry((call.resource.service_name().to_owned(), to))
            .or_insert((0, 0, call.start_time, Vec::new()));
        entry.0 += 1;
        entry.1 += u64::from(call.status.is_error());
        entry.2 = entry.2.min(call.start_time);
        entry.3.push(call.duration());
    }
    let mut out: Vec<_> = edges.into_iter().collect();
    out.sort_by_key(|(_, (_, _, first, _))| *first);
    out.into_iter()
        .map(|((from, to), (calls, errors, _, mut durations))| {
            durations.sort_unstable();
            Edge {
                from,
                to,
                calls,
                errors,
                p50: nearest_rank(&durations, 50),
                p99: nearest_rank(&durations, 99),
            }
        })
        .collect()
}

/// The `percent`th percentile of `sorted` by the nearest-rank method: the smallest value with
/// at least `percent`% of the values at or below it.
fn nearest_rank(sorted: &[Duration], percent: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * percent).div_ceil(100);
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// One edge of the service map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The calling service.
    pub from: String,
    /// The called service.
    pub to: String,
    /// Calls made.
    pub calls: u64,
    /// Calls whose CLIENT span ended in Error.
    pub errors: u64,
    /// The median duration of the calls' CLIENT spans.
    pub p50: Duration,
    /// The 99th percentile of the same.
    pub p99: Duration,
}

/// The service map as text: one line per edge.
pub fn render_service_map(edges: &[Edge]) -> String {
    let width = edges
        .iter()
        .map(|e| e.from.len() + e.to.len())
        .max()
        .unwrap_or(0);
    let mut out = String::from("service map\n");
    for e in edges {
        let pad = width - e.from.len() - e.to.len();
        out.push_str(&format!(
            "  {} ──▶ {}{}  {} {}, {} {}, p50 {}, p99 {}\n",
            e.from,
            e.to,
            " ".repeat(pad),
            e.calls,
            if e.calls == 1 { "request" } else { "requests" },
            e.errors,
            if e.errors == 1 { "error" } else { "errors" },
            crate::all_in_one::format_seconds(e.p50.as_secs_f64()),
            crate::all_in_one::format_seconds(e.p99.as_secs_f64()),
        ));
    }
    out
}
