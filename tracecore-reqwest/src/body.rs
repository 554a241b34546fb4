//! [`TracedBody`]: a response body that ends the CLIENT span when it is read to its end.

use std::fmt;
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll, ready};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;
use reqwest::{Response, ResponseBuilderExt};
use tracecore::http_span::{BodyEvent, ClientSpan, Failure, FailureKind};

pin_project! {
    /// The body of a response whose CLIENT span reads it: with
    /// [`TraceMiddleware::with_body`](crate::TraceMiddleware::with_body) the span covers the
    /// download and ends after the last frame, on a body error (Error, `error.type` =
    /// `body_error`), or when the body is dropped before its end (marked cancelled); otherwise
    /// the span ended with the head and the body's bytes are counted for
    /// `http.client.response.body.size` when the response gave no `Content-Length`.
    pub struct TracedBody {
        #[pin]
        inner: reqwest::Body,
        span: Option<ClientSpan>,
    }
}

/// Rebuilds `response` with its body wrapped; status, headers, URL and extensions are kept.
/// `cover_body`: the span lasts until the body's end; else it ends with the head, and the body
/// is only read for what the span still records of it (its size).
pub(crate) fn wrap(response: Response, span: ClientSpan, cover_body: bool) -> Response {
    let url = response.url().clone();
    let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
    // The URL travels in an extension only reqwest can name: let its builder put it there.
    if let Ok(with_url) = http::Response::builder().url(url).body(()) {
        parts.extensions.extend(with_url.into_parts().0.extensions);
    }
    let span = if cover_body && !body.is_end_stream() {
        Some(span)
    } else {
        // Nothing left to download, or only counted: the span ends now.
        span.end_with_response(body.is_end_stream())
    };
    let body = match span {
        Some(span) => reqwest::Body::wrap(TracedBody {
            inner: body,
            span: Some(span),
        }),
        None => body,
    };
    Response::from(http::Response::from_parts(parts, body))
}

impl Body for TracedBody {
    type Data = bytes_of::Bytes;
    type Error = reqwest::Error;

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
                frame.data_ref().map(|d| d.len() as u64),
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
