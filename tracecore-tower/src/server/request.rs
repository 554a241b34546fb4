//! The SERVER span's name and start attributes, read from the request head.

use std::borrow::Cow;
use std::net::SocketAddr;

use http::header::{self, HeaderMap, HeaderValue};
use http::request::Parts;
use tracecore::http_span::{
    InFlight, MeasureOptions, MethodAttributes, content_length, interned, ip_text, limit_values,
    protocol_version, route_span_name, text,
};
use tracecore::propagation::ScannedHeaders;
use tracecore::trace::{Link, SpanKind, attribute_string};
use tracecore::{Context, KeyValue, SpanContext, semconv};

use super::layer::Config;

/// The peer's socket address, for `client.address` and `network.peer.*`. A bare hyper server
/// inserts it into the request extensions; axum's `ConnectInfo<SocketAddr>` is read too (feature
/// `axum`, with `into_make_service_with_connect_info`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

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

fn peer_addr(parts: &Parts) -> Option<SocketAddr> {
    if let Some(PeerAddr(addr)) = parts.extensions.get::<PeerAddr>() {
        return Some(*addr);
    }
    #[cfg(feature = "axum")]
    if let Some(info) = parts
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(info.0);
    }
    None
}

/// The first `Host` and `User-Agent` values: one pass over a request's header names (two hashed
/// lookups when there are many).
fn host_and_user_agent(headers: &HeaderMap) -> (Option<&HeaderValue>, Option<&HeaderValue>) {
    if headers.keys_len() > ScannedHeaders::MAX_SCANNED {
        return (headers.get(header::HOST), headers.get(header::USER_AGENT));
    }
    let (mut host, mut user_agent) = (None, None);
    for (name, value) in headers {
        if *name == header::HOST {
            host = host.or(Some(value));
        } else if *name == header::USER_AGENT {
            user_agent = user_agent.or(Some(value));
        }
    }
    (host, user_agent)
}

/// `host`, `host:port`, `[v6]`, `[v6]:port` into the address (brackets removed) and the port.
/// `None` for an empty host or a port that is not 1 to 5 digits up to 65535. One pass from the
/// end finds the userinfo's `@` and the last `:` (every request's `Host` goes through here).
fn split_host_port(host: &str) -> Option<(&str, Option<u16>)> {
    let host = host.trim_ascii();
    let bytes = host.as_bytes();
    let (mut start, mut colon) = (0, None);
    for i in (0..bytes.len()).rev() {
        match bytes[i] {
            // An authority may carry userinfo; it is never an address.
            b'@' => {
                start = i + 1;
                break;
            }
            b':' if colon.is_none() => colon = Some(i),
            _ => {}
        }
    }
    let host = &host[start..];
    let colon = colon.map(|c| c - start);
    let (address, port) = if let Some(rest) = host.strip_prefix('[') {
        let (address, after) = rest.split_once(']')?;
        match after.strip_prefix(':') {
            Some(port) => (address, Some(port)),
            None if after.is_empty() => (address, None),
            None => return None,
        }
    } else {
        match colon {
            Some(c) => (&host[..c], Some(&host[c + 1..])),
            None => (host, None),
        }
    };
    if address.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(parse_port(p)?),
        None => None,
    };
    Some((address, port))
}

/// A port: 1 to 5 ASCII digits, at most 65535.
fn parse_port(port: &str) -> Option<u16> {
    if port.is_empty() || port.len() > 5 {
        return None;
    }
    let mut value: u32 = 0;
    for &b in port.as_bytes() {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        value = value * 10 + u32::from(digit);
    }
    u16::try_from(value).ok()
}

/// What a trusted proxy says about the original request: the first element of `Forwarded`
/// (RFC 7239), else the `X-Forwarded-*` headers.
#[derive(Debug, Default, PartialEq, Eq)]
struct Forwarded<'a> {
    client: Option<&'a str>,
    host: Option<&'a str>,
    proto: Option<&'a str>,
}

impl<'a> Forwarded<'a> {
    fn from_headers(headers: &'a HeaderMap) -> Self {
        let mut out = Self::default();
        if let Some(first) = headers
            .get(header::FORWARDED)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(',').next())
        {
            for pair in first.split(';') {
                let Some((name, value)) = pair.trim().split_once('=') else {
                    continue;
                };
                let value = value.trim().trim_matches('"');
                if name.eq_ignore_ascii_case("for") {
                    out.client = client_address(value);
                } else if name.eq_ignore_ascii_case("host") {
                    out.host = Some(value).filter(|v| !v.is_empty());
                } else if name.eq_ignore_ascii_case("proto") {
                    out.proto = Some(value).filter(|v| !v.is_empty());
                }
            }
        }
        let first_of = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.split(',').next())
                .map(str::trim)
                .filter(|v| !v.is_empty())
        };
        out.client = out
            .client
            .or_else(|| first_of("x-forwarded-for").and_then(client_address));
        out.host = out.host.or_else(|| first_of("x-forwarded-host"));
        out.proto = out.proto.or_else(|| first_of("x-forwarded-proto"));
        out
    }
}

