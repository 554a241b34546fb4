//! The metrics core: aggregation, temporality, start times, the cardinality limit, readers, and
//! what bad input does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tracecore::KeyValue;
use tracecore::metrics::{
    InMemoryMetricExporter, ManualReader, MeterProvider, MetricData, Number, OVERFLOW_ATTRIBUTE,
    PeriodicReader, Temporality,
};

fn provider() -> (MeterProvider, ManualReader) {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_service_name("test")
        .with_reader(reader.clone())
        .build();
    (provider, reader)
}

#[test]
fn cumulative_sums_keep_their_start_and_grow() {
    let (provider, reader) = provider();
    let counter = provider.meter("m").u64_counter("jobs").build();
    counter.add(2, &[KeyValue::new("queue", "a")]);
    let first = reader.collect();
    counter.add(3, &[KeyValue::new("queue", "a")]);
    counter.add(1, &[KeyValue::new("queue", "b")]);
    let second = reader.collect();

    let p1 = &first.metric("jobs").unwrap().data.number_points()[0];
    let data = &second.metric("jobs").unwrap().data;
    let MetricData::Sum {
        temporality,
        monotonic,
        ..
    } = data
    else {
        panic!("{data:?}")
    };
    assert_eq!((*temporality, *monotonic), (Temporality::Cumulative, true));
    let points = data.number_points();
    let a = points
        .iter()
        .find(|p| p.attributes == [KeyValue::new("queue", "a")])
        .unwrap();
    let b = points
        .iter()
        .find(|p| p.attributes == [KeyValue::new("queue", "b")])
        .unwrap();
    assert_eq!((a.value, b.value), (Number::I64(5), Number::I64(1)));
    assert_eq!(
        a.start_time, p1.start_time,
        "cumulative points repeat the series' start"
    );
    assert!(a.time > p1.time);
    assert!(
        b.start_time > a.start_time,
        "a series starts at its first measurement"
    );
}

#[test]
fn delta_temporality_advances_the_start_and_reports_only_what_changed() {
    let exporter = InMemoryMetricExporter::with_temporality(Temporality::Delta);
    let provider = MeterProvider::builder()
        .with_reader(PeriodicReader::new(exporter.clone()).with_interval(Duration::from_secs(3600)))
        .build();
    let meter = provider.meter("m");
    let counter = meter.u64_counter("requests").build();
    let histogram = meter
        .f64_histogram("latency")
        .with_boundaries(vec![1.0, 2.0])
        .unwrap()
        .build();
    let in_flight = meter.i64_up_down_counter("in_flight").build();
    counter.add(4, &[]);
    histogram.record(0.5, &[]);
    histogram.record(1.5, &[]);
    in_flight.add(3, &[]);
    provider.force_flush(Duration::from_secs(5)).unwrap();
    counter.add(1, &[]);
    histogram.record(3.0, &[]);
    in_flight.add(-1, &[]);
    provider.force_flush(Duration::from_secs(5)).unwrap();
    in_flight.add(1, &[]);
    provider.force_flush(Duration::from_secs(5)).unwrap();

    let exported = exporter.exported();
    assert_eq!(exported.len(), 3);
    let sum = |i: usize, name: &str| {
        exported[i]
            .metric(name)
            .map(|m| m.data.number_points()[0].clone())
    };
    let (c1, c2) = (sum(0, "requests").unwrap(), sum(1, "requests").unwrap());
    assert_eq!((c1.value, c2.value), (Number::I64(4), Number::I64(1)));
    assert_eq!(
        c2.start_time, c1.time,
        "a delta point starts where the last one ended"
    );
    assert!(sum(2, "requests").is_none(), "nothing new: no point");
    let h = |i: usize| {
        exported[i]
            .metric("latency")
            .unwrap()
            .data
            .histogram_points()[0]
            .clone()
    };
    assert_eq!((h(0).count, h(0).bucket_counts), (2, vec![1, 1, 0]));
    assert_eq!(
        (h(1).count, h(1).sum, h(1).bucket_counts),
        (1, 3.0, vec![0, 0, 1])
    );
    assert_eq!(h(1).min, None, "delta points carry no min/max");
    let MetricData::Sum { temporality, .. } = &exported[0].metric("in_flight").unwrap().data else {
        panic!()
    };
    assert_eq!(
        *temporality,
        Temporality::Cumulative,
        "up-down counters stay cumulative"
    );
    assert_eq!(sum(1, "in_flight").unwrap().value, Number::I64(2));
    assert_eq!(sum(2, "in_flight").unwrap().value, Number::I64(3));
}

