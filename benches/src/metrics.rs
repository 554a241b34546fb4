//! One HTTP duration measurement with the server's attribute set (method, scheme, route, status,
//! protocol version): tracecore's HTTP instrument (a fixed key of interned values), a tracecore
//! histogram with the same five `KeyValue`s, and opentelemetry_sdk 0.33's histogram with them.

use std::borrow::Cow;
use std::hint::black_box;
use std::time::Instant;

use http::StatusCode;
use tracecore::http_span::{DURATION_BOUNDARIES, HttpMetrics, Side};

/// The server duration's attributes, the same five on both sides, built per record as a layer
/// would.
macro_rules! five_attributes {
    ($kv:path) => {
        [
            $kv("http.request.method", "GET"),
            $kv("url.scheme", "http"),
            $kv("http.route", "/items/{id}"),
            $kv("http.response.status_code", 200),
            $kv("network.protocol.version", "1.1"),
        ]
    };
}

pub struct Tracecore {
    pub http: HttpMetrics,
    pub histogram: tracecore::metrics::Histogram<f64>,
    pub reader: tracecore::metrics::ManualReader,
    _provider: tracecore::metrics::MeterProvider,
}

impl Tracecore {
    pub fn new() -> Self {
        let reader = tracecore::metrics::ManualReader::new();
        let provider = tracecore::metrics::MeterProvider::builder()
            .with_reader(reader.clone())
            .build();
        let meter = provider.meter("bench");
        let histogram = meter
            .f64_histogram("app.request.duration")
            .with_unit("s")
            .with_boundaries(DURATION_BOUNDARIES.to_vec())
            .unwrap()
            .build();
        Self {
            http: HttpMetrics::new(&meter),
            histogram,
            reader,
            _provider: provider,
        }
    }

    /// What `ServerLayer` does per request for its metric, past the span: start the measure
    /// (reading the clock the span shares), note the status, record at the end.
    #[inline(never)]
    pub fn http_record(&self, end: Instant) {
        if let Some(measure) = self.http_measure() {
            Self::http_finish(measure, end);
        }
    }

    /// A started measure (its clock read).
    pub fn http_measure(&self) -> Option<tracecore::http_span::HttpMeasure> {
        self.http.server(
            "GET",
            "http",
            Some(Cow::Borrowed("/items/{id}")),
            Some("1.1"),
            tracecore::http_span::MeasureOptions::NONE,
        )
    }

    /// The same record made in a sampled span: the bucket keeps it as its exemplar.
    #[inline(never)]
    pub fn http_finish_in_span(
        mut measure: tracecore::http_span::HttpMeasure,
        end: Instant,
        span: &tracecore::SpanContext,
    ) {
        measure.response(Side::Server, black_box(StatusCode::OK));
        measure.finish_in_span(end, Some(span));
    }

    /// The record itself: the status noted, the series found, the duration added.
    #[inline(never)]
    pub fn http_finish(mut measure: tracecore::http_span::HttpMeasure, end: Instant) {
        measure.response(Side::Server, black_box(StatusCode::OK));
        measure.finish(end);
    }

    /// The same five attributes through the general instrument API.
    #[inline(never)]
    pub fn histogram_record(&self) {
        self.histogram.record(
            black_box(0.0123),
            &five_attributes!(tracecore::KeyValue::new),
        );
    }
}

impl Default for Tracecore {
    fn default() -> Self {
        Self::new()
    }
}

pub struct Otel {
    pub histogram: opentelemetry::metrics::Histogram<f64>,
    _provider: opentelemetry_sdk::metrics::SdkMeterProvider,
}

impl Otel {
    pub fn new() -> Self {
        use opentelemetry::metrics::MeterProvider as _;
        let reader = opentelemetry_sdk::metrics::ManualReader::builder().build();
        let provider = opentelemetry_sdk::metrics::SdkMeterProvider::builder()
            .with_reader(reader)
            .build();
        let histogram = provider
            .meter("bench")
            .f64_histogram("http.server.request.duration")
            .with_unit("s")
            .with_boundaries(DURATION_BOUNDARIES.to_vec())
            .build();
        Self {
            histogram,
            _provider: provider,
        }
    }

    #[inline(never)]
    pub fn record(&self) {
        self.histogram.record(
            black_box(0.0123),
            &five_attributes!(opentelemetry::KeyValue::new),
        );
    }
}

impl Default for Otel {
    fn default() -> Self {
        Self::new()
    }
}

/// Nanoseconds per record with `threads` threads recording into the same series at once.
pub fn ns_per_record(threads: usize, n: u64, op: impl Fn() + Sync) -> f64 {
    let start = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..n {
                    op();
                }
            });
        }
    });
    start.elapsed().as_nanos() as f64 / n as f64
}
