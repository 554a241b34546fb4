//! Reading a receiver's reply. The HTTP status decides success; the body only adds detail, so
//! a body that is not a valid OTLP message (`{"partialSuccess":null}`, JSON in answer to
//! protobuf, an HTML error page) never turns a success into a failure.

use prost::Message;

use crate::proto::{ExportTraceServiceResponse, RpcStatus};

/// What a reply means.
#[derive(Debug, PartialEq)]
pub(crate) enum Reply {
    /// 2xx: accepted; `rejected` spans (or points) and `message` from a partial success, if any.
    Success { rejected: i64, message: String },
    /// Anything else: the status and what the body said.
    Failure { message: String },
}

pub(crate) fn read(status: u16, content_type: &str, body: &[u8]) -> Reply {
    let json = content_type.trim_start().starts_with("application/json")
        || body.first().is_some_and(|b| *b == b'{');
    if (200..300).contains(&status) {
        let (rejected, message) = if body.is_empty() {
            (0, String::new())
        } else if json {
            json_partial_success(body)
        } else {
            ExportTraceServiceResponse::decode(body)
                .ok()
                .and_then(|r| r.partial_success)
                .map(|p| (p.rejected_spans, p.error_message))
                .unwrap_or_default()
        };
        return Reply::Success { rejected, message };
    }
    let detail = if json {
        serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| v.get("message")?.as_str().map(str::to_owned))
    } else {
        RpcStatus::decode(body)
            .ok()
            .map(|s| s.message)
            .filter(|m| !m.is_empty())
    }
    .or_else(|| text_snippet(body));
    let message = match detail {
        Some(detail) => format!("HTTP {status}: {detail}"),
        None => format!("HTTP {status}"),
    };
    Reply::Failure { message }
}

/// `partialSuccess.rejectedSpans` (or `.rejectedDataPoints` in a metrics reply; a number or a
/// decimal string) and `.errorMessage`.
fn json_partial_success(body: &[u8]) -> (i64, String) {
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) else {
        return (0, String::new());
    };
    let Some(partial) = value.get("partialSuccess").filter(|p| p.is_object()) else {
        return (0, String::new());
    };
    let count = partial
        .get("rejectedSpans")
        .or_else(|| partial.get("rejectedDataPoints"));
    let rejected = match count {
        Some(serde_json::Value::Number(n)) => n.as_i64().unwrap_or(0),
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        _ => 0,
    };
    let message = partial
        .get("errorMessage")
        .and_then(|m| m.as_str())
        .unwrap_or("")
        .to_owned();
    (rejected, message)
}

/// The start of a plain-text body, for an error message.
fn text_snippet(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?.trim();
    if text.is_empty()
        || text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        return None;
    }
    let mut snippet: String = text.chars().take(200).collect();
    if snippet.len() < text.len() {
        snippet.push('…');
    }
    Some(snippet.replace('\n', " "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::ExportTracePartialSuccess;

    proptest::proptest! {
        #[test]
        fn any_reply_is_read_without_panicking_and_2xx_is_success(
            status in 100u16..600,
            json in proptest::bool::ANY,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        ) {
            let content_type = if json { "application/json" } else { "application/x-protobuf" };
            let reply = read(status, content_type, &body);
            proptest::prop_assert_eq!(
                matches!(reply, Reply::Success { .. }),
                (200..300).contains(&status)
            );
        }
    }

    fn success(rejected: i64, message: &str) -> Reply {
        Reply::Success {
            rejected,
            message: message.to_owned(),
        }
    }

    #[test]
    fn success_is_decided_by_the_status_whatever_the_body() {
        for (ct, body) in [
            ("application/x-protobuf", &b""[..]),
            ("application/json", b"{}"),
            ("application/json", br#"{"partialSuccess":null}"#),
            ("application/x-protobuf", br#"{"partialSuccess":{}}"#),
            ("application/x-protobuf", b"\xff\xff\xff garbage"),
            ("text/html", b"<html>ok</html>"),
        ] {
            assert_eq!(read(200, ct, body), success(0, ""), "{body:?}");
        }
    }

    #[test]
    fn partial_success_is_read_in_both_formats() {
        let proto = ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "too old".into(),
            }),
        }
        .encode_to_vec();
        assert_eq!(
            read(200, "application/x-protobuf", &proto),
            success(3, "too old")
        );
        let json = br#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"too old"}}"#;
        assert_eq!(read(200, "application/json", json), success(3, "too old"));
        let number = br#"{"partialSuccess":{"rejectedSpans":2}}"#;
        assert_eq!(read(200, "application/json", number), success(2, ""));
    }

    #[test]
    fn failures_carry_the_status_and_the_receivers_message() {
        let status = RpcStatus {
            code: 3,
            message: "bad span".into(),
        }
        .encode_to_vec();
        let failure = |message: &str| Reply::Failure {
            message: message.to_owned(),
        };
        assert_eq!(
            read(400, "application/x-protobuf", &status),
            failure("HTTP 400: bad span")
        );
        assert_eq!(
            read(
                400,
                "application/json",
                br#"{"code":3,"message":"bad span"}"#
            ),
            failure("HTTP 400: bad span")
        );
        assert_eq!(
            read(503, "text/plain", b"overloaded\n"),
            failure("HTTP 503: overloaded")
        );
        assert_eq!(read(502, "", b""), failure("HTTP 502"));
    }
}