#[test]
fn histograms_keep_buckets_inclusive_at_the_top_with_min_max_and_sum() {
    let (provider, reader) = provider();
    let h = provider
        .meter("m")
        .f64_histogram("size")
        .with_boundaries(vec![10.0, 100.0])
        .unwrap()
        .build();
    for v in [1.0, 10.0, 10.5, 100.0, 1000.0] {
        h.record(v, &[]);
    }
    let collected = reader.collect();
    let p = &collected.metric("size").unwrap().data.histogram_points()[0];
    assert_eq!(p.bucket_counts, [2, 2, 1]);
    assert_eq!(p.count, 5);
    assert_eq!(p.sum, 1121.5);
    assert_eq!((p.min, p.max), (Some(1.0), Some(1000.0)));
    assert_eq!(&*p.bounds, &[10.0, 100.0]);
}

#[test]
fn default_boundaries_apply_when_none_are_given() {
    let (provider, reader) = provider();
    let h = provider.meter("m").f64_histogram("x").build();
    h.record(7.0, &[]);
    let collected = reader.collect();
    let p = &collected.metric("x").unwrap().data.histogram_points()[0];
    assert_eq!(p.bounds.len(), 15);
    assert_eq!(p.bucket_counts[2], 1, "(5, 10]");
}

#[test]
fn the_2001st_attribute_set_goes_to_the_overflow_series_and_nothing_is_lost() {
    let (provider, reader) = provider();
    let counter = provider.meter("m").u64_counter("hits").build();
    for i in 0..2500 {
        counter.add(1, &[KeyValue::new("user", i64::from(i))]);
    }
    counter.add(1, &[KeyValue::new("user", 0)]);
    let collected = reader.collect();
    let points = collected.metric("hits").unwrap().data.number_points();
    assert_eq!(points.len(), 2001);
    let overflow = points
        .iter()
        .find(|p| p.attributes == [KeyValue::new(OVERFLOW_ATTRIBUTE, true)])
        .unwrap();
    assert_eq!(overflow.value, Number::I64(500));
    let total: f64 = points.iter().map(|p| p.value.as_f64()).sum();
    assert_eq!(total, 2501.0, "every measurement in exactly one series");
    let first = points
        .iter()
        .find(|p| p.attributes == [KeyValue::new("user", 0)])
        .unwrap();
    assert_eq!(
        first.value,
        Number::I64(2),
        "sets seen before the overflow keep recording"
    );
}

