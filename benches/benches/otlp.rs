//! OTLP encoding of 512 typical HTTP server spans (10 attributes each): tracecore-otlp against
//! opentelemetry-proto as opentelemetry-otlp 0.33 uses it, protobuf and JSON.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use tracecore_benches::otlp::{BATCH, otel_encode, otel_spans, tracecore_spans};
use tracecore_otlp::Protocol;

fn encode(c: &mut Criterion) {
    let ours = tracecore_spans(BATCH);
    let (theirs, resource) = otel_spans(BATCH);
    for (group, protocol) in [
        ("otlp_encode_protobuf", Protocol::HttpProtobuf),
        ("otlp_encode_json", Protocol::HttpJson),
    ] {
        let mut g = c.benchmark_group(group);
        g.throughput(Throughput::Elements(BATCH as u64));
        let mut buf = Vec::new();
        g.bench_function("tracecore", |b| {
            b.iter(|| {
                buf.clear();
                protocol.encode(black_box(&ours), &mut buf);
                black_box(buf.len())
            })
        });
        // The exporter receives the batch by value; cloning it is setup, not timed.
        g.bench_function("opentelemetry", |b| {
            b.iter_batched(
                || theirs.clone(),
                |batch| otel_encode(batch, &resource, protocol),
                BatchSize::LargeInput,
            )
        });
        // For reference: the prost (or serde) encoding alone, of a request built beforehand.
        let request = opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
            resource_spans:
                opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope(
                    theirs.clone(),
                    &resource,
                ),
        };
        g.bench_function("opentelemetry_encode_only", |b| {
            b.iter(|| match protocol {
                Protocol::HttpJson => black_box(serde_json::to_vec(&request).unwrap().len()),
                _ => black_box(prost::Message::encode_to_vec(&request).len()),
            })
        });
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = encode
}
criterion_main!(benches);
