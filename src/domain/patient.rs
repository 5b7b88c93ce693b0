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

crate::text_enum!(
    /// What a reasonable adjustment is for (Equality Act 2010; the neurodiversity pathway).
    AdjustmentCategory {
        EasyRead => "easy_read",
        NeedsReminders => "needs_reminders",
        ExplainChanges => "explain_changes",
        HearingImpairment => "hearing_impairment",
        VisualImpairment => "visual_impairment",
        LearningDisability => "learning_disability",
        Autism => "autism",
        Adhd => "adhd",
        Other => "other",
    }
);

impl AdjustmentCategory {
    /// How the category reads on a label, a round card or a record.
    pub fn label(self) -> &'static str {
        match self {
            AdjustmentCategory::EasyRead => "Easy-read labels",
            AdjustmentCategory::NeedsReminders => "Needs reminders",
            AdjustmentCategory::ExplainChanges => "Explain any change of medicine",
            AdjustmentCategory::HearingImpairment => "Hearing impairment",
            AdjustmentCategory::VisualImpairment => "Visual impairment",
            AdjustmentCategory::LearningDisability => "Learning disability",
            AdjustmentCategory::Autism => "Autism",
            AdjustmentCategory::Adhd => "ADHD",
            AdjustmentCategory::Other => "Other adjustment",
        }
    }
}

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
