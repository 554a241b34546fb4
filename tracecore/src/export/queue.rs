//! The bounded queue and export thread behind the batch processors of spans and of log
//! records: one implementation of the guarantees (bounded in items and in bytes, the caller never
//! waits for the exporter, every drop counted, flush and shutdown within their deadlines).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{BatchConfig, Drops, ExportError, FlushError, Interrupt};
use crate::diag;

/// What a batch queue holds.
pub(crate) trait Queued: Send + Sized + 'static {
    /// About how many bytes it holds, as the queue's byte bound counts them.
    fn estimated_size(&self) -> usize;

    /// Gives back the storage of items just exported, before they are dropped.
    fn recycle(items: &mut VecDeque<Self>) {
        let _ = items;
    }
}

/// Where a batch queue's export thread sends its batches.
pub(crate) trait Sink<T>: Send {
    fn set_interrupt(&mut self, interrupt: Interrupt);
    fn export(&mut self, batch: &[T], timeout: Duration) -> Result<(), ExportError>;
    fn force_flush(&mut self) -> Result<(), ExportError>;
    fn shutdown(&mut self) -> Result<(), ExportError>;
}

/// A bounded queue drained by one export thread.
pub(crate) struct BatchQueue<T> {
    shared: Arc<Shared<T>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Raised at shutdown: an exporter waiting between retries stops waiting.
    interrupt: Interrupt,
}

struct Shared<T> {
    state: Mutex<State<T>>,
    /// Wakes the export thread.
    wake: Condvar,
    /// Wakes callers waiting for a flush or shutdown.
    done: Condvar,
    config: BatchConfig,
    drops: DropCounters,
    exported: AtomicU64,
}

/// [`Drops`], counted as they happen.
#[derive(Default)]
struct DropCounters {
    queue_full: AtomicU64,
    bytes_full: AtomicU64,
    export_failed: AtomicU64,
    shut_down: AtomicU64,
}

fn count(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

impl DropCounters {
    fn snapshot(&self) -> Drops {
        Drops {
            queue_full: self.queue_full.load(Ordering::Relaxed),
            bytes_full: self.bytes_full.load(Ordering::Relaxed),
            export_failed: self.export_failed.load(Ordering::Relaxed),
            shut_down: self.shut_down.load(Ordering::Relaxed),
        }
    }
}

struct State<T> {
    queue: VecDeque<T>,
    /// `queue`'s items' estimated sizes, in the same order: estimated once, when queued.
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

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits on `done` until `ready` holds, or fails at `deadline`.
    fn wait_done<'a>(
        &self,
        mut state: MutexGuard<'a, State<T>>,
        deadline: Instant,
        ready: impl Fn(&State<T>) -> bool,
    ) -> Option<MutexGuard<'a, State<T>>> {
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

impl<T: Queued> BatchQueue<T> {
    /// Starts the export thread `thread` sending to `sink`; `what` names the items in messages.
    pub(crate) fn start(
        config: BatchConfig,
        mut sink: Box<dyn Sink<T>>,
        thread: &str,
        what: &str,
    ) -> Self {
        let config = config.validated();
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
            drops: DropCounters::default(),
            exported: AtomicU64::new(0),
        });
        let worker = shared.clone();
        let interrupt = Interrupt::new();
        sink.set_interrupt(interrupt.clone());
        let handle = std::thread::Builder::new()
            .name(thread.into())
            .spawn(move || run(&worker, sink));
        let handle = match handle {
            Ok(handle) => Some(handle),
            Err(e) => {
                diag::warn_once(&format!(
                    "could not start the export thread ({e}); {what} will be dropped and counted"
                ));
                let mut state = shared.lock();
                state.shutdown = true;
                state.stopped = true;
                None
            }
        };
        Self {
            shared,
            thread: Mutex::new(handle),
            interrupt,
        }
    }

    /// The settings in force.
    pub(crate) fn config(&self) -> &BatchConfig {
        &self.shared.config
    }

    /// Items exported successfully so far.
    pub(crate) fn exported(&self) -> u64 {
        self.shared.exported.load(Ordering::Relaxed)
    }

    /// Items dropped so far, by reason.
    pub(crate) fn drops(&self) -> Drops {
        self.shared.drops.snapshot()
    }

    /// Items waiting in the queue or being exported now.
    pub(crate) fn queued(&self) -> usize {
        let state = self.shared.lock();
        state.queue.len() + state.in_flight
    }

    /// Queues `item`, or drops and counts it when the queue is full, past its bytes or shut down.
    pub(crate) fn push(&self, item: T) {
        let size = item.estimated_size();
        let config = &self.shared.config;
        let mut state = self.shared.lock();
        let full = if state.shutdown {
            Some(&self.shared.drops.shut_down)
        } else if state.queue.len() + state.in_flight >= config.max_queue_size {
            Some(&self.shared.drops.queue_full)
        } else if state.bytes + size > config.max_queue_bytes {
            Some(&self.shared.drops.bytes_full)
        } else {
            None
        };
        if let Some(counter) = full {
            drop(state);
            count(counter, 1);
            return;
        }
        state.bytes += size;
        state.queue.push_back(item);
        state.sizes.push_back(size);
        let full_batch = state.queue.len() == self.shared.config.max_export_batch_size;
        drop(state);
        if full_batch {
            self.shared.wake.notify_one();
        }
    }

    pub(crate) fn force_flush(&self, timeout: Duration) -> Result<(), FlushError> {
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

    pub(crate) fn shutdown(&self, timeout: Duration) -> Result<(), FlushError> {
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
            count(&self.shared.drops.shut_down, queued);
            return Err(FlushError::timeout(timeout));
        };
        drop(state);
        if let Some(handle) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = handle.join();
        }
        Ok(())
    }
}

/// The export thread: wait for a reason to export, swap the queue for an empty one under the
/// lock (no copying while callers wait), export it in batches without the lock.
fn run<T: Queued>(shared: &Shared<T>, mut exporter: Box<dyn Sink<T>>) {
    let config = shared.config;
    let mut taken: VecDeque<T> = VecDeque::with_capacity(config.max_queue_size);
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
                    count(&shared.drops.shut_down, n);
                    continue;
                }
            }
            match exporter.export(batch, config.export_timeout) {
                Ok(()) => count(&shared.exported, n),
                Err(_) => count(&shared.drops.export_failed, n),
            }
            let mut state = shared.lock();
            state.in_flight -= batch.len();
            state.bytes = state.bytes.saturating_sub(bytes);
        }
        // Dropping the items frees their memory here, off the request path; what can be reused
        // goes back first.
        T::recycle(&mut taken);
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

impl<T> Drop for BatchQueue<T> {
    fn drop(&mut self) {
        // Let the thread drain and exit on its own; do not wait here.
        self.shared.lock().shutdown = true;
        self.shared.wake.notify_one();
    }
}
