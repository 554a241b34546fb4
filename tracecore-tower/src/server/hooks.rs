//! The server layer's per-request hooks: small traits, implemented for closures.

use http::request::Parts;

/// A yes or no about a request, from its head: which requests are traced
/// ([`ServerLayer::with_filter`](super::ServerLayer::with_filter)), which are public endpoints
/// ([`ServerLayer::with_public_endpoint`](super::ServerLayer::with_public_endpoint)).
/// Implemented for every `Fn(&Parts) -> bool`.
pub trait RequestPredicate: Send + Sync + 'static {
    /// The answer for `request`.
    fn test(&self, request: &Parts) -> bool;
}

impl<F> RequestPredicate for F
where
    F: Fn(&Parts) -> bool + Send + Sync + 'static,
{
    fn test(&self, request: &Parts) -> bool {
        self(request)
    }
}

/// The route template of a request (`/items/{id}`, low-cardinality, never the raw path), for
/// a framework that does not say it ([`ServerLayer::with_route`](super::ServerLayer::with_route)).
/// Implemented for every `Fn(&Parts) -> Option<String>`.
pub trait RouteTemplate: Send + Sync + 'static {
    /// `request`'s route, if it has one.
    fn route(&self, request: &Parts) -> Option<String>;
}

impl<F> RouteTemplate for F
where
    F: Fn(&Parts) -> Option<String> + Send + Sync + 'static,
{
    fn route(&self, request: &Parts) -> Option<String> {
        self(request)
    }
}
