//! Log lines from tracing-subscriber's fmt layer carry the ids of the span they were written in,
//! in the Full, Compact and Json formats, also in a handler under `ServerLayer` with no `tracing`
//! span at all.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::io;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::get;
use tracecore::trace::TracerProvider;
use tracecore::{SpanId, TraceId};
use tracecore_tower::ServerLayer;
use tracecore_tracing::fmt::TraceIdFormat;
use tracecore_tracing::{TracecoreLayer, TracingSpanExt};
use tracing::dispatcher::{self, Dispatch};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;

use support::{http_client, recording_provider, serve, wait_for_spans};

/// What the fmt layer wrote, line by line.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    fn line_with(&self, needle: &str) -> String {
        self.lines()
            .into_iter()
            .find(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("no line with {needle:?} in {:?}", self.lines()))
    }
}

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Full,
    Compact,
    Json,
}

fn subscriber(provider: &TracerProvider, format: Format, out: &Captured) -> Dispatch {
    let base = tracing_subscriber::fmt::layer()
        .with_writer(out.clone())
        .with_ansi(false);
    let registry = tracing_subscriber::registry().with(TracecoreLayer::new(provider.tracer("t")));
    match format {
        Format::Full => registry
            .with(base.map_event_format(TraceIdFormat::new))
            .into(),
        Format::Compact => registry
            .with(base.compact().map_event_format(TraceIdFormat::new))
            .into(),
        Format::Json => registry
            .with(base.json().map_event_format(TraceIdFormat::new))
            .into(),
    }
}

/// The trace and span ids a line carries, `None` if it carries none.
fn ids_on(line: &str, format: Format) -> Option<(String, String)> {
    match format {
        Format::Json => {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let trace = v.get("trace_id")?.as_str()?.to_owned();
            Some((trace, v["span_id"].as_str().unwrap().to_owned()))
        }
        Format::Full | Format::Compact => {
            let field = |name: &str| {
                line.split(' ')
                    .find_map(|w| w.strip_prefix(name))
                    .map(str::to_owned)
            };
            Some((field("trace_id=")?, field("span_id=")?))
        }
    }
}

fn ids_of(span: &tracing::Span) -> (String, String) {
    let cx = span.context();
    let sc = cx.span_context().unwrap();
    (sc.trace_id().to_string(), sc.span_id().to_string())
}

fn lines_carry_the_ids_of_their_span(format: Format) {
    let (provider, _exporter) = recording_provider("app");
    let out = Captured::default();
    let (outer_ids, inner_ids) =
        dispatcher::with_default(&subscriber(&provider, format, &out), || {
            tracing::info!("before any trace");
            let outer = tracing::info_span!("outer");
            let inner = {
                let _o = outer.enter();
                tracing::info!(step = 1, "in outer");
                let inner = tracing::info_span!("inner");
                inner.in_scope(|| tracing::warn!("in inner"));
                tracing::info!("back in outer");
                inner
            };
            tracing::info!("after the trace");
            (ids_of(&outer), ids_of(&inner))
        });
    assert_eq!(outer_ids.0, inner_ids.0, "one trace");
    assert_ne!(outer_ids.1, inner_ids.1);
    let on = |needle: &str| ids_on(&out.line_with(needle), format);
    assert_eq!(on("in outer"), Some(outer_ids.clone()), "{format:?}");
    assert_eq!(on("in inner"), Some(inner_ids), "{format:?}");
    assert_eq!(on("back in outer"), Some(outer_ids), "{format:?}");
    assert_eq!(on("before any trace"), None);
    assert_eq!(on("after the trace"), None);
    let untouched = out.line_with("before any trace");
    assert!(!untouched.contains("trace_id"), "{untouched}");
    if let Format::Full | Format::Compact = format {
        let line = out.line_with("in outer");
        assert!(
            line.ends_with(&format!("span_id={}", ids_on(&line, format).unwrap().1)),
            "{line}"
        );
        assert!(
            line.contains("step=1"),
            "the event's own fields are kept: {line}"
        );
    }
}

