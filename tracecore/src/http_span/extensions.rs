//! What an application or a server puts in a request's extensions for the integrations to read:
//! per-request opt-outs, a URL template, the peer's address.

use std::net::SocketAddr;

/// Per-request opt-out, in the request's extensions: no CLIENT span for this request. The
/// current context is still injected, so the next service continues the trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoSpan;

/// Per-request opt-out, in the request's extensions: nothing is injected into this request's
/// headers (a call to a third party that must not see trace ids or baggage).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoPropagation;

/// Per-request, in the request's extensions: the server is not trusted to say it kept the trace
/// (its `server-timing` trace metric is not read with tail sampling on), as for a third party.
/// [`ClientTracing::with_trusted_downstreams`](super::ClientTracing::with_trusted_downstreams)
/// says it for every request of a client.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UntrustedDownstream;

/// Per-request, in the request's extensions: the URL template (`/items/{id}`) that names the
/// CLIENT span `{method} {template}` and is recorded as `url.template`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlTemplate(pub std::borrow::Cow<'static, str>);

/// The peer's socket address, in a server request's extensions, for `client.address` and
/// `network.peer.*`: a bare hyper server inserts it when it accepts the connection (axum's
/// `ConnectInfo<SocketAddr>` is read too, by `tracecore-tower` with its `axum` feature).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);
