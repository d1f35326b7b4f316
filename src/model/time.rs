//! Time as the directory spells it.

/// GeneralizedTime (`YYYYMMDDHHMMSSZ`) for a Unix time in seconds.
pub fn generalized_time(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let secs = unix_secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}Z",
        secs / 3600,
        (secs % 3600) / 60,
        secs % 60
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

pub fn now_unix() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

// Howard Hinnant's days-to-civil algorithm; avoids a date crate for one conversion.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
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
}
