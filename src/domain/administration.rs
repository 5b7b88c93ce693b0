//! Rules of giving medicines: dose outcomes, turning a dose into stock units, what a
//! compliance count should find, and when missed doses raise an alert.

use rust_decimal::Decimal;

use super::Quantity;
use crate::text_enum;

text_enum!(DoseOutcome {
    Given => "given",
    Refused => "refused",
    DidNotAttend => "did_not_attend",
    Withheld => "withheld",
    Away => "away",
    NotAvailable => "not_available",
    Other => "other",
});

text_enum!(AwayReason {
    Court => "court",
    Hospital => "hospital",
    Visit => "visit",
    Segregation => "segregation",
});

impl DoseOutcome {
    /// A dose the patient should have had and did not. A dose withheld on clinical grounds
    /// was a decision, not a miss.
    pub fn is_missed(self) -> bool {
        !matches!(self, DoseOutcome::Given | DoseOutcome::Withheld)
    }

    /// FHIR MedicationAdministration.status for a final outcome.
    pub fn fhir_status(self) -> &'static str {
        match self {
            DoseOutcome::Given => "completed",
            _ => "not-done",
        }
    }
}

/// A product's strength: `amount` of `amount_unit` per `per` of `per_unit`, or per one unit
/// of the product when `per_unit` is absent ("500 mg" tablets, "1 mg/ml" solution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Strength {
    pub amount: Decimal,
    pub amount_unit: String,
    pub per: Decimal,
    pub per_unit: Option<String>,
}

fn split_number(s: &str) -> Option<(Decimal, String)> {
    let s = s.trim();
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let number: Decimal = s[..end].parse().ok()?;
    Some((number, s[end..].trim().to_lowercase()))
}

pub fn parse_strength(s: &str) -> Option<Strength> {
    let (amount_part, per_part) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let (amount, amount_unit) = split_number(amount_part)?;
    if amount.is_zero() || amount_unit.is_empty() {
        return None;
    }
    let (per, per_unit) = match per_part {
        None => (Decimal::ONE, None),
        Some(p) => {
            let (n, unit) = match split_number(p) {
                Some((n, unit)) => (n, unit),
                // "1 mg/ml": no number means one.
                None => (Decimal::ONE, p.trim().to_lowercase()),
            };
            if n.is_zero() || unit.is_empty() {
                return None;
            }
            (n, Some(unit))
        }
    };
    Some(Strength {
        amount,
        amount_unit,
        per,
        per_unit,
    })
}

/// How many of the product's units make one dose, exactly, or None when the strength does
/// not convert (different units, or a quantity finer than a thousandth of a unit).
pub fn units_per_dose(
    strength: &str,
    product_unit: &str,
    dose: Quantity,
    dose_unit: &str,
) -> Option<Quantity> {
    // Dosed in the product's own unit ("1 syringe" of pre-filled syringes): one for one.
    let (unit, dosed_in) = (
        product_unit.trim().to_lowercase(),
        dose_unit.trim().to_lowercase(),
    );
    if !dosed_in.is_empty() && (unit == dosed_in || unit.ends_with(&format!(" {dosed_in}"))) {
        return Some(dose);
    }
    let s = parse_strength(strength)?;
    if !s.amount_unit.eq_ignore_ascii_case(dose_unit.trim()) {
        return None;
    }
    let per_unit_matches = match &s.per_unit {
        None => true,
        Some(u) => u.eq_ignore_ascii_case(product_unit.trim()),
    };
    if !per_unit_matches {
        return None;
    }
    let units = dose
        .to_decimal()
        .checked_div(s.amount)?
        .checked_mul(s.per)?;
    Quantity::from_decimal(units).ok()
}

/// What should be left of an in-possession supply `days_elapsed` days after it was handed
/// over, taking `per_day` units a day (never below zero).
pub fn expected_remaining(supplied: Quantity, per_day: Quantity, days_elapsed: i64) -> Quantity {
    let used = per_day.scaled().saturating_mul(days_elapsed.max(0));
    Quantity::from_scaled((supplied.scaled() - used).max(0))
}

