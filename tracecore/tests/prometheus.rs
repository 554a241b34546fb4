//! Prometheus exposition of known measurements: the text format and OpenMetrics, line by line.

use tracecore::metrics::prometheus::{Format, render};
use tracecore::metrics::{ManualReader, MeterProvider};
use tracecore::trace::InstrumentationScope;
use tracecore::{Context, KeyValue, SpanContext, SpanId, TraceFlags, TraceId, TraceState};

fn recorded() -> (ManualReader, MeterProvider) {
    let reader = ManualReader::new();
    let provider = MeterProvider::builder()
        .with_service_name("shop")
        .with_reader(reader.clone())
        .build();
    let meter = provider.meter_with_scope(InstrumentationScope::new("tracecore", Some("0.1.0")));
    let orders = meter
        .u64_counter("app.orders")
        .with_unit("{order}")
        .with_description("Orders \"taken\"\\n")
        .build();
    orders.add(3, &[KeyValue::new("note", "say \"hi\"\\ then\nbye")]);
    let active = meter
        .i64_up_down_counter("http.server.active_requests")
        .with_unit("{request}")
        .build();
    active.add(2, &[]);
    let duration = meter
        .f64_histogram("http.server.request.duration")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .unwrap()
        .build();
    let attrs = [
        KeyValue::new("http.route", "/orders/{id}"),
        KeyValue::new("http.response.status_code", 200),
    ];
    duration.record(0.05, &attrs);
    let sc = SpanContext::new(
        TraceId::from_u128(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736).unwrap(),
        SpanId::from_u64(0x00f0_67aa_0ba9_02b7).unwrap(),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    {
        let _in_span = Context::new().with_span_context(sc).attach();
        duration.record(0.5, &attrs);
    }
    duration.record(2.0, &attrs);
    (reader, provider)
}

const SCOPE: &str = r#"otel_scope_name="tracecore",otel_scope_version="0.1.0""#;

#[test]
fn the_text_format_translates_names_units_and_labels() {
    let (reader, _provider) = recorded();
    let text = render(&reader.collect(), Format::Text);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# HELP target_info Target metadata");
    assert_eq!(lines[1], "# TYPE target_info gauge");
    assert!(
        lines[2].starts_with(r#"target_info{service_name="shop","#),
        "{}",
        lines[2]
    );
    let expected = [
        "# TYPE app_orders_total counter".to_owned(),
        r#"# HELP app_orders_total Orders "taken"\\n"#.to_owned(),
        format!(r#"app_orders_total{{note="say \"hi\"\\ then\nbye",{SCOPE}}} 3"#),
        "# TYPE http_server_active_requests gauge".to_owned(),
        format!("http_server_active_requests{{{SCOPE}}} 2"),
        "# TYPE http_server_request_duration_seconds histogram".to_owned(),
        format!(
            r#"http_server_request_duration_seconds_bucket{{http_response_status_code="200",http_route="/orders/{{id}}",{SCOPE},le="0.1"}} 1"#
        ),
        format!(
            r#"http_server_request_duration_seconds_bucket{{http_response_status_code="200",http_route="/orders/{{id}}",{SCOPE},le="1"}} 2"#
        ),
        format!(
            r#"http_server_request_duration_seconds_bucket{{http_response_status_code="200",http_route="/orders/{{id}}",{SCOPE},le="+Inf"}} 3"#
        ),
        format!(
            r#"http_server_request_duration_seconds_sum{{http_response_status_code="200",http_route="/orders/{{id}}",{SCOPE}}} 2.55"#
        ),
        format!(
            r#"http_server_request_duration_seconds_count{{http_response_status_code="200",http_route="/orders/{{id}}",{SCOPE}}} 3"#
        ),
    ];
    assert_eq!(
        &lines[3..],
        expected
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        "{text}"
    );
    assert!(!text.contains("trace_id"), "no exemplars in text 0.0.4");
}

#[test]
fn openmetrics_adds_units_exemplars_and_eof() {
    let (reader, _provider) = recorded();
    let text = render(&reader.collect(), Format::OpenMetrics);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "# TYPE target info");
    assert!(lines[2].starts_with(r#"target_info{service_name="shop","#));
    assert_eq!(
        lines[3], "# TYPE app_orders counter",
        "the family has no _total"
    );
    assert_eq!(lines[4], r#"# HELP app_orders Orders \"taken\"\\n"#);
    assert!(lines[5].starts_with("app_orders_total{"), "{}", lines[5]);
    assert!(lines.contains(&"# UNIT http_server_request_duration_seconds seconds"));
    let bucket = |le: &str| {
        *lines
            .iter()
            .find(|l| l.contains(&format!("le=\"{le}\"")))
            .unwrap_or_else(|| panic!("no le={le} in {text}"))
    };
    assert!(
        bucket("0.1").ends_with("} 1"),
        "no exemplar outside a span: {}",
        bucket("0.1")
    );
    let with_exemplar = bucket("1.0");
    let (sample, exemplar) = with_exemplar.split_once(" # ").unwrap();
    assert!(sample.ends_with("} 2"), "{with_exemplar}");
    assert!(
        exemplar.starts_with(
            r#"{trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="00f067aa0ba902b7"} 0.5 "#
        ),
        "{exemplar}"
    );
    assert!(bucket("+Inf").ends_with("} 3"));
    assert_eq!(lines.last(), Some(&"# EOF"));
}
