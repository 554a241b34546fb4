//! Rendering traces as a waterfall: an indented tree with a timing bar per span.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::trace::{SpanData, SpanKind, Status};
use crate::{SpanId, TraceId, semconv};

/// How a waterfall looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaterfallOptions {
    /// Width of the timing bar, in characters.
    pub bar_width: usize,
    /// ANSI colours (errors red, kinds and bars coloured). Off, it reads the same.
    pub color: bool,
}

impl Default for WaterfallOptions {
    fn default() -> Self {
        Self {
            bar_width: 40,
            color: false,
        }
    }
}

impl WaterfallOptions {
    /// Options with colour on or off.
    #[must_use]
    pub fn with_color(mut self, color: bool) -> Self {
        self.color = color;
        self
    }

    /// Options with a bar `width` characters wide (at least 10).
    #[must_use]
    pub fn with_bar_width(mut self, width: usize) -> Self {
        self.bar_width = width.max(10);
        self
    }
}

const RED: &str = "\x1b[31m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const BLUE: &str = "\x1b[34m";
const MAGENTA: &str = "\x1b[35m";
const DIM: &str = "\x1b[2m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

/// Renders `spans` as one waterfall per trace, traces in order of their first start.
///
/// Each line shows the service, the kind, the name indented under its parent, the HTTP status
/// code with the span status, the duration, and a bar placed by start time and sized by
/// duration on the trace's timeline. Spans whose parent is not among `spans` start a tree of
/// their own.
///
/// ```
/// use tracecore::export::{InMemoryExporter, WaterfallOptions, render_waterfall};
/// use tracecore::trace::{SpanKind, TracerProvider};
/// use tracecore::Context;
///
/// let exporter = InMemoryExporter::new();
/// let provider = TracerProvider::builder().with_service_name("shop").with_simple_exporter(exporter.clone()).build();
/// let tracer = provider.tracer("doc");
/// let root = tracer.span_builder("GET /cart").with_kind(SpanKind::Server).start_with_context(&Context::new());
/// tracer.span_builder("load cart").start_with_context(&root.context(&Context::new())).end();
/// root.end();
///
/// let text = render_waterfall(&exporter.finished_spans().0, &WaterfallOptions::default());
/// assert!(text.contains("shop  SERVER    GET /cart"));
/// assert!(text.contains("└─ load cart"));
/// ```
pub fn render_waterfall(spans: &[SpanData], options: &WaterfallOptions) -> String {
    let mut traces: Vec<(TraceId, Vec<&SpanData>)> = Vec::new();
    let mut sorted: Vec<&SpanData> = spans.iter().collect();
    sorted.sort_by_key(|s| s.start_time);
    for span in sorted {
        let id = span.span_context.trace_id();
        match traces.iter_mut().find(|(t, _)| *t == id) {
            Some((_, list)) => list.push(span),
            None => traces.push((id, vec![span])),
        }
    }
    let mut out = String::new();
    for (id, list) in &traces {
        render_trace(&mut out, *id, list, options);
    }
    out
}

struct Row<'a> {
    span: &'a SpanData,
    /// The tree prefix and the span's [`label`].
    name: String,
}

fn render_trace(out: &mut String, id: TraceId, spans: &[&SpanData], o: &WaterfallOptions) {
    let present: HashMap<SpanId, &SpanData> = spans
        .iter()
        .map(|s| (s.span_context.span_id(), *s))
        .collect();
    let mut children: HashMap<SpanId, Vec<&SpanData>> = HashMap::new();
    let mut roots = Vec::new();
    for span in spans {
        match span.parent_span_id.filter(|p| present.contains_key(p)) {
            Some(parent) => children.entry(parent).or_default().push(span),
            None => roots.push(*span),
        }
    }
    let mut rows = Vec::new();
    for root in &roots {
        walk(root, String::new(), String::new(), &children, &mut rows);
    }

    let t0 = spans
        .iter()
        .map(|s| s.start_time)
        .min()
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let t1 = spans.iter().map(|s| s.end_time).max().unwrap_or(t0);
    let total = t1.duration_since(t0).unwrap_or_default();

    let service_w = rows
        .iter()
        .map(|r| r.span.resource.service_name().chars().count())
        .max()
        .unwrap_or(0);
    let name_w = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(0);
    let status_w = rows
        .iter()
        .map(|r| status_text(r.span).len())
        .max()
        .unwrap_or(0);

    let (bold, dim, reset) = if o.color {
        (BOLD, DIM, RESET)
    } else {
        ("", "", "")
    };
    let _ = writeln!(
        out,
        "{bold}trace {id}{reset}  {} span{}  {}",
        spans.len(),
        if spans.len() == 1 { "" } else { "s" },
        format_duration(total)
    );
    for row in &rows {
        let span = row.span;
        let kind = span.kind.as_str();
        let (kind_color, status_color) = if o.color {
            (
                kind_color(kind),
                if span.status.is_error() { RED } else { GREEN },
            )
        } else {
            ("", "")
        };
        let _ = write!(
            out,
            "{:<service_w$}  {kind_color}{:<8}{reset}  {:<name_w$}  {status_color}{:<status_w$}{reset}  {:>9}  {dim}│{reset}{}{dim}│{reset}",
            span.resource.service_name(),
            kind,
            row.name,
            status_text(span),
            format_duration(span.duration()),
            bar(span, t0, total, o, status_color, reset),
        );
        if let Status::Error { description } = &span.status
            && !description.is_empty()
        {
            let _ = write!(out, " {status_color}{description}{reset}");
        }
        out.push('\n');
    }
}

