//! The OTLP/HTTP span exporter.

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use tracecore::export::{ExportError, Interrupt, SpanExporter};
use tracecore::metrics::{MetricExporter, ResourceMetrics, Temporality};
use tracecore::trace::SpanData;
use tracecore::{IdGenerator, RandomIdGenerator, diag};
use ureq::http::{HeaderName, HeaderValue};

use crate::config::{self, Compression, ConfigError, DEFAULT_TIMEOUT, Signal};
use crate::response::{self, Reply};
use crate::retry::{RetryPolicy, parse_retry_after};
use crate::{Protocol, tls};

/// The largest request body sent (before compression), as the OTLP spec recommends; a bigger
/// batch is split in halves.
const MAX_REQUEST_SIZE: usize = 64 * 1024 * 1024;

/// The largest reply body read; a bigger reply is a failed export, not retried.
const MAX_RESPONSE_SIZE: u64 = 4 * 1024 * 1024;

const USER_AGENT: &str = concat!(
    "tracecore-otlp/",
    env!("CARGO_PKG_VERSION"),
    " OTel-OTLP-Exporter-Rust/",
    env!("CARGO_PKG_VERSION")
);

/// Sends spans to an OTLP/HTTP receiver (an OpenTelemetry Collector, Jaeger, Tempo, ...).
///
/// Runs on the batch processor's export thread, with a blocking HTTP client of its own that is
/// not instrumented, so export requests never produce spans. A receiver that is down, slow or
/// refusing costs retries on that thread and then dropped spans, which the processor counts;
/// the request path never waits. Give it to a
/// [`BatchProcessor`](tracecore::export::BatchProcessor), not a `SimpleProcessor` (which would
/// export on the thread that ends the span).
///
/// ```no_run
/// use tracecore::trace::TracerProvider;
/// use tracecore_otlp::OtlpExporter;
///
/// let exporter = OtlpExporter::builder().build()?; // OTEL_EXPORTER_OTLP_* or http://localhost:4318
/// let provider = TracerProvider::builder().with_batch_exporter(exporter).build();
/// # Ok::<(), tracecore_otlp::ConfigError>(())
/// ```
pub struct OtlpExporter {
    transport: Transport,
    failing: bool,
    shut_down: bool,
}

/// The HTTP side shared by the span and metric exporters: one uninstrumented client, the
/// request body buffers, and the retry rules.
pub(crate) struct Transport {
    agent: ureq::Agent,
    endpoint: String,
    protocol: Protocol,
    compression: Compression,
    headers: Vec<(HeaderName, HeaderValue)>,
    timeout: Option<Duration>,
    retry: RetryPolicy,
    body: Vec<u8>,
    compressed: Vec<u8>,
    random: RandomIdGenerator,
    stats: Arc<Counters>,
    warned_partial: bool,
    signal: Signal,
    /// Raised when the pipeline's shutdown runs out of time: retry waits stop.
    interrupt: Interrupt,
}

/// Builds an [`OtlpExporter`]. What code sets wins over the `OTEL_EXPORTER_OTLP_*` variables,
/// which fill in the rest unless [`without_env`](Self::without_env) is called.
#[derive(Clone, Debug, Default)]
pub struct OtlpExporterBuilder {
    endpoint: Option<String>,
    protocol: Option<Protocol>,
    compression: Option<Compression>,
    headers: Vec<(String, String)>,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    ignore_env: bool,
    metrics_endpoint: Option<String>,
    pub(crate) signal: Signal,
    temporality: Option<Temporality>,
}

