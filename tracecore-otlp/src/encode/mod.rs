//! Writing an `ExportTraceServiceRequest` straight from finished spans, in protobuf or JSON.
//!
//! No intermediate message tree is built: the spans are grouped by resource and scope (in the
//! order they first appear) and written into one reusable buffer.

mod json;
mod protobuf;

use std::fmt;
use std::time::SystemTime;

use tracecore::logs::LogRecord;
use tracecore::metrics::{ResourceMetrics, Temporality};
use tracecore::trace::{InstrumentationScope, Resource, SpanData, SpanKind, Status};

/// The OTLP/HTTP body format (`OTEL_EXPORTER_OTLP_PROTOCOL`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// `http/protobuf` (the default): `application/x-protobuf`.
    #[default]
    HttpProtobuf,
    /// `http/json`: `application/json`, with the OTLP JSON rules (hex ids, integer enums,
    /// 64-bit integers as strings, lowerCamelCase keys).
    HttpJson,
}

impl Protocol {
    /// The `Content-Type` of a request body.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "application/x-protobuf",
            Self::HttpJson => "application/json",
        }
    }

    /// The value of `OTEL_EXPORTER_OTLP_PROTOCOL` naming this format.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HttpProtobuf => "http/protobuf",
            Self::HttpJson => "http/json",
        }
    }

    /// Appends `metrics` to `out` as one `ExportMetricsServiceRequest` (nothing when there is no
    /// point: empty envelopes are not sent).
    ///
    /// ```
    /// use prost::Message;
    /// use tracecore::metrics::{ManualReader, MeterProvider};
    /// use tracecore_otlp::{Protocol, proto};
    ///
    /// let reader = ManualReader::new();
    /// let provider = MeterProvider::builder().with_service_name("api").with_reader(reader.clone()).build();
    /// provider.meter("doc").u64_counter("app.orders").build().add(3, &[]);
    ///
    /// let mut body = Vec::new();
    /// Protocol::HttpProtobuf.encode_metrics(&reader.collect(), &mut body);
    /// let request = proto::ExportMetricsServiceRequest::decode(&body[..]).unwrap();
    /// assert_eq!(request.resource_metrics[0].scope_metrics[0].metrics[0].name, "app.orders");
    /// ```
    pub fn encode_metrics(self, metrics: &ResourceMetrics, out: &mut Vec<u8>) {
        match self {
            Self::HttpProtobuf => protobuf::metrics_request(metrics, out),
            Self::HttpJson => json::metrics_request(metrics, out),
        }
    }

    /// Appends `batch` to `out` as one `ExportTraceServiceRequest`, spans grouped by resource and
    /// instrumentation scope.
    ///
    /// ```
    /// use prost::Message;
    /// use tracecore::export::InMemoryExporter;
    /// use tracecore::trace::TracerProvider;
    /// use tracecore_otlp::{Protocol, proto};
    ///
    /// let spans = InMemoryExporter::new();
    /// let provider = TracerProvider::builder().with_service_name("api").with_simple_exporter(spans.clone()).build();
    /// provider.tracer("doc").start("work").end();
    ///
    /// let mut body = Vec::new();
    /// Protocol::HttpProtobuf.encode(spans.finished_spans().as_slice(), &mut body);
    /// let request = proto::ExportTraceServiceRequest::decode(&body[..]).unwrap();
    /// assert_eq!(request.resource_spans[0].scope_spans[0].spans[0].name, "work");
    ///
    /// body.clear();
    /// Protocol::HttpJson.encode(spans.finished_spans().as_slice(), &mut body);
    /// assert!(String::from_utf8(body).unwrap().starts_with(r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}"#));
    /// ```
    pub fn encode(self, batch: &[SpanData], out: &mut Vec<u8>) {
        let groups = group(batch);
        match self {
            Self::HttpProtobuf => protobuf::request(&groups, out),
            Self::HttpJson => json::request(&groups, out),
        }
    }

    /// Appends `batch` to `out` as one `ExportLogsServiceRequest`, records grouped by resource
    /// and instrumentation scope.
    ///
    /// ```
    /// use prost::Message;
    /// use tracecore::logs::{InMemoryLogExporter, LogRecord, LoggerProvider, Severity};
    /// use tracecore_otlp::{Protocol, proto};
    ///
    /// let logs = InMemoryLogExporter::new();
    /// let provider = LoggerProvider::builder().with_service_name("api").with_simple_exporter(logs.clone()).build();
    /// provider.logger("doc").emit(LogRecord::new(Severity::INFO).with_body("ready"));
    ///
    /// let mut body = Vec::new();
    /// Protocol::HttpProtobuf.encode_logs(&logs.finished_records(), &mut body);
    /// let request = proto::ExportLogsServiceRequest::decode(&body[..]).unwrap();
    /// assert_eq!(request.resource_logs[0].scope_logs[0].log_records[0].severity_text, "INFO");
    /// ```
    pub fn encode_logs(self, batch: &[LogRecord], out: &mut Vec<u8>) {
        let groups = group(batch);
        match self {
            Self::HttpProtobuf => protobuf::logs_request(&groups, out),
            Self::HttpJson => json::logs_request(&groups, out),
        }
    }
}

