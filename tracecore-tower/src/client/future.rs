//! [`ClientResponseFuture`]: records the response or the failure on the CLIENT span.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tracecore::http_span::{ClientSpan, FailureKind};

use super::ClientResponseBody;

pin_project! {
    /// The response future of [`Client`](super::Client).
    pub struct ClientResponseFuture<F> {
        #[pin]
        inner: F,
        span: Option<ClientSpan>,
    }
}

impl<F> ClientResponseFuture<F> {
    pub(crate) fn new(inner: F, span: Option<ClientSpan>) -> Self {
        Self { inner, span }
    }
}

impl<F, R, E> Future for ClientResponseFuture<F>
where
    F: Future<Output = Result<Response<R>, E>>,
    R: http_body::Body,
    E: std::error::Error + 'static,
{
    type Output = Result<Response<ClientResponseBody<R>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        let mut span = this.span.take();
        let result = match result {
            Ok(response) => {
                if let Some(span) = &mut span {
                    span.record_response(response.status(), response.version(), response.headers());
                }
                // A gRPC call's status comes with the body's trailers, and a body of unknown
                // length is counted as it streams: the body ends those spans.
                let (parts, body) = response.into_parts();
                let span = span.and_then(|span| span.end_with_response(body.is_end_stream()));
                Ok(Response::from_parts(
                    parts,
                    ClientResponseBody::new(body, span),
                ))
            }
            Err(error) => {
                if let Some(mut span) = span.take() {
                    span.record_failure(FailureKind::classify(&error), &error);
                    span.end();
                }
                Err(error)
            }
        };
        Poll::Ready(result)
    }
}

impl<F> fmt::Debug for ClientResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientResponseFuture")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}
