//! The batch processor: a bounded queue drained by one dedicated export thread.

use std::collections::VecDeque;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{FlushError, Interrupt, SpanExporter, SpanProcessor};
use crate::trace::SpanData;
use crate::{diag, env};

/// Batch processor settings, with the OpenTelemetry defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchConfig {
    /// Spans queued at most; past it new spans are dropped and counted (`OTEL_BSP_MAX_QUEUE_SIZE`, 2048).
    pub max_queue_size: usize,
    /// The longest a span waits before export (`OTEL_BSP_SCHEDULE_DELAY`, 5000 ms).
    pub scheduled_delay: Duration,
    /// Spans per export; a full batch is exported at once (`OTEL_BSP_MAX_EXPORT_BATCH_SIZE`, 512).
    pub max_export_batch_size: usize,
    /// The time one export may take (`OTEL_BSP_EXPORT_TIMEOUT`, 30000 ms).
    pub export_timeout: Duration,
    /// The bytes the queued spans (and the batch being exported) may hold, as
    /// [`SpanData::estimated_size`] counts them; past it new spans are dropped and counted like
    /// on a full queue (`TRACECORE_BSP_MAX_QUEUE_BYTES`, 32 MiB: with the exporter's buffers, a
    /// service's tracing stays under 64 MiB whatever its spans carry).
    pub max_queue_bytes: usize,
}

impl Default for BatchConfig {
    fn default() -> Self {
        Self {
            max_queue_size: 2048,
            scheduled_delay: Duration::from_millis(5000),
            max_export_batch_size: 512,
            export_timeout: Duration::from_millis(30_000),
            max_queue_bytes: 32 * 1024 * 1024,
        }
    }
}

impl BatchConfig {
    /// The settings the `OTEL_BSP_*` variables give, defaults for the rest. A bad value is warned
    /// about once, naming the variable, and the default is used.
    pub fn from_env() -> Self {
        let d = Self::default();
        let positive = |name: &str, default: usize| match env::usize_var(name) {
            Some(0) => {
                diag::warn_once(&format!("{name}: value 0 is not positive; using {default}"));
                default
            }
            Some(v) => v,
            None => default,
        };
        Self {
            max_queue_size: positive("OTEL_BSP_MAX_QUEUE_SIZE", d.max_queue_size),
            scheduled_delay: env::millis_var("OTEL_BSP_SCHEDULE_DELAY")
                .unwrap_or(d.scheduled_delay),
            max_export_batch_size: positive(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
                d.max_export_batch_size,
            ),
            export_timeout: env::millis_var("OTEL_BSP_EXPORT_TIMEOUT").unwrap_or(d.export_timeout),
            max_queue_bytes: positive("TRACECORE_BSP_MAX_QUEUE_BYTES", d.max_queue_bytes),
        }
        .validated()
    }

    /// Sizes at least 1, and a batch no larger than the queue.
    fn validated(mut self) -> Self {
        self.max_queue_size = self.max_queue_size.max(1);
        self.max_export_batch_size = self.max_export_batch_size.max(1);
        if self.max_export_batch_size > self.max_queue_size {
            diag::warn_once(&format!(
                "OTEL_BSP_MAX_EXPORT_BATCH_SIZE: {} is larger than the queue ({}); using {}",
                self.max_export_batch_size, self.max_queue_size, self.max_queue_size
            ));
            self.max_export_batch_size = self.max_queue_size;
        }
        self
    }
}

/// Queues sampled spans (bounded) for one export thread; the caller never waits for the exporter.
///
/// The thread exports when a batch is full, when the scheduled delay has passed, on
/// [`force_flush`](SpanProcessor::force_flush), and on shutdown (which drains the queue first).
/// A full queue drops the newest span and counts it; so does an export that fails.
pub struct BatchProcessor {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Raised at shutdown: an exporter waiting between retries stops waiting.
    interrupt: Interrupt,
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the export thread.
    wake: Condvar,
    /// Wakes callers waiting for a flush or shutdown.
    done: Condvar,
    config: BatchConfig,
    dropped: AtomicU64,
    exported: AtomicU64,
}

struct State {
    queue: VecDeque<SpanData>,
    /// `queue`'s spans' estimated sizes, in the same order: estimated once, when queued.
    sizes: VecDeque<usize>,
    /// Spans taken by the export thread and not yet exported: they count against the bound.
    in_flight: usize,
    /// The estimated bytes of the queue and of the spans in flight: bounded too.
    bytes: usize,
    flush_requested: u64,
    flush_done: u64,
    shutdown: bool,
    /// Shutdown ran out of time: spans not yet handed to the exporter are dropped and counted.
    abandon: bool,
    stopped: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on `done` until `ready` holds, or fails at `deadline`.
    fn wait_done<'a>(
        &self,
        mut state: MutexGuard<'a, State>,
        deadline: Instant,
        ready: impl Fn(&State) -> bool,
    ) -> Option<MutexGuard<'a, State>> {
        while !ready(&state) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            state = self
                .done
                .wait_timeout(state, left)
                .map_or_else(|e| e.into_inner().0, |(s, _)| s);
        }
        Some(state)
    }
}

