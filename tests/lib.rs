//! End-to-end tests across the tracecore crates live beside this file (`demo.rs`: the
//! client-gateway-server demo's three services on loopback); `support/` holds what the
//! integration tests of every crate share.
