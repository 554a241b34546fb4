//! [`ClientResponseFuture`]: records the response or the failure on the CLIENT span.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tracecore::http_span::{ClientSpan, FailureKind};

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
    E: std::error::Error + 'static,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        if let Some(mut span) = this.span.take() {
            match &result {
                Ok(response) => {
                    span.record_response(response.status(), response.version(), response.headers());
                }
                Err(error) => span.record_failure(FailureKind::classify(error), error),
            }
            span.end();
        }
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
