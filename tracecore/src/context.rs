//! The context a request carries: the active span context and the baggage, explicitly as a value
//! and ambiently as "the current context" of the running code.
//!
//! ```
//! use tracecore::{Baggage, Context, FutureExt};
//!
//! let mut baggage = Baggage::default();
//! baggage.insert("tenant", "acme").unwrap();
//! let cx = Context::new().with_baggage(baggage);
//!
//! // Ambient for a scope: code called from here sees it without being handed it.
//! {
//!     let _guard = cx.clone().attach();
//!     assert_eq!(Context::current().baggage().get("tenant"), Some("acme"));
//! }
//! assert!(Context::current().baggage().is_empty());
//!
//! // Ambient for a future, on every poll, wherever it runs.
//! let fut = async { Context::current().baggage().get("tenant").map(str::to_owned) }.with_context(cx);
//! # let waker = std::task::Waker::noop();
//! # let mut fut = std::pin::pin!(fut);
//! # let got = fut.as_mut().poll(&mut std::task::Context::from_waker(&waker));
//! # assert_eq!(got, std::task::Poll::Ready(Some("acme".to_owned())));
//! ```
//!
//! The ambient context belongs to a thread. A future wrapped with [`FutureExt::with_context`] makes
//! its context current for the duration of each poll and puts the previous one back afterwards, so
//! two tasks interleaved on one worker thread never see each other's context. A spawned task does
//! not inherit the spawner's ambient context: wrap it with [`FutureExt::in_current_context`] first.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;

use crate::trace::{RecordingSpan, SpanRef};
use crate::{Baggage, SpanContext};

/// An immutable bundle of what a unit of work runs under. Cloning is cheap (reference counts).
#[derive(Clone, Default)]
pub struct Context {
    span_context: Option<SpanContext>,
    /// The active span when it is a local recording one (its context is `span_context`).
    recording: Option<Arc<RecordingSpan>>,
    baggage: Baggage,
    debug: bool,
}

impl PartialEq for Context {
    fn eq(&self, other: &Self) -> bool {
        self.span_context == other.span_context
            && self.baggage == other.baggage
            && self.debug == other.debug
            && match (&self.recording, &other.recording) {
                (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                (None, None) => true,
                _ => false,
            }
    }
}

thread_local! {
    static CURRENT: RefCell<Context> = const { RefCell::new(Context::new()) };
}

impl Context {
    /// An empty context: no span, no baggage.
    pub const fn new() -> Self {
        Self {
            span_context: None,
            recording: None,
            baggage: Baggage::new(),
            debug: false,
        }
    }

    /// A clone of this thread's current context (empty if none was attached).
    pub fn current() -> Self {
        CURRENT
            .try_with(|current| current.borrow().clone())
            .unwrap_or_default()
    }

    /// Calls `f` with this thread's current context, without cloning it: for code on a hot path
    /// that only reads it (a log formatter writing the trace id).
    ///
    /// ```
    /// use tracecore::Context;
    ///
    /// let sampled = Context::map_current(|cx| cx.span_context().is_some_and(|s| s.is_sampled()));
    /// assert!(!sampled);
    /// ```
    pub fn map_current<T>(f: impl FnOnce(&Self) -> T) -> T {
        let mut f = Some(f);
        let out = CURRENT
            .try_with(|current| {
                // The borrow fails only if `f` itself changes the current context (it is held
                // while `f` runs); such an `f` is not called here.
                let cx = current.try_borrow().ok()?;
                f.take().map(|f| f(&cx))
            })
            .ok()
            .flatten();
        match (out, f) {
            (Some(out), _) => out,
            // The thread is being torn down: there is no current context.
            (None, Some(f)) => f(&Self::new()),
            (None, None) => unreachable!("`f` ran and returned"),
        }
    }

    /// Makes `cx` current on this thread and returns the context that was current.
    ///
    /// This is for integrations that keep their own record of what was entered and may leave
    /// scopes out of order (the `tracing` bridge, whose spans are entered and exited by
    /// callbacks): they put the returned context back themselves. Code with lexical scopes uses
    /// [`attach`](Self::attach), whose guard restores the previous context.
    pub fn replace_current(cx: Self) -> Self {
        CURRENT
            .try_with(|current| current.replace(cx))
            .unwrap_or_default()
    }

    /// The active span's context, local or remote.
    pub fn span_context(&self) -> Option<&SpanContext> {
        self.span_context.as_ref()
    }

    /// The active span, to update it (attributes, events, status) from anywhere the context
    /// reaches. Updates are ignored when the span is not recording or there is none.
    pub fn span(&self) -> SpanRef<'_> {
        SpanRef::new(self.span_context.as_ref(), self.recording.as_ref())
    }

