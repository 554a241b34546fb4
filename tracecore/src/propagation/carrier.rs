//! Where propagators read and write: the [`Extractor`] and [`Injector`] traits, implemented for
//! `http::HeaderMap`, `HashMap<String, String>` and header lists such as a message's
//! (`Vec<(String, String)>`, or `Vec<(String, Vec<u8>)>` for Kafka-style byte values).

use std::collections::HashMap;

use http::header::{HeaderMap, HeaderName, HeaderValue};

use crate::diag;

/// Reads fields from a carrier. Keys are lowercase; HTTP carriers match them case-insensitively.
pub trait Extractor {
    /// The first value of `key`.
    fn get(&self, key: &str) -> Option<&[u8]>;

    /// Every value of `key`, in carrier order (repeated HTTP header fields stay separate).
    fn get_all(&self, key: &str) -> Values<'_>;

    /// Every key in the carrier (used by propagators with prefixed keys, like Jaeger's `uberctx-`).
    fn keys(&self) -> Vec<&str>;
}

/// Writes fields into a carrier.
pub trait Injector {
    /// Sets `key` to `value`, replacing what was there. A carrier that cannot hold the value (an
    /// HTTP header value must be visible ASCII) skips it and counts it in [`diag::counts`].
    fn set(&mut self, key: &str, value: &str);

    /// Sets `key` to `value` given as ASCII bytes (a value a propagator formatted, such as
    /// `traceparent`), so that a carrier of bytes need not check it is text first. The default
    /// passes it on to [`set`](Self::set) as text; a value that is not UTF-8 is skipped and
    /// counted like one the carrier cannot hold.
    fn set_ascii(&mut self, key: &str, value: &[u8]) {
        match std::str::from_utf8(value) {
            Ok(value) => self.set(key, value),
            Err(_) => diag::add(&diag::HEADER_VALUES_SKIPPED, 1),
        }
    }

    /// Removes `key`, so that a stale value is not sent on.
    fn remove(&mut self, key: &str);
}

/// The values of one key, in order. See [`Extractor::get_all`].
#[derive(Debug)]
pub struct Values<'a>(ValuesInner<'a>);

#[derive(Debug)]
enum ValuesInner<'a> {
    Header(http::header::ValueIter<'a, HeaderValue>),
    One(Option<&'a [u8]>),
    Slice(std::slice::Iter<'a, &'a [u8]>),
    Collected(std::vec::IntoIter<&'a [u8]>),
}

impl<'a> Values<'a> {
    /// At most one value.
    pub const fn one(value: Option<&'a [u8]>) -> Self {
        Self(ValuesInner::One(value))
    }

    /// The values in `slice`.
    pub fn slice(slice: &'a [&'a [u8]]) -> Self {
        Self(ValuesInner::Slice(slice.iter()))
    }

    /// Values gathered from a carrier that has no borrowed list of them.
    pub fn collected(values: Vec<&'a [u8]>) -> Self {
        Self(ValuesInner::Collected(values.into_iter()))
    }

    /// The values of a header map entry.
    pub fn header(iter: http::header::ValueIter<'a, HeaderValue>) -> Self {
        Self(ValuesInner::Header(iter))
    }
}

impl<'a> Iterator for Values<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.0 {
            ValuesInner::Header(iter) => iter.next().map(HeaderValue::as_bytes),
            ValuesInner::One(value) => value.take(),
            ValuesInner::Slice(iter) => iter.next().copied(),
            ValuesInner::Collected(iter) => iter.next(),
        }
    }
}

/// Header names the propagators use, built once, so that neither lookups nor inserts parse or
/// allocate a name; [`known`] gives a name's place here.
static KNOWN: [HeaderName; 10] = [
    HeaderName::from_static("traceparent"),
    HeaderName::from_static("tracestate"),
    HeaderName::from_static("baggage"),
    HeaderName::from_static("b3"),
    HeaderName::from_static("x-b3-traceid"),
    HeaderName::from_static("x-b3-spanid"),
    HeaderName::from_static("x-b3-sampled"),
    HeaderName::from_static("x-b3-flags"),
    HeaderName::from_static("x-b3-parentspanid"),
    HeaderName::from_static("uber-trace-id"),
];