impl OtlpExporterBuilder {
    /// Posts to `url` exactly as given (like `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; include the
    /// path, usually `/v1/traces`). A metric exporter built from this builder posts to the same
    /// URL with a final `v1/traces` replaced by `v1/metrics`, unless
    /// [`with_metrics_endpoint`](Self::with_metrics_endpoint) says otherwise.
    #[must_use]
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self
    }

    /// The metric exporter posts to `url` exactly as given (like
    /// `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`, usually ending in `/v1/metrics`).
    #[must_use]
    pub fn with_metrics_endpoint(mut self, url: impl Into<String>) -> Self {
        self.metrics_endpoint = Some(url.into());
        self
    }

    /// The body format.
    #[must_use]
    pub fn with_protocol(mut self, protocol: Protocol) -> Self {
        self.protocol = Some(protocol);
        self
    }

    /// Whether to gzip request bodies.
    #[must_use]
    pub fn with_compression(mut self, compression: Compression) -> Self {
        self.compression = Some(compression);
        self
    }

    /// Sends `name: value` with every request (replacing a header of that name from the
    /// environment).
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The longest one export may take, retries included (default 10 s;
    /// [`Duration::ZERO`] leaves only the batch processor's export timeout).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How failed exports are retried.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Ignores the `OTEL_EXPORTER_OTLP_*` variables.
    #[must_use]
    pub fn without_env(mut self) -> Self {
        self.ignore_env = true;
        self
    }

    /// The settings this builder resolves to, with the environment read.
    pub(crate) fn resolve(&self) -> Result<Settings, ConfigError> {
        let env = !self.ignore_env;
        let code_endpoint = match self.signal {
            Signal::Traces => self.endpoint.clone(),
            Signal::Metrics => self.metrics_endpoint.clone().or_else(|| {
                self.endpoint
                    .as_deref()
                    .map(|url| match url.strip_suffix("v1/traces") {
                        Some(base) => format!("{base}v1/metrics"),
                        None => url.to_owned(),
                    })
            }),
        };
        let endpoint = match &code_endpoint {
            Some(url) => config::signal_url(url, "OtlpExporterBuilder::with_endpoint")?,
            None if env => config::endpoint_from_env(self.signal)?,
            None => self.signal.default_endpoint(),
        };
        let mut headers = if env {
            config::headers_from_env(self.signal)?
        } else {
            Vec::new()
        };
        for (name, value) in &self.headers {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            headers.push((name.clone(), value.clone()));
        }
        let mut parsed = Vec::with_capacity(headers.len());
        for (name, value) in &headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                ConfigError::new(
                    "OtlpExporterBuilder::with_header",
                    format!("{name:?} is not a valid header name"),
                )
            })?;
            let v = HeaderValue::from_str(value).map_err(|_| {
                ConfigError::new(
                    "OtlpExporterBuilder::with_header",
                    format!("the value of {name:?} is not a valid header value"),
                )
            })?;
            parsed.push((n, v));
        }
        let signal = self.signal;
        let timeout =
            pick(env, self.timeout, || config::timeout_from_env(signal)).unwrap_or(DEFAULT_TIMEOUT);
        Ok(Settings {
            tls: tls::from_env(env, signal)?,
            endpoint,
            protocol: pick(env, self.protocol, || config::protocol_from_env(signal))
                .unwrap_or_default(),
            compression: pick(env, self.compression, || {
                config::compression_from_env(signal)
            })
            .unwrap_or_default(),
            headers: parsed,
            timeout: (!timeout.is_zero()).then_some(timeout),
            retry: self.retry.unwrap_or_default(),
        })
    }

    /// The exporter; an error names the variable or option that holds a bad value.
    pub fn build(self) -> Result<OtlpExporter, ConfigError> {
        Ok(self.resolve()?.exporter())
    }

    /// The temporality a metric exporter asks for (wins over
    /// `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`).
    #[must_use]
    pub fn with_temporality(mut self, temporality: Temporality) -> Self {
        self.temporality = Some(temporality);
        self
    }

    /// A metric exporter instead, reading the `OTEL_EXPORTER_OTLP_METRICS_*` variables (and
    /// posting to `v1/metrics` under a generic endpoint).
    pub fn build_metrics(mut self) -> Result<OtlpMetricExporter, ConfigError> {
        self.signal = Signal::Metrics;
        let env = !self.ignore_env;
        let temporality = pick(env, self.temporality, config::temporality_from_env)
            .unwrap_or(Temporality::Cumulative);
        Ok(self.resolve()?.metric_exporter(temporality))
    }
}

