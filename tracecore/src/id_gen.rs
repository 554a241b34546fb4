//! Id generation: random ids for production, a seeded sequence for tests.
//!
//! ```
//! use tracecore::{IdGenerator, RandomIdGenerator, SeededIdGenerator};
//!
//! let random = RandomIdGenerator::default();
//! assert_ne!(random.new_trace_id(), random.new_trace_id());
//!
//! // The same seed gives the same ids, so tests can assert on them.
//! let a = SeededIdGenerator::new(7);
//! let b = SeededIdGenerator::new(7);
//! assert_eq!(a.new_trace_id(), b.new_trace_id());
//! assert_eq!(a.new_span_id(), b.new_span_id());
//! ```

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{SpanId, TraceId};

/// Makes new trace and span ids.
pub trait IdGenerator: Send + Sync + fmt::Debug {
    /// A new trace id.
    fn new_trace_id(&self) -> TraceId;

    /// A new span id.
    fn new_span_id(&self) -> SpanId;

    /// Whether the right-most 7 bytes of every trace id are uniformly random, so a new root may
    /// set the Level 2 `random` flag ([W3C Trace Context Level 2 §3.2.2.5.2]).
    ///
    /// [W3C Trace Context Level 2 §3.2.2.5.2]: https://www.w3.org/TR/trace-context-2/#random-trace-id-flag
    fn trace_ids_are_random(&self) -> bool {
        false
    }
}

/// Random ids from a fast per-thread generator (wyrand), seeded from the operating system's
/// randomness through the standard library. Never zero; takes no lock.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIdGenerator {
    _private: (),
}

impl RandomIdGenerator {
    /// A new generator; all instances share the per-thread state.
    pub const fn new() -> Self {
        Self { _private: () }
    }
}

impl IdGenerator for RandomIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        loop {
            let value = (u128::from(next_u64()) << 64) | u128::from(next_u64());
            if let Some(id) = TraceId::from_u128(value) {
                return id;
            }
        }
    }

    fn new_span_id(&self) -> SpanId {
        loop {
            if let Some(id) = SpanId::from_u64(next_u64()) {
                return id;
            }
        }
    }

    fn trace_ids_are_random(&self) -> bool {
        true
    }
}

/// A deterministic id sequence for tests: the same seed yields the same ids in the same order.
///
/// Ids are well mixed (SplitMix64 over a shared counter), so they look and sample like random
/// ones, but they are predictable: never use this in production.
#[derive(Debug)]
pub struct SeededIdGenerator {
    counter: AtomicU64,
}

impl SeededIdGenerator {
    /// A generator whose sequence is determined by `seed`.
    pub const fn new(seed: u64) -> Self {
        Self {
            counter: AtomicU64::new(seed),
        }
    }

    fn next(&self) -> u64 {
        splitmix64(
            self.counter
                .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed),
        )
    }
}

impl IdGenerator for SeededIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        loop {
            let value = (u128::from(self.next()) << 64) | u128::from(self.next());
            if let Some(id) = TraceId::from_u128(value) {
                return id;
            }
        }
    }

    fn new_span_id(&self) -> SpanId {
        loop {
            if let Some(id) = SpanId::from_u64(self.next()) {
                return id;
            }
        }
    }

    fn trace_ids_are_random(&self) -> bool {
        true
    }
}

fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

thread_local! {
    static STATE: Cell<u64> = const { Cell::new(0) };
}

/// The next value of this thread's wyrand generator, seeding it on first use.
fn next_u64() -> u64 {
    STATE.with(|state| {
        let mut s = state.get();
        if s == 0 {
            s = seed();
        }
        s = s.wrapping_add(0xa076_1d64_78bd_642f);
        state.set(s);
        let t = u128::from(s) * u128::from(s ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) as u64) ^ (t as u64)
    })
}

/// A per-thread seed: the standard library's `RandomState` keys come from the operating system.
fn seed() -> u64 {
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    let addr = &hasher as *const _ as usize;
    hasher.write_usize(addr);
    hasher.finish() | 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn random_ids_are_distinct_and_spread() {
        let generator = RandomIdGenerator::new();
        let ids: HashSet<_> = (0..10_000).map(|_| generator.new_trace_id()).collect();
        assert_eq!(ids.len(), 10_000);
        // Every bit position of the low 56 bits is set in some id and clear in another.
        let (mut any, mut all) = (0u64, u64::MAX);
        for id in &ids {
            any |= id.low_u64();
            all &= id.low_u64();
        }
        assert_eq!(any & 0x00ff_ffff_ffff_ffff, 0x00ff_ffff_ffff_ffff);
        assert_eq!(all & 0x00ff_ffff_ffff_ffff, 0);
    }

    #[test]
    fn threads_get_different_sequences() {
        let a = std::thread::spawn(|| RandomIdGenerator::new().new_span_id())
            .join()
            .unwrap();
        let b = std::thread::spawn(|| RandomIdGenerator::new().new_span_id())
            .join()
            .unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn seeded_generator_is_reproducible() {
        let a = SeededIdGenerator::new(42);
        let b = SeededIdGenerator::new(42);
        let c = SeededIdGenerator::new(43);
        let seq_a: Vec<_> = (0..5).map(|_| a.new_span_id()).collect();
        let seq_b: Vec<_> = (0..5).map(|_| b.new_span_id()).collect();
        let seq_c: Vec<_> = (0..5).map(|_| c.new_span_id()).collect();
        assert_eq!(seq_a, seq_b);
        assert_ne!(seq_a, seq_c);
    }
}
