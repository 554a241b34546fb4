//! The RPC rules in one place, beside the HTTP ones: gRPC status codes, which of them make a span
//! an error on each side, and what a call says on the wire
//! ([semconv RPC](https://opentelemetry.io/docs/specs/semconv/rpc/grpc/), v1.44, Release
//! Candidate).
//!
//! ```
//! use tracecore::export::InMemoryExporter;
//! use tracecore::http_span::Side;
//! use tracecore::rpc::{self, GrpcCode};
//! use tracecore::trace::{SpanKind, TracerProvider};
//! use tracecore::Context;
//!
//! let exporter = InMemoryExporter::new();
//! let provider = TracerProvider::builder().with_simple_exporter(exporter.clone()).build();
//! let method = rpc::method("/inventory.v1.Inventory/GetItem").unwrap();
//! let span = provider.tracer("t").span_builder(method).with_kind(SpanKind::Server).start_with_context(&Context::new());
//! rpc::record_status(Side::Server, &span.span_ref(), GrpcCode::Internal, Some("storage failed"));
//! span.end();
//!
//! let spans = exporter.finished_spans();
//! let span = spans.named("inventory.v1.Inventory/GetItem");
//! assert_eq!(span.attribute("rpc.response.status_code").unwrap().as_str(), Some("INTERNAL"));
//! assert_eq!(span.attribute("error.type").unwrap().as_str(), Some("INTERNAL"));
//! assert!(span.status.is_error());
//! ```
//!
//! - **Span name**: the fully qualified method, `{package}.{Service}/{Method}` (the path
//!   without its leading `/`, [`method`]), also `rpc.method`; `rpc.system.name` is `grpc`.
//! - **Status**: the `grpc-status` of the trailers, or of the headers of a trailers-only
//!   response ([`status`]); without one, the code the HTTP status stands for
//!   ([`GrpcCode::from_http_status`]). A CLIENT span is an error for every code but OK, a
//!   SERVER span only for the six a server is to blame for ([`GrpcCode::is_error`]);
//!   `error.type` is the code's name and the description the decoded `grpc-message`
//!   ([`record_status`]).

mod code;
mod wire;

pub use code::{GrpcCode, ParseGrpcCodeError};
pub use wire::{decode_message, is_grpc, method, parse_timeout, status};

use crate::http_span::side::Side;
use crate::trace::{SpanRef, Status};
use crate::{KeyValue, semconv};

/// The value of `rpc.system.name` for gRPC.
pub const GRPC: &str = "grpc";

/// Pushes a gRPC span's `rpc.system.name` and `rpc.method` onto `attributes` and returns the
/// span's name: the method (`service/Method`, as the caller chose to keep it: copied or
/// interned), or, for a `path` that is no method, `rpc.method = _OTHER` with
/// `rpc.method_original` and the name `grpc`.
///
/// ```
/// let mut attributes = Vec::new();
/// let name = tracecore::rpc::method_attributes(&mut attributes, None, "/not-a-method");
/// assert_eq!(name, "grpc");
/// assert_eq!(attributes[1].value.as_str(), Some("_OTHER"));
/// assert_eq!(attributes[2].value.as_str(), Some("not-a-method"));
/// ```
pub fn method_attributes(
    attributes: &mut Vec<KeyValue>,
    method: Option<std::borrow::Cow<'static, str>>,
    path: &str,
) -> std::borrow::Cow<'static, str> {
    attributes.push(KeyValue::new(semconv::RPC_SYSTEM_NAME, GRPC));
    match method {
        Some(method) => {
            attributes.push(KeyValue::new(semconv::RPC_METHOD, method.clone()));
            method
        }
        None => {
            attributes.push(KeyValue::new(semconv::RPC_METHOD, "_OTHER"));
            let original = path.strip_prefix('/').unwrap_or(path).to_owned();
            attributes.push(KeyValue::new(semconv::RPC_METHOD_ORIGINAL, original));
            GRPC.into()
        }
    }
}

/// Records how a call ended on `side`'s span: `rpc.response.status_code` (the code's name) and,
/// when the code makes the span an error, `error.type` (the name again) and status Error with
/// `message` (the decoded `grpc-message`, if any) as its description.
pub fn record_status(side: Side, span: &SpanRef<'_>, code: GrpcCode, message: Option<&str>) {
    if !span.is_recording() {
        return;
    }
    let status = KeyValue::new(semconv::RPC_RESPONSE_STATUS_CODE, code.name());
    if code.is_error(side) {
        span.set_attributes([status, KeyValue::new(semconv::ERROR_TYPE, code.name())]);
        span.set_status(Status::error(message.unwrap_or_default().to_owned()));
    } else {
        span.set_attribute(status);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Context;
    use crate::export::InMemoryExporter;
    use crate::trace::TracerProvider;

    #[test]
    fn each_side_records_the_code_and_errs_by_its_own_rule() {
        let exporter = InMemoryExporter::new();
        let provider = TracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .build();
        let tracer = provider.tracer("t");
        let cases = [
            (Side::Server, GrpcCode::Ok, false),
            (Side::Server, GrpcCode::NotFound, false),
            (Side::Server, GrpcCode::Internal, true),
            (Side::Client, GrpcCode::Ok, false),
            (Side::Client, GrpcCode::NotFound, true),
            (Side::Client, GrpcCode::Cancelled, true),
        ];
        for (i, (side, code, _)) in cases.iter().enumerate() {
            let span = tracer.start(format!("call {i}"));
            record_status(*side, &span.span_ref(), *code, Some("why"));
            span.end();
        }
        let spans = exporter.finished_spans();
        for (i, (side, code, error)) in cases.into_iter().enumerate() {
            let span = spans.named(&format!("call {i}"));
            let attr = |k| {
                span.attribute(k)
                    .and_then(|v| v.as_str().map(str::to_owned))
            };
            assert_eq!(
                attr("rpc.response.status_code").as_deref(),
                Some(code.name())
            );
            assert_eq!(span.status.is_error(), error, "{side:?} {code}");
            assert_eq!(attr("error.type").is_some(), error, "{side:?} {code}");
            if error {
                assert_eq!(span.status, Status::error("why"));
            }
        }
        // A span that does not record is left alone.
        record_status(
            Side::Client,
            &Context::new().span(),
            GrpcCode::Internal,
            None,
        );
    }
}
