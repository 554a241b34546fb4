//! [`ClientResponseBody`]: holds a gRPC call's CLIENT span until its trailers arrive.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracecore::http_span::{BodyEvent, ClientSpan, Failure, FailureKind};

pin_project! {
    /// The response body of [`Client`](super::Client). For an HTTP request it passes the body
    /// through (the span ended with the response headers), counting its bytes when body sizes
    /// are measured and the response gave no `Content-Length`; for a gRPC call it ends the
    /// span after the trailers and their `grpc-status`, on a body error, or (cancelled) when
    /// dropped before its end.
    pub struct ClientResponseBody<B> {
        #[pin]
        inner: B,
        span: Option<ClientSpan>,
    }
}

impl<B> ClientResponseBody<B> {
    pub(crate) fn new(inner: B, span: Option<ClientSpan>) -> Self {
        Self { inner, span }
    }

    /// The wrapped body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }
}

impl<B> Body for ClientResponseBody<B>
where
    B: Body,
    B::Error: std::error::Error + 'static,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let Some(span) = this.span.as_mut() else {
            return this.inner.poll_frame(cx);
        };
        let frame = {
            let _unwinding = span.guard_panic("the response body panicked");
            ready!(this.inner.as_mut().poll_frame(cx))
        };
        let ended = span.body_event(match &frame {
            None => BodyEvent::End,
            Some(Err(error)) => BodyEvent::Error(Failure::error(FailureKind::Body, error)),
            Some(Ok(frame)) => BodyEvent::frame(
                frame.data_ref().map(|d| bytes::Buf::remaining(d) as u64),
                frame.trailers_ref(),
                this.inner.is_end_stream(),
            ),
        });
        if ended {
            *this.span = None;
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> fmt::Debug for ClientResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponseBody")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}