/// Builds a [`BatchProcessor`].
#[derive(Debug)]
pub struct BatchProcessorBuilder {
    exporter: Box<dyn SpanExporter>,
    config: BatchConfig,
}

impl BatchProcessorBuilder {
    /// Uses `config` as a whole.
    #[must_use]
    pub fn with_config(mut self, config: BatchConfig) -> Self {
        self.config = config;
        self
    }

    /// Queue capacity.
    #[must_use]
    pub fn with_max_queue_size(mut self, size: usize) -> Self {
        self.config.max_queue_size = size;
        self
    }

    /// Scheduled delay.
    #[must_use]
    pub fn with_scheduled_delay(mut self, delay: Duration) -> Self {
        self.config.scheduled_delay = delay;
        self
    }

    /// Bytes the queued spans may hold (estimated), instead of `TRACECORE_BSP_MAX_QUEUE_BYTES`.
    #[must_use]
    pub fn with_max_queue_bytes(mut self, bytes: usize) -> Self {
        self.config.max_queue_bytes = bytes.max(1);
        self
    }

    /// Spans per export.
    #[must_use]
    pub fn with_max_export_batch_size(mut self, size: usize) -> Self {
        self.config.max_export_batch_size = size;
        self
    }

    /// Time one export may take.
    #[must_use]
    pub fn with_export_timeout(mut self, timeout: Duration) -> Self {
        self.config.export_timeout = timeout;
        self
    }

    /// Starts the export thread.
    pub fn build(self) -> BatchProcessor {
        let config = self.config.validated();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: VecDeque::with_capacity(config.max_queue_size),
                sizes: VecDeque::with_capacity(config.max_queue_size),
                in_flight: 0,
                bytes: 0,
                flush_requested: 0,
                flush_done: 0,
                shutdown: false,
                abandon: false,
                stopped: false,
            }),
            wake: Condvar::new(),
            done: Condvar::new(),
            config,
            dropped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
        });
        let worker = shared.clone();
        let mut exporter = self.exporter;
        let interrupt = Interrupt::new();
        exporter.set_interrupt(interrupt.clone());
        let thread = std::thread::Builder::new()
            .name("tracecore-export".into())
            .spawn(move || run(&worker, exporter));
        let thread = match thread {
            Ok(handle) => Some(handle),
            Err(e) => {
                diag::warn_once(&format!(
                    "could not start the export thread ({e}); spans will be dropped and counted"
                ));
                let mut state = shared.lock();
                state.shutdown = true;
                state.stopped = true;
                None
            }
        };
        BatchProcessor {
            shared,
            thread: Mutex::new(thread),
            interrupt,
        }
    }
}

impl BatchProcessor {
    /// A builder with settings from `OTEL_BSP_*` (or the defaults).
    pub fn builder(exporter: impl SpanExporter + 'static) -> BatchProcessorBuilder {
        BatchProcessorBuilder {
            exporter: Box::new(exporter),
            config: BatchConfig::from_env(),
        }
    }

    /// The settings in force.
    pub fn config(&self) -> &BatchConfig {
        &self.shared.config
    }

    /// Spans exported successfully so far.
    pub fn exported_spans(&self) -> u64 {
        self.shared.exported.load(Ordering::Relaxed)
    }

    /// Spans waiting in the queue or being exported now.
    pub fn queued_spans(&self) -> usize {
        let state = self.shared.lock();
        state.queue.len() + state.in_flight
    }
}

