//! Attribute lists and attribute strings handed from exported spans to new ones, so that a
//! recording span's storage is neither allocated on the request's thread nor freed on the export
//! thread (a free across threads costs the allocator several times a local one, and leaves the
//! request's thread allocating on its slow path); and the allocations of spans ended on a thread,
//! for the next spans started there.
//!
//! Each thread keeps a few empty lists and strings; the export thread, which only gives them
//! back, hands a whole batch's to the shared stocks at once ([`give_back_all`]), and a thread
//! that runs out takes a chunk: one lock per [`CHUNK`] spans. Bounded: lists with more room
//! than [`MAX_CAPACITY`] and strings with more than [`MAX_STRING_CAPACITY`] are freed, and past
//! the stocks' sizes storage is freed as usual, so at most about 1.1 MiB waits in the shared
//! stocks and about 90 KiB in each thread's (64 lists, 64 strings, 64 span allocations).

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Mutex;
use std::thread::LocalKey;

use crate::{KeyValue, Value};

/// Lists with more room than this are freed rather than kept.
const MAX_CAPACITY: usize = 16;
/// Strings with more room than this are freed rather than kept.
const MAX_STRING_CAPACITY: usize = 256;
/// The least room a new attribute string gets, so that a kept one fits most later values.
const MIN_STRING_CAPACITY: usize = 48;
/// Items moved between a thread and a shared stock at once.
const CHUNK: usize = 32;
/// Items a thread keeps, of each kind.
const LOCAL_MAX: usize = 2 * CHUNK;
/// Lists the shared stock keeps: a full default batch queue's worth (2,048 spans or records,
/// a list each), so a queue's worth of storage comes back whole.
const SHARED_MAX: usize = 2048;
/// Strings the shared stock keeps: two per queued item (a log record's body and a string
/// field, a span's path and address). Fewer, and an exported batch's strings are freed while
/// the threads that make the next ones allocate anew.
const SHARED_MAX_STRINGS: usize = 2 * SHARED_MAX;

/// Storage waiting for reuse: one shared stock and one per thread.
struct Stock<T: 'static> {
    shared: &'static Mutex<Vec<T>>,
    local: &'static LocalKey<RefCell<Vec<T>>>,
    /// The most items `shared` keeps.
    max: usize,
}

static SHARED_LISTS: Mutex<Vec<Vec<KeyValue>>> = Mutex::new(Vec::new());
static SHARED_STRINGS: Mutex<Vec<String>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL_LISTS: RefCell<Vec<Vec<KeyValue>>> = const { RefCell::new(Vec::new()) };
    static LOCAL_STRINGS: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

static LISTS: Stock<Vec<KeyValue>> = Stock {
    shared: &SHARED_LISTS,
    local: &LOCAL_LISTS,
    max: SHARED_MAX,
};
static STRINGS: Stock<String> = Stock {
    shared: &SHARED_STRINGS,
    local: &LOCAL_STRINGS,
    max: SHARED_MAX_STRINGS,
};

impl<T> Stock<T> {
    fn shared(&self) -> std::sync::MutexGuard<'static, Vec<T>> {
        // Kept storage is plain data: a panic elsewhere cannot leave an item half-made.
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An item from this thread's stock, refilled by a chunk of the shared one when empty.
    #[inline]
    fn take(&self) -> Option<T> {
        self.local
            .try_with(|local| {
                let mut local = local.try_borrow_mut().ok()?;
                if local.is_empty() {
                    let mut shared = self.shared();
                    let from = shared.len().saturating_sub(CHUNK);
                    local.extend(shared.drain(from..));
                }
                local.pop()
            })
            .ok()
            .flatten()
    }

    /// Keeps `item` in this thread's stock, a chunk of it moving to the shared one when full.
    fn give_back(&self, item: T) {
        let _ = self.local.try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else {
                return;
            };
            if local.len() >= LOCAL_MAX {
                let mut shared = self.shared();
                let room = self.max.saturating_sub(shared.len());
                let from = local.len() - CHUNK.min(local.len());
                let surplus = local.drain(from..);
                shared.extend(surplus.take(room));
            }
            local.push(item);
        });
    }

    /// Keeps many items in the shared stock at once (one lock); those past its size are freed
    /// after the lock.
    fn give_back_all(&self, mut items: Vec<T>) {
        {
            let mut shared = self.shared();
            let room = self.max.saturating_sub(shared.len()).min(items.len());
            shared.extend(items.drain(..room));
        }
        drop(items);
    }
}

/// An empty list with room for at least `capacity` attributes: a recycled one when there is one.
pub(crate) fn take(capacity: usize) -> Vec<KeyValue> {
    match LISTS.take() {
        Some(mut list) => {
            list.reserve(capacity);
            list
        }
        None => Vec::with_capacity(capacity.max(8)),
    }
}

/// An owned copy of `text`, in a recycled string when there is one.
pub(crate) fn string(text: &str) -> String {
    let mut s = STRINGS
        .take()
        .unwrap_or_else(|| String::with_capacity(text.len().max(MIN_STRING_CAPACITY)));
    s.push_str(text);
    s
}

fn keeps_list(list: &Vec<KeyValue>) -> bool {
    list.capacity() > 0 && list.capacity() <= MAX_CAPACITY
}

/// Empties `list`, handing the owned strings of its values that are worth keeping to `keep`.
fn clear_into(list: &mut Vec<KeyValue>, mut keep: impl FnMut(String)) {
    for kv in list.drain(..) {
        if let Value::String(Cow::Owned(mut s)) = kv.value
            && s.capacity() > 0
            && s.capacity() <= MAX_STRING_CAPACITY
        {
            s.clear();
            keep(s);
        }
    }
}