/// `key`'s place in [`KNOWN`], for a lowercase key.
fn known(key: &str) -> Option<usize> {
    Some(match key {
        "traceparent" => 0,
        "tracestate" => 1,
        "baggage" => 2,
        "b3" => 3,
        "x-b3-traceid" => 4,
        "x-b3-spanid" => 5,
        "x-b3-sampled" => 6,
        "x-b3-flags" => 7,
        "x-b3-parentspanid" => 8,
        "uber-trace-id" => 9,
        _ => return None,
    })
}

impl Extractor for HeaderMap {
    fn get(&self, key: &str) -> Option<&[u8]> {
        match known(key) {
            Some(i) => Self::get(self, &KNOWN[i]),
            None => Self::get(self, key),
        }
        .map(HeaderValue::as_bytes)
    }

    fn get_all(&self, key: &str) -> Values<'_> {
        match known(key) {
            Some(i) => Values::header(Self::get_all(self, &KNOWN[i]).iter()),
            None => Values::header(Self::get_all(self, key).iter()),
        }
    }

    fn keys(&self) -> Vec<&str> {
        Self::keys(self).map(HeaderName::as_str).collect()
    }
}

/// An HTTP header map read in one pass for every field the built-in propagators look up
/// (`traceparent`, `tracestate`, `baggage`, B3's and Jaeger's), so that extracting with several
/// propagators costs no hashed lookup per field, absent fields included. Other keys, and a field
/// that repeats, are looked up in the map. A map with more than [`ScannedHeaders::MAX_SCANNED`]
/// names is not scanned: every lookup goes to the map.
///
/// ```
/// use tracecore::propagation::{self, Propagator, ScannedHeaders};
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".parse().unwrap());
/// let cx = propagation::default().extract(&ScannedHeaders::new(&headers));
/// assert!(cx.span_context().is_some_and(|sc| sc.is_remote()));
/// ```
#[derive(Debug)]
pub struct ScannedHeaders<'a> {
    map: &'a HeaderMap,
    /// The first value of each [`KNOWN`] field, when the map was scanned.
    first: [Option<&'a HeaderValue>; KNOWN.len()],
    /// Bit `i`: [`KNOWN`] field `i` has more than one value.
    repeated: u16,
    scanned: bool,
}

impl<'a> ScannedHeaders<'a> {
    /// Past this many header names a scan would cost more than the lookups it saves.
    pub const MAX_SCANNED: usize = 24;

    /// Reads `map`'s names once (at most [`Self::MAX_SCANNED`] of them).
    pub fn new(map: &'a HeaderMap) -> Self {
        let mut headers = Self {
            map,
            first: [None; KNOWN.len()],
            repeated: 0,
            scanned: map.keys_len() <= Self::MAX_SCANNED,
        };
        if headers.scanned {
            for (name, value) in map {
                if let Some(i) = known(name.as_str()) {
                    match headers.first[i] {
                        None => headers.first[i] = Some(value),
                        Some(_) => headers.repeated |= 1 << i,
                    }
                }
            }
        }
        headers
    }

    /// The scanned field `key`, or `None` when the map has to be asked.
    fn field(&self, key: &str) -> Option<usize> {
        known(key).filter(|_| self.scanned)
    }
}

impl Extractor for ScannedHeaders<'_> {
    fn get(&self, key: &str) -> Option<&[u8]> {
        match self.field(key) {
            Some(i) => self.first[i].map(HeaderValue::as_bytes),
            None => Extractor::get(self.map, key),
        }
    }

    fn get_all(&self, key: &str) -> Values<'_> {
        match self.field(key) {
            Some(i) if self.repeated & (1 << i) == 0 => {
                Values::one(self.first[i].map(HeaderValue::as_bytes))
            }
            _ => Extractor::get_all(self.map, key),
        }
    }

    fn keys(&self) -> Vec<&str> {
        Extractor::keys(self.map)
    }
}

impl Injector for HeaderMap {
    fn set(&mut self, key: &str, value: &str) {
        self.set_ascii(key, value.as_bytes());
    }

