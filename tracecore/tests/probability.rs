//! Consistent probability sampling through a real tracer: the decision for each ratio at the
//! edge of its threshold, the `th` it writes into the `ot` tracestate entry (and propagates),
//! explicit `rv`, a malformed `ot` entry, and parent-based children.

#[path = "../../tests/support/remote.rs"]
mod remote;

use remote::remote_parent;
use tracecore::export::InMemoryExporter;
use tracecore::propagation::{Propagator, TraceContextPropagator};
use tracecore::trace::{ParentBased, ProbabilitySampler, Sampler, TracerProvider};
use tracecore::{Context, SpanContext};

/// Starts a span under a caller that sent `tracestate` (trace id low bits 0, not sampled, so
/// only `rv` decides) with `sampler`; returns whether it was sampled and the `tracestate` the
/// span injects downstream.
fn decide(sampler: impl Sampler + 'static, traceparent: &str, tracestate: &str) -> (bool, String) {
    let provider = TracerProvider::builder()
        .with_sampler(sampler)
        .with_simple_exporter(InMemoryExporter::new())
        .build();
    let parent = remote_parent(traceparent, tracestate);
    let span = provider
        .tracer("t")
        .span_builder("work")
        .start_with_context(&parent);
    let mut headers = http::HeaderMap::new();
    TraceContextPropagator::new().inject_context(&span.context(&parent), &mut headers);
    let state = headers
        .get("tracestate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (span.span_context().is_sampled(), state)
}

const UNSAMPLED: &str = "00-4bf92f3577b34da6ff00000000000000-00f067aa0ba902b7-02";

#[test]
fn each_ratio_samples_exactly_from_its_threshold_up() {
    // (ratio, th, the largest randomness dropped, the smallest sampled)
    let table: [(f64, &str, Option<&str>, &str); 5] = [
        (1.0, "0", None, "00000000000000"),
        (0.5, "8", Some("7fffffffffffff"), "80000000000000"),
        (0.25, "c", Some("bfffffffffffff"), "c0000000000000"),
        (0.01, "fd70a4", Some("fd70a3ffffffff"), "fd70a400000000"),
        (
            2f64.powi(-56),
            "ffffffffffffff",
            Some("fffffffffffffe"),
            "ffffffffffffff",
        ),
    ];
    for (ratio, th, dropped, sampled) in table {
        let (yes, state) = decide(
            ProbabilitySampler::new(ratio),
            UNSAMPLED,
            &format!("ot=rv:{sampled},vendor=1"),
        );
        assert!(yes, "{ratio}: rv {sampled} is sampled");
        assert_eq!(
            state,
            format!("ot=th:{th};rv:{sampled},vendor=1"),
            "{ratio}"
        );
        if let Some(dropped) = dropped {
            let (yes, state) = decide(
                ProbabilitySampler::new(ratio),
                UNSAMPLED,
                &format!("ot=rv:{dropped},vendor=1"),
            );
            assert!(!yes, "{ratio}: rv {dropped} is dropped");
            assert_eq!(state, format!("ot=rv:{dropped},vendor=1"), "no th, rv kept");
        }
    }
    let (yes, state) = decide(
        ProbabilitySampler::new(0.0),
        UNSAMPLED,
        "ot=rv:ffffffffffffff",
    );
    assert!(!yes, "ratio 0 samples nothing");
    assert_eq!(state, "ot=rv:ffffffffffffff");
}

#[test]
fn the_trace_id_decides_without_rv_and_a_dropped_span_erases_an_old_th() {
    // Low 56 bits of the trace id: 0xff00… then 0x0000…
    let high = "00-4bf92f3577b34da6ffff000000000000-00f067aa0ba902b7-02";
    let (yes, state) = decide(ProbabilitySampler::new(0.25), high, "");
    assert!(yes);
    assert_eq!(state, "ot=th:c");
    let low = "00-4bf92f3577b34da60000000000000001-00f067aa0ba902b7-02";
    let (yes, state) = decide(ProbabilitySampler::new(0.25), low, "ot=th:8;x:y,other=2");
    assert!(!yes);
    assert_eq!(state, "ot=x:y,other=2", "th erased, the rest kept");
}

#[test]
fn a_malformed_ot_entry_is_absent_for_sampling_and_passed_on_unchanged() {
    // rv would say sample, but the entry is malformed: the trace id (low bits 0) decides.
    let (yes, state) = decide(
        ProbabilitySampler::new(0.5),
        UNSAMPLED,
        "ot=rv:ffffffffffffff;;,vendor=1",
    );
    assert!(!yes);
    assert_eq!(state, "ot=rv:ffffffffffffff;;,vendor=1");
    let high = "00-4bf92f3577b34da6ffff000000000000-00f067aa0ba902b7-02";
    let (yes, state) = decide(ProbabilitySampler::new(0.5), high, "ot=th:zz,vendor=1");
    assert!(
        yes,
        "an invalid th is absent; the trace id's 0xff… is sampled"
    );
    assert_eq!(state, "ot=th:8,vendor=1");
}

#[test]
fn a_parent_based_child_keeps_its_parents_decision_and_th() {
    let sampler = || ParentBased::new(ProbabilitySampler::new(0.25));
    let sampled = "00-4bf92f3577b34da6ffff000000000000-00f067aa0ba902b7-03";
    let (yes, state) = decide(sampler(), sampled, "ot=th:f;rv:ffffffffffffff,v=1");
    assert!(yes, "the parent decided");
    assert_eq!(state, "ot=th:f;rv:ffffffffffffff,v=1", "its th travels on");
    // A sampled parent whose th contradicts its randomness (rv < th): the th is erased.
    let (yes, state) = decide(sampler(), sampled, "ot=th:f;rv:00000000000001,v=1");
    assert!(yes);
    assert_eq!(state, "ot=rv:00000000000001,v=1");
    // A root decides by probability, with the random flag set on its new trace id.
    let provider = TracerProvider::builder()
        .with_sampler(sampler())
        .with_simple_exporter(InMemoryExporter::new())
        .build();
    let tracer = provider.tracer("t");
    for _ in 0..64 {
        let span = tracer.start("root");
        let sc: &SpanContext = span.span_context();
        assert!(sc.flags().is_random());
        let r = sc.trace_id().to_u128() as u64 & ((1 << 56) - 1);
        assert_eq!(sc.is_sampled(), r >= 0xc0 << 48, "{sc:?}");
        let th = if sc.is_sampled() { "ot=th:c" } else { "" };
        assert_eq!(sc.trace_state().as_str(), th);
        let child = tracer
            .span_builder("child")
            .start_with_context(&span.context(&Context::new()));
        assert_eq!(child.span_context().is_sampled(), sc.is_sampled());
        assert_eq!(child.span_context().trace_state(), sc.trace_state());
    }
}
