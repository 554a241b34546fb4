//! [`ResponseBody`]: ends the SERVER span when the body is done.

use std::any::type_name;
use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracecore::http_span::{BodyEvent, Failure, FailureKind, InFlight};

pin_project! {
    /// The response body of [`Server`](super::Server): the span ends after the last frame, on a
    /// body error (status Error), or when the body is dropped early (marked cancelled).
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        guard: InFlight,
    }
}

impl<B> ResponseBody<B> {
    pub(crate) fn new(inner: B, guard: InFlight) -> Self {
        Self { inner, guard }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
    B::Error: fmt::Display,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = {
            let _unwinding = this.guard.guard_panic("the response body panicked");
            ready!(this.inner.as_mut().poll_frame(cx))
        };
        let event = match &frame {
            None => BodyEvent::End,
            Some(Err(error)) => BodyEvent::Error(Failure::display(
                FailureKind::Body.as_str(),
                type_name::<B::Error>(),
                error,
            )),
            // Trailers are a body's last frame: the server sends nothing after them.
            Some(Ok(frame)) => BodyEvent::frame(
                frame.data_ref().map(|d| bytes::Buf::remaining(d) as u64),
                frame.trailers_ref(),
                this.inner.is_end_stream(),
            ),
        };
        this.guard.body_event(event);
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("span", &self.guard.span())
            .finish_non_exhaustive()
    }
}
