//! OTLP over https against a TLS receiver on loopback, with a test CA and certificates made
//! here: a trusted CA, mutual TLS, and untrusted, expired or missing certificates giving a
//! counted failure that never blocks a request. Each case runs as a child process, since the
//! certificates come from the `OTEL_EXPORTER_OTLP_*` variables.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tracecore_otlp::Setup;

#[path = "../../tests/support/child_env.rs"]
mod child_env;

use child_env::{child_warnings, report, run_child};

/// In a child: set up from the environment, end one span (timing `end`), shut down, print
/// what the exporter counted.
#[test]
#[ignore = "run by the TLS tests as a child process"]
fn child_export_one_span_over_tls() {
    let Some(warnings) = child_warnings() else {
        return;
    };
    let telemetry = Setup::new().build().unwrap();
    let span = telemetry.tracer("tls-test").start("over-tls");
    let start = Instant::now();
    span.end();
    eprintln!("END {} us", start.elapsed().as_micros());
    let _ = telemetry.shutdown(Duration::from_secs(10));
    let counts = telemetry.otlp_stats().unwrap().counts();
    eprintln!(
        "COUNTS exported={} failed={}",
        counts.spans_exported, counts.spans_failed
    );
    report(&warnings);
}

struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

fn new_ca(name: &str) -> Ca {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, name);
    let key = KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    Ca {
        pem: cert.pem(),
        issuer: Issuer::new(params, key),
    }
}

/// A leaf certificate for `names` signed by `ca`; `expired` puts its validity in the past.
fn leaf(
    ca: &Ca,
    names: &[&str],
    expired: bool,
) -> (String, String, CertificateDer<'static>, KeyPair) {
    let mut params =
        CertificateParams::new(names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>()).unwrap();
    if expired {
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate().unwrap();
    let cert = params.signed_by(&key, &ca.issuer).unwrap();
    (cert.pem(), key.serialize_pem(), cert.der().clone(), key)
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_string_lossy().into_owned()
}

/// A TLS receiver on loopback answering every OTLP request with 200; counts the requests it
/// read. With `client_ca`, it requires a client certificate signed by it.
fn receiver(
    cert: CertificateDer<'static>,
    key: &KeyPair,
    client_ca: Option<&Ca>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            let der = rustls::pki_types::pem::PemObject::from_pem_slice(ca.pem.as_bytes()).unwrap();
            roots.add(der).unwrap();
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider,
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let config = Arc::new(builder.with_single_cert(vec![cert], key).unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let count = served.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(64) {
            let Ok(mut stream) = stream else { continue };
            let config = config.clone();
            let count = count.clone();
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, &mut stream);
                let mut request = Vec::new();
                let mut buf = [0u8; 4096];
                // The head, then as much body as its Content-Length says.
                let body_len = loop {
                    let Ok(n) = tls.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                    if let Some(at) = request.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&request[..at]).to_ascii_lowercase();
                        let len = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break at + 4 + len;
                    }
                };
                while request.len() < body_len {
                    let Ok(n) = tls.read(&mut buf) else { return };
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                count.fetch_add(1, Ordering::SeqCst);
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (addr, served)
}

fn dir(case: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("tls-{case}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs the child against `addr` with `vars`; (exported, failed, microseconds `end` took).
fn export(addr: SocketAddr, vars: &[(&str, String)]) -> (u64, u64, u128, String) {
    let endpoint = format!("https://localhost:{}", addr.port());
    let mut all: Vec<(&str, &str)> = vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "3000"),
        ("OTEL_METRICS_EXPORTER", "none"),
    ];
    all.extend(vars.iter().map(|(k, v)| (*k, v.as_str())));
    let stderr = run_child("child_export_one_span_over_tls", &all);
    let counts = stderr
        .lines()
        .find_map(|l| l.strip_prefix("COUNTS "))
        .unwrap_or_else(|| panic!("{stderr}"));
    let field = |name: &str| -> u64 {
        counts
            .split_whitespace()
            .find_map(|f| f.strip_prefix(name)?.parse().ok())
            .unwrap()
    };
    let end_us: u128 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("END ")?.strip_suffix(" us")?.parse().ok())
        .unwrap();
    (field("exported="), field("failed="), end_us, stderr)
}

#[test]
fn a_trusted_ca_exports_over_https() {
    let ca = new_ca("tracecore test CA");
    let (_, _, cert, key) = leaf(&ca, &["localhost"], false);
    let (addr, served) = receiver(cert, &key, None);
    let d = dir("trusted");
    let ca_path = write(&d, "ca.pem", &ca.pem);
    let (exported, failed, _, stderr) =
        export(addr, &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_path)]);
    assert_eq!((exported, failed), (1, 0), "{stderr}");
    assert_eq!(served.load(Ordering::SeqCst), 1);
}

#[test]
fn mutual_tls_sends_the_client_certificate_and_fails_counted_without_it() {
    let ca = new_ca("tracecore test CA");
    let client_ca = ca_for_clients();
    let (_, _, cert, key) = leaf(&ca, &["localhost"], false);
    let (addr, served) = receiver(cert, &key, Some(&client_ca));
    let d = dir("mtls");
    let ca_path = write(&d, "ca.pem", &ca.pem);
    let (client_cert, client_key, _, _) = leaf(&client_ca, &["client"], false);
    let cert_path = write(&d, "client.pem", &client_cert);
    let key_path = write(&d, "client.key", &client_key);
    let (exported, failed, _, stderr) = export(
        addr,
        &[
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_path.clone()),
            ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", cert_path),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", key_path),
        ],
    );
    assert_eq!((exported, failed), (1, 0), "{stderr}");
    assert_eq!(served.load(Ordering::SeqCst), 1);

    let (exported, failed, end_us, stderr) =
        export(addr, &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_path)]);
    assert_eq!(
        (exported, failed),
        (0, 1),
        "no client certificate: {stderr}"
    );
    assert!(end_us < 100_000, "ending the span never waits: {end_us} us");
    assert_eq!(served.load(Ordering::SeqCst), 1, "nothing more was served");
}

fn ca_for_clients() -> Ca {
    new_ca("tracecore test client CA")
}

#[test]
fn an_untrusted_or_expired_certificate_fails_counted_and_said() {
    let ca = new_ca("tracecore test CA");
    let stranger = new_ca("someone else's CA");
    let d = dir("untrusted");
    let ca_path = write(&d, "ca.pem", &ca.pem);
    for (case, issuer, expired) in [("untrusted", &stranger, false), ("expired", &ca, true)] {
        let (_, _, cert, key) = leaf(issuer, &["localhost"], expired);
        let (addr, served) = receiver(cert, &key, None);
        let (exported, failed, end_us, stderr) =
            export(addr, &[("OTEL_EXPORTER_OTLP_CERTIFICATE", ca_path.clone())]);
        assert_eq!((exported, failed), (0, 1), "{case}: {stderr}");
        assert!(
            end_us < 100_000,
            "{case}: ending the span never waits: {end_us} us"
        );
        assert_eq!(served.load(Ordering::SeqCst), 0, "{case}");
        assert!(
            stderr.contains("OTLP export to https://localhost"),
            "{case}: the failure is said: {stderr}"
        );
    }
}
