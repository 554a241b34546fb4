//! The series of one instrument, found without a lock or an allocation once they exist.
//!
//! An open-addressed table of write-once slots: a lookup hashes the key, then reads slots (one
//! atomic load each) until it finds the key or an empty slot. Only a new series takes the
//! table's mutex, to claim a slot. Series are never removed, so a series found stays valid
//! for the instrument's life. Past `limit` series, measurements go to the overflow series
//! (`otel.metric.overflow = true`): every measurement lands in exactly one series, and memory
//! stays bounded whatever the attributes carry.

use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use crate::KeyValue;

/// The attribute every measurement past the cardinality limit is recorded under.
pub const OVERFLOW_ATTRIBUTE: &str = "otel.metric.overflow";

/// What identifies a series: it knows its attributes.
pub(crate) trait SeriesKey: Send + Sync + 'static {
    /// The attribute set, sorted by key.
    fn attributes(&self) -> Vec<KeyValue>;
}

/// One attribute set's aggregation.
#[derive(Debug)]
pub(crate) struct Series<K, C> {
    /// `None` for the overflow series.
    key: Option<K>,
    hash: u64,
    /// When the series got its first measurement.
    pub(crate) start: SystemTime,
    pub(crate) cell: C,
}

impl<K: SeriesKey, C> Series<K, C> {
    /// The key; `None` for the overflow series.
    pub(crate) fn key(&self) -> Option<&K> {
        self.key.as_ref()
    }

    pub(crate) fn attributes(&self) -> Vec<KeyValue> {
        match &self.key {
            Some(key) => key.attributes(),
            None => vec![KeyValue::new(OVERFLOW_ATTRIBUTE, true)],
        }
    }
}

/// Write-once slots, found by hash.
/// A write-once slot.
type Slot<K, C> = OnceLock<Box<Series<K, C>>>;

pub(crate) struct Table<K, C> {
    slots: OnceLock<Box<[Slot<K, C>]>>,
    overflow: OnceLock<Box<Series<K, C>>>,
    /// Series in the slots; held while claiming a slot.
    count: Mutex<usize>,
    limit: usize,
}

impl<K: SeriesKey, C> Table<K, C> {
    /// A table for at most `limit` attribute sets (plus the overflow series).
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            slots: OnceLock::new(),
            overflow: OnceLock::new(),
            count: Mutex::new(0),
            limit,
        }
    }

    /// The series of the key that hashes to `hash` and for which `is_key` holds; a new one
    /// (made by `make_key` and `make_cell`) if there is none yet, or the overflow series once
    /// the table holds `limit` series.
    pub(crate) fn series(
        &self,
        hash: u64,
        is_key: impl Fn(&K) -> bool,
        make_key: impl FnOnce() -> K,
        make_cell: impl FnOnce() -> C,
    ) -> &Series<K, C> {
        self.series_at(hash, is_key, make_key, make_cell).0
    }

    /// [`series`](Self::series), with the slot it is in ([`NO_SLOT`] for the overflow series),
    /// for [`in_slot`](Self::in_slot) to find it again without hashing.
    pub(crate) fn series_at(
        &self,
        hash: u64,
        is_key: impl Fn(&K) -> bool,
        make_key: impl FnOnce() -> K,
        make_cell: impl FnOnce() -> C,
    ) -> (&Series<K, C>, usize) {
        let slots = self.slots();
        match find(slots, hash, &is_key) {
            Found::Series(series, at) => (series, at),
            Found::Empty(..) | Found::Full => {
                self.insert(slots, hash, &is_key, make_key, make_cell)
            }
        }
    }

    /// The series in slot `at`, if there is one (slots are written once: a series found there
    /// stays there).
    pub(crate) fn in_slot(&self, at: usize) -> Option<&Series<K, C>> {
        self.slots.get()?.get(at)?.get().map(|s| &**s)
    }

    fn slots(&self) -> &[Slot<K, C>] {
        self.slots.get_or_init(|| {
            // Twice the limit keeps probe sequences short.
            let n = (self.limit.saturating_mul(2)).next_power_of_two().max(16);
            (0..n).map(|_| OnceLock::new()).collect()
        })
    }

    #[cold]
    fn insert<'a>(
        &'a self,
        slots: &'a [Slot<K, C>],
        hash: u64,
        is_key: &impl Fn(&K) -> bool,
        make_key: impl FnOnce() -> K,
        make_cell: impl FnOnce() -> C,
    ) -> (&'a Series<K, C>, usize) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        // Another thread may have added it since the lock-free look.
        match find(slots, hash, is_key) {
            Found::Series(series, at) => (series, at),
            Found::Empty(slot, at) if *count < self.limit => {
                *count += 1;
                let series = Box::new(Series {
                    key: Some(make_key()),
                    hash,
                    start: SystemTime::now(),
                    cell: make_cell(),
                });
                // Only this thread (holding the lock) fills slots, so the slot is still empty
                // and `get_or_init` stores this series.
                (slot.get_or_init(|| series), at)
            }
            Found::Empty(..) | Found::Full => {
                drop(count);
                (self.overflow(make_cell), NO_SLOT)
            }
        }
    }

    fn overflow(&self, make_cell: impl FnOnce() -> C) -> &Series<K, C> {
        self.overflow.get_or_init(|| {
            Box::new(Series {
                key: None,
                hash: 0,
                start: SystemTime::now(),
                cell: make_cell(),
            })
        })
    }

    /// Every series so far, the overflow series last.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Series<K, C>> {
        self.slots
            .get()
            .into_iter()
            .flat_map(|slots| slots.iter().filter_map(|s| s.get().map(|s| &**s)))
            .chain(self.overflow.get().map(|s| &**s))
    }
}

