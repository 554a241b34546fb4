//! `OTEL_METRICS_EXPORTER=prometheus`: a small listener of its own that answers scrapes, for
//! services without a route for `/metrics` (a service with a router mounts tracecore-tower's
//! `PrometheusService` instead).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracecore::diag;
use tracecore::integration::env;
use tracecore::metrics::ManualReader;
use tracecore::metrics::prometheus::{Format, render};

use crate::ConfigError;

/// The largest request head read; a scrape's is a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;

/// Answers `GET /metrics` on its own thread until dropped.
#[derive(Debug)]
pub struct PrometheusListener {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl PrometheusListener {
    /// Listens on `OTEL_EXPORTER_PROMETHEUS_HOST` (default `localhost`) and
    /// `OTEL_EXPORTER_PROMETHEUS_PORT` (default `9464`).
    pub(crate) fn from_env(reader: ManualReader) -> Result<Self, ConfigError> {
        const HOST: &str = "OTEL_EXPORTER_PROMETHEUS_HOST";
        const PORT: &str = "OTEL_EXPORTER_PROMETHEUS_PORT";
        let host = env::var(HOST).unwrap_or_else(|| "localhost".to_owned());
        let port = match env::var(PORT) {
            Some(raw) => raw
                .trim()
                .parse::<u16>()
                .map_err(|_| ConfigError::new(PORT, format!("{raw:?} is not a port number")))?,
            None => 9464,
        };
        let addr = (host.as_str(), port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| ConfigError::new(HOST, format!("{host:?} does not resolve")))?;
        Self::start(addr, reader)
            .map_err(|e| ConfigError::new(PORT, format!("cannot listen on {addr}: {e}")))
    }

    /// Listens on `addr` and serves what `reader` collects.
    pub fn start(addr: SocketAddr, reader: ManualReader) -> std::io::Result<Self> {
        let listener = TcpListener::bind(addr)?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        std::thread::Builder::new()
            .name("tracecore-prometheus".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::Acquire) {
                        return;
                    }
                    if let Ok(stream) = stream
                        && let Err(e) = answer(stream, &reader)
                    {
                        diag::warn_once(&format!("prometheus listener: a scrape failed: {e}"));
                    }
                }
            })?;
        Ok(Self { addr, stop })
    }

    /// Where it listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for PrometheusListener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        // Wake the accept loop so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn answer(mut stream: TcpStream, reader: &ManualReader) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let accept = lines.find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("accept")
            .then(|| value.trim())
    });
    let (status, content_type, body) = if method != "GET" && method != "HEAD" {
        (
            "405 Method Not Allowed",
            "text/plain",
            String::from("GET /metrics\n"),
        )
    } else if path.split('?').next() != Some("/metrics") {
        (
            "404 Not Found",
            "text/plain",
            String::from("metrics are at /metrics\n"),
        )
    } else {
        let format = Format::negotiate(accept);
        (
            "200 OK",
            format.content_type(),
            render(&reader.collect(), format),
        )
    };
    let body = if method == "HEAD" { "" } else { body.as_str() };
    write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )?;
    stream.flush()
}
