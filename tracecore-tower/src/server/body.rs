//! [`ResponseBody`]: ends the SERVER span when the body is done.

use std::any::type_name;
use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use tracecore::http_span::{FailureKind, InFlight};

use super::future::EndOnPanic;

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
            let _unwinding = EndOnPanic(this.guard, "the response body panicked");
            ready!(this.inner.as_mut().poll_frame(cx))
        };
        if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref))
            && let (Some(data), Some(measure)) = (data, this.guard.measure_mut())
        {
            measure.add_response_body_bytes(bytes::Buf::remaining(data) as u64);
        }
        // A gRPC call's status arrives in the trailers.
        if let Some(Ok(trailers)) = frame.as_ref().map(|f| f.as_ref().map(Frame::trailers_ref))
            && let Some(trailers) = trailers
            && this.guard.is_rpc()
            && let Some((code, message)) = tracecore::rpc::status(trailers)
        {
            this.guard.record_rpc_status(code, message.as_deref());
        }
        match &frame {
            None => this.guard.finish(),
            Some(Err(error)) => {
                let kind = FailureKind::Body.as_str();
                this.guard
                    .record_failure(kind, type_name::<B::Error>(), error);
                this.guard.finish();
            }
            // Trailers are a body's last frame: the server sends nothing after them.
            Some(Ok(frame)) if frame.is_trailers() || this.inner.is_end_stream() => {
                this.guard.finish();
            }
            Some(Ok(_)) => {}
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

impl<B> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("span", &self.guard.span())
            .finish_non_exhaustive()
    }
}