/// Keeps `list`'s storage, and its owned strings', for a later [`take`] or [`string`] (its
/// attributes are dropped here).
pub(crate) fn give_back(mut list: Vec<KeyValue>) {
    if !keeps_list(&list) {
        return;
    }
    clear_into(&mut list, |s| STRINGS.give_back(s));
    LISTS.give_back(list);
}

/// Keeps the storage of many lists and of their owned strings in the shared stocks at once (the
/// export thread's batch, which it will not reuse itself): one lock for each kind.
pub(crate) fn give_back_all(lists: impl Iterator<Item = Vec<KeyValue>>) {
    give_back_all_with(lists, Vec::new());
}

/// [`give_back_all`], with more owned strings to keep (a batch's log bodies).
pub(crate) fn give_back_all_with(lists: impl Iterator<Item = Vec<KeyValue>>, more: Vec<String>) {
    let mut strings: Vec<String> = more
        .into_iter()
        .filter(|s| s.capacity() > 0 && s.capacity() <= MAX_STRING_CAPACITY)
        .map(|mut s| {
            s.clear();
            s
        })
        .collect();
    let cleared: Vec<Vec<KeyValue>> = lists
        .filter(keeps_list)
        .map(|mut list| {
            clear_into(&mut list, |s| strings.push(s));
            list
        })
        .collect();
    LISTS.give_back_all(cleared);
    STRINGS.give_back_all(strings);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_come_back_empty_with_their_storage() {
        let mut list = take(6);
        assert!(list.capacity() >= 6 && list.is_empty());
        list.push(KeyValue::new("k", 1_i64));
        let storage = list.as_ptr();
        give_back(list);
        let again = take(4);
        assert!(again.is_empty());
        assert_eq!(
            again.as_ptr(),
            storage,
            "the same storage, from this thread's stock"
        );
    }

    #[test]
    fn owned_strings_come_back_with_their_storage_and_static_ones_are_not_kept() {
        std::thread::spawn(|| {
            let path = string("/items/42");
            let storage = path.as_ptr();
            let mut list = take(2);
            list.push(KeyValue::new("url.path", path));
            list.push(KeyValue::new("url.scheme", "http"));
            // Other tests' strings may have come over from the shared stock.
            let before = LOCAL_STRINGS.with(|l| l.borrow().len());
            give_back(list);
            let after = LOCAL_STRINGS.with(|l| l.borrow().len());
            assert_eq!(after, before + 1, "only the owned one");
            let again = string("/orders/7");
            assert_eq!(again, "/orders/7");
            assert_eq!(
                again.as_ptr(),
                storage,
                "the same storage, from this thread's stock"
            );
        })
        .join()
        .unwrap();
    }

    #[test]
    fn large_strings_are_not_kept_and_the_string_stocks_are_bounded() {
        std::thread::spawn(|| {
            let big = KeyValue::new("k", "x".repeat(MAX_STRING_CAPACITY + 1));
            give_back(vec![big]);
            assert_eq!(LOCAL_STRINGS.with(|l| l.borrow().len()), 0);
            give_back_all(
                (0..SHARED_MAX_STRINGS + 100).map(|_| vec![KeyValue::new("k", string("v"))]),
            );
            assert!(STRINGS.shared().len() <= SHARED_MAX_STRINGS);
            for _ in 0..(SHARED_MAX_STRINGS + 10 * LOCAL_MAX) {
                give_back(vec![KeyValue::new("k", String::from("v"))]);
            }
            assert!(LOCAL_STRINGS.with(|l| l.borrow().len()) <= LOCAL_MAX);
        })
        .join()
        .unwrap();
        assert!(STRINGS.shared().len() <= SHARED_MAX_STRINGS);
    }

    #[test]
    fn large_lists_are_not_kept_and_stocks_are_bounded() {
        give_back(Vec::with_capacity(MAX_CAPACITY + 1));
        assert!(LOCAL_LISTS.with(|l| l.borrow().iter().all(|l| l.capacity() <= MAX_CAPACITY)));
        // One thread gives back far more than any stock keeps (as the export thread does).
        std::thread::spawn(|| {
            for _ in 0..(SHARED_MAX + 10 * LOCAL_MAX) {
                give_back(Vec::with_capacity(8));
            }
            assert!(LOCAL_LISTS.with(|l| l.borrow().len()) <= LOCAL_MAX);
        })
        .join()
        .unwrap();
        assert!(LISTS.shared().len() <= SHARED_MAX);
        // Another thread takes from the shared stock.
        let taken = std::thread::spawn(|| {
            let list = take(8);
            (list.capacity(), LOCAL_LISTS.with(|l| l.borrow().len()))
        })
        .join()
        .unwrap();
        assert!(taken.0 >= 8);
        assert_eq!(taken.1, CHUNK - 1, "a chunk came over, one of it in use");
    }

    #[test]
    fn a_batch_given_back_goes_to_the_shared_stock_within_its_bound() {
        std::thread::spawn(|| {
            give_back_all((0..SHARED_MAX + 100).map(|_| Vec::with_capacity(8)));
            assert!(LISTS.shared().len() <= SHARED_MAX);
            assert_eq!(
                LOCAL_LISTS.with(|l| l.borrow().len()),
                0,
                "nothing kept by the giver"
            );
        })
        .join()
        .unwrap();
        let list = std::thread::spawn(|| take(8)).join().unwrap();
        assert!(list.capacity() >= 8 && list.is_empty());
    }
}