/// What is grouped by resource and scope in a request: spans, log records.
trait Grouped {
    fn resource(&self) -> &Resource;
    fn scope(&self) -> &InstrumentationScope;
}

impl Grouped for SpanData {
    fn resource(&self) -> &Resource {
        &self.resource
    }
    fn scope(&self) -> &InstrumentationScope {
        &self.scope
    }
}

impl Grouped for LogRecord {
    fn resource(&self) -> &Resource {
        &self.resource
    }
    fn scope(&self) -> &InstrumentationScope {
        &self.scope
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Items of one resource, by scope.
struct ResourceGroup<'a, T = SpanData> {
    resource: &'a Resource,
    scopes: Vec<ScopeGroup<'a, T>>,
}

/// Items of one scope.
struct ScopeGroup<'a, T = SpanData> {
    scope: &'a InstrumentationScope,
    spans: Vec<&'a T>,
}

/// Groups `batch` by resource, then scope, each in order of first appearance. Services have a
/// handful of scopes, so a linear search beats hashing; clones of one resource compare by
/// pointer.
fn group<T: Grouped>(batch: &[T]) -> Vec<ResourceGroup<'_, T>> {
    let mut groups: Vec<ResourceGroup<'_, T>> = Vec::new();
    for item in batch {
        let at = match groups.iter().position(|g| g.resource == item.resource()) {
            Some(at) => at,
            None => {
                groups.push(ResourceGroup {
                    resource: item.resource(),
                    scopes: Vec::new(),
                });
                groups.len() - 1
            }
        };
        let scopes = &mut groups[at].scopes;
        match scopes.iter_mut().find(|s| s.scope == item.scope()) {
            Some(s) => s.spans.push(item),
            None => scopes.push(ScopeGroup {
                scope: item.scope(),
                spans: vec![item],
            }),
        }
    }
    groups
}

/// OTLP `SpanKind`.
fn kind(kind: SpanKind) -> u32 {
    match kind {
        SpanKind::Internal => 1,
        SpanKind::Server => 2,
        SpanKind::Client => 3,
        SpanKind::Producer => 4,
        SpanKind::Consumer => 5,
    }
}

/// OTLP `StatusCode` and message.
fn status(status: &Status) -> (u32, &str) {
    match status {
        Status::Unset => (0, ""),
        Status::Ok => (1, ""),
        Status::Error { description } => (2, description),
    }
}

/// `SpanFlags`: the W3C flags in bits 0-7, bit 8 "remoteness known", bit 9 "remote".
fn flags(trace_flags: u8, remote: bool) -> u32 {
    u32::from(trace_flags) | 0x100 | if remote { 0x200 } else { 0 }
}

/// Nanoseconds since the Unix epoch (0 before it).
fn unix_nanos(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// OTLP `AggregationTemporality`: `DELTA = 1`, `CUMULATIVE = 2`.
fn temporality(t: Temporality) -> u64 {
    match t {
        Temporality::Delta => 1,
        Temporality::Cumulative => 2,
    }
}
