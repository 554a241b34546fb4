//! The demo: a trace crossing three services over real HTTP on loopback.
//!
//! `cargo run --example client-gateway-server` starts `inventory` and `gateway` on ephemeral
//! ports, runs `client` against them, prints each trace as a waterfall and the service map, and
//! exits. With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) set, the same spans also
//! go to that OTLP receiver, flushed before exit.
//!
//! Each role also runs alone, so the trace crosses process boundaries:
//!
//! ```text
//! cargo run --example client-gateway-server -- inventory --listen 127.0.0.1:8081
//! cargo run --example client-gateway-server -- gateway --listen 127.0.0.1:8080 --upstream http://127.0.0.1:8081
//! cargo run --example client-gateway-server -- client --gateway http://127.0.0.1:8080 [--rounds N]
//! ```
//!
//! A role honours the `OTEL_*` variables (`OTEL_SERVICE_NAME` overrides its name); with no
//! exporter or endpoint variable set it prints its spans on the terminal.

use std::time::Duration;

use tracecore::metrics::ManualReader;
use tracecore_examples::{
    CLIENT_PATHS, Logs, client, gateway, inventory, otlp_endpoint_set, serve,
};
use tracecore_otlp::{ExporterKind, Setup, Telemetry};
use tracecore_tower::PrometheusService;

const USAGE: &str = "usage: client-gateway-server [inventory --listen ADDR | gateway --listen ADDR --upstream URL | client --gateway URL [--rounds N]] (a round is the three orders 42, 4242 and 0)";

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        None => all_in_one().await,
        Some("inventory") => run_inventory(&args[1..]).await,
        Some("gateway") => run_gateway(&args[1..]).await,
        Some("client") => run_client(&args[1..]).await,
        Some("-h" | "--help") => {
            println!("{USAGE}");
            Ok(())
        }
        Some(other) => Err(format!("unknown role {other:?}\n{USAGE}")),
    };
    if let Err(e) = result {
        eprintln!("client-gateway-server: {e}");
        std::process::exit(2);
    }
}

/// The value after `--name`.
fn flag<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn required<'a>(args: &'a [String], name: &str) -> Result<&'a str, String> {
    flag(args, name).ok_or_else(|| format!("{name} is required\n{USAGE}"))
}

/// A role's telemetry: the `OTEL_*` variables, `name` unless `OTEL_SERVICE_NAME` is set, and
/// the console when no exporter or endpoint is configured.
fn role_telemetry(name: &'static str, scrape: &ManualReader) -> Result<Telemetry, String> {
    let mut setup = Setup::new().with_metric_reader(scrape.clone());
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        setup = setup.with_service_name(name);
    }
    if std::env::var("OTEL_TRACES_EXPORTER").is_err() && !otlp_endpoint_set() {
        // The log lines are printed already: no console copy of them as records.
        setup = setup
            .with_exporters([ExporterKind::Console])
            .with_logs_exporters([ExporterKind::None]);
    }
    let telemetry = setup.build().map_err(|e| e.to_string())?;
    eprintln!("{telemetry}");
    Ok(telemetry)
}

async fn listen(args: &[String]) -> Result<tokio::net::TcpListener, String> {
    let addr = required(args, "--listen")?;
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

async fn run_inventory(args: &[String]) -> Result<(), String> {
    let scrape = ManualReader::new();
    let telemetry = role_telemetry("inventory", &scrape)?;
    let listener = listen(args).await?;
    println!(
        "inventory on http://{} (metrics at /metrics)",
        listener.local_addr().unwrap()
    );
    let logs = Logs::stdout().with_records(telemetry.logger_provider().clone());
    let app = inventory(telemetry.instrumentation("inventory"), logs)
        .route_service("/metrics", PrometheusService::new(scrape));
    until_stopped(serve(listener, app)).await;
    let _ = telemetry.shutdown(Duration::from_secs(5));
    Ok(())
}

async fn run_gateway(args: &[String]) -> Result<(), String> {
    let scrape = ManualReader::new();
    let telemetry = role_telemetry("gateway", &scrape)?;
    let upstream = required(args, "--upstream")?.to_owned();
    let listener = listen(args).await?;
    println!(
        "gateway on http://{} calling {upstream} (metrics at /metrics)",
        listener.local_addr().unwrap()
    );
    let app = gateway(
        telemetry.instrumentation("gateway"),
        upstream,
        Logs::stdout().with_records(telemetry.logger_provider().clone()),
    )
    .route_service("/metrics", PrometheusService::new(scrape));
    until_stopped(serve(listener, app)).await;
    let _ = telemetry.shutdown(Duration::from_secs(5));
    Ok(())
}

async fn run_client(args: &[String]) -> Result<(), String> {
    let telemetry = role_telemetry("client", &ManualReader::new())?;
    let url = required(args, "--gateway")?;
    // `--requests` is the older name of `--rounds`.
    let rounds: usize = match flag(args, "--rounds").or_else(|| flag(args, "--requests")) {
        Some(n) => n
            .parse()
            .map_err(|_| format!("--rounds: {n:?} is not a number"))?,
        None => 1,
    };
    let paths: Vec<&str> = CLIENT_PATHS
        .iter()
        .copied()
        .cycle()
        .take(rounds * 3)
        .collect();
    for (path, result) in client(telemetry.instrumentation("client"), url, &paths).await {
        match result {
            Ok(status) => println!("GET {path} -> {status}"),
            Err(e) => println!("GET {path} -> {e}"),
        }
    }
    let _ = telemetry.shutdown(Duration::from_secs(5));
    Ok(())
}

/// Runs a server until it fails or Ctrl-C.
async fn until_stopped(server: impl Future<Output = std::io::Result<()>>) {
    tokio::select! {
        result = server => if let Err(e) = result { eprintln!("server stopped: {e}") },
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The three services in one process, each with its own `service.name`.
async fn all_in_one() -> Result<(), String> {
    let demo = tracecore_examples::all_in_one().await?;
    let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
        && std::env::var_os("NO_COLOR").is_none();
    print!("{}", demo.render(color));
    Ok(())
}
