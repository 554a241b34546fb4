//! The services of the client-gateway-server demo, as a library so that the example binary and
//! the workspace's end-to-end tests run the same code.
//!
//! - `inventory`: `GET /items/{id}` answers 200 with a small JSON item for ids 1-999, 404 for
//!   other numbers, 500 for id 0 (a simulated storage failure).
//! - `gateway`: `GET /orders/{id}` calls `GET {upstream}/items/{id}`; 200 with an order when the
//!   item is there, 404 when the upstream says 404, 502 when it fails or cannot be reached.
//! - `client`: requests `/orders/42`, `/orders/4242` and `/orders/0` from the gateway.
//!
//! [`all_in_one`] runs all three in one process; [`service_map`] reads who called whom from the
//! spans. [`conformance_service`] is the service the W3C trace-context test suite drives.

mod all_in_one;
mod service_map;
mod services;
mod w3c;

pub use all_in_one::{Demo, TailSummary, all_in_one, otlp_endpoint_set, render_metrics_table};
pub use service_map::{Edge, render_service_map, service_map};
pub use services::{
    CLIENT_PATHS, LogWriter, Logs, client, gateway, inventory, serve, start_servers, traced_client,
};
pub use w3c::conformance_service;
