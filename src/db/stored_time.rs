//! Timestamps as the register stores them, read without trying formats one by one: verifying
//! or exporting a register reads two per entry, millions at a time, and SQLite keeps them as
//! text that diesel's general reader parses against a list of formats.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::deserialize::{self, FromSql};
use diesel::pg::Pg;
use diesel::sql_types::Timestamp;
use diesel::sqlite::Sqlite;

/// A stored timestamp, read into a `NaiveDateTime` (`#[diesel(deserialize_as = StoredTime)]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, diesel::deserialize::FromSqlRow)]
pub struct StoredTime(pub NaiveDateTime);

impl From<StoredTime> for NaiveDateTime {
    fn from(t: StoredTime) -> NaiveDateTime {
        t.0
    }
}

impl FromSql<Timestamp, super::AnyBackend> for StoredTime {
    fn from_sql(
        value: <super::AnyBackend as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        value.from_sql::<Self, Timestamp>()
    }
}

impl FromSql<Timestamp, Pg> for StoredTime {
    fn from_sql(value: diesel::pg::PgValue<'_>) -> deserialize::Result<Self> {
        // PostgreSQL sends a binary count of microseconds: already cheap.
        <NaiveDateTime as FromSql<Timestamp, Pg>>::from_sql(value).map(StoredTime)
    }
}

impl FromSql<Timestamp, Sqlite> for StoredTime {
    fn from_sql(
        mut value: <Sqlite as diesel::backend::Backend>::RawValue<'_>,
    ) -> deserialize::Result<Self> {
        let text = value.read_text();
        parse_stored_time(text)
            .map(StoredTime)
            .ok_or_else(|| format!("invalid timestamp {text}").into())
    }
}

/// A timestamp as SQLite stores it; anything not written by the service itself (an import,
/// say) takes the long way.
pub fn parse_stored_time(text: &str) -> Option<NaiveDateTime> {
    parse(text).or_else(|| NaiveDateTime::parse_from_str(text, "%F %T%.f").ok())
}

/// `YYYY-MM-DD HH:MM:SS[.f{1,9}]`, as diesel writes a `NaiveDateTime` to SQLite.
fn parse(text: &str) -> Option<NaiveDateTime> {
    let b = text.as_bytes();
    if b.len() < 19
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b' '
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        b[range].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let mut nanos = 0;
    if b.len() > 19 {
        let fraction = &b[20..];
        if b[19] != b'.' || fraction.is_empty() || fraction.len() > 9 {
            return None;
        }
        nanos = num(20..b.len())? * 10u32.pow(9 - fraction.len() as u32);
    }
    NaiveDate::from_ymd_opt(num(0..4)? as i32, num(5..7)?, num(8..10)?)?.and_hms_nano_opt(
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
        nanos,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_diesel_writes_and_refuses_the_rest() {
        let at = |s: &str| NaiveDateTime::parse_from_str(s, "%F %T%.f").unwrap();
        for text in [
            "2026-11-21 09:00:00",
            "2026-11-21 09:00:00.5",
            "2026-11-21 09:00:00.123456",
            "2026-11-21 23:59:59.999999999",
            "0001-01-01 00:00:00.000001",
        ] {
            assert_eq!(parse(text), Some(at(text)), "{text}");
        }
        for text in [
            "2026-11-21T09:00:00",
            "2026-11-21 09:00",
            "2026-13-01 00:00:00",
            "2026-11-21 09:00:00.",
            "2026-11-21 09:00:00.1234567890",
            "2026-11-21 09:00:0x",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }
}