fn walk<'a>(
    span: &'a SpanData,
    prefix: String,
    indent: String,
    children: &HashMap<SpanId, Vec<&'a SpanData>>,
    rows: &mut Vec<Row<'a>>,
) {
    rows.push(Row {
        span,
        name: prefix + &label(span),
    });
    let Some(kids) = children.get(&span.span_context.span_id()) else {
        return;
    };
    for (i, kid) in kids.iter().enumerate() {
        let last = i + 1 == kids.len();
        let branch = if last { "└─ " } else { "├─ " };
        let carry = if last { "   " } else { "│  " };
        walk(
            kid,
            format!("{indent}{branch}"),
            format!("{indent}{carry}"),
            children,
            rows,
        );
    }
}

/// The span's name; for a CLIENT span, followed by the target it called (`host:port/path`
/// from `url.full`, without the query, or else `server.address:server.port`).
fn label(span: &SpanData) -> String {
    if span.kind != SpanKind::Client {
        return span.name.to_string();
    }
    let url = span
        .attribute(semconv::URL_FULL.as_str())
        .and_then(|v| v.as_str());
    let target = match url {
        Some(url) => {
            let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
            let end = rest.find(['?', '#']).unwrap_or(rest.len());
            rest[..end].to_owned()
        }
        None => {
            let Some(host) = span
                .attribute(semconv::SERVER_ADDRESS.as_str())
                .and_then(|v| v.as_str())
            else {
                return span.name.to_string();
            };
            match span
                .attribute(semconv::SERVER_PORT.as_str())
                .and_then(|v| v.as_i64())
            {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            }
        }
    };
    format!("{} {target}", span.name)
}

fn kind_color(kind: &str) -> &'static str {
    match kind {
        "SERVER" => MAGENTA,
        "CLIENT" => BLUE,
        _ => YELLOW,
    }
}

/// `404 Error`, `200 Unset`, `NOT_FOUND Unset` (a gRPC code), or just the status.
fn status_text(span: &SpanData) -> String {
    let status = match span.status {
        Status::Unset => "Unset",
        Status::Ok => "Ok",
        Status::Error { .. } => "Error",
    };
    if let Some(code) = span
        .attribute(semconv::HTTP_RESPONSE_STATUS_CODE.as_str())
        .and_then(|v| v.as_i64())
    {
        return format!("{code} {status}");
    }
    match span
        .attribute(semconv::RPC_RESPONSE_STATUS_CODE.as_str())
        .and_then(|v| v.as_str())
    {
        Some(code) => format!("{code} {status}"),
        None => status.to_owned(),
    }
}

/// The span's cells on the trace timeline: `█` where it ran (`◆` where an event happened),
/// spaces elsewhere.
fn bar(
    span: &SpanData,
    t0: SystemTime,
    total: Duration,
    o: &WaterfallOptions,
    color: &str,
    reset: &str,
) -> String {
    let width = o.bar_width;
    // Integer nanoseconds: floating point would push an end exactly on a cell boundary into the
    // next cell.
    let nanos = total.as_nanos();
    let w = width as u128;
    let offset = |t: SystemTime| t.duration_since(t0).unwrap_or_default().as_nanos();
    let (start, end) = if total.is_zero() {
        (0, width)
    } else {
        let offset = offset(span.start_time);
        let finish = offset + span.duration().as_nanos();
        let start = ((offset * w / nanos) as usize).min(width - 1);
        let end = (finish * w).div_ceil(nanos) as usize;
        (start, end.clamp(start + 1, width))
    };
    // The span's cells, with a mark where each of its events happened.
    let mut cells = vec!['█'; end - start];
    for event in &span.events {
        let at = (offset(event.time) * w)
            .checked_div(nanos)
            .map_or(start, |cell| cell as usize);
        cells[at.clamp(start, end - 1) - start] = '◆';
    }
    format!(
        "{}{color}{}{reset}{}",
        " ".repeat(start),
        cells.into_iter().collect::<String>(),
        " ".repeat(width - end)
    )
}

