//! Readers: a periodic one that exports from its own thread, and a manual one collected on
//! demand (tests, pull exporters such as Prometheus).

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use super::aggregate::DeltaState;
use super::data::{ResourceMetrics, Temporality};
use super::pipeline::Pipeline;
use crate::diag;
use crate::env;
use crate::export::{ExportError, FlushError, Interrupt};

/// Sends collected metrics somewhere. Runs on one thread at a time, never concurrently.
pub trait MetricExporter: Send + fmt::Debug {
    /// Gives the exporter the signal its reader raises when a shutdown runs out of time (see
    /// [`SpanExporter::set_interrupt`](crate::export::SpanExporter::set_interrupt)).
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        let _ = interrupt;
    }

    /// Exports `metrics`, giving up after `timeout`.
    fn export(&mut self, metrics: &ResourceMetrics, timeout: Duration) -> Result<(), ExportError>;

    /// The temporality the exporter wants for counters and histograms (up-down counters are
    /// always cumulative). Default: cumulative.
    fn temporality(&self) -> Temporality {
        Temporality::Cumulative
    }

    /// Releases resources; nothing is exported afterwards.
    fn shutdown(&mut self) -> Result<(), ExportError> {
        Ok(())
    }
}

impl<E: MetricExporter + ?Sized> MetricExporter for Box<E> {
    fn set_interrupt(&mut self, interrupt: Interrupt) {
        (**self).set_interrupt(interrupt);
    }
    fn export(&mut self, metrics: &ResourceMetrics, timeout: Duration) -> Result<(), ExportError> {
        (**self).export(metrics, timeout)
    }
    fn temporality(&self) -> Temporality {
        (**self).temporality()
    }
    fn shutdown(&mut self) -> Result<(), ExportError> {
        (**self).shutdown()
    }
}

/// A reader, as [`MeterProviderBuilder::with_reader`](super::MeterProviderBuilder::with_reader) takes it.
#[derive(Debug)]
pub enum Reader {
    /// Exports on its own thread.
    Periodic(PeriodicReader),
    /// Collected on demand.
    Manual(ManualReader),
}

impl From<PeriodicReader> for Reader {
    fn from(r: PeriodicReader) -> Self {
        Self::Periodic(r)
    }
}

impl From<ManualReader> for Reader {
    fn from(r: ManualReader) -> Self {
        Self::Manual(r)
    }
}

/// Collects on demand: [`collect`](Self::collect) reads every instrument now, cumulatively.
/// Cloning gives another handle on the same reader.
///
/// ```
/// use tracecore::metrics::{ManualReader, MeterProvider};
///
/// let reader = ManualReader::new();
/// let provider = MeterProvider::builder().with_reader(reader.clone()).build();
/// let latency = provider.meter("app").f64_histogram("app.latency").with_unit("s").build();
/// latency.record(0.2, &[]);
/// let collected = reader.collect();
/// let point = &collected.metric("app.latency").unwrap().data.histogram_points()[0];
/// assert_eq!((point.count, point.sum), (1, 0.2));
/// ```
#[derive(Clone, Default)]
pub struct ManualReader {
    pipeline: Arc<OnceLock<Arc<Pipeline>>>,
}

impl fmt::Debug for ManualReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManualReader")
            .field("attached", &self.pipeline.get().is_some())
            .finish()
    }
}

impl ManualReader {
    /// A reader to give to a provider builder.
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn attach(&self, pipeline: Arc<Pipeline>) {
        if self.pipeline.set(pipeline).is_err() {
            diag::warn_once(
                "metrics: a ManualReader was given to a second MeterProvider; it keeps reading the first",
            );
        }
    }

    /// Every instrument's points now, cumulative (empty before the reader joins a provider).
    pub fn collect(&self) -> ResourceMetrics {
        match self.pipeline.get() {
            Some(pipeline) => pipeline.collect(Temporality::Cumulative, &mut DeltaState::default()),
            None => ResourceMetrics {
                resource: crate::trace::Resource::builder().without_env().build(),
                scopes: Vec::new(),
            },
        }
    }
}

