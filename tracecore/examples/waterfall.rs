//! Prints a trace as a waterfall: `cargo run -p tracecore --example waterfall`.

use std::time::Duration;

use tracecore::export::ConsoleExporter;
use tracecore::trace::{SpanKind, Status, TracerProvider};
use tracecore::{Context, KeyValue};

fn main() {
    let provider = TracerProvider::builder()
        .with_service_name("checkout")
        .with_simple_exporter(ConsoleExporter::new())
        .build();
    let tracer = provider.tracer("example");

    let request = tracer
        .span_builder("POST /orders")
        .with_kind(SpanKind::Server)
        .start_with_context(&Context::new());
    let _in_request = request.context(&Context::new()).attach();

    tracer.in_span("reserve stock", |cx| {
        cx.span().set_attribute(KeyValue::new("items", 3));
        std::thread::sleep(Duration::from_millis(4));
    });
    tracer.in_span("charge card", |cx| {
        std::thread::sleep(Duration::from_millis(6));
        cx.span().set_status(Status::error("card declined"));
    });
    request.set_attribute(KeyValue::new("http.response.status_code", 402));
    drop(_in_request);
    request.end();
}
