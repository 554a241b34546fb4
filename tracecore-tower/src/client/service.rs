//! [`Client`]: the service the client layer wraps around an HTTP client.

use std::task::{Context as TaskContext, Poll};

use http::{Request, Response};
use tower_service::Service;
use tracecore::Context;
use tracecore::http_span::{
    ClientRequest, ClientTracing, NoPropagation, NoSpan, UntrustedDownstream, UrlTemplate,
};

use super::{ClientResponseBody, ClientResponseFuture};

/// The client middleware: made by [`ClientLayer`](super::ClientLayer).
#[derive(Clone, Debug)]
pub struct Client<S> {
    inner: S,
    tracing: ClientTracing,
}

impl<S> Client<S> {
    /// Wraps `inner`, tracing as `tracing` says.
    pub fn new(inner: S, tracing: ClientTracing) -> Self {
        Self { inner, tracing }
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

impl<S, B, R> Service<Request<B>> for Client<S>
where
    S: Service<Request<B>, Response = Response<R>>,
    S::Error: std::error::Error + 'static,
    R: http_body::Body,
{
    type Response = Response<ClientResponseBody<R>>;
    type Error = S::Error;
    type Future = ClientResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut TaskContext<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let (mut parts, body) = request.into_parts();
        let parent = parts
            .extensions
            .get::<Context>()
            .cloned()
            .unwrap_or_else(Context::current);
        let propagate = parts.extensions.get::<NoPropagation>().is_none();
        if parts.extensions.get::<NoSpan>().is_some() {
            if propagate {
                self.tracing.inject_only(&parent, &mut parts.headers);
            }
            let request = Request::from_parts(parts, body);
            return ClientResponseFuture::new(self.inner.call(request), None);
        }
        // gRPC calls are POSTs: other requests skip the content-type lookup.
        let grpc = parts.method == http::Method::POST && tracecore::rpc::is_grpc(&parts.headers);
        // `url.full` is an HTTP attribute: a gRPC call's span does not read it.
        let url = if grpc {
            String::new()
        } else {
            full_url(&parts.uri)
        };
        let template = parts.extensions.get::<UrlTemplate>().map(|t| &*t.0);
        let trusted = parts.extensions.get::<UntrustedDownstream>().is_none();
        let info = ClientRequest::new(&parts.method, &url, parts.uri.host(), parts.uri.port_u16())
            .with_template(template)
            .with_trusted_downstream(trusted);
        let path = parts.uri.path();
        let span = if grpc && propagate {
            self.tracing
                .start_rpc(&parent, &info, path, &mut parts.headers)
        } else if grpc {
            self.tracing
                .start_rpc_span(&parent, &info, path, &parts.headers)
        } else if propagate {
            self.tracing.start(&parent, &info, &mut parts.headers)
        } else {
            self.tracing.start_span(&parent, &info, &parts.headers)
        };
        let request = Request::from_parts(parts, body);
        ClientResponseFuture::new(self.inner.call(request), Some(span))
    }
}

/// The request's URL as text, in one allocation of the right size (formatting a `Uri` into an
/// empty `String` grows it two or three times).
fn full_url(uri: &http::Uri) -> String {
    use std::fmt::Write;
    let len = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(1, |p| p.as_str().len());
    let mut url = String::with_capacity(len);
    let _ = write!(url, "{uri}");
    url
}

#[cfg(test)]
mod tests {
    use super::full_url;

    #[test]
    fn full_urls_are_the_uris_text_in_one_allocation() {
        for uri in [
            "http://127.0.0.1:8080/items/7?color=blue",
            "https://user:pw@example.com/",
            "http://example.com",
            "/relative/path",
        ] {
            let parsed: http::Uri = uri.parse().unwrap();
            let url = full_url(&parsed);
            assert_eq!(url, parsed.to_string());
            assert_eq!(url.capacity(), url.len(), "{uri}: sized exactly");
        }
    }
}