/// The slot of the overflow series, which is in none.
pub(crate) const NO_SLOT: usize = usize::MAX;

enum Found<'a, K, C> {
    Series(&'a Series<K, C>, usize),
    Empty(&'a Slot<K, C>, usize),
    Full,
}

fn find<'a, K, C>(
    slots: &'a [Slot<K, C>],
    hash: u64,
    is_key: &impl Fn(&K) -> bool,
) -> Found<'a, K, C> {
    let mask = slots.len() - 1;
    let mut at = hash as usize & mask;
    for _ in 0..slots.len() {
        let slot = &slots[at];
        match slot.get() {
            Some(series) => {
                if series.hash == hash && series.key.as_ref().is_some_and(is_key) {
                    return Found::Series(series, at);
                }
            }
            None => return Found::Empty(slot, at),
        }
        at = (at + 1) & mask;
    }
    Found::Full
}

/// Folds `bytes` into `h`: FNV-1a, eight bytes at a time (a table hash needs to tell series
/// apart, not resist flooding: the table is bounded).
pub(crate) fn hash_bytes(mut h: u64, bytes: &[u8]) -> u64 {
    const PRIME: u64 = 0x0100_0000_01b3;
    h ^= 0xcbf2_9ce4_8422_2325;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
        h = (h ^ w).wrapping_mul(PRIME).rotate_left(23);
    }
    for &b in words.remainder() {
        h = (h ^ u64::from(b)).wrapping_mul(PRIME);
    }
    h ^ bytes.len() as u64
}

/// Spreads the bits of `h` (splitmix64's finaliser).
pub(crate) fn mix(mut h: u64) -> u64 {
    h ^= h >> 30;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^= h >> 27;
    h = h.wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Key(u64);

    impl SeriesKey for Key {
        fn attributes(&self) -> Vec<KeyValue> {
            vec![KeyValue::new("k", self.0 as i64)]
        }
    }

    fn series_of(table: &Table<Key, ()>, k: u64) -> *const Series<Key, ()> {
        // A poor hash on purpose: collisions must still find the right series.
        table.series(k % 7, |key| key.0 == k, || Key(k), || ()) as *const _
    }

    #[test]
    fn the_same_key_finds_the_same_series_and_collisions_are_told_apart() {
        let table = Table::new(100);
        let a = series_of(&table, 1);
        let b = series_of(&table, 8); // same hash as 1
        assert_ne!(a, b);
        assert_eq!(series_of(&table, 1), a);
        assert_eq!(series_of(&table, 8), b);
        assert_eq!(table.iter().count(), 2);
    }

    #[test]
    fn a_series_is_found_again_in_its_slot_and_the_overflow_in_none() {
        let table: Table<Key, ()> = Table::new(2);
        let (a, at) = table.series_at(1, |k| k.0 == 1, || Key(1), || ());
        assert!(std::ptr::eq(table.in_slot(at).unwrap(), a));
        assert_eq!(table.in_slot(at).unwrap().key(), Some(&Key(1)));
        table.series(2, |k| k.0 == 2, || Key(2), || ());
        let (over, none) = table.series_at(3, |k| k.0 == 3, || Key(3), || ());
        assert_eq!((none, over.key()), (NO_SLOT, None));
        assert!(table.in_slot(NO_SLOT).is_none());
    }

    #[test]
    fn past_the_limit_every_new_key_shares_the_overflow_series() {
        let table = Table::new(3);
        for k in 0..3 {
            series_of(&table, k);
        }
        let over = series_of(&table, 100);
        assert_eq!(series_of(&table, 101), over);
        assert_eq!(
            series_of(&table, 0),
            series_of(&table, 0),
            "old keys keep their series"
        );
        let attributes: Vec<_> = table.iter().map(Series::attributes).collect();
        assert_eq!(attributes.len(), 4);
        assert_eq!(attributes[3], vec![KeyValue::new(OVERFLOW_ATTRIBUTE, true)]);
    }
}
