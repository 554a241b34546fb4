//! `tracestate`: vendor-specific trace data ([W3C Trace Context Level 2 §3.3]).
//!
//! ```
//! use tracecore::TraceState;
//!
//! let state: TraceState = "rojo=00f067aa0ba902b7, congo=t61rcWkgMzE".parse().unwrap();
//! assert_eq!(state.get("congo"), Some("t61rcWkgMzE"));
//!
//! // An update moves the key to the front, as the processing model requires.
//! let state = state.insert("congo", "ucfJifl5GOE").unwrap();
//! assert_eq!(state.to_string(), "congo=ucfJifl5GOE,rojo=00f067aa0ba902b7");
//!
//! // One invalid member invalidates the whole header (uppercase key).
//! assert!("rojo=1,Congo=2".parse::<TraceState>().is_err());
//! ```
//!
//! Parsing follows the Level 2 grammar: keys match `[a-z0-9][a-z0-9_\-*/@]{0,255}`, values are
//! 1–256 printable ASCII characters other than `,` and `=` that do not end in a space. Several
//! header fields are combined in order; empty members are skipped; more than 32 members or any
//! invalid member rejects the whole header; a repeated key keeps its first occurrence.
//!
//! The value kept is at most [`TraceState::MAX_LEN`] (512) characters: longer input loses whole
//! entries, first those over 128 characters (from the right), then from the right, stopping as
//! soon as the rest fits (§3.3.1.5).
//!
//! [W3C Trace Context Level 2 §3.3]: https://www.w3.org/TR/trace-context-2/#tracestate-header

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::text::trim_ows;

/// An immutable, validated `tracestate` list. Cloning is a reference-count increment.
///
/// An empty trace state formats to `""` and is never sent as a header.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct TraceState(Option<Arc<str>>);

/// Members kept: the spec's limit.
const MAX_MEMBERS: usize = 32;
/// Entries longer than this are the first to go when truncating.
const LARGE_ENTRY: usize = 128;

impl TraceState {
    /// The most characters this implementation propagates (the spec's minimum to support).
    pub const MAX_LEN: usize = 512;

    /// Combines several header fields into one list and validates it (RFC 9110 §5.3 order).
    pub fn from_header_values<'a, I>(values: I) -> Result<Self, TraceStateError>
    where
        I: IntoIterator<Item = &'a [u8]>,
    {
        let mut values = values.into_iter();
        let Some(first) = values.next() else {
            return Ok(Self(None));
        };
        let second = values.next();
        // The common case, one field already in normal form, is kept as it came: one allocation.
        if second.is_none() && is_normal(first) {
            return Ok(std::str::from_utf8(first)
                .map(|s| Self(Some(Arc::from(s))))
                .unwrap_or_default());
        }
        Self::parse_fields(std::iter::once(first).chain(second).chain(values))
    }