/// Whether a count differs from what was expected by more than the tolerance: a percentage
/// of the supply, but never less than one day's doses (the count may fall either side of a dose).
pub fn compliance_discrepancy(
    counted: Quantity,
    expected: Quantity,
    supplied: Quantity,
    per_day: Quantity,
    tolerance_percent: i64,
) -> bool {
    let percent = supplied.scaled().saturating_mul(tolerance_percent) / 100;
    let tolerance = percent.max(per_day.scaled());
    (counted.scaled() - expected.scaled()).abs() > tolerance
}

/// The missed-dose rule: configurable, by default any missed opioid substitution dose and 3
/// consecutive missed doses of a critical medicine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissedDoseRule {
    pub any_missed_ost: bool,
    pub consecutive_critical: usize,
}

impl Default for MissedDoseRule {
    fn default() -> Self {
        MissedDoseRule {
            any_missed_ost: true,
            consecutive_critical: 3,
        }
    }
}

text_enum!(
    /// Where an injection was given (the sites long-acting buprenorphine and depots use).
    InjectionSite {
        LeftUpperArm => "left_upper_arm",
        RightUpperArm => "right_upper_arm",
        LeftThigh => "left_thigh",
        RightThigh => "right_thigh",
        Abdomen => "abdomen",
        LeftButtock => "left_buttock",
        RightButtock => "right_buttock",
    }
);

text_enum!(AlertKind {
    MissedOst => "missed_ost",
    MissedCritical => "missed_critical",
    ComplianceDiscrepancy => "compliance_discrepancy",
});