/// The value code set, else the environment's (when read).
fn pick<T>(env: bool, code: Option<T>, from_env: impl FnOnce() -> Option<T>) -> Option<T> {
    code.or_else(|| if env { from_env() } else { None })
}

/// Resolved exporter settings.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) endpoint: String,
    pub(crate) protocol: Protocol,
    pub(crate) compression: Compression,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: RetryPolicy,
    pub(crate) tls: tls::Tls,
}

impl Settings {
    /// One line for a start-up report; header values are not shown.
    pub(crate) fn describe(&self) -> String {
        let mut out = format!(
            "{} {}, compression {}",
            self.endpoint, self.protocol, self.compression
        );
        match self.timeout {
            Some(t) => out.push_str(&format!(", timeout {} ms", t.as_millis())),
            None => out.push_str(", no timeout of its own"),
        }
        if !self.headers.is_empty() {
            let names: Vec<_> = self
                .headers
                .iter()
                .map(|(n, _)| format!("{n}=<redacted>"))
                .collect();
            out.push_str(&format!(", headers {}", names.join(",")));
        }
        out
    }

    pub(crate) fn exporter(self) -> OtlpExporter {
        OtlpExporter {
            transport: self.transport(Signal::Traces),
            failing: false,
            shut_down: false,
        }
    }

    pub(crate) fn metric_exporter(self, temporality: Temporality) -> OtlpMetricExporter {
        OtlpMetricExporter {
            transport: self.transport(Signal::Metrics),
            temporality,
            failing: false,
            shut_down: false,
        }
    }

    fn transport(self, signal: Signal) -> Transport {
        let config = self
            .tls
            .apply(
                ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .user_agent(USER_AGENT)
                    .max_redirects(0),
            )
            .build();
        Transport {
            agent: ureq::Agent::new_with_config(config),
            endpoint: self.endpoint,
            protocol: self.protocol,
            compression: self.compression,
            headers: self.headers,
            timeout: self.timeout,
            retry: self.retry,
            body: Vec::new(),
            compressed: Vec::new(),
            random: RandomIdGenerator::new(),
            stats: Arc::default(),
            warned_partial: false,
            signal,
            interrupt: Interrupt::new(),
        }
    }
}

/// What happened to one attempt.
enum Attempt {
    Done,
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Fail(String),
}

impl OtlpExporter {
    /// A builder reading `OTEL_EXPORTER_OTLP_*` for what code does not set.
    pub fn builder() -> OtlpExporterBuilder {
        OtlpExporterBuilder::default()
    }

    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.transport.endpoint
    }

    /// The body format.
    pub fn protocol(&self) -> Protocol {
        self.transport.protocol
    }

    /// A live view of this exporter's counters (take it before handing the exporter over).
    pub fn stats(&self) -> OtlpStats {
        OtlpStats(self.transport.stats.clone())
    }

    /// One export of `batch` (split in halves while it encodes past the request limit), all
    /// before `deadline`.
    fn send(&mut self, batch: &[SpanData], deadline: Option<Instant>) -> Result<(), String> {
        let t = &mut self.transport;
        t.body.clear();
        t.protocol.encode(batch, &mut t.body);
        if t.body.len() > MAX_REQUEST_SIZE {
            if batch.len() == 1 {
                return Err(format!(
                    "a span encodes to {} bytes, past the {MAX_REQUEST_SIZE}-byte request limit",
                    t.body.len()
                ));
            }
            let (a, b) = batch.split_at(batch.len() / 2);
            let first = self.send(a, deadline);
            let second = self.send(b, deadline);
            return first.and(second);
        }
        self.transport.send(deadline)
    }
}

