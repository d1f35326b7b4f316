//! Parsers for the value syntaxes that do not compare as text (RFC 4517): INTEGER, Boolean,
//! GeneralizedTime, and the telephone number's insignificant characters.

use model::time::{generalized_time, unix_days};

/// Whether `v` is an INTEGER as RFC 4517 §3.3.16 spells it: `-`? then digits, no leading
/// zero (except `0` itself), no `+`, no spaces, and `-0` is not one. Unbounded: it is compared
/// by sign, length and digits (`IntKey`), never parsed into a machine integer for equality or
/// ordering.
pub fn valid_integer(v: &str) -> bool {
    let digits = v.strip_prefix('-').unwrap_or(v).as_bytes();
    match digits {
        [] => false,
        [b'0'] => digits.len() == v.len(),
        [first, ..] => *first != b'0' && digits.iter().all(u8::is_ascii_digit),
    }
}

/// An INTEGER as a machine number, for the bitwise rules (1.2.840.113556.1.4.803/804), whose
/// operands are flags words. `None` when invalid (see [`valid_integer`]) or beyond 64 bits.
pub fn parse_integer(v: &str) -> Option<i64> {
    valid_integer(v).then(|| v.parse().ok()).flatten()
}

/// The ordering key of a valid INTEGER of any size: negative numbers first, then by length
/// and digits (reversed for negative numbers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntKey {
    negative: bool,
    digits: String,
}

impl IntKey {
    pub fn parse(v: &str) -> Option<IntKey> {
        if !valid_integer(v) {
            return None;
        }
        let negative = v.starts_with('-');
        Some(IntKey {
            negative,
            digits: v.trim_start_matches('-').to_string(),
        })
    }
}

impl Ord for IntKey {
    fn cmp(&self, other: &IntKey) -> std::cmp::Ordering {
        let magnitude = || {
            self.digits
                .len()
                .cmp(&other.digits.len())
                .then_with(|| self.digits.cmp(&other.digits))
        };
        match (self.negative, other.negative) {
            (false, false) => magnitude(),
            (true, true) => magnitude().reverse(),
            (true, false) => std::cmp::Ordering::Less,
            (false, true) => std::cmp::Ordering::Greater,
        }
    }
}

