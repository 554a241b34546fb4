//! The soak: a traced service under a bounded request loop on loopback, its spans, HTTP metric
//! points and log records exported over OTLP to a collector of its own that changes state on a schedule (accepting,
//! answering 503 with `Retry-After`, hanging, resetting connections mid-request, answering 200
//! slowly, refusing connections, accepting again). Each phase reports its requests, latency,
//! resident memory, what was created, exported and dropped (by reason), what the collector
//! received, and how long a shutdown in that phase took. Shared by the CI test
//! (`tests/soak.rs`, seconds per phase) and `benches/soak.sh` (a minute per phase, the collector
//! in a process of its own so that its work does not share the service's core).

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message;
use tracecore::export::{BatchProcessor, Drops};
use tracecore::http_span::HttpInstrumentation;
use tracecore::logs::{BatchLogProcessor, LogRecord, LoggerProvider, Severity};
use tracecore::metrics::{MeterProvider, PeriodicReader};
use tracecore::trace::{AlwaysOn, TracerProvider};
use tracecore_otlp::{OtlpExporter, RetryPolicy, proto};

/// What the collector does with each request, phase by phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Accepting,
    Unavailable,
    Hanging,
    Resetting,
    Slow,
    Refusing,
    AcceptingAgain,
}

pub const PHASES: [Phase; 7] = [
    Phase::Accepting,
    Phase::Unavailable,
    Phase::Hanging,
    Phase::Resetting,
    Phase::Slow,
    Phase::Refusing,
    Phase::AcceptingAgain,
];

impl Phase {
    fn from_name(name: &str) -> Option<Self> {
        PHASES.into_iter().find(|p| format!("{p:?}") == name)
    }
}

/// What a collector received so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Received {
    pub spans: u64,
    pub records: u64,
    pub points: u64,
    /// Connections accepted.
    pub connections: u64,
}

/// How long a slow answer takes: past the exporter's 1 s timeout, so the export fails while
/// the collector keeps what it received (at-least-once: the retry sends it again).
const SLOW: Duration = Duration::from_millis(1500);

/// A collector switching states on command.
pub struct Collector {
    addr: SocketAddr,
    phase: Arc<Mutex<Phase>>,
    stop: Arc<AtomicBool>,
    counts: Arc<Counts>,
}

#[derive(Default)]
struct Counts {
    spans: AtomicU64,
    records: AtomicU64,
    points: AtomicU64,
    connections: AtomicU64,
}

