//! `OTEL_METRICS_EXPORTER=prometheus`: a small listener of its own that answers scrapes, for
//! services without a route for `/metrics` (a service with a router mounts tracecore-tower's
//! `PrometheusService` instead).
//!
//! No client can hold it: each connection is served on a thread of its own, at most 64 at once
//! (past that a new connection is closed at once, not queued), and each has a whole-request
//! deadline: its request head must arrive within 2 s (however it trickles in) and fit in 16 KiB,
//! and its answer must be taken within 5 s. A scrape is answered as soon as it is sent,
//! whatever other connections do. A thread per connection rather than an event loop: the crate has no async runtime, and a
//! few dozen short-lived threads for the scrapes of a metrics endpoint cost less than one.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tracecore::diag;
use tracecore::integration::env;
use tracecore::metrics::ManualReader;
use tracecore::metrics::prometheus::{Format, render};

use crate::ConfigError;

/// The largest request head read; a scrape's is a few hundred bytes.
const MAX_HEAD: usize = 16 * 1024;

/// Connections served at once; a connection past this is closed as it is accepted.
pub(crate) const MAX_CONNECTIONS: usize = 64;

/// How long a connection has to send its whole request head.
pub(crate) const HEAD_DEADLINE: Duration = Duration::from_secs(2);

/// How long a connection has to take its whole answer.
pub(crate) const WRITE_DEADLINE: Duration = Duration::from_secs(5);

/// Answers `GET /metrics` until dropped. Each connection has a thread of its own, at most 64 at
/// once (the excess are closed as they come, not queued); a connection has 2 s to send its
/// request head (16 KiB at most) and 5 s to take its answer, so no client can keep a scrape
/// waiting.
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
        let active = Arc::new(AtomicUsize::new(0));
        std::thread::Builder::new()
            .name("tracecore-prometheus".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopped.load(Ordering::Acquire) {
                        return;
                    }
                    let Ok(stream) = stream else { continue };
                    if active.fetch_add(1, Ordering::AcqRel) >= MAX_CONNECTIONS {
                        active.fetch_sub(1, Ordering::AcqRel);
                        diag::warn_once(&format!(
                            "prometheus listener: more than {MAX_CONNECTIONS} connections at \
                             once; the excess are closed as they come"
                        ));
                        continue;
                    }
                    let slot = Slot(active.clone());
                    let reader = reader.clone();
                    let served = std::thread::Builder::new()
                        .name("tracecore-prometheus-conn".into())
                        .stack_size(64 * 1024)
                        .spawn(move || {
                            let _slot = slot;
                            if let Err(e) = answer(stream, &reader) {
                                diag::warn_once(&format!(
                                    "prometheus listener: a connection failed: {e}"
                                ));
                            }
                        });
                    // A thread that could not start gives its slot back as the closure drops.
                    drop(served);
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

/// One of the connections served at once; given back when its thread ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Reads a request head within [`HEAD_DEADLINE`], whatever pace it arrives at; `None` when the
/// deadline passes, the head is too large, or the client closed first.
fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<Vec<u8>>> {
    let deadline = Instant::now() + HEAD_DEADLINE;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        stream.set_read_timeout(Some(left))?;
        let n = match stream.read(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        if n == 0 || head.len() + n > MAX_HEAD {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(Some(head))
}

/// Writes `bytes` within `deadline`, however slowly the client reads.
fn write_all_by(stream: &mut TcpStream, bytes: &[u8], deadline: Instant) -> std::io::Result<()> {
    let mut written = 0;
    while written < bytes.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client did not take the answer in time",
            ));
        }
        stream.set_write_timeout(Some(left))?;
        match stream.write(&bytes[written..]) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => written += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            // A write timeout reads as `WouldBlock` on Unix: the same deadline.
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, e));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn answer(mut stream: TcpStream, reader: &ManualReader) -> std::io::Result<()> {
    let Some(head) = read_head(&mut stream)? else {
        return Ok(());
    };
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
    let length = body.len();
    let body = if method == "HEAD" { "" } else { body.as_str() };
    let mut out = format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {length}\r\nconnection: close\r\n\r\n"
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    let written = write_all_by(&mut stream, &out, Instant::now() + WRITE_DEADLINE);
    // A client that stopped reading is not an error of the listener's.
    if written.as_ref().is_err_and(|e| {
        matches!(
            e.kind(),
            std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
        )
    }) {
        return Ok(());
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_the_client_does_not_take_stops_at_its_deadline() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        // More than any socket buffer holds, to a client that never reads.
        let answer = vec![b'x'; 64 * 1024 * 1024];
        let result = write_all_by(
            &mut server,
            &answer,
            Instant::now() + Duration::from_millis(300),
        );
        let error = result.expect_err("the client never reads");
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut, "{error}");
        drop(client);
    }
}