    /// This context with `span_context` (not recorded here, such as a remote parent) active.
    #[must_use]
    pub fn with_span_context(&self, span_context: SpanContext) -> Self {
        Self {
            span_context: Some(span_context),
            recording: None,
            baggage: self.baggage.clone(),
            debug: self.debug,
        }
    }

    pub(crate) fn with_recording_span(&self, span: Arc<RecordingSpan>) -> Self {
        Self {
            span_context: Some(span.span_context.clone()),
            recording: Some(span),
            baggage: self.baggage.clone(),
            debug: self.debug,
        }
    }

    /// This context with no active span (children of it start new traces).
    #[must_use]
    pub fn without_span_context(&self) -> Self {
        Self {
            span_context: None,
            recording: None,
            baggage: self.baggage.clone(),
            debug: false,
        }
    }

    /// The baggage.
    pub fn baggage(&self) -> &Baggage {
        &self.baggage
    }

    /// This context with other baggage.
    #[must_use]
    pub fn with_baggage(&self, baggage: Baggage) -> Self {
        Self {
            span_context: self.span_context.clone(),
            recording: self.recording.clone(),
            baggage,
            debug: self.debug,
        }
    }

    /// Whether the caller asked for this trace to be recorded in debug mode (B3 `d`, `X-B3-Flags: 1`,
    /// or Jaeger flag `0x02`). Propagators that can express it send it on.
    pub fn is_debug(&self) -> bool {
        self.debug
    }

    /// This context with the debug mark set or cleared.
    #[must_use]
    pub fn with_debug(&self, debug: bool) -> Self {
        Self {
            span_context: self.span_context.clone(),
            recording: self.recording.clone(),
            baggage: self.baggage.clone(),
            debug,
        }
    }

    /// Makes this context current on this thread until the guard drops. Guards must drop in the
    /// reverse order of their creation (as they do in nested scopes).
    pub fn attach(self) -> ContextGuard {
        let previous = CURRENT.try_with(|current| current.replace(self)).ok();
        ContextGuard {
            previous,
            _not_send: PhantomData,
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Context");
        d.field("span_context", &self.span_context);
        d.field("baggage", &self.baggage);
        if self.debug {
            d.field("debug", &true);
        }
        d.finish()
    }
}

/// Restores the previous current context when dropped. Not `Send`: it belongs to its thread.
#[must_use = "the context is current only until the guard is dropped"]
pub struct ContextGuard {
    previous: Option<Context>,
    _not_send: PhantomData<*const ()>,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        if let Some(previous) = self.previous.take() {
            let _ = CURRENT.try_with(|current| current.replace(previous));
        }
    }
}

impl fmt::Debug for ContextGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContextGuard").finish_non_exhaustive()
    }
}

pin_project_lite::pin_project! {
    /// A future that runs with its context current on every poll. See [`FutureExt`].
    #[derive(Debug)]
    #[must_use = "futures do nothing unless polled"]
    pub struct WithContext<F> {
        #[pin]
        inner: F,
        cx: Context,
    }
}

impl<F> WithContext<F> {
    /// Wraps `inner` so that `cx` is current whenever it is polled.
    pub const fn new(inner: F, cx: Context) -> Self {
        Self { inner, cx }
    }

    /// The context the future runs in.
    pub fn context(&self) -> &Context {
        &self.cx
    }

    /// The wrapped future.
    pub fn get_ref(&self) -> &F {
        &self.inner
    }

    /// The wrapped future.
    pub fn into_inner(self) -> F {
        self.inner
    }
}

/// Swaps a context into the thread's current slot; swaps it back when dropped (also on unwind).
struct Swapped<'a>(&'a mut Context);

impl<'a> Swapped<'a> {
    fn enter(cx: &'a mut Context) -> Self {
        let _ = CURRENT.try_with(|current| std::mem::swap(&mut *current.borrow_mut(), cx));
        Self(cx)
    }
}

impl Drop for Swapped<'_> {
    fn drop(&mut self) {
        let _ = CURRENT.try_with(|current| std::mem::swap(&mut *current.borrow_mut(), self.0));
    }
}

impl<F: Future> Future for WithContext<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, task: &mut std::task::Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        // No clone per poll: the context moves into the thread slot and back out.
        let _entered = Swapped::enter(this.cx);
        this.inner.poll(task)
    }
}

/// Runs futures inside a context.
pub trait FutureExt: Sized {
    /// Makes `cx` current whenever this future is polled.
    fn with_context(self, cx: Context) -> WithContext<Self> {
        WithContext::new(self, cx)
    }

