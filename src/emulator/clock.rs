//! UTC timestamps in the exact spellings Graph and Entra put on the wire (no date crate needed).

use std::time::{SystemTime, UNIX_EPOCH};

/// Broken-down UTC time, enough for the three formats below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Utc {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Utc {
    pub fn now() -> Utc {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Utc::from_unix(i64::try_from(secs).unwrap_or(0))
    }

    pub fn from_unix(secs: i64) -> Utc {
        let days = secs.div_euclid(86_400);
        let rem = secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        // rem is in 0..86_400, so these narrowings cannot truncate.
        let rem = rem as u32;
        Utc {
            year,
            month,
            day,
            hour: rem / 3600,
            minute: (rem % 3600) / 60,
            second: rem % 60,
        }
    }

    /// `2025-02-13T10:17:06Z`: Graph's `createdDateTime` style.
    pub fn iso(&self) -> String {
        format!("{}Z", self.graph_inner_date())
    }

    /// `2025-02-13T10:17:06`: Graph's `innerError.date` has no zone designator.
    pub fn graph_inner_date(&self) -> String {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }

    /// `2019-04-30 09:46:18Z`: Entra's token-endpoint `timestamp` uses a space, not `T`.
    pub fn entra(&self) -> String {
        format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian, day 0 = 1970-01-01).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        // 2019-04-30 09:46:18 UTC, the timestamp in Entra's documented error sample.
        let t = Utc::from_unix(1_556_617_578);
        assert_eq!(t.entra(), "2019-04-30 09:46:18Z");
        assert_eq!(t.iso(), "2019-04-30T09:46:18Z");
        assert_eq!(t.graph_inner_date(), "2019-04-30T09:46:18");
        assert_eq!(Utc::from_unix(0).iso(), "1970-01-01T00:00:00Z");
        // A leap day, to catch an off-by-one in the month table.
        assert_eq!(Utc::from_unix(1_709_164_800).iso(), "2024-02-29T00:00:00Z");
    }
}
