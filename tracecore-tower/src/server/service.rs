//! [`Server`]: the service the layer wraps around the application.

use std::fmt;
use std::task::{Context as TaskContext, Poll};

use std::borrow::Cow;

use http::request::Parts;
use http::{Request, Response};
use tower_service::Service;
use tracecore::http_span::ServerRequest;
use tracecore::{Context, FutureExt};

use super::layer::{Config, ServerLayer};
use super::{ResponseBody, ResponseFuture};

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
        if config
            .filter
            .as_ref()
            .is_some_and(|trace| !trace.test(&parts))
        {
            let future = self.inner.call(Request::from_parts(parts, body));
            return ResponseFuture::untraced(future.with_context(Context::current()));
        }
        let public = config.public.as_ref().is_some_and(|p| p.test(&parts));
        let (cx, guard) = {
            // What only tower and axum know: the route function, axum's matched route and
            // connection info, each read only when the span or a metric asks.
            let route = || route(config, &parts);
            #[cfg(feature = "axum")]
            let peer = || {
                parts
                    .extensions
                    .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                    .map(|info| info.0)
            };
            let request = ServerRequest::from_parts(&parts)
                .with_route_from(&route)
                .with_public_endpoint(public);
            #[cfg(feature = "axum")]
            let request = request.with_peer_from(&peer);
            config.tracing.start(&request)
        };
        if config.context_extension {
            parts.extensions.insert(cx.clone());
        }
        let future = self.inner.call(Request::from_parts(parts, body));
        ResponseFuture::traced(future.with_context(cx), guard, config.clone())
    }
}

/// The route: from the configured function, else axum's `MatchedPath` (borrowed, no copy).
fn route<'a>(config: &Config, parts: &'a Parts) -> Option<Cow<'a, str>> {
    if let Some(route) = config.route.as_ref().and_then(|f| f.route(parts)) {
        return Some(Cow::Owned(route));
    }
    #[cfg(feature = "axum")]
    if let Some(matched) = parts.extensions.get::<axum::extract::MatchedPath>() {
        return Some(Cow::Borrowed(matched.as_str()));
    }
    None
}