    /// Makes the caller's current context current whenever this future is polled: use it on
    /// futures handed to `tokio::spawn` and the like, which do not carry the ambient context.
    fn in_current_context(self) -> WithContext<Self> {
        WithContext::new(self, Context::current())
    }
}

impl<F: Future> FutureExt for F {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{SpanId, TraceFlags, TraceId, TraceState};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Wake, Waker};

    fn cx_with_span(n: u64) -> Context {
        Context::new().with_span_context(SpanContext::new(
            TraceId::from_u128(u128::from(n)).unwrap(),
            SpanId::from_u64(n).unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ))
    }

    fn current_span() -> Option<u64> {
        Context::current()
            .span_context()
            .map(|s| s.span_id().to_u64())
    }

    #[test]
    fn guards_nest_and_restore() {
        assert_eq!(current_span(), None);
        let outer = cx_with_span(1).attach();
        assert_eq!(current_span(), Some(1));
        {
            let _inner = cx_with_span(2).attach();
            assert_eq!(current_span(), Some(2));
        }
        assert_eq!(current_span(), Some(1));
        drop(outer);
        assert_eq!(current_span(), None);
    }

    /// A future that yields once, recording the ambient span before and after.
    struct YieldOnce {
        yielded: bool,
        seen: Vec<Option<u64>>,
    }

    impl Future for YieldOnce {
        type Output = Vec<Option<u64>>;
        fn poll(mut self: Pin<&mut Self>, task: &mut std::task::Context<'_>) -> Poll<Self::Output> {
            self.seen.push(current_span());
            if self.yielded {
                Poll::Ready(std::mem::take(&mut self.seen))
            } else {
                self.yielded = true;
                task.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }

    struct Flag(AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn interleaved_futures_on_one_thread_keep_their_own_context() {
        let waker = Waker::from(Arc::new(Flag(AtomicBool::new(false))));
        let mut task = std::task::Context::from_waker(&waker);
        let _ambient = cx_with_span(9).attach();
        let mut a = std::pin::pin!(
            YieldOnce {
                yielded: false,
                seen: vec![]
            }
            .with_context(cx_with_span(1))
        );
        let mut b = std::pin::pin!(
            YieldOnce {
                yielded: false,
                seen: vec![]
            }
            .with_context(cx_with_span(2))
        );
        assert!(a.as_mut().poll(&mut task).is_pending());
        assert_eq!(current_span(), Some(9), "restored between polls");
        assert!(b.as_mut().poll(&mut task).is_pending());
        let Poll::Ready(seen_a) = a.as_mut().poll(&mut task) else {
            panic!()
        };
        let Poll::Ready(seen_b) = b.as_mut().poll(&mut task) else {
            panic!()
        };
        assert_eq!(seen_a, [Some(1), Some(1)]);
        assert_eq!(seen_b, [Some(2), Some(2)]);
        assert_eq!(current_span(), Some(9));
    }

    #[test]
    fn context_is_restored_when_the_inner_future_panics() {
        let waker = Waker::noop();
        let mut task = std::task::Context::from_waker(waker);
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut fut =
                std::pin::pin!(async { panic!("handler failed") }.with_context(cx_with_span(5)));
            let _ = fut.as_mut().poll(&mut task);
        }));
        assert!(result.is_err());
        assert_eq!(current_span(), None);
    }

    #[test]
    fn in_current_context_carries_the_context_to_another_thread() {
        let _g = cx_with_span(7).attach();
        let fut = async { current_span() }.in_current_context();
        let seen = std::thread::spawn(move || {
            let mut fut = std::pin::pin!(fut);
            let waker = Waker::noop();
            match fut
                .as_mut()
                .poll(&mut std::task::Context::from_waker(waker))
            {
                Poll::Ready(v) => v,
                Poll::Pending => None,
            }
        })
        .join()
        .unwrap();
        assert_eq!(seen, Some(7));
    }

    #[test]
    fn derived_contexts_keep_other_fields() {
        let mut bag = Baggage::default();
        bag.insert("k", "v").unwrap();
        let cx = cx_with_span(3).with_baggage(bag).with_debug(true);
        assert!(cx.is_debug());
        assert_eq!(cx.span_context().unwrap().span_id().to_u64(), 3);
        let child = cx.with_span_context(cx_with_span(4).span_context().unwrap().clone());
        assert_eq!(child.baggage().get("k"), Some("v"));
        assert!(child.is_debug());
        let root = cx.without_span_context();
        assert!(root.span_context().is_none() && !root.is_debug());
        assert_eq!(root.baggage().get("k"), Some("v"));
    }
}