    fn parse_fields<'a>(values: impl Iterator<Item = &'a [u8]>) -> Result<Self, TraceStateError> {
        let mut members: [&[u8]; MAX_MEMBERS] = [&[]; MAX_MEMBERS];
        let mut keys: [usize; MAX_MEMBERS] = [0; MAX_MEMBERS];
        let mut count = 0;
        let mut seen = 0;
        for field in values {
            for raw in field.split(|&b| b == b',') {
                let member = trim_ows(raw);
                if member.is_empty() {
                    continue;
                }
                seen += 1;
                if seen > MAX_MEMBERS {
                    return Err(TraceStateError::new(ErrorKind::TooManyMembers));
                }
                let eq = member
                    .iter()
                    .position(|&b| b == b'=')
                    .ok_or(TraceStateError::new(ErrorKind::MissingEquals))?;
                let (key, value) = (&member[..eq], &member[eq + 1..]);
                validate_key(key)?;
                validate_value(value)?;
                // A repeated key keeps its first occurrence (§3.3.1.3 lets us drop duplicates).
                if members[..count]
                    .iter()
                    .zip(&keys)
                    .any(|(m, &k)| &m[..k] == key)
                {
                    continue;
                }
                members[count] = member;
                keys[count] = eq;
                count += 1;
            }
        }
        Ok(Self::build(&mut members[..count], 0))
    }

    /// Joins `members`, truncated to `MAX_LEN` by the spec's rule; the first `keep` members are
    /// never removed (the caller guarantees they fit).
    fn build(members: &mut [&[u8]], keep: usize) -> Self {
        let mut live = [true; MAX_MEMBERS];
        let n = members.len();
        let mut total = members.iter().map(|m| m.len()).sum::<usize>() + n.saturating_sub(1);
        let mut remaining = n;
        // First entries over 128 characters, right to left, then any entries right to left.
        for large_only in [true, false] {
            for i in (keep..n).rev() {
                if total <= Self::MAX_LEN {
                    break;
                }
                if live[i] && (!large_only || members[i].len() > LARGE_ENTRY) {
                    live[i] = false;
                    remaining -= 1;
                    total -= members[i].len() + usize::from(remaining > 0);
                }
            }
        }
        if remaining == 0 {
            return Self(None);
        }
        let mut buf = [0u8; Self::MAX_LEN];
        let mut len = 0;
        for (member, _) in members.iter().zip(live).filter(|(_, l)| *l) {
            if len > 0 {
                buf[len] = b',';
                len += 1;
            }
            buf[len..len + member.len()].copy_from_slice(member);
            len += member.len();
        }
        // Every byte was validated as printable ASCII.
        std::str::from_utf8(&buf[..len])
            .map(|s| Self(Some(Arc::from(s))))
            .unwrap_or_default()
    }

    /// The value for `key`, if present.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// A new list with `key` set to `value` and moved to the front (§3.3.1.4). Past 32 members
    /// the right-most is evicted; past 512 characters the others are truncated by the spec's rule.
    pub fn insert(&self, key: &str, value: &str) -> Result<Self, TraceStateError> {
        validate_key(key.as_bytes())?;
        validate_value(value.as_bytes())?;
        let entry = format!("{key}={value}");
        if entry.len() > Self::MAX_LEN {
            return Err(TraceStateError::new(ErrorKind::TooLong));
        }
        let mut members: [&[u8]; MAX_MEMBERS] = [&[]; MAX_MEMBERS];
        members[0] = entry.as_bytes();
        let mut count = 1;
        for member in self.members().filter(|m| member_key(m) != key) {
            if count == MAX_MEMBERS {
                break;
            }
            members[count] = member.as_bytes();
            count += 1;
        }
        Ok(Self::build(&mut members[..count], 1))
    }

    /// A new list without `key`.
    #[must_use]
    pub fn remove(&self, key: &str) -> Self {
        if self.get(key).is_none() {
            return self.clone();
        }
        let mut members: [&[u8]; MAX_MEMBERS] = [&[]; MAX_MEMBERS];
        let mut count = 0;
        for member in self.members().filter(|m| member_key(m) != key) {
            members[count] = member.as_bytes();
            count += 1;
        }
        Self::build(&mut members[..count], 0)
    }

    /// The members in order, as `(key, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.members().filter_map(|member| member.split_once('='))
    }

    /// The normalized `key=value` members in order.
    fn members(&self) -> impl Iterator<Item = &str> {
        self.0.as_deref().into_iter().flat_map(|s| s.split(','))
    }

    /// How many members there are.
    pub fn len(&self) -> usize {
        self.members().count()
    }

    /// Whether there are no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The header value: members joined by `,`, or `""` when empty.
    pub fn as_str(&self) -> &str {
        self.0.as_deref().unwrap_or_default()
    }
}

/// The key of a normalized member.
fn member_key(member: &str) -> &str {
    member.split_once('=').map_or(member, |(k, _)| k)
}

const KEY_FIRST: u8 = 1;
const KEY_CHAR: u8 = 2;
const VALUE_CHAR: u8 = 4;

