//! The SERVER span's name and start attributes, read from the request head.

use std::borrow::Cow;
use std::net::SocketAddr;

use http::header;
use http::request::Parts;
use tracecore::http_span::{
    InFlight, MeasureOptions, MethodAttributes, content_length, interned, ip_text, limit_values,
    protocol_version, route_span_name, text,
};
use tracecore::trace::{Link, SpanKind, attribute_string};
use tracecore::{Context, KeyValue, SpanContext, semconv};

use super::layer::Config;
use super::origin::{Forwarded, host_and_user_agent, peer_addr, split_host_port};

/// Starts the SERVER span of a request, and its duration measurement when the tracer's
/// provider records metrics.
pub(crate) fn start_span(
    config: &Config,
    parts: &Parts,
    parent: &Context,
    link: Option<SpanContext>,
) -> InFlight {
    let MethodAttributes {
        known,
        method,
        original,
    } = MethodAttributes::new(&parts.method);
    // Looked up and interned once, for the attribute and the metric key alike; only when
    // something uses it: the metrics now, else a span once it is known to record.
    let metrics = config.tracer.http_metrics();
    let route_of = || route(config, parts).map(|r| interned(r.as_str()));
    let route_now = metrics.and_then(|_| route_of());
    let uri = &parts.uri;
    let headers = &parts.headers;
    let forwarded = if config.trusted_proxy {
        Forwarded::from_headers(headers)
    } else {
        Forwarded::default()
    };
    let scheme: &'static str = match forwarded.proto.or(uri.scheme_str()) {
        Some(s) if s.eq_ignore_ascii_case("https") => "https",
        _ => "http",
    };
    let version = protocol_version(parts.version);
    // Built only for a span that records (the built-in samplers do not read them).
    let attributes = |route: Option<Cow<'static, str>>| {
        let mut attributes = tracecore::trace::attribute_list(16);
        attributes.push(method);
        attributes.extend(original);
        if let Some(route) = route {
            attributes.push(KeyValue::new(semconv::HTTP_ROUTE, route));
        }
        attributes.push(KeyValue::new(
            semconv::URL_PATH,
            attribute_string(uri.path()),
        ));
        if let Some(query) = uri.query() {
            let query = attribute_string(&config.redaction.query(query));
            attributes.push(KeyValue::new(semconv::URL_QUERY, query));
        }
        attributes.push(KeyValue::new(semconv::URL_SCHEME, scheme));
        let (host_header, user_agent) = host_and_user_agent(headers);
        let host = forwarded
            .host
            .or_else(|| uri.authority().map(|a| a.as_str()))
            .or_else(|| host_header.and_then(|h| h.to_str().ok()));
        if let Some((address, port)) = host.and_then(split_host_port) {
            attributes.push(KeyValue::new(
                semconv::SERVER_ADDRESS,
                attribute_string(address),
            ));
            let port = port.unwrap_or(if scheme == "https" { 443 } else { 80 });
            attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
        }
        let peer = peer_addr(parts);
        let client = forwarded
            .client
            .map(attribute_string)
            .or_else(|| peer.map(|p| ip_text(p.ip())));
        if let Some(client) = client {
            attributes.push(KeyValue::new(semconv::CLIENT_ADDRESS, client));
        }
        if let Some(peer) = peer {
            push_peer(&mut attributes, peer);
        }
        if let Some(version) = version {
            attributes.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
        }
        if let Some(ua) = user_agent {
            let ua = text(ua.as_bytes());
            attributes.push(KeyValue::new(semconv::USER_AGENT_ORIGINAL, ua));
        }
        if !config.request_headers.is_empty() {
            attributes.extend(config.request_headers.attributes(headers));
        }
        limit_values(&mut attributes, config.max_value_length);
        attributes
    };

    let measure = metrics.and_then(|metrics| {
        let route = route_now.clone();
        let options = MeasureOptions::NONE
            .with_active_requests(config.active_requests)
            .with_body_sizes(config.body_sizes);
        let mut measure = metrics.server(known, scheme, route, version, options)?;
        if config.body_sizes
            && let Some(length) = content_length(headers)
        {
            measure.set_request_body_size(length);
        }
        Some(measure)
    });
    // The name, like the attributes, is made only for a span that records.
    let mut builder = config
        .tracer
        .span_builder(known)
        .with_kind(SpanKind::Server);
    if let Some(link) = link {
        builder = builder.with_link(Link::new(link, Vec::new()));
    }
    if let Some(measure) = &measure {
        builder = builder.with_start_instant(measure.start());
    }
    InFlight::measured(
        builder.start_described(parent, || {
            let route = if metrics.is_some() {
                route_now
            } else {
                route_of()
            };
            (route_span_name(known, route.as_ref()), attributes(route))
        }),
        measure,
    )
}

