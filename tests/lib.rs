//! End-to-end tests across the tracecore crates live beside this file (`demo.rs`: the
//! client-gateway-server demo's three services on loopback); `support/` holds what the
//! integration tests of every crate share.

/// The workspace README's snippets, compiled (and, where they are not `no_run`, run) as
/// doctests of this package, where every crate is in reach.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// The crate READMEs' snippets, likewise.
#[cfg(doctest)]
#[doc = include_str!("../tracecore/README.md")]
#[doc = include_str!("../tracecore-tower/README.md")]
#[doc = include_str!("../tracecore-reqwest/README.md")]
#[doc = include_str!("../tracecore-otlp/README.md")]
#[doc = include_str!("../tracecore-tracing/README.md")]
struct CrateReadmeDoctests;
