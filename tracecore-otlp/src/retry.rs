//! When to try an export again: exponential backoff with jitter, or the receiver's
//! `Retry-After`, always inside the export's deadline.

use std::time::{Duration, SystemTime};

/// How failed exports are retried (429, 502, 503, 504, and connections that fail or close
/// without a reply). The wait before retry `n` (from 0) is a random point between half and all
/// of `min(initial * 2^n, max)`, unless the receiver says `Retry-After`. An attempt is never
/// started when its wait would end past the export's deadline: the export gives up instead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The first backoff (1 s).
    pub initial_backoff: Duration,
    /// The largest backoff (5 s).
    pub max_backoff: Duration,
    /// Attempts in all, the first included (`1` turns retries off; default 5).
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(5),
            max_attempts: 5,
        }
    }
}

impl RetryPolicy {
    /// No retries: every failure is final.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// Backoff from `initial` doubling up to `max`, for at most `max_attempts` attempts.
    pub fn new(initial: Duration, max: Duration, max_attempts: u32) -> Self {
        Self {
            initial_backoff: initial,
            max_backoff: max.max(initial),
            max_attempts: max_attempts.max(1),
        }
    }

    /// The wait before retry `retry` (0 for the first retry), jittered by `random` in `[0, 1)`.
    pub(crate) fn backoff(&self, retry: u32, random: f64) -> Duration {
        let full = self
            .initial_backoff
            .saturating_mul(1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX))
            .min(self.max_backoff);
        full.mul_f64(0.5 + random.clamp(0.0, 1.0) / 2.0)
    }
}

/// A `Retry-After` value: delay-seconds or an HTTP-date (IMF-fixdate), read against `now`. A
/// date in the past means no wait; anything else unreadable is `None`.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or_default())
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`.
fn parse_http_date(value: &str) -> Option<SystemTime> {
    let mut parts = value.split_ascii_whitespace();
    let _weekday = parts.next()?.strip_suffix(',')?;
    let day: u64 = parts.next()?.parse().ok()?;
    let month = match parts.next()? {
        "Jan" => 1,
        "Feb" => 2,
        "Mar" => 3,
        "Apr" => 4,
        "May" => 5,
        "Jun" => 6,
        "Jul" => 7,
        "Aug" => 8,
        "Sep" => 9,
        "Oct" => 10,
        "Nov" => 11,
        "Dec" => 12,
        _ => return None,
    };
    let year: u64 = parts.next()?.parse().ok()?;
    let mut hms = parts.next()?.split(':').map(|p| p.parse::<u64>().ok());
    let (h, m, s) = (hms.next()??, hms.next()??, hms.next()??);
    if parts.next()? != "GMT" || parts.next().is_some() || hms.next().is_some() {
        return None;
    }
    if !(1970..=9999).contains(&year) || !(1..=31).contains(&day) || h > 23 || m > 59 || s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(days * 86_400 + h * 3600 + m * 60 + s))
}

/// Days from 1970-01-01 to the given date (proleptic Gregorian, year >= 1970).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn retry_after_never_panics(value in "[ -~]{0,40}", now in 0u64..=u64::from(u32::MAX)) {
            let _ = parse_retry_after(&value, SystemTime::UNIX_EPOCH + Duration::from_secs(now));
        }

        #[test]
        fn retry_after_dates_near_the_limits_never_panic(
            day in 0u64..100, month in "[A-Z][a-z]{2}", year in proptest::num::u64::ANY,
            h in 0u64..100, m in 0u64..100, s in 0u64..100,
        ) {
            let value = format!("Sun, {day:02} {month} {year} {h:02}:{m:02}:{s:02} GMT");
            let _ = parse_retry_after(&value, SystemTime::now());
        }

        #[test]
        fn retry_after_seconds_are_read_as_given(seconds in proptest::num::u64::ANY) {
            proptest::prop_assert_eq!(
                parse_retry_after(&format!(" {seconds} "), SystemTime::now()),
                Some(Duration::from_secs(seconds))
            );
        }
    }

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_within_half() {
        let p = RetryPolicy::new(Duration::from_millis(100), Duration::from_millis(350), 9);
        assert_eq!(p.backoff(0, 0.999_999).as_millis(), 99);
        assert_eq!(p.backoff(0, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 0.0), Duration::from_millis(175));
        assert_eq!(p.backoff(40, 0.0), Duration::from_millis(175));
        assert_eq!(RetryPolicy::none().max_attempts, 1);
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:40 GMT", now),
            Some(Duration::from_secs(3))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480))
        );
        for bad in [
            "",
            "-1",
            "soon",
            "Sun, 06 Nov 1994 08:49:37",
            "Sun, 32 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }
}
