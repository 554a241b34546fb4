//! [`RequestContext`]: the axum extractor for the request's context and SERVER span.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use http::request::Parts;
use tracecore::Context;
use tracecore::trace::SpanRef;

/// The request's [`Context`] in an axum handler (feature `axum`): its SERVER span, baggage and
/// trace. The server layer makes it the current context while the handler runs, so this is the
/// current context; a `Context` in the request extensions
/// ([`ServerLayer::with_context_extension`](crate::ServerLayer::with_context_extension)) wins.
///
/// ```
/// use tracecore::KeyValue;
/// use tracecore_tower::RequestContext;
///
/// async fn handler(cx: RequestContext) -> String {
///     cx.span().set_attribute(KeyValue::new("app.cart.items", 3_i64));
///     cx.trace_id().map(|id| id.to_string()).unwrap_or_default()
/// }
/// # let _: axum::Router = axum::Router::new().route("/", axum::routing::get(handler));
/// ```
#[derive(Clone, Debug)]
pub struct RequestContext(pub Context);

impl RequestContext {
    /// The request's SERVER span (can update it, not end it).
    pub fn span(&self) -> SpanRef<'_> {
        self.0.span()
    }

    /// The trace id, when there is a span.
    pub fn trace_id(&self) -> Option<tracecore::TraceId> {
        self.0.span_context().map(|sc| sc.trace_id())
    }

    /// The context.
    pub fn context(&self) -> &Context {
        &self.0
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestContext {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let cx = parts.extensions.get::<Context>().cloned();
        Ok(Self(cx.unwrap_or_else(Context::current)))
    }
}
