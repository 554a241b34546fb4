//! The W3C trace-context test service, for the official test suite:
//!
//! ```text
//! cargo run --release --example w3c-conformance            # serves http://127.0.0.1:5000/test
//! cargo run --release --example w3c-conformance -- ADDR
//! ```
//!
//! Then, from a clone of <https://github.com/w3c/trace-context> (`pip install aiohttp`):
//! `cd test && STRICT_LEVEL=2 python test.py http://127.0.0.1:5000/test`.
//!
//! Nothing is exported unless `OTEL_TRACES_EXPORTER` says so; propagation works all the same.

use tracecore_examples::conformance_service;
use tracecore_otlp::{ExporterKind, Setup};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:5000".to_owned());
    let mut setup = Setup::new().with_service_name("w3c-conformance");
    if std::env::var_os("OTEL_TRACES_EXPORTER").is_none() {
        setup = setup.with_exporters([ExporterKind::None]);
    }
    let telemetry = setup.build()?;
    eprintln!("{telemetry}");
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!(
        "W3C trace-context test service on http://{}/test",
        listener.local_addr()?
    );
    axum::serve(
        listener,
        conformance_service(telemetry.tracer("w3c-conformance")),
    )
    .await?;
    Ok(())
}