/// Byte classes of the Level 2 grammar: key characters, and value characters (`chr`: printable
/// ASCII but `,` and `=`).
static CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            t[b] = KEY_FIRST | KEY_CHAR;
        } else if matches!(c, b'_' | b'-' | b'*' | b'/' | b'@') {
            t[b] = KEY_CHAR;
        }
        if c >= 0x20 && c <= 0x7e && c != b',' && c != b'=' {
            t[b] |= VALUE_CHAR;
        }
        b += 1;
    }
    t
};

/// Whether `field` is a valid list already in normal form: no OWS, no empty member, no repeated
/// key, at most 32 members and `MAX_LEN` characters. Anything else takes the general path, which
/// also gives the precise error.
///
/// One pass, a table lookup per key byte and eight value bytes at a time: each member is a key,
/// `=`, a value, then `,` or the end.
fn is_normal(field: &[u8]) -> bool {
    let n = field.len();
    if n == 0 || n > TraceState::MAX_LEN {
        return false;
    }
    let class = |i: usize| field.get(i).map_or(0, |&b| CLASS[usize::from(b)]);
    // `(start, end)` of each key so far, to spot a repeated key. Offsets fit: n <= 512.
    let mut keys = [(0u16, 0u16); MAX_MEMBERS];
    let mut count = 0;
    let mut i = 0;
    loop {
        let start = i;
        if class(i) & KEY_FIRST == 0 {
            return false;
        }
        i += 1 + field[i + 1..]
            .iter()
            .take_while(|&&b| CLASS[usize::from(b)] & KEY_CHAR != 0)
            .count();
        let eq = i;
        if eq - start > 256 || field.get(eq) != Some(&b'=') {
            return false;
        }
        i = value_end(field, eq + 1);
        let value = &field[eq + 1..i];
        if !matches!(value, [.., last] if value.len() <= 256 && *last != b' ')
            || count == MAX_MEMBERS
        {
            return false;
        }
        let key = &field[start..eq];
        if keys[..count]
            .iter()
            .any(|&(s, e)| &field[usize::from(s)..usize::from(e)] == key)
        {
            return false;
        }
        keys[count] = (start as u16, eq as u16);
        count += 1;
        match field.get(i) {
            None => return true,
            Some(b',') => i += 1,
            Some(_) => return false,
        }
    }
}

/// Where the value starting at `start` ends: the first byte from there that is not `chr`, or the
/// end. Eight bytes at a time while eight remain (values are most of a list), then byte by byte.
fn value_end(field: &[u8], start: usize) -> usize {
    let mut i = start;
    while let Some(chunk) = field.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let stops = not_chr(word);
        if stops != 0 {
            return i + (stops.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while field
        .get(i)
        .is_some_and(|&b| CLASS[usize::from(b)] & VALUE_CHAR != 0)
    {
        i += 1;
    }
    i
}

/// The high bit of every byte of `word` that is not `chr` (0x20 to 0x7e but `,` and `=`).
///
/// Computed on the low seven bits of each byte, where no sum carries into the next byte, with
/// the bytes from 0x80 up added back as stops.
#[inline]
fn not_chr(word: u64) -> u64 {
    use crate::hex::{HIGH, ONES, in_range};
    let low = word & !HIGH;
    let printable = in_range(low, 0x20, 0x7e);
    // High bit set where the byte is not `c` (`low ^ c` is not zero).
    let not = |c: u8| (low ^ (ONES * u64::from(c))) + ONES * 0x7f;
    let delimiter = !not(b',') | !not(b'=');
    (word | !printable | delimiter) & HIGH
}

fn is_key(key: &[u8]) -> bool {
    matches!(key, [first, rest @ ..]
        if rest.len() <= 255
            && CLASS[*first as usize] & KEY_FIRST != 0
            && rest.iter().all(|&b| CLASS[b as usize] & KEY_CHAR != 0))
}

/// `key = (lcalpha / DIGIT) 0*255(lcalpha / DIGIT / "_" / "-" / "*" / "/" / "@")` (Level 2).
fn validate_key(key: &[u8]) -> Result<(), TraceStateError> {
    if is_key(key) {
        Ok(())
    } else {
        Err(TraceStateError::new(ErrorKind::InvalidKey))
    }
}

/// `value = 0*255(chr) nblk-chr`, `chr = %x20 / nblk-chr`, `nblk-chr = %x21-2B / %x2D-3C / %x3E-7E`.
fn validate_value(value: &[u8]) -> Result<(), TraceStateError> {
    let valid = match value {
        [.., last] if value.len() <= 256 => {
            *last != b' '
                && value
                    .iter()
                    .all(|&b| CLASS[usize::from(b)] & VALUE_CHAR != 0)
        }
        _ => false,
    };
    if valid {
        Ok(())
    } else {
        Err(TraceStateError::new(ErrorKind::InvalidValue))
    }
}

impl FromStr for TraceState {
    type Err = TraceStateError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_header_values([s.as_bytes()])
    }
}

impl fmt::Display for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceState({:?})", self.as_str())
    }
}

