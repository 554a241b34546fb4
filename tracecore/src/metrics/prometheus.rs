//! Prometheus exposition: a collection rendered as the text format 0.0.4, or as OpenMetrics 1.0
//! (with exemplars) when the scraper asks for it, by the OpenTelemetry translation rules.
//!
//! ```
//! use tracecore::metrics::{ManualReader, MeterProvider, prometheus};
//! use tracecore::KeyValue;
//!
//! let reader = ManualReader::new();
//! let provider = MeterProvider::builder().with_service_name("shop").with_reader(reader.clone()).build();
//! provider.meter("shop").u64_counter("app.orders").with_unit("{order}").build().add(3, &[KeyValue::new("region", "eu")]);
//!
//! let format = prometheus::Format::negotiate(None);
//! let text = prometheus::render(&reader.collect(), format);
//! assert!(text.contains("# TYPE app_orders_total counter\n"));
//! assert!(text.contains(r#"app_orders_total{region="eu",otel_scope_name="shop"} 3"#));
//! assert!(text.contains(r#"target_info{service_name="shop""#));
//! ```
//!
//! Names: characters outside `[a-zA-Z0-9_:]` become `_` (runs collapse), the unit's word is
//! appended (`s` → `_seconds`, `By` → `_bytes`, `x/y` → `x_per_y`; `{…}` and `1` add nothing),
//! monotonic sums get `_total`. Up-down counters and gauges are gauges; histograms give
//! `_bucket` (cumulative, `le` ascending to `+Inf`), `_sum` and `_count`. Labels: attribute keys
//! sanitised (`http.route` → `http_route`; keys that collide are joined with `;`), the scope as
//! `otel_scope_name` and `otel_scope_version`, and the resource once as `target_info`. No
//! timestamps on samples. Exemplars appear on OpenMetrics `_bucket` lines only.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::time::SystemTime;

use super::data::{Exemplar, HistogramPoint, MetricData, Number, ResourceMetrics};
use crate::{KeyValue, Value};

/// An exposition format, with its `Content-Type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// The Prometheus text format 0.0.4 (the default): no exemplars.
    Text,
    /// OpenMetrics 1.0: `# UNIT` lines, exemplars, `# EOF`.
    OpenMetrics,
}

impl Format {
    /// The format a scrape asks for with its `Accept` header: OpenMetrics when it prefers it (by
    /// q-value) to the text format, else (no header, or anything else) the text format.
    ///
    /// ```
    /// use tracecore::metrics::prometheus::Format;
    /// let prometheus = "application/openmetrics-text;version=1.0.0;charset=utf-8;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1";
    /// assert_eq!(Format::negotiate(Some(prometheus)), Format::OpenMetrics);
    /// assert_eq!(Format::negotiate(Some("text/plain")), Format::Text);
    /// assert_eq!(Format::negotiate(None), Format::Text);
    /// ```
    pub fn negotiate(accept: Option<&str>) -> Self {
        let Some(accept) = accept else {
            return Self::Text;
        };
        let (mut open, mut text) = (-1.0f64, -1.0f64);
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f64>().ok())
                .unwrap_or(1.0);
            match media.as_str() {
                "application/openmetrics-text" => open = open.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if open > 0.0 && open >= text {
            Self::OpenMetrics
        } else {
            Self::Text
        }
    }

    /// The `Content-Type` of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Text => "text/plain; version=0.0.4; charset=utf-8",
            Self::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }
}

/// One metric family: every point of one name, whatever scope recorded it.
struct Family<'a> {
    name: String,
    kind: Kind,
    help: &'a str,
    unit: Option<&'static str>,
    samples: Vec<Sample<'a>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

enum Sample<'a> {
    Number(String, Number),
    Histogram(String, &'a HistogramPoint),
}

