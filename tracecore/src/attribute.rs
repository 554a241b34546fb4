//! Attributes: typed keys and values. A `&'static str` key or value costs no allocation.
//!
//! ```
//! use tracecore::{KeyValue, Value};
//!
//! let attrs = [
//!     KeyValue::new("http.request.method", "GET"),
//!     KeyValue::new("http.response.status_code", 200),
//!     KeyValue::new("retry", true),
//!     KeyValue::new("tags", vec!["a", "b"]),
//! ];
//! assert_eq!(attrs[1].value, Value::I64(200));
//! assert_eq!(attrs[3].value.to_string(), "[\"a\", \"b\"]");
//! ```

use std::borrow::Cow;
use std::fmt;

/// An attribute key.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(Cow<'static, str>);

impl Key {
    /// A key from a static string (no allocation).
    pub const fn from_static(key: &'static str) -> Self {
        Self(Cow::Borrowed(key))
    }

    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bytes it owns on the heap (0 for a static key).
    pub(crate) fn heap_len(&self) -> usize {
        match &self.0 {
            Cow::Borrowed(_) => 0,
            Cow::Owned(s) => s.len(),
        }
    }
}

impl From<&'static str> for Key {
    fn from(key: &'static str) -> Self {
        Self(Cow::Borrowed(key))
    }
}

impl From<String> for Key {
    fn from(key: String) -> Self {
        Self(Cow::Owned(key))
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// An attribute value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Value {
    /// A string.
    String(Cow<'static, str>),
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// A floating-point number.
    F64(f64),
    /// A homogeneous array.
    Array(Array),
}

/// A homogeneous array value.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Array {
    /// Strings.
    String(Vec<Cow<'static, str>>),
    /// Booleans.
    Bool(Vec<bool>),
    /// Integers.
    I64(Vec<i64>),
    /// Floating-point numbers.
    F64(Vec<f64>),
}

impl Value {
    /// The string, if this is a string value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    /// The integer, if this is an integer value.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::I64(i) => Some(*i),
            _ => None,
        }
    }

    /// Truncates strings (and the strings of a string array) to at most `max` characters.
    /// Returns whether anything was cut.
    pub(crate) fn truncate(&mut self, max: usize) -> bool {
        fn cut(s: &mut Cow<'static, str>, max: usize) -> bool {
            // No more bytes than `max` means no more characters either.
            if s.len() <= max {
                return false;
            }
            match s.char_indices().nth(max) {
                Some((at, _)) => {
                    // A copy of the kept part: truncating in place would keep the whole
                    // allocation (a 200 KB header cut to 8 KiB would still hold 200 KB).
                    *s = Cow::Owned(s[..at].to_owned());
                    true
                }
                None => false,
            }
        }
        match self {
            Self::String(s) => cut(s, max),
            Self::Array(Array::String(items)) => {
                items.iter_mut().fold(false, |any, s| cut(s, max) | any)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::String(s) => f.write_str(s),
            Self::Bool(b) => write!(f, "{b}"),
            Self::I64(i) => write!(f, "{i}"),
            Self::F64(x) => write!(f, "{x}"),
            Self::Array(Array::String(v)) => write!(f, "{v:?}"),
            Self::Array(Array::Bool(v)) => write!(f, "{v:?}"),
            Self::Array(Array::I64(v)) => write!(f, "{v:?}"),
            Self::Array(Array::F64(v)) => write!(f, "{v:?}"),
        }
    }
}

macro_rules! from_values {
    ($($t:ty => |$v:ident| $e:expr;)*) => {
        $(impl From<$t> for Value {
            fn from($v: $t) -> Self {
                $e
            }
        })*
    };
}

from_values! {
    &'static str => |v| Self::String(Cow::Borrowed(v));
    String => |v| Self::String(Cow::Owned(v));
    Cow<'static, str> => |v| Self::String(v);
    bool => |v| Self::Bool(v);
    i64 => |v| Self::I64(v);
    i32 => |v| Self::I64(i64::from(v));
    u16 => |v| Self::I64(i64::from(v));
    u32 => |v| Self::I64(i64::from(v));
    f64 => |v| Self::F64(v);
    Vec<&'static str> => |v| Self::Array(Array::String(v.into_iter().map(Cow::Borrowed).collect()));
    Vec<String> => |v| Self::Array(Array::String(v.into_iter().map(Cow::Owned).collect()));
    Vec<bool> => |v| Self::Array(Array::Bool(v));
    Vec<i64> => |v| Self::Array(Array::I64(v));
    Vec<f64> => |v| Self::Array(Array::F64(v));
}

/// A key and its value.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValue {
    /// The key.
    pub key: Key,
    /// The value.
    pub value: Value,
}

impl KeyValue {
    /// A key–value pair.
    pub fn new(key: impl Into<Key>, value: impl Into<Value>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Whether dropping the pair frees nothing: a static key and a number, a boolean or a static
    /// string.
    #[inline]
    pub(crate) fn owns_nothing(&self) -> bool {
        matches!(self.key.0, Cow::Borrowed(_))
            && matches!(
                self.value,
                Value::String(Cow::Borrowed(_)) | Value::Bool(_) | Value::I64(_) | Value::F64(_)
            )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_static_text_and_scalars_own_nothing() {
        assert!(KeyValue::new("k", "static").owns_nothing());
        assert!(KeyValue::new("k", 1_i64).owns_nothing());
        assert!(KeyValue::new("k", 1.5).owns_nothing());
        assert!(KeyValue::new("k", true).owns_nothing());
        assert!(!KeyValue::new(String::from("k"), 1_i64).owns_nothing());
        assert!(!KeyValue::new("k", String::from("owned")).owns_nothing());
        assert!(!KeyValue::new("k", vec![1_i64]).owns_nothing());
        assert!(!KeyValue::new("k", Vec::<bool>::new()).owns_nothing());
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        let mut v = Value::from("héllo");
        assert!(v.truncate(2));
        assert_eq!(v.as_str(), Some("hé"));
        assert!(!v.truncate(5));
        let mut a = Value::from(vec!["abc", "de"]);
        assert!(a.truncate(2));
        assert_eq!(a, Value::from(vec!["ab", "de"]));
        assert!(!Value::I64(12345).truncate(1));
    }
}
