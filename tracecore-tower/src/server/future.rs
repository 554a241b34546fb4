//! [`ResponseFuture`]: runs the handler inside the request's context and records the response.

use std::any::type_name;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, ready};

use http::Response;
use pin_project_lite::pin_project;
use tracecore::WithContext;
use tracecore::http_span::InFlight;

use super::ResponseBody;
use super::layer::Config;

pin_project! {
    /// The response future of [`Server`](super::Server).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: WithContext<F>,
        guard: InFlight,
        config: Option<Arc<Config>>,
    }
}

impl<F> ResponseFuture<F> {
    pub(crate) fn traced(inner: WithContext<F>, guard: InFlight, config: Arc<Config>) -> Self {
        Self {
            inner,
            guard,
            config: Some(config),
        }
    }

    pub(crate) fn untraced(inner: WithContext<F>) -> Self {
        Self {
            inner,
            guard: InFlight::default(),
            config: None,
        }
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<B>, E>>,
    E: fmt::Display,
    B: http_body::Body,
    B::Error: fmt::Display,
{
    type Output = Result<Response<ResponseBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = {
            let _unwinding = this.guard.guard_panic("the handler panicked");
            ready!(this.inner.poll(cx))
        };
        let mut guard = std::mem::take(this.guard);
        match result {
            Ok(mut response) => {
                if let Some(config) = this.config.as_deref() {
                    let status = response.status();
                    config
                        .tracing
                        .record_response(&mut guard, status, response.headers_mut());
                }
                let (parts, body) = response.into_parts();
                if body.is_end_stream() {
                    guard.finish();
                }
                Poll::Ready(Ok(Response::from_parts(
                    parts,
                    ResponseBody::new(body, guard),
                )))
            }
            Err(error) => {
                guard.record_failure(type_name::<E>(), type_name::<E>(), &error);
                guard.finish();
                Poll::Ready(Err(error))
            }
        }
    }
}

impl<F> fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture")
            .field("span", &self.guard.span())
            .finish_non_exhaustive()
    }
}
