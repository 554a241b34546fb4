//! [`TracedBody`]: a response body that ends the CLIENT span when it is read to its end.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use reqwest::{Response, ResponseBuilderExt};
use tracecore::http_span::{ClientSpan, FailureKind};

pin_project! {
    /// The body of a response whose CLIENT span covers the download: the span ends after the
    /// last frame, on a body error (Error, `error.type` = `body_error`), or when the body is
    /// dropped before its end (marked cancelled).
    pub struct TracedBody {
        #[pin]
        inner: reqwest::Body,
        span: Option<ClientSpan>,
    }
}

/// Rebuilds `response` with its body wrapped; status, headers, URL and extensions are kept.
pub(crate) fn wrap(response: Response, span: ClientSpan) -> Response {
    let url = response.url().clone();
    let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    // The URL travels in an extension only reqwest can name: let its builder put it there.
    if let Ok(with_url) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    let body = if body.is_end_stream() {
        // Nothing left to download: the span ends now.
        span.end();
        body
    } else {
        reqwest::Body::wrap(TracedBody {
            inner: body,
            span: Some(span),
        })
    };
    Response::from(http::Response::from_parts(parts, body))
}

fn finish(span: Option<ClientSpan>) {
    if let Some(span) = span {
        span.end();
    }
}

impl Body for TracedBody {
    type Data = bytes_of::Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let mut this = self.project();
        let frame = ready!(this.inner.as_mut().poll_frame(cx));
        match &frame {
            None => finish(this.span.take()),
            Some(Err(error)) => {
                if let Some(mut span) = this.span.take() {
                    span.record_failure(FailureKind::Body, error);
                    span.end();
                }
            }
            Some(Ok(_)) if this.inner.is_end_stream() => finish(this.span.take()),
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

impl fmt::Debug for TracedBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TracedBody")
            .field("span", &self.span)
            .finish_non_exhaustive()
    }
}

/// The `Bytes` type reqwest's body yields, named through its `Body` impl.
mod bytes_of {
    pub(crate) type Bytes = <reqwest::Body as http_body::Body>::Data;
}