/// Renders `metrics` in `format`.
pub fn render(metrics: &ResourceMetrics, format: Format) -> String {
    let mut families: Vec<Family<'_>> = Vec::new();
    for scope in &metrics.scopes {
        let mut scope_labels = vec![KeyValue::new(
            "otel_scope_name",
            scope.scope.name().to_owned(),
        )];
        if let Some(version) = scope.scope.version() {
            scope_labels.push(KeyValue::new("otel_scope_version", version.to_owned()));
        }
        for metric in &scope.metrics {
            let kind = match &metric.data {
                MetricData::Sum { monotonic, .. } if *monotonic => Kind::Counter,
                MetricData::Sum { .. } | MetricData::Gauge { .. } => Kind::Gauge,
                MetricData::Histogram { .. } => Kind::Histogram,
            };
            let unit = unit_word(&metric.unit);
            let mut name = sanitize_name(&metric.name);
            if let Some(word) = &unit
                && !name.ends_with(word.as_str())
            {
                name = format!("{name}_{word}");
            }
            let family = match families.iter().position(|f| f.name == name) {
                Some(at) => at,
                None => {
                    families.push(Family {
                        name: name.clone(),
                        kind,
                        help: &metric.description,
                        unit: unit.as_deref().and_then(known_unit),
                        samples: Vec::new(),
                    });
                    families.len() - 1
                }
            };
            // A name reused with another kind in another scope cannot share the family.
            if families[family].kind != kind {
                continue;
            }
            for point in metric.data.number_points() {
                let labels = labels(&scope_labels, &point.attributes);
                families[family]
                    .samples
                    .push(Sample::Number(labels, point.value));
            }
            for point in metric.data.histogram_points() {
                let labels = labels(&scope_labels, &point.attributes);
                families[family]
                    .samples
                    .push(Sample::Histogram(labels, point));
            }
        }
    }

    let mut out = String::new();
    target_info(&mut out, metrics, format);
    for family in &families {
        write_family(&mut out, family, format);
    }
    if format == Format::OpenMetrics {
        out.push_str("# EOF\n");
    }
    out
}

fn target_info(out: &mut String, metrics: &ResourceMetrics, format: Format) {
    let labels = labels(&[], metrics.resource.attributes());
    match format {
        Format::Text => {
            out.push_str("# HELP target_info Target metadata\n# TYPE target_info gauge\n");
        }
        Format::OpenMetrics => {
            out.push_str("# TYPE target info\n# HELP target Target metadata\n");
        }
    }
    let _ = writeln!(out, "target_info{labels} 1");
}

fn write_family(out: &mut String, family: &Family<'_>, format: Format) {
    let base = family.name.as_str();
    let sample_name = match family.kind {
        Kind::Counter => format!("{base}_total"),
        _ => base.to_owned(),
    };
    let type_name = match (family.kind, format) {
        (Kind::Counter, Format::Text) => sample_name.as_str(),
        _ => base,
    };
    let _ = writeln!(out, "# TYPE {type_name} {}", family.kind.as_str());
    if format == Format::OpenMetrics
        && let Some(unit) = family.unit
        && base.ends_with(unit)
    {
        let _ = writeln!(out, "# UNIT {base} {unit}");
    }
    if !family.help.is_empty() {
        let _ = writeln!(
            out,
            "# HELP {type_name} {}",
            escape_help(family.help, format)
        );
    }
    // The `le` values of the last bounds seen: a histogram's points share one list.
    let mut les: Option<(std::sync::Arc<[f64]>, Vec<String>)> = None;
    for sample in &family.samples {
        match sample {
            Sample::Number(labels, value) => {
                let _ = writeln!(out, "{sample_name}{labels} {}", number(*value));
            }
            Sample::Histogram(labels, point) => {
                let reuse = les
                    .as_ref()
                    .is_some_and(|(bounds, _)| std::sync::Arc::ptr_eq(bounds, &point.bounds));
                if !reuse {
                    let strings = point
                        .bounds
                        .iter()
                        .map(|b| {
                            let mut le = String::new();
                            write_le(&mut le, *b, format);
                            le
                        })
                        .collect();
                    les = Some((point.bounds.clone(), strings));
                }
                let le_strings = les.as_ref().map_or(&[][..], |(_, l)| l.as_slice());
                write_histogram(out, base, labels, point, le_strings, format);
            }
        }
    }
}

fn write_histogram(
    out: &mut String,
    name: &str,
    labels: &str,
    p: &HistogramPoint,
    les: &[String],
    format: Format,
) {
    // `{labels,le="…"}`: the labels without their closing brace, then each bucket's bound.
    let open = if labels.is_empty() {
        "{".to_owned()
    } else {
        format!("{},", &labels[..labels.len() - 1])
    };
    let mut cumulative = 0u64;
    for (i, count) in p.bucket_counts.iter().enumerate() {
        cumulative += count;
        out.push_str(name);
        out.push_str("_bucket");
        out.push_str(&open);
        out.push_str("le=\"");
        out.push_str(les.get(i).map_or("+Inf", String::as_str));
        let _ = write!(out, "\"}} {cumulative}");
        if format == Format::OpenMetrics {
            let lower = if i == 0 {
                f64::NEG_INFINITY
            } else {
                p.bounds[i - 1]
            };
            let upper = p.bounds.get(i).copied().unwrap_or(f64::INFINITY);
            if let Some(e) = p
                .exemplars
                .iter()
                .filter(|e| e.value > lower && e.value <= upper)
                .max_by_key(|e| e.time)
            {
                write_exemplar(out, e);
            }
        }
        out.push('\n');
    }
    let _ = write!(out, "{name}_sum{labels} ");
    write_float(out, p.sum);
    let _ = writeln!(out, "\n{name}_count{labels} {}", p.count);
}

