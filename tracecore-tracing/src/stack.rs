//! Entering a `tracing` span makes its context current; exiting puts back what was current.
//!
//! Each thread keeps the spans it has entered, innermost last, each with the context that was
//! current when it was entered. Exits usually come innermost first and simply restore; an exit out
//! of order (guards dropped in another order than they were made) hands its saved context to the
//! entry above it, so that when that one exits the context goes back to what it was before both.

use std::cell::RefCell;

use tracecore::Context;
use tracing_core::span::Id;

struct Entered {
    id: Id,
    previous: Context,
}

thread_local! {
    static ENTERED: RefCell<Vec<Entered>> = const { RefCell::new(Vec::new()) };
}

/// Makes `cx` current for span `id`, entered on this thread.
pub(crate) fn enter(id: &Id, cx: Context) {
    let previous = Context::replace_current(cx);
    let refused = ENTERED
        .try_with(|stack| match stack.try_borrow_mut() {
            Ok(mut stack) => {
                stack.push(Entered {
                    id: id.clone(),
                    previous,
                });
                None
            }
            Err(_) => Some(previous),
        })
        .unwrap_or(None);
    // Only while the thread is torn down: leave the context as it was.
    if let Some(previous) = refused {
        drop(Context::replace_current(previous));
    }
}

/// Span `id` exited on this thread: restores the context it replaced if it is the innermost.
pub(crate) fn exit(id: &Id) {
    let restore = ENTERED
        .try_with(|stack| {
            let mut stack = stack.try_borrow_mut().ok()?;
            let at = stack.iter().rposition(|entered| entered.id == *id)?;
            let entered = stack.remove(at);
            match stack.get_mut(at) {
                // Out of order: the span above now restores what this one would have.
                Some(above) => {
                    above.previous = entered.previous;
                    None
                }
                None => Some(entered.previous),
            }
        })
        .ok()
        .flatten();
    if let Some(previous) = restore {
        // The context that was current drops here, outside the stack's borrow.
        drop(Context::replace_current(previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracecore::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    fn cx(n: u64) -> Context {
        Context::new().with_span_context(SpanContext::new(
            TraceId::from_u128(u128::from(n)).unwrap(),
            SpanId::from_u64(n).unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ))
    }

    fn current() -> Option<u64> {
        Context::current()
            .span_context()
            .map(|s| s.span_id().to_u64())
    }

    #[test]
    fn nested_enters_restore_in_order() {
        let _outer = cx(9).attach();
        enter(&Id::from_u64(1), cx(1));
        enter(&Id::from_u64(2), cx(2));
        assert_eq!(current(), Some(2));
        exit(&Id::from_u64(2));
        assert_eq!(current(), Some(1));
        exit(&Id::from_u64(1));
        assert_eq!(current(), Some(9));
    }

    #[test]
    fn an_exit_out_of_order_keeps_the_innermost_current_then_restores_all() {
        enter(&Id::from_u64(1), cx(1));
        enter(&Id::from_u64(2), cx(2));
        exit(&Id::from_u64(1));
        assert_eq!(current(), Some(2), "the inner span is still entered");
        exit(&Id::from_u64(2));
        assert_eq!(current(), None, "what was current before both");
    }

    #[test]
    fn reentering_one_span_nests() {
        enter(&Id::from_u64(3), cx(3));
        enter(&Id::from_u64(3), cx(3));
        exit(&Id::from_u64(3));
        assert_eq!(current(), Some(3));
        exit(&Id::from_u64(3));
        assert_eq!(current(), None);
    }

    #[test]
    fn an_exit_without_enter_changes_nothing() {
        let _outer = cx(4).attach();
        exit(&Id::from_u64(77));
        assert_eq!(current(), Some(4));
    }
}
