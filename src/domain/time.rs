//! Times as the API speaks them: RFC 3339 in UTC with a `Z` (`2026-11-22T01:40:19.381922Z`).
//! Stored and computed as UTC `NaiveDateTime`; an input with an offset is converted to UTC,
//! and one without an offset is taken as UTC, as the API document says.

use chrono::{DateTime, NaiveDateTime, SubsecRound};
use serde::{Deserialize, Deserializer, Serializer};

/// RFC 3339 with microseconds and `Z`.
pub fn rfc3339(t: NaiveDateTime) -> String {
    t.trunc_subsecs(6)
        .and_utc()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string()
}

/// Reads RFC 3339 with an offset, or a time without one as UTC.
pub fn parse(s: &str) -> Option<NaiveDateTime> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_utc());
    }
    s.parse::<NaiveDateTime>().ok()
}

/// `#[serde(with = "crate::domain::time::utc")]` for a `NaiveDateTime` field.
pub mod utc {
    use super::*;

    pub fn serialize<S: Serializer>(t: &NaiveDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveDateTime, D::Error> {
        let s = String::deserialize(d)?;
        parse(&s).ok_or_else(|| {
            serde::de::Error::custom(
                "date_time: an RFC 3339 time such as 2026-11-22T09:30:00Z (UTC when no offset is given)",
            )
        })
    }
}

/// `#[serde(default, with = "crate::domain::time::utc_opt")]` for an `Option<NaiveDateTime>`.
pub mod utc_opt {
    use super::*;

    pub fn serialize<S: Serializer>(t: &Option<NaiveDateTime>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&rfc3339(*t)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NaiveDateTime>, D::Error> {
        match Option::<String>::deserialize(d)? {
            None => Ok(None),
            Some(s) => parse(&s).map(Some).ok_or_else(|| {
                serde::de::Error::custom(
                    "date_time: an RFC 3339 time such as 2026-11-22T09:30:00Z (UTC when no offset is given)",
                )
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_written_with_z_and_read_with_or_without_an_offset() {
        let t = parse("2026-11-22T01:40:19.381922").unwrap();
        assert_eq!(rfc3339(t), "2026-11-22T01:40:19.381922Z");
        assert_eq!(parse("2026-11-22T02:40:19.381922+01:00"), Some(t));
        assert_eq!(parse("2026-11-22T01:40:19.381922Z"), Some(t));
        assert_eq!(parse("22/11/2026"), None);
    }
}