fn write_exemplar(out: &mut String, e: &Exemplar) {
    let seconds = e
        .time
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    let _ = write!(
        out,
        " # {{trace_id=\"{}\",span_id=\"{}\"}} {} {seconds:.3}",
        e.trace_id,
        e.span_id,
        float(e.value)
    );
}

/// `{k="v",...}`: the attributes (sanitised keys, colliding keys joined with `;` in the order of
/// the original keys), then the scope labels; empty when there are none.
fn labels(scope: &[KeyValue], attributes: &[KeyValue]) -> String {
    let mut sorted: Vec<&KeyValue> = attributes.iter().collect();
    sorted.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
    let all: Vec<&KeyValue> = sorted.iter().copied().chain(scope).collect();
    let keys: Vec<Cow<'_, str>> = all
        .iter()
        .map(|kv| sanitize_label(kv.key.as_str()))
        .collect();
    let values = all.iter().map(|kv| &kv.value);
    if keys.is_empty() {
        return String::new();
    }
    let mut out = String::from("{");
    let mut written: Vec<&str> = Vec::with_capacity(keys.len());
    for (key, value) in keys.iter().zip(values) {
        if written.contains(&key.as_ref()) {
            // Keys that collide after sanitising share one label, values joined with `;`.
            return joined_labels(&keys, all.iter().copied());
        }
        if !written.is_empty() {
            out.push(',');
        }
        written.push(key);
        out.push_str(key);
        out.push_str("=\"");
        match value {
            Value::String(s) => escape_label_into(&mut out, s),
            other => escape_label_into(&mut out, &other.to_string()),
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// The slow path of [`labels`]: some sanitised keys collide.
fn joined_labels<'a>(keys: &[Cow<'_, str>], kvs: impl Iterator<Item = &'a KeyValue>) -> String {
    let mut pairs: Vec<(&str, String)> = Vec::new();
    for (key, kv) in keys.iter().zip(kvs) {
        let value = match &kv.value {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        };
        match pairs.iter_mut().find(|(k, _)| *k == key.as_ref()) {
            Some((_, existing)) => {
                existing.push(';');
                existing.push_str(&value);
            }
            None => pairs.push((key, value)),
        }
    }
    let mut out = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"");
        escape_label_into(&mut out, v);
        out.push('"');
    }
    out.push('}');
    out
}

