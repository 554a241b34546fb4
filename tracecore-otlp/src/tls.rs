//! TLS for https endpoints (feature `rustls`): the webpki roots, or the PEM file in
//! `OTEL_EXPORTER_OTLP[_TRACES]_CERTIFICATE`; a client certificate and key for mTLS from
//! `..._CLIENT_CERTIFICATE` and `..._CLIENT_KEY`.

use crate::config::{ConfigError, Signal, signal_var};

/// Resolved TLS settings.
#[derive(Debug, Default)]
pub(crate) struct Tls {
    #[cfg(feature = "rustls")]
    roots: Option<Vec<ureq::tls::Certificate<'static>>>,
    #[cfg(feature = "rustls")]
    client: Option<ureq::tls::ClientCert>,
}

type AgentConfig = ureq::config::ConfigBuilder<ureq::typestate::AgentScope>;

impl Tls {
    /// Adds these settings to an agent's configuration.
    #[cfg(feature = "rustls")]
    pub(crate) fn apply(&self, config: AgentConfig) -> AgentConfig {
        let mut builder = ureq::tls::TlsConfig::builder();
        if let Some(roots) = &self.roots {
            builder = builder.root_certs(ureq::tls::RootCerts::new_with_certs(roots));
        }
        config.tls_config(builder.client_cert(self.client.clone()).build())
    }

    /// Without TLS support there is nothing to add.
    #[cfg(not(feature = "rustls"))]
    pub(crate) fn apply(&self, config: AgentConfig) -> AgentConfig {
        config
    }
}

/// The TLS settings from the environment (when `env`); files that cannot be read or parsed are
/// errors naming the variable.
#[cfg(feature = "rustls")]
pub(crate) fn from_env(env: bool, signal: Signal) -> Result<Tls, ConfigError> {
    use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey};

    if !env {
        return Ok(Tls::default());
    }
    let read = |suffix: &str| -> Result<Option<(Vec<u8>, &'static str)>, ConfigError> {
        let Some((path, name)) = signal_var(signal, suffix) else {
            return Ok(None);
        };
        std::fs::read(path.trim())
            .map(|bytes| Some((bytes, name)))
            .map_err(|e| ConfigError::new(name, format!("cannot read {path:?}: {e}")))
    };
    let certs =
        |pem: &[u8], name: &'static str| -> Result<Vec<Certificate<'static>>, ConfigError> {
            let mut out = Vec::new();
            for item in ureq::tls::parse_pem(pem) {
                match item {
                    Ok(PemItem::Certificate(c)) => out.push(c),
                    Ok(_) => {}
                    Err(e) => return Err(ConfigError::new(name, format!("bad PEM: {e}"))),
                }
            }
            if out.is_empty() {
                return Err(ConfigError::new(name, "the file holds no PEM certificate"));
            }
            Ok(out)
        };
    let roots = match read("CERTIFICATE")? {
        Some((pem, name)) => Some(certs(&pem, name)?),
        None => None,
    };
    let client = match (read("CLIENT_CERTIFICATE")?, read("CLIENT_KEY")?) {
        (Some((cert, cert_name)), Some((key, key_name))) => {
            let chain = certs(&cert, cert_name)?;
            let key = PrivateKey::from_pem(&key)
                .map_err(|e| ConfigError::new(key_name, format!("bad PEM private key: {e}")))?;
            Some(ClientCert::new_with_certs(&chain, key))
        }
        (Some((_, name)), None) | (None, Some((_, name))) => {
            return Err(ConfigError::new(
                name,
                "a client certificate needs both OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and \
                 OTEL_EXPORTER_OTLP_CLIENT_KEY",
            ));
        }
        (None, None) => None,
    };
    Ok(Tls { roots, client })
}

/// Without TLS support, certificate variables have nothing to apply to: said once.
#[cfg(not(feature = "rustls"))]
pub(crate) fn from_env(env: bool, signal: Signal) -> Result<Tls, ConfigError> {
    if env {
        for suffix in ["CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"] {
            if let Some((_, name)) = signal_var(signal, suffix) {
                tracecore::diag::warn_once(&format!(
                    "{name} is set but ignored: https needs tracecore-otlp's `rustls` feature"
                ));
            }
        }
    }
    Ok(Tls::default())
}