/// Starts the SERVER span of a gRPC call (by the RPC rules: [`tracecore::rpc`]): named by its
/// fully qualified method, with `rpc.system.name`, `rpc.method`, `server.*` and
/// `network.peer.*`; its status comes from `grpc-status` when the call ends.
pub(crate) fn start_rpc_span(
    config: &Config,
    parts: &Parts,
    parent: &Context,
    link: Option<SpanContext>,
) -> InFlight {
    let path = parts.uri.path();
    // A method longer than any value is kept is no method a service declares.
    let method = tracecore::rpc::method(path).filter(|m| m.len() <= config.max_value_length);
    let mut builder = config
        .tracer
        .span_builder(tracecore::rpc::GRPC)
        .with_kind(SpanKind::Server);
    if let Some(link) = link {
        builder = builder.with_link(Link::new(link, Vec::new()));
    }
    let describe = || {
        let mut attributes = tracecore::trace::attribute_list(8);
        // Copied, not interned: until the service answers, the path is only what the caller
        // sent.
        let method = method.map(|m| Cow::Owned(attribute_string(m)));
        let name = tracecore::rpc::method_attributes(&mut attributes, method, path);
        let host = parts.uri.authority().map(|a| a.as_str()).or_else(|| {
            parts
                .headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
        });
        if let Some((address, port)) = host.and_then(split_host_port) {
            attributes.push(KeyValue::new(
                semconv::SERVER_ADDRESS,
                attribute_string(address),
            ));
            if let Some(port) = port {
                attributes.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
            }
        }
        if let Some(peer) = peer_addr(parts) {
            push_peer(&mut attributes, peer);
        }
        if !config.rpc_request_metadata.is_empty() {
            attributes.extend(config.rpc_request_metadata.attributes(&parts.headers));
        }
        limit_values(&mut attributes, config.max_value_length);
        (name, attributes)
    };
    let measure = config.tracer.http_metrics().and_then(|metrics| {
        let method = method.map(|m| Cow::Owned(m.to_owned()));
        metrics.rpc(tracecore::http_span::Side::Server, method, None, None)
    });
    let start = measure
        .as_ref()
        .map_or_else(std::time::Instant::now, |m| m.start());
    builder = builder.with_start_instant(start);
    let mut call = InFlight::rpc(
        builder.start_described(parent, describe),
        tracecore::http_span::Side::Server,
        measure,
    );
    let timeout = parts.headers.get("grpc-timeout");
    // A timeout too far to represent (up to 99,999,999 hours may be sent) is no deadline.
    if let Some(deadline) = timeout
        .and_then(|t| tracecore::rpc::parse_timeout(t.as_bytes()))
        .and_then(|t| start.checked_add(t))
    {
        call.set_rpc_deadline(deadline);
    }
    call
}

/// The route: from the configured function, else axum's `MatchedPath` (borrowed, no copy).
enum Route<'a> {
    Given(String),
    #[cfg_attr(not(feature = "axum"), allow(dead_code))]
    Matched(&'a str),
}

impl Route<'_> {
    fn as_str(&self) -> &str {
        match self {
            Self::Given(s) => s,
            Self::Matched(s) => s,
        }
    }
}

fn route<'a>(config: &Config, parts: &'a Parts) -> Option<Route<'a>> {
    if let Some(route) = config.route.as_ref().and_then(|f| f(parts)) {
        return Some(Route::Given(route));
    }
    #[cfg(feature = "axum")]
    if let Some(matched) = parts.extensions.get::<axum::extract::MatchedPath>() {
        return Some(Route::Matched(matched.as_str()));
    }
    None
}

/// `network.peer.address` and `network.peer.port`.
fn push_peer(attributes: &mut Vec<KeyValue>, peer: SocketAddr) {
    attributes.push(KeyValue::new(
        semconv::NETWORK_PEER_ADDRESS,
        ip_text(peer.ip()),
    ));
    attributes.push(KeyValue::new(
        semconv::NETWORK_PEER_PORT,
        i64::from(peer.port()),
    ));
}