#[test]
fn many_threads_recording_at_once_sum_exactly() {
    let (provider, reader) = provider();
    let meter = provider.meter("m");
    let counter = Arc::new(meter.u64_counter("n").build());
    let float = Arc::new(meter.f64_counter("f").build());
    let h = Arc::new(
        meter
            .f64_histogram("h")
            .with_boundaries(vec![0.5])
            .unwrap()
            .build(),
    );
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let (counter, float, h) = (counter.clone(), float.clone(), h.clone());
            std::thread::spawn(move || {
                for i in 0..10_000 {
                    let attrs = [
                        KeyValue::new("shard", i64::from(i % 4)),
                        KeyValue::new("t", "x"),
                    ];
                    counter.add(1, &attrs);
                    float.add(0.5, &attrs);
                    h.record(f64::from(t % 2), &[]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let collected = reader.collect();
    let total = |name: &str| -> f64 {
        collected
            .metric(name)
            .unwrap()
            .data
            .number_points()
            .iter()
            .map(|p| p.value.as_f64())
            .sum()
    };
    assert_eq!(total("n"), 80_000.0);
    assert_eq!(total("f"), 40_000.0);
    assert_eq!(collected.metric("n").unwrap().data.len(), 4);
    let p = &collected.metric("h").unwrap().data.histogram_points()[0];
    assert_eq!(
        (p.count, p.bucket_counts.clone(), p.sum),
        (80_000, vec![40_000, 40_000], 40_000.0)
    );
}

#[test]
fn attribute_order_does_not_make_another_series() {
    let (provider, reader) = provider();
    let c = provider.meter("m").u64_counter("c").build();
    c.add(1, &[KeyValue::new("a", 1), KeyValue::new("b", 2)]);
    c.add(1, &[KeyValue::new("b", 2), KeyValue::new("a", 1)]);
    let collected = reader.collect();
    let points = collected.metric("c").unwrap().data.number_points();
    assert_eq!(points.len(), 1);
    assert_eq!(
        points[0].attributes,
        [KeyValue::new("a", 1), KeyValue::new("b", 2)]
    );
}

#[test]
fn gauges_keep_the_last_value() {
    let (provider, reader) = provider();
    let g = provider.meter("m").f64_gauge("temperature").build();
    g.record(20.5, &[]);
    g.record(19.0, &[]);
    let collected = reader.collect();
    assert_eq!(
        collected
            .metric("temperature")
            .unwrap()
            .data
            .number_points()[0]
            .value,
        Number::F64(19.0)
    );
}

#[test]
fn bad_input_is_refused_clearly_and_counted() {
    let (provider, reader) = provider();
    let meter = provider.meter("m");
    let bad = meter.u64_counter("1-starts-with-a-digit").build();
    assert!(!bad.is_enabled());
    bad.add(1, &[]);
    let error = meter
        .f64_histogram("h")
        .with_boundaries(vec![1.0, 1.0, 2.0])
        .expect_err("not strictly increasing");
    assert!(error.to_string().contains("[1.0, 1.0, 2.0]"), "{error}");
    let h = meter.f64_histogram("ok").build();
    let before = tracecore::diag::counts().invalid_measurements;
    h.record(f64::NAN, &[]);
    h.record(f64::INFINITY, &[]);
    meter.f64_counter("neg").build().add(-1.0, &[]);
    assert_eq!(tracecore::diag::counts().invalid_measurements - before, 3);
    assert!(
        reader.collect().metric("ok").is_none(),
        "no valid measurement, no point"
    );
    assert!(reader.collect().metric("1-starts-with-a-digit").is_none());
}

#[test]
fn a_disabled_provider_records_nothing_and_starts_no_thread() {
    let exporter = InMemoryMetricExporter::new();
    let provider = MeterProvider::builder()
        .with_disabled(true)
        .with_reader(PeriodicReader::new(exporter.clone()))
        .build();
    let c = provider.meter("m").u64_counter("c").build();
    assert!(!c.is_enabled());
    c.add(1, &[]);
    provider.force_flush(Duration::from_millis(100)).unwrap();
    assert!(exporter.exported().is_empty());
}

#[derive(Debug)]
struct Hanging;

impl tracecore::metrics::MetricExporter for Hanging {
    fn export(
        &mut self,
        _: &tracecore::metrics::ResourceMetrics,
        _: Duration,
    ) -> Result<(), tracecore::export::ExportError> {
        std::thread::sleep(Duration::from_secs(2));
        Ok(())
    }
}

#[test]
fn flush_and_shutdown_never_hang_on_a_slow_exporter() {
    let provider = MeterProvider::builder()
        .with_reader(PeriodicReader::new(Hanging).with_interval(Duration::from_secs(3600)))
        .build();
    provider.meter("m").u64_counter("c").build().add(1, &[]);
    let start = Instant::now();
    let flush = provider.force_flush(Duration::from_millis(200));
    assert!(flush.unwrap_err().is_timeout());
    let shutdown = provider.shutdown(Duration::from_millis(200));
    assert!(shutdown.is_err());
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    assert!(
        provider.shutdown(Duration::from_millis(10)).is_err(),
        "a second shutdown is an error"
    );
}

#[test]
fn the_periodic_reader_exports_on_its_interval() {
    let exporter = InMemoryMetricExporter::new();
    let provider = MeterProvider::builder()
        .with_reader(PeriodicReader::new(exporter.clone()).with_interval(Duration::from_millis(20)))
        .build();
    provider.meter("m").u64_counter("c").build().add(1, &[]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while exporter.exported().len() < 2 {
        assert!(Instant::now() < deadline, "no periodic export in 10 s");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(provider.exported_points() >= 2);
    provider.shutdown(Duration::from_secs(5)).unwrap();
}

#[test]
fn quantiles_interpolate_inside_the_bucket_narrowed_to_min_and_max() {
    let (provider, reader) = provider();
    let h = provider
        .meter("m")
        .f64_histogram("d")
        .with_boundaries(vec![1.0, 2.0, 4.0])
        .unwrap()
        .build();
    for v in [1.5, 1.5, 3.0, 3.0] {
        h.record(v, &[]);
    }
    let collected = reader.collect();
    let p = &collected.metric("d").unwrap().data.histogram_points()[0];
    // Half the measurements are in (1, 2]: the median is the top of that bucket.
    assert_eq!(p.quantile(0.5), Some(2.0));
    // The rest are in (2, 4], narrowed to max 3: p99 is near 3, never past it.
    let p99 = p.quantile(0.99).unwrap();
    assert!(p99 > 2.9 && p99 <= 3.0, "{p99}");
    assert_eq!(p.quantile(0.0), Some(1.5), "the bottom is the min");
}

mod exemplars {
    use super::*;
    use tracecore::metrics::ExemplarFilter;
    use tracecore::{Context, SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    fn in_span<T>(sampled: bool, f: impl FnOnce() -> T) -> (T, SpanContext) {
        let sc = SpanContext::new(
            TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).unwrap(),
            SpanId::from_u64(0x00f0_67aa_0ba9_02b7).unwrap(),
            if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::NONE
            },
            true,
            TraceState::default(),
        );
        let _guard = Context::new().with_span_context(sc.clone()).attach();
        (f(), sc)
    }

    fn filtered(filter: Option<ExemplarFilter>) -> (MeterProvider, ManualReader) {
        let reader = ManualReader::new();
        let mut b = MeterProvider::builder().with_reader(reader.clone());
        if let Some(filter) = filter {
            b = b.with_exemplar_filter(filter);
        }
        (b.build(), reader)
    }

    #[test]
    fn a_measurement_in_a_sampled_span_is_its_buckets_exemplar() {
        let (provider, reader) = filtered(None);
        let h = provider
            .meter("m")
            .f64_histogram("d")
            .with_boundaries(vec![1.0])
            .unwrap()
            .build();
        h.record(0.5, &[]);
        let ((), sc) = in_span(true, || h.record(0.7, &[]));
        in_span(false, || h.record(3.0, &[]));
        let collected = reader.collect();
        let p = &collected.metric("d").unwrap().data.histogram_points()[0];
        assert_eq!(p.exemplars.len(), 1, "trace_based: only the sampled span's");
        let e = &p.exemplars[0];
        assert_eq!(
            (e.value, e.trace_id, e.span_id),
            (0.7, sc.trace_id(), sc.span_id())
        );
        assert!(e.time <= std::time::SystemTime::now());
    }

    #[test]
    fn the_filter_decides_which_measurements_qualify() {
        let (provider, reader) = filtered(Some(ExemplarFilter::AlwaysOn));
        let h = provider
            .meter("m")
            .f64_histogram("d")
            .with_boundaries(vec![1.0])
            .unwrap()
            .build();
        in_span(false, || h.record(3.0, &[]));
        assert_eq!(
            reader
                .collect()
                .metric("d")
                .unwrap()
                .data
                .histogram_points()[0]
                .exemplars
                .len(),
            1
        );

        let (provider, reader) = filtered(Some(ExemplarFilter::AlwaysOff));
        let h = provider.meter("m").f64_histogram("d").build();
        in_span(true, || h.record(3.0, &[]));
        assert!(
            reader
                .collect()
                .metric("d")
                .unwrap()
                .data
                .histogram_points()[0]
                .exemplars
                .is_empty()
        );
    }

    #[test]
    fn one_exemplar_per_bucket_the_last_one_offered() {
        let (provider, reader) = filtered(None);
        let h = provider
            .meter("m")
            .f64_histogram("d")
            .with_boundaries(vec![1.0])
            .unwrap()
            .build();
        in_span(true, || {
            h.record(0.1, &[]);
            h.record(0.2, &[]);
            h.record(5.0, &[]);
        });
        let collected = reader.collect();
        let values: Vec<f64> = collected.metric("d").unwrap().data.histogram_points()[0]
            .exemplars
            .iter()
            .map(|e| e.value)
            .collect();
        assert_eq!(values, [0.2, 5.0]);
    }

    #[test]
    fn a_delta_point_carries_the_exemplars_of_its_interval_only() {
        let exporter = InMemoryMetricExporter::with_temporality(Temporality::Delta);
        let provider = MeterProvider::builder()
            .with_reader(
                PeriodicReader::new(exporter.clone()).with_interval(Duration::from_secs(3600)),
            )
            .build();
        let h = provider.meter("m").f64_histogram("d").build();
        in_span(true, || h.record(1.0, &[]));
        provider.force_flush(Duration::from_secs(5)).unwrap();
        h.record(2.0, &[]);
        provider.force_flush(Duration::from_secs(5)).unwrap();
        let exported = exporter.exported();
        let exemplars = |i: usize| {
            exported[i].metric("d").unwrap().data.histogram_points()[0]
                .exemplars
                .len()
        };
        assert_eq!((exemplars(0), exemplars(1)), (1, 0));
    }
}

/// Fails its first `failures` exports, then accepts.
#[derive(Debug)]
struct FailsFirst {
    failures: usize,
}

impl tracecore::metrics::MetricExporter for FailsFirst {
    fn export(
        &mut self,
        _: &tracecore::metrics::ResourceMetrics,
        _: Duration,
    ) -> Result<(), tracecore::export::ExportError> {
        if self.failures > 0 {
            self.failures -= 1;
            return Err(tracecore::export::ExportError::new("refused"));
        }
        Ok(())
    }
}

#[test]
fn every_collected_point_is_counted_exported_or_failed() {
    let provider = MeterProvider::builder()
        .with_reader(
            PeriodicReader::new(FailsFirst { failures: 2 })
                .with_interval(Duration::from_secs(3600)),
        )
        .build();
    let meter = provider.meter("m");
    let counter = meter.u64_counter("c").build();
    counter.add(1, &[KeyValue::new("k", "a")]);
    counter.add(1, &[KeyValue::new("k", "b")]);
    meter.f64_histogram("h").build().record(0.5, &[]);
    // Three series each time: two collections refused, the third accepted.
    for _ in 0..3 {
        provider.force_flush(Duration::from_secs(10)).unwrap();
    }
    assert_eq!(provider.failed_exports(), 2);
    assert_eq!(provider.failed_points(), 6);
    assert_eq!(provider.exported_points(), 3);
}

#[test]
fn http_durations_land_in_their_series_however_the_route_is_held_and_interleaved() {
    use std::borrow::Cow;
    use tracecore::http_span::{HttpMetrics, MeasureOptions, Side};

    let (provider, reader) = provider();
    let http = HttpMetrics::new(&provider.meter("http"));
    let routes = ["/a", "/b", "/c/{id}", "/d", "/e/{x}/f", "/g"];
    // More statuses than a handle remembers series: keys that differ only in their status
    // meet in its slots.
    let statuses = [
        200u16, 201, 204, 301, 302, 304, 400, 401, 403, 404, 500, 503,
    ];
    let mut expected = std::collections::HashMap::<(String, i64), u64>::new();
    let start = Instant::now();
    for i in 0..600usize {
        let route = routes[i % routes.len()];
        let status = statuses[i / 5 % statuses.len()];
        // Every third request holds its route as an owned string of the same text: it is the
        // same series as the static one.
        let held = if i % 3 == 0 {
            Cow::Owned(route.to_owned())
        } else {
            Cow::Borrowed(route)
        };
        let mut measure = http
            .server("GET", "http", Some(held), Some("1.1"), MeasureOptions::NONE)
            .unwrap();
        measure.response(Side::Server, http::StatusCode::from_u16(status).unwrap());
        measure.finish(start + Duration::from_millis(1));
        *expected
            .entry((route.to_owned(), i64::from(status)))
            .or_default() += 1;
    }
    let collected = reader.collect();
    let points = collected
        .metric("http.server.request.duration")
        .unwrap()
        .data
        .histogram_points();
    let mut seen = std::collections::HashMap::new();
    for p in points {
        let get = |key: &str| p.attributes.iter().find(|kv| kv.key.as_str() == key);
        let route = get("http.route").unwrap().value.to_string();
        let status = match get("http.response.status_code").unwrap().value {
            tracecore::Value::I64(s) => s,
            ref other => panic!("{other:?}"),
        };
        assert!(
            seen.insert((route, status), p.count).is_none(),
            "one series per route and status: {:?}",
            p.attributes
        );
    }
    assert_eq!(seen, expected);
}
