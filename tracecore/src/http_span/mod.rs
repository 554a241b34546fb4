//! The HTTP rules, in one place: method names, span names, the status of a span from the
//! response or the failure, URL redaction, header capture, what a request says of where it came
//! from (host and port, `Forwarded`, the client's address, the user agent), and the SERVER and
//! CLIENT spans every integration shares
//! ([OpenTelemetry HTTP span conventions](https://opentelemetry.io/docs/specs/semconv/http/http-spans/)).
//!
//! An integration is an adapter over two types: [`ServerTracing`] (a server framework: read a
//! [`ServerRequest`], start the SERVER span, record the response, feed the body's frames to
//! [`InFlight::body_event`]) and [`ClientTracing`] (an HTTP client: a [`ClientRequest`] in, a
//! [`ClientSpan`] out). Both take an [`HttpInstrumentation`]: a tracer, and the HTTP metrics when
//! a meter provider is given.
//!
//! | outcome | SERVER span | CLIENT span |
//! |---|---|---|
//! | 1xx, 2xx, 3xx | Unset | Unset |
//! | 4xx | Unset | Error, `error.type` = the code |
//! | 5xx | Error, `error.type` = the code | Error, `error.type` = the code |
//! | no response (connect, timeout, body...) | Error, `error.type` from [`FailureKind`] | same |
//! | cancelled (the caller went away or gave up) | Unset, `tracecore.cancelled = true` | same |
//!
//! Instrumentation never sets Ok: that is the application's to say.
//!
//! ```
//! use http::StatusCode;
//! use tracecore::export::InMemoryExporter;
//! use tracecore::http_span::Side;
//! use tracecore::trace::{Status, TracerProvider};
//!
//! let provider = TracerProvider::builder().with_simple_exporter(InMemoryExporter::new()).build();
//! let span = provider.tracer("t").start("GET /items/{id}");
//! Side::Server.record_response(&span.span_ref(), StatusCode::NOT_FOUND);
//! assert_eq!(span.span_ref().attribute("error.type"), None);
//! Side::Server.record_response(&span.span_ref(), StatusCode::SERVICE_UNAVAILABLE);
//! assert_eq!(span.span_ref().attribute("error.type").unwrap().as_str(), Some("503"));
//! ```

mod client;
mod extensions;
mod headers;
mod in_flight;
mod instrumentation;
mod intern;
mod method;
mod metrics;
mod origin;
mod server;
mod server_timing;
pub(crate) mod side;
mod status;
mod url;
mod values;

pub use client::{ClientRequest, ClientSpan, ClientTracing, DOWNSTREAM_KEPT};
pub use extensions::{NoPropagation, NoSpan, PeerAddr, UntrustedDownstream, UrlTemplate};
pub use headers::HeaderCapture;
pub use in_flight::{BodyEvent, CANCELLED, Failure, InFlight, PanicGuard};
pub use instrumentation::HttpInstrumentation;
pub use method::{MethodAttributes, known_method, route_span_name, span_name};
pub use metrics::{DURATION_BOUNDARIES, HttpMeasure, HttpMetrics, MeasureOptions};
pub use server::{ResponseHeader, ServerRequest, ServerTracing};
pub use server_timing::downstream_trace;
pub use side::Side;
pub use status::{FailureKind, record_failure};
pub use url::{SENSITIVE_QUERY_PARAMETERS, UrlRedaction};
pub use values::{DEFAULT_MAX_VALUE_LENGTH, content_length, limit_values, protocol_version};
pub(crate) use values::{interned, ip_text, route_value, text};