impl Transport {
    /// Sends the encoded body, retried as the policy says, all before `deadline`.
    fn send(&mut self, deadline: Option<Instant>) -> Result<(), String> {
        if self.compression == Compression::Gzip {
            self.compressed.clear();
            let mut gz = flate2::write::GzEncoder::new(
                std::mem::take(&mut self.compressed),
                flate2::Compression::fast(),
            );
            gz.write_all(&self.body)
                .map_err(|e| format!("gzip failed: {e}"))?;
            self.compressed = gz.finish().map_err(|e| format!("gzip failed: {e}"))?;
        }
        let mut retry = 0;
        loop {
            let remaining = match deadline {
                Some(d) => match d.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return Err("timed out before the receiver answered".to_owned()),
                },
                None => None,
            };
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            match self.attempt(remaining) {
                Attempt::Done => return Ok(()),
                Attempt::Fail(why) => return Err(why),
                Attempt::Retry { after, why } => {
                    if retry + 1 >= self.retry.max_attempts {
                        return Err(format!("{why} (gave up after {} attempts)", retry + 1));
                    }
                    let random = f64::from(self.random.new_span_id().to_bytes()[0]) / 256.0;
                    let wait = after.unwrap_or_else(|| self.retry.backoff(retry, random));
                    if deadline.is_some_and(|d| Instant::now() + wait >= d) {
                        return Err(format!(
                            "{why} ({}: waiting {} ms more would pass the export timeout)",
                            tried(retry),
                            wait.as_millis()
                        ));
                    }
                    if !self.interrupt.wait(wait) {
                        return Err(format!(
                            "{why} ({}: the pipeline is shutting down)",
                            tried(retry)
                        ));
                    }
                }
            }
            retry += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One request.
    fn attempt(&mut self, remaining: Option<Duration>) -> Attempt {
        let mut request = self
            .agent
            .post(&self.endpoint)
            .header("content-type", self.protocol.content_type());
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let body: &[u8] = match self.compression {
            Compression::Gzip => {
                request = request.header("content-encoding", "gzip");
                &self.compressed
            }
            Compression::None => &self.body,
        };
        let result = request
            .config()
            .timeout_global(remaining)
            .build()
            .send(body);
        let mut reply = match result {
            Ok(reply) => reply,
            Err(e) => return classify_error(e),
        };
        let status = reply.status().as_u16();
        let retry_after = reply
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
        let content_type = reply
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let bytes = match reply
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE_SIZE)
            .read_to_vec()
        {
            Ok(bytes) => bytes,
            Err(ureq::Error::BodyExceedsLimit(_)) => {
                return Attempt::Fail(format!(
                    "HTTP {status} with a reply body over {MAX_RESPONSE_SIZE} bytes"
                ));
            }
            // The status decides; a reply body that breaks off loses only its message.
            Err(_) => Vec::new(),
        };
        match response::read(status, &content_type, &bytes) {
            Reply::Success { rejected, message } => {
                if rejected > 0 || !message.is_empty() {
                    let (counter, what) = match self.signal {
                        Signal::Traces => (&self.stats.spans_rejected, "spans"),
                        Signal::Metrics => (&self.stats.points_rejected, "points"),
                    };
                    counter.fetch_add(rejected.max(0) as u64, Ordering::Relaxed);
                    if !self.warned_partial {
                        self.warned_partial = true;
                        diag::warn(&format!(
                            "OTLP receiver {} accepted the export partially: {rejected} {what} \
                             rejected: {message:?} (not retried; said once per exporter, \
                             counted in OtlpStats::{what}_rejected)",
                            self.endpoint
                        ));
                    }
                }
                Attempt::Done
            }
            Reply::Failure { message } => {
                if matches!(status, 429 | 502 | 503 | 504) {
                    Attempt::Retry {
                        after: retry_after,
                        why: message,
                    }
                } else {
                    Attempt::Fail(message)
                }
            }
        }
    }
}

impl Transport {
    /// When an export given `timeout` must be done, with the exporter's own timeout too.
    fn deadline(&self, timeout: Duration) -> Option<Instant> {
        let limit = match self.timeout {
            Some(own) => own.min(timeout),
            None => timeout,
        };
        Instant::now().checked_add(limit)
    }

