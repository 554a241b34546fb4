//! Attribute lists handed from exported spans to new ones, so that a recording span's list is
//! neither allocated on the request's thread nor freed on the export thread (a free across
//! threads costs the allocator several times a local one).
//!
//! Each thread keeps a few empty lists; the export thread, which only gives lists back, hands a
//! whole batch's to a shared stock at once ([`give_back_all`]), and a thread that runs out takes
//! a chunk from it: one lock per [`CHUNK`] spans. Bounded: lists with more room than [`MAX_CAPACITY`] are freed, and
//! past the stocks' sizes lists are freed as usual, so at most about 1 MiB waits here.

use std::cell::RefCell;
use std::sync::Mutex;

use crate::KeyValue;

/// Lists with more room than this are freed rather than kept.
const MAX_CAPACITY: usize = 16;
/// Lists moved between a thread and the shared stock at once.
const CHUNK: usize = 32;
/// Lists a thread keeps.
const LOCAL_MAX: usize = 2 * CHUNK;
/// Lists the shared stock keeps.
const SHARED_MAX: usize = 1024;

static SHARED: Mutex<Vec<Vec<KeyValue>>> = Mutex::new(Vec::new());

thread_local! {
    static LOCAL: RefCell<Vec<Vec<KeyValue>>> = const { RefCell::new(Vec::new()) };
}

fn shared() -> std::sync::MutexGuard<'static, Vec<Vec<KeyValue>>> {
    // A list is plain data: a panic elsewhere cannot leave one half-made.
    SHARED.lock().unwrap_or_else(|e| e.into_inner())
}

/// An empty list with room for at least `capacity` attributes: a recycled one when there is one.
pub(crate) fn take(capacity: usize) -> Vec<KeyValue> {
    let recycled = LOCAL
        .try_with(|local| {
            let mut local = local.try_borrow_mut().ok()?;
            if local.is_empty() {
                let mut shared = shared();
                let from = shared.len().saturating_sub(CHUNK);
                local.extend(shared.drain(from..));
            }
            local.pop()
        })
        .ok()
        .flatten();
    match recycled {
        Some(mut list) => {
            list.reserve(capacity);
            list
        }
        None => Vec::with_capacity(capacity.max(8)),
    }
}

/// Keeps `list`'s storage for a later [`take`] (its attributes are dropped here).
pub(crate) fn give_back(mut list: Vec<KeyValue>) {
    if list.capacity() == 0 || list.capacity() > MAX_CAPACITY {
        return;
    }
    list.clear();
    let _ = LOCAL.try_with(|local| {
        let Ok(mut local) = local.try_borrow_mut() else {
            return;
        };
        if local.len() >= LOCAL_MAX {
            let mut shared = shared();
            let room = SHARED_MAX.saturating_sub(shared.len());
            let from = local.len() - CHUNK.min(local.len());
            let surplus = local.drain(from..);
            shared.extend(surplus.take(room));
        }
        local.push(list);
    });
}

/// Keeps the storage of many lists in the shared stock at once (the export thread's batch, which
/// it will not reuse itself): one lock for all of them.
pub(crate) fn give_back_all(lists: impl Iterator<Item = Vec<KeyValue>>) {
    let mut cleared: Vec<Vec<KeyValue>> = lists
        .filter(|list| list.capacity() > 0 && list.capacity() <= MAX_CAPACITY)
        .map(|mut list| {
            list.clear();
            list
        })
        .collect();
    {
        let mut shared = shared();
        let room = SHARED_MAX.saturating_sub(shared.len()).min(cleared.len());
        shared.extend(cleared.drain(..room));
    }
    // Past the stock's size: freed here, after the lock.
    drop(cleared);
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
    fn large_lists_are_not_kept_and_stocks_are_bounded() {
        give_back(Vec::with_capacity(MAX_CAPACITY + 1));
        assert!(LOCAL.with(|l| l.borrow().iter().all(|l| l.capacity() <= MAX_CAPACITY)));
        // One thread gives back far more than any stock keeps (as the export thread does).
        std::thread::spawn(|| {
            for _ in 0..(SHARED_MAX + 10 * LOCAL_MAX) {
                give_back(Vec::with_capacity(8));
            }
            assert!(LOCAL.with(|l| l.borrow().len()) <= LOCAL_MAX);
        })
        .join()
        .unwrap();
        assert!(shared().len() <= SHARED_MAX);
        // Another thread takes from the shared stock.
        let taken = std::thread::spawn(|| {
            let list = take(8);
            (list.capacity(), LOCAL.with(|l| l.borrow().len()))
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
            assert!(shared().len() <= SHARED_MAX);
            assert_eq!(
                LOCAL.with(|l| l.borrow().len()),
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
