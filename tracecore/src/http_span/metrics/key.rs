//! What identifies a series of the HTTP and gRPC instruments: the attribute values, interned or
//! static, compared without reading a string that is the same interned one.

use std::borrow::Cow;

use crate::http_span::Side;
use crate::metrics::{SeriesKey, hash_bytes, mix};
use crate::rpc::GrpcCode;
use crate::{KeyValue, semconv};

/// The key of one series: an HTTP request's or a gRPC call's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum HttpKey {
    Http(HttpSeries),
    Rpc(RpcSeries),
}

/// An HTTP request's attributes (`http.{server,client}.request.duration`, the body sizes,
/// `http.server.active_requests`).
#[derive(Clone, Debug)]
pub(crate) struct HttpSeries {
    pub(crate) side: Side,
    pub(crate) method: &'static str,
    pub(crate) scheme: Option<&'static str>,
    pub(crate) route: Option<Cow<'static, str>>,
    pub(crate) server_address: Option<Cow<'static, str>>,
    pub(crate) server_port: Option<u16>,
    pub(crate) status: Option<u16>,
    pub(crate) error_type: Option<&'static str>,
    pub(crate) protocol: Option<&'static str>,
}

/// A gRPC call's attributes (`rpc.{server,client}.call.duration`).
#[derive(Clone, Debug)]
pub(crate) struct RpcSeries {
    pub(crate) side: Side,
    /// `service/method`, or `_OTHER`.
    pub(crate) method: Cow<'static, str>,
    pub(crate) server_address: Option<Cow<'static, str>>,
    pub(crate) server_port: Option<u16>,
    pub(crate) code: Option<GrpcCode>,
    pub(crate) error_type: Option<&'static str>,
}

impl HttpKey {
    pub(crate) fn set_error_type(&mut self, error_type: Option<&'static str>) {
        match self {
            Self::Http(k) => k.error_type = error_type,
            Self::Rpc(k) => k.error_type = error_type,
        }
    }

    pub(crate) fn hash(&self) -> u64 {
        match self {
            Self::Http(k) => {
                let mut h = hash_bytes(k.side as u64, k.method.as_bytes());
                for part in [
                    k.scheme,
                    k.route.as_deref(),
                    k.server_address.as_deref(),
                    k.error_type,
                    k.protocol,
                ] {
                    h = hash_bytes(h.rotate_left(5), part.unwrap_or("").as_bytes());
                }
                let numbers =
                    u64::from(k.status.unwrap_or(0)) << 16 | u64::from(k.server_port.unwrap_or(0));
                mix(h ^ numbers)
            }
            Self::Rpc(k) => {
                let mut h = hash_bytes(k.side as u64 | 2, k.method.as_bytes());
                for part in [k.server_address.as_deref(), k.error_type] {
                    h = hash_bytes(h.rotate_left(5), part.unwrap_or("").as_bytes());
                }
                let code = k.code.map_or(0, |c| c.as_u32() as u64 + 1);
                mix(h ^ (code << 16 | u64::from(k.server_port.unwrap_or(0))))
            }
        }
    }
}

impl HttpKey {
    /// A hash of where the key's strings are, when every one is static or interned (never
    /// freed, so the same address is the same string for the process's life); `None` when one
    /// is owned. It finds a series recorded lately without hashing the strings' bytes
    /// ([`same_place`](Self::same_place) confirms it).
    #[inline]
    pub(crate) fn place(&self) -> Option<u64> {
        let at = |s: &str| s.as_ptr() as u64 ^ (s.len() as u64).rotate_left(48);
        let opt = |s: Option<&'static str>| s.map_or(0, at);
        let one = |c: &Cow<'static, str>| match c {
            Cow::Borrowed(s) => Some(at(s)),
            Cow::Owned(_) => None,
        };
        let cow = |c: &Option<Cow<'static, str>>| c.as_ref().map_or(Some(0), one);
        let words = match self {
            Self::Http(k) => [
                at(k.method) ^ (k.side as u64) << 62,
                cow(&k.route)?,
                cow(&k.server_address)?,
                opt(k.scheme),
                opt(k.error_type),
                opt(k.protocol),
                u64::from(k.status.unwrap_or(0)) << 16 | u64::from(k.server_port.unwrap_or(0)),
            ],
            Self::Rpc(k) => [
                one(&k.method)? ^ (k.side as u64) << 62 ^ 1 << 61,
                cow(&k.server_address)?,
                opt(k.error_type),
                k.code.map_or(0, |c| c.as_u32() as u64 + 1),
                u64::from(k.server_port.unwrap_or(0)),
                0,
                0,
            ],
        };
        let mut h = 0u64;
        for w in words {
            h = (h ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29);
        }
        Some(h)
    }

    /// Whether `self`, every string of which is static or interned ([`place`](Self::place) is
    /// `Some`), is `other`, compared by the strings' addresses only. Sound because such a
    /// string's address is never reused for another; a stored key with an owned string is at
    /// another address, so it is not taken for `self` (the caller falls back to the table).
    #[inline]
    pub(crate) fn same_place(&self, other: &Self) -> bool {
        fn at(a: &str, b: &str) -> bool {
            a.as_ptr() == b.as_ptr() && a.len() == b.len()
        }
        match (self, other) {
            (Self::Http(a), Self::Http(b)) => {
                a.side == b.side
                    && a.status == b.status
                    && a.server_port == b.server_port
                    && at(a.method, b.method)
                    && both(a.route.as_deref(), b.route.as_deref(), at)
                    && both(a.scheme, b.scheme, at)
                    && both(a.error_type, b.error_type, at)
                    && both(a.protocol, b.protocol, at)
                    && both(a.server_address.as_deref(), b.server_address.as_deref(), at)
            }
            (Self::Rpc(a), Self::Rpc(b)) => {
                a.side == b.side
                    && a.code == b.code
                    && a.server_port == b.server_port
                    && at(&a.method, &b.method)
                    && both(a.error_type, b.error_type, at)
                    && both(a.server_address.as_deref(), b.server_address.as_deref(), at)
            }
            _ => false,
        }
    }
}

