//! What the exporters are built from: code settings over the `OTEL_EXPORTER_OTLP_*` variables.

use std::sync::Arc;
use std::time::Duration;

use tracecore::RandomIdGenerator;
use tracecore::export::Interrupt;
use tracecore::metrics::Temporality;
use ureq::http::{HeaderName, HeaderValue};
use ureq::unversioned::transport::DefaultConnector;

use super::resolve::CachingResolver;
use super::transport::{Transport, USER_AGENT};
use super::{OtlpExporter, OtlpLogExporter, OtlpMetricExporter};
use crate::config::{self, Compression, ConfigError, DEFAULT_TIMEOUT, Signal};
use crate::retry::RetryPolicy;
use crate::{Protocol, tls};

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
            Signal::Logs => {
                self.endpoint
                    .as_deref()
                    .map(|url| match url.strip_suffix("v1/traces") {
                        Some(base) => format!("{base}v1/logs"),
                        None => url.to_owned(),
                    })
            }
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

    /// A log record exporter instead, reading the `OTEL_EXPORTER_OTLP_LOGS_*` variables over the
    /// generic ones (and posting to `v1/logs` under a generic endpoint, or to the traces URL of
    /// [`with_endpoint`](Self::with_endpoint) with `v1/traces` replaced by `v1/logs`).
    pub fn build_logs(mut self) -> Result<OtlpLogExporter, ConfigError> {
        self.signal = Signal::Logs;
        Ok(self.resolve()?.log_exporter())
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

    pub(crate) fn log_exporter(self) -> OtlpLogExporter {
        OtlpLogExporter {
            transport: self.transport(Signal::Logs),
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
        let resolver = CachingResolver::default();
        Transport {
            agent: ureq::Agent::with_parts(config, DefaultConnector::default(), resolver.clone()),
            resolver,
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
            hold_until: None,
        }
    }
}
