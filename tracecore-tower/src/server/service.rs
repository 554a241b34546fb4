//! [`Server`]: the service the layer wraps around the application.

use std::fmt;
use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use tower_service::Service;
use tracecore::propagation::{Propagator, ScannedHeaders};
use tracecore::{Context, FutureExt};

use super::layer::ServerLayer;
use super::{ResponseBody, ResponseFuture, request};

/// The server middleware: made by [`ServerLayer`].
#[derive(Clone, Debug)]
pub struct Server<S> {
    inner: S,
    layer: ServerLayer,
}

impl<S> Server<S> {
    /// Wraps `inner` with `layer`'s configuration.
    pub fn new(inner: S, layer: ServerLayer) -> Self {
        Self { inner, layer }
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the service.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for Server<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>>,
    S::Error: fmt::Display,
    ResB: http_body::Body,
    ResB::Error: fmt::Display,
{
    type Response = Response<ResponseBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        let config = &self.layer.config;
        let (mut parts, body) = request.into_parts();
        if config.filter.as_ref().is_some_and(|trace| !trace(&parts)) {
            let future = self.inner.call(Request::from_parts(parts, body));
            return ResponseFuture::untraced(future.with_context(Context::current()));
        }
        let incoming = config
            .propagator
            .extract(&ScannedHeaders::new(&parts.headers));
        let public = config.public.as_ref().is_some_and(|public| public(&parts));
        let (parent, link) = if public {
            (Context::new(), incoming.span_context().cloned())
        } else {
            (incoming, None)
        };
        // gRPC calls are POSTs: other requests skip the content-type lookup.
        let grpc = parts.method == http::Method::POST && tracecore::rpc::is_grpc(&parts.headers);
        let guard = if grpc {
            request::start_rpc_span(config, &parts, &parent, link)
        } else {
            request::start_span(config, &parts, &parent, link)
        };
        let cx = guard
            .span()
            .map_or_else(|| parent.clone(), |s| s.context(&parent));
        if config.context_extension {
            parts.extensions.insert(cx.clone());
        }
        let future = self.inner.call(Request::from_parts(parts, body));
        ResponseFuture::traced(future.with_context(cx), guard, config.clone())
    }
}
