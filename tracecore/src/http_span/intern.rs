//! Interning of low-cardinality strings (route templates, and the span names made from them), so
//! that a request does not allocate its span name or `http.route`.
//!
//! Each distinct string is leaked once and shared process-wide; a per-thread cache answers
//! lookups with no lock. Bounded: past [`MAX_STRINGS`] distinct strings (or for a string over
//! [`MAX_LEN`] bytes) callers allocate as usual, so a route function that returns
//! high-cardinality values costs allocations, never unbounded memory.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

/// At most this many distinct strings are interned per process.
pub(crate) const MAX_STRINGS: usize = 4096;
/// Longer strings are not interned.
pub(crate) const MAX_LEN: usize = 256;

/// FNV-1a: short keys, no need to resist flooding (the set is bounded and only grows from
/// routes the application declares).
#[derive(Default)]
struct Fnv(u64);

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        let mut h = if self.0 == 0 {
            0xcbf2_9ce4_8422_2325
        } else {
            self.0
        };
        for b in bytes {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

type Set = HashSet<&'static str, BuildHasherDefault<Fnv>>;

static GLOBAL: Mutex<Option<Set>> = Mutex::new(None);

thread_local! {
    static LOCAL: RefCell<Set> = RefCell::new(Set::default());
}

/// The interned copy of `s`, or `None` when the bounds say to allocate instead.
pub(crate) fn intern(s: &str) -> Option<&'static str> {
    if s.len() > MAX_LEN {
        return None;
    }
    let local = LOCAL
        .try_with(|l| l.borrow().get(s).copied())
        .ok()
        .flatten();
    if local.is_some() {
        return local;
    }
    let interned = {
        let mut global = GLOBAL.lock().unwrap_or_else(|e| e.into_inner());
        let set = global.get_or_insert_with(Set::default);
        match set.get(s) {
            Some(found) => *found,
            None if set.len() >= MAX_STRINGS => return None,
            None => {
                let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
                set.insert(leaked);
                leaked
            }
        }
    };
    let _ = LOCAL.try_with(|l| l.borrow_mut().insert(interned));
    Some(interned)
}

/// `s` interned, else owned.
pub(crate) fn interned_or_owned(s: &str) -> Cow<'static, str> {
    intern(s).map_or_else(|| Cow::Owned(s.to_owned()), Cow::Borrowed)
}

/// `{a} {b}` interned, composed on the stack; owned when the bounds say so.
pub(crate) fn interned_pair(a: &str, b: &str) -> Cow<'static, str> {
    let mut buf = [0u8; MAX_LEN];
    let len = a.len() + 1 + b.len();
    if len <= MAX_LEN {
        buf[..a.len()].copy_from_slice(a.as_bytes());
        buf[a.len()] = b' ';
        buf[a.len() + 1..len].copy_from_slice(b.as_bytes());
        // Two strs and an ASCII space: valid UTF-8.
        if let Some(s) = std::str::from_utf8(&buf[..len]).ok().and_then(intern) {
            return Cow::Borrowed(s);
        }
    }
    let mut owned = String::with_capacity(len);
    owned.push_str(a);
    owned.push(' ');
    owned.push_str(b);
    Cow::Owned(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_string_is_the_same_allocation_on_every_thread() {
        let a = intern("/items/{id}").unwrap();
        let b = std::thread::spawn(|| intern("/items/{id}").unwrap())
            .join()
            .unwrap();
        assert!(std::ptr::eq(a, b));
        assert_eq!(interned_pair("GET", "/items/{id}"), "GET /items/{id}");
        assert!(matches!(interned_pair("GET", "/x"), Cow::Borrowed(_)));
    }

    #[test]
    fn long_strings_are_not_interned() {
        let long = "x".repeat(MAX_LEN + 1);
        assert!(intern(&long).is_none());
        assert_eq!(interned_or_owned(&long), long);
        let name = interned_pair("GET", &long);
        assert!(matches!(name, Cow::Owned(_)));
        assert_eq!(name.len(), MAX_LEN + 5);
    }
}