    /// Says when exports start failing and when they recover (not once per export), and
    /// turns a failure into the error the reader or processor counts.
    fn report(
        &self,
        failing: &mut bool,
        result: Result<(), String>,
        what: &str,
    ) -> Result<(), ExportError> {
        match result {
            Ok(()) => {
                if std::mem::take(failing) {
                    diag::warn(&format!("OTLP export to {} recovered", self.endpoint));
                }
                Ok(())
            }
            Err(why) => {
                if !std::mem::replace(failing, true) {
                    diag::warn(&format!(
                        "OTLP export to {} failed: {why}; {what} are dropped and counted until \
                         it recovers",
                        self.endpoint
                    ));
                }
                Err(ExportError::new(format!(
                    "OTLP export to {} failed: {why}",
                    self.endpoint
                )))
            }
        }
    }
}

/// Connection problems are retried; a timeout is the end of the export's time.
fn classify_error(error: ureq::Error) -> Attempt {
    match error {
        ureq::Error::Timeout(_) => Attempt::Fail("timed out before the receiver answered".into()),
        ureq::Error::Io(_)
        | ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Protocol(_) => Attempt::Retry {
            after: None,
            why: format!("connection failed: {error}"),
        },
        other => Attempt::Fail(format!("request failed: {other}")),
    }
}

impl SpanExporter for OtlpExporter {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.transport.interrupt = interrupt;
    }

    fn export(&mut self, batch: &[SpanData], timeout: Duration) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::new("the OTLP exporter is shut down"));
        }
        if batch.is_empty() {
            return Ok(());
        }
        let deadline = self.transport.deadline(timeout);
        let n = batch.len() as u64;
        let result = self.send(batch, deadline);
        let t = &self.transport;
        let counter = match result {
            Ok(()) => &t.stats.spans_exported,
            Err(_) => &t.stats.spans_failed,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        t.report(&mut self.failing, result, "spans")
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        Ok(())
    }
}

impl fmt::Debug for OtlpExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpExporter")
            .field("transport", &self.transport)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("endpoint", &self.endpoint)
            .field("protocol", &self.protocol)
            .field("compression", &self.compression)
            .field(
                "headers",
                &self.headers.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

/// Sends metrics to an OTLP/HTTP receiver's `v1/metrics`, from a
/// [`PeriodicReader`](tracecore::metrics::PeriodicReader)'s thread: the same formats, retries,
/// timeouts and TLS as [`OtlpExporter`], from the `OTEL_EXPORTER_OTLP_METRICS_*` variables over
/// the generic ones, and the temporality `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
/// asks for.
///
/// ```no_run
/// use tracecore::metrics::{MeterProvider, PeriodicReader};
/// use tracecore_otlp::OtlpExporter;
///
/// let exporter = OtlpExporter::builder().build_metrics()?; // http://localhost:4318/v1/metrics
/// let meters = MeterProvider::builder().with_reader(PeriodicReader::new(exporter)).build();
/// # Ok::<(), tracecore_otlp::ConfigError>(())
/// ```
pub struct OtlpMetricExporter {
    transport: Transport,
    temporality: Temporality,
    failing: bool,
    shut_down: bool,
}

impl OtlpMetricExporter {
    /// The URL requests go to.
    pub fn endpoint(&self) -> &str {
        &self.transport.endpoint
    }

    /// The body format.
    pub fn protocol(&self) -> Protocol {
        self.transport.protocol
    }

    /// A live view of this exporter's counters (`points_*`).
    pub fn stats(&self) -> OtlpStats {
        OtlpStats(self.transport.stats.clone())
    }
}

impl MetricExporter for OtlpMetricExporter {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        self.transport.interrupt = interrupt;
    }

    fn export(&mut self, metrics: &ResourceMetrics, timeout: Duration) -> Result<(), ExportError> {
        if self.shut_down {
            return Err(ExportError::new("the OTLP metric exporter is shut down"));
        }
        let t = &mut self.transport;
        t.body.clear();
        t.protocol.encode_metrics(metrics, &mut t.body);
        if t.body.is_empty() {
            return Ok(());
        }
        let n = metrics.point_count() as u64;
        let result = if t.body.len() > MAX_REQUEST_SIZE {
            Err(format!(
                "the metrics encode to {} bytes, past the {MAX_REQUEST_SIZE}-byte request limit",
                t.body.len()
            ))
        } else {
            let deadline = t.deadline(timeout);
            t.send(deadline)
        };
        let counter = match result {
            Ok(()) => &t.stats.points_exported,
            Err(_) => &t.stats.points_failed,
        };
        counter.fetch_add(n, Ordering::Relaxed);
        t.report(&mut self.failing, result, "metric points")
    }

    fn temporality(&self) -> Temporality {
        self.temporality
    }

    fn shutdown(&mut self) -> Result<(), ExportError> {
        self.shut_down = true;
        Ok(())
    }
}

