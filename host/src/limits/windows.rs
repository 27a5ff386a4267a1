//! The windows a moment falls in — the clock's minute, the UTC day, the UTC
//! calendar month — and the sliding-minute arithmetic (this minute's count
//! plus the previous minute's, weighted by the share of it still inside the
//! last 60 s). Pure functions of a time in milliseconds ([`Windows::at_ms`]),
//! so tests give them any clock; only [`Windows::now`] reads the real one.
//! Never stores anything.

use std::time::{SystemTime, UNIX_EPOCH};

/// The windows a moment falls in, and the seconds left in each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windows {
    /// Minutes since the epoch.
    pub minute: u64,
    /// Days since the epoch (UTC).
    pub day: u64,
    /// Months since year 0 (UTC): `year * 12 + month - 1`.
    pub month: u64,
    /// Milliseconds into the minute (0 to 59,999).
    pub minute_ms: u64,
    /// Seconds to the end of the minute (at least 1).
    pub minute_left: u64,
    /// Seconds to the end of the UTC day.
    pub day_left: u64,
    /// Seconds to the end of the UTC month.
    pub month_left: u64,
}

/// Year, month (1-12) and day of a count of days since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Days since 1970-01-01 of a civil date (`days_from_civil`).
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Windows {
    /// The windows of `secs` seconds since the epoch.
    pub fn at(secs: u64) -> Windows {
        Windows::at_ms(secs.saturating_mul(1000))
    }

    /// The windows of `ms` milliseconds since the epoch.
    pub fn at_ms(ms: u64) -> Windows {
        let secs = ms / 1000;
        let day = secs / 86_400;
        let (y, m, _) = civil_from_days(day as i64);
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let next_month = days_from_civil(ny, nm, 1).max(0) as u64 * 86_400;
        Windows {
            minute: secs / 60,
            minute_ms: ms % 60_000,
            day,
            month: (y.max(0) as u64) * 12 + u64::from(m) - 1,
            minute_left: 60 - secs % 60,
            day_left: 86_400 - secs % 86_400,
            month_left: next_month.saturating_sub(secs).max(1),
        }
    }

    /// The windows now.
    pub fn now() -> Windows {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Windows::at_ms(ms)
    }
}

/// A per-minute count over the sliding minute: the current clock minute's
/// count plus the previous minute's, weighted by the share of the previous
/// minute still inside the last 60 seconds.
pub fn sliding(prev: u64, curr: u64, minute_ms: u64) -> u64 {
    let weight = 60_000 - minute_ms.min(60_000);
    let carried = u128::from(prev) * u128::from(weight) / 60_000;
    curr.saturating_add(u64::try_from(carried).unwrap_or(u64::MAX))
}

/// Seconds (at least 1) until [`sliding`] falls below `limit`, if nothing
/// more is counted meanwhile.
pub fn sliding_retry(prev: u64, curr: u64, limit: u64, minute_ms: u64) -> u64 {
    let minute_ms = minute_ms.min(59_999);
    let ms = if curr >= limit {
        // Not before the next minute, where this minute's count is the
        // previous one, fading: curr × (60000 - t) / 60000 < limit.
        let t = 60_000 - u128::from(limit) * 60_000 / u128::from(curr.max(1));
        (60_000 - minute_ms) + u64::try_from(t).unwrap_or(60_000) + 1
    } else {
        // Within this minute, as the previous minute's share fades:
        // prev × (60000 - t) / 60000 + curr < limit.
        let room = u128::from(limit - curr) * 60_000 / u128::from(prev.max(1));
        let t = 60_000u128.saturating_sub(room);
        u64::try_from(t).unwrap_or(60_000).saturating_sub(minute_ms) + 1
    };
    ms.div_ceil(1000).max(1)
}