impl PartialOrd for IntKey {
    fn partial_cmp(&self, other: &IntKey) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

/// Boolean per RFC 4517 §3.3.3: exactly `TRUE` or `FALSE`.
pub fn parse_boolean(v: &str) -> Option<bool> {
    match v {
        "TRUE" => Some(true),
        "FALSE" => Some(false),
        _ => None,
    }
}

/// Whether `v` is a UUID in RFC 4122's string form, as RFC 4530 §2.1 requires: 36 characters,
/// hyphens at 8, 13, 18 and 23, hex digits (either case) elsewhere. No braces, URN prefix or
/// bare 32 digits.
pub fn valid_uuid(v: &str) -> bool {
    v.len() == 36
        && v.bytes().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether `v` is an OID per RFC 4512 §1.4 (`descr / numericoid`): a keystring (a letter, then
/// letters, digits and hyphens) or dotted numbers without leading zeros. No spaces anywhere:
/// objectIdentifierMatch has no insignificant characters (RFC 4517 §3.3.26).
pub fn valid_oid(v: &str) -> bool {
    let b = v.as_bytes();
    match b.first() {
        Some(c) if c.is_ascii_alphabetic() => {
            b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        }
        Some(c) if c.is_ascii_digit() => v.split('.').all(|n| {
            let n = n.as_bytes();
            !n.is_empty() && n.iter().all(u8::is_ascii_digit) && (n.len() == 1 || n[0] != b'0')
        }),
        _ => false,
    }
}

/// Whether `v` is a valid value of the syntax with OID `syntax` (RFC 4517 §3.3), as far as the
/// syntax constrains values beyond what its matching rule parses: a Directory String has at
/// least one character, an IA5 String only ASCII, an OID no spaces. Syntaxes checked by their
/// rule's parser (INTEGER, Boolean, UUID, DN, GeneralizedTime) or unconstrained (Octet String)
/// pass.
pub fn valid(syntax: &str, v: &str) -> bool {
    use crate::schema::syntax as s;
    match syntax {
        s::DIRECTORY_STRING => !v.is_empty(),
        s::IA5_STRING => v.is_ascii(),
        s::OID => valid_oid(v),
        _ => true,
    }
}

const NANOS: i128 = 1_000_000_000;

/// GeneralizedTime (RFC 4517 §3.3.13) → nanoseconds since the Unix epoch, UTC.
/// `YYYYMMDDHH[MM[SS]][(.|,)fraction](Z|(+|-)HH[MM])`; the fraction applies to the last unit given.
pub fn parse_generalized_time(v: &str) -> Option<i128> {
    let b = v.trim().as_bytes();
    let num = |s: &[u8]| -> Option<i64> {
        if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let year = num(b.get(0..4)?)?;
    let month = num(b.get(4..6)?)?;
    let day = num(b.get(6..8)?)?;
    let hour = num(b.get(8..10)?)?;
    let mut pos = 10;
    let mut minute = 0;
    let mut second = 0;
    // Seconds in the last unit given, for the fraction.
    let mut unit: i128 = 3600;
    if b.get(pos).is_some_and(u8::is_ascii_digit) {
        minute = num(b.get(pos..pos + 2)?)?;
        pos += 2;
        unit = 60;
        if b.get(pos).is_some_and(u8::is_ascii_digit) {
            second = num(b.get(pos..pos + 2)?)?;
            pos += 2;
            unit = 1;
        }
    }
    let days = unix_days(year, month, day)?;
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut frac_nanos: i128 = 0;
    if matches!(b.get(pos), Some(b'.' | b',')) {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let digits = b.get(start..pos)?;
        if digits.is_empty() {
            return None;
        }
        // Nine significant digits are more than any clock we compare with.
        let mut value: i128 = 0;
        let mut scale: i128 = 1;
        for &d in digits.iter().take(9) {
            value = value * 10 + i128::from(d - b'0');
            scale *= 10;
        }
        frac_nanos = value * unit * NANOS / scale;
    }
    let offset_secs: i64 = match b.get(pos) {
        Some(b'Z') if pos + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) => {
            let rest = b.get(pos + 1..)?;
            let (hh, mm) = match rest.len() {
                2 => (num(rest)?, 0),
                4 => (num(rest.get(0..2)?)?, num(rest.get(2..4)?)?),
                _ => return None,
            };
            if hh > 23 || mm > 59 {
                return None;
            }
            let secs = hh * 3600 + mm * 60;
            if sign == b'+' { secs } else { -secs }
        }
        _ => return None,
    };
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_secs;
    Some(i128::from(secs) * NANOS + frac_nanos)
}

/// Nanoseconds since the epoch → canonical GeneralizedTime `YYYYMMDDHHMMSS[.f]Z`.
pub(super) fn format_generalized_time(nanos: i128) -> Option<String> {
    let secs = i64::try_from(nanos.div_euclid(NANOS)).ok()?;
    let frac = nanos.rem_euclid(NANOS);
    // Years 0000 to 9999: what GeneralizedTime's four year digits can spell.
    if !(-62_167_219_200..=253_402_300_799).contains(&secs) {
        return None;
    }
    let mut out = generalized_time(secs);
    out.pop();
    if frac != 0 {
        let digits = format!("{frac:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push('Z');
    Some(out)
}

pub(super) fn telephone(v: &str) -> String {
    v.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_lowercase)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::cmp::Ordering;

    use super::super::{compare, normalize};
    use crate::schema::Matching;

    #[test]
    fn integer_boolean_uuid_telephone() {
        assert_eq!(normalize(Matching::Integer, "0").as_deref(), Some("0"));
        assert_eq!(normalize(Matching::Integer, "-42").as_deref(), Some("-42"));
        // INTEGER is unbounded (RFC 4517 §3.3.16).
        assert_eq!(
            normalize(Matching::Integer, "99999999999999999999").as_deref(),
            Some("99999999999999999999")
        );
        // No leading zero, plus sign, spaces or negative zero.
        for bad in [
            "abc", "", "1e3", "12 3", "+", "-", "--1", "0x10", " 0100 ", "0100", "+7", "-0", " 7",
            "7 ", "00",
        ] {
            assert_eq!(normalize(Matching::Integer, bad), None, "{bad}");
        }
        assert_eq!(normalize(Matching::Boolean, "true"), None);
        assert_eq!(normalize(Matching::Boolean, " TRUE"), None);
        assert_eq!(
            normalize(Matching::Boolean, "TRUE").as_deref(),
            Some("TRUE")
        );
        // Only the 36-character form is a UUID (RFC 4530 §2.1).
        for bad in [
            "6f2c1b6e8a3d4c599e072b1d3c4e5f60",
            "{6f2c1b6e-8a3d-4c59-9e07-2b1d3c4e5f60}",
            " 6f2c1b6e-8a3d-4c59-9e07-2b1d3c4e5f60",
            "urn:uuid:6f2c1b6e-8a3d-4c59-9e07-2b1d3c4e5f60",
        ] {
            assert_eq!(normalize(Matching::Uuid, bad), None, "{bad}");
        }
        assert_eq!(
            normalize(Matching::Boolean, "FALSE").as_deref(),
            Some("FALSE")
        );
        assert_eq!(normalize(Matching::Boolean, "yes"), None);
        let id = "6F2C1B6E-8A3D-4C59-9E07-2B1D3C4E5F60";
        assert_eq!(
            normalize(Matching::Uuid, id).as_deref(),
            Some("6f2c1b6e-8a3d-4c59-9e07-2b1d3c4e5f60")
        );
        assert_eq!(normalize(Matching::Uuid, "not-a-uuid"), None);
        assert_eq!(
            normalize(Matching::TelephoneNumber, "+1 555-0100"),
            normalize(Matching::TelephoneNumber, "+15550100")
        );
        assert_eq!(
            compare(Matching::Integer, "1000", "999"),
            Some(Ordering::Greater)
        );
        assert_eq!(
            compare(Matching::CaseIgnore, "B", "a"),
            Some(Ordering::Greater)
        );
        assert_eq!(compare(Matching::Integer, "x", "1"), None);
        // Beyond 64 bits, by sign, length and digits.
        for (a, b, want) in [
            ("99999999999999999999", "290193", Ordering::Greater),
            ("-99999999999999999999", "-290193", Ordering::Less),
            ("-99999999999999999999", "0", Ordering::Less),
            ("-5", "-40", Ordering::Greater),
            (
                "123456789012345678901",
                "123456789012345678902",
                Ordering::Less,
            ),
        ] {
            assert_eq!(compare(Matching::Integer, a, b), Some(want), "{a} {b}");
        }
        assert_eq!(compare(Matching::Dn, "cn=a", "cn=b"), None);
    }

    #[test]
    fn generalized_time() {
        let n = |s| normalize(Matching::GeneralizedTime, s);
        assert_eq!(n("20240229123456Z").as_deref(), Some("20240229123456Z"));
        assert_eq!(n("202402291234Z").as_deref(), Some("20240229123400Z"));
        assert_eq!(n("2024022912Z").as_deref(), Some("20240229120000Z"));
        assert_eq!(
            n("20240229123456.500Z").as_deref(),
            Some("20240229123456.5Z")
        );
        assert_eq!(n("2024022912,5Z").as_deref(), Some("20240229123000Z"));
        assert_eq!(n("20240101003000+0100").as_deref(), Some("20231231233000Z"));
        assert_eq!(n("20231231233000-05").as_deref(), Some("20240101043000Z"));
        for bad in [
            "20230229000000Z",
            "20241301000000Z",
            "20240101250000Z",
            "20240101000000",
            "20240101000000Zjunk",
            "2024",
            "20240101000000.Z",
            "2024010100000+01000",
            "",
            "日本日本日本日本日本Z",
        ] {
            assert_eq!(n(bad), None, "{bad}");
        }
        assert_eq!(
            compare(
                Matching::GeneralizedTime,
                "20240101000000Z",
                "20231231235959-0100"
            ),
            Some(Ordering::Less)
        );
    }
}