    /// The header value is checked (visible ASCII) once, by `http`.
    fn set_ascii(&mut self, key: &str, value: &[u8]) {
        let Ok(value) = HeaderValue::from_bytes(value) else {
            diag::add(&diag::HEADER_VALUES_SKIPPED, 1);
            return;
        };
        match known(key) {
            Some(i) => {
                self.insert(KNOWN[i].clone(), value);
            }
            None => match HeaderName::from_bytes(key.as_bytes()) {
                Ok(name) => {
                    self.insert(name, value);
                }
                Err(_) => diag::add(&diag::HEADER_VALUES_SKIPPED, 1),
            },
        }
    }

    fn remove(&mut self, key: &str) {
        match known(key) {
            Some(i) => Self::remove(self, &KNOWN[i]),
            None => Self::remove(self, key),
        };
    }
}

impl Extractor for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&[u8]> {
        Self::get(self, key)
            .or_else(|| {
                self.iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(key))
                    .map(|(_, v)| v)
            })
            .map(String::as_bytes)
    }

    fn get_all(&self, key: &str) -> Values<'_> {
        Values::one(Extractor::get(self, key))
    }

    fn keys(&self) -> Vec<&str> {
        Self::keys(self).map(String::as_str).collect()
    }
}

impl Injector for HashMap<String, String> {
    fn set(&mut self, key: &str, value: &str) {
        self.insert(key.to_owned(), value.to_owned());
    }

    fn remove(&mut self, key: &str) {
        Self::remove(self, key);
    }
}

/// A message's header list, in order: keys match case-insensitively and may repeat (each
/// value of a repeated key is seen by [`Extractor::get_all`]); values are text
/// (`Vec<(String, String)>`) or bytes (`Vec<(String, Vec<u8>)>`, as Kafka headers are).
impl<V: AsRef<[u8]>> Extractor for Vec<(String, V)> {
    fn get(&self, key: &str) -> Option<&[u8]> {
        self.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_ref())
    }

    fn get_all(&self, key: &str) -> Values<'_> {
        Values::collected(
            self.iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_ref())
                .collect(),
        )
    }

    fn keys(&self) -> Vec<&str> {
        self.iter().map(|(k, _)| k.as_str()).collect()
    }
}

/// Setting a key replaces every entry of it (matched case-insensitively) with one entry, kept
/// where the first one was; a new key goes last.
impl<V: From<String>> Injector for Vec<(String, V)> {
    fn set(&mut self, key: &str, value: &str) {
        match self.iter().position(|(k, _)| k.eq_ignore_ascii_case(key)) {
            Some(first) => {
                self[first] = (key.to_owned(), V::from(value.to_owned()));
                let mut index = 0;
                self.retain(|(k, _)| {
                    let keep = index <= first || !k.eq_ignore_ascii_case(key);
                    index += 1;
                    keep
                });
            }
            None => self.push((key.to_owned(), V::from(value.to_owned()))),
        }
    }