/// Collects and exports every `interval` from a thread of its own, never two exports at once;
/// [`force_flush`](super::MeterProvider::force_flush) and shutdown take a timeout and never hang.
pub struct PeriodicReader {
    /// The exporter, interval and timeout, until the thread starts with them.
    config: Mutex<Option<Config>>,
    shared: Arc<Shared>,
    interrupt: Interrupt,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// The exporter, the interval and the export timeout.
type Config = (Box<dyn MetricExporter>, Duration, Duration);

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    done: Condvar,
    failed: AtomicU64,
    points: AtomicU64,
    failed_points: AtomicU64,
}

#[derive(Default)]
struct State {
    flush_requested: u64,
    flush_done: u64,
    shutdown: bool,
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait_until(&self, deadline: Instant, ready: impl Fn(&State) -> bool) -> bool {
        let mut state = self.lock();
        while !ready(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            state = self
                .done
                .wait_timeout(state, left)
                .map_or_else(|e| e.into_inner().0, |(s, _)| s);
        }
        true
    }
}

impl PeriodicReader {
    /// A reader exporting to `exporter` every `OTEL_METRIC_EXPORT_INTERVAL` (default 60 s),
    /// each export limited to `OTEL_METRIC_EXPORT_TIMEOUT` (default 30 s).
    pub fn new(exporter: impl MetricExporter + 'static) -> Self {
        let interval = env::millis_var("OTEL_METRIC_EXPORT_INTERVAL")
            .filter(|d| !d.is_zero())
            .unwrap_or(Duration::from_secs(60));
        let timeout =
            env::millis_var("OTEL_METRIC_EXPORT_TIMEOUT").unwrap_or(Duration::from_secs(30));
        Self {
            config: Mutex::new(Some((Box::new(exporter), interval, timeout))),
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                wake: Condvar::new(),
                done: Condvar::new(),
                failed: AtomicU64::new(0),
                points: AtomicU64::new(0),
                failed_points: AtomicU64::new(0),
            }),
            thread: Mutex::new(None),
            interrupt: Interrupt::new(),
        }
    }

    /// Exports every `interval` instead (at least 1 ms).
    #[must_use]
    pub fn with_interval(mut self, interval: Duration) -> Self {
        if let Some(config) = self.config.get_mut().unwrap_or_else(|e| e.into_inner()) {
            config.1 = interval.max(Duration::from_millis(1));
        }
        self
    }

    /// Limits each export to `timeout` instead.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        if let Some(config) = self.config.get_mut().unwrap_or_else(|e| e.into_inner()) {
            config.2 = timeout;
        }
        self
    }

    /// The interval between exports.
    pub fn interval(&self) -> Option<Duration> {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|c| c.1)
    }

    pub(crate) fn start(mut self, pipeline: Arc<Pipeline>) -> Self {
        let config = self
            .config
            .get_mut()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((mut exporter, interval, timeout)) = config {
            exporter.set_interrupt(self.interrupt.clone());
            let shared = self.shared.clone();
            let spawned = std::thread::Builder::new()
                .name("tracecore-metrics".into())
                .spawn(move || run(&shared, &pipeline, exporter, interval, timeout));
            match spawned {
                Ok(handle) => *self.thread.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle),
                Err(e) => diag::warn(&format!("metrics: could not start the export thread: {e}")),
            }
        }
        self
    }

    pub(crate) fn failed_exports(&self) -> u64 {
        self.shared.failed.load(Ordering::Relaxed)
    }

    pub(crate) fn exported_points(&self) -> u64 {
        self.shared.points.load(Ordering::Relaxed)
    }

    pub(crate) fn failed_points(&self) -> u64 {
        self.shared.failed_points.load(Ordering::Relaxed)
    }

    pub(crate) fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let ticket = {
            let mut state = self.shared.lock();
            if state.shutdown {
                return Err(FlushError::shut_down());
            }
            state.flush_requested += 1;
            state.flush_requested
        };
        self.shared.wake.notify_all();
        if self
            .shared
            .wait_until(deadline, |s| s.flush_done >= ticket || s.stopped)
        {
            Ok(())
        } else {
            Err(FlushError::timeout(timeout))
        }
    }

    pub(crate) fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_all();
        if !self.shared.wait_until(deadline, |s| s.stopped) {
            // Out of time: an export waiting to retry gives up now.
            self.interrupt.raise();
            return Err(FlushError::timeout(timeout));
        }
        if let Some(handle) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        Ok(())
    }
}

