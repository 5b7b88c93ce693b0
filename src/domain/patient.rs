//! Patients' identifiers.

/// A prison (NOMIS) number: one letter, four digits, two letters, e.g. `A1234BC`.
pub fn is_nomis_number(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 7
        && b[0].is_ascii_uppercase()
        && b[1..5].iter().all(u8::is_ascii_digit)
        && b[5..].iter().all(u8::is_ascii_uppercase)
}

crate::text_enum!(
    /// Where a patient stands with this service.
    PatientStatus {
        InCustody => "in_custody",
        Transferred => "transferred",
        Released => "released",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nomis_numbers() {
        assert!(is_nomis_number("A1234BC"));
        for bad in [
            "a1234BC", "A123BC", "A12345C", "A1234B1", "A1234BCD", "", "À1234BC", "12345BC",
        ] {
            assert!(!is_nomis_number(bad), "{bad}");
        }
    }
}
