//! The HTTP side the span and metric exporters share: one uninstrumented client, the request
//! body buffers, retries with backoff and `Retry-After`, and the failure reports.

use std::fmt;
use std::io::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use tracecore::export::{ExportError, Interrupt};
use tracecore::{IdGenerator, RandomIdGenerator, diag};
use ureq::http::{HeaderName, HeaderValue};

use super::counters::{Counters, tried};
use super::resolve::CachingResolver;
use crate::Protocol;
use crate::config::{Compression, Signal};
use crate::response::{self, Reply};
use crate::retry::{RetryPolicy, parse_retry_after};

/// The largest request body sent (before compression), as the OTLP spec recommends; a bigger
/// batch is split in halves.
pub(super) const MAX_REQUEST_SIZE: usize = 64 * 1024 * 1024;

/// The largest reply body read; a bigger reply is a failed export, not retried.
const MAX_RESPONSE_SIZE: u64 = 4 * 1024 * 1024;

pub(super) const USER_AGENT: &str = concat!(
    "tracecore-otlp/",
    env!("CARGO_PKG_VERSION"),
    " OTel-OTLP-Exporter-Rust/",
    env!("CARGO_PKG_VERSION")
);

/// The HTTP side shared by the span and metric exporters: one uninstrumented client, the
/// request body buffers, and the retry rules.
pub(crate) struct Transport {
    pub(super) agent: ureq::Agent,
    /// The agent's resolver: a failed connection makes it look the receiver's name up again.
    pub(super) resolver: CachingResolver,
    pub(super) endpoint: String,
    pub(super) protocol: Protocol,
    pub(super) compression: Compression,
    pub(super) headers: Vec<(HeaderName, HeaderValue)>,
    pub(super) timeout: Option<Duration>,
    pub(super) retry: RetryPolicy,
    pub(super) body: Vec<u8>,
    pub(super) compressed: Vec<u8>,
    pub(super) random: RandomIdGenerator,
    pub(super) stats: Arc<Counters>,
    pub(super) warned_partial: bool,
    pub(super) signal: Signal,
    /// Raised when the pipeline's shutdown runs out of time: retry waits stop.
    pub(super) interrupt: Interrupt,
    /// The receiver answered `Retry-After` and the wait did not fit the export's time: until
    /// then, exports fail at once, neither encoded nor sent (the receiver asked for quiet).
    pub(super) hold_until: Option<Instant>,
}

/// The longest a `Retry-After` holds later exports back: a proxy answering an hour is not
/// obeyed for that long.
const MAX_HOLD: Duration = Duration::from_secs(30);

/// What happened to one attempt.
enum Attempt {
    Done,
    Retry {
        after: Option<Duration>,
        why: String,
    },
    Fail(String),
}

impl Transport {
    /// Why an export must not be sent now: the receiver's `Retry-After` has not passed. The
    /// exporters ask before they encode.
    pub(super) fn held(&mut self) -> Option<String> {
        let until = self.hold_until?;
        let left = until.checked_duration_since(Instant::now());
        match left {
            Some(left) if !left.is_zero() => Some(format!(
                "not sent: the receiver asked to wait (Retry-After), {} ms more",
                left.as_millis()
            )),
            _ => {
                self.hold_until = None;
                None
            }
        }
    }

    /// Sends the encoded body, retried as the policy says, all before `deadline`.
    pub(super) fn send(&mut self, deadline: Option<Instant>) -> Result<(), String> {
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
                        if let Some(after) = after {
                            self.hold_until = Some(Instant::now() + after.min(MAX_HOLD));
                        }
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
            Err(e) => {
                let attempt = classify_error(e);
                if matches!(attempt, Attempt::Retry { .. }) {
                    // The receiver may have moved: its name is looked up again.
                    self.resolver.forget();
                }
                return attempt;
            }
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
                        Signal::Logs => (&self.stats.records_rejected, "records"),
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
    pub(super) fn deadline(&self, timeout: Duration) -> Option<Instant> {
        let limit = match self.timeout {
            Some(own) => own.min(timeout),
            None => timeout,
        };
        Instant::now().checked_add(limit)
    }

    /// Says when exports start failing and when they recover (not once per export), and
    /// turns a failure into the error the reader or processor counts.
    pub(super) fn report(
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
            .field("hold_until", &self.hold_until)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}