    fn remove(&mut self, key: &str) {
        self.retain(|(k, _)| !k.eq_ignore_ascii_case(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_is_found_at_its_place() {
        for (i, name) in KNOWN.iter().enumerate() {
            assert_eq!(known(name.as_str()), Some(i), "{name}");
        }
        assert_eq!(known("Traceparent"), None, "keys are lowercase");
    }

    #[test]
    fn header_map_is_case_insensitive_and_keeps_repeated_fields() {
        let mut headers = HeaderMap::new();
        headers.append("TraceState", HeaderValue::from_static("a=1"));
        headers.append("tracestate", HeaderValue::from_static("b=2"));
        headers.append("X-Custom", HeaderValue::from_static("x"));
        let all: Vec<_> = Extractor::get_all(&headers, "tracestate").collect();
        assert_eq!(all, [b"a=1".as_slice(), b"b=2"]);
        assert_eq!(Extractor::get(&headers, "x-custom"), Some(b"x".as_slice()));
        assert_eq!(Extractor::get(&headers, "missing"), None);
        assert_eq!(Extractor::get_all(&headers, "missing").count(), 0);
    }

    #[test]
    fn header_map_injection_replaces_and_skips_invalid_values() {
        let mut headers = HeaderMap::new();
        headers.append("traceparent", HeaderValue::from_static("old-1"));
        headers.append("traceparent", HeaderValue::from_static("old-2"));
        Injector::set(&mut headers, "traceparent", "new");
        assert_eq!(headers.get_all("traceparent").iter().count(), 1);
        assert_eq!(headers["traceparent"], "new");

        let before = diag::counts().header_values_skipped;
        Injector::set(&mut headers, "uberctx-k", "line\nbreak");
        Injector::set(&mut headers, "bad name", "v");
        assert!(!headers.contains_key("uberctx-k"));
        assert_eq!(diag::counts().header_values_skipped, before + 2);

        Injector::set(&mut headers, "uberctx-k", "ok");
        assert_eq!(headers["uberctx-k"], "ok");
        Injector::remove(&mut headers, "traceparent");
        assert!(!headers.contains_key("traceparent"));

        // Bytes in: the same header, and the same check of the value.
        headers.set_ascii("traceparent", b"00-ab");
        assert_eq!(headers["traceparent"], "00-ab");
        let before = diag::counts().header_values_skipped;
        headers.set_ascii("traceparent", b"00\r\n");
        assert_eq!(
            headers["traceparent"], "00-ab",
            "an invalid value is not set"
        );
        // Other tests may count at the same time: at least this one.
        assert!(diag::counts().header_values_skipped > before);
    }

    #[test]
    fn text_carriers_take_ascii_values_as_text_and_skip_other_bytes() {
        let mut map = HashMap::new();
        map.set_ascii("traceparent", b"00-ab");
        assert_eq!(map["traceparent"], "00-ab");
        let before = diag::counts().header_values_skipped;
        map.set_ascii("tracestate", b"a=\xff");
        assert!(!map.contains_key("tracestate"));
        assert!(diag::counts().header_values_skipped > before);

        let mut list: Vec<(String, String)> = Vec::new();
        list.set_ascii("b3", b"1");
        assert_eq!(list, [("b3".to_owned(), "1".to_owned())]);
    }

    #[test]
    fn hash_map_carrier() {
        let mut map = HashMap::new();
        Injector::set(&mut map, "traceparent", "v");
        assert_eq!(Extractor::get(&map, "traceparent"), Some(b"v".as_slice()));
        map.insert("TraceState".to_owned(), "a=1".to_owned());
        assert_eq!(Extractor::get(&map, "tracestate"), Some(b"a=1".as_slice()));
        assert_eq!(Extractor::keys(&map).len(), 2);
    }

    #[test]
    fn header_lists_match_keys_case_insensitively_and_keep_repeats() {
        let list: Vec<(String, String)> = vec![
            ("Traceparent".into(), "a".into()),
            ("baggage".into(), "k=1".into()),
            ("BAGGAGE".into(), "j=2".into()),
        ];
        assert_eq!(Extractor::get(&list, "traceparent"), Some(&b"a"[..]));
        let all: Vec<&[u8]> = list.get_all("baggage").collect();
        assert_eq!(all, [&b"k=1"[..], &b"j=2"[..]]);
        assert_eq!(list.get_all("tracestate").count(), 0);
        assert_eq!(
            Extractor::keys(&list),
            ["Traceparent", "baggage", "BAGGAGE"]
        );
    }

    #[test]
    fn header_list_injection_replaces_every_entry_in_place() {
        let mut list: Vec<(String, Vec<u8>)> = vec![
            ("baggage".into(), b"old".to_vec()),
            ("x-app".into(), b"1".to_vec()),
            ("Baggage".into(), b"older".to_vec()),
        ];
        list.set("baggage", "new");
        list.set("traceparent", "tp");
        assert_eq!(
            list,
            [
                ("baggage".to_owned(), b"new".to_vec()),
                ("x-app".to_owned(), b"1".to_vec()),
                ("traceparent".to_owned(), b"tp".to_vec()),
            ]
        );
        Injector::remove(&mut list, "TRACEPARENT");
        assert_eq!(list.len(), 2);
    }
}