impl fmt::Debug for OtlpMetricExporter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OtlpMetricExporter")
            .field("transport", &self.transport)
            .field("temporality", &self.temporality)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Counters {
    requests: AtomicU64,
    retries: AtomicU64,
    spans_exported: AtomicU64,
    spans_failed: AtomicU64,
    spans_rejected: AtomicU64,
    points_exported: AtomicU64,
    points_failed: AtomicU64,
    points_rejected: AtomicU64,
}

/// A live view of an [`OtlpExporter`]'s counters; cheap to clone.
#[derive(Clone, Debug)]
pub struct OtlpStats(Arc<Counters>);

/// The counters at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct OtlpCounts {
    /// HTTP requests started (first attempts and retries).
    pub requests: u64,
    /// Of those, retries.
    pub retries: u64,
    /// Spans in exports the receiver accepted (partial successes included).
    pub spans_exported: u64,
    /// Spans in exports that failed for good (the batch processor counts them as dropped).
    pub spans_failed: u64,
    /// Spans the receiver said it rejected in a partial success.
    pub spans_rejected: u64,
    /// Metric data points in exports the receiver accepted.
    pub points_exported: u64,
    /// Metric data points in exports that failed for good.
    pub points_failed: u64,
    /// Metric data points the receiver said it rejected in a partial success.
    pub points_rejected: u64,
}

/// Counters added field by field: the totals of several exporters.
impl std::ops::Add for OtlpCounts {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            requests: self.requests + other.requests,
            retries: self.retries + other.retries,
            spans_exported: self.spans_exported + other.spans_exported,
            spans_failed: self.spans_failed + other.spans_failed,
            spans_rejected: self.spans_rejected + other.spans_rejected,
            points_exported: self.points_exported + other.points_exported,
            points_failed: self.points_failed + other.points_failed,
            points_rejected: self.points_rejected + other.points_rejected,
        }
    }
}

impl std::iter::Sum for OtlpCounts {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        iter.fold(Self::default(), |total, counts| total + counts)
    }
}

impl OtlpStats {
    /// The counters now.
    pub fn counts(&self) -> OtlpCounts {
        let c = &self.0;
        OtlpCounts {
            requests: c.requests.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            spans_exported: c.spans_exported.load(Ordering::Relaxed),
            spans_failed: c.spans_failed.load(Ordering::Relaxed),
            spans_rejected: c.spans_rejected.load(Ordering::Relaxed),
            points_exported: c.points_exported.load(Ordering::Relaxed),
            points_failed: c.points_failed.load(Ordering::Relaxed),
            points_rejected: c.points_rejected.load(Ordering::Relaxed),
        }
    }
}
/// What a failed export's warning says of its retries: `retry` is how many were made.
fn tried(retry: u32) -> String {
    match retry {
        0 => "not retried".to_owned(),
        1 => "retried once, then stopped".to_owned(),
        n => format!("retried {n} times, then stopped"),
    }
}
