//! The service the official W3C trace-context test suite drives
//! (<https://github.com/w3c/trace-context/tree/main/test>), built from the server layer and the
//! reqwest middleware alone: no header handling of its own.
//!
//! `POST /test` takes a JSON array of `{"url": …, "arguments": …}`; for each entry, in order, it
//! POSTs `arguments` as JSON to `url`, each call a CLIENT span of its own (so each carries its
//! own parent-id), and answers 200 once every call is done (400 when the body is not such an
//! array). Propagation follows `OTEL_PROPAGATORS`, as everywhere.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::routing::post;
use reqwest_middleware::ClientWithMiddleware;
use serde_json::Value;
use tracecore::trace::Tracer;
use tracecore_tower::ServerLayer;

use crate::traced_client;

/// The test service: `POST /test`.
pub fn conformance_service(tracer: Tracer) -> Router {
    Router::new()
        .route("/test", post(test))
        .with_state(traced_client(tracer.clone().into()))
        .layer(ServerLayer::new(tracer))
}

async fn test(State(client): State<ClientWithMiddleware>, body: Bytes) -> StatusCode {
    let Ok(Value::Array(calls)) = serde_json::from_slice::<Value>(&body) else {
        return StatusCode::BAD_REQUEST;
    };
    for call in &calls {
        let Some(url) = call.get("url").and_then(Value::as_str) else {
            return StatusCode::BAD_REQUEST;
        };
        let arguments = call.get("arguments").unwrap_or(&Value::Null).to_string();
        // A failed call is the harness's to notice (its callback never arrives).
        if let Ok(reply) = client
            .post(url)
            .header(header::CONTENT_TYPE, "application/json")
            .body(arguments)
            .send()
            .await
        {
            let _ = reply.bytes().await;
        }
    }
    StatusCode::OK
}