/// Equal strings, found without reading them when they are the same interned or static one.
fn same(a: &str, b: &str) -> bool {
    (a.as_ptr() == b.as_ptr() && a.len() == b.len()) || a == b
}

fn same_opt(a: Option<&str>, b: Option<&str>) -> bool {
    both(a, b, same)
}

/// Both absent, or both present and `eq`.
#[inline]
fn both(a: Option<&str>, b: Option<&str>, eq: fn(&str, &str) -> bool) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

impl PartialEq for HttpSeries {
    fn eq(&self, other: &Self) -> bool {
        self.side == other.side
            && self.status == other.status
            && self.server_port == other.server_port
            && same(self.method, other.method)
            && same_opt(self.route.as_deref(), other.route.as_deref())
            && same_opt(self.scheme, other.scheme)
            && same_opt(self.error_type, other.error_type)
            && same_opt(self.protocol, other.protocol)
            && same_opt(
                self.server_address.as_deref(),
                other.server_address.as_deref(),
            )
    }
}

impl Eq for HttpSeries {}

impl PartialEq for RpcSeries {
    fn eq(&self, other: &Self) -> bool {
        self.side == other.side
            && self.code == other.code
            && self.server_port == other.server_port
            && same(&self.method, &other.method)
            && same_opt(self.error_type, other.error_type)
            && same_opt(
                self.server_address.as_deref(),
                other.server_address.as_deref(),
            )
    }
}

impl Eq for RpcSeries {}

impl SeriesKey for HttpKey {
    /// Sorted by key, as every series' attributes are.
    fn attributes(&self) -> Vec<KeyValue> {
        let mut out = Vec::with_capacity(7);
        match self {
            Self::Http(k) => {
                if let Some(e) = k.error_type {
                    out.push(KeyValue::new(semconv::ERROR_TYPE, e));
                }
                out.push(KeyValue::new(semconv::HTTP_REQUEST_METHOD, k.method));
                if let Some(status) = k.status {
                    out.push(KeyValue::new(
                        semconv::HTTP_RESPONSE_STATUS_CODE,
                        i64::from(status),
                    ));
                }
                if let Some(route) = &k.route {
                    out.push(KeyValue::new(semconv::HTTP_ROUTE, route.clone()));
                }
                if let Some(version) = k.protocol {
                    out.push(KeyValue::new(semconv::NETWORK_PROTOCOL_VERSION, version));
                }
                server(&mut out, &k.server_address, k.server_port);
                if let Some(scheme) = k.scheme {
                    out.push(KeyValue::new(semconv::URL_SCHEME, scheme));
                }
            }
            Self::Rpc(k) => {
                if let Some(e) = k.error_type {
                    out.push(KeyValue::new(semconv::ERROR_TYPE, e));
                }
                out.push(KeyValue::new(semconv::RPC_METHOD, k.method.clone()));
                if let Some(code) = k.code {
                    out.push(KeyValue::new(
                        semconv::RPC_RESPONSE_STATUS_CODE,
                        code.name(),
                    ));
                }
                out.push(KeyValue::new(semconv::RPC_SYSTEM_NAME, crate::rpc::GRPC));
                server(&mut out, &k.server_address, k.server_port);
            }
        }
        out
    }
}

fn server(out: &mut Vec<KeyValue>, address: &Option<Cow<'static, str>>, port: Option<u16>) {
    if let Some(address) = address {
        out.push(KeyValue::new(semconv::SERVER_ADDRESS, address.clone()));
    }
    if let Some(port) = port {
        out.push(KeyValue::new(semconv::SERVER_PORT, i64::from(port)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(route: Cow<'static, str>, status: u16) -> HttpKey {
        HttpKey::Http(HttpSeries {
            side: Side::Server,
            method: "GET",
            scheme: Some("http"),
            route: Some(route),
            server_address: None,
            server_port: None,
            status: Some(status),
            error_type: None,
            protocol: Some("1.1"),
        })
    }

    /// One string, at one address.
    const A: &str = "/a";
    static ROUTE: &str = A;

    #[test]
    fn a_key_has_a_place_only_when_its_strings_are_never_freed() {
        let a = key(Cow::Borrowed(ROUTE), 200);
        assert_eq!(a.place(), key(Cow::Borrowed(ROUTE), 200).place());
        assert!(a.place().is_some());
        assert_ne!(a.place(), key(Cow::Borrowed(ROUTE), 500).place());
        assert_eq!(key(Cow::Owned(ROUTE.into()), 200).place(), None);
    }

    #[test]
    fn same_place_is_equality_by_address_and_never_matches_another_key() {
        let a = key(Cow::Borrowed(ROUTE), 200);
        assert!(a.same_place(&key(Cow::Borrowed(ROUTE), 200)));
        assert!(!a.same_place(&key(Cow::Borrowed(ROUTE), 404)));
        assert!(!a.same_place(&key(Cow::Borrowed("/b"), 200)));
        // Equal, but held elsewhere: not the same place (the table is asked instead).
        let owned = key(Cow::Owned(ROUTE.into()), 200);
        assert_eq!(a, owned);
        assert!(!a.same_place(&owned));
    }
}