impl MissedDoseRule {
    /// The alert a newly recorded outcome raises, from the final outcomes of the
    /// prescription's other due doses in schedule order: those `before` its place and those
    /// `after` it, each nearest first. A late entry so counts in its own place, whatever order
    /// outcomes were recorded in. Any missed opioid substitution dose alerts; a run of missed
    /// doses of a critical medicine alerts once, when this record makes it reach the threshold
    /// (joining two shorter runs included).
    pub fn evaluate(
        &self,
        new: DoseOutcome,
        before: &[DoseOutcome],
        after: &[DoseOutcome],
        opioid_substitution: bool,
        critical: bool,
    ) -> Option<AlertKind> {
        if !new.is_missed() {
            return None;
        }
        if opioid_substitution && self.any_missed_ost {
            return Some(AlertKind::MissedOst);
        }
        let threshold = self.consecutive_critical;
        if (critical || opioid_substitution) && threshold > 0 {
            let run = |side: &[DoseOutcome]| side.iter().take_while(|o| o.is_missed()).count();
            let (left, right) = (run(before), run(after));
            if left + 1 + right >= threshold && left < threshold && right < threshold {
                return Some(AlertKind::MissedCritical);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DoseOutcome::*;

    fn q(s: &str) -> Quantity {
        s.parse().unwrap()
    }

    #[test]
    fn a_dose_in_the_products_own_unit_is_one_for_one() {
        assert_eq!(
            units_per_dose("64 mg/0.18 ml", "pre-filled syringe", q("1"), "syringe"),
            Some(q("1"))
        );
        assert_eq!(
            units_per_dose("500 mg", "tablet", q("2"), "tablet"),
            Some(q("2"))
        );
        assert_eq!(
            units_per_dose("64 mg/0.18 ml", "pre-filled syringe", q("1"), "ringe"),
            None
        );
    }

    #[test]
    fn doses_convert_to_units_exactly() {
        assert_eq!(
            units_per_dose("1 mg/ml", "ml", q("60"), "mg"),
            Some(q("60"))
        );
        assert_eq!(
            units_per_dose("10 mg/5 ml", "ml", q("5"), "mg"),
            Some(q("2.5"))
        );
        assert_eq!(
            units_per_dose("500 mg", "tablet", q("1000"), "mg"),
            Some(q("2"))
        );
        assert_eq!(
            units_per_dose("8 mg", "tablet", q("16"), "mg"),
            Some(q("2"))
        );
        assert_eq!(
            units_per_dose("500 mg", "tablet", q("250"), "mg"),
            Some(q("0.5"))
        );
        // Does not divide to a thousandth of a tablet, or the units differ.
        assert_eq!(units_per_dose("3 mg", "tablet", q("1"), "mg"), None);
        assert_eq!(
            units_per_dose("100 micrograms/dose", "inhaler", q("200"), "micrograms"),
            None
        );
        assert_eq!(units_per_dose("1 mg/ml", "ml", q("60"), "g"), None);
        assert_eq!(units_per_dose("", "tablet", q("1"), "mg"), None);
    }

    #[test]
    fn compliance_expectation_and_tolerance() {
        // 28 tablets, 2 a day, counted 4 days later: 20 expected.
        let expected = expected_remaining(q("28"), q("2"), 4);
        assert_eq!(expected, q("20"));
        assert_eq!(expected_remaining(q("28"), q("2"), 30), q("0"));
        // Tolerance is 10% of 28 (2.8), at least one day's 2: 17 is off by 3.
        assert!(compliance_discrepancy(
            q("17"),
            expected,
            q("28"),
            q("2"),
            10
        ));
        assert!(!compliance_discrepancy(
            q("18"),
            expected,
            q("28"),
            q("2"),
            10
        ));
        assert!(!compliance_discrepancy(
            q("22"),
            expected,
            q("28"),
            q("2"),
            10
        ));
        assert!(compliance_discrepancy(
            q("23"),
            expected,
            q("28"),
            q("2"),
            10
        ));
    }

    #[test]
    fn missed_dose_alerts_follow_the_rule() {
        let rule = MissedDoseRule::default();
        assert_eq!(
            rule.evaluate(Refused, &[], &[], true, true),
            Some(AlertKind::MissedOst)
        );
        // A missed OST dose entered late, after a later dose was given, still alerts.
        assert_eq!(
            rule.evaluate(DidNotAttend, &[Given], &[Given], true, true),
            Some(AlertKind::MissedOst)
        );
        assert_eq!(rule.evaluate(Given, &[Refused], &[], true, true), None);
        assert_eq!(rule.evaluate(Withheld, &[], &[], true, true), None);
        assert_eq!(
            rule.evaluate(Refused, &[DidNotAttend], &[], false, true),
            None
        );
        assert_eq!(
            rule.evaluate(Refused, &[DidNotAttend, Away, Given], &[], false, true),
            Some(AlertKind::MissedCritical)
        );
        // The fourth in a row does not alert again.
        assert_eq!(
            rule.evaluate(Refused, &[Refused, Refused, Refused], &[], false, true),
            None
        );
        // A late entry filling the gap between two short runs makes one long run: one alert.
        assert_eq!(
            rule.evaluate(Refused, &[Refused], &[Refused, Given], false, true),
            Some(AlertKind::MissedCritical)
        );
        // A run that already alerted does not alert again when it grows at either end.
        assert_eq!(
            rule.evaluate(
                Refused,
                &[Refused, Refused, Refused],
                &[Refused],
                false,
                true
            ),
            None
        );
        assert_eq!(
            rule.evaluate(Refused, &[], &[Refused, Refused, Refused], false, true),
            None
        );
        assert_eq!(
            rule.evaluate(Refused, &[Refused, Refused], &[], false, false),
            None
        );
        let off = MissedDoseRule {
            any_missed_ost: false,
            consecutive_critical: 2,
        };
        assert_eq!(off.evaluate(Refused, &[], &[], true, true), None);
        assert_eq!(
            off.evaluate(Refused, &[Refused], &[], true, true),
            Some(AlertKind::MissedCritical)
        );
    }
}