impl Collector {
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let collector = Self {
            addr,
            phase: Arc::new(Mutex::new(Phase::Accepting)),
            stop: Arc::new(AtomicBool::new(false)),
            counts: Arc::default(),
        };
        let (phase, stop, counts) = (
            collector.phase.clone(),
            collector.stop.clone(),
            collector.counts.clone(),
        );
        std::thread::spawn(move || {
            let mut listener = Some(listener);
            while !stop.load(Ordering::Relaxed) {
                let now = *phase.lock().unwrap();
                if now == Phase::Refusing {
                    // Nothing listens on the port while refusing.
                    listener = None;
                    std::thread::sleep(Duration::from_millis(20));
                    continue;
                }
                let current = match &listener {
                    Some(l) => l,
                    None => match TcpListener::bind(addr) {
                        Ok(l) => listener.insert(l),
                        Err(_) => {
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    },
                };
                current.set_nonblocking(true).unwrap();
                match current.accept() {
                    Ok((stream, _)) => {
                        counts.connections.fetch_add(1, Ordering::Relaxed);
                        let (phase, stop, counts) = (phase.clone(), stop.clone(), counts.clone());
                        std::thread::spawn(move || serve(stream, &phase, &stop, &counts));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        collector
    }

    pub fn set(&self, phase: Phase) {
        *self.phase.lock().unwrap() = phase;
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn received(&self) -> Received {
        Received {
            spans: self.counts.spans.load(Ordering::Relaxed),
            records: self.counts.records.load(Ordering::Relaxed),
            points: self.counts.points.load(Ordering::Relaxed),
            connections: self.counts.connections.load(Ordering::Relaxed),
        }
    }

    /// Serves a collector in this process for a parent on standard input and output: prints
    /// its address, then answers each line (`phase NAME` or `received`) with one line.
    pub fn serve_parent() {
        let collector = Self::start();
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", collector.addr).unwrap();
        out.flush().unwrap();
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Some(name) = line.strip_prefix("phase ") {
                collector.set(Phase::from_name(name).expect("a phase's name"));
                writeln!(out, "ok").unwrap();
            } else {
                let r = collector.received();
                writeln!(
                    out,
                    "{} {} {} {}",
                    r.spans, r.records, r.points, r.connections
                )
                .unwrap();
            }
            out.flush().unwrap();
        }
    }
}

/// The soak's collector: in this process (the CI test), or a child process (`program
/// collector-args...` running [`Collector::serve_parent`]) so that its work does not share the
/// service's cores.
pub enum Link {
    Local(Collector),
    Process {
        child: Child,
        io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
        addr: SocketAddr,
    },
}

impl Link {
    pub fn local() -> Self {
        Self::Local(Collector::start())
    }

    /// Starts `command` (which must run [`Collector::serve_parent`]) and talks to it.
    pub fn process(mut command: Command) -> Self {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the collector process");
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let addr = line.trim().parse().expect("the collector's address");
        Self::Process {
            child,
            io: Mutex::new((stdin, stdout)),
            addr,
        }
    }

    fn ask(&self, question: &str) -> String {
        let Self::Process { io, .. } = self else {
            unreachable!()
        };
        let mut io = io.lock().unwrap();
        writeln!(io.0, "{question}").unwrap();
        io.0.flush().unwrap();
        let mut answer = String::new();
        io.1.read_line(&mut answer).unwrap();
        answer
    }

    pub fn set(&self, phase: Phase) {
        match self {
            Self::Local(c) => c.set(phase),
            Self::Process { .. } => {
                self.ask(&format!("phase {phase:?}"));
            }
        }
    }

    pub fn url(&self, path: &str) -> String {
        match self {
            Self::Local(c) => c.url(path),
            Self::Process { addr, .. } => format!("http://{addr}{path}"),
        }
    }

    pub fn received(&self) -> Received {
        match self {
            Self::Local(c) => c.received(),
            Self::Process { .. } => {
                let answer = self.ask("received");
                let n: Vec<u64> = answer
                    .split_whitespace()
                    .map(|n| n.parse().unwrap())
                    .collect();
                Received {
                    spans: n[0],
                    records: n[1],
                    points: n[2],
                    connections: n[3],
                }
            }
        }
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if let Self::Process { child, .. } = self {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn serve(mut stream: TcpStream, phase: &Mutex<Phase>, stop: &AtomicBool, counts: &Counts) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    loop {
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                _ => return,
            }
            if head.len() > 16 * 1024 {
                return;
            }
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let path = head.split_whitespace().nth(1).unwrap_or("").to_owned();
        let length: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let now = *phase.lock().unwrap();
        if now == Phase::Resetting {
            // Closed with the body unread: the kernel resets the connection mid-request.
            return;
        }
        let mut body = vec![0u8; length];
        if stream.read_exact(&mut body).is_err() {
            return;
        }
        match now {
            Phase::Unavailable => {
                let _ = stream.write_all(
                    b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n",
                );
                continue;
            }
            Phase::Hanging => {
                // Holds the request, never answering, until the phase ends.
                while *phase.lock().unwrap() == Phase::Hanging && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Phase::Slow => std::thread::sleep(SLOW),
            _ => {}
        }
        if path.ends_with("/v1/traces") {
            if let Ok(request) = proto::ExportTraceServiceRequest::decode(&body[..]) {
                let n: usize = request
                    .resource_spans
                    .iter()
                    .flat_map(|r| &r.scope_spans)
                    .map(|s| s.spans.len())
                    .sum();
                counts.spans.fetch_add(n as u64, Ordering::Relaxed);
            }
        } else if path.ends_with("/v1/metrics") {
            if let Ok(request) = proto::ExportMetricsServiceRequest::decode(&body[..]) {
                let n: usize = request
                    .resource_metrics
                    .iter()
                    .flat_map(|r| &r.scope_metrics)
                    .flat_map(|s| &s.metrics)
                    .map(|m| match &m.data {
                        Some(proto::MetricData::Gauge(g)) => g.data_points.len(),
                        Some(proto::MetricData::Sum(s)) => s.data_points.len(),
                        Some(proto::MetricData::Histogram(h)) => h.data_points.len(),
                        None => 0,
                    })
                    .sum();
                counts.points.fetch_add(n as u64, Ordering::Relaxed);
            }
        } else if path.ends_with("/v1/logs")
            && let Ok(request) = proto::ExportLogsServiceRequest::decode(&body[..])
        {
            let n: usize = request
                .resource_logs
                .iter()
                .flat_map(|r| &r.scope_logs)
                .map(|s| s.log_records.len())
                .sum();
            counts.records.fetch_add(n as u64, Ordering::Relaxed);
        }
        if stream
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

/// The service's telemetry: spans, HTTP metrics and log records, each over OTLP to the
/// collector.
pub struct Pipelines {
    pub traces: TracerProvider,
    pub meters: MeterProvider,
    pub logs: LoggerProvider,
    pub span_stats: tracecore_otlp::OtlpStats,
    pub point_stats: tracecore_otlp::OtlpStats,
    pub log_stats: tracecore_otlp::OtlpStats,
}

fn exporter() -> tracecore_otlp::OtlpExporterBuilder {
    OtlpExporter::builder()
        .without_env()
        .with_timeout(Duration::from_secs(1))
        .with_retry(RetryPolicy::new(
            Duration::from_millis(100),
            Duration::from_millis(500),
            3,
        ))
}

impl Pipelines {
    pub fn new(collector: &Link) -> Self {
        let spans = exporter()
            .with_endpoint(collector.url("/v1/traces"))
            .build()
            .unwrap();
        let points = exporter()
            .with_endpoint(collector.url("/v1/traces"))
            .build_metrics()
            .unwrap();
        let records = exporter()
            .with_endpoint(collector.url("/v1/traces"))
            .build_logs()
            .unwrap();
        let (span_stats, point_stats, log_stats) = (spans.stats(), points.stats(), records.stats());
        Self {
            traces: TracerProvider::builder()
                .with_service_name("soak")
                .with_sampler(AlwaysOn)
                .with_span_processor(
                    BatchProcessor::builder(spans)
                        .with_scheduled_delay(Duration::from_millis(200))
                        .build(),
                )
                .build(),
            meters: MeterProvider::builder()
                .with_service_name("soak")
                .with_reader(
                    PeriodicReader::new(points)
                        .with_interval(Duration::from_millis(200))
                        .with_timeout(Duration::from_secs(2)),
                )
                .build(),
            logs: LoggerProvider::builder()
                .with_service_name("soak")
                .with_processor(
                    BatchLogProcessor::builder(records)
                        .with_scheduled_delay(Duration::from_millis(200))
                        .build(),
                )
                .build(),
            span_stats,
            point_stats,
            log_stats,
        }
    }
}

/// Resident memory, in KiB (Linux).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time the process's `tracecore-*` threads (the export threads) have used so far, in clock
/// ticks (Linux: utime + stime of each thread).
pub fn export_threads_ticks() -> u64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    tasks
        .flatten()
        .filter(|t| {
            std::fs::read_to_string(t.path().join("comm"))
                .is_ok_and(|c| c.starts_with("tracecore-"))
        })
        .filter_map(|t| {
            let stat = std::fs::read_to_string(t.path().join("stat")).ok()?;
            // The fields after the name (which may hold spaces) end with ')'.
            let rest = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            // utime and stime are fields 14 and 15 of stat, 12 and 13 after the name.
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .sum()
}

/// Latency buckets: 1 µs each, up to 100 ms.
const LATENCY_BUCKETS: usize = 100_000;

/// What one phase did.
#[derive(Clone, Debug)]
pub struct PhaseReport {
    pub phase: Phase,
    pub requests: u64,
    pub p50: Duration,
    pub p99: Duration,
    pub rss_max_kib: u64,
    /// Spans exported and failed (after retries) during the phase, as the exporter counted them.
    pub spans_exported: u64,
    pub spans_failed: u64,
    /// Spans the collector received during the phase.
    pub spans_received: u64,
    /// Metric points exported and failed (after retries) during the phase.
    pub points_exported: u64,
    pub points_failed: u64,
    /// How long a shutdown of a fresh pipeline took in this phase (deadline 2 s).
    pub shutdown: Duration,
    /// CPU time the export threads used during the phase, in clock ticks (usually 10 ms).
    pub export_cpu_ticks: u64,
    /// Connections the collector accepted during the phase.
    pub connections: u64,
}

/// The totals at the end, after the service's pipelines shut down.
#[derive(Clone, Debug)]
pub struct Totals {
    pub spans_created: u64,
    pub spans_exported: u64,
    /// Every span dropped: queue or bytes full, export failed after retries, left at shutdown.
    pub spans_dropped: u64,
    /// The same, by reason, as the batch processor counted them.
    pub span_drops: Drops,
    /// Spans in exports that failed after their retries, as the exporter counted them.
    pub spans_failed: u64,
    pub spans_received: u64,
    pub records_created: u64,
    pub records_exported: u64,
    pub records_dropped: u64,
    pub record_drops: Drops,
    pub records_failed: u64,
    pub records_received: u64,
    /// Metric points: every collection's points are exported or failed (a cumulative series'
    /// next collection carries its total again).
    pub points_exported: u64,
    pub points_failed: u64,
    /// As the OTLP exporter counted them.
    pub points_exporter_exported: u64,
    pub points_exporter_failed: u64,
    pub points_received: u64,
}

/// Runs every phase for `per_phase`, with `concurrency` clients looping on the service.
pub async fn run(
    collector: Link,
    per_phase: Duration,
    concurrency: usize,
) -> (Vec<PhaseReport>, Totals) {
    let pipelines = Pipelines::new(&collector);
    let created = Arc::new(AtomicU64::new(0));
    let logger = pipelines.logs.logger("soak");
    let handler_created = created.clone();
    let router = axum::Router::new()
        .route(
            "/items/{id}",
            axum::routing::get(move || {
                let created = handler_created.clone();
                let logger = logger.clone();
                async move {
                    created.fetch_add(1, Ordering::Relaxed);
                    logger.emit(LogRecord::new(Severity::INFO).with_body("item served"));
                    "an item"
                }
            }),
        )
        .layer(tracecore_tower::ServerLayer::new(
            HttpInstrumentation::from(pipelines.traces.tracer("soak"))
                .with_meter_provider(&pipelines.meters),
        ));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::builder().no_proxy().build().unwrap();

    let mut reports = Vec::new();
    for phase in PHASES {
        collector.set(phase);
        let before = (
            pipelines.span_stats.counts(),
            collector.received(),
            pipelines.point_stats.counts(),
        );
        let ticks = export_threads_ticks();
        let end = Instant::now() + per_phase;
        // Latencies in 1 µs buckets up to 100 ms (the last bucket takes the rest): a fixed
        // 400 KB, so the harness's own memory does not grow with the requests.
        let latencies: Arc<Mutex<Vec<u32>>> = Arc::new(Mutex::new(vec![0; LATENCY_BUCKETS]));
        let rss_max = Arc::new(AtomicU64::new(rss_kib()));
        let mut tasks = Vec::new();
        for _ in 0..concurrency {
            let (client, latencies) = (client.clone(), latencies.clone());
            let url = format!("http://{addr}/items/7");
            tasks.push(tokio::spawn(async move {
                let mut mine = vec![0u32; LATENCY_BUCKETS];
                while Instant::now() < end {
                    let started = Instant::now();
                    let reply = client.get(&url).send().await.unwrap();
                    let _ = reply.bytes().await;
                    let micros = started.elapsed().as_micros() as usize;
                    mine[micros.min(LATENCY_BUCKETS - 1)] += 1;
                }
                let mut all = latencies.lock().unwrap();
                for (total, n) in all.iter_mut().zip(mine) {
                    *total += n;
                }
            }));
        }
        let sampler = {
            let rss_max = rss_max.clone();
            tokio::spawn(async move {
                while Instant::now() < end {
                    rss_max.fetch_max(rss_kib(), Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            })
        };
        for task in tasks {
            task.await.unwrap();
        }
        sampler.await.unwrap();
        let export_cpu_ticks = export_threads_ticks().saturating_sub(ticks);
        let shutdown = shutdown_in_phase(&collector).await;
        let buckets = std::mem::take(&mut *latencies.lock().unwrap());
        let requests: u64 = buckets.iter().map(|&n| u64::from(n)).sum();
        let at = |q: f64| {
            let rank = ((requests.saturating_sub(1)) as f64 * q) as u64;
            let mut seen = 0u64;
            for (micros, &n) in buckets.iter().enumerate() {
                seen += u64::from(n);
                if seen > rank {
                    return Duration::from_micros(micros as u64);
                }
            }
            Duration::ZERO
        };
        let after = pipelines.span_stats.counts();
        let points = pipelines.point_stats.counts();
        reports.push(PhaseReport {
            phase,
            requests,
            p50: at(0.5),
            p99: at(0.99),
            rss_max_kib: rss_max.load(Ordering::Relaxed),
            spans_exported: after.spans_exported - before.0.spans_exported,
            spans_failed: after.spans_failed - before.0.spans_failed,
            spans_received: collector.received().spans - before.1.spans,
            points_exported: points.points_exported - before.2.points_exported,
            points_failed: points.points_failed - before.2.points_failed,
            shutdown,
            export_cpu_ticks,
            connections: collector.received().connections - before.1.connections,
        });
    }
    collector.set(Phase::Accepting);
    let traces = pipelines.traces.clone();
    let meters = pipelines.meters.clone();
    let logs = pipelines.logs.clone();
    tokio::task::spawn_blocking(move || {
        let _ = traces.shutdown(Duration::from_secs(10));
        let _ = meters.shutdown(Duration::from_secs(10));
        let _ = logs.shutdown(Duration::from_secs(10));
    })
    .await
    .unwrap();
    // The export under way at a deadline ends within its own timeout.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let spans = pipelines.span_stats.counts();
    let points = pipelines.point_stats.counts();
    let records = pipelines.log_stats.counts();
    let received = collector.received();
    let totals = Totals {
        spans_created: created.load(Ordering::Relaxed),
        spans_exported: spans.spans_exported,
        spans_dropped: pipelines.traces.dropped_spans(),
        span_drops: pipelines.traces.span_drops(),
        spans_failed: spans.spans_failed,
        spans_received: received.spans,
        records_created: created.load(Ordering::Relaxed),
        records_exported: records.records_exported,
        records_dropped: pipelines.logs.dropped_records(),
        record_drops: pipelines.logs.record_drops(),
        records_failed: records.records_failed,
        records_received: received.records,
        points_exported: pipelines.meters.exported_points(),
        points_failed: pipelines.meters.failed_points(),
        points_exporter_exported: points.points_exported,
        points_exporter_failed: points.points_failed,
        points_received: received.points,
    };
    (reports, totals)
}

/// A fresh pipeline's shutdown (deadline 2 s) with spans queued, in the current phase.
async fn shutdown_in_phase(collector: &Link) -> Duration {
    let spans = exporter()
        .with_endpoint(collector.url("/v1/traces"))
        .build()
        .unwrap();
    let provider = TracerProvider::builder()
        .with_sampler(AlwaysOn)
        .with_span_processor(BatchProcessor::builder(spans).build())
        .build();
    let tracer = provider.tracer("shutdown");
    for _ in 0..100 {
        tracer.start("queued").end();
    }
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let _ = provider.shutdown(Duration::from_secs(2));
        started.elapsed()
    })
    .await
    .unwrap()
}

/// The phases as a table (Markdown).
pub fn table(reports: &[PhaseReport]) -> String {
    let mut out = String::from(
        "| phase | requests | p50 | p99 | RSS max (MiB) | spans exported | failed after retries | received by the collector | metric points exported / failed | shutdown (deadline 2 s) | export threads' CPU | connections |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in reports {
        out.push_str(&format!(
            "| {:?} | {} | {:.0} µs | {:.0} µs | {:.1} | {} | {} | {} | {} / {} | {} ms | {} ticks | {} |\n",
            r.phase,
            r.requests,
            r.p50.as_secs_f64() * 1e6,
            r.p99.as_secs_f64() * 1e6,
            r.rss_max_kib as f64 / 1024.0,
            r.spans_exported,
            r.spans_failed,
            r.spans_received,
            r.points_exported,
            r.points_failed,
            r.shutdown.as_millis(),
            r.export_cpu_ticks,
            r.connections
        ));
    }
    out
}
