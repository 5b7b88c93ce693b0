//! The edges of input every request is held to before it is parsed into its type: no control
//! characters in text (a NUL is refused by PostgreSQL and means nothing in a record), and dates
//! within the range the service keeps, so no date arithmetic can overflow.

/// The first and last years of a date the service accepts (1900-01-01 to 2199-12-31).
pub const FIRST_YEAR: i32 = 1900;
pub const LAST_YEAR: i32 = 2199;

/// Why a piece of text is refused: (rule, message).
pub type Refusal = (&'static str, String);

/// Text may hold tabs and line breaks; no other control character.
pub fn check_text(s: &str) -> Result<(), Refusal> {
    match s
        .chars()
        .find(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    {
        Some(c) => Err((
            "control_character",
            format!("must not contain the control character U+{:04X}", c as u32),
        )),
        None => Ok(()),
    }
}

/// Text given must say something: spaces, tabs or line breaks alone are refused (a note, a
/// reason or an override that is blank is no note at all).
pub fn check_not_blank(s: &str) -> Result<(), Refusal> {
    if !s.is_empty() && s.trim().is_empty() {
        return Err((
            "not_blank",
            "must contain something other than spaces".to_string(),
        ));
    }
    Ok(())
}

/// A value written as a date or a time (`YYYY-MM-DD...`, signed or with a long year) must fall
/// between the first and last years kept.
pub fn check_date_like(s: &str) -> Result<(), Refusal> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    let year_len = unsigned.bytes().take_while(u8::is_ascii_digit).count();
    let rest = &unsigned[year_len..];
    let looks_like_date = year_len >= 4
        && rest.len() >= 6
        && rest.as_bytes()[0] == b'-'
        && rest.as_bytes()[1..3].iter().all(u8::is_ascii_digit)
        && rest.as_bytes()[3] == b'-'
        && rest.as_bytes()[4..6].iter().all(u8::is_ascii_digit);
    if !looks_like_date {
        return Ok(());
    }
    let year: Option<i32> = unsigned[..year_len].parse().ok();
    let in_range =
        !s.starts_with(['+', '-']) && year.is_some_and(|y| (FIRST_YEAR..=LAST_YEAR).contains(&y));
    if in_range {
        Ok(())
    } else {
        Err((
            "date_range",
            format!("dates run from {FIRST_YEAR}-01-01 to {LAST_YEAR}-12-31"),
        ))
    }
}

/// Identifiers printed on labels and in the register (batch numbers, codes): printable only.
pub fn printable(s: &str) -> Result<(), validator::ValidationError> {
    if s.chars().any(char::is_control) {
        let mut e = validator::ValidationError::new("control_character");
        e.message = Some("must not contain control characters, tabs or line breaks".into());
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_and_dates_out_of_range_are_refused() {
        assert!(check_text("line one\nline two\twith a tab").is_ok());
        assert_eq!(check_text("nurse\u{0}").unwrap_err().0, "control_character");
        assert_eq!(
            check_text("a\u{1b}[31m").unwrap_err().0,
            "control_character"
        );
        for ok in [
            "2026-11-22",
            "1900-01-01",
            "2199-12-31T23:59:59Z",
            "not a date",
            "12-01-2026",
        ] {
            assert!(check_date_like(ok).is_ok(), "{ok}");
        }
        for bad in [
            "-5000-01-01",
            "-262143-01-01",
            "+2026-01-01",
            "1899-12-31",
            "2200-01-01",
            "20260-01-01",
        ] {
            assert_eq!(check_date_like(bad).unwrap_err().0, "date_range", "{bad}");
        }
        assert!(printable("MTH-2611Z").is_ok());
        assert!(printable("MTH\t1").is_err());
    }
}
