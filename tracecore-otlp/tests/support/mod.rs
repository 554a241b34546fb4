//! A scripted OTLP/HTTP receiver on 127.0.0.1 for the exporter's tests: it records every
//! request (decompressing gzip) and answers from a script: a status with headers and body, a
//! connection closed without a reply, or a reply held back.

#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use tracecore_otlp::proto;

/// How the receiver answers one request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// An HTTP reply.
    Status {
        code: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
        content_type: &'static str,
    },
    /// Read the request, then close the connection without answering.
    Close,
    /// Read the request and answer nothing for this long (or until the receiver stops).
    Hang(Duration),
}

impl Reply {
    pub fn status(code: u16) -> Self {
        Self::Status {
            code,
            headers: Vec::new(),
            body: Vec::new(),
            content_type: "application/x-protobuf",
        }
    }

    pub fn with_header(mut self, name: &'static str, value: &str) -> Self {
        if let Self::Status { headers, .. } = &mut self {
            headers.push((name, value.to_owned()));
        }
        self
    }

    pub fn with_body(mut self, content_type: &'static str, bytes: &[u8]) -> Self {
        if let Self::Status {
            body,
            content_type: ct,
            ..
        } = &mut self
        {
            *body = bytes.to_vec();
            *ct = content_type;
        }
        self
    }
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub raw: Vec<u8>,
    /// The body after `Content-Encoding: gzip` is undone.
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as an `ExportTraceServiceRequest` (protobuf).
    pub fn request(&self) -> proto::ExportTraceServiceRequest {
        proto::ExportTraceServiceRequest::decode(&self.body[..]).expect("a protobuf request")
    }

    /// The names of the spans in a protobuf body.
    pub fn span_names(&self) -> Vec<String> {
        spans_of(&self.request())
            .into_iter()
            .map(|s| s.name)
            .collect()
    }
}

/// Every span in a request, in order.
pub fn spans_of(request: &proto::ExportTraceServiceRequest) -> Vec<proto::Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|rs| rs.scope_spans.iter())
        .flat_map(|ss| ss.spans.iter().cloned())
        .collect()
}

#[derive(Default)]
struct State {
    script: VecDeque<Reply>,
    received: Vec<Received>,
}

struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    stop: AtomicBool,
}

/// The receiver; stops when dropped.
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

impl Receiver {
    /// A receiver on a free loopback port.
    pub fn start() -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap())
    }

    /// A receiver on `addr` (to bring a "collector" back on the port it had).
    pub fn start_on(addr: SocketAddr) -> Self {
        let listener = TcpListener::bind(addr).expect("bind the receiver");
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let accept = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if accept.stop.load(Ordering::Acquire) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let conn = accept.clone();
                std::thread::spawn(move || serve(stream, &conn));
            }
        });
        Self { addr, shared }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT/v1/traces`.
    pub fn url(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// Answers the next request with `reply` (requests past the script get an empty 200).
    pub fn then(&self, reply: Reply) -> &Self {
        self.shared.state.lock().unwrap().script.push_back(reply);
        self
    }

    pub fn received(&self) -> Vec<Received> {
        self.shared.state.lock().unwrap().received.clone()
    }

    /// Waits (at most 20 s) until `n` requests have arrived.
    pub fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut state = self.shared.state.lock().unwrap();
        while state.received.len() < n {
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "expected {n} requests, got {}",
                state.received.len()
            );
            state = self.shared.changed.wait_timeout(state, left).unwrap().0;
        }
        state.received.clone()
    }

    /// Waits (at most 20 s) until the spans received number at least `n`; returns them all.
    pub fn wait_for_spans(&self, n: usize) -> Vec<proto::Span> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans: Vec<proto::Span> = self
                .received()
                .iter()
                .flat_map(|r| spans_of(&r.request()))
                .collect();
            if spans.len() >= n {
                return spans;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} spans, got {}",
                spans.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        self.shared.changed.notify_all();
        let _ = TcpStream::connect(self.addr);
    }
}

/// Serves requests on one connection until it closes.
fn serve(stream: TcpStream, shared: &Shared) {
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(received) = read_request(&mut reader) {
        let reply = {
            let mut state = shared.state.lock().unwrap();
            state.received.push(received);
            shared.changed.notify_all();
            state.script.pop_front()
        };
        match reply.unwrap_or_else(|| Reply::status(200)) {
            Reply::Close => return,
            Reply::Hang(for_how_long) => {
                let until = Instant::now() + for_how_long;
                while Instant::now() < until && !shared.stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(10));
                }
                return;
            }
            Reply::Status {
                code,
                headers,
                body,
                content_type,
            } => {
                let mut head = format!(
                    "HTTP/1.1 {code} Scripted\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\n",
                    body.len()
                );
                for (name, value) in headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                if writer.write_all(head.as_bytes()).is_err() || writer.write_all(&body).is_err() {
                    return;
                }
            }
        }
    }
}

/// One HTTP/1.1 request (Content-Length or chunked body), or `None` at the end of the stream.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Received> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    for _ in 0..200 {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (name, value) = h.split_once(':')?;
        headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
    }
    let find = |n: &str| headers.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let mut raw = Vec::new();
    if let Some(len) = find("content-length") {
        raw.resize(len.parse().ok()?, 0);
        reader.read_exact(&mut raw).ok()?;
    } else if find("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        for _ in 0..100_000 {
            let mut size = String::new();
            reader.read_line(&mut size).ok()?;
            let n = usize::from_str_radix(size.trim().split(';').next()?, 16).ok()?;
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).ok()?;
            if n == 0 {
                break;
            }
            raw.extend_from_slice(&chunk[..n]);
        }
    }
    let body = if find("content-encoding").is_some_and(|e| e.eq_ignore_ascii_case("gzip")) {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .expect("a valid gzip body");
        out
    } else {
        raw.clone()
    };
    Some(Received {
        method,
        path,
        headers,
        raw,
        body,
        at: Instant::now(),
    })
}

/// A provider's spans, ended now: `n` spans named `span-0`, `span-1`, ...
pub fn some_spans(n: usize) -> Vec<tracecore::trace::SpanData> {
    let spans = tracecore::export::InMemoryExporter::new();
    let provider = tracecore::trace::TracerProvider::builder()
        .with_service_name("otlp-test")
        .with_simple_exporter(spans.clone())
        .build();
    let tracer = provider.tracer("test");
    for i in 0..n {
        let span = tracer.start(format!("span-{i}"));
        span.set_attribute(tracecore::KeyValue::new("i", i as i64));
        span.end();
    }
    spans.finished_spans().as_slice().to_vec()
}
