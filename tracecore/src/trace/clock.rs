//! Span timestamps: wall-clock start plus a monotonic duration, so `end >= start` always holds
//! and a span costs two monotonic clock reads.

use std::cell::Cell;
use std::time::{Duration, Instant, SystemTime};

/// How long a thread's (monotonic, wall) anchor is trusted before it is read again, so that
/// wall-clock adjustments reach span timestamps within this long.
const REANCHOR: Duration = Duration::from_secs(1);

thread_local! {
    static ANCHOR: Cell<Option<(Instant, SystemTime)>> = const { Cell::new(None) };
}

/// The wall-clock time of `at`, from this thread's anchor.
pub(crate) fn wall_time(at: Instant) -> SystemTime {
    let fresh = || {
        let anchor = (Instant::now(), SystemTime::now());
        let _ = ANCHOR.try_with(|a| a.set(Some(anchor)));
        anchor
    };
    // The common case: `at` is less than `REANCHOR` from this thread's anchor, after it or (a
    // span started on another thread, its data built here) before it: one subtraction.
    if let Some((mono, wall)) = ANCHOR.try_with(Cell::get).ok().flatten() {
        match at.checked_duration_since(mono) {
            Some(after) if after < REANCHOR => return wall + after,
            Some(_) => {}
            None => {
                let before = mono - at;
                if before < REANCHOR {
                    return wall - before;
                }
            }
        }
    }
    let (mono, wall) = fresh();
    match at.checked_duration_since(mono) {
        Some(after) => wall + after,
        None => wall - (mono - at),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wall_time_tracks_the_system_clock() {
        let now = Instant::now();
        let wall = wall_time(now);
        let sys = SystemTime::now();
        let diff = sys.duration_since(wall).unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_secs(1), "{diff:?}");
        let later = wall_time(now + Duration::from_millis(5));
        assert_eq!(
            later.duration_since(wall).unwrap(),
            Duration::from_millis(5)
        );
        // An instant before the anchor (another thread's) is placed by the same anchor.
        let anchor = ANCHOR.with(Cell::get).unwrap().0;
        if let Some(earlier) = anchor.checked_sub(Duration::from_millis(7)) {
            let anchored = wall_time(anchor);
            assert_eq!(
                anchored.duration_since(wall_time(earlier)).unwrap(),
                Duration::from_millis(7)
            );
            assert_eq!(ANCHOR.with(Cell::get).unwrap().0, anchor, "not re-anchored");
        }
    }
}
