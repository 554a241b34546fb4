//! Interning of low-cardinality strings (route templates, and the span names made from them), so
//! that a request does not allocate its span name or `http.route`.
//!
//! Each distinct string is leaked once and shared process-wide; a per-thread cache answers
//! lookups with no lock, and in front of it a small direct-mapped cache of the strings seen last
//! answers the common case (the same few routes, request after request) without hashing. Bounded: past [`MAX_STRINGS`] distinct strings (or for a string over
//! [`MAX_LEN`] bytes) callers allocate as usual, so a route function that returns
//! high-cardinality values costs allocations, never unbounded memory.

use std::borrow::Cow;
use std::cell::{Cell, RefCell};
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

/// Slots in the per-thread cache of recent strings.
const RECENT: usize = 16;

thread_local! {
    static LOCAL: RefCell<Set> = RefCell::new(Set::default());
    static RECENT_HITS: [Cell<Option<&'static str>>; RECENT] =
        const { [const { Cell::new(None) }; RECENT] };
}

/// The slot of `s` in the recent cache: its length and last byte tell routes apart well enough
/// for a cache that is checked by comparing the whole string.
fn recent_slot(len: usize, last_byte: u8) -> usize {
    (len + usize::from(last_byte)) % RECENT
}

/// What the recent cache holds in `slot`, if it is the string `is` says it is.
fn recent(slot: usize, is: impl Fn(&str) -> bool) -> Option<&'static str> {
    RECENT_HITS
        .try_with(|r| r[slot].get())
        .ok()
        .flatten()
        .filter(|hit| is(hit))
}

/// The interned copy of `s`, or `None` when the bounds say to allocate instead.
pub(crate) fn intern(s: &str) -> Option<&'static str> {
    if s.len() > MAX_LEN {
        return None;
    }
    let slot = recent_slot(s.len(), s.as_bytes().last().copied().unwrap_or(0));
    if let Some(hit) = recent(slot, |hit| hit == s) {
        return Some(hit);
    }
    let local = LOCAL
        .try_with(|l| l.borrow().get(s).copied())
        .ok()
        .flatten();
    if let Some(found) = local {
        remember(slot, found);
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
    remember(slot, interned);
    Some(interned)
}

/// Puts `interned` in the recent cache, in place of whatever held its slot.
fn remember(slot: usize, interned: &'static str) {
    let _ = RECENT_HITS.try_with(|r| r[slot].set(Some(interned)));
}

/// `s` interned, or an owned copy when the bounds say so.
pub(crate) fn interned_or_owned(s: &str) -> Cow<'static, str> {
    intern(s).map_or_else(|| Cow::Owned(s.to_owned()), Cow::Borrowed)
}

/// `{a} {b}` interned, composed on the stack; owned when the bounds say so.
pub(crate) fn interned_pair(a: &str, b: &str) -> Cow<'static, str> {
    let len = a.len() + 1 + b.len();
    if len <= MAX_LEN {
        // The pair seen last is compared in place, without composing it.
        let last = b.as_bytes().last().copied().unwrap_or(b' ');
        let is_pair = |hit: &str| {
            hit.len() == len
                && hit.starts_with(a)
                && hit.as_bytes()[a.len()] == b' '
                && hit.ends_with(b)
        };
        if let Some(hit) = recent(recent_slot(len, last), is_pair) {
            return Cow::Borrowed(hit);
        }
        let mut buf = [0u8; MAX_LEN];
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

/// Slots in the per-thread cache of pairs made from two static strings.
const RECENT_PAIRS: usize = 8;

/// The two strings a pair was made from, by address and length, and the pair.
type PairHit = (usize, usize, usize, usize, &'static str);

thread_local! {
    static RECENT_PAIR_HITS: [Cell<Option<PairHit>>; RECENT_PAIRS] =
        const { [const { Cell::new(None) }; RECENT_PAIRS] };
}

/// [`interned_pair`] of two static strings (a known method and an interned route): the pair
/// made last from the same two strings is found by their addresses, without reading them. A
/// `&'static str` is never freed, so the same address and length is the same text.
pub(crate) fn interned_static_pair(a: &'static str, b: &'static str) -> Cow<'static, str> {
    let key = (a.as_ptr() as usize, a.len(), b.as_ptr() as usize, b.len());
    let slot = (key.2 >> 3 ^ key.0 >> 3) % RECENT_PAIRS;
    let cached = RECENT_PAIR_HITS.try_with(|r| r[slot].get()).ok().flatten();
    if let Some((a_at, a_len, b_at, b_len, hit)) = cached
        && (a_at, a_len, b_at, b_len) == key
    {
        return Cow::Borrowed(hit);
    }
    let pair = interned_pair(a, b);
    if let Cow::Borrowed(hit) = pair {
        let _ = RECENT_PAIR_HITS.try_with(|r| r[slot].set(Some((key.0, key.1, key.2, key.3, hit))));
    }
    pair
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_of_static_strings_are_told_apart_by_both_strings() {
        // More strings than cache slots: pairs with one string in common share slots.
        let mut methods = vec!["GET", "POST", "HTTP", "DELETE"];
        methods.extend((0..40).map(|i| intern(&format!("M{i}")).unwrap()));
        // Strings at the same address that differ in length.
        let long = "PATCHED";
        methods.extend([&long[..5], long]);
        let mut routes: Vec<&'static str> = (0..20)
            .map(|i| intern(&format!("/r{i}/{{id}}")).unwrap())
            .collect();
        let nested = intern("/shop/{id}/items").unwrap();
        routes.extend([&nested[..10], nested]);
        for _ in 0..2 {
            for route in &routes {
                for &method in &methods {
                    let name = interned_static_pair(method, route);
                    assert_eq!(name, format!("{method} {route}"));
                    assert!(matches!(name, Cow::Borrowed(_)), "interned, not allocated");
                }
            }
        }
    }

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
    fn strings_that_share_a_recent_slot_are_told_apart() {
        // Same length and last byte: the same slot, one after the other.
        let a = intern("/a/{id}").unwrap();
        let b = intern("/b/{id}").unwrap();
        assert_eq!((a, b), ("/a/{id}", "/b/{id}"));
        assert_eq!(intern("/a/{id}").unwrap(), "/a/{id}");
        assert!(std::ptr::eq(intern("/a/{id}").unwrap(), a));
        // Pairs are compared in place: the same length and last byte, another method.
        assert_eq!(interned_pair("GET", "/a/{id}"), "GET /a/{id}");
        assert_eq!(interned_pair("PUT", "/a/{id}"), "PUT /a/{id}");
        assert_eq!(interned_pair("GET", "/a/{id}"), "GET /a/{id}");
        assert_eq!(interned_pair("GET", ""), "GET ");
        assert_eq!(interned_pair("GE", "T "), "GE T ");
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