#[test]
fn full_lines_carry_the_ids() {
    lines_carry_the_ids_of_their_span(Format::Full);
}

#[test]
fn compact_lines_carry_the_ids() {
    lines_carry_the_ids_of_their_span(Format::Compact);
}

#[test]
fn json_lines_carry_the_ids_as_top_level_keys() {
    lines_carry_the_ids_of_their_span(Format::Json);
    let (provider, _exporter) = recording_provider("app");
    let out = Captured::default();
    dispatcher::with_default(&subscriber(&provider, Format::Json, &out), || {
        let _s = tracing::info_span!("s").entered();
        tracing::info!(answer = 42, "json");
    });
    let v: serde_json::Value = serde_json::from_str(&out.line_with("json")).unwrap();
    assert_eq!(v["fields"]["answer"], 42);
    assert_eq!(v["level"], "INFO");
    assert!(v["trace_id"].as_str().unwrap().parse::<TraceId>().is_ok());
    assert!(v["span_id"].as_str().unwrap().parse::<SpanId>().is_ok());
}

#[test]
fn a_coloured_line_keeps_its_colours_and_ends_with_the_ids() {
    let (provider, _exporter) = recording_provider("app");
    let out = Captured::default();
    let coloured = tracing_subscriber::fmt::format::Format::default().with_ansi(true);
    let dispatch: Dispatch = tracing_subscriber::registry()
        .with(TracecoreLayer::new(provider.tracer("t")))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(out.clone())
                .with_ansi(true)
                .event_format(TraceIdFormat::new(coloured)),
        )
        .into();
    let ids = dispatcher::with_default(&dispatch, || {
        let span = tracing::info_span!("checkout");
        span.in_scope(|| tracing::info!("order accepted"));
        ids_of(&span)
    });
    let line = out.line_with("order accepted");
    assert!(
        line.contains("\x1b["),
        "the format's colours are kept: {line:?}"
    );
    assert!(
        line.ends_with(&format!(" trace_id={} span_id={}", ids.0, ids.1)),
        "the ids end the line, as on a plain one: {line:?}"
    );
}

#[test]
fn an_explicit_parent_gives_its_ids() {
    let (provider, _exporter) = recording_provider("app");
    let out = Captured::default();
    let (a_ids, b_ids) =
        dispatcher::with_default(&subscriber(&provider, Format::Compact, &out), || {
            let a = tracing::info_span!("a");
            let a_ids = ids_of(&a);
            let b = tracing::info_span!("b").entered();
            tracing::info!(parent: &a, "to a");
            tracing::info!(parent: None, "to nobody");
            (a_ids, ids_of(&b))
        });
    assert_eq!(ids_on(&out.line_with("to a"), Format::Compact), Some(a_ids));
    assert_ne!(ids_on(&out.line_with("to a"), Format::Compact), Some(b_ids));
    assert_eq!(ids_on(&out.line_with("to nobody"), Format::Compact), None);
}

#[test]
fn a_handler_under_server_layer_logs_with_the_server_spans_ids() {
    let (provider, exporter) = recording_provider("app");
    let out = Captured::default();
    let dispatch = subscriber(&provider, Format::Json, &out);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _default = dispatcher::set_default(&dispatch);
    rt.block_on(async {
        let app = Router::new()
            .route(
                "/",
                get(|| async {
                    tracing::info!("handling");
                    "ok"
                }),
            )
            .layer(ServerLayer::new(provider.tracer("server")));
        let url = format!("http://{}/", serve(app).await);
        let response = http_client()
            .get(url)
            .header(
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let spans = wait_for_spans(&exporter, 1).await;
        let server = spans.named("GET /");
        let ids = ids_on(&out.line_with("handling"), Format::Json).unwrap();
        assert_eq!(ids.0, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(ids.1, server.span_context.span_id().to_string());
        assert_eq!(
            server.events[0].name, "handling",
            "the log line is also a span event"
        );
    });
}
