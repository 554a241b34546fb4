//! A unary gRPC call on loopback (tonic's health service, `Check`), bare tonic against the same
//! server and channel behind tracecore's `ServerLayer` and `ClientLayer` (sampled spans on both
//! ends into batch processors with a no-op exporter, the RPC durations recorded too).

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::{Channel, Server};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::spans;

/// Bare tonic, or tonic behind both of tracecore's layers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    Bare,
    Tracecore,
}

impl Stack {
    pub const ALL: [Self; 2] = [Self::Bare, Self::Tracecore];

    pub const fn name(self) -> &'static str {
        match self {
            Self::Bare => "bare",
            Self::Tracecore => "tracecore",
        }
    }
}

// One caller per bench, held for its run: the size difference costs nothing, and boxing the
// traced client would add an indirection to its calls only.
#[allow(clippy::large_enum_variant)]
enum Caller {
    Bare(HealthClient<Channel>),
    Traced(HealthClient<tracecore_tower::Client<Channel>>),
}

pub struct Grpc {
    runtime: tokio::runtime::Runtime,
    caller: Caller,
    pipelines: Option<spans::Tracecore>,
}

/// Serves the health service on a loopback port from its own runtime thread.
fn start_server(layer: Option<tracecore_tower::ServerLayer>) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let (_reporter, service) = tonic_health::server::health_reporter();
            let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener);
            match layer {
                Some(layer) => Server::builder()
                    .layer(layer)
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
                    .unwrap(),
                None => Server::builder()
                    .add_service(service)
                    .serve_with_incoming(incoming)
                    .await
                    .unwrap(),
            }
        });
    });
    rx.recv_timeout(Duration::from_secs(10)).unwrap()
}

impl Grpc {
    pub fn new(stack: Stack) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let pipelines = (stack == Stack::Tracecore).then(|| spans::Tracecore::with_metrics(true));
        let server = pipelines
            .as_ref()
            .map(|t| tracecore_tower::ServerLayer::new(t.http.clone()));
        let addr = start_server(server);
        let origin = format!("http://{addr}");
        let channel = runtime.block_on(async {
            Channel::from_shared(origin.clone())
                .unwrap()
                .connect()
                .await
                .unwrap()
        });
        let caller = match &pipelines {
            None => Caller::Bare(HealthClient::new(channel)),
            Some(t) => Caller::Traced(HealthClient::with_origin(
                tower::ServiceBuilder::new()
                    .layer(tracecore_tower::ClientLayer::new(t.http.clone()))
                    .service(channel),
                origin.parse().unwrap(),
            )),
        };
        Self {
            runtime,
            caller,
            pipelines,
        }
    }

    /// One `Check` call, its response read.
    pub fn call(&mut self) {
        let request = HealthCheckRequest {
            service: String::new(),
        };
        let reply = match &mut self.caller {
            Caller::Bare(c) => self.runtime.block_on(c.check(request)),
            Caller::Traced(c) => self.runtime.block_on(c.check(request)),
        };
        black_box(reply.unwrap());
    }

    pub fn flush(&self) {
        if let Some(t) = &self.pipelines {
            t.flush();
        }
    }

    pub fn dropped(&self) -> u64 {
        self.pipelines.as_ref().map_or(0, spans::Tracecore::dropped)
    }
}