/// A node from `Forwarded: for=` or `X-Forwarded-For` without its port and brackets; `None` for
/// `unknown` and obfuscated identifiers (`_hidden`).
fn client_address(node: &str) -> Option<&str> {
    if node.is_empty() || node.eq_ignore_ascii_case("unknown") || node.starts_with('_') {
        return None;
    }
    if node.starts_with('[') {
        return split_host_port(node).map(|(a, _)| a);
    }
    // A bare IPv6 address (X-Forwarded-For) has several colons and no port.
    if node.matches(':').count() > 1 {
        return Some(node);
    }
    split_host_port(node).map(|(a, _)| a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_user_agent_are_the_first_values_in_short_and_long_maps() {
        for fillers in [0, ScannedHeaders::MAX_SCANNED + 1] {
            let mut headers = HeaderMap::new();
            for i in 0..fillers {
                let name = header::HeaderName::from_bytes(format!("x-f{i}").as_bytes()).unwrap();
                headers.insert(name, HeaderValue::from_static("1"));
            }
            assert_eq!(host_and_user_agent(&headers), (None, None), "{fillers}");
            headers.append(header::USER_AGENT, HeaderValue::from_static("ua/1"));
            headers.append(header::HOST, HeaderValue::from_static("a:1"));
            headers.append(header::HOST, HeaderValue::from_static("b:2"));
            headers.append(header::USER_AGENT, HeaderValue::from_static("ua/2"));
            let (host, ua) = host_and_user_agent(&headers);
            assert_eq!(host.unwrap(), "a:1", "{fillers}");
            assert_eq!(ua.unwrap(), "ua/1", "{fillers}");
        }
    }

    #[test]
    fn host_and_port() {
        let rows = [
            ("example.com", Some(("example.com", None))),
            ("example.com:8080", Some(("example.com", Some(8080)))),
            ("[::1]:3000", Some(("::1", Some(3000)))),
            ("[::1]", Some(("::1", None))),
            ("u:p@h:1", Some(("h", Some(1)))),
            // Invalid rows: no address, a port that is not a number, junk after the brackets.
            ("", None),
            (":80", None),
            ("h:http", None),
            ("[::1]x", None),
            ("h:99999", None),
            ("h:65536", None),
            ("h:", None),
            ("h:+80", None),
            ("h:080", Some(("h", Some(80)))),
            ("h:65535", Some(("h", Some(65535)))),
            ("h:123456", None),
            (" h:1 ", Some(("h", Some(1)))),
            ("a@b@h:2", Some(("h", Some(2)))),
            ("u:p@[::1]:9", Some(("::1", Some(9)))),
            ("u:p@h", Some(("h", None))),
            ("@h", Some(("h", None))),
            ("h@", None),
        ];
        for (input, want) in rows {
            assert_eq!(split_host_port(input), want, "{input}");
        }
    }

    #[test]
    fn forwarded_first_element_wins_and_x_forwarded_fills_gaps() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::FORWARDED,
            r#"for="[2001:db8::1]:4711";proto=https;host=shop.example, for=10.0.0.1"#
                .parse()
                .unwrap(),
        );
        headers.insert("x-forwarded-for", "203.0.113.9".parse().unwrap());
        let f = Forwarded::from_headers(&headers);
        assert_eq!(f.client, Some("2001:db8::1"));
        assert_eq!(f.host, Some("shop.example"));
        assert_eq!(f.proto, Some("https"));

        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "203.0.113.9:1234, 10.0.0.1".parse().unwrap(),
        );
        headers.insert("x-forwarded-proto", "https".parse().unwrap());
        let f = Forwarded::from_headers(&headers);
        assert_eq!(f.client, Some("203.0.113.9"));
        assert_eq!(f.proto, Some("https"));
        assert_eq!(f.host, None);

        let mut headers = HeaderMap::new();
        headers.insert(
            header::FORWARDED,
            "for=unknown;for=_hidden".parse().unwrap(),
        );
        headers.insert("x-forwarded-for", "2001:db8::2".parse().unwrap());
        assert_eq!(
            Forwarded::from_headers(&headers).client,
            Some("2001:db8::2")
        );
    }
}
