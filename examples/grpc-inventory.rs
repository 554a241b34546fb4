//! A gRPC inventory service and its client (tonic over HTTP/2), traced by the same layers as
//! HTTP: the client's CLIENT span and the server's SERVER span by the RPC conventions, one
//! trace across the call, statuses by the gRPC rules.
//!
//! ```text
//! cargo run --example grpc-inventory                  # serves on loopback, calls ids 7, 4242, 0
//! cargo run --example grpc-inventory -- serve ADDR    # serves examples/proto/inventory.proto
//! cargo run --example grpc-inventory -- call ADDR ID  # GetItem(ID) on ADDR, then the waterfall
//! ```
//!
//! Ids 1 to 999 are items (OK), 0 fails with INTERNAL, any other id is NOT_FOUND. The `OTEL_*`
//! variables apply as in the other examples; without an exporter or an OTLP endpoint the spans
//! are printed as waterfalls.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::{Channel, Server};
use tonic::{Request, Response, Status};
use tracecore::FutureExt;
use tracecore_examples::otlp_endpoint_set;
use tracecore_otlp::{ExporterKind, Setup, Telemetry};
use tracecore_tower::{ClientLayer, ServerLayer};

/// The code generated from `examples/proto/inventory.proto` (by `examples/build.rs`): not ours to
/// lint.
#[allow(
    unreachable_pub,
    missing_docs,
    missing_debug_implementations,
    clippy::all
)]
mod pb {
    tonic::include_proto!("inventory.v1");
}

use pb::inventory_client::InventoryClient;
use pb::inventory_server::{Inventory, InventoryServer};
use pb::{GetItemRequest, Item};

/// The service: a fixed catalogue.
#[derive(Debug, Default)]
struct Catalogue;

#[tonic::async_trait]
impl Inventory for Catalogue {
    async fn get_item(&self, request: Request<GetItemRequest>) -> Result<Response<Item>, Status> {
        match request.into_inner().id {
            0 => Err(Status::internal("storage unavailable")),
            id @ 1..=999 => Ok(Response::new(Item {
                id,
                name: format!("item {id}"),
                stock: id % 17,
            })),
            id => Err(Status::not_found(format!("no item {id}"))),
        }
    }
}

/// Telemetry from the `OTEL_*` variables, `name` unless `OTEL_SERVICE_NAME` is set, the console
/// when no exporter or endpoint is configured.
fn telemetry(name: &'static str) -> Result<Telemetry, String> {
    let mut setup = Setup::new();
    if std::env::var("OTEL_SERVICE_NAME").is_err() {
        setup = setup.with_service_name(name);
    }
    if std::env::var("OTEL_TRACES_EXPORTER").is_err() && !otlp_endpoint_set() {
        setup = setup.with_exporters([ExporterKind::Console]);
    }
    let telemetry = setup.build().map_err(|e| e.to_string())?;
    eprintln!("{telemetry}");
    Ok(telemetry)
}

/// Serves the inventory behind the server layer on `listener` until the process ends.
async fn serve(listener: tokio::net::TcpListener, telemetry: &Telemetry) -> Result<(), String> {
    Server::builder()
        .layer(ServerLayer::new(telemetry.instrumentation("inventory")))
        .add_service(InventoryServer::new(Catalogue))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .map_err(|e| format!("serving failed: {e}"))
}

/// A client whose calls are CLIENT spans (the origin lets the layer see the server's address).
async fn client(
    addr: SocketAddr,
    telemetry: &Telemetry,
) -> Result<InventoryClient<tracecore_tower::Client<Channel>>, String> {
    let origin = format!("http://{addr}");
    let channel = Channel::from_shared(origin.clone())
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let traced = tower::ServiceBuilder::new()
        .layer(ClientLayer::new(
            telemetry.instrumentation("inventory-client"),
        ))
        .service(channel);
    Ok(InventoryClient::with_origin(
        traced,
        origin.parse().map_err(|e| format!("{e}"))?,
    ))
}

/// Calls GetItem(`id`) inside an INTERNAL span of the caller's own, and prints the outcome.
async fn call(
    client: &mut InventoryClient<tracecore_tower::Client<Channel>>,
    telemetry: &Telemetry,
    id: i64,
) {
    let work = telemetry.tracer("inventory-client").start("look up item");
    let cx = work.context(&tracecore::Context::current());
    let reply = client
        .get_item(GetItemRequest { id })
        .with_context(cx)
        .await;
    match reply {
        Ok(item) => {
            let item = item.into_inner();
            println!("GetItem({id}) -> OK: {} (stock {})", item.name, item.stock);
        }
        Err(status) => println!(
            "GetItem({id}) -> {}: {}",
            tracecore::rpc::GrpcCode::from_u32(status.code() as u32),
            status.message()
        ),
    }
    work.end();
}

async fn run(args: &[String]) -> Result<(), String> {
    match args {
        [cmd, addr] if cmd == "serve" => {
            let telemetry = telemetry("inventory")?;
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
            println!("inventory on {}", listener.local_addr().unwrap());
            serve(listener, &telemetry).await
        }
        [cmd, addr, id] if cmd == "call" => {
            let addr: SocketAddr = addr.parse().map_err(|e| format!("ADDR {addr:?}: {e}"))?;
            let id: i64 = id.parse().map_err(|e| format!("ID {id:?}: {e}"))?;
            let telemetry = telemetry("inventory-client")?;
            let mut client = client(addr, &telemetry).await?;
            call(&mut client, &telemetry, id).await;
            telemetry
                .shutdown(Duration::from_secs(5))
                .map_err(|e| e.to_string())
        }
        [] => {
            // Both ends in this process: one provider each, as two services would have.
            let server_telemetry = telemetry("inventory")?;
            let client_telemetry = telemetry("inventory-client")?;
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| e.to_string())?;
            let addr = listener.local_addr().unwrap();
            let server = tokio::spawn(async move {
                let _ = serve(listener, &server_telemetry).await;
            });
            let mut client = client(addr, &client_telemetry).await?;
            for id in [7, 4242, 0] {
                call(&mut client, &client_telemetry, id).await;
            }
            // The server's spans end as its responses finish: give them a moment, then stop.
            tokio::time::sleep(Duration::from_millis(100)).await;
            server.abort();
            client_telemetry
                .shutdown(Duration::from_secs(5))
                .map_err(|e| e.to_string())
        }
        _ => Err("usage: grpc-inventory [serve ADDR | call ADDR ID]".into()),
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args).await {
        eprintln!("grpc-inventory: {e}");
        std::process::exit(2);
    }
}
