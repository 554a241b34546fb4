//! Where a request came from and where it was sent: the `Host` it names, and what a trusted
//! proxy's `Forwarded` headers say about both
//! ([RFC 7239](https://www.rfc-editor.org/rfc/rfc7239)).

use http::header::{self, HeaderMap, HeaderValue};

use crate::propagation::ScannedHeaders;

/// The first `Host` and `User-Agent` values: one pass over a request's header names (two hashed
/// lookups when there are many).
pub(crate) fn host_and_user_agent(
    headers: &HeaderMap,
) -> (Option<&HeaderValue>, Option<&HeaderValue>) {
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
pub(crate) fn split_host_port(host: &str) -> Option<(&str, Option<u16>)> {
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
pub(crate) struct Forwarded<'a> {
    pub(crate) client: Option<&'a str>,
    pub(crate) host: Option<&'a str>,
    pub(crate) proto: Option<&'a str>,
}

impl<'a> Forwarded<'a> {
    pub(crate) fn from_headers(headers: &'a HeaderMap) -> Self {
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
