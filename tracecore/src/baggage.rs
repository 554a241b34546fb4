//! Baggage: application key–value pairs that travel with a trace ([W3C Baggage]).
//!
//! ```
//! use tracecore::Baggage;
//!
//! let mut baggage = Baggage::default();
//! baggage.insert("userId", "Amélie").unwrap();
//! baggage.insert("serverNode", "DF 28").unwrap();
//! assert_eq!(baggage.get("userId"), Some("Amélie"));
//! // Values are percent-encoded on the wire, and decoded back.
//! assert_eq!(baggage.header_value(), "userId=Am%C3%A9lie,serverNode=DF%2028");
//! let parsed = Baggage::from_header_values([baggage.header_value().as_bytes()]);
//! assert_eq!(parsed, baggage);
//! ```
//!
//! Parsing keeps every valid member and drops the malformed ones (the spec leaves malformed input
//! undefined and allows dropping the offending members). A repeated key keeps its last value.
//! Everything is kept up to 64 members and 8192 bytes of header; past that whole members are
//! dropped, never cut. Properties (`;k=v;flag`) are kept opaque and sent back as received.
//!
//! [W3C Baggage]: https://www.w3.org/TR/baggage/

use std::fmt;
use std::sync::Arc;

use crate::text::trim_ows;
use crate::{diag, hex, text};

/// An immutable-by-default set of baggage members. Cloning is a reference-count increment.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Baggage(Option<Arc<Vec<BaggageEntry>>>);

/// One baggage member: key, decoded value, and its properties as they travel on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct BaggageEntry {
    key: Box<str>,
    value: Box<str>,
    properties: Option<Box<str>>,
}

impl BaggageEntry {
    /// The key (an RFC 7230 token).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The decoded value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The properties, without the leading `;`, as on the wire (`k1=v1;k2`).
    pub fn properties(&self) -> Option<&str> {
        self.properties.as_deref()
    }

    /// Bytes this member takes in a header.
    fn wire_len(&self) -> usize {
        self.key.len()
            + 1
            + encoded_len(&self.value)
            + self.properties.as_ref().map_or(0, |p| 1 + p.len())
    }
}

impl fmt::Debug for BaggageEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={:?}", self.key, self.value)?;
        if let Some(p) = &self.properties {
            write!(f, ";{p}")?;
        }
        Ok(())
    }
}

impl Baggage {
    /// No members.
    pub const fn new() -> Self {
        Self(None)
    }

    /// Members propagated at most (W3C Baggage §3.3.1).
    pub const MAX_MEMBERS: usize = 64;
    /// Header bytes propagated at most, all members and separators included.
    pub const MAX_BYTES: usize = 8192;