/// `850 µs`, `12.40 ms`, `1.25 s`.
pub(crate) fn format_duration(d: Duration) -> String {
    let micros = d.as_secs_f64() * 1e6;
    if micros < 1000.0 {
        format!("{micros:.0} µs")
    } else if micros < 1e6 {
        format!("{:.2} ms", micros / 1e3)
    } else {
        format!("{:.2} s", micros / 1e6)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::{InstrumentationScope, Resource, SpanKind};
    use crate::{KeyValue, SpanContext, TraceFlags, TraceState};

    fn span(
        service: &str,
        kind: SpanKind,
        name: &'static str,
        ids: (u64, Option<u64>),
        at_ms: (u64, u64),
        status: Status,
        code: Option<i64>,
    ) -> SpanData {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        SpanData {
            span_context: SpanContext::new(
                TraceId::from_u128(0xabc).unwrap(),
                SpanId::from_u64(ids.0).unwrap(),
                TraceFlags::SAMPLED,
                false,
                TraceState::default(),
            ),
            parent_span_id: ids.1.and_then(SpanId::from_u64),
            parent_is_remote: false,
            kind,
            name: name.into(),
            start_time: t0 + Duration::from_millis(at_ms.0),
            end_time: t0 + Duration::from_millis(at_ms.1),
            attributes: code
                .map(|c| vec![KeyValue::new("http.response.status_code", c)])
                .unwrap_or_default(),
            dropped_attributes_count: 0,
            events: vec![],
            dropped_events_count: 0,
            links: vec![],
            dropped_links_count: 0,
            status,
            resource: Resource::builder()
                .without_env()
                .with_service_name(service.to_owned())
                .build(),
            scope: InstrumentationScope::new("test", None::<&str>),
        }
    }

    #[test]
    fn renders_a_known_tree() {
        let spans = vec![
            span(
                "inventory",
                SpanKind::Server,
                "GET /items/{id}",
                (4, Some(3)),
                (4, 8),
                Status::error("storage failed"),
                Some(500),
            ),
            span(
                "gateway",
                SpanKind::Client,
                "GET",
                (3, Some(2)),
                (3, 9),
                Status::error(""),
                Some(500),
            ),
            span(
                "gateway",
                SpanKind::Internal,
                "render",
                (5, Some(2)),
                (9, 10),
                Status::Unset,
                None,
            ),
            span(
                "gateway",
                SpanKind::Server,
                "GET /orders/{id}",
                (2, Some(1)),
                (2, 10),
                Status::error(""),
                Some(502),
            ),
            span(
                "client",
                SpanKind::Client,
                "GET",
                (1, None),
                (0, 10),
                Status::error(""),
                Some(502),
            ),
        ];
        let mut spans = spans;
        // The inventory recorded the failure 6 ms into the trace; the gateway's call shows where it went.
        let failed_at = spans[0].start_time + Duration::from_millis(2);
        spans[0].events.push(crate::trace::Event {
            name: "exception".into(),
            time: failed_at,
            attributes: Vec::new(),
            dropped_attributes_count: 0,
        });
        spans[1].attributes.push(KeyValue::new(
            semconv::URL_FULL,
            "http://127.0.0.1:3001/items/0?debug=1",
        ));
        let text = render_waterfall(&spans, &WaterfallOptions::default().with_bar_width(10));
        let expected = "\
trace 00000000000000000000000000000abc  5 spans  10.00 ms
client     CLIENT    GET                               502 Error   10.00 ms  │██████████│
gateway    SERVER    └─ GET /orders/{id}               502 Error    8.00 ms  │  ████████│
gateway    CLIENT       ├─ GET 127.0.0.1:3001/items/0  500 Error    6.00 ms  │   ██████ │
inventory  SERVER       │  └─ GET /items/{id}          500 Error    4.00 ms  │    ██◆█  │ storage failed
gateway    INTERNAL     └─ render                      Unset        1.00 ms  │         █│
";
        assert_eq!(text, expected);
        assert!(!text.contains('\x1b'), "no escape codes without colour");
        let colored = render_waterfall(&spans, &WaterfallOptions::default().with_color(true));
        assert!(colored.contains(RED) && colored.contains(RESET));
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(Duration::from_micros(850)), "850 µs");
        assert_eq!(format_duration(Duration::from_micros(12_400)), "12.40 ms");
        assert_eq!(format_duration(Duration::from_millis(1250)), "1.25 s");
    }
}