/// The error returned when a `tracestate` value or a new member is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceStateError {
    kind: ErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ErrorKind {
    TooManyMembers,
    MissingEquals,
    InvalidKey,
    InvalidValue,
    TooLong,
}

impl TraceStateError {
    const fn new(kind: ErrorKind) -> Self {
        Self { kind }
    }
}

impl fmt::Display for TraceStateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.kind {
            ErrorKind::TooManyMembers => "tracestate has more than 32 members",
            ErrorKind::MissingEquals => "tracestate member has no `=`",
            ErrorKind::InvalidKey => "tracestate key is invalid",
            ErrorKind::InvalidValue => "tracestate value is invalid",
            ErrorKind::TooLong => "tracestate member is longer than 512 characters",
        })
    }
}

impl std::error::Error for TraceStateError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<String, String> {
        s.parse::<TraceState>()
            .map(|t| t.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn valid_vectors() {
        let rows: &[(&str, &str, &str)] = &[
            ("single member", "foo=1", "foo=1"),
            (
                "OWS around members is dropped",
                " foo=1 ,\tbar=2\t",
                "foo=1,bar=2",
            ),
            (
                "empty members are skipped",
                "foo=1,,, ,bar=2",
                "foo=1,bar=2",
            ),
            ("empty header is accepted and empty", "", ""),
            ("whitespace-only header", " \t ", ""),
            ("leading digit key (L2)", "1foo=bar", "1foo=bar"),
            ("multi-tenant key", "tenant@system=v", "tenant@system=v"),
            (
                "@ anywhere after the first char (L2)",
                "foo@=1,foo@@bar=2",
                "foo@=1,foo@@bar=2",
            ),
            ("all key chars", "a0_-*/@z=1", "a0_-*/@z=1"),
            ("leading spaces in value kept", "foo=  bar", "foo=  bar"),
            (
                "value with every printable",
                "k=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~",
                "k=!\"#$%&'()*+-./:;<>?@[\\]^_`{|}~",
            ),
            (
                "duplicate key keeps first",
                "foo=1,bar=2,foo=3",
                "foo=1,bar=2",
            ),
        ];
        for (rule, input, expected) in rows {
            assert_eq!(parse(input).as_deref(), Ok(*expected), "{rule}");
        }
    }

    #[test]
    fn invalid_vectors_name_the_rule() {
        let long_key = format!("{}=1", "a".repeat(257));
        let long_value = format!("a={}", "b".repeat(257));
        let many = (0..33)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let rows: &[(&str, &str, &str)] = &[
            ("uppercase key", "Foo=1", "tracestate key is invalid"),
            ("key starts with @", "@foo=1", "tracestate key is invalid"),
            ("key starts with _", "_foo=1", "tracestate key is invalid"),
            ("key with dot", "foo.bar=1", "tracestate key is invalid"),
            ("key over 256 chars", &long_key, "tracestate key is invalid"),
            ("empty key", "=1", "tracestate key is invalid"),
            ("space before =", "foo =1", "tracestate key is invalid"),
            ("empty value", "foo=", "tracestate value is invalid"),
            ("value with =", "foo=a=b", "tracestate value is invalid"),
            (
                "value over 256 chars",
                &long_value,
                "tracestate value is invalid",
            ),
            (
                "value with control char",
                "foo=a\u{1}b",
                "tracestate value is invalid",
            ),
            (
                "value with non-ASCII",
                "foo=caf\u{e9}",
                "tracestate value is invalid",
            ),
            ("no =", "foo", "tracestate member has no `=`"),
            ("33 members", &many, "tracestate has more than 32 members"),
            (
                "one bad member poisons the list",
                "a=1,B=2",
                "tracestate key is invalid",
            ),
        ];
        for (rule, input, expected) in rows {
            assert_eq!(parse(input), Err((*expected).to_owned()), "{rule}");
        }
    }

    #[test]
    fn boundaries_are_inclusive() {
        let key = format!("{}=1", "a".repeat(256));
        assert!(parse(&key).is_ok(), "256-char key");
        let value = format!("a={}", "b".repeat(256));
        // 258 characters: one entry over 128, alone over budget? No: 258 <= 512, kept.
        assert_eq!(parse(&value).unwrap().len(), 258);
        let many = (0..32)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(many.parse::<TraceState>().unwrap().len(), 32);
    }

    #[test]
    fn several_fields_are_combined_in_order() {
        let state =
            TraceState::from_header_values([b"a=1, b=2".as_slice(), b"".as_slice(), b"c=3"])
                .unwrap();
        assert_eq!(state.as_str(), "a=1,b=2,c=3");
        assert!(TraceState::from_header_values([b"a=1".as_slice(), b"B=2"]).is_err());
    }

    #[test]
    fn truncation_removes_large_entries_first_then_from_the_right() {
        // Three 100-char entries (300) + one 200-char entry: 503 + separators = 506 fits.
        let e = |k: &str, n: usize| format!("{k}={}", "x".repeat(n - k.len() - 1));
        let fits = [e("a", 100), e("b", 200), e("c", 100), e("d", 100)].join(",");
        assert_eq!(parse(&fits).unwrap(), fits, "506 chars are kept whole");

        // Adding a fifth 100-char entry (607 total) forces truncation: the large `b` goes first.
        let over = [
            e("a", 100),
            e("b", 200),
            e("c", 100),
            e("d", 100),
            e("f", 100),
        ]
        .join(",");
        let want = [e("a", 100), e("c", 100), e("d", 100), e("f", 100)].join(",");
        assert_eq!(parse(&over).unwrap(), want);

        // No large entry: remove from the right until it fits.
        let small: Vec<_> = (0..8).map(|i| e(&format!("k{i}"), 100)).collect();
        let got = parse(&small.join(",")).unwrap();
        assert_eq!(got, small[..5].join(","), "5 * 100 + 4 = 504 chars");

        // Two large entries: only as many as needed go, right-most first.
        let mixed = [e("a", 200), e("b", 200), e("c", 200)].join(",");
        assert_eq!(parse(&mixed).unwrap(), [e("a", 200), e("b", 200)].join(","));
    }

    #[test]
    fn insert_moves_to_front_and_evicts_right_most() {
        let state: TraceState = "a=1,b=2,c=3".parse().unwrap();
        assert_eq!(state.insert("b", "9").unwrap().as_str(), "b=9,a=1,c=3");
        assert_eq!(state.insert("z", "0").unwrap().as_str(), "z=0,a=1,b=2,c=3");
        let full = (0..32)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        let full: TraceState = full.parse().unwrap();
        let added = full.insert("new", "1").unwrap();
        assert_eq!(added.len(), 32);
        assert_eq!(added.iter().next(), Some(("new", "1")));
        assert!(added.get("k31").is_none(), "right-most evicted");
        assert_eq!(added.get("k30"), Some("v"));
        assert_eq!(
            state.insert("B", "1").unwrap_err().to_string(),
            "tracestate key is invalid"
        );
        assert_eq!(
            state.insert("b", "x ").unwrap_err().to_string(),
            "tracestate value is invalid"
        );
    }

    #[test]
    fn inserted_entry_survives_truncation() {
        let e = |k: &str, n: usize| format!("{k}={}", "x".repeat(n - k.len() - 1));
        let state: TraceState = [e("a", 250), e("b", 250)].join(",").parse().unwrap();
        let added = state.insert("mine", &"v".repeat(200)).unwrap();
        assert_eq!(added.iter().next().unwrap().0, "mine");
        assert!(added.as_str().len() <= TraceState::MAX_LEN);
        assert_eq!(added.len(), 2, "one large entry from the right went");
        assert!(added.get("a").is_some());
    }

    proptest::proptest! {
        #[test]
        fn fast_path_agrees_with_the_general_path(s in "[a-z0-9=, @*_/-]{0,80}|[ -~]{0,40}") {
            let general = TraceState::parse_fields(std::iter::once(s.as_bytes()));
            if is_normal(s.as_bytes()) {
                proptest::prop_assert_eq!(general.map(|t| t.to_string()), Ok(s.clone()));
            }
            proptest::prop_assert_eq!(
                TraceState::from_header_values([s.as_bytes()]),
                TraceState::parse_fields(std::iter::once(s.as_bytes()))
            );
        }
    }

    #[test]
    fn the_eight_byte_scan_stops_exactly_at_the_bytes_that_are_not_chr() {
        // Every byte value at every place, among neighbours of each kind (value characters,
        // delimiters, bytes from 0x80, control characters): the stops are the bytes the table
        // says are not `chr`, and nothing else.
        for fill in [b'a', b',', b'=', b' ', b'~', 0x7f, 0x80, 0xff, 0x1f, 0x00] {
            for b in 0..=255u8 {
                for at in 0..8 {
                    let mut bytes = [fill; 8];
                    bytes[at] = b;
                    let expected = bytes.iter().enumerate().fold(0u64, |acc, (i, &c)| {
                        let stop = CLASS[usize::from(c)] & VALUE_CHAR == 0;
                        acc | (u64::from(stop) << (8 * i + 7))
                    });
                    assert_eq!(not_chr(u64::from_le_bytes(bytes)), expected, "{bytes:?}");
                }
            }
        }
        let field = b"k=0123456789abcdef,x=1";
        assert_eq!(value_end(field, 2), 18);
        assert_eq!(value_end(field, 21), field.len());
        assert_eq!(value_end(b"k=v\x80vvvvvvvv", 2), 3);
    }

    #[test]
    fn fast_path_accepts_normal_and_rejects_the_rest() {
        assert!(is_normal(b"rojo=00f067aa0ba902b7,congo=t61rcWkgMzE"));
        assert!(is_normal(b"a=1"));
        assert!(is_normal(b"k=  leading spaces"));
        for s in [
            "", "a=1,", ",a=1", "a=1,,b=2", "a=1, b=2", "a=b=c", "a", "a=1,a=2", "A=1", "a= ", "a=",
        ] {
            assert!(!is_normal(s.as_bytes()), "{s:?}");
        }
    }

    #[test]
    fn remove_and_empty() {
        let state: TraceState = "a=1,b=2".parse().unwrap();
        assert_eq!(state.remove("a").as_str(), "b=2");
        assert!(state.remove("a").remove("b").is_empty());
        assert_eq!(state.remove("zz"), state);
        assert_eq!(TraceState::default().len(), 0);
        assert_eq!(TraceState::default().to_string(), "");
    }
}
