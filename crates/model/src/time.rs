//! Time: the one clock the server reads, and the calendar spellings the directory and Graph use.

use ::time::{Date, Month, OffsetDateTime};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Where the server reads the time, so a test (or a replay) can fix it.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> SystemTime;

    /// Unix seconds; 0 before the epoch.
    fn now_unix(&self) -> i64 {
        self.now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
    }
}

/// The operating system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(
        clippy::disallowed_methods,
        reason = "the one place the wall clock is read; everything else asks a Clock"
    )]
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
}

/// A clock that stays where it is put.
#[derive(Debug, Default)]
pub struct FixedClock(AtomicI64);

impl FixedClock {
    pub fn new(unix_secs: i64) -> FixedClock {
        FixedClock(AtomicI64::new(unix_secs))
    }

    pub fn set(&self, unix_secs: i64) {
        self.0.store(unix_secs, Ordering::Relaxed);
    }

    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::Relaxed);
    }
}

impl Clock for FixedClock {
    fn now(&self) -> SystemTime {
        let t = self.0.load(Ordering::Relaxed);
        match u64::try_from(t) {
            Ok(s) => UNIX_EPOCH + Duration::from_secs(s),
            Err(_) => UNIX_EPOCH - Duration::from_secs(t.unsigned_abs()),
        }
    }

    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }
}

// The calendar `time` represents without its large-dates feature: years -9999 to 9999.
const FIRST_SECOND: i64 = -377_705_116_800;
const LAST_SECOND: i64 = 253_402_300_799;

/// A Unix time as a UTC date and time; instants outside years ±9999 are pinned to the nearest
/// representable one.
pub fn utc(unix_secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(unix_secs.clamp(FIRST_SECOND, LAST_SECOND))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Days since 1970-01-01 of a proleptic Gregorian date; `None` when there is no such day.
pub fn unix_days(year: i64, month: i64, day: i64) -> Option<i64> {
    let month = Month::try_from(u8::try_from(month).ok()?).ok()?;
    let date =
        Date::from_calendar_date(i32::try_from(year).ok()?, month, u8::try_from(day).ok()?).ok()?;
    Some(i64::from(date.to_julian_day()) - 2_440_588)
}

/// GeneralizedTime (`YYYYMMDDHHMMSSZ`) for a Unix time in seconds.
pub fn generalized_time(unix_secs: i64) -> String {
    let t = utc(unix_secs);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2025-02-13T10:17:06Z`: the spelling of Graph's `createdDateTime`.
pub fn iso(unix_secs: i64) -> String {
    let t = utc(unix_secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// GeneralizedTime from Graph's ISO 8601 timestamps (`2021-03-04T10:11:12Z`, optionally with
/// fractional seconds). Anything unparseable yields `None`.
pub fn generalized_from_iso(iso: &str) -> Option<String> {
    let b = iso.as_bytes();
    if b.len() < 19 || b.get(4) != Some(&b'-') || b.get(10) != Some(&b'T') {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<&str> {
        let s = iso.get(r)?;
        s.bytes().all(|c| c.is_ascii_digit()).then_some(s)
    };
    Some(format!(
        "{}{}{}{}{}{}Z",
        digits(0..4)?,
        digits(5..7)?,
        digits(8..10)?,
        digits(11..13)?,
        digits(14..16)?,
        digits(17..19)?
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_time_formats() {
        assert_eq!(generalized_time(0), "19700101000000Z");
        assert_eq!(generalized_time(1_700_000_000), "20231114221320Z");
        assert_eq!(
            generalized_from_iso("2021-03-04T10:11:12Z").as_deref(),
            Some("20210304101112Z")
        );
        assert_eq!(
            generalized_from_iso("2021-03-04T10:11:12.123Z").as_deref(),
            Some("20210304101112Z")
        );
        assert_eq!(generalized_from_iso("yesterday"), None);
    }

    #[test]
    fn formats_known_instants() {
        // 2019-04-30 09:46:18 UTC, the timestamp in Entra's documented error sample.
        assert_eq!(iso(1_556_617_578), "2019-04-30T09:46:18Z");
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        // A leap day, to catch an off-by-one in the month table.
        assert_eq!(iso(1_709_164_800), "2024-02-29T00:00:00Z");
        assert_eq!(generalized_time(-1), "19691231235959Z");
    }

    #[test]
    fn calendar_days() {
        assert_eq!(unix_days(1970, 1, 1), Some(0));
        assert_eq!(unix_days(2024, 2, 29), Some(19_782));
        assert_eq!(unix_days(2023, 2, 29), None);
        assert_eq!(unix_days(2000, 13, 1), None);
        assert_eq!(unix_days(1969, 12, 31), Some(-1));
    }

    #[test]
    fn fixed_clock_moves_only_when_told() {
        let c = FixedClock::new(1_735_689_600);
        assert_eq!(c.now_unix(), 1_735_689_600);
        c.advance(60);
        assert_eq!(generalized_time(c.now_unix()), "20250101000100Z");
        c.set(-5);
        assert_eq!(c.now_unix(), -5);
    }
}
