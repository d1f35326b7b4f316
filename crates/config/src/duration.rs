//! Durations written as humans write them in TOML: `"15m"`, `"1h 30m"`, `"90s"`, `"7d"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dur(pub Duration);

impl Dur {
    pub const fn from_secs(s: u64) -> Dur {
        Dur(Duration::from_secs(s))
    }
    pub fn get(self) -> Duration {
        self.0
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl std::str::FromStr for Dur {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s.trim()).map(Dur).map_err(|e| {
            format!("'{s}' is not a duration ({e}); write e.g. \"90s\", \"15m\", \"1h\", \"7d\"")
        })
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_human_durations() {
        let p = |s: &str| s.parse::<Dur>().map(Dur::get);
        assert_eq!(p("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(p("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(p(" 1h 30m "), Ok(Duration::from_secs(5400)));
        assert_eq!(p("7d"), Ok(Duration::from_secs(7 * 86400)));
        let err = p("bogus").expect_err("bogus accepted");
        assert!(err.contains("'bogus' is not a duration"), "{err}");
        assert!(p("15").is_err(), "a bare number has no unit");
        assert!(p("").is_err());
    }

    #[test]
    fn display_parses_back() {
        for secs in [1, 90, 900, 5400, 86400 + 61] {
            let d = Dur::from_secs(secs);
            assert_eq!(d.to_string().parse::<Dur>(), Ok(d));
        }
        assert_eq!(Dur::from_secs(5400).to_string(), "1h 30m");
    }
}