fn run(
    shared: &Shared,
    pipeline: &Pipeline,
    mut exporter: Box<dyn MetricExporter>,
    interval: Duration,
    timeout: Duration,
) {
    let preferred = exporter.temporality();
    let mut delta = DeltaState::default();
    let mut failing = false;
    let mut next = Instant::now() + interval;
    loop {
        let (ticket, shutdown) = {
            let mut state = shared.lock();
            while state.flush_requested == state.flush_done && !state.shutdown {
                let left = next.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                state = shared
                    .wake
                    .wait_timeout(state, left)
                    .map_or_else(|e| e.into_inner().0, |(s, _)| s);
            }
            (state.flush_requested, state.shutdown)
        };
        next = Instant::now() + interval;
        let metrics = pipeline.collect(preferred, &mut delta);
        let points = metrics.point_count();
        if points > 0 {
            match exporter.export(&metrics, timeout) {
                Ok(()) => {
                    shared.points.fetch_add(points as u64, Ordering::Relaxed);
                    if failing {
                        diag::warn("metrics: export works again");
                        failing = false;
                    }
                }
                Err(e) => {
                    shared.failed.fetch_add(1, Ordering::Relaxed);
                    shared
                        .failed_points
                        .fetch_add(points as u64, Ordering::Relaxed);
                    if !failing {
                        diag::warn(&format!(
                            "metrics: export failed ({e}); failures are counted, said again when it recovers"
                        ));
                        failing = true;
                    }
                }
            }
        }
        let mut state = shared.lock();
        state.flush_done = state.flush_done.max(ticket);
        if shutdown {
            let _ = exporter.shutdown();
            state.stopped = true;
            drop(state);
            shared.done.notify_all();
            return;
        }
        drop(state);
        shared.done.notify_all();
    }
}

impl fmt::Debug for PeriodicReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PeriodicReader")
            .field("failed_exports", &self.failed_exports())
            .field("exported_points", &self.exported_points())
            .field("failed_points", &self.failed_points())
            .finish_non_exhaustive()
    }
}

/// Keeps every collection it is given, for tests.
#[derive(Clone, Debug, Default)]
pub struct InMemoryMetricExporter {
    exported: Arc<Mutex<Vec<ResourceMetrics>>>,
    temporality: Option<Temporality>,
}

impl InMemoryMetricExporter {
    /// An exporter asking for cumulative temporality.
    pub fn new() -> Self {
        Self::default()
    }

    /// An exporter asking for `temporality` for counters and histograms.
    pub fn with_temporality(temporality: Temporality) -> Self {
        Self {
            exported: Arc::default(),
            temporality: Some(temporality),
        }
    }

    /// Every collection exported so far, oldest first.
    pub fn exported(&self) -> Vec<ResourceMetrics> {
        self.exported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The last collection exported.
    pub fn last(&self) -> Option<ResourceMetrics> {
        self.exported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .cloned()
    }
}

impl MetricExporter for InMemoryMetricExporter {
    fn export(&mut self, metrics: &ResourceMetrics, _: Duration) -> Result<(), ExportError> {
        self.exported
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(metrics.clone());
        Ok(())
    }

    fn temporality(&self) -> Temporality {
        self.temporality.unwrap_or(Temporality::Cumulative)
    }
}