    /// Parses and combines `baggage` header fields. Malformed members and members past the limits
    /// are dropped (and counted in [`diag::counts`]); the rest are kept in order.
    pub fn from_header_values<'a, I>(values: I) -> Self
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut entries: Vec<BaggageEntry> = Vec::new();
        let mut bytes = 0;
        let mut dropped = 0u64;
        for field in values {
            for raw in field.split(|&b| b == b',') {
                let raw = trim_ows(raw);
                if raw.is_empty() {
                    continue;
                }
                let Some(entry) = parse_member(raw) else {
                    dropped += 1;
                    continue;
                };
                if let Some(pos) = entries.iter().position(|e| e.key == entry.key) {
                    let old = entries[pos].wire_len();
                    if bytes - old + entry.wire_len() <= Self::MAX_BYTES {
                        bytes = bytes - old + entry.wire_len();
                        entries[pos] = entry;
                    } else {
                        dropped += 1;
                    }
                    continue;
                }
                let added = entry.wire_len() + usize::from(!entries.is_empty());
                if entries.len() == Self::MAX_MEMBERS || bytes + added > Self::MAX_BYTES {
                    dropped += 1;
                    continue;
                }
                bytes += added;
                entries.push(entry);
            }
        }
        diag::add(&diag::BAGGAGE_MEMBERS_DROPPED, dropped);
        if entries.is_empty() {
            Self(None)
        } else {
            Self(Some(Arc::new(entries)))
        }
    }

    /// The value for `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entry(key).map(BaggageEntry::value)
    }

    /// The member for `key`, with its properties.
    pub fn entry(&self, key: &str) -> Option<&BaggageEntry> {
        self.iter().find(|e| &*e.key == key)
    }

    /// Sets `key` to `value`, replacing the value in place if the key exists.
    pub fn insert(&mut self, key: &str, value: &str) -> Result<(), BaggageError> {
        self.insert_entry(key, value, None)
    }

    /// Sets `key` to `value` with properties (`k1=v1;k2`, as they are to appear on the wire).
    pub fn insert_with_properties(
        &mut self,
        key: &str,
        value: &str,
        properties: &str,
    ) -> Result<(), BaggageError> {
        let props = parse_properties(properties.as_bytes())
            .ok_or(BaggageError::new(ErrorKind::InvalidProperties))?;
        self.insert_entry(key, value, props)
    }

    fn insert_entry(
        &mut self,
        key: &str,
        value: &str,
        properties: Option<Box<str>>,
    ) -> Result<(), BaggageError> {
        if !is_token(key.as_bytes()) {
            return Err(BaggageError::new(ErrorKind::InvalidKey));
        }
        let entry = BaggageEntry {
            key: key.into(),
            value: value.into(),
            properties,
        };
        let existing = self.iter().position(|e| e.key == entry.key);
        // Bytes of the other members, one separator each.
        let others: usize = self
            .iter()
            .enumerate()
            .filter(|(i, _)| Some(*i) != existing)
            .map(|(_, e)| e.wire_len() + 1)
            .sum();
        if self.len() + usize::from(existing.is_none()) > Self::MAX_MEMBERS {
            return Err(BaggageError::new(ErrorKind::TooManyMembers));
        }
        if others + entry.wire_len() > Self::MAX_BYTES {
            return Err(BaggageError::new(ErrorKind::TooLarge));
        }
        let entries = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        match existing {
            Some(pos) => entries[pos] = entry,
            None => entries.push(entry),
        }
        Ok(())
    }

    /// Removes `key`, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Box<str>> {
        let entries = self.0.as_mut()?;
        let pos = entries.iter().position(|e| &*e.key == key)?;
        let removed = Arc::make_mut(entries).remove(pos).value;
        if entries.is_empty() {
            self.0 = None;
        }
        Some(removed)
    }

    /// The members in order.
    pub fn iter(&self) -> std::slice::Iter<'_, BaggageEntry> {
        self.0.as_deref().map_or(&[][..], Vec::as_slice).iter()
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |e| e.len())
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The `baggage` header value: members joined by `,`, values percent-encoded; `""` when empty.
    pub fn header_value(&self) -> String {
        let mut out = String::with_capacity(self.iter().map(|e| e.wire_len() + 1).sum());
        for (i, entry) in self.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&entry.key);
            out.push('=');
            encode_into(&entry.value, &mut out);
            if let Some(p) = &entry.properties {
                out.push(';');
                out.push_str(p);
            }
        }
        out
    }
}

impl fmt::Debug for Baggage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a> IntoIterator for &'a Baggage {
    type Item = &'a BaggageEntry;
    type IntoIter = std::slice::Iter<'a, BaggageEntry>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// `tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA`
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_token(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_tchar(b))
}

/// `baggage-octet = %x21 / %x23-2B / %x2D-3A / %x3C-5B / %x5D-7E`
fn is_baggage_octet(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e)
}

/// `list-member = key OWS "=" OWS value *( OWS ";" OWS property )`
fn parse_member(raw: &[u8]) -> Option<BaggageEntry> {
    let (head, props) = match raw.iter().position(|&b| b == b';') {
        Some(i) => (&raw[..i], Some(&raw[i + 1..])),
        None => (raw, None),
    };
    let eq = head.iter().position(|&b| b == b'=')?;
    let key = trim_ows(&head[..eq]);
    let value = trim_ows(&head[eq + 1..]);
    if !is_token(key) || !value.iter().all(|&b| is_baggage_octet(b)) {
        return None;
    }
    let value = percent_decode(value)?;
    let properties = match props {
        Some(p) => parse_properties(p)?,
        None => None,
    };
    Some(BaggageEntry {
        // A token is ASCII.
        key: String::from_utf8_lossy(key).into(),
        value: value.into(),
        properties,
    })
}