/// The export thread: wait for a reason to export, swap the queue for an empty one under the
/// lock (no copying while callers wait), export it in batches without the lock.
fn run(shared: &Shared, mut exporter: Box<dyn SpanExporter>) {
    let config = shared.config;
    let mut taken: VecDeque<SpanData> = VecDeque::with_capacity(config.max_queue_size);
    let mut taken_sizes: VecDeque<usize> = VecDeque::with_capacity(config.max_queue_size);
    let mut deadline = Instant::now() + config.scheduled_delay;
    loop {
        let (flush_gen, shutdown) = {
            let mut state = shared.lock();
            loop {
                let now = Instant::now();
                if state.shutdown
                    || state.flush_requested > state.flush_done
                    || state.queue.len() >= config.max_export_batch_size
                    || now >= deadline
                {
                    break;
                }
                state = shared
                    .wake
                    .wait_timeout(state, deadline - now)
                    .map_or_else(|e| e.into_inner().0, |(s, _)| s);
            }
            std::mem::swap(&mut state.queue, &mut taken);
            std::mem::swap(&mut state.sizes, &mut taken_sizes);
            state.in_flight = taken.len();
            (state.flush_requested, state.shutdown)
        };
        let sizes = taken_sizes.make_contiguous();
        let batches = taken.make_contiguous().chunks(config.max_export_batch_size);
        for (batch, sizes) in batches.zip(sizes.chunks(config.max_export_batch_size)) {
            let n = batch.len() as u64;
            let bytes: usize = sizes.iter().sum();
            {
                let mut state = shared.lock();
                if state.abandon {
                    state.in_flight -= batch.len();
                    state.bytes = state.bytes.saturating_sub(bytes);
                    shared.dropped.fetch_add(n, Ordering::Relaxed);
                    continue;
                }
            }
            match exporter.export(batch, config.export_timeout) {
                Ok(()) => shared.exported.fetch_add(n, Ordering::Relaxed),
                Err(_) => shared.dropped.fetch_add(n, Ordering::Relaxed),
            };
            let mut state = shared.lock();
            state.in_flight -= batch.len();
            state.bytes = state.bytes.saturating_sub(bytes);
        }
        // Dropping the spans frees their memory here, off the request path; their attribute
        // lists go back for new spans.
        crate::trace::recycle::give_back_all(
            taken
                .iter_mut()
                .map(|span| std::mem::take(&mut span.attributes)),
        );
        taken.clear();
        taken_sizes.clear();
        deadline = Instant::now() + config.scheduled_delay;
        let mut state = shared.lock();
        if !state.queue.is_empty() {
            continue;
        }
        if flush_gen > state.flush_done {
            drop(state);
            let _ = exporter.force_flush();
            state = shared.lock();
            state.flush_done = flush_gen;
            shared.done.notify_all();
        }
        if shutdown {
            drop(state);
            let _ = exporter.shutdown();
            shared.lock().stopped = true;
            shared.done.notify_all();
            return;
        }
    }
}

impl SpanProcessor for BatchProcessor {
    fn needs_on_start(&self) -> bool {
        false
    }

    fn on_end(&self, span: SpanData) {
        if !span.span_context.is_sampled() {
            return;
        }
        let size = span.estimated_size();
        let config = &self.shared.config;
        let mut state = self.shared.lock();
        if state.shutdown
            || state.queue.len() + state.in_flight >= config.max_queue_size
            || state.bytes + size > config.max_queue_bytes
        {
            drop(state);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.bytes += size;
        state.queue.push_back(span);
        state.sizes.push_back(size);
        let full_batch = state.queue.len() == self.shared.config.max_export_batch_size;
        drop(state);
        if full_batch {
            self.shared.wake.notify_one();
        }
    }

    fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        if state.stopped || state.shutdown {
            return Err(FlushError::shut_down());
        }
        state.flush_requested += 1;
        let generation = state.flush_requested;
        self.shared.wake.notify_one();
        self.shared
            .wait_done(state, deadline, |s| s.flush_done >= generation || s.stopped)
            .map(drop)
            .ok_or_else(|| FlushError::timeout(timeout))
    }

    fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
        let deadline = Instant::now() + timeout;
        let mut state = self.shared.lock();
        if state.shutdown {
            return Err(FlushError::shut_down());
        }
        state.shutdown = true;
        self.shared.wake.notify_one();
        let Some(state) = self.shared.wait_done(state, deadline, |s| s.stopped) else {
            // Out of time: an export waiting to retry gives up now instead of waiting it out.
            self.interrupt.raise();
            // Out of time: what is still queued is dropped and counted now; the export under
            // way finishes within its own timeout, and the batches after it are counted as
            // dropped without being sent.
            let mut state = self.shared.lock();
            state.abandon = true;
            let queued = state.queue.len() as u64;
            let bytes: usize = state.sizes.iter().sum();
            state.bytes = state.bytes.saturating_sub(bytes);
            state.queue.clear();
            state.sizes.clear();
            drop(state);
            self.shared.dropped.fetch_add(queued, Ordering::Relaxed);
            return Err(FlushError::timeout(timeout));
        };
        drop(state);
        if let Some(handle) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        Ok(())
    }

    fn dropped_spans(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for BatchProcessor {
    fn drop(&mut self) {
        // Let the thread drain and exit on its own; do not wait here.
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_one();
    }
}

impl fmt::Debug for BatchProcessor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BatchProcessor")
            .field("config", &self.shared.config)
            .field("exported", &self.exported_spans())
            .field("dropped", &self.dropped_spans())
            .finish()
    }
}
