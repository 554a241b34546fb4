//! OTLP encoding of a batch of typical HTTP server spans (a remote parent, 10 attributes):
//! tracecore-otlp writing straight from `SpanData`, against what opentelemetry-otlp 0.33 does
//! per export (opentelemetry-proto's `group_spans_by_resource_and_scope` into prost messages,
//! then `encode_to_vec`, or `serde_json::to_vec` for http/json).
//!
//! And the export thread's CPU: a second's worth of spans at 10 k spans/s, exported by
//! `OtlpExporter` to a local sink over HTTP, timed by the thread's own CPU clock.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry::trace::{Span as _, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope;
use prost::Message as _;
use tracecore::export::{InMemoryExporter, SpanExporter as _};
use tracecore_otlp::{Compression, OtlpExporter, Protocol, RetryPolicy};

/// The batch size of the batch processors' default.
pub const BATCH: usize = 512;

const TRACE_ID: u128 = 0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736;
const PARENT_ID: u64 = 0x00f0_67aa_0ba9_02b7;

macro_rules! ten_attributes {
    ($kv:path, $i:expr) => {
        [
            $kv("http.request.method", "GET"),
            $kv("http.route", "/items/{id}"),
            $kv("url.path", format!("/items/{}", $i)),
            $kv("url.scheme", "http"),
            $kv("server.address", "inventory.local"),
            $kv("server.port", 8080_i64),
            $kv("client.address", "10.1.2.3"),
            $kv("user_agent.original", "reqwest/0.13"),
            $kv("network.protocol.version", "1.1"),
            $kv("http.response.status_code", 200_i64),
        ]
    };
}

/// `n` spans recorded by tracecore.
pub fn tracecore_spans(n: usize) -> Vec<tracecore::trace::SpanData> {
    let spans = InMemoryExporter::new();
    let provider = tracecore::trace::TracerProvider::builder()
        .with_service_name("inventory")
        .with_sampler(tracecore::trace::AlwaysOn)
        .with_simple_exporter(spans.clone())
        .build();
    let tracer = provider.tracer_with_scope(tracecore::trace::InstrumentationScope::new(
        "tracecore-tower",
        Some("0.1.0"),
    ));
    let parent = tracecore::Context::new().with_span_context(tracecore::SpanContext::new(
        tracecore::TraceId::from_u128(TRACE_ID).unwrap(),
        tracecore::SpanId::from_bytes(PARENT_ID.to_be_bytes()).unwrap(),
        tracecore::TraceFlags::SAMPLED,
        true,
        tracecore::TraceState::default(),
    ));
    for i in 0..n {
        let span = tracer
            .span_builder("GET /items/{id}")
            .with_kind(tracecore::trace::SpanKind::Server)
            .start_with_attributes(&parent, ten_attributes!(tracecore::KeyValue::new, i));
        span.end();
    }
    spans.finished_spans().as_slice().to_vec()
}

#[derive(Debug, Clone, Default)]
struct Collect(Arc<Mutex<Vec<opentelemetry_sdk::trace::SpanData>>>);

impl opentelemetry_sdk::trace::SpanExporter for Collect {
    async fn export(
        &self,
        batch: Vec<opentelemetry_sdk::trace::SpanData>,
    ) -> opentelemetry_sdk::error::OTelSdkResult {
        self.0.lock().unwrap().extend(batch);
        Ok(())
    }
}

/// The same `n` spans recorded by opentelemetry_sdk 0.33, with the resource it exports them with.
pub fn otel_spans(
    n: usize,
) -> (
    Vec<opentelemetry_sdk::trace::SpanData>,
    ResourceAttributesWithSchema,
) {
    use opentelemetry::KeyValue;
    use opentelemetry::trace::{SpanContext, SpanId, SpanKind, TraceFlags, TraceId, TraceState};

    let collect = Collect::default();
    let resource = opentelemetry_sdk::Resource::builder_empty()
        .with_service_name("inventory")
        .build();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_simple_exporter(collect.clone())
        .build();
    let scope = opentelemetry::InstrumentationScope::builder("tracecore-tower")
        .with_version("0.1.0")
        .build();
    let tracer = provider.tracer_with_scope(scope);
    let parent = opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
        TraceId::from(TRACE_ID),
        SpanId::from(PARENT_ID),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    ));
    for i in 0..n {
        let mut span = tracer
            .span_builder("GET /items/{id}")
            .with_kind(SpanKind::Server)
            .with_attributes(ten_attributes!(KeyValue::new, i))
            .start_with_context(&tracer, &parent);
        span.end();
    }
    let spans = std::mem::take(&mut *collect.0.lock().unwrap());
    assert_eq!(spans.len(), n);
    (spans, (&resource).into())
}

/// What opentelemetry-otlp's HTTP exporter does with a batch before sending it.
pub fn otel_encode(
    batch: Vec<opentelemetry_sdk::trace::SpanData>,
    resource: &ResourceAttributesWithSchema,
    protocol: Protocol,
) -> Vec<u8> {
    let request = ExportTraceServiceRequest {
        resource_spans: group_spans_by_resource_and_scope(batch, resource),
    };
    match protocol {
        Protocol::HttpJson => serde_json::to_vec(&request).unwrap(),
        _ => request.encode_to_vec(),
    }
}

/// A local HTTP sink answering every request with an empty 200; returns its traces URL.
pub fn start_sink() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || sink(stream));
        }
    });
    url
}

fn sink(stream: TcpStream) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    loop {
        let mut length = 0;
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let reply =
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if writer.write_all(reply).is_err() {
            return;
        }
    }
}

/// CPU time this thread has used (Linux: `/proc/thread-self/schedstat`, nanoseconds on CPU).
pub fn thread_cpu() -> Duration {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = text
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

/// The share of one core the export thread needs at `rate` spans/s: one second's worth of
/// spans exported in batches of 512 to a local sink, on this thread, timed by its CPU clock.
pub fn export_cpu_share(rate: usize, protocol: Protocol, compression: Compression) -> f64 {
    let url = start_sink();
    let mut exporter = OtlpExporter::builder()
        .without_env()
        .with_endpoint(url)
        .with_protocol(protocol)
        .with_compression(compression)
        .with_retry(RetryPolicy::none())
        .build()
        .unwrap();
    let spans = tracecore_spans(BATCH);
    // Warm the connection and buffers.
    exporter.export(&spans, Duration::from_secs(10)).unwrap();
    let batches = rate.div_ceil(BATCH);
    let start = thread_cpu();
    for _ in 0..batches {
        exporter.export(&spans, Duration::from_secs(10)).unwrap();
    }
    let used = thread_cpu() - start;
    used.as_secs_f64() * (rate as f64 / (batches * BATCH) as f64)
}