/// Validates `property *( OWS ";" OWS property )` and returns it with OWS removed.
fn parse_properties(raw: &[u8]) -> Option<Option<Box<str>>> {
    let mut out = String::new();
    for prop in raw.split(|&b| b == b';') {
        let prop = trim_ows(prop);
        let (key, value) = match prop.iter().position(|&b| b == b'=') {
            Some(eq) => (trim_ows(&prop[..eq]), Some(trim_ows(&prop[eq + 1..]))),
            None => (prop, None),
        };
        if !is_token(key) {
            return None;
        }
        if !out.is_empty() {
            out.push(';');
        }
        out.push_str(std::str::from_utf8(key).ok()?);
        if let Some(value) = value {
            if !value.iter().all(|&b| is_baggage_octet(b)) {
                return None;
            }
            percent_decode(value)?;
            out.push('=');
            out.push_str(std::str::from_utf8(value).ok()?);
        }
    }
    Some((!out.is_empty()).then(|| out.into()))
}

/// Percent-decodes a value; invalid UTF-8 becomes U+FFFD.
fn percent_decode(src: &[u8]) -> Option<String> {
    Some(String::from_utf8_lossy(&text::percent_decode(src)?).into_owned())
}

fn needs_encoding(b: u8) -> bool {
    !is_baggage_octet(b) || b == b'%'
}

fn encoded_len(value: &str) -> usize {
    value.len() + 2 * value.bytes().filter(|&b| needs_encoding(b)).count()
}

/// Percent-encodes every byte outside `baggage-octet`, and `%` itself.
fn encode_into(value: &str, out: &mut String) {
    for b in value.bytes() {
        if needs_encoding(b) {
            out.push('%');
            out.push(char::from(hex::digit(b >> 4).to_ascii_uppercase()));
            out.push(char::from(hex::digit(b).to_ascii_uppercase()));
        } else {
            out.push(char::from(b));
        }
    }
}

/// The error returned when a baggage member cannot be added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaggageError {
    kind: ErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    InvalidKey,
    InvalidProperties,
    TooManyMembers,
    TooLarge,
}

impl BaggageError {
    const fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for BaggageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            ErrorKind::InvalidKey => "baggage key must be a non-empty HTTP token",
            ErrorKind::InvalidProperties => "baggage properties are malformed",
            ErrorKind::TooManyMembers => "baggage would exceed 64 members",
            ErrorKind::TooLarge => "baggage would exceed 8192 bytes",
        })
    }
}