/// A metric name: `[a-zA-Z_:][a-zA-Z0-9_:]*`, other characters `_`, runs of `_` collapsed.
fn sanitize_name(name: &str) -> String {
    sanitize(name, |c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// A label name: `[a-zA-Z_][a-zA-Z0-9_]*` (borrowed when it already is one).
fn sanitize_label(key: &str) -> Cow<'_, str> {
    let valid = key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if valid {
        Cow::Borrowed(key)
    } else {
        Cow::Owned(sanitize(key, |c| c.is_ascii_alphanumeric() || c == '_'))
    }
}

fn sanitize(s: &str, allowed: impl Fn(char) -> bool) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if allowed(c) { c } else { '_' };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The word a unit adds to a name (`s` → `seconds`, `By/s` → `bytes_per_second`), `None` for
/// none (`1`, an annotation such as `{request}`, or no unit).
fn unit_word(unit: &str) -> Option<String> {
    let unit = strip_annotations(unit);
    if unit.is_empty() || unit == "1" {
        return None;
    }
    let word = |u: &str| -> String {
        known_unit_word(u).map_or_else(|| sanitize_label(u).into_owned(), str::to_owned)
    };
    Some(match unit.split_once('/') {
        Some((a, b)) if !a.is_empty() && !b.is_empty() => {
            let per = match b {
                "s" => "second".to_owned(),
                "m" => "minute".to_owned(),
                "h" => "hour".to_owned(),
                "d" => "day".to_owned(),
                other => word(other),
            };
            format!("{}_per_{per}", word(a))
        }
        _ => word(&unit),
    })
}

fn strip_annotations(unit: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in unit.chars() {
        match c {
            '{' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.trim().to_owned()
}

const UNITS: [(&str, &str); 23] = [
    ("s", "seconds"),
    ("ms", "milliseconds"),
    ("us", "microseconds"),
    ("ns", "nanoseconds"),
    ("min", "minutes"),
    ("h", "hours"),
    ("d", "days"),
    ("By", "bytes"),
    ("KiBy", "kibibytes"),
    ("MiBy", "mebibytes"),
    ("GiBy", "gibibytes"),
    ("kBy", "kilobytes"),
    ("MBy", "megabytes"),
    ("GBy", "gigabytes"),
    ("m", "meters"),
    ("V", "volts"),
    ("A", "amperes"),
    ("J", "joules"),
    ("W", "watts"),
    ("g", "grams"),
    ("Cel", "celsius"),
    ("Hz", "hertz"),
    ("%", "percent"),
];

fn known_unit_word(unit: &str) -> Option<&'static str> {
    UNITS.iter().find(|(u, _)| *u == unit).map(|(_, w)| *w)
}

/// The word, as a `'static` string, when it is one of the known units' (for `# UNIT`).
fn known_unit(word: &str) -> Option<&'static str> {
    UNITS.iter().find(|(_, w)| *w == word).map(|(_, w)| *w)
}

fn number(n: Number) -> String {
    match n {
        Number::I64(v) => v.to_string(),
        Number::F64(v) => float(v),
    }
}

fn float(v: f64) -> String {
    let mut out = String::new();
    write_float(&mut out, v);
    out
}

fn write_float(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// An `le` value: OpenMetrics wants the canonical float form (`1.0`), text takes the same.
fn write_le(out: &mut String, b: f64, format: Format) {
    let start = out.len();
    write_float(out, b);
    if format == Format::OpenMetrics && b.is_finite() && !out[start..].contains(['.', 'e', 'E']) {
        out.push_str(".0");
    }
}

fn escape_label_into(out: &mut String, v: &str) {
    if !v.contains(['\\', '"', '\n']) {
        out.push_str(v);
        return;
    }
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
fn escape_label(v: &str) -> String {
    let mut out = String::new();
    escape_label_into(&mut out, v);
    out
}

fn escape_help(v: &str, format: Format) -> String {
    let v = v.replace('\\', "\\\\").replace('\n', "\\n");
    match format {
        Format::Text => v,
        Format::OpenMetrics => v.replace('"', "\\\""),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_units_translate() {
        assert_eq!(
            sanitize_name("http.server.request.duration"),
            "http_server_request_duration"
        );
        assert_eq!(sanitize_name("a..b--c"), "a_b_c");
        assert_eq!(sanitize_name("1st"), "_1st");
        assert_eq!(unit_word("s").as_deref(), Some("seconds"));
        assert_eq!(unit_word("{request}"), None);
        assert_eq!(unit_word("1"), None);
        assert_eq!(unit_word("By/s").as_deref(), Some("bytes_per_second"));
        assert_eq!(unit_word("%").as_deref(), Some("percent"));
    }

    #[test]
    fn colliding_label_keys_are_joined_in_key_order() {
        let attrs = [KeyValue::new("a_b", "2"), KeyValue::new("a.b", "1")];
        assert_eq!(labels(&[], &attrs), r#"{a_b="1;2"}"#);
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
        assert_eq!(escape_help("x\"y\n", Format::Text), "x\"y\\n");
        assert_eq!(escape_help("x\"y\n", Format::OpenMetrics), "x\\\"y\\n");
    }

    #[test]
    fn accept_headers_pick_the_format_by_q_value() {
        let cases = [
            (None, Format::Text),
            (Some("application/openmetrics-text"), Format::OpenMetrics),
            (
                Some("application/openmetrics-text;q=0.1,text/plain;q=0.9"),
                Format::Text,
            ),
            (
                Some("text/plain;q=0.5,application/openmetrics-text;version=1.0.0;q=0.6"),
                Format::OpenMetrics,
            ),
            (Some("application/json"), Format::Text),
            (Some("application/openmetrics-text;q=0"), Format::Text),
        ];
        for (accept, want) in cases {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
    }
}
