//! OpenTelemetry semantic-convention attribute keys used by tracecore (HTTP spans are stable).
//!
//! ```
//! use tracecore::{semconv, KeyValue};
//!
//! let kv = KeyValue::new(semconv::HTTP_REQUEST_METHOD, "GET");
//! assert_eq!(kv.key.as_str(), "http.request.method");
//! ```

use crate::Key;

macro_rules! keys {
    ($($(#[$doc:meta])* $name:ident = $value:literal;)*) => {
        $($(#[$doc])* pub const $name: Key = Key::from_static($value);)*
    };
}

keys! {
    /// The RPC system (`grpc`).
    RPC_SYSTEM_NAME = "rpc.system.name";
    /// The fully qualified RPC method (`inventory.v1.Inventory/GetItem`), or `_OTHER`.
    RPC_METHOD = "rpc.method";
    /// The method as called, when `rpc.method` is `_OTHER`.
    RPC_METHOD_ORIGINAL = "rpc.method_original";
    /// The status code's name an RPC ended with (`OK`, `NOT_FOUND`).
    RPC_RESPONSE_STATUS_CODE = "rpc.response.status_code";
    /// HTTP request method, or `_OTHER`.
    HTTP_REQUEST_METHOD = "http.request.method";
    /// The method as sent, when it differs from `http.request.method`.
    HTTP_REQUEST_METHOD_ORIGINAL = "http.request.method_original";
    /// HTTP response status code.
    HTTP_RESPONSE_STATUS_CODE = "http.response.status_code";
    /// The matched route template.
    HTTP_ROUTE = "http.route";
    /// The ordinal of a resent request.
    HTTP_REQUEST_RESEND_COUNT = "http.request.resend_count";
    /// The class of error the operation ended with.
    ERROR_TYPE = "error.type";
    /// URL scheme.
    URL_SCHEME = "url.scheme";
    /// URL path.
    URL_PATH = "url.path";
    /// URL query string (sensitive values redacted).
    URL_QUERY = "url.query";
    /// Absolute URL (credentials and sensitive values redacted).
    URL_FULL = "url.full";
    /// URL template of a client request.
    URL_TEMPLATE = "url.template";
    /// Server host name or address.
    SERVER_ADDRESS = "server.address";
    /// Server port.
    SERVER_PORT = "server.port";
    /// Client address.
    CLIENT_ADDRESS = "client.address";
    /// Client port.
    CLIENT_PORT = "client.port";
    /// Peer address of the socket.
    NETWORK_PEER_ADDRESS = "network.peer.address";
    /// Peer port of the socket.
    NETWORK_PEER_PORT = "network.peer.port";
    /// Protocol name, when not `http`.
    NETWORK_PROTOCOL_NAME = "network.protocol.name";
    /// Negotiated protocol version: `1.0`, `1.1`, `2`, `3`.
    NETWORK_PROTOCOL_VERSION = "network.protocol.version";
    /// The `User-Agent` header.
    USER_AGENT_ORIGINAL = "user_agent.original";
    /// Exception type.
    EXCEPTION_TYPE = "exception.type";
    /// Exception message.
    EXCEPTION_MESSAGE = "exception.message";
    /// Exception stack trace.
    EXCEPTION_STACKTRACE = "exception.stacktrace";
    /// The source file that declared the operation.
    CODE_FILE_PATH = "code.file.path";
    /// The line in that file.
    CODE_LINE_NUMBER = "code.line.number";
    /// The fully qualified function (or `tracing` span) name.
    CODE_FUNCTION_NAME = "code.function.name";
    /// Logical service name.
    SERVICE_NAME = "service.name";
    /// Telemetry SDK name.
    TELEMETRY_SDK_NAME = "telemetry.sdk.name";
    /// Telemetry SDK language.
    TELEMETRY_SDK_LANGUAGE = "telemetry.sdk.language";
    /// Telemetry SDK version.
    TELEMETRY_SDK_VERSION = "telemetry.sdk.version";
    /// The messaging system: `kafka`, `rabbitmq`, `aws_sqs`, or a custom value.
    MESSAGING_SYSTEM = "messaging.system";
    /// The operation as the system names it: `send`, `publish`, `process`.
    MESSAGING_OPERATION_NAME = "messaging.operation.name";
    /// The kind of operation: `create`, `send`, `receive`, `process`, `settle`.
    MESSAGING_OPERATION_TYPE = "messaging.operation.type";
    /// The queue or topic.
    MESSAGING_DESTINATION_NAME = "messaging.destination.name";
    /// The message's id, for single-message operations.
    MESSAGING_MESSAGE_ID = "messaging.message.id";
    /// How many messages a batch operation handles.
    MESSAGING_BATCH_MESSAGE_COUNT = "messaging.batch.message_count";
    /// The id of the client that sends or receives.
    MESSAGING_CLIENT_ID = "messaging.client.id";
}