impl std::error::Error for BaggageError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Baggage {
        Baggage::from_header_values([s.as_bytes()])
    }

    fn pairs(b: &Baggage) -> Vec<(String, String)> {
        b.iter()
            .map(|e| (e.key().to_owned(), e.value().to_owned()))
            .collect()
    }

    fn kv(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn valid_vectors() {
        type Row<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);
        let rows: &[Row<'_>] = &[
            ("simple", "k1=v1,k2=v2", &[("k1", "v1"), ("k2", "v2")]),
            (
                "OWS everywhere",
                " k1 = v1 ,\tk2\t=\tv2 ",
                &[("k1", "v1"), ("k2", "v2")],
            ),
            ("value may contain =", "k=a=b", &[("k", "a=b")]),
            ("empty value", "k=", &[("k", "")]),
            (
                "percent-decoded",
                "k=Am%C3%A9lie%2C%20x",
                &[("k", "Amélie, x")],
            ),
            ("lowercase hex in escapes", "k=%c3%a9", &[("k", "é")]),
            (
                "invalid UTF-8 becomes U+FFFD",
                "k=%FF",
                &[("k", "\u{fffd}")],
            ),
            (
                "token chars in key",
                "a!#$%&'*+-.^_`|~Z9=1",
                &[("a!#$%&'*+-.^_`|~Z9", "1")],
            ),
            (
                "repeated key keeps last value",
                "k=1,j=2,k=3",
                &[("k", "3"), ("j", "2")],
            ),
            ("fields combine", "a=1", &[("a", "1")]),
        ];
        for (rule, input, expected) in rows {
            assert_eq!(pairs(&parse(input)), kv(expected), "{rule}");
        }
    }

    #[test]
    fn malformed_members_are_dropped_and_the_rest_kept() {
        let rows: &[(&str, &str)] = &[
            ("no =", "nokey"),
            ("empty key", "=v"),
            ("space in key", "a b=v"),
            ("separator in key", "a(b=v"),
            ("space in value", "k=a b"),
            ("DQUOTE in value", "k=\"v\""),
            ("backslash in value", "k=a\\b"),
            ("bad escape", "k=%zz"),
            ("truncated escape", "k=%4"),
            ("non-ASCII byte", "k=caf\u{e9}"),
            ("control char", "k=a\u{7}"),
            ("bad property key", "k=v;(p)=1"),
            ("bad property value", "k=v;p=a b"),
        ];
        for (rule, bad) in rows {
            let before = diag::counts().baggage_members_dropped;
            let b = parse(&format!("good=1,{bad},also=2"));
            assert_eq!(pairs(&b), kv(&[("good", "1"), ("also", "2")]), "{rule}");
            assert!(
                diag::counts().baggage_members_dropped > before,
                "{rule} counted"
            );
        }
    }

    #[test]
    fn properties_are_kept_opaque_and_re_emitted() {
        let b = parse("k=v; p1 = x ;flag,j=w");
        assert_eq!(b.entry("k").unwrap().properties(), Some("p1=x;flag"));
        assert_eq!(b.header_value(), "k=v;p1=x;flag,j=w");
    }

    #[test]
    fn limits_drop_whole_members() {
        let many: Vec<_> = (0..70).map(|i| format!("k{i}=v")).collect();
        let b = parse(&many.join(","));
        assert_eq!(b.len(), 64);
        assert_eq!(b.iter().last().unwrap().key(), "k63");

        // Two 5000-byte members: the second does not fit in 8192 bytes and goes whole.
        let big = "x".repeat(4998);
        let b = parse(&format!("a={big},b={big},c=small"));
        assert_eq!(
            b.iter().map(BaggageEntry::key).collect::<Vec<_>>(),
            ["a", "c"]
        );
        assert!(b.header_value().len() <= Baggage::MAX_BYTES);

        let mut b = Baggage::default();
        b.insert("a", &big).unwrap();
        assert_eq!(
            b.insert("b", &big).unwrap_err().to_string(),
            "baggage would exceed 8192 bytes"
        );
        let mut b = parse(&many[..64].join(","));
        assert_eq!(
            b.insert("new", "1").unwrap_err().to_string(),
            "baggage would exceed 64 members"
        );
        b.insert("k3", "replaced").unwrap();
        assert_eq!(b.get("k3"), Some("replaced"));
    }

    #[test]
    fn encoded_size_counts_toward_the_limit() {
        // 3000 spaces encode to 9000 bytes: too large although 3000 bytes decoded.
        let mut b = Baggage::default();
        assert!(b.insert("k", &" ".repeat(3000)).is_err());
        assert!(b.is_empty());
    }

    #[test]
    fn insert_validates_and_remove_works() {
        let mut b = Baggage::default();
        assert_eq!(
            b.insert("bad key", "v").unwrap_err().to_string(),
            "baggage key must be a non-empty HTTP token"
        );
        b.insert("a", "100%").unwrap();
        assert_eq!(b.header_value(), "a=100%25");
        b.insert_with_properties("b", "x", "ttl=60").unwrap();
        assert_eq!(b.header_value(), "a=100%25,b=x;ttl=60");
        assert!(b.insert_with_properties("c", "x", "t t").is_err());
        assert_eq!(b.remove("a").as_deref(), Some("100%"));
        assert_eq!(b.remove("zz"), None);
        b.remove("b");
        assert!(b.is_empty());
        assert_eq!(b.header_value(), "");
    }

    #[test]
    fn clones_are_independent() {
        let mut a = parse("k=1");
        let b = a.clone();
        a.insert("k", "2").unwrap();
        assert_eq!(b.get("k"), Some("1"));
        assert_eq!(a.get("k"), Some("2"));
    }
}
